//! The QIDO attribute index (docs/architecture.md, "The instance-level attribute index"): which
//! tags are indexed, the values an instance gives for them (at ingest, from its one parse) and the
//! database conditions a query key becomes. Both sides use one normalisation, chosen so that the
//! index only ever widens: every value the DICOM matching (`matching.rs`) accepts satisfies the
//! condition, so narrowing by the index and then matching gives exactly the answer without it.
//!
//! Normal form of a value (`norm`): trimmed as `matching::fold` trims, lower case (one character
//! at a time, final sigma folded), cut to [`MAX_VALUE_CHARS`] characters. Integers (IS, US, ...)
//! and decimals (DS, FL, FD) are stored as the number they parse to (`70.0` → `70`); DA as it
//! is (trimmed). PN: the alphabetic group, as the matching compares.

use serde_json::{json, Value};

use crate::attributes::{attr_by_keyword, attr_by_tag, tag_key, Attr};
use crate::parse::ParsedInstance;
use crate::qido::matching::values_of;
use crate::qido::query::{Filter, Matcher};
use crate::DicomError;

/// The tags indexed without configuration: the attributes a "find the studies from that scanner,
/// that site, that protocol" query names (issue 17), none of which the ImagingStudy index narrows by.
pub const DEFAULT_INDEXED: &[&str] = &[
    "Manufacturer",
    "ManufacturerModelName",
    "InstitutionName",
    "StationName",
    "BodyPartExamined",
    "ProtocolName",
    "PatientAge",
    "PatientWeight",
    "PatientSize",
    "SliceThickness",
    "SliceLocation",
    "ImageType",
    "KVP",
    "ContrastBolusAgent",
    "AcquisitionDate",
    "ContentDate",
    "FrameOfReferenceUID",
    "Laterality",
    "ViewPosition",
    "OperatorsName",
    "PerformingPhysicianName",
];

/// Longest value kept (characters). Longer values are cut, and so are query values: a superset.
pub const MAX_VALUE_CHARS: usize = 64;
/// Most values one instance gives for one tag (a multi-valued ImageType has 3-5).
const MAX_VALUES_PER_TAG: usize = 16;

/// The indexed tags (defaults plus `extra`, keywords or 8 hex digits), sorted, and the id of that
/// set (16 hex digits of its SHA-256): a ledger row records the id it was indexed with.
/// An entry that names no standard attribute, or one that cannot be matched by value (sequences,
/// binary VRs), is refused: the operator's configuration is wrong.
pub fn indexed_tags(extra: &[String]) -> Result<(String, Vec<u32>), DicomError> {
    let mut tags: Vec<u32> = Vec::new();
    for name in DEFAULT_INDEXED.iter().copied().chain(extra.iter().map(String::as_str)) {
        let attr = resolve(name.trim())?;
        if !tags.contains(&attr.tag) {
            tags.push(attr.tag);
        }
    }
    tags.sort_unstable();
    let joined: Vec<String> = tags.iter().map(|t| tag_key(*t)).collect();
    let id = crate::sha256_hex(joined.join(",").as_bytes())[..16].to_owned();
    Ok((id, tags))
}

fn resolve(name: &str) -> Result<&'static Attr, DicomError> {
    let bad = |why: &str| DicomError::invalid_input(format!("dicomfhir.qido-indexed-tags: \"{name}\" {why}"));
    let attr = if name.len() == 8 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        u32::from_str_radix(name, 16).ok().and_then(attr_by_tag)
    } else {
        attr_by_keyword(name)
    }
    .ok_or_else(|| bad("is not the keyword or tag of a standard attribute"))?;
    if kind_of(attr.vr).is_none() {
        return Err(bad(&format!("has VR {}, which QIDO does not match by value", attr.vr)));
    }
    Ok(attr)
}

/// How values of a VR are normalised: as the matcher of `query::matcher` compares them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Text,
    Date,
    Integer,
    Decimal,
}

fn kind_of(vr: &str) -> Option<Kind> {
    match vr {
        "SQ" | "OB" | "OW" | "OF" | "OD" | "OL" | "OV" | "UN" | "AT" | "TM" | "DT" => None,
        "DA" => Some(Kind::Date),
        "IS" | "US" | "SS" | "UL" | "SL" | "UV" | "SV" => Some(Kind::Integer),
        "DS" | "FL" | "FD" => Some(Kind::Decimal),
        _ => Some(Kind::Text),
    }
}

/// The normal form of one value, or None when it can never match (an integer that does not parse).
fn norm(kind: Kind, value: &str) -> Option<String> {
    let v = value.trim_end_matches([' ', '\0']).trim_start();
    let out = match kind {
        Kind::Date => v.to_owned(),
        Kind::Integer => v.parse::<i64>().ok()?.to_string(),
        // `+ 0.0` makes -0 the same as 0; Display round-trips, so equal numbers give equal text.
        Kind::Decimal => v.trim().parse::<f64>().ok().filter(|x| x.is_finite()).map(|x| (x + 0.0).to_string())?,
        Kind::Text => lower(v),
    };
    Some(cut(out))
}

