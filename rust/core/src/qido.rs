//! QIDO-RS (PS3.18 §10.6): query validation, the database narrowing plan, DICOM matching
//! (PS3.4 C.2.2.2) and the response (PS3.18 Tables 10.6.3-3/4/5).
//!
//! The caller (the HAPI facade) does two calls:
//! 1. [`plan`]: validates the query (a bad query is a [`DicomError`], i.e. a 400) and returns
//!    what a FHIR ImagingStudy search can use to narrow the candidates (always a superset);
//! 2. [`query`]: given the candidate ImagingStudy (+ Patient) resources, applies the exact DICOM
//!    matching, paging and attribute selection and returns the DICOM JSON result array.
//!
//! Request JSON (both calls):
//! ```json
//! {"level": "study" | "series" | "instance",
//!  "studyInstanceUid": "1.2..."  // from the path (/studies/{s}/...), optional
//!  "seriesInstanceUid": "1.2..." // from the path, optional
//!  "params": [["PatientName", "DOE*"], ["includefield", "00081030"], ...],  // query, in order
//!  "retrieveBase": "http://host/fhir/dicomweb",  // RetrieveURL prefix
//!  "maxResults": 1000}                             // the server's cap per response
//! ```
//! Candidates (for [`query`]): `[{"imagingStudy": {...}, "patient": {...} | null}, ...]`, in the
//! order results are to be returned (studies); series and instances keep the ImagingStudy order.
//!
//! Where attribute values come from: [`records_from_fhir`] turns an ImagingStudy (as written by
//! this project's merge) and its Patient into DICOM attributes. This is the seam where a later
//! version can prefer DICOM values kept verbatim at ingest; everything else here works on the
//! DICOM attributes only.

use std::collections::BTreeMap;

use dicom_core::dictionary::DataDictionary;
use dicom_dictionary_std::StandardDataDictionary;
use serde_json::{json, Map, Value};

use crate::DicomError;

/// Query/retrieve level of a QIDO resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Study,
    Series,
    Instance,
}

/// One attribute this module knows how to produce (and therefore match).
#[derive(Debug)]
struct Attr {
    tag: u32,
    keyword: &'static str,
    vr: &'static str,
    level: Level,
    /// Returned by default at its level (PS3.18 Tables 10.6.3-3/4/5).
    default: bool,
}

const fn a(tag: u32, keyword: &'static str, vr: &'static str, level: Level, default: bool) -> Attr {
    Attr {
        tag,
        keyword,
        vr,
        level,
        default,
    }
}

use Level::{Instance as I, Series as SE, Study as ST};

const ATTRS: &[Attr] = &[
    // Study (Table 10.6.3-3)
    a(0x0008_0020, "StudyDate", "DA", ST, true),
    a(0x0008_0030, "StudyTime", "TM", ST, true),
    a(0x0008_0050, "AccessionNumber", "SH", ST, true),
    a(0x0008_0056, "InstanceAvailability", "CS", ST, true),
    a(0x0008_0061, "ModalitiesInStudy", "CS", ST, true),
    a(0x0008_0090, "ReferringPhysicianName", "PN", ST, true),
    a(0x0008_1030, "StudyDescription", "LO", ST, false),
    a(0x0008_1190, "RetrieveURL", "UR", ST, true),
    a(0x0010_0010, "PatientName", "PN", ST, true),
    a(0x0010_0020, "PatientID", "LO", ST, true),
    a(0x0010_0030, "PatientBirthDate", "DA", ST, true),
    a(0x0010_0040, "PatientSex", "CS", ST, true),
    a(0x0020_000D, "StudyInstanceUID", "UI", ST, true),
    a(0x0020_0010, "StudyID", "SH", ST, true),
    a(0x0020_1206, "NumberOfStudyRelatedSeries", "IS", ST, true),
    a(0x0020_1208, "NumberOfStudyRelatedInstances", "IS", ST, true),
    // Series (Table 10.6.3-4)
    a(0x0008_0021, "SeriesDate", "DA", SE, false),
    a(0x0008_0031, "SeriesTime", "TM", SE, false),
    a(0x0008_0060, "Modality", "CS", SE, true),
    a(0x0008_103E, "SeriesDescription", "LO", SE, true),
    a(0x0020_000E, "SeriesInstanceUID", "UI", SE, true),
    a(0x0020_0011, "SeriesNumber", "IS", SE, true),
    a(
        0x0020_1209,
        "NumberOfSeriesRelatedInstances",
        "IS",
        SE,
        true,
    ),
    a(
        0x0040_0244,
        "PerformedProcedureStepStartDate",
        "DA",
        SE,
        true,
    ),
    a(
        0x0040_0245,
        "PerformedProcedureStepStartTime",
        "TM",
        SE,
        true,
    ),
    a(0x0040_0275, "RequestAttributesSequence", "SQ", SE, true),
    // Instance (Table 10.6.3-5)
    a(0x0008_0016, "SOPClassUID", "UI", I, true),
    a(0x0008_0018, "SOPInstanceUID", "UI", I, true),
    a(0x0008_3002, "AvailableTransferSyntaxUID", "UI", I, false),
    a(0x0020_0013, "InstanceNumber", "IS", I, true),
    a(0x0028_0008, "NumberOfFrames", "IS", I, true),
    a(0x0028_0010, "Rows", "US", I, true),
    a(0x0028_0011, "Columns", "US", I, true),
    a(0x0028_0100, "BitsAllocated", "US", I, true),
];

const RETRIEVE_URL: u32 = 0x0008_1190;
const INSTANCE_AVAILABILITY: u32 = 0x0008_0056;

/// Attributes that are returned but never matched (sequence matching is not supported): a query
/// on them gets a warning.
const NOT_MATCHABLE: &[u32] = &[0x0040_0275];

