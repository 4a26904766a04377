//! Validation of a read data set: the key UIDs (errors) and other values (warnings).


use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::header::Header;
use dicom_core::value::Value;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{tags, StandardDataDictionary};
use dicom_object::InMemDicomObject;

use crate::parse::err;
use crate::parse::read::MAX_WARNINGS;
use crate::parse::view::primitive_strings;
use crate::DicomError;

/// Values of a primitive element as stored (charset aside), trailing padding removed.
pub(super) fn raw_strings(obj: &InMemDicomObject, tag: Tag) -> Vec<String> {
    match obj.get(tag).map(|e| e.value()) {
        Some(Value::Primitive(p)) => primitive_strings(p).unwrap_or_default(),
        _ => Vec::new(),
    }
}

pub(super) fn trim_padding(s: &str) -> &str {
    s.trim_end_matches([' ', '\0'])
}

pub(super) fn key_uid(obj: &InMemDicomObject, tag: Tag, name: &str) -> Result<String, DicomError> {
    let values: Vec<String> = raw_strings(obj, tag)
        .iter()
        .map(|s| trim_padding(s).trim_start().to_string())
        .collect();
    match values.as_slice() {
        [] => Err(err(format!("missing {name}"))),
        [v] if v.is_empty() => Err(err(format!("missing {name} (the value is empty)"))),
        [v] => match uid_problem(v) {
            None => Ok(v.clone()),
            Some(reason) => Err(err(format!("malformed {name} '{v}': {reason}"))),
        },
        _ => Err(err(format!(
            "malformed {name}: {} values where one is required",
            values.len()
        ))),
    }
}

/// Why a UID is not well-formed per PS3.5 §9.1, or `None`.
pub(super) fn uid_problem(uid: &str) -> Option<String> {
    if uid.is_empty() {
        return Some("empty".into());
    }
    if uid.len() > 64 {
        return Some(format!("{} characters, more than 64", uid.len()));
    }
    if let Some(c) = uid.chars().find(|c| !c.is_ascii_digit() && *c != '.') {
        return Some(format!(
            "contains '{}', only digits and dots are allowed",
            c.escape_default()
        ));
    }
    for comp in uid.split('.') {
        if comp.is_empty() {
            return Some("has an empty component".into());
        }
        if comp.len() > 1 && comp.starts_with('0') {
            return Some(format!("component '{comp}' has a leading zero"));
        }
    }
    None
}

pub(super) fn keyword(tag: Tag) -> String {
    match StandardDataDictionary.by_tag(tag) {
        Some(e) => format!("{} {tag}", e.alias()),
        None => format!("{tag}"),
    }
}

/// Non-fatal checks of every value: UIs, dates, numbers.
pub(super) fn check_values(obj: &InMemDicomObject, depth: usize, warnings: &mut Vec<String>) {
    let key_tags = [
        tags::STUDY_INSTANCE_UID,
        tags::SERIES_INSTANCE_UID,
        tags::SOP_INSTANCE_UID,
        tags::SOP_CLASS_UID,
    ];
    for elem in obj.iter() {
        if warnings.len() >= MAX_WARNINGS {
            return;
        }
        let tag = elem.tag();
        match elem.value() {
            Value::Sequence(seq) => {
                for item in seq.items() {
                    check_values(item, depth + 1, warnings);
                }
            }
            Value::Primitive(p) => {
                let vr = elem.vr();
                if !matches!(vr, VR::UI | VR::DA | VR::DS | VR::IS)
                    || (depth == 0 && key_tags.contains(&tag))
                {
                    continue;
                }
                for v in primitive_strings(p).unwrap_or_default() {
                    let v = trim_padding(&v).trim_start();
                    if v.is_empty() {
                        continue;
                    }
                    let problem = match vr {
                        VR::UI => uid_problem(v).map(|r| format!("UID '{v}' {r}")),
                        VR::DA => (!valid_date(v)).then(|| format!("invalid date '{v}'")),
                        VR::DS => crate::number::ds_number(v)
                            .is_none()
                            .then(|| format!("DS value '{v}' is not a decimal number")),
                        _ => crate::number::is_number(v)
                            .is_none()
                            .then(|| format!("IS value '{v}' is not an integer")),
                    };
                    if let Some(p) = problem {
                        warnings.push(format!("{}: {p}", keyword(tag)));
                    }
                }
            }
            Value::PixelSequence(_) => {}
        }
    }
}

/// YYYYMMDD with a real calendar date (DA, PS3.5 Table 6.2-1).
pub(super) fn valid_date(s: &str) -> bool {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let y: u32 = s[0..4].parse().unwrap_or(0);
    let m: u32 = s[4..6].parse().unwrap_or(0);
    let d: u32 = s[6..8].parse().unwrap_or(0);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}
