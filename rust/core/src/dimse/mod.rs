//! DICOM message service (DIMSE) rules for the C-STORE SCP of `dicom-fhir listen`: which
//! abstract syntaxes are storage SOP classes, the command sets (PS3.7 9.3, always Implicit VR
//! Little Endian), the Part-10 file an instance received over the network is stored as, the
//! checks of the data set against its command, and the C-STORE status that tells the sender
//! what the FHIR server answered. The network (associations, PDUs) is the CLI's; every DICOM
//! decision is here.

use dicom_core::{dicom_value, DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::error::DicomError;

/// Verification SOP Class (C-ECHO).
pub const VERIFICATION: &str = "1.2.840.10008.1.1";

/// C-STORE-RQ, C-STORE-RSP, C-ECHO-RQ, C-ECHO-RSP command fields (PS3.7 E.1).
pub const C_STORE_RQ: u16 = 0x0001;
pub const C_STORE_RSP: u16 = 0x8001;
pub const C_ECHO_RQ: u16 = 0x0030;
pub const C_ECHO_RSP: u16 = 0x8030;

/// Command Data Set Type (0000,0800) value meaning "no data set follows".
const NO_DATA_SET: u16 = 0x0101;

/// Longest Error Comment (0000,0902): it is LO, 64 characters.
const ERROR_COMMENT_MAX: usize = 64;

/// C-STORE statuses (PS3.4 Table B.2-1, PS3.7 C).
pub mod status {
    pub const SUCCESS: u16 = 0x0000;
    /// Refused: out of resources (the sender may try again later).
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Error: data set does not match SOP class (also: does not match the command's UIDs).
    pub const DATA_SET_DOES_NOT_MATCH: u16 = 0xA900;
    /// Error: cannot understand.
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
    /// The instance conflicts with one stored already (same SOP Instance UID, other bytes; or
    /// its patient conflicts with its study's): the code the server's STOW-RS uses too.
    pub const CONFLICT: u16 = 0xC409;
    /// Refused: not authorized (PS3.7 C.5.?; the FHIR server answered 401/403).
    pub const NOT_AUTHORIZED: u16 = 0x0124;
    /// SOP class not supported.
    pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
    /// Unrecognized operation.
    pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;
}

mod storage_classes;
pub use storage_classes::STORAGE_SOP_CLASSES;

/// Whether `uid` is a storage SOP class the listener accepts.
pub fn is_storage_sop_class(uid: &str) -> bool {
    STORAGE_SOP_CLASSES.contains(&uid)
}

/// Whether the listener can keep a data set received in this transfer syntax as it is: the
/// registry knows how to read its data set (the pixel data codec does not matter: no
/// transcoding is done).
pub fn can_store_transfer_syntax(uid: &str) -> bool {
    TransferSyntaxRegistry
        .get(uid)
        .map(|ts| !ts.is_unsupported())
        .unwrap_or(false)
}

/// The fields of a DIMSE command set the listener acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub field: u16,
    pub message_id: u16,
    pub affected_sop_class_uid: String,
    pub affected_sop_instance_uid: String,
    /// Whether a data set follows (Command Data Set Type ≠ 0x0101).
    pub has_data_set: bool,
    /// Status (0000,0900), in a response.
    pub status: Option<u16>,
    /// Move Destination (0000,0600), in a C-MOVE-RQ ("" otherwise).
    pub move_destination: String,
}

fn implicit_le() -> dicom_encoding::TransferSyntax {
    dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased()
}

/// Reads a command set (Implicit VR Little Endian, PS3.7 6.3.1).
pub fn read_command(bytes: &[u8]) -> Result<Command, DicomError> {
    let obj =
        std::panic::catch_unwind(|| InMemDicomObject::read_dataset_with_ts(bytes, &implicit_le()))
            .map_err(|_| DicomError::invalid_input("the command set cannot be read"))?
            .map_err(|e| {
                DicomError::invalid_input(format!("the command set cannot be read: {e}"))
            })?;
    let int = |tag: Tag| -> Option<u16> { obj.element(tag).ok()?.to_int::<u16>().ok() };
    let uid = |tag: Tag| -> String {
        obj.element(tag)
            .ok()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .unwrap_or_default()
    };
    let field = int(tags::COMMAND_FIELD).ok_or_else(|| {
        DicomError::invalid_input("the command set has no Command Field (0000,0100)")
    })?;
    Ok(Command {
        field,
        message_id: int(tags::MESSAGE_ID).unwrap_or(0),
        affected_sop_class_uid: uid(tags::AFFECTED_SOP_CLASS_UID),
        affected_sop_instance_uid: uid(tags::AFFECTED_SOP_INSTANCE_UID),
        has_data_set: int(tags::COMMAND_DATA_SET_TYPE).is_some_and(|t| t != NO_DATA_SET),
        status: int(tags::STATUS),
        move_destination: uid(tags::MOVE_DESTINATION),
    })
}

pub(crate) fn write_command(elements: Vec<DataElement<InMemDicomObject>>) -> Vec<u8> {
    let obj = InMemDicomObject::command_from_element_iter(elements);
    let mut out = Vec::new();
    obj.write_dataset_with_ts(&mut out, &implicit_le())
        .expect("a command set of short values always encodes");
    out
}

pub(crate) fn us(tag: Tag, v: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, dicom_value!(U16, [v]))
}

