//! QIDO-RS: candidate ImagingStudy (+ Patient) resources as DICOM attributes per study, series
//! and instance, with the values kept at ingest or read from the stored instances.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::attributes::{
    attr_by_tag, kept_attr, level_of, returnable, stored, tag_key, ATTRS, INSTANCE_AVAILABILITY, Level,
    RETRIEVE_URL,
};
use crate::qido::matching::values_of;
use crate::study_ext::{attributes_from_extension, EXT_INSTANCE_ATTRIBUTES};

/// DICOM attributes of one study, its series and instances, keyed by tag.
pub struct StudyRecord {
    pub study: BTreeMap<u32, Value>,
    pub series: Vec<SeriesRecord>,
}

pub struct SeriesRecord {
    pub attrs: BTreeMap<u32, Value>,
    pub instances: Vec<BTreeMap<u32, Value>>,
}

pub(super) fn put(map: &mut BTreeMap<u32, Value>, tag: u32, value: Option<Value>) {
    if let Some(v) = value {
        let vr = attr_by_tag(tag).map(|a| a.vr).unwrap_or("UN");
        map.insert(tag, json!({"vr": vr, "Value": [v]}));
    }
}

pub(super) fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

pub(super) fn strip_oid(v: &str) -> String {
    v.strip_prefix("urn:oid:").unwrap_or(v).to_owned()
}

/// FHIR dateTime → (DA, TM) as in the instance (the time is the local time DICOM carried).
pub(super) fn da_tm(started: &str) -> (Option<String>, Option<String>) {
    let (date, time) = match started.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (started, None),
    };
    let da = if date.len() == 10 {
        Some(date.replace('-', ""))
    } else {
        None
    };
    let tm = time.map(|t| {
        let end = t.find(['+', '-', 'Z']).unwrap_or(t.len());
        t[..end].replace(':', "")
    });
    (da, tm)
}

/// A Patient → (PatientName alphabetic PN, PatientID, BirthDate, Sex).
pub(super) fn patient_attrs(patient: Option<&Value>, study: &mut BTreeMap<u32, Value>) {
    let Some(p) = patient else { return };
    if let Some(names) = p.get("name").and_then(Value::as_array) {
        // The alphabetic group: the first name not marked ideographic/phonetic.
        let alpha = names.iter().find(|n| {
            !n.get("extension")
                .and_then(Value::as_array)
                .is_some_and(|exts| {
                    exts.iter().any(|e| {
                        e.get("valueCode")
                            .and_then(Value::as_str)
                            .is_some_and(|c| c == "IDE" || c == "SYL")
                    })
                })
        });
        if let Some(n) = alpha {
            let given: Vec<&str> = n
                .get("given")
                .and_then(Value::as_array)
                .map(|g| g.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let first = |k: &str| -> String {
                n.get(k)
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let parts = [
                n.get("family")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                given.first().copied().unwrap_or("").to_owned(),
                given.get(1..).map(|m| m.join(" ")).unwrap_or_default(),
                first("prefix"),
                first("suffix"),
            ];
            let pn = parts.join("^").trim_end_matches('^').to_owned();
            if !pn.is_empty() {
                study.insert(
                    0x0010_0010,
                    json!({"vr": "PN", "Value": [{"Alphabetic": pn}]}),
                );
            }
        }
    }
    if let Some(ids) = p.get("identifier").and_then(Value::as_array) {
        let id = ids
            .iter()
            .find(|i| s(i, "system").as_deref() != Some("urn:dicom:study-patient"));
        put(
            study,
            0x0010_0020,
            id.and_then(|i| s(i, "value")).map(Value::from),
        );
    }
    put(
        study,
        0x0010_0030,
        s(p, "birthDate")
            .filter(|d| d.len() == 10)
            .map(|d| d.replace('-', "").into()),
    );
    let sex = match s(p, "gender").as_deref() {
        Some("male") => Some("M"),
        Some("female") => Some("F"),
        Some("other") => Some("O"),
        _ => None,
    };
    put(study, 0x0010_0040, sex.map(Value::from));
}

pub(super) fn ext_value<'a>(exts: Option<&'a Value>, url_suffix: &str) -> Option<&'a Value> {
    exts?
        .as_array()?
        .iter()
        .find(|e| s(e, "url").is_some_and(|u| u.ends_with(url_suffix)))
}

/// Turns a candidate (ImagingStudy + Patient) into DICOM attributes. Only values the FHIR
/// resources hold faithfully are produced (see docs/dicomweb.md, "Where values come from").
#[allow(dead_code)] // the documented seam; `records` with no stored values
pub fn records_from_fhir(
    study: &Value,
    patient: Option<&Value>,
    retrieve_base: &str,
) -> Option<StudyRecord> {
    records(study, patient, None, retrieve_base)
}