/// Lower case one character at a time (`str::to_lowercase` depends on context for Σ, which a
/// prefix does not have), with ς folded to σ, so `lower(a + b) == lower(a) + lower(b)` and two
/// strings `matching::fold` makes equal stay equal.
fn lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).map(|c| if c == 'ς' { 'σ' } else { c }).collect()
}

fn cut(s: String) -> String {
    match s.char_indices().nth(MAX_VALUE_CHARS) {
        Some((i, _)) => s[..i].to_owned(),
        None => s,
    }
}

/// `{"set": id, "values": [[tag, normalised value], ...]}` of one instance, for its ledger row.
pub fn instance_index(parsed: &ParsedInstance, set: &str, tags: &[u32]) -> Value {
    let dicom_tags: Vec<dicom_core::Tag> = tags.iter().map(|t| dicom_core::Tag((t >> 16) as u16, (t & 0xFFFF) as u16)).collect();
    let json = crate::json::selected_json(&parsed.root(), &dicom_tags);
    let mut values: Vec<Value> = Vec::new();
    for tag in tags {
        let Some(attr) = attr_by_tag(*tag) else { continue };
        let Some(kind) = kind_of(attr.vr) else { continue };
        let key = tag_key(*tag);
        let mut seen: Vec<String> = Vec::new();
        for v in values_of(json.get(&key)) {
            match norm(kind, &v) {
                Some(n) if !n.is_empty() && !seen.contains(&n) && seen.len() < MAX_VALUES_PER_TAG => seen.push(n),
                _ => {}
            }
        }
        values.extend(seen.into_iter().map(|n| json!([key, n])));
    }
    json!({"set": set, "values": values})
}

