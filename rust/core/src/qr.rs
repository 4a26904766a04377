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
pub const C_GET_RQ: u16 = 0x0010;
pub const C_GET_RSP: u16 = 0x8010;
pub const C_MOVE_RQ: u16 = 0x0021;
pub const C_MOVE_RSP: u16 = 0x8021;

/// Patient Root Query/Retrieve Information Model - MOVE and - GET.
pub const PATIENT_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.1.2";
pub const PATIENT_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.1.3";
/// Study Root Query/Retrieve Information Model - MOVE and - GET.
pub const STUDY_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";
pub const STUDY_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.2.3";
/// The Query/Retrieve GET and MOVE SOP classes the listener accepts.
pub const RETRIEVE_SOP_CLASSES: &[&str] = &[
    PATIENT_ROOT_GET,
    STUDY_ROOT_GET,
    PATIENT_ROOT_MOVE,
    STUDY_ROOT_MOVE,
];
/// Most UIDs (or Patient IDs) one C-GET/C-MOVE identifier lists at its level.
pub const MAX_RETRIEVE_KEYS: usize = 1000;

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

/// C-GET and C-MOVE statuses (PS3.4 C.4.2.1.5, C.4.3.1.4).
pub mod retrieve_status {
    pub const SUCCESS: u16 = 0x0000;
    /// Sub-operations are continuing.
    pub const PENDING: u16 = 0xFF00;
    /// Sub-operations ended by a C-CANCEL.
    pub const CANCELLED: u16 = 0xFE00;
    /// Warning: sub-operations complete, one or more failures or warnings.
    pub const SOME_FAILED: u16 = 0xB000;
    /// Refused: out of resources, unable to calculate the number of matches.
    pub const OUT_OF_RESOURCES_MATCHES: u16 = 0xA701;
    /// Refused: out of resources, unable to perform sub-operations (every one failed).
    pub const OUT_OF_RESOURCES_SUB_OPERATIONS: u16 = 0xA702;
    /// Refused: move destination unknown (not configured, or it refused the association).
    pub const MOVE_DESTINATION_UNKNOWN: u16 = 0xA801;
    /// Error: identifier does not match SOP class.
    pub const IDENTIFIER_DOES_NOT_MATCH: u16 = 0xA900;
    /// Failed: unable to process.
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

/// Attributes of the Patient level (PS3.4 C.6.1.1.2), kept in the study at the Study Root:
/// QIDO has no patient level, so `attributes::level_of` says Study for these.
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

/// The level an attribute belongs to: the patient keys above, else the server's one table of
/// attribute levels (`attributes::level_of`: study, series, else instance).
fn level_of(tag: Tag) -> Level {
    if PATIENT_KEYS.contains(&tag) {
        return Level::Patient;
    }
    let key = (u32::from(tag.group()) << 16) | u32::from(tag.element());
    match crate::attributes::level_of(key) {
        crate::attributes::Level::Study => Level::Study,
        crate::attributes::Level::Series => Level::Series,
        crate::attributes::Level::Instance => Level::Image,
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

/// The identifier of a C-FIND, C-GET or C-MOVE received in `transfer_syntax`.
fn read_identifier(
    transfer_syntax: &str,
    identifier: &[u8],
) -> Result<InMemDicomObject, FindRefusal> {
    let ts = TransferSyntaxRegistry
        .get(transfer_syntax)
        .filter(|ts| !ts.is_unsupported())
        .ok_or_else(|| {
            refuse(
                find_status::UNABLE_TO_PROCESS,
                "identifier in an unsupported transfer syntax",
            )
        })?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        InMemDicomObject::read_dataset_with_ts(identifier, ts)
    }))
    .map_err(|_| refuse(find_status::UNABLE_TO_PROCESS, "identifier cannot be read"))?
    .map_err(|e| {
        refuse(
            find_status::UNABLE_TO_PROCESS,
            format!("identifier cannot be read: {e}"),
        )
    })
}

