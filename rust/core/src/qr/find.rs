//! C-FIND: the QIDO-RS query that answers an identifier (which keys become QIDO parameters and
//! which are only returned), the response identifier built from each QIDO match (DICOM JSON),
//! and the C-FIND-RSP.

use dicom_core::header::{HasLength, Header};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::text::SpecificCharacterSet;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use serde_json::Value;

use super::identifier::{
    query_level, read_identifier, refuse, single_uid, text_value, FindRefusal,
};
use super::model::{
    find_status, level_of, Level, CONTROL_KEYS, C_FIND_RSP, PATIENT_ROOT_FIND, STUDY_ROOT_FIND,
};
use crate::dimse::{self, Command};

/// Most keys a QIDO `includefield` list names; with more, `includefield=all`.
const MAX_INCLUDEFIELD: usize = 100;
/// Most matching keys (keys with a value) in one identifier: each becomes a URL parameter.
pub const MAX_MATCHING_KEYS: usize = 64;

/// A checked C-FIND: the QIDO-RS request that answers it and what is needed to build each
/// response identifier.
#[derive(Debug, Clone)]
pub struct FindPlan {
    pub level: Level,
    /// Path under the FHIR base: `dicomweb/studies`, `…/studies/{s}/series`,
    /// `…/studies/{s}/series/{se}/instances`.
    pub path: String,
    /// QIDO parameters (matching keys by tag, `includefield`), without `limit`/`offset`.
    pub params: Vec<(String, String)>,
    /// Some keys with a value were not used for matching (they are returned empty): the
    /// pending status is 0xFF01 rather than 0xFF00.
    pub keys_not_matched: bool,
    /// The identifier's keys (tag, VR), in order, returned in each match.
    keys: Vec<(Tag, VR)>,
    /// The unique keys of the levels above (in the path), echoed in every match.
    above: Vec<(Tag, String)>,
    transfer_syntax: String,
}