/// Replaces the stored attributes of one level by the stored instance's values (absent there →
/// absent here): `src` is DICOM JSON (`{"00081030": {"vr": "LO", "Value": [..]}, ..}`).
pub(super) fn overlay(map: &mut BTreeMap<u32, Value>, level: Level, src: Option<&Value>) {
    let Some(obj) = src.and_then(Value::as_object) else {
        return;
    };
    for attr in ATTRS.iter().filter(|a| a.level == level && stored(a)) {
        map.remove(&attr.tag);
        if let Some(e) = obj.get(&tag_key(attr.tag)) {
            if e.get("Value")
                .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
            {
                let mut e = e.clone();
                if attr.vr == "DA" {
                    normalize_acr_nema_dates(&mut e);
                }
                map.insert(attr.tag, e);
            }
        }
    }
    // Attributes the table does not have (asked for by a key or `includefield`): the stored
    // instance's, at their level, as long as they are no bulk data.
    for (key, e) in obj {
        let Ok(tag) = u32::from_str_radix(key, 16) else {
            continue;
        };
        if key.len() != 8 || kept_attr(tag).is_some() || level_of(tag) != level || !returnable(tag, e) {
            continue;
        }
        let mut e = e.clone();
        if e.get("vr").and_then(Value::as_str) == Some("DA") {
            normalize_acr_nema_dates(&mut e);
        }
        map.insert(tag, e);
    }
}

/// ACR-NEMA dates (`1997.04.24`, still found in old files) become DA (`19970424`, PS3.5 Table
/// 6.2-1), so that they match date ranges and clients can parse them.
pub(super) fn normalize_acr_nema_dates(element: &mut Value) {
    if let Some(values) = element.get_mut("Value").and_then(Value::as_array_mut) {
        for v in values {
            if let Some(d) = v.as_str() {
                let b = d.as_bytes();
                if b.len() == 10
                    && b[4] == b'.'
                    && b[7] == b'.'
                    && d.replace('.', "").bytes().all(|c| c.is_ascii_digit())
                {
                    *v = Value::from(d.replace('.', ""));
                }
            }
        }
    }
}

/// [`records_from_fhir`], with the values of the stored instances where the caller has them:
/// `dicom` = `{"study": {DICOM JSON}, "series": {"<uid>": {..}}, "instances": {"<uid>": {..}}}`.
/// The ImagingStudy gives the structure (which series and instances exist) and the UIDs; the
/// stored instances give the values, so an edit of the FHIR resources does not change them.
pub fn records(
    study: &Value,
    patient: Option<&Value>,
    dicom: Option<&Value>,
    retrieve_base: &str,
) -> Option<StudyRecord> {
    records_with(study, patient, dicom, retrieve_base, OtherAttributes { study: true, series: true })
}

/// Which levels' attributes outside the table a query returns or matches: only those levels'
/// kept `otherAttributes` are read (parsed) from the ImagingStudy.
#[derive(Clone, Copy)]
pub(crate) struct OtherAttributes {
    pub(crate) study: bool,
    pub(crate) series: bool,
}

