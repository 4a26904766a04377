//! QIDO-RS step 2: matching, paging and attribute selection; the DICOM JSON response.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::attributes::{attr_by_tag, kept_attr, level_of, tag_key, ATTRS, INSTANCE_AVAILABILITY, Level, RETRIEVE_URL};
use crate::qido::matching::{matches, values_of};
use crate::qido::query::{parse_query, Filter, Includes, Query};
use crate::qido::records::{records_with, OtherAttributes, SeriesRecord};
use crate::DicomError;

/// ModalitiesInStudy (0008,0061).
const MODALITIES_IN_STUDY: u32 = 0x0008_0061;

/// Runs the query over the candidates. Returns
/// `{"matches": [DICOM JSON objects], "total": <all matches>, "remaining": <after this page>,
///   "warnings": [..]}`.
pub fn query(request: &Value, candidates: &Value) -> Result<Value, DicomError> {
    let q = parse_query(request)?;
    let empty = Vec::new();
    let candidates = candidates.as_array().unwrap_or(&empty);
    let by_level =
        |lvl: Level| -> Vec<&Filter> { q.filters.iter().filter(|f| f.attr.level == lvl).collect() };
    let (fs, fse, fi) = (
        by_level(Level::Study),
        by_level(Level::Series),
        by_level(Level::Instance),
    );

    let mut rows: Vec<Map<String, Value>> = Vec::new();
    let mut total = 0usize;
    let start = q.offset;
    let max = q.limit.map_or(q.max_results, |l| l.min(q.max_results));
    let mut emit = |row: &dyn Fn() -> Map<String, Value>, rows: &mut Vec<Map<String, Value>>| {
        if total >= start && rows.len() < max {
            rows.push(row());
        }
        total += 1;
    };

    // Attributes outside the table, by level: read from the ImagingStudy only where the query
    // returns or matches one.
    let outside = |lvl: Level| {
        (matches!(q.includes, Includes::All) && lvl <= q.level)
            || q.filters.iter().any(|f| f.attr.level == lvl && kept_attr(f.attr.tag).is_none())
            || matches!(&q.includes, Includes::Tags(t) if t.iter().any(|t| lvl <= q.level
                && kept_attr(*t).is_none() && attr_by_tag(*t).is_some_and(|a| a.level == lvl)))
    };
    let other = OtherAttributes { study: outside(Level::Study), series: outside(Level::Series) };

    // A series the request's path names (all series when it names none).
    let requested_series = |se: &SeriesRecord| {
        q.series_uid.as_ref().is_none_or(|u| {
            *u == values_of(se.attrs.get(&0x0020_000E)).pop().unwrap_or_default()
        })
    };

    for c in candidates {
        let Some(study_json) = c.get("imagingStudy") else {
            continue;
        };
        let Some(rec) = records_with(
            study_json,
            c.get("patient").filter(|p| !p.is_null()),
            c.get("dicom").filter(|d| !d.is_null()),
            &q.retrieve_base,
            other,
        ) else {
            continue;
        };
        let study_uid = values_of(rec.study.get(&0x0020_000D))
            .pop()
            .unwrap_or_default();
        if q.study_uid.as_ref().is_some_and(|u| *u != study_uid) {
            continue;
        }
        if !fs.iter().all(|f| matches(f, rec.study.get(&f.attr.tag))) {
            continue;
        }
        let lower = |se: &SeriesRecord, series_too: bool| {
            (!series_too || fse.iter().all(|f| matches(f, se.attrs.get(&f.attr.tag))))
                && (fi.is_empty()
                    || se
                        .instances
                        .iter()
                        .any(|i| fi.iter().all(|f| matches(f, i.get(&f.attr.tag)))))
        };
        match q.level {
            Level::Study => {
                if (fse.is_empty() && fi.is_empty()) || rec.series.iter().any(|se| lower(se, true))
                {
                    emit(&|| build(&q, &rec.study, None, None), &mut rows);
                }
            }
            Level::Series => {
                for se in rec.series.iter().filter(|se| requested_series(se)) {
                    if lower(se, true) {
                        emit(&|| build(&q, &rec.study, Some(&se.attrs), None), &mut rows);
                    }
                }
            }
            Level::Instance => {
                for se in rec.series.iter().filter(|se| requested_series(se)) {
                    if !fse.iter().all(|f| matches(f, se.attrs.get(&f.attr.tag))) {
                        continue;
                    }
                    for inst in &se.instances {
                        if fi.iter().all(|f| matches(f, inst.get(&f.attr.tag))) {
                            emit(
                                &|| build(&q, &rec.study, Some(&se.attrs), Some(inst)),
                                &mut rows,
                            );
                        }
                    }
                }
            }
        }
    }
    let remaining = total.saturating_sub(start + rows.len());
    let matches: Vec<Value> = rows.into_iter().map(Value::Object).collect();
    Ok(json!({"matches": matches, "total": total, "remaining": remaining, "warnings": q.warnings}))
}