/// Checks the identifier of a C-FIND-RQ of `sop_class` received in `transfer_syntax` and plans
/// the QIDO-RS query that answers it.
pub fn plan_find(
    sop_class: &str,
    transfer_syntax: &str,
    identifier: &[u8],
) -> Result<FindPlan, FindRefusal> {
    let patient_root = match sop_class {
        PATIENT_ROOT_FIND => true,
        STUDY_ROOT_FIND => false,
        other => {
            return Err(refuse(
                dimse::status::SOP_CLASS_NOT_SUPPORTED,
                format!("C-FIND of SOP class {other} not supported"),
            ))
        }
    };
    let obj = read_identifier(transfer_syntax, identifier)?;
    let value = |tag: Tag| obj.element(tag).map(text_value).unwrap_or_default();
    let level = query_level(&obj)?;
    if level == Level::Patient && !patient_root {
        return Err(refuse(
            find_status::IDENTIFIER_DOES_NOT_MATCH,
            "PATIENT level is not in the Study Root model",
        ));
    }
    // Hierarchical search (PS3.4 C.4.1.2.2.1): the unique key of every level above the query
    // level, with a single value.
    let mut required: Vec<(Tag, &str)> = Vec::new();
    if patient_root && level > Level::Patient {
        required.push((tags::PATIENT_ID, "PatientID"));
    }
    if level > Level::Study {
        required.push((tags::STUDY_INSTANCE_UID, "StudyInstanceUID"));
    }
    if level > Level::Series {
        required.push((tags::SERIES_INSTANCE_UID, "SeriesInstanceUID"));
    }
    for (tag, name) in &required {
        let v = value(*tag);
        let ok = if *tag == tags::PATIENT_ID {
            !v.is_empty() && !v.contains(['\\', '*', '?'])
        } else {
            single_uid(&v)
        };
        if !ok {
            return Err(refuse(
                find_status::IDENTIFIER_DOES_NOT_MATCH,
                format!("{} level needs one {name} value", level.name()),
            ));
        }
    }
    let path = match level {
        Level::Patient | Level::Study => "dicomweb/studies".to_string(),
        Level::Series => format!(
            "dicomweb/studies/{}/series",
            value(tags::STUDY_INSTANCE_UID)
        ),
        Level::Image => format!(
            "dicomweb/studies/{}/series/{}/instances",
            value(tags::STUDY_INSTANCE_UID),
            value(tags::SERIES_INSTANCE_UID)
        ),
    };

    let mut params: Vec<(String, String)> = Vec::new();
    let mut include: Vec<String> = Vec::new();
    let mut keys: Vec<(Tag, VR)> = Vec::new();
    let mut keys_not_matched = false;
    let dict = dicom_dictionary_std::StandardDataDictionary;
    for element in obj.iter() {
        let tag = element.tag();
        keys.push((tag, element.vr()));
        if CONTROL_KEYS.contains(&tag) || tag.group() & 1 == 1 || tag.group() <= 0x0002 {
            continue;
        }
        // the unique keys above are the path, except PatientID at STUDY level (Patient Root):
        // QIDO's /studies has no patient in its path, so it is a matching key there
        let in_path = required.iter().any(|(t, _)| *t == tag)
            && !(tag == tags::PATIENT_ID && level == Level::Study);
        let known = dicom_core::dictionary::DataDictionary::by_tag(&dict, tag).is_some();
        let v = if element.vr() == VR::SQ {
            String::new()
        } else {
            text_value(element)
        };
        let universal = v.is_empty() || v == "*";
        let attribute_level = level_of(tag);
        // Keys of the levels above are only the unique keys (already in the path); keys of
        // the levels below a PATIENT query are not patient attributes.
        let matchable = known
            && !in_path
            && element.vr() != VR::SQ
            && if level == Level::Patient {
                attribute_level == Level::Patient
            } else {
                attribute_level >= level
                    || (level == Level::Study && attribute_level == Level::Patient)
            };
        if !universal {
            if matchable {
                params.push((format!("{:04X}{:04X}", tag.group(), tag.element()), v));
            } else if !in_path {
                keys_not_matched = true;
            }
        }
        if known && !in_path {
            include.push(format!("{:04X}{:04X}", tag.group(), tag.element()));
        }
    }
    if params.len() > MAX_MATCHING_KEYS {
        return Err(refuse(
            find_status::UNABLE_TO_PROCESS,
            format!(
                "{} matching keys; at most {MAX_MATCHING_KEYS}",
                params.len()
            ),
        ));
    }
    if include.len() > MAX_INCLUDEFIELD {
        params.push(("includefield".into(), "all".into()));
    } else if !include.is_empty() {
        params.push(("includefield".into(), include.join(",")));
    }
    Ok(FindPlan {
        level,
        path,
        params,
        keys_not_matched,
        keys,
        above: required.iter().map(|(t, _)| (*t, value(*t))).collect(),
        transfer_syntax: transfer_syntax.to_string(),
    })
}

/// One attribute of a DICOM JSON object as a data element, if it holds one dicom-rs can read.
fn json_element(json: &Value, tag: Tag) -> Option<DataElement<InMemDicomObject>> {
    let key = format!("{:04X}{:04X}", tag.group(), tag.element());
    let attribute = json.get(&key)?;
    let single = serde_json::json!({ key: attribute });
    let obj: InMemDicomObject = dicom_json::from_value(single).ok()?;
    obj.element(tag).ok().cloned()
}