/// Computed or structural attributes: never taken from the stored instances.
const COMPUTED: &[u32] = &[
    0x0008_0056, // InstanceAvailability
    0x0008_0061, // ModalitiesInStudy
    0x0008_1190, // RetrieveURL
    0x0008_3002, // AvailableTransferSyntaxUID
    0x0020_000D, // StudyInstanceUID
    0x0020_000E, // SeriesInstanceUID
    0x0008_0018, // SOPInstanceUID
    0x0020_1206, // NumberOfStudyRelatedSeries
    0x0020_1208, // NumberOfStudyRelatedInstances
    0x0020_1209, // NumberOfSeriesRelatedInstances
];

/// Attributes whose values are the stored instances' (not the FHIR resources', which users may
/// edit): the caller passes them per study/series/instance as `"dicom"` of a candidate.
fn stored(attr: &Attr) -> bool {
    !COMPUTED.contains(&attr.tag)
}

fn attr_by_tag(tag: u32) -> Option<&'static Attr> {
    ATTRS.iter().find(|a| a.tag == tag)
}

fn tag_key(tag: u32) -> String {
    format!("{tag:08X}")
}

/// A malformed or unsupported query: the client's to fix (400).
fn bad(msg: impl Into<String>) -> DicomError {
    DicomError::invalid_input(msg)
}

// ---------------------------------------------------------------------------------------------
// Parsing the request
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Matcher {
    /// Empty value or `*`: matches everything, the attribute is only returned.
    Universal,
    /// UID list (UI): any of these.
    Uids(Vec<String>),
    /// Normalised inclusive bounds (DA: YYYYMMDD, TM: HHMMSS.ffffff).
    Range(Option<String>, Option<String>),
    /// Values with optional `*`/`?` wildcards (any matches); `ci` = case-insensitive (PN).
    Patterns {
        values: Vec<String>,
        ci: bool,
        fuzzy: bool,
    },
    /// IS/US values: any equal.
    Numbers(Vec<i64>),
}

#[derive(Debug, Clone)]
struct Filter {
    attr: &'static Attr,
    matcher: Matcher,
}

#[derive(Debug)]
enum Includes {
    All,
    Tags(Vec<u32>),
}

#[derive(Debug)]
struct Query {
    level: Level,
    study_uid: Option<String>,
    series_uid: Option<String>,
    filters: Vec<Filter>,
    includes: Includes,
    limit: Option<usize>,
    offset: usize,
    max_results: usize,
    retrieve_base: String,
    warnings: Vec<String>,
}

fn resolve_attribute(key: &str) -> Result<Result<&'static Attr, String>, DicomError> {
    // Ok(Ok(attr)): supported; Ok(Err(name)): a DICOM attribute we do not support; Err: unknown.
    if key.contains('.') {
        return Ok(Err(key.to_owned())); // sequence matching (e.g. RequestAttributesSequence.X)
    }
    if key.len() == 8 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        let tag = u32::from_str_radix(key, 16).map_err(|_| bad(format!("bad tag {key}")))?;
        return Ok(attr_by_tag(tag).ok_or_else(|| key.to_uppercase()));
    }
    if let Some(attr) = ATTRS.iter().find(|a| a.keyword == key) {
        return Ok(Ok(attr));
    }
    if StandardDataDictionary.by_name(key).is_some() {
        return Ok(Err(key.to_owned()));
    }
    Err(bad(format!(
        "Unknown query parameter or attribute \"{key}\" (PS3.18 §8.3.4: use a DICOM keyword or a tag gggeeee)"
    )))
}

fn parse_query(request: &Value) -> Result<Query, DicomError> {
    let level = match request.get("level").and_then(Value::as_str) {
        Some("study") => Level::Study,
        Some("series") => Level::Series,
        Some("instance") => Level::Instance,
        other => {
            return Err(bad(format!(
                "level must be study, series or instance, not {other:?}"
            )));
        }
    };
    let path_uid = |k: &str| -> Result<Option<String>, DicomError> {
        match request.get(k).and_then(Value::as_str) {
            None => Ok(None),
            Some(u) => {
                check_uid(u)?;
                Ok(Some(u.to_owned()))
            }
        }
    };
    let study_uid = path_uid("studyInstanceUid")?;
    let series_uid = path_uid("seriesInstanceUid")?;
    let max_results = request
        .get("maxResults")
        .and_then(Value::as_u64)
        .map(|n| n.max(1) as usize)
        .unwrap_or(1000);
    let retrieve_base = request
        .get("retrieveBase")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_end_matches('/')
        .to_owned();

    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(list) = request.get("params").and_then(Value::as_array) {
        for p in list {
            let k = p.get(0).and_then(Value::as_str).unwrap_or_default();
            let v = p.get(1).and_then(Value::as_str).unwrap_or_default();
            params.push((k.to_owned(), v.to_owned()));
        }
    }
    let fuzzy = params
        .iter()
        .any(|(k, v)| k == "fuzzymatching" && v.eq_ignore_ascii_case("true"));

    let mut q = Query {
        level,
        study_uid,
        series_uid,
        filters: Vec::new(),
        includes: Includes::Tags(Vec::new()),
        limit: None,
        offset: 0,
        max_results,
        retrieve_base,
        warnings: Vec::new(),
    };
    let mut unsupported: Vec<String> = Vec::new();
    for (key, value) in &params {
        match key.as_str() {
            "limit" => {
                let n: usize = value.trim().parse().map_err(|_| {
                    bad(format!(
                        "limit must be a non-negative integer, not \"{value}\""
                    ))
                })?;
                q.limit = Some(n);
            }
            "offset" => {
                q.offset = value.trim().parse().map_err(|_| {
                    bad(format!(
                        "offset must be a non-negative integer, not \"{value}\""
                    ))
                })?;
            }
            "fuzzymatching" => {
                if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                    return Err(bad(format!(
                        "fuzzymatching must be true or false, not \"{value}\""
                    )));
                }
            }
            "includefield" => {
                for field in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    if field == "all" {
                        q.includes = Includes::All;
                        continue;
                    }
                    match resolve_attribute(field)? {
                        Ok(attr) => {
                            if let Includes::Tags(t) = &mut q.includes {
                                t.push(attr.tag);
                            }
                        }
                        Err(_) => {} // a DICOM attribute we do not hold: nothing to return
                    }
                }
            }
            // Not query keys: media type / charset overrides some clients send.
            "accept" | "charset" | "_" => {}
            _ => match resolve_attribute(key)? {
                Ok(attr) if NOT_MATCHABLE.contains(&attr.tag) => {
                    if !value.is_empty() && value != "*" {
                        unsupported.push(attr.keyword.to_owned());
                    }
                    if let Includes::Tags(t) = &mut q.includes {
                        t.push(attr.tag);
                    }
                }
                Ok(attr) => {
                    // A lower level's key (e.g. Modality on /studies) selects the studies or
                    // series that hold a matching series/instance (relational, as C-FIND).
                    let matcher = matcher(attr, value, fuzzy)?;
                    q.filters.push(Filter { attr, matcher });
                }
                Err(name) => {
                    if !value.is_empty() {
                        unsupported.push(name);
                    }
                }
            },
        }
    }
    if !unsupported.is_empty() {
        q.warnings.push(format!(
            "The following attributes are not supported as query keys and were ignored: {}",
            unsupported.join(", ")
        ));
    }
    Ok(q)
}

