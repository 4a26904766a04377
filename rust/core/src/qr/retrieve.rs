//! C-GET and C-MOVE: the QIDO-RS requests that list the instances a retrieve sends, the
//! instance of each match, the sub-operation counts and the C-GET-RSP/C-MOVE-RSP.

use dicom_core::header::{HasLength, Header};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use serde_json::Value;

use super::identifier::{
    query_level, read_identifier, refuse, single_uid, text_value, FindRefusal,
};
use super::model::{
    find_status, retrieve_status, Level, CONTROL_KEYS, MAX_RETRIEVE_KEYS, PATIENT_ROOT_GET,
    PATIENT_ROOT_MOVE, STUDY_ROOT_GET, STUDY_ROOT_MOVE,
};
use crate::dimse::{self, Command};

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
    use crate::qr::test_support::{cs, identifier, ELE};
    use super::*;
    use crate::qr::model::{C_GET_RQ, C_GET_RSP, STUDY_ROOT_MOVE};

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