impl FindPlan {
    /// The identifier of a pending C-FIND-RSP for one QIDO match (a DICOM JSON object): every
    /// key of the request, with the match's value or zero-length when the server has none
    /// (PS3.4 C.2.2.1), QueryRetrieveLevel, RetrieveAETitle, Specific Character Set ISO_IR 192
    /// (the JSON is UTF-8); encoded in the transfer syntax of the request.
    pub fn response_identifier(&self, json: &Value, retrieve_ae_title: &str) -> Vec<u8> {
        let mut out = InMemDicomObject::new_empty();
        for (tag, vr) in &self.keys {
            let above = self.above.iter().find(|(t, _)| t == tag);
            let element = json_element(json, *tag)
                .filter(|e| above.is_none() || !e.is_empty())
                .or_else(|| {
                    above
                        .map(|(_, v)| DataElement::new(*tag, *vr, PrimitiveValue::from(v.as_str())))
                })
                .unwrap_or_else(|| DataElement::new(*tag, *vr, PrimitiveValue::Empty));
            out.put(element);
        }
        out.put(DataElement::new(
            tags::SPECIFIC_CHARACTER_SET,
            VR::CS,
            PrimitiveValue::from("ISO_IR 192"),
        ));
        out.put(DataElement::new(
            tags::QUERY_RETRIEVE_LEVEL,
            VR::CS,
            PrimitiveValue::from(self.level.name()),
        ));
        if self.keys.iter().any(|(t, _)| *t == tags::RETRIEVE_AE_TITLE) {
            out.put(DataElement::new(
                tags::RETRIEVE_AE_TITLE,
                VR::AE,
                PrimitiveValue::from(retrieve_ae_title),
            ));
        }
        let ts = TransferSyntaxRegistry
            .get(&self.transfer_syntax)
            .expect("checked in plan_find");
        let mut bytes = Vec::new();
        if out
            .write_dataset_with_ts_cs(&mut bytes, ts, SpecificCharacterSet::ISO_IR_192)
            .is_err()
        {
            // a value from the server that cannot be encoded: the keys, empty
            let mut empty = InMemDicomObject::new_empty();
            for (tag, vr) in &self.keys {
                empty.put(DataElement::new(*tag, *vr, PrimitiveValue::Empty));
            }
            bytes.clear();
            empty
                .write_dataset_with_ts(&mut bytes, ts)
                .expect("empty elements always encode");
        }
        bytes
    }

    /// The pending status of each match.
    pub fn pending_status(&self) -> u16 {
        if self.keys_not_matched {
            find_status::PENDING_KEYS_NOT_SUPPORTED
        } else {
            find_status::PENDING
        }
    }
}