fn check_uid(uid: &str) -> Result<(), DicomError> {
    let ok = !uid.is_empty()
        && uid.len() <= 64
        && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !uid.starts_with('.')
        && !uid.ends_with('.')
        && !uid.contains("..");
    if ok {
        Ok(())
    } else {
        Err(bad(format!("\"{uid}\" is not a valid UID")))
    }
}

fn matcher(attr: &Attr, raw: &str, fuzzy: bool) -> Result<Matcher, DicomError> {
    let value = raw.trim();
    if value.is_empty() || value.chars().all(|c| c == '*') {
        return Ok(Matcher::Universal);
    }
    match attr.vr {
        "UI" => {
            let uids: Vec<String> = value
                .split(['\\', ','])
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect();
            for u in &uids {
                check_uid(u)?;
            }
            Ok(Matcher::Uids(uids))
        }
        "DA" => {
            let (lo, hi) = split_range(value);
            let norm = |s: &str| -> Result<Option<String>, DicomError> {
                if s.is_empty() {
                    return Ok(None);
                }
                let d: String = s.chars().filter(|c| *c != '.').collect();
                if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(Some(d))
                } else {
                    Err(bad(format!(
                        "{}: \"{raw}\" is not a date or date range (YYYYMMDD, YYYYMMDD-YYYYMMDD, -YYYYMMDD, YYYYMMDD-)",
                        attr.keyword
                    )))
                }
            };
            match hi {
                None => {
                    let d = norm(lo)?;
                    Ok(Matcher::Range(d.clone(), d))
                }
                Some(hi) => {
                    let (lo, hi) = (norm(lo)?, norm(hi)?);
                    if lo.is_none() && hi.is_none() {
                        return Err(bad(format!(
                            "{}: \"{raw}\" is not a date range",
                            attr.keyword
                        )));
                    }
                    Ok(Matcher::Range(lo, hi))
                }
            }
        }
        "TM" => {
            let (lo, hi) = split_range(value);
            let bad_tm = || {
                bad(format!(
                    "{}: \"{raw}\" is not a time or time range (HHMMSS[.F], with '-' for a range)",
                    attr.keyword
                ))
            };
            match hi {
                None => {
                    let l = norm_time(lo, false).ok_or_else(bad_tm)?;
                    let h = norm_time(lo, true).ok_or_else(bad_tm)?;
                    Ok(Matcher::Range(Some(l), Some(h)))
                }
                Some(hi) => {
                    let l = if lo.is_empty() {
                        None
                    } else {
                        Some(norm_time(lo, false).ok_or_else(bad_tm)?)
                    };
                    let h = if hi.is_empty() {
                        None
                    } else {
                        Some(norm_time(hi, true).ok_or_else(bad_tm)?)
                    };
                    if l.is_none() && h.is_none() {
                        return Err(bad_tm());
                    }
                    Ok(Matcher::Range(l, h))
                }
            }
        }
        "IS" | "US" => {
            let mut out = Vec::new();
            for v in value
                .split(['\\', ','])
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                out.push(
                    v.parse::<i64>()
                        .map_err(|_| bad(format!("{}: \"{v}\" is not an integer", attr.keyword)))?,
                );
            }
            Ok(Matcher::Numbers(out))
        }
        "PN" => {
            // Only the alphabetic group is matched; a PN never contains a backslash.
            let values = value
                .split('\\')
                .map(|v| v.split('=').next().unwrap_or("").trim().to_owned())
                .collect();
            Ok(Matcher::Patterns {
                values,
                ci: true,
                fuzzy,
            })
        }
        "CS" => Ok(Matcher::Patterns {
            values: value
                .split(['\\', ','])
                .map(|v| v.trim().to_owned())
                .collect(),
            ci: false,
            fuzzy: false,
        }),
        _ => Ok(Matcher::Patterns {
            values: value.split('\\').map(|v| v.trim().to_owned()).collect(),
            ci: false,
            fuzzy: false,
        }),
    }
}