/// The identifier's QueryRetrieveLevel (0008,0052), which every C-FIND/C-GET/C-MOVE must have.
fn query_level(obj: &InMemDicomObject) -> Result<Level, FindRefusal> {
    let level_text = obj
        .element(tags::QUERY_RETRIEVE_LEVEL)
        .map_err(|_| {
            refuse(
                find_status::IDENTIFIER_DOES_NOT_MATCH,
                "no QueryRetrieveLevel (0008,0052)",
            )
        })
        .map(text_value)?;
    Level::parse(&level_text).ok_or_else(|| {
        refuse(
            find_status::IDENTIFIER_DOES_NOT_MATCH,
            format!("QueryRetrieveLevel {level_text:.20} unknown"),
        )
    })
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

/// One QIDO-RS request listing instances to retrieve (paged by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrieveQuery {
    /// Path under the FHIR base, an instance-level QIDO resource.
    pub path: String,
    /// Matching keys and `includefield`, without `limit`/`offset`.
    pub params: Vec<(String, String)>,
}

/// A checked C-GET/C-MOVE: its level and the QIDO requests whose matches are the instances
/// to send.
#[derive(Debug, Clone)]
pub struct RetrievePlan {
    pub level: Level,
    pub queries: Vec<RetrieveQuery>,
}

/// What each instance QIDO match must return for a retrieve: its UIDs and stored transfer
/// syntax (AvailableTransferSyntaxUID).
const RETRIEVE_INCLUDE: &str = "0020000D,0020000E,00080016,00080018,00083002";

/// The values of a retrieve key: a list (`\`-separated) of UIDs, or of Patient IDs (no
/// wildcard: retrieve keys match exactly).
fn retrieve_values(v: &str, uid: bool) -> Option<Vec<String>> {
    let items: Vec<String> = v
        .split('\\')
        .map(|s| s.trim_matches(['\0', ' ']).to_string())
        .collect();
    let ok = items.iter().all(|i| {
        if uid {
            single_uid(i)
        } else {
            !i.is_empty() && !i.contains(['*', '?']) && i.len() <= 64
        }
    });
    (ok && !items.is_empty()).then_some(items)
}