/// The database condition of one query key, when the index can narrow it:
/// `{"tag", "keyword", "eq": [..]}` (any of these values), `{"tag", "keyword", "prefix": ".."}`
/// (values starting so) or `{"tag", "keyword", "from": .., "to": ..}` (DA, either may be absent).
/// None for keys that match everything or that the index cannot narrow (fuzzy names, a pattern
/// starting with a wildcard, times). The caller uses it only if the tag is indexed.
pub(super) fn condition(filter: &Filter) -> Option<Value> {
    let kind = kind_of(filter.attr.vr)?;
    let tag = tag_key(filter.attr.tag);
    let keyword = filter.attr.keyword;
    // An empty value matches values the index does not keep (empty, or spaces): no narrowing.
    let eq = |vals: Vec<String>| -> Option<Value> {
        if vals.is_empty() || vals.iter().any(String::is_empty) {
            return None;
        }
        Some(json!({"tag": tag, "keyword": keyword, "eq": vals}))
    };
    match &filter.matcher {
        Matcher::Universal => None,
        Matcher::Uids(u) => eq(u.iter().filter_map(|v| norm(kind, v)).collect()),
        Matcher::Numbers(n) if kind == Kind::Integer => eq(n.iter().map(i64::to_string).collect()),
        Matcher::Decimals(n) if kind == Kind::Decimal => eq(n.iter().filter_map(|x| norm(kind, &x.to_string())).collect()),
        Matcher::Range(lo, hi) if kind == Kind::Date => {
            Some(json!({"tag": tag, "keyword": keyword, "from": lo, "to": hi}))
        }
        Matcher::Patterns { values, fuzzy: false, .. } if kind == Kind::Text => {
            if values.len() == 1 && values[0].contains(['*', '?']) {
                // The literal start of the pattern (folded as the value is).
                let p = values[0].trim_start();
                let literal = &p[..p.find(['*', '?']).unwrap_or(p.len())];
                let prefix = cut(lower(literal));
                return (!prefix.is_empty()).then(|| json!({"tag": tag, "keyword": keyword, "prefix": prefix}));
            }
            if values.iter().any(|v| v.contains(['*', '?'])) {
                return None;
            }
            eq(values.iter().filter_map(|v| norm(kind, v)).collect())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qido::matching::{fold, wildcard};

    fn text_matches(pattern: &str, value: &str) -> bool {
        wildcard(&fold(pattern, false), &fold(value, false))
    }

    #[test]
    fn defaults_resolve_and_the_set_id_is_stable() {
        let (id, tags) = indexed_tags(&[]).unwrap();
        assert_eq!(tags.len(), DEFAULT_INDEXED.len());
        assert_eq!(id.len(), 16);
        assert!(tags.contains(&0x0008_1010)); // StationName
        let (same, _) = indexed_tags(&["StationName".into(), "00081010".into()]).unwrap();
        assert_eq!(id, same, "a tag already in the set does not change it");
        let (other, more) = indexed_tags(&["AcquisitionNumber".into()]).unwrap();
        assert_ne!(id, other);
        assert!(more.contains(&0x0020_0012));
    }

    #[test]
    fn configuration_naming_no_matchable_attribute_is_refused() {
        for bad in ["NoSuchKeyword", "00091010", "PixelData", "ReferencedImageSequence", "AcquisitionTime", "7FE00010", ""] {
            assert!(indexed_tags(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn normal_forms() {
        assert_eq!(norm(Kind::Text, "  GE MEDICAL SYSTEMS \0").as_deref(), Some("ge medical systems"));
        assert_eq!(norm(Kind::Decimal, "70.0").as_deref(), Some("70"));
        assert_eq!(norm(Kind::Decimal, "-0").as_deref(), Some("0"));
        assert_eq!(norm(Kind::Decimal, "abc"), None);
        assert_eq!(norm(Kind::Integer, " 007 ").as_deref(), Some("7"));
        assert_eq!(norm(Kind::Date, "20200101 ").as_deref(), Some("20200101"));
        let long = "É".repeat(200);
        assert_eq!(norm(Kind::Text, &long).unwrap().chars().count(), MAX_VALUE_CHARS);
        assert_eq!(lower("ΟΔΟΣ"), lower("οδος"));
        assert_eq!(lower("ΟΔΟΣ"), lower("οδοσ"));
    }

    fn filter(keyword: &str, value: &str) -> Filter {
        let attr = attr_by_keyword(keyword).unwrap();
        Filter { attr, matcher: crate::qido::query::matcher(attr, value, false).unwrap() }
    }

    #[test]
    fn query_keys_become_conditions() {
        assert_eq!(condition(&filter("StationName", "CT01")).unwrap()["eq"], json!(["ct01"]));
        assert_eq!(condition(&filter("Manufacturer", "GE*")).unwrap()["prefix"], json!("ge"));
        assert_eq!(condition(&filter("ImageType", "ORIGINAL\\DERIVED")).unwrap()["eq"], json!(["original", "derived"]));
        assert_eq!(condition(&filter("PatientWeight", "70.0")).unwrap()["eq"], json!(["70"]));
        let range = condition(&filter("AcquisitionDate", "20200101-")).unwrap();
        assert_eq!((range["from"].as_str(), range["to"].as_str()), (Some("20200101"), None));
        // Nothing to narrow by: universal, leading wildcard, a wildcard among several values, fuzzy names.
        assert!(condition(&filter("StationName", "*")).is_none());
        assert!(condition(&filter("StationName", "*CT")).is_none());
        assert!(condition(&filter("StationName", "?CT")).is_none());
        assert!(condition(&filter("StationName", "A\\B*")).is_none());
        assert!(condition(&filter("StationName", "\\")).is_none());
        assert!(condition(&filter("StationName", "A\\ ")).is_none());
        let attr = attr_by_keyword("OperatorsName").unwrap();
        let fuzzy = Filter { attr, matcher: crate::qido::query::matcher(attr, "doe", true).unwrap() };
        assert!(condition(&fuzzy).is_none());
    }

    /// Hostile values pass through as data: SQL wildcards and the escape character are literal
    /// characters of the condition (the caller binds them and escapes LIKE), never patterns.
    #[test]
    fn sql_wildcards_in_keys_stay_literal_values() {
        assert_eq!(condition(&filter("StationName", "50%_off\\x")).unwrap()["eq"], json!(["50%_off", "x"]));
        assert_eq!(condition(&filter("StationName", "a%b_!*")).unwrap()["prefix"], json!("a%b_!"));
        assert_eq!(condition(&filter("StationName", "'; DROP TABLE X; --")).unwrap()["eq"], json!(["'; drop table x; --"]));
    }

    /// The property the index rests on: whenever the matching accepts a value, the value's normal
    /// form satisfies the condition of the key (equality, prefix or range).
    #[test]
    fn every_match_satisfies_its_condition() {
        let long = "x".repeat(100);
        let values = ["GE MEDICAL", "ge medical ", " Ge", "ΟΔΟΣ", "οδος", "İstanbul", "50%_off", "", &long, "ÉCOLE"];
        let patterns = ["GE MEDICAL", "GE*", "ge*", "G?*", "ΟΔΟΣ", "ΟΔΟ*", "İst*", "50%*", "x*", &long, "ÉCOLE", "É*"];
        for p in patterns {
            let f = filter("StationName", p);
            let Some(c) = condition(&f) else { continue };
            for v in values {
                let ci_or_not = [text_matches(p, v), wildcard(&fold(p, true), &fold(v, true))];
                if !ci_or_not.contains(&true) {
                    continue;
                }
                let n = norm(Kind::Text, v).unwrap();
                let ok = match (c.get("eq"), c.get("prefix")) {
                    (Some(eq), _) => eq.as_array().unwrap().iter().any(|e| e.as_str() == Some(n.as_str())),
                    (_, Some(prefix)) => n.starts_with(prefix.as_str().unwrap()),
                    _ => unreachable!(),
                };
                assert!(ok, "pattern {p:?} matches {v:?} but the index condition {c} misses {n:?}");
            }
        }
    }
}
