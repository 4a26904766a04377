//! Query/Retrieve (PS3.4 Annex C) rules of `dicom-fhir listen`'s C-FIND SCP, answered from the
//! server's QIDO-RS: which Information Models and levels are served, the checks of an
//! identifier (level, unique keys of the levels above in a hierarchical query), which keys
//! become QIDO parameters and which are only returned, the C-FIND response identifier built
//! from a QIDO match (DICOM JSON), and the C-FIND statuses. The network and the HTTP requests
//! are the CLI's and the client library's.

use dicom_core::header::{HasLength, Header};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::text::SpecificCharacterSet;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use serde_json::Value;

use crate::dimse::{self, Command};

/// Patient Root Query/Retrieve Information Model - FIND.
pub const PATIENT_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.1.1";
/// Study Root Query/Retrieve Information Model - FIND.
pub const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
/// The Query/Retrieve FIND SOP classes the listener accepts.
pub const FIND_SOP_CLASSES: &[&str] = &[PATIENT_ROOT_FIND, STUDY_ROOT_FIND];

pub const C_FIND_RQ: u16 = 0x0020;
pub const C_FIND_RSP: u16 = 0x8020;
pub const C_CANCEL_RQ: u16 = 0x0FFF;

/// Most keys a QIDO `includefield` list names; with more, `includefield=all`.
const MAX_INCLUDEFIELD: usize = 100;
/// Most matching keys (keys with a value) in one identifier: each becomes a URL parameter.
pub const MAX_MATCHING_KEYS: usize = 64;

/// C-FIND statuses (PS3.4 C.4.1.1.4).
pub mod find_status {
    pub const SUCCESS: u16 = 0x0000;
    /// A match follows.
    pub const PENDING: u16 = 0xFF00;
    /// A match follows; some keys with a value were not used for matching.
    pub const PENDING_KEYS_NOT_SUPPORTED: u16 = 0xFF01;
    /// Matching ended by a C-CANCEL.
    pub const CANCELLED: u16 = 0xFE00;
    /// Refused: out of resources (also: more matches than the listener gives).
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Error: identifier does not match SOP class (wrong level, missing unique keys).
    pub const IDENTIFIER_DOES_NOT_MATCH: u16 = 0xA900;
    /// Failed: unable to process (unreadable identifier, the server refused the query).
    pub const UNABLE_TO_PROCESS: u16 = 0xC000;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Patient,
    Study,
    Series,
    Image,
}

impl Level {
    fn parse(s: &str) -> Option<Level> {
        match s {
            "PATIENT" => Some(Level::Patient),
            "STUDY" => Some(Level::Study),
            "SERIES" => Some(Level::Series),
            "IMAGE" => Some(Level::Image),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Level::Patient => "PATIENT",
            Level::Study => "STUDY",
            Level::Series => "SERIES",
            Level::Image => "IMAGE",
        }
    }
}

/// Attributes of the Patient level (PS3.4 C.6.1.1.2), kept in the study at the Study Root.
const PATIENT_KEYS: &[Tag] = &[
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::ISSUER_OF_PATIENT_ID,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_BIRTH_TIME,
    tags::PATIENT_SEX,
    tags::OTHER_PATIENT_I_DS_SEQUENCE,
    tags::OTHER_PATIENT_NAMES,
    tags::PATIENT_COMMENTS,
    tags::NUMBER_OF_PATIENT_RELATED_STUDIES,
    tags::NUMBER_OF_PATIENT_RELATED_SERIES,
    tags::NUMBER_OF_PATIENT_RELATED_INSTANCES,
];

/// Attributes of the Study level (PS3.4 C.6.1.1.3 / C.6.2.1.2).
const STUDY_KEYS: &[Tag] = &[
    tags::STUDY_INSTANCE_UID,
    tags::STUDY_DATE,
    tags::STUDY_TIME,
    tags::ACCESSION_NUMBER,
    tags::STUDY_ID,
    tags::REFERRING_PHYSICIAN_NAME,
    tags::STUDY_DESCRIPTION,
    tags::MODALITIES_IN_STUDY,
    tags::SOP_CLASSES_IN_STUDY,
    tags::NUMBER_OF_STUDY_RELATED_SERIES,
    tags::NUMBER_OF_STUDY_RELATED_INSTANCES,
    tags::PATIENT_AGE,
    tags::PATIENT_SIZE,
    tags::PATIENT_WEIGHT,
    tags::NAME_OF_PHYSICIANS_READING_STUDY,
    tags::ADMITTING_DIAGNOSES_DESCRIPTION,
];