fn ui(tag: Tag, v: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::UI, PrimitiveValue::from(v))
}

/// C-ECHO-RSP (Success) to a C-ECHO-RQ.
pub fn echo_response(rq: &Command) -> Vec<u8> {
    write_command(vec![
        ui(tags::AFFECTED_SOP_CLASS_UID, VERIFICATION),
        us(tags::COMMAND_FIELD, C_ECHO_RSP),
        us(tags::MESSAGE_ID_BEING_RESPONDED_TO, rq.message_id),
        us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
        us(tags::STATUS, status::SUCCESS),
    ])
}

/// A response to a command the listener does not provide (C-FIND, N-…): 0x0211.
pub fn unrecognized_response(rq: &Command) -> Vec<u8> {
    let mut elements = vec![
        us(tags::COMMAND_FIELD, rq.field | 0x8000),
        us(tags::MESSAGE_ID_BEING_RESPONDED_TO, rq.message_id),
        us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET),
        us(tags::STATUS, status::UNRECOGNIZED_OPERATION),
    ];
    if !rq.affected_sop_class_uid.is_empty() {
        elements.push(ui(tags::AFFECTED_SOP_CLASS_UID, &rq.affected_sop_class_uid));
    }
    write_command(elements)
}

/// C-STORE-RSP with `status` and, for a failure, the Error Comment (0000,0902) saying why.
pub fn store_response(rq: &Command, status: u16, comment: Option<&str>) -> Vec<u8> {
    let mut elements = response_elements(rq, C_STORE_RSP, status, false, comment);
    elements.push(ui(
        tags::AFFECTED_SOP_INSTANCE_UID,
        &rq.affected_sop_instance_uid,
    ));
    write_command(elements)
}

/// A response command set (C-FIND-RSP, C-GET-RSP, …) to `rq`: `field`, `status`, whether a data
/// set follows, and the Error Comment (0000,0902) saying why, on failure.
pub fn response_command(
    rq: &Command,
    field: u16,
    status: u16,
    data_set_follows: bool,
    comment: Option<&str>,
) -> Vec<u8> {
    write_command(response_elements(
        rq,
        field,
        status,
        data_set_follows,
        comment,
    ))
}

/// The elements every response to `rq` carries, and the Error Comment when there is one.
pub(crate) fn response_elements(
    rq: &Command,
    field: u16,
    status: u16,
    data_set_follows: bool,
    comment: Option<&str>,
) -> Vec<DataElement<InMemDicomObject>> {
    let mut elements = vec![
        ui(tags::AFFECTED_SOP_CLASS_UID, &rq.affected_sop_class_uid),
        us(tags::COMMAND_FIELD, field),
        us(tags::MESSAGE_ID_BEING_RESPONDED_TO, rq.message_id),
        us(
            tags::COMMAND_DATA_SET_TYPE,
            if data_set_follows {
                0x0001
            } else {
                NO_DATA_SET
            },
        ),
        us(tags::STATUS, status),
    ];
    if let Some(comment) = comment.filter(|c| !c.is_empty()) {
        elements.push(DataElement::new(
            tags::ERROR_COMMENT,
            VR::LO,
            PrimitiveValue::from(error_comment(comment)),
        ));
    }
    elements
}