/// `a-b`, `-b`, `a-`: (a, Some(b)); a single value: (v, None).
fn split_range(value: &str) -> (&str, Option<&str>) {
    match value.find('-') {
        Some(i) => (value[..i].trim(), Some(value[i + 1..].trim())),
        None => (value, None),
    }
}

/// TM → "HHMMSS.ffffff"; `upper` fills what is missing with the largest value (inclusive end).
fn norm_time(tm: &str, upper: bool) -> Option<String> {
    let tm = tm.trim().replace(':', "");
    let (main, frac) = match tm.split_once('.') {
        Some((m, f)) => (m.to_owned(), f.to_owned()),
        None => (tm.clone(), String::new()),
    };
    if main.is_empty()
        || main.len() > 6
        || main.len() % 2 == 1
        || !main.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 6
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (!frac.is_empty() && main.len() != 6)
    {
        return None;
    }
    let mut out = main.clone();
    while out.len() < 6 {
        out.push_str(if upper { "59" } else { "00" });
    }
    let mut f = frac;
    let fill = if upper { '9' } else { '0' };
    while f.len() < 6 {
        f.push(fill);
    }
    Some(format!("{out}.{f}"))
}

// ---------------------------------------------------------------------------------------------
// The narrowing plan
// ---------------------------------------------------------------------------------------------

/// Validates the query and returns what a FHIR ImagingStudy search can use to narrow the
/// candidates. Every field is optional; each only ever widens (a superset of the DICOM matches):
/// ```json
/// {"studyUids": [..], "seriesUids": [..], "sopUids": [..], "sopClassUids": [..],
///  "modalities": [..], "startedFrom": "YYYY-MM-DD", "startedTo": "YYYY-MM-DD",
///  "patientId": "..", "patientNamePrefix": "..", "studyDescriptionPrefix": "..",
///  "accessionNumbers": [..], "warnings": [..]}
/// ```
/// `startedFrom`/`startedTo` are already widened by a day each way (a FHIR dateTime with a zone
/// may fall on another UTC day than its DICOM local date).
pub fn plan(request: &Value) -> Result<Value, DicomError> {
    let q = parse_query(request)?;
    let mut out = Map::new();
    let mut study_uids: Option<Vec<String>> = q.study_uid.clone().map(|u| vec![u]);
    let mut series_uids: Option<Vec<String>> = q.series_uid.clone().map(|u| vec![u]);
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
    let tags: Vec<String> = ATTRS
        .iter()
        .filter(|a| stored(a))
        .map(|a| tag_key(a.tag))
        .collect();
    out.insert(
        "stored".into(),
        json!({"tags": tags, "series": needs(Level::Series), "instances": needs(Level::Instance)}),
    );
    out.insert("warnings".into(), json!(q.warnings));
    Ok(Value::Object(out))
}

fn intersect(current: Option<Vec<String>>, new: &[String]) -> Vec<String> {
    match current {
        None => new.to_vec(),
        Some(c) => c.into_iter().filter(|u| new.contains(u)).collect(),
    }
}

fn has_wildcard(v: &str) -> bool {
    v.contains(['*', '?'])
}