/// [`records`], reading the kept attributes outside the table only at the levels `other` names.
pub(crate) fn records_with(
    study: &Value,
    patient: Option<&Value>,
    dicom: Option<&Value>,
    retrieve_base: &str,
    other: OtherAttributes,
) -> Option<StudyRecord> {
    let ids = study.get("identifier").and_then(Value::as_array);
    let study_uid = ids
        .and_then(|ids| {
            ids.iter()
                .find(|i| s(i, "system").as_deref() == Some("urn:dicom:uid"))
        })
        .and_then(|i| s(i, "value"))
        .map(|v| strip_oid(&v))?;
    let mut st = BTreeMap::new();
    put(&mut st, 0x0020_000D, Some(study_uid.clone().into()));
    if let Some(started) = s(study, "started") {
        let (da, tm) = da_tm(&started);
        put(&mut st, 0x0008_0020, da.map(Value::from));
        put(&mut st, 0x0008_0030, tm.map(Value::from));
    }
    let accession = ids.and_then(|ids| {
        ids.iter()
            .find(|i| i.pointer("/type/coding/0/code").and_then(Value::as_str) == Some("ACSN"))
    });
    put(
        &mut st,
        0x0008_0050,
        accession.and_then(|i| s(i, "value")).map(Value::from),
    );
    put(
        &mut st,
        0x0008_1030,
        s(study, "description").map(Value::from),
    );
    patient_attrs(patient, &mut st);
    let kept = attributes_from_extension(study.get("extension"), other.study);
    overlay(
        &mut st,
        Level::Study,
        dicom.and_then(|d| d.get("study")).or(kept.as_ref()),
    );
    put(&mut st, INSTANCE_AVAILABILITY, Some("ONLINE".into()));
    let study_url = format!("{retrieve_base}/studies/{study_uid}");
    put(&mut st, RETRIEVE_URL, Some(study_url.clone().into()));

    // The caller left the instance entries out (a query that needs no instance values): the
    // counts are the series' numberOfInstances.
    let instances_omitted = dicom
        .and_then(|d| d.get("instancesOmitted"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut modalities: Vec<String> = Vec::new();
    let mut series_out = Vec::new();
    let mut total_instances = 0usize;
    for se in study
        .get("series")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(series_uid) = s(se, "uid") else {
            continue;
        };
        let mut sa = BTreeMap::new();
        put(&mut sa, 0x0020_000E, Some(series_uid.clone().into()));
        let modality = se
            .pointer("/modality/code")
            .and_then(Value::as_str)
            .map(str::to_owned);
        put(&mut sa, 0x0008_0060, modality.map(Value::from));
        put(
            &mut sa,
            0x0020_0011,
            se.get("number").and_then(Value::as_i64).map(Value::from),
        );
        put(&mut sa, 0x0008_103E, s(se, "description").map(Value::from));
        if let Some(started) = s(se, "started") {
            let (da, tm) = da_tm(&started);
            put(&mut sa, 0x0008_0021, da.map(Value::from));
            put(&mut sa, 0x0008_0031, tm.map(Value::from));
        }
        let kept = attributes_from_extension(se.get("extension"), other.series);
        overlay(
            &mut sa,
            Level::Series,
            dicom
                .and_then(|d| d.get("series"))
                .and_then(|m| m.get(&series_uid))
                .or(kept.as_ref()),
        );
        for m in values_of(sa.get(&0x0008_0060)) {
            if !modalities.contains(&m) {
                modalities.push(m);
            }
        }
        let series_url = format!("{study_url}/series/{series_uid}");
        put(&mut sa, RETRIEVE_URL, Some(series_url.clone().into()));
        put(&mut sa, INSTANCE_AVAILABILITY, Some("ONLINE".into()));
        let mut instances = Vec::new();
        for inst in se
            .get("instance")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(sop_uid) = s(inst, "uid") else {
                continue;
            };
            let mut ia = BTreeMap::new();
            put(&mut ia, 0x0008_0018, Some(sop_uid.clone().into()));
            put(
                &mut ia,
                0x0008_0016,
                inst.pointer("/sopClass/code")
                    .and_then(Value::as_str)
                    .map(|c| strip_oid(c).into()),
            );
            put(
                &mut ia,
                0x0020_0013,
                inst.get("number").and_then(Value::as_i64).map(Value::from),
            );
            if let Some(attrs) = ext_value(inst.get("extension"), EXT_INSTANCE_ATTRIBUTES) {
                let sub = attrs.get("extension");
                let num = |k: &str| {
                    ext_value(sub, k).and_then(|e| {
                        e.get("valueUnsignedInt")
                            .or_else(|| e.get("valueInteger"))
                            .and_then(Value::as_i64)
                    })
                };
                let exact = |k: &str| {
                    sub.and_then(Value::as_array)
                        .and_then(|a| a.iter().find(|e| s(e, "url").as_deref() == Some(k)))
                };
                put(
                    &mut ia,
                    0x0028_0010,
                    exact("rows")
                        .and_then(|e| e.get("valueUnsignedInt"))
                        .and_then(Value::as_i64)
                        .map(Value::from),
                );
                put(
                    &mut ia,
                    0x0028_0011,
                    exact("columns")
                        .and_then(|e| e.get("valueUnsignedInt"))
                        .and_then(Value::as_i64)
                        .map(Value::from),
                );
                put(&mut ia, 0x0028_0100, num("bitsAllocated").map(Value::from));
                put(&mut ia, 0x0028_0008, num("numberOfFrames").map(Value::from));
                put(
                    &mut ia,
                    0x0008_3002,
                    exact("transferSyntax")
                        .and_then(|e| s(e, "valueOid"))
                        .map(|o| strip_oid(&o).into()),
                );
            }
            overlay(
                &mut ia,
                Level::Instance,
                dicom
                    .and_then(|d| d.get("instances"))
                    .and_then(|m| m.get(&sop_uid)),
            );
            put(
                &mut ia,
                RETRIEVE_URL,
                Some(format!("{series_url}/instances/{sop_uid}").into()),
            );
            put(&mut ia, INSTANCE_AVAILABILITY, Some("ONLINE".into()));
            instances.push(ia);
        }
        let count = if instances_omitted {
            se.get("numberOfInstances")
                .and_then(Value::as_u64)
                .map_or(0, |n| n as usize)
        } else {
            instances.len()
        };
        if count == 0 {
            continue;
        }
        total_instances += count;
        put(&mut sa, 0x0020_1209, Some(count.into()));
        series_out.push(SeriesRecord {
            attrs: sa,
            instances,
        });
    }
    if series_out.is_empty() {
        return None;
    }
    if !modalities.is_empty() {
        st.insert(0x0008_0061, json!({"vr": "CS", "Value": modalities}));
    }
    put(&mut st, 0x0020_1206, Some(series_out.len().into()));
    put(&mut st, 0x0020_1208, Some(total_instances.into()));
    Some(StudyRecord {
        study: st,
        series: series_out,
    })
}