/// An Error Comment value: LO in the default character set, at most 64 characters, no
/// backslash (the value separator).
pub fn error_comment(text: &str) -> String {
    without_server_message_codes(text)
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '\\' {
                c
            } else {
                '?'
            }
        })
        .take(ERROR_COMMENT_MAX)
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// The text without HAPI's message codes (`HAPI-0550: `): 64 characters are few, the reason
/// matters more.
fn without_server_message_codes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("HAPI-") {
        let after = &rest[at + 5..];
        let digits = after.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && after[digits..].starts_with(": ") {
            out.push_str(&rest[..at]);
            rest = &after[digits + 2..];
        } else {
            out.push_str(&rest[..at + 5]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The C-STORE-RQ of a C-GET or C-MOVE sub-operation: instance `sop_instance` of `sop_class`,
/// medium priority; for a C-MOVE, the AE title and message ID of the C-MOVE-RQ it serves
/// (PS3.7 9.3.1.1).
pub fn store_request(
    message_id: u16,
    sop_class: &str,
    sop_instance: &str,
    move_originator: Option<(&str, u16)>,
) -> Vec<u8> {
    let mut elements = vec![
        ui(tags::AFFECTED_SOP_CLASS_UID, sop_class),
        us(tags::COMMAND_FIELD, C_STORE_RQ),
        us(tags::MESSAGE_ID, message_id),
        us(tags::PRIORITY, 0x0000),
        us(tags::COMMAND_DATA_SET_TYPE, 0x0001),
        ui(tags::AFFECTED_SOP_INSTANCE_UID, sop_instance),
    ];
    if let Some((ae, id)) = move_originator {
        elements.push(DataElement::new(
            tags::MOVE_ORIGINATOR_APPLICATION_ENTITY_TITLE,
            VR::AE,
            PrimitiveValue::from(ae),
        ));
        elements.push(us(tags::MOVE_ORIGINATOR_MESSAGE_ID, id));
    }
    write_command(elements)
}

/// A stored Part-10 file as a C-STORE sends it: its transfer syntax, SOP Class and SOP
/// Instance UIDs (from the File Meta Information) and where its data set starts (the bytes
/// after the meta are sent unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part10Parts {
    pub transfer_syntax: String,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub data_set_offset: usize,
}

/// Splits a Part-10 file (preamble, "DICM", File Meta Information) without reading its data set.
pub fn split_part10(file: &[u8]) -> Result<Part10Parts, DicomError> {
    if file.len() < 132 || &file[128..132] != b"DICM" {
        return Err(DicomError::invalid_input(
            "not a Part-10 file (no DICM prefix)",
        ));
    }
    let mut reader = &file[128..];
    let meta = dicom_object::FileMetaTable::from_reader(&mut reader)
        .map_err(|e| DicomError::invalid_input(format!("no file meta: {e}")))?;
    Ok(Part10Parts {
        transfer_syntax: meta.transfer_syntax().to_string(),
        sop_class_uid: meta.media_storage_sop_class_uid().to_string(),
        sop_instance_uid: meta.media_storage_sop_instance_uid().to_string(),
        data_set_offset: file.len() - reader.len(),
    })
}

/// A C-STORE data set that cannot be stored: the status and the Error Comment to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRefusal {
    pub status: u16,
    pub comment: String,
}

/// The Part-10 file (preamble, "DICM", File Meta Information, the data set bytes unchanged) of
/// an instance received with C-STORE in `transfer_syntax`, checked the way the server checks an
/// upload plus the DIMSE rules: the data set must parse and its SOP Class and SOP Instance UIDs
/// must be the command's (as dcmtk's storescp, 0xA900 otherwise).
pub fn part10_from_c_store(
    rq: &Command,
    transfer_syntax: &str,
    calling_ae_title: &str,
    data_set: &[u8],
) -> Result<Vec<u8>, StoreRefusal> {
    let refuse = |status: u16, comment: String| StoreRefusal { status, comment };
    let mut meta = FileMetaTableBuilder::new()
        .transfer_syntax(transfer_syntax)
        .media_storage_sop_class_uid(rq.affected_sop_class_uid.as_str())
        .media_storage_sop_instance_uid(rq.affected_sop_instance_uid.as_str())
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION_NAME);
    let ae = calling_ae_title.trim();
    if !ae.is_empty() {
        meta = meta.source_application_entity_title(ae);
    }
    let meta = meta
        .build()
        .map_err(|e| refuse(status::CANNOT_UNDERSTAND, format!("no file meta: {e}")))?;
    let mut out = Vec::with_capacity(data_set.len() + 512);
    out.extend_from_slice(&[0u8; 128]);
    out.extend_from_slice(b"DICM");
    meta.write(&mut out)
        .map_err(|e| refuse(status::CANNOT_UNDERSTAND, format!("no file meta: {e}")))?;
    out.extend_from_slice(data_set);
    let parsed = crate::parse::parse(&out).map_err(|e| {
        refuse(
            status::CANNOT_UNDERSTAND,
            format!("not valid DICOM: {}", e.message()),
        )
    })?;
    if parsed.sop_instance_uid() != rq.affected_sop_instance_uid {
        return Err(refuse(
            status::DATA_SET_DOES_NOT_MATCH,
            "SOP Instance UID differs from Affected SOP Instance UID".into(),
        ));
    }
    if parsed.sop_class_uid() != rq.affected_sop_class_uid {
        return Err(refuse(
            status::DATA_SET_DOES_NOT_MATCH,
            "SOP Class UID differs from Affected SOP Class UID".into(),
        ));
    }
    Ok(out)
}