/// Checks the identifier of a C-GET-RQ or C-MOVE-RQ of `sop_class` received in
/// `transfer_syntax` (PS3.4 C.4.2.2.1, C.4.3.2.1: the unique keys of each level from the top
/// down to the retrieve level, one value above it, a list at it) and plans the QIDO-RS
/// requests that list the instances to send. Keys of another level with a value, or other
/// keys with a value, are refused (0xA900): a retrieve sends exactly what its unique keys name.
pub fn plan_retrieve(
    sop_class: &str,
    transfer_syntax: &str,
    identifier: &[u8],
) -> Result<RetrievePlan, FindRefusal> {
    let patient_root = match sop_class {
        PATIENT_ROOT_GET | PATIENT_ROOT_MOVE => true,
        STUDY_ROOT_GET | STUDY_ROOT_MOVE => false,
        other => {
            return Err(refuse(
                dimse::status::SOP_CLASS_NOT_SUPPORTED,
                format!("retrieve of SOP class {other} not supported"),
            ))
        }
    };
    let obj = read_identifier(transfer_syntax, identifier)?;
    let level = query_level(&obj)?;
    if level == Level::Patient && !patient_root {
        return Err(refuse(
            find_status::IDENTIFIER_DOES_NOT_MATCH,
            "PATIENT level is not in the Study Root model",
        ));
    }
    // The unique keys of this model, top down, with their level.
    let mut unique: Vec<(Tag, &str, Level)> = Vec::new();
    if patient_root {
        unique.push((tags::PATIENT_ID, "PatientID", Level::Patient));
    }
    unique.push((tags::STUDY_INSTANCE_UID, "StudyInstanceUID", Level::Study));
    unique.push((
        tags::SERIES_INSTANCE_UID,
        "SeriesInstanceUID",
        Level::Series,
    ));
    unique.push((tags::SOP_INSTANCE_UID, "SOPInstanceUID", Level::Image));
    for element in obj.iter() {
        let tag = element.tag();
        if CONTROL_KEYS.contains(&tag) || element.is_empty() {
            continue;
        }
        match unique.iter().find(|(t, _, _)| *t == tag) {
            Some((_, name, key_level)) if *key_level > level => {
                return Err(refuse(
                    find_status::IDENTIFIER_DOES_NOT_MATCH,
                    format!("{name} is below the {} level", level.name()),
                ))
            }
            Some(_) => {}
            None => {
                return Err(refuse(
                    find_status::IDENTIFIER_DOES_NOT_MATCH,
                    format!(
                        "({:04X},{:04X}) is not a unique key of the model",
                        tag.group(),
                        tag.element()
                    ),
                ))
            }
        }
    }
    // One value per level above, a list at the retrieve level.
    let mut values: Vec<Vec<String>> = Vec::new();
    for (tag, name, key_level) in unique.iter().filter(|(_, _, l)| *l <= level) {
        let v = obj.element(*tag).map(text_value).unwrap_or_default();
        let list = retrieve_values(&v, *tag != tags::PATIENT_ID)
            .filter(|l| (*key_level == level || l.len() == 1) && l.len() <= MAX_RETRIEVE_KEYS);
        match list {
            Some(list) => values.push(list),
            None if *key_level == level => {
                return Err(refuse(
                    find_status::IDENTIFIER_DOES_NOT_MATCH,
                    format!(
                    "{} level needs {name}: one value, or a list of at most {MAX_RETRIEVE_KEYS}",
                    level.name()
                ),
                ))
            }
            None => {
                return Err(refuse(
                    find_status::IDENTIFIER_DOES_NOT_MATCH,
                    format!("{} level needs one {name} value", level.name()),
                ))
            }
        }
    }
    let patient: Option<String> = patient_root.then(|| values[0][0].clone());
    let (above, at) = values.split_at(values.len() - 1);
    let above: Vec<&str> = above
        .iter()
        .skip(usize::from(patient_root))
        .map(|v| v[0].as_str())
        .collect();
    let queries = at[0]
        .iter()
        .map(|key| {
            let mut params: Vec<(String, String)> = Vec::new();
            let path = match level {
                Level::Patient => {
                    params.push(("00100020".into(), key.clone()));
                    "dicomweb/instances".to_string()
                }
                Level::Study => format!("dicomweb/studies/{key}/instances"),
                Level::Series => format!("dicomweb/studies/{}/series/{key}/instances", above[0]),
                Level::Image => {
                    params.push(("00080018".into(), key.clone()));
                    format!(
                        "dicomweb/studies/{}/series/{}/instances",
                        above[0], above[1]
                    )
                }
            };
            if let (Some(p), true) = (&patient, level > Level::Patient) {
                params.push(("00100020".into(), p.clone()));
            }
            params.push(("includefield".into(), RETRIEVE_INCLUDE.into()));
            RetrieveQuery { path, params }
        })
        .collect();
    Ok(RetrievePlan { level, queries })
}

/// One instance a retrieve sends, from its QIDO match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceToSend {
    pub study: String,
    pub series: String,
    pub sop_instance: String,
    pub sop_class: String,
    /// The stored transfer syntax (AvailableTransferSyntaxUID), when the server gave it.
    pub transfer_syntax: Option<String>,
}

/// The instance of a QIDO match (DICOM JSON); `None` when a UID is missing or not a UID.
pub fn instance_to_send(json: &Value) -> Option<InstanceToSend> {
    let first = |key: &str| {
        json[key]["Value"][0]
            .as_str()
            .map(|s| s.trim_matches(['\0', ' ']).to_string())
    };
    let uid = |key: &str| first(key).filter(|v| single_uid(v));
    Some(InstanceToSend {
        study: uid("0020000D")?,
        series: uid("0020000E")?,
        sop_instance: uid("00080018")?,
        sop_class: uid("00080016")?,
        transfer_syntax: uid("00083002"),
    })
}

/// Counts of a C-GET/C-MOVE's C-STORE sub-operations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubOperations {
    pub remaining: usize,
    pub completed: usize,
    pub failed: usize,
    pub warning: usize,
}