/// YYYYMMDD ± one day → "YYYY-MM-DD" (None when not a calendar date).
fn shift_day(d: &str, delta: i64) -> Option<String> {
    let y: i64 = d.get(0..4)?.parse().ok()?;
    let m: i64 = d.get(4..6)?.parse().ok()?;
    let day: i64 = d.get(6..8)?.parse().ok()?;
    if !(1..=12).contains(&m) || day < 1 || day > 31 {
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

// ---------------------------------------------------------------------------------------------
// DICOM attributes from the FHIR resources
// ---------------------------------------------------------------------------------------------

/// DICOM attributes of one study, its series and instances, keyed by tag.
pub struct StudyRecord {
    pub study: BTreeMap<u32, Value>,
    pub series: Vec<SeriesRecord>,
}

pub struct SeriesRecord {
    pub attrs: BTreeMap<u32, Value>,
    pub instances: Vec<BTreeMap<u32, Value>>,
}

fn put(map: &mut BTreeMap<u32, Value>, tag: u32, value: Option<Value>) {
    if let Some(v) = value {
        let vr = attr_by_tag(tag).map(|a| a.vr).unwrap_or("UN");
        map.insert(tag, json!({"vr": vr, "Value": [v]}));
    }
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn strip_oid(v: &str) -> String {
    v.strip_prefix("urn:oid:").unwrap_or(v).to_owned()
}

/// FHIR dateTime → (DA, TM) as in the instance (the time is the local time DICOM carried).
fn da_tm(started: &str) -> (Option<String>, Option<String>) {
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
fn patient_attrs(patient: Option<&Value>, study: &mut BTreeMap<u32, Value>) {
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

fn ext_value<'a>(exts: Option<&'a Value>, url_suffix: &str) -> Option<&'a Value> {
    exts?
        .as_array()?
        .iter()
        .find(|e| s(e, "url").is_some_and(|u| u.ends_with(url_suffix)))
}

// ---------------------------------------------------------------------------------------------
// The values of the stored instances, kept in the ImagingStudy at ingest
// ---------------------------------------------------------------------------------------------

/// The `dicom-attributes` extension (ImagingStudy for [`Level::Study`], a series for
/// [`Level::Series`]) of one instance: the values its DICOM data set has for the QIDO attributes
/// of that level, one sub-extension per value: `url` = keyword, `valueString` = the value as
/// DICOM text (PN as `Alphabetic=Ideographic=Phonetic`, numbers as written, a sequence as its
/// DICOM JSON). QIDO answers and matches these, not the FHIR fields a user may edit; FHIR string
/// SearchParameters on them let the database narrow (PatientName, StudyDescription).
/// None when the instance has none of them.
pub fn attributes_extension(p: &crate::parse::ParsedInstance, level: Level) -> Option<Value> {
    let attrs: Vec<&Attr> = ATTRS
        .iter()
        .filter(|a| a.level == level && stored(a))
        .collect();
    let tags: Vec<dicom_core::Tag> = attrs
        .iter()
        .map(|a| dicom_core::Tag((a.tag >> 16) as u16, (a.tag & 0xFFFF) as u16))
        .collect();
    let json = crate::json::selected_json(&p.root(), &tags);
    let mut subs = Vec::new();
    for attr in attrs {
        let Some(element) = json.get(&tag_key(attr.tag)) else {
            continue;
        };
        let values = element.get("Value").and_then(Value::as_array);
        if values.is_none_or(|v| v.is_empty()) {
            continue;
        }
        let texts: Vec<String> = if attr.vr == "SQ" {
            vec![element.to_string()]
        } else {
            values
                .into_iter()
                .flatten()
                .filter_map(|v| match v {
                    Value::String(t) => Some(t.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Object(pn) => {
                        let group = |k: &str| pn.get(k).and_then(Value::as_str).unwrap_or("");
                        let joined = [group("Alphabetic"), group("Ideographic"), group("Phonetic")]
                            .join("=");
                        Some(joined.trim_end_matches('=').to_owned())
                    }
                    _ => None,
                })
                .filter(|t| !t.is_empty())
                .collect()
        };
        for t in texts {
            subs.push(json!({"url": attr.keyword, "valueString": t}));
        }
    }
    (!subs.is_empty()).then(|| json!({"url": crate::fhir::EXT_DICOM_ATTRIBUTES, "extension": subs}))
}

/// DICOM JSON (as [`overlay`] takes it) from the `dicom-attributes` extension among `exts`;
/// None when there is none (a study written before it existed: the caller reads the instance).
fn attributes_from_extension(exts: Option<&Value>) -> Option<Value> {
    let ext = exts?
        .as_array()?
        .iter()
        .find(|e| s(e, "url").as_deref() == Some(crate::fhir::EXT_DICOM_ATTRIBUTES))?;
    let mut out = Map::new();
    for sub in ext.get("extension").and_then(Value::as_array).into_iter().flatten() {
        let (Some(keyword), Some(text)) = (s(sub, "url"), s(sub, "valueString")) else {
            continue;
        };
        let Some(attr) = ATTRS.iter().find(|a| a.keyword == keyword && stored(a)) else {
            continue;
        };
        if attr.vr == "SQ" {
            if let Ok(element) = serde_json::from_str::<Value>(&text) {
                out.insert(tag_key(attr.tag), element);
            }
            continue;
        }
        let value = match attr.vr {
            "PN" => crate::json::pn_json(&text),
            "IS" => crate::json::is_number(&text).map_or_else(|| Value::from(text.clone()), Value::from),
            "DS" => crate::json::ds_number(&text).map_or_else(|| Value::from(text.clone()), Value::Number),
            "US" | "UL" | "SS" | "SL" => text.parse::<i64>().map_or_else(|_| Value::from(text.clone()), Value::from),
            _ => Value::from(text),
        };
        let element = out
            .entry(tag_key(attr.tag))
            .or_insert_with(|| json!({"vr": attr.vr, "Value": []}));
        if let Some(values) = element.get_mut("Value").and_then(Value::as_array_mut) {
            values.push(value);
        }
    }
    Some(Value::Object(out))
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
fn overlay(map: &mut BTreeMap<u32, Value>, level: Level, src: Option<&Value>) {
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
}

/// ACR-NEMA dates (`1997.04.24`, still found in old files) become DA (`19970424`, PS3.5 Table
/// 6.2-1), so that they match date ranges and clients can parse them.
fn normalize_acr_nema_dates(element: &mut Value) {
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
    let kept = attributes_from_extension(study.get("extension"));
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
        let kept = attributes_from_extension(se.get("extension"));
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
            if let Some(attrs) = ext_value(inst.get("extension"), "/instance-attributes") {
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

// ---------------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------------

/// String forms of an element's values (PN: the alphabetic group).
fn values_of(elem: Option<&Value>) -> Vec<String> {
    let Some(vals) = elem.and_then(|e| e.get("Value")).and_then(Value::as_array) else {
        return Vec::new();
    };
    vals.iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Object(o) => o
                .get("Alphabetic")
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// `*` any run, `?` any one character (PS3.4 C.2.2.2.4).
fn wildcard(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(sp) = star {
            p = sp + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

fn fold(s: &str, ci: bool) -> Vec<char> {
    let s = s.trim_end_matches([' ', '\0']).trim_start();
    if ci {
        s.to_lowercase().chars().collect()
    } else {
        s.chars().collect()
    }
}

fn fuzzy_match(query: &str, value: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.to_lowercase()
            .split(['^', ' ', ',', '-'])
            .map(|w| w.trim_matches(['*', '?']).to_owned())
            .filter(|w| !w.is_empty())
            .collect()
    };
    let have = words(value);
    words(query)
        .iter()
        .all(|q| have.iter().any(|h| h.starts_with(q.as_str())))
}

fn matches(filter: &Filter, elem: Option<&Value>) -> bool {
    let vals = values_of(elem);
    match &filter.matcher {
        Matcher::Universal => true,
        Matcher::Uids(u) => vals.iter().any(|v| u.contains(v)),
        Matcher::Numbers(n) => vals
            .iter()
            .any(|v| v.trim().parse::<i64>().is_ok_and(|x| n.contains(&x))),
        Matcher::Range(lo, hi) => vals.iter().any(|v| {
            let v = if filter.attr.vr == "TM" {
                match norm_time(v, false) {
                    Some(t) => t,
                    None => return false,
                }
            } else {
                v.trim().to_owned()
            };
            lo.as_ref().is_none_or(|l| v.as_str() >= l.as_str())
                && hi.as_ref().is_none_or(|h| v.as_str() <= h.as_str())
        }),
        Matcher::Patterns { values, ci, fuzzy } => vals.iter().any(|v| {
            values.iter().any(|q| {
                if *fuzzy && fuzzy_match(q, v) {
                    return true;
                }
                wildcard(&fold(q, *ci), &fold(v, *ci))
            })
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// The query
// ---------------------------------------------------------------------------------------------

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

    for c in candidates {
        let Some(study_json) = c.get("imagingStudy") else {
            continue;
        };
        let Some(rec) = records(
            study_json,
            c.get("patient").filter(|p| !p.is_null()),
            c.get("dicom").filter(|d| !d.is_null()),
            &q.retrieve_base,
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
                for se in &rec.series {
                    let uid = values_of(se.attrs.get(&0x0020_000E))
                        .pop()
                        .unwrap_or_default();
                    if q.series_uid.as_ref().is_some_and(|u| *u != uid) {
                        continue;
                    }
                    if lower(se, true) {
                        emit(&|| build(&q, &rec.study, Some(&se.attrs), None), &mut rows);
                    }
                }
            }
            Level::Instance => {
                for se in &rec.series {
                    let uid = values_of(se.attrs.get(&0x0020_000E))
                        .pop()
                        .unwrap_or_default();
                    if q.series_uid.as_ref().is_some_and(|u| *u != uid) {
                        continue;
                    }
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
fn build(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn study(uid: &str, started: &str, modality: &str, family: &str) -> Value {
        json!({"imagingStudy": {
            "resourceType": "ImagingStudy",
            "identifier": [{"system": "urn:dicom:uid", "value": format!("urn:oid:{uid}")},
                           {"type": {"coding": [{"code": "ACSN"}]}, "value": "ACC1"}],
            "started": started,
            "description": "Head",
            "series": [{"uid": format!("{uid}.1"), "number": 1, "modality": {"code": modality},
                        "instance": [
                            {"uid": format!("{uid}.1.1"), "number": 1, "sopClass": {"code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"},
                             "extension": [{"url": "http://dicomfhir.org/fhir/StructureDefinition/instance-attributes",
                                "extension": [{"url": "rows", "valueUnsignedInt": 512}, {"url": "columns", "valueUnsignedInt": 256},
                                              {"url": "transferSyntax", "valueOid": "urn:oid:1.2.840.10008.1.2.1"}]}]},
                            {"uid": format!("{uid}.1.2"), "number": 2, "sopClass": {"code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}}]},
                       {"uid": format!("{uid}.2"), "number": 2, "modality": {"code": "SR"},
                        "instance": [{"uid": format!("{uid}.2.1"), "number": 1, "sopClass": {"code": "urn:oid:1.2.3"}}]}]},
            "patient": {"resourceType": "Patient", "name": [{"family": family, "given": ["John", "Q"]}],
                        "identifier": [{"system": "urn:dicom:patient-id", "value": "PID1"}],
                        "birthDate": "1970-01-02", "gender": "male"}})
    }

    fn candidates() -> Value {
        json!([
            study("1.2.3", "2020-05-06T10:11:12+01:00", "CT", "Doe"),
            study("1.2.4", "2021-01-01", "MR", "Smith"),
        ])
    }

    fn run(level: &str, params: &[(&str, &str)]) -> Value {
        let req = json!({"level": level, "params": params.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                         "retrieveBase": "http://h/dw/", "maxResults": 100});
        query(&req, &candidates()).unwrap()
    }

    fn uids(result: &Value, tag: &str) -> Vec<String> {
        result["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m[tag]["Value"][0].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn study_level_required_attributes() {
        let r = run("study", &[]);
        assert_eq!(r["total"], 2);
        let m = &r["matches"][0];
        assert_eq!(m["0020000D"]["Value"][0], "1.2.3");
        assert_eq!(m["00080020"]["Value"][0], "20200506");
        assert_eq!(m["00080030"]["Value"][0], "101112");
        assert_eq!(m["00080050"]["Value"][0], "ACC1");
        assert_eq!(m["00080061"]["Value"], json!(["CT", "SR"]));
        assert_eq!(m["00100010"]["Value"][0]["Alphabetic"], "Doe^John^Q");
        assert_eq!(m["00100020"]["Value"][0], "PID1");
        assert_eq!(m["00100030"]["Value"][0], "19700102");
        assert_eq!(m["00100040"]["Value"][0], "M");
        assert_eq!(m["00201206"]["Value"][0], 2);
        assert_eq!(m["00201208"]["Value"][0], 3);
        assert_eq!(m["00081190"]["Value"][0], "http://h/dw/studies/1.2.3");
        assert_eq!(m["00200010"], json!({"vr": "SH"}));
        assert!(m.get("00081030").is_none());
    }

    #[test]
    fn matching_kinds() {
        assert_eq!(
            uids(&run("study", &[("PatientName", "do*")]), "0020000D"),
            ["1.2.3"]
        );
        assert_eq!(
            uids(
                &run("study", &[("PatientName", "SMITH^JOHN^Q")]),
                "0020000D"
            ),
            ["1.2.4"]
        );
        assert_eq!(
            uids(&run("study", &[("PatientName", "?oe*")]), "0020000D"),
            ["1.2.3"]
        );
        assert_eq!(
            uids(
                &run("study", &[("StudyDate", "20200101-20201231")]),
                "0020000D"
            ),
            ["1.2.3"]
        );
        assert_eq!(
            uids(&run("study", &[("StudyDate", "20210101-")]), "0020000D"),
            ["1.2.4"]
        );
        assert_eq!(
            uids(&run("study", &[("StudyDate", "-20200506")]), "0020000D"),
            ["1.2.3"]
        );
        assert_eq!(
            uids(&run("study", &[("StudyTime", "10-11")]), "0020000D"),
            ["1.2.3"]
        );
        assert_eq!(
            uids(
                &run("study", &[("StudyInstanceUID", "1.2.4\\9.9")]),
                "0020000D"
            ),
            ["1.2.4"]
        );
        assert_eq!(
            uids(
                &run("study", &[("StudyInstanceUID", "1.2.3,1.2.4")]),
                "0020000D"
            )
            .len(),
            2
        );
        assert_eq!(
            uids(&run("study", &[("ModalitiesInStudy", "MR")]), "0020000D"),
            ["1.2.4"]
        );
        assert_eq!(
            uids(&run("study", &[("00080061", "SR")]), "0020000D").len(),
            2
        );
        assert_eq!(
            uids(&run("study", &[("PatientName", "")]), "0020000D").len(),
            2
        );
        assert_eq!(
            uids(
                &run("study", &[("PatientName", "jo"), ("fuzzymatching", "true")]),
                "0020000D"
            )
            .len(),
            2
        );
        assert_eq!(
            uids(&run("study", &[("PatientName", "jo")]), "0020000D").len(),
            0
        );
        // relational: a series/instance key on a study-level query
        assert_eq!(
            uids(&run("study", &[("Modality", "MR")]), "0020000D"),
            ["1.2.4"]
        );
        assert_eq!(
            uids(
                &run("study", &[("SOPInstanceUID", "1.2.3.1.2")]),
                "0020000D"
            ),
            ["1.2.3"]
        );
        assert_eq!(
            uids(
                &run("series", &[("SOPInstanceUID", "1.2.3.1.2")]),
                "0020000E"
            ),
            ["1.2.3.1"]
        );
    }

    #[test]
    fn series_and_instances() {
        let r = run("series", &[("Modality", "CT")]);
        assert_eq!(uids(&r, "0020000E"), ["1.2.3.1"]);
        assert_eq!(r["matches"][0]["00201209"]["Value"][0], 2);
        assert_eq!(r["matches"][0]["0020000D"]["Value"][0], "1.2.3");
        let r = run("instance", &[("SOPClassUID", "1.2.3")]);
        assert_eq!(uids(&r, "00080018"), ["1.2.3.2.1", "1.2.4.2.1"]);
        let r = run("instance", &[("InstanceNumber", "2")]);
        assert_eq!(uids(&r, "00080018"), ["1.2.3.1.2", "1.2.4.1.2"]);
        let r = run("instance", &[("SOPInstanceUID", "1.2.3.1.1")]);
        assert_eq!(r["matches"][0]["00280010"]["Value"][0], 512);
        assert_eq!(
            r["matches"][0]["00081190"]["Value"][0],
            "http://h/dw/studies/1.2.3/series/1.2.3.1/instances/1.2.3.1.1"
        );
        let req = json!({"level": "instance", "studyInstanceUid": "1.2.4", "seriesInstanceUid": "1.2.4.1", "params": []});
        let r = query(&req, &candidates()).unwrap();
        assert_eq!(r["total"], 2);
        assert!(r["matches"][0].get("0020000D").is_none());
        // The study in the path drops study attributes, not the row's own RetrieveURL.
        assert_eq!(
            r["matches"][0]["00081190"]["Value"][0],
            "/studies/1.2.4/series/1.2.4.1/instances/1.2.4.1.1"
        );
        assert!(r["matches"][0].get("00080056").is_some());
        let req = json!({"level": "series", "studyInstanceUid": "1.2.4", "retrieveBase": "http://h/dw", "params": []});
        let r = query(&req, &candidates()).unwrap();
        assert_eq!(
            r["matches"][0]["00081190"]["Value"][0],
            "http://h/dw/studies/1.2.4/series/1.2.4.1"
        );
    }

    #[test]
    fn paging_and_includes() {
        let r = run("instance", &[("limit", "2"), ("offset", "1")]);
        assert_eq!(r["total"], 6);
        assert_eq!(r["remaining"], 3);
        assert_eq!(uids(&r, "00080018"), ["1.2.3.1.2", "1.2.3.2.1"]);
        let r = run("study", &[("includefield", "StudyDescription,00080021")]);
        assert_eq!(r["matches"][0]["00081030"]["Value"][0], "Head");
        let r = run("study", &[("includefield", "all")]);
        assert!(r["matches"][0].get("00081030").is_some());
    }

    #[test]
    fn errors_and_warnings() {
        let req = |p: &[(&str, &str)]| json!({"level": "study", "params": p.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()});
        assert!(plan(&req(&[("NoSuchThing", "x")])).is_err());
        assert!(plan(&req(&[("StudyDate", "2020")])).is_err());
        assert!(plan(&req(&[("limit", "-1")])).is_err());
        assert!(plan(&req(&[("StudyInstanceUID", "1.2.x")])).is_err());
        let p = plan(&req(&[("PatientWeight", "70")])).unwrap();
        assert!(p["warnings"][0].as_str().unwrap().contains("PatientWeight"));
        let p = plan(&req(&[
            ("StudyDate", "20200101-20200131"),
            ("PatientName", "Doe^J*"),
            ("PatientID", "P1"),
            ("StudyInstanceUID", "1.2.3\\1.2.4"),
            ("ModalitiesInStudy", "CT"),
            ("StudyDescription", "Chest CT*"),
        ]))
        .unwrap();
        assert_eq!(p["studyDescriptionPrefix"], "Chest CT");
        assert_eq!(p["startedFrom"], "2019-12-31");
        assert_eq!(p["startedTo"], "2020-02-01");
        assert_eq!(p["patientNamePrefix"], "Doe");
        assert_eq!(p["patientId"], "P1");
        assert_eq!(p["studyUids"], json!(["1.2.3", "1.2.4"]));
        assert_eq!(p["modalities"], json!(["CT"]));
    }

    #[test]
    fn omitted_instances_are_counted_from_number_of_instances() {
        let req = json!({"level": "study", "params": [["includefield", "all"]],
                         "retrieveBase": "http://h/dw/", "maxResults": 100});
        let full = query(&req, &candidates()).unwrap();
        let mut stripped = candidates();
        for c in stripped.as_array_mut().unwrap() {
            for se in c["imagingStudy"]["series"].as_array_mut().unwrap() {
                let n = se["instance"].as_array().unwrap().len();
                se.as_object_mut().unwrap().remove("instance");
                se["numberOfInstances"] = json!(n);
            }
            c["dicom"] = json!({"instancesOmitted": true});
        }
        let lean = query(&req, &stripped).unwrap();
        assert_eq!(full["matches"], lean["matches"]);
        assert!(full["matches"][0]["00201208"]["Value"][0].as_u64().unwrap() > 0);
    }

    #[test]
    fn stored_values_win_over_fhir_values() {
        let mut c = candidates();
        // the FHIR resources say "Head" and Doe; the stored instances say otherwise
        c[0]["dicom"] = json!({
            "study": {"00081030": {"vr": "LO", "Value": ["Brain"]},
                      "00080090": {"vr": "PN", "Value": [{"Alphabetic": "Ref^Doc"}]},
                      "00200010": {"vr": "SH", "Value": ["S7"]},
                      "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Stored^Name"}]},
                      "00080050": {"vr": "SH"}},
            "series": {"1.2.3.1": {"0008103E": {"vr": "LO", "Value": ["Axial"]},
                                   "00080021": {"vr": "DA", "Value": ["1997.04.24"]},
                                   "00080060": {"vr": "CS", "Value": ["CT"]}}},
            "instances": {"1.2.3.1.1": {"00200013": {"vr": "IS", "Value": [9]}}}});
        let req = |level: &str, p: &[(&str, &str)]| {
            json!({"level": level, "retrieveBase": "http://h/dw",
            "params": p.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()})
        };
        let r = query(
            &req(
                "study",
                &[
                    ("StudyInstanceUID", "1.2.3"),
                    ("includefield", "StudyDescription"),
                ],
            ),
            &c,
        )
        .unwrap();
        let m = &r["matches"][0];
        assert_eq!(m["00081030"]["Value"][0], "Brain");
        assert_eq!(m["00080090"]["Value"][0]["Alphabetic"], "Ref^Doc");
        assert_eq!(m["00200010"]["Value"][0], "S7");
        assert_eq!(m["00100010"]["Value"][0]["Alphabetic"], "Stored^Name");
        // absent in the instance: absent in the answer, whatever FHIR holds
        assert_eq!(m["00080050"], json!({"vr": "SH"}));
        // matching uses the stored values too (ReferringPhysicianName and StudyID are matchable)
        let found = |p: &[(&str, &str)]| {
            query(&req("study", p), &c).unwrap()["total"]
                .as_u64()
                .unwrap()
        };
        assert_eq!(found(&[("StudyDescription", "Brain")]), 1);
        assert_eq!(found(&[("StudyDescription", "Head")]), 1); // 1.2.4 has no stored values
        assert_eq!(found(&[("StudyID", "S7")]), 1);
        assert_eq!(found(&[("ReferringPhysicianName", "ref*")]), 1);
        let series = query(&req("series", &[("StudyInstanceUID", "1.2.3")]), &c).unwrap();
        assert_eq!(series["matches"][0]["0008103E"]["Value"][0], "Axial");
        // an ACR-NEMA date in the file is answered, and matched, as DA
        let dated = query(&req("series", &[("SeriesDate", "19970101-19971231")]), &c).unwrap();
        assert_eq!(dated["total"], 1);
        assert_eq!(dated["matches"][0]["00080021"]["Value"][0], "19970424");
        let inst = query(&req("instance", &[("SOPInstanceUID", "1.2.3.1.1")]), &c).unwrap();
        assert_eq!(inst["matches"][0]["00200013"]["Value"][0], 9);
        // the plan lists what the caller should pass
        let p = plan(&req("study", &[("Modality", "CT")])).unwrap();
        assert_eq!(p["stored"]["series"], true);
        assert_eq!(p["stored"]["instances"], false);
        assert!(p["stored"]["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("00081030")));
        assert!(!p["stored"]["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("00081190")));
    }

    #[test]
    fn wildcard_and_time() {
        let w = |p: &str, t: &str| {
            wildcard(
                &p.chars().collect::<Vec<_>>(),
                &t.chars().collect::<Vec<_>>(),
            )
        };
        assert!(w("a*c", "abbbc"));
        assert!(w("a?c", "abc"));
        assert!(!w("a?c", "abbc"));
        assert!(w("*", ""));
        assert!(w("**b", "ab"));
        assert_eq!(norm_time("10", true).unwrap(), "105959.999999");
        assert_eq!(norm_time("1011", false).unwrap(), "101100.000000");
        assert!(norm_time("1", false).is_none());
        assert_eq!(shift_day("20200301", -1).unwrap(), "2020-02-29");
        assert_eq!(shift_day("20201231", 1).unwrap(), "2021-01-01");
    }
}
