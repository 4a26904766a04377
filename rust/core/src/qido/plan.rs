//! QIDO-RS step 1: the FHIR narrowing plan of a valid query.

use serde_json::{json, Map, Value};

use crate::attributes::{attr_by_tag, kept_attr, stored, tag_key, ATTRS, Level};
use crate::qido::query::{parse_query, Includes, Matcher};
use crate::DicomError;

/// Validates the query and returns what a FHIR ImagingStudy search can use to narrow the
/// candidates. Every field is optional; each only ever widens (a superset of the DICOM matches):
/// ```json
/// {"studyUids": [..], "seriesUids": [..], "sopUids": [..], "sopClassUids": [..],
///  "modalities": [..], "startedFrom": "YYYY-MM-DD", "startedTo": "YYYY-MM-DD",
///  "patientId": "..", "patientNamePrefix": "..", "studyDescriptionPrefix": "..",
///  "accessionNumbers": [..], "window": n, "warnings": [..], "index": [{"tag", "keyword", "eq"|"prefix"|"from"/"to"}],
///  "stored": {"tags": [..], "all": bool, "unindexed": [..], "keptValuesSuffice": bool,
///             "narrowingKeys": [..], "series": bool, "instances": bool}}
/// ```
/// `stored` says which values of the stored instances the answer needs: `unindexed` names the
/// keys (and `includefield=all`) outside the attribute table; `keptValuesSuffice` is true when
/// all of them are study or series attributes, which a study with complete kept values
/// (`otherAttributes` on the study and every series) has without reading an instance.
/// `startedFrom`/`startedTo` are already widened by a day each way (a FHIR dateTime with a zone
/// may fall on another UTC day than its DICOM local date).
pub fn plan(request: &Value) -> Result<Value, DicomError> {
    let q = parse_query(request)?;
    let mut out = Map::new();
    let mut study_uids: Option<Vec<String>> = q.study_uid.clone().map(|u| vec![u]);
    let mut series_uids: Option<Vec<String>> = q.series_uid.clone().map(|u| vec![u]);
    // Conditions on the attribute index (qido/index.rs), for the keys the caller has indexed.
    let index: Vec<Value> = q.filters.iter().filter_map(super::index::condition).collect();
    out.insert("index".into(), Value::Array(index));
    for f in &q.filters {
        let exact_values = |m: &Matcher| -> Option<Vec<String>> {
            match m {
                Matcher::Uids(u) => Some(u.clone()),
                Matcher::Patterns {
                    values,
                    fuzzy: false,
                    ..
                } if values.iter().all(|v| !v.is_empty() && !has_wildcard(v)) => {
                    Some(values.clone())
                }
                _ => None,
            }
        };
        match (f.attr.keyword, &f.matcher) {
            ("StudyInstanceUID", Matcher::Uids(u)) => {
                study_uids = Some(intersect(study_uids, u));
            }
            ("SeriesInstanceUID", Matcher::Uids(u)) => {
                series_uids = Some(intersect(series_uids, u));
            }
            ("SOPInstanceUID", Matcher::Uids(u)) => {
                out.insert("sopUids".into(), json!(u));
            }
            ("SOPClassUID", Matcher::Uids(u)) => {
                out.insert("sopClassUids".into(), json!(u));
            }
            ("Modality" | "ModalitiesInStudy", m) => {
                if let Some(v) = exact_values(m) {
                    out.insert("modalities".into(), json!(v));
                }
            }
            ("AccessionNumber", m) => {
                if let Some(v) = exact_values(m) {
                    out.insert("accessionNumbers".into(), json!(v));
                }
            }
            ("PatientID", m) => {
                if let Some(v) = exact_values(m) {
                    if v.len() == 1 {
                        out.insert("patientId".into(), json!(v[0]));
                    }
                }
            }
            (
                "PatientName",
                Matcher::Patterns {
                    values,
                    fuzzy: false,
                    ..
                },
            ) if values.len() == 1 => {
                // The literal family-name prefix before any wildcard or component delimiter.
                let v = &values[0];
                let end = v.find(['*', '?', '^', ' ', '=']).unwrap_or(v.len());
                let prefix = v[..end].trim();
                if !prefix.is_empty() {
                    out.insert("patientNamePrefix".into(), json!(prefix));
                }
            }
            (
                "StudyDescription",
                Matcher::Patterns {
                    values,
                    fuzzy: false,
                    ..
                },
            ) if values.len() == 1 => {
                // The literal prefix before any wildcard (the database compares case- and
                // accent-insensitively: a superset of the exact DICOM match).
                let v = &values[0];
                let prefix = v[..v.find(['*', '?']).unwrap_or(v.len())].trim();
                if !prefix.is_empty() {
                    out.insert("studyDescriptionPrefix".into(), json!(prefix));
                }
            }
            ("StudyDate", Matcher::Range(lo, hi)) => {
                if let Some(lo) = lo.as_deref().and_then(|d| shift_day(d, -1)) {
                    out.insert("startedFrom".into(), json!(lo));
                }
                if let Some(hi) = hi.as_deref().and_then(|d| shift_day(d, 1)) {
                    out.insert("startedTo".into(), json!(hi));
                }
            }
            _ => {}
        }
    }
    if let Some(u) = study_uids {
        out.insert("studyUids".into(), json!(u));
    }
    if let Some(u) = series_uids {
        out.insert("seriesUids".into(), json!(u));
    }
    // Which stored values the matching and the response need (see `query`, candidates' "dicom").
    let needs = |lvl: Level| q.level >= lvl || q.filters.iter().any(|f| f.attr.level == lvl);
    let mut tags: Vec<String> = ATTRS
        .iter()
        .filter(|a| stored(a))
        .map(|a| tag_key(a.tag))
        .collect();
    // Attributes the ImagingStudy does not keep: only the stored instances have them, so every
    // candidate's instances must be read (the caller bounds how many: docs/dicomweb.md).
    let mut unindexed: Vec<String> = Vec::new();
    let included: &[u32] = match &q.includes {
        Includes::Tags(t) => t,
        Includes::All => &[],
    };
    let extra = q
        .filters
        .iter()
        .map(|f| f.attr)
        .chain(included.iter().filter_map(|t| attr_by_tag(*t)).filter(|a| a.level <= q.level));
    // Whether one of them is an instance's: study and series values outside the table are kept
    // in the ImagingStudy of studies written by this version (`otherAttributes`, study_ext.rs).
    let mut instance_values = false;
    for attr in extra {
        if kept_attr(attr.tag).is_none() && !unindexed.iter().any(|k| k == attr.keyword) {
            unindexed.push(attr.keyword.to_owned());
            tags.push(tag_key(attr.tag));
            instance_values |= attr.level == Level::Instance;
        }
    }
    let all = matches!(q.includes, Includes::All);
    if all {
        unindexed.push("includefield=all".to_owned());
        instance_values |= q.level == Level::Instance;
    }
    out.insert(
        "stored".into(),
        json!({"tags": tags, "all": all, "unindexed": unindexed, "narrowingKeys": NARROWING_KEYS,
               "keptValuesSuffice": !instance_values,
               "series": needs(Level::Series), "instances": needs(Level::Instance)}),
    );
    // The rows up to the end of the requested page: the answer's first `window` rows are all a
    // page needs, so the newest candidates that give that many (and one more, to say more exist)
    // answer it as the whole candidate set would.
    let page = q.limit.map_or(q.max_results, |l| l.min(q.max_results));
    out.insert("window".into(), json!(q.offset.saturating_add(page)));
    out.insert("warnings".into(), json!(q.warnings));
    Ok(Value::Object(out))
}