/// One result object: the default attributes of the levels this resource returns, the matching
/// keys and the included fields, each either with its value or empty.
pub(super) fn build(
    q: &Query,
    study: &BTreeMap<u32, Value>,
    series: Option<&BTreeMap<u32, Value>>,
    instance: Option<&BTreeMap<u32, Value>>,
) -> Map<String, Value> {
    // Which levels' defaults: PS3.18 §10.6.3.3 — study attributes when the study is not in the
    // path, series attributes when the series is not in the path.
    let mut levels = vec![q.level];
    if q.level != Level::Study && q.study_uid.is_none() {
        levels.push(Level::Study);
    }
    if q.level == Level::Instance && q.series_uid.is_none() {
        levels.push(Level::Series);
    }
    let mut wanted: Vec<u32> = Vec::new();
    for attr in ATTRS {
        let include_all = matches!(q.includes, Includes::All) && attr.level <= q.level;
        if (attr.default && levels.contains(&attr.level)) || include_all {
            wanted.push(attr.tag);
        }
    }
    // Every level's table (10.6.3-3/4/5) lists its own RetrieveURL, and the instance table its
    // InstanceAvailability: returned even when the study is in the path.
    wanted.push(RETRIEVE_URL);
    if q.level == Level::Instance {
        wanted.push(INSTANCE_AVAILABILITY);
    }
    for f in q.filters.iter().filter(|f| f.attr.level <= q.level) {
        wanted.push(f.attr.tag);
    }
    if let Includes::Tags(t) = &q.includes {
        wanted.extend(
            t.iter()
                .copied()
                .filter(|t| attr_by_tag(*t).is_some_and(|a| a.level <= q.level)),
        );
    }
    let mut out = Map::new();
    for tag in wanted {
        let Some(attr) = attr_by_tag(tag) else {
            continue;
        };
        // RetrieveURL and InstanceAvailability are per level: take the row's own.
        let source = if tag == RETRIEVE_URL || tag == INSTANCE_AVAILABILITY {
            match q.level {
                Level::Study => Some(study),
                Level::Series => series,
                Level::Instance => instance,
            }
        } else {
            match attr.level {
                Level::Study => Some(study),
                Level::Series => series,
                Level::Instance => instance,
            }
        };
        let value = source
            .and_then(|m| m.get(&tag))
            .cloned()
            .unwrap_or_else(|| json!({"vr": attr.vr}));
        out.insert(tag_key(tag), value);
    }
    // `includefield=all`: also every other attribute the stored instances have at the levels
    // this resource returns (records hold only returnable ones: no bulk data).
    if matches!(q.includes, Includes::All) {
        let maps = [Some(study), series.filter(|_| q.level >= Level::Series), instance.filter(|_| q.level >= Level::Instance)];
        for (tag, value) in maps.into_iter().flatten().flatten() {
            if *tag != RETRIEVE_URL && *tag != INSTANCE_AVAILABILITY && level_of(*tag) <= q.level {
                out.entry(tag_key(*tag)).or_insert_with(|| value.clone());
            }
        }
    }
    // A study none of whose series has a Modality: ModalitiesInStudy is left out rather than
    // sent empty. `{"vr":"CS"}` is the DICOM JSON of an empty attribute (PS3.18 F.2.2), but OHIF
    // 3.13's study list reads `ModalitiesInStudy.Value.length` whenever the attribute is there,
    // and one such study stops the whole list (docs/dicomweb.md, "Answers shaped for viewers").
    if out.get(&tag_key(MODALITIES_IN_STUDY)).is_some_and(|e| e.get("Value").is_none()) {
        out.remove(&tag_key(MODALITIES_IN_STUDY));
    }
    // Sorted by tag, as DICOM JSON objects conventionally are.
    let mut keys: Vec<String> = out.keys().cloned().collect();
    keys.sort();
    let mut sorted = Map::new();
    for k in keys {
        if let Some(v) = out.remove(&k) {
            sorted.insert(k, v);
        }
    }
    sorted
}