/// Attributes of the Series level (PS3.4 C.6.1.1.4).
const SERIES_KEYS: &[Tag] = &[
    tags::SERIES_INSTANCE_UID,
    tags::MODALITY,
    tags::SERIES_NUMBER,
    tags::SERIES_DESCRIPTION,
    tags::SERIES_DATE,
    tags::SERIES_TIME,
    tags::NUMBER_OF_SERIES_RELATED_INSTANCES,
    tags::BODY_PART_EXAMINED,
    tags::PERFORMED_PROCEDURE_STEP_START_DATE,
    tags::PERFORMED_PROCEDURE_STEP_START_TIME,
];

/// Keys about the query itself, never QIDO parameters: set by the listener in every answer or
/// left out.
const CONTROL_KEYS: &[Tag] = &[
    tags::SPECIFIC_CHARACTER_SET,
    tags::QUERY_RETRIEVE_LEVEL,
    tags::RETRIEVE_AE_TITLE,
    tags::INSTANCE_AVAILABILITY,
    tags::TIMEZONE_OFFSET_FROM_UTC,
    tags::QUERY_RETRIEVE_VIEW,
];

/// The level an attribute belongs to; attributes not listed (Manufacturer, SOPClassUID, …)
/// belong to the level of the query (QIDO matches them where it holds them).
fn level_of(tag: Tag, query: Level) -> Level {
    if PATIENT_KEYS.contains(&tag) {
        Level::Patient
    } else if STUDY_KEYS.contains(&tag) {
        Level::Study
    } else if SERIES_KEYS.contains(&tag) {
        Level::Series
    } else {
        query
    }
}

/// Why a C-FIND is answered with a failure: its status and Error Comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindRefusal {
    pub status: u16,
    pub comment: String,
}

fn refuse(status: u16, comment: impl Into<String>) -> FindRefusal {
    FindRefusal {
        status,
        comment: comment.into(),
    }
}

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

fn text_value(element: &DataElement<InMemDicomObject>) -> String {
    element
        .to_str()
        .map(|s| s.trim_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

/// A value usable as the single-value match of a unique key: a UID, no list, no wildcard.
fn single_uid(value: &str) -> bool {
    !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
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
    let ts = TransferSyntaxRegistry
        .get(transfer_syntax)
        .filter(|ts| !ts.is_unsupported())
        .ok_or_else(|| {
            refuse(
                find_status::UNABLE_TO_PROCESS,
                "identifier in an unsupported transfer syntax",
            )
        })?;
    let obj = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        InMemDicomObject::read_dataset_with_ts(identifier, ts)
    }))
    .map_err(|_| refuse(find_status::UNABLE_TO_PROCESS, "identifier cannot be read"))?
    .map_err(|e| {
        refuse(
            find_status::UNABLE_TO_PROCESS,
            format!("identifier cannot be read: {e}"),
        )
    })?;
    let value = |tag: Tag| obj.element(tag).map(text_value).unwrap_or_default();

    let level_text = obj
        .element(tags::QUERY_RETRIEVE_LEVEL)
        .map_err(|_| {
            refuse(
                find_status::IDENTIFIER_DOES_NOT_MATCH,
                "no QueryRetrieveLevel (0008,0052)",
            )
        })
        .map(text_value)?;
    let level = Level::parse(&level_text).ok_or_else(|| {
        refuse(
            find_status::IDENTIFIER_DOES_NOT_MATCH,
            format!("QueryRetrieveLevel {level_text:.20} unknown"),
        )
    })?;
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
        let attribute_level = level_of(tag, level);
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
    use super::*;
    use dicom_core::dicom_value;

    fn identifier(elements: Vec<DataElement<InMemDicomObject>>) -> Vec<u8> {
        let obj = InMemDicomObject::from_element_iter(elements);
        let mut out = Vec::new();
        obj.write_dataset_with_ts(
            &mut out,
            &dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased(),
        )
        .unwrap();
        out
    }
    fn cs(tag: Tag, vr: VR, v: &str) -> DataElement<InMemDicomObject> {
        DataElement::new(tag, vr, PrimitiveValue::from(v))
    }
    const ELE: &str = "1.2.840.10008.1.2.1";

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