impl SubOperations {
    /// The final status once every sub-operation ran: success, some failed or warned
    /// (0xB000), or every one failed (0xA702).
    pub fn final_status(&self) -> u16 {
        if self.failed == 0 && self.warning == 0 {
            retrieve_status::SUCCESS
        } else if self.completed == 0 && self.warning == 0 {
            retrieve_status::OUT_OF_RESOURCES_SUB_OPERATIONS
        } else {
            retrieve_status::SOME_FAILED
        }
    }
}

/// A C-GET-RSP or C-MOVE-RSP (`field`): the counts (Remaining only while pending or when
/// cancelled, PS3.7 9.3.3.2), the Error Comment on failure, and whether the identifier with
/// the Failed SOP Instance UID List follows.
pub fn retrieve_response(
    rq: &Command,
    field: u16,
    status: u16,
    counts: Option<&SubOperations>,
    comment: Option<&str>,
    identifier_follows: bool,
) -> Vec<u8> {
    let mut elements = dimse::response_elements(
        rq,
        field,
        status,
        identifier_follows,
        comment.filter(|_| {
            !matches!(
                status,
                retrieve_status::SUCCESS | retrieve_status::PENDING | retrieve_status::CANCELLED
            )
        }),
    );
    if let Some(c) = counts {
        let n = |v: usize| u16::try_from(v).unwrap_or(u16::MAX);
        if matches!(
            status,
            retrieve_status::PENDING | retrieve_status::CANCELLED
        ) {
            elements.push(dimse::us(
                tags::NUMBER_OF_REMAINING_SUBOPERATIONS,
                n(c.remaining),
            ));
        }
        elements.push(dimse::us(
            tags::NUMBER_OF_COMPLETED_SUBOPERATIONS,
            n(c.completed),
        ));
        elements.push(dimse::us(tags::NUMBER_OF_FAILED_SUBOPERATIONS, n(c.failed)));
        elements.push(dimse::us(
            tags::NUMBER_OF_WARNING_SUBOPERATIONS,
            n(c.warning),
        ));
    }
    dimse::write_command(elements)
}