/// Who a study belongs to, for the PATIENT level (QIDO has none: the distinct patients of the
/// matching studies): PatientID and IssuerOfPatientID.
pub fn patient_identity(study: &Value) -> String {
    let first = |key: &str| {
        study[key]["Value"][0]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    format!("{}\\{}", first("00100020"), first("00100021"))
}

/// A C-FIND-RSP: pending (a data set follows), or final with, on failure, the Error Comment.
pub fn find_response(rq: &Command, status: u16, comment: Option<&str>) -> Vec<u8> {
    let pending = matches!(
        status,
        find_status::PENDING | find_status::PENDING_KEYS_NOT_SUPPORTED
    );
    dimse::response_command(
        rq,
        C_FIND_RSP,
        status,
        pending,
        comment.filter(|_| !pending && status != find_status::SUCCESS),
    )
}

#[cfg(test)]
mod tests {
    use crate::qr::test_support::{cs, identifier, ELE};
    use super::*;
    use crate::qr::model::{PATIENT_ROOT_FIND, STUDY_ROOT_FIND};
    use dicom_core::dicom_value;

    #[test]
    fn study_level_keys_become_qido_parameters() {
        let id = identifier(vec![
            cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "STUDY"),
            cs(tags::PATIENT_NAME, VR::PN, "DOE^*"),
            cs(tags::STUDY_DATE, VR::DA, "20200101-"),
            DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, PrimitiveValue::Empty),
            DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::Empty),
        ]);
        let plan = plan_find(STUDY_ROOT_FIND, ELE, &id).unwrap();
        assert_eq!(plan.path, "dicomweb/studies");
        assert!(plan.params.contains(&("00100010".into(), "DOE^*".into())));
        assert!(plan
            .params
            .contains(&("00080020".into(), "20200101-".into())));
        assert_eq!(plan.pending_status(), find_status::PENDING);
        let include = &plan
            .params
            .iter()
            .find(|p| p.0 == "includefield")
            .unwrap()
            .1;
        assert!(include.contains("0020000D") && include.contains("00100020"));
    }

    #[test]
    fn hierarchical_levels_need_the_unique_keys_above() {
        let series = identifier(vec![cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "SERIES")]);
        let e = plan_find(STUDY_ROOT_FIND, ELE, &series).unwrap_err();
        assert_eq!(e.status, find_status::IDENTIFIER_DOES_NOT_MATCH);
        assert!(e.comment.contains("StudyInstanceUID"), "{}", e.comment);
        let listed = identifier(vec![
            cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "SERIES"),
            cs(tags::STUDY_INSTANCE_UID, VR::UI, "1.2\\1.3"),
        ]);
        assert!(plan_find(STUDY_ROOT_FIND, ELE, &listed).is_err());
        let injected = identifier(vec![
            cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "SERIES"),
            cs(tags::STUDY_INSTANCE_UID, VR::UI, "1.2/../../Patient"),
        ]);
        assert!(plan_find(STUDY_ROOT_FIND, ELE, &injected).is_err());
        let ok = identifier(vec![
            cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "IMAGE"),
            cs(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3"),
            cs(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.4"),
            cs(tags::PATIENT_NAME, VR::PN, "X"),
        ]);
        let plan = plan_find(STUDY_ROOT_FIND, ELE, &ok).unwrap();
        assert_eq!(plan.path, "dicomweb/studies/1.2.3/series/1.2.3.4/instances");
        // a patient key at IMAGE level is not matched: returned empty, status 0xFF01
        assert!(!plan.params.iter().any(|p| p.0 == "00100010"));
        assert_eq!(
            plan.pending_status(),
            find_status::PENDING_KEYS_NOT_SUPPORTED
        );
        // Patient Root: STUDY level needs PatientID
        let study = identifier(vec![cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "STUDY")]);
        assert!(plan_find(PATIENT_ROOT_FIND, ELE, &study).is_err());
        let of_patient = identifier(vec![
            cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "STUDY"),
            cs(tags::PATIENT_ID, VR::LO, "P1"),
        ]);
        let plan = plan_find(PATIENT_ROOT_FIND, ELE, &of_patient).unwrap();
        assert!(plan.params.contains(&("00100020".into(), "P1".into())));
        assert!(plan_find(STUDY_ROOT_FIND, ELE, &study).is_ok());
    }

    #[test]
    fn level_checks() {
        let patient = identifier(vec![cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "PATIENT")]);
        assert_eq!(
            plan_find(STUDY_ROOT_FIND, ELE, &patient)
                .unwrap_err()
                .status,
            find_status::IDENTIFIER_DOES_NOT_MATCH
        );
        assert_eq!(
            plan_find(PATIENT_ROOT_FIND, ELE, &patient).unwrap().level,
            Level::Patient
        );
        let none = identifier(vec![cs(tags::PATIENT_ID, VR::LO, "1")]);
        assert!(plan_find(STUDY_ROOT_FIND, ELE, &none).is_err());
        let bogus = identifier(vec![cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "FRAME")]);
        assert!(plan_find(STUDY_ROOT_FIND, ELE, &bogus).is_err());
        assert!(plan_find(STUDY_ROOT_FIND, ELE, b"\xff\xff\xff").is_err());
    }

    #[test]
    fn response_has_every_key_values_or_empty() {
        let id = identifier(vec![
            cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "STUDY"),
            DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::Empty),
            DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, PrimitiveValue::Empty),
            DataElement::new(Tag(0x0018, 0x0050), VR::DS, PrimitiveValue::Empty),
            DataElement::new(
                tags::NUMBER_OF_STUDY_RELATED_INSTANCES,
                VR::IS,
                dicom_value!(Strs, [""]),
            ),
        ]);
        let plan = plan_find(STUDY_ROOT_FIND, ELE, &id).unwrap();
        let json = serde_json::json!({
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller^Jürgen"}]},
            "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
            "00201208": {"vr": "IS", "Value": [4]},
        });
        let bytes = plan.response_identifier(&json, "DICOMFHIR");
        let ts = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
        let back = InMemDicomObject::read_dataset_with_ts(&bytes[..], &ts).unwrap();
        assert_eq!(
            back.element(tags::PATIENT_NAME).unwrap().to_str().unwrap(),
            "Müller^Jürgen"
        );
        assert_eq!(
            back.element(tags::STUDY_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap(),
            "1.2.3"
        );
        assert_eq!(
            back.element(tags::NUMBER_OF_STUDY_RELATED_INSTANCES)
                .unwrap()
                .to_int::<u32>()
                .unwrap(),
            4
        );
        assert!(back.element(Tag(0x0018, 0x0050)).unwrap().is_empty());
        assert_eq!(
            back.element(tags::QUERY_RETRIEVE_LEVEL)
                .unwrap()
                .to_str()
                .unwrap(),
            "STUDY"
        );
    }
}