/// The Implementation Class UID written in the File Meta Information of received instances
/// (a UUID-derived UID, PS3.5 B.2).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.236617187338229381370926545178931461381";
/// Implementation Version Name (16 characters at most).
pub const IMPLEMENTATION_VERSION_NAME: &str = "DICOMFHIR_LISTEN";

/// The C-STORE status for the FHIR server's answer to the upload of the instance (an HTTP
/// status); `None` (no answer: unreachable, timeout) is out of resources, so the sender tries
/// again later.
pub fn store_status_for_http(http: Option<u16>) -> u16 {
    match http {
        Some(200 | 201) => status::SUCCESS,
        Some(401 | 403) => status::NOT_AUTHORIZED,
        Some(409) => status::CONFLICT,
        Some(413 | 429 | 503 | 507) => status::OUT_OF_RESOURCES,
        Some(400..=499) => status::CANNOT_UNDERSTAND,
        _ => status::OUT_OF_RESOURCES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_classes_are_dictionary_storage_classes() {
        use dicom_core::dictionary::UidDictionary;
        let dict = dicom_dictionary_std::StandardSopClassDictionary;
        for uid in STORAGE_SOP_CLASSES {
            let entry = dict
                .by_uid(uid)
                .unwrap_or_else(|| panic!("{uid} not a SOP class"));
            assert!(entry.name.contains("Storage"), "{uid}: {}", entry.name);
            assert!(!entry.name.contains("Commitment"), "{uid}");
        }
        assert!(is_storage_sop_class("1.2.840.10008.5.1.4.1.1.2"));
        assert!(!is_storage_sop_class(VERIFICATION));
        assert!(!is_storage_sop_class("1.2.840.10008.5.1.4.1.2.2.1")); // Study Root Q/R FIND
        assert!(!is_storage_sop_class("1.2.840.10008.1.20.1")); // Storage Commitment
        assert!(!is_storage_sop_class("1.2.840.10008.1.3.10")); // DICOMDIR
    }

    #[test]
    fn store_response_round_trips_and_cuts_the_comment() {
        let rq = Command {
            field: C_STORE_RQ,
            message_id: 7,
            affected_sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            affected_sop_instance_uid: "1.2.3.4".into(),
            has_data_set: true,
            status: None,
            move_destination: String::new(),
        };
        let long = "HTTP 409 Conflict: ".to_string() + &"é\\x".repeat(40);
        let rsp = store_response(&rq, status::CONFLICT, Some(&long));
        let back = read_command(&rsp).unwrap();
        assert_eq!(back.field, C_STORE_RSP);
        assert!(!back.has_data_set);
        assert_eq!(back.affected_sop_instance_uid, "1.2.3.4");
        let obj = InMemDicomObject::read_dataset_with_ts(&rsp[..], &implicit_le()).unwrap();
        assert_eq!(
            obj.element(tags::STATUS).unwrap().to_int::<u16>().unwrap(),
            0xC409
        );
        assert_eq!(
            obj.element(tags::MESSAGE_ID_BEING_RESPONDED_TO)
                .unwrap()
                .to_int::<u16>()
                .unwrap(),
            7
        );
        let comment = obj
            .element(tags::ERROR_COMMENT)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            comment.len() <= 64 && comment.is_ascii() && !comment.contains('\\'),
            "{comment}"
        );
    }

    #[test]
    fn error_comment_drops_server_message_codes() {
        assert_eq!(
            error_comment("HTTP 409 Conflict: HAPI-0550: SOP Instance 1.2.3 is already stored"),
            "HTTP 409 Conflict: SOP Instance 1.2.3 is already stored"
        );
        assert_eq!(
            error_comment("HAPI-x HAPI-12 no colon"),
            "HAPI-x HAPI-12 no colon"
        );
    }

    #[test]
    fn garbage_command_is_an_error_not_a_panic() {
        assert!(read_command(b"").is_err());
        assert!(read_command(&[0xff; 37]).is_err());
        assert!(read_command(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0x7f]).is_err());
    }

    #[test]
    fn http_answers_map_to_c_store_statuses() {
        assert_eq!(store_status_for_http(Some(201)), 0);
        assert_eq!(store_status_for_http(Some(200)), 0);
        assert_eq!(store_status_for_http(Some(409)), 0xC409);
        assert_eq!(store_status_for_http(Some(422)), 0xC000);
        assert_eq!(store_status_for_http(Some(403)), 0x0124);
        assert_eq!(store_status_for_http(Some(500)), 0xA700);
        assert_eq!(store_status_for_http(None), 0xA700);
    }

    #[test]
    fn transfer_syntaxes_kept_as_is() {
        for ts in [
            "1.2.840.10008.1.2",
            "1.2.840.10008.1.2.1",
            "1.2.840.10008.1.2.4.50",
            "1.2.840.10008.1.2.1.99",
            "1.2.840.10008.1.2.5",
        ] {
            assert!(can_store_transfer_syntax(ts), "{ts}");
        }
        assert!(!can_store_transfer_syntax("1.2.3.4.5"));
    }
    #[test]
    fn part10_split_and_sub_operation_request() {
        let rq = Command {
            field: C_STORE_RQ,
            message_id: 1,
            affected_sop_class_uid: "1.2.840.10008.5.1.4.1.1.7".into(),
            affected_sop_instance_uid: "1.2.3.4".into(),
            has_data_set: true,
            status: None,
            move_destination: String::new(),
        };
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax("1.2.840.10008.1.2.1")
            .media_storage_sop_class_uid(rq.affected_sop_class_uid.as_str())
            .media_storage_sop_instance_uid(rq.affected_sop_instance_uid.as_str())
            .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
            .build()
            .unwrap();
        let mut file = vec![0u8; 128];
        file.extend_from_slice(b"DICM");
        meta.write(&mut file).unwrap();
        let data_set = b"\x08\x00\x16\x00UI\x02\x001\x00".to_vec();
        let offset = file.len();
        file.extend_from_slice(&data_set);
        let parts = split_part10(&file).unwrap();
        assert_eq!(parts.transfer_syntax, "1.2.840.10008.1.2.1");
        assert_eq!(parts.sop_instance_uid, "1.2.3.4");
        assert_eq!(parts.data_set_offset, offset);
        assert!(split_part10(&file[..100]).is_err());
        assert!(split_part10(&[0u8; 300]).is_err());

        let bytes = store_request(9, &rq.affected_sop_class_uid, "1.2.3.4", Some(("MOVER", 5)));
        let back = read_command(&bytes).unwrap();
        assert_eq!((back.field, back.message_id), (C_STORE_RQ, 9));
        assert!(back.has_data_set);
        let obj = InMemDicomObject::read_dataset_with_ts(&bytes[..], &implicit_le()).unwrap();
        assert_eq!(
            obj.element(tags::MOVE_ORIGINATOR_MESSAGE_ID)
                .unwrap()
                .to_int::<u16>()
                .unwrap(),
            5
        );
    }
}