/// The identifier of a final C-GET/C-MOVE response: Failed SOP Instance UID List (0008,0058),
/// in the request's transfer syntax.
pub fn failed_instances_identifier(transfer_syntax: &str, failed: &[String]) -> Vec<u8> {
    let obj = InMemDicomObject::from_element_iter([DataElement::new(
        tags::FAILED_SOP_INSTANCE_UID_LIST,
        VR::UI,
        PrimitiveValue::Strs(failed.iter().cloned().collect()),
    )]);
    let ts = TransferSyntaxRegistry
        .get(transfer_syntax)
        .filter(|ts| !ts.is_unsupported())
        .unwrap_or_else(|| {
            TransferSyntaxRegistry
                .get("1.2.840.10008.1.2")
                .expect("implicit VR little endian is always there")
        });
    let mut bytes = Vec::new();
    obj.write_dataset_with_ts(&mut bytes, ts)
        .expect("a list of UIDs always encodes");
    bytes
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
    #[test]
    fn retrieve_keys_are_unique_keys_down_to_the_level() {
        let none = identifier(vec![cs(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3")]);
        let e = plan_retrieve(STUDY_ROOT_GET, ELE, &none).unwrap_err();
        assert_eq!(e.status, retrieve_status::IDENTIFIER_DOES_NOT_MATCH);
        // a key below the level
        let below = identifier(vec![
            cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "STUDY"),
            cs(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3"),
            cs(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5"),
        ]);
        assert!(plan_retrieve(STUDY_ROOT_GET, ELE, &below)
            .unwrap_err()
            .comment
            .contains("SOPInstanceUID"));
        // the level's key missing, a list above the level, a path injection
        for bad in [
            vec![
                cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "SERIES"),
                cs(tags::SERIES_INSTANCE_UID, VR::UI, "1.2"),
            ],
            vec![
                cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "SERIES"),
                cs(tags::STUDY_INSTANCE_UID, VR::UI, "1.2\\1.3"),
                cs(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.4"),
            ],
            vec![
                cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "STUDY"),
                cs(tags::STUDY_INSTANCE_UID, VR::UI, "1.2/../x"),
            ],
            vec![
                cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "STUDY"),
                cs(tags::STUDY_INSTANCE_UID, VR::UI, "1.2"),
                cs(tags::PATIENT_NAME, VR::PN, "X"),
            ],
            vec![
                cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "PATIENT"),
                cs(tags::PATIENT_ID, VR::LO, "P1"),
            ],
        ] {
            assert!(plan_retrieve(STUDY_ROOT_GET, ELE, &identifier(bad)).is_err());
        }
        let list = identifier(vec![
            cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "IMAGE"),
            cs(tags::STUDY_INSTANCE_UID, VR::UI, "1.2"),
            cs(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3"),
            cs(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4\\1.2.3.5"),
            DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::Empty),
        ]);
        let plan = plan_retrieve(STUDY_ROOT_MOVE, ELE, &list).unwrap();
        assert_eq!(plan.queries.len(), 2);
        assert_eq!(
            plan.queries[1].path,
            "dicomweb/studies/1.2/series/1.2.3/instances"
        );
        assert!(plan.queries[1]
            .params
            .contains(&("00080018".into(), "1.2.3.5".into())));
        let patient = identifier(vec![
            cs(tags::QUERY_RETRIEVE_LEVEL, VR::CS, "SERIES"),
            cs(tags::PATIENT_ID, VR::LO, "P1"),
            cs(tags::STUDY_INSTANCE_UID, VR::UI, "1.2"),
            cs(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3"),
        ]);
        let plan = plan_retrieve(PATIENT_ROOT_GET, ELE, &patient).unwrap();
        assert_eq!(
            plan.queries[0].path,
            "dicomweb/studies/1.2/series/1.2.3/instances"
        );
        assert!(plan.queries[0]
            .params
            .contains(&("00100020".into(), "P1".into())));
    }

    #[test]
    fn retrieve_final_status_and_counts() {
        let c = |completed, failed, warning| SubOperations {
            remaining: 0,
            completed,
            failed,
            warning,
        };
        assert_eq!(c(3, 0, 0).final_status(), 0x0000);
        assert_eq!(c(0, 0, 0).final_status(), 0x0000);
        assert_eq!(c(2, 1, 0).final_status(), 0xB000);
        assert_eq!(c(0, 2, 0).final_status(), 0xA702);
        let rq = Command {
            field: C_GET_RQ,
            message_id: 3,
            affected_sop_class_uid: STUDY_ROOT_GET.into(),
            affected_sop_instance_uid: String::new(),
            has_data_set: true,
            status: None,
            move_destination: String::new(),
        };
        let pending = SubOperations {
            remaining: 2,
            completed: 1,
            failed: 0,
            warning: 0,
        };
        let rsp = retrieve_response(
            &rq,
            C_GET_RSP,
            retrieve_status::PENDING,
            Some(&pending),
            None,
            false,
        );
        let ts = dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
        let obj = InMemDicomObject::read_dataset_with_ts(&rsp[..], &ts).unwrap();
        let int = |t| obj.element(t).unwrap().to_int::<u16>().unwrap();
        assert_eq!(int(tags::NUMBER_OF_REMAINING_SUBOPERATIONS), 2);
        assert_eq!(int(tags::NUMBER_OF_COMPLETED_SUBOPERATIONS), 1);
        assert_eq!(int(tags::STATUS), 0xFF00);
        let failed = failed_instances_identifier(ELE, &["1.2.3".into(), "1.2.4".into()]);
        let ts = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
        let back = InMemDicomObject::read_dataset_with_ts(&failed[..], &ts).unwrap();
        assert_eq!(
            back.element(tags::FAILED_SOP_INSTANCE_UID_LIST)
                .unwrap()
                .to_multi_str()
                .unwrap()
                .len(),
            2
        );
    }
}