/// The values of one stored instance a QIDO answer needs, as DICOM JSON text: the plan's
/// `stored.tags`, or every attribute when `stored.all` (`includefield=all`; BulkDataURIs stay
/// relative). Bytes that do not parse are [`crate::ErrorKind::CorruptStored`].
pub fn stored_values(bytes: &[u8], stored: &Value) -> Result<String, DicomError> {
    let parsed = crate::parse::parse(bytes).map_err(DicomError::stored)?;
    if stored["all"].as_bool() == Some(true) {
        return Ok(parsed.dicom_json_string(""));
    }
    let mut all = parsed.dicom_json("");
    let mut kept = Map::new();
    if let (Some(tags), Some(elements)) = (stored["tags"].as_array(), all.as_object_mut()) {
        for tag in tags.iter().filter_map(Value::as_str) {
            if let Some(element) = elements.remove(tag) {
                kept.insert(tag.to_owned(), element);
            }
        }
    }
    Ok(Value::Object(kept).to_string())
}

/// The keys the database narrows by (above), for the message of a query that would read too many
/// instances.
const NARROWING_KEYS: &[&str] = &[
    "StudyInstanceUID", "PatientID", "AccessionNumber", "StudyDate", "PatientName",
    "StudyDescription", "ModalitiesInStudy", "Modality", "SeriesInstanceUID", "SOPInstanceUID",
    "SOPClassUID",
];

pub(super) fn intersect(current: Option<Vec<String>>, new: &[String]) -> Vec<String> {
    match current {
        None => new.to_vec(),
        Some(c) => c.into_iter().filter(|u| new.contains(u)).collect(),
    }
}

pub(super) fn has_wildcard(v: &str) -> bool {
    v.contains(['*', '?'])
}

/// YYYYMMDD ± one day → "YYYY-MM-DD" (None when not a calendar date).
pub(super) fn shift_day(d: &str, delta: i64) -> Option<String> {
    let y: i64 = d.get(0..4)?.parse().ok()?;
    let m: i64 = d.get(4..6)?.parse().ok()?;
    let day: i64 = d.get(6..8)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), shift, and back.
    let days = {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    } + delta;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let dd = doy - (153 * mp + 2) / 5 + 1;
    let mm = if mp < 10 { mp + 3 } else { mp - 9 };
    let yy = yoe + era * 400 + i64::from(mm <= 2);
    if !(0..=9999).contains(&yy) {
        return None;
    }
    Some(format!("{yy:04}-{mm:02}-{dd:02}"))
}
