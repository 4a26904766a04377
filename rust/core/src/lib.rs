//! dicom-fhir core: every DICOM rule of the project lives here, once.
//! Bindings (JNI, Python, CLI) call this crate and add no logic of their own.
//!
//! The public API below is the contract described in `docs/architecture.md`: the modules are
//! private and everything a binding may call is re-exported here. Every fallible call returns a
//! [`DicomError`] whose [`ErrorKind`] a binding maps one-to-one to its own error type.

mod attributes;
mod bulkdata;
mod part10;
mod charset;
pub mod dimse;
mod error;
mod fhir;
mod frames;
mod jpeg12;
mod json;
mod number;
mod parse;
mod qido;
pub mod qr;
mod render;
mod stow;
mod study_ext;
mod transcode;
mod transfer_syntax;

pub use bulkdata::{base64, locate, locate_in, locate_in_limited, locate_limited, parse_tag_path, BulkValue};
pub use error::{DicomError, ErrorKind};
pub use frames::{all_frames_in, frames, frames_in, frames_in_limited, frames_limited, parse_frame_list, Frames};
pub use parse::{classify, parse, ItemView, ParsedInstance, PersonName, PixelDataInfo, Rejected, Rejection};
pub use part10::{chunk_bytes, Chunk, DEFAULT_MAX_INFLATED};
pub use render::{
    render_frame, thumbnail, MediaType, RenderOptions, RenderQuery, Rendered, SourceRegion, Window, WindowFunction, MAX_FRAME_BYTES, MAX_VIEWPORT,
    THUMBNAIL_SIZE,
};
pub use stow::{stow_response, FailureReason, StowFailure, StowOutcome, StowStored};
pub use study_ext::{
    instance_binary_references, DICOM_BINARY_TAG_CODE, DICOM_BINARY_TAG_SYSTEM, EXT_DICOM_ATTRIBUTES, EXT_INSTANCE_ATTRIBUTES,
    EXT_INSTANCE_BINARY,
};
pub use transcode::{check_transcodable, frames_explicit_le, to_explicit_le};
pub use transfer_syntax::{
    compressed_media_type, is_native, served_transfer_syntax, transfer_syntax_info, TransferSyntaxInfo,
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
};

use serde_json::Value;

/// Options that change derivation (not parsing).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeriveOptions {
    /// Identifier system for PatientID when IssuerOfPatientID is absent.
    pub patient_identifier_system: Option<String>,
    /// UTC offset such as "+01:00" for DICOM dates/times without TimezoneOffsetFromUTC;
    /// when absent, FHIR dateTimes carry the date only.
    pub default_timezone: Option<String>,
}

/// A parsed instance together with its `parse` result JSON: for callers that need both (e.g.
/// the DICOM JSON and the FHIR resources) without parsing twice.
#[derive(Debug, Clone)]
pub struct Instance {
    parsed: ParsedInstance,
    result: Value,
}

impl Instance {
    /// The validated instance (header, DICOM JSON).
    pub fn parsed(&self) -> &ParsedInstance {
        &self.parsed
    }
    /// The `parse` result JSON of the contract (what [`parse_instance`] returns).
    pub fn result(&self) -> &Value {
        &self.result
    }
    /// Both, by value.
    pub fn into_parts(self) -> (ParsedInstance, Value) {
        (self.parsed, self.result)
    }
}

/// Parses a Part-10 instance once and derives its `parse` result JSON.
pub fn read_instance(bytes: &[u8], options: &DeriveOptions) -> Result<Instance, DicomError> {
    let parsed = parse::parse(bytes)?;
    let result = fhir::derive(&parsed, options);
    Ok(Instance { parsed, result })
}

/// Parses a Part-10 instance and returns the `parse` result JSON of the contract.
pub fn parse_instance(bytes: &[u8], options: &DeriveOptions) -> Result<Value, DicomError> {
    Ok(read_instance(bytes, options)?.result)
}

/// The `parse` result JSON of an instance parsed already.
pub fn derive(parsed: &ParsedInstance, options: &DeriveOptions) -> Value {
    fhir::derive(parsed, options)
}

/// The PS3.18 F.2 DICOM JSON text of an instance this server stored, BulkDataURIs below
/// `bulk_data_uri_base`. Bytes that do not parse are [`ErrorKind::CorruptStored`]: they were
/// accepted at ingest, so the fault is the store's, not the caller's.
pub fn stored_dicom_json(bytes: &[u8], bulk_data_uri_base: &str) -> Result<String, DicomError> {
    let parsed = parse::parse(bytes).map_err(DicomError::stored)?;
    Ok(parsed.dicom_json_string(bulk_data_uri_base))
}

/// Merges ImagingStudy fragments into an existing ImagingStudy (or a new one). A fragment that
/// does not merge is [`ErrorKind::InvalidInput`]; an `existing` study that is not an
/// ImagingStudy is [`ErrorKind::CorruptStored`].
pub fn merge_study(existing: Option<&Value>, fragments: &[Value]) -> Result<Value, DicomError> {
    fhir::merge::merge_study(existing, fragments)
}

/// [`merge_study`] taking the existing study by value: no copy of a large study.
pub fn merge_study_owned(existing: Option<Value>, fragments: &[Value]) -> Result<Value, DicomError> {
    fhir::merge::merge_study_owned(existing, fragments)
}

/// Removes instances by SOP Instance UID; `None` when the study is left empty.
pub fn remove_instances(study: &Value, sop_instance_uids: &[&str]) -> Result<Option<Value>, DicomError> {
    fhir::merge::remove_instances(study, sop_instance_uids)
}

/// [`remove_instances`] taking the study by value (no copy).
pub fn remove_instances_owned(study: Value, sop_instance_uids: &[&str]) -> Result<Option<Value>, DicomError> {
    fhir::merge::remove_instances_owned(study, sop_instance_uids)
}

/// QIDO-RS step 1: validates a query (a bad one is [`ErrorKind::InvalidInput`]) and returns the
/// FHIR narrowing plan (see the `qido` module documentation for the request JSON).
pub fn qido_plan(request: &Value) -> Result<Value, DicomError> {
    qido::plan(request)
}

/// The QIDO index's tag set: the defaults ([`qido::DEFAULT_INDEXED`]) plus `extra` (keywords or
/// 8 hex digits), as `{"set": "<16 hex digits>", "tags": ["00081010", ...], "maxValueChars": 64}`;
/// an entry that is no standard attribute matchable by value is [`ErrorKind::InvalidInput`].
pub fn qido_indexed_tags(extra: &[String]) -> Result<Value, DicomError> {
    let (set, tags) = qido::indexed_tags(extra)?;
    let tags: Vec<String> = tags.iter().map(|t| format!("{t:08X}")).collect();
    Ok(serde_json::json!({"set": set, "tags": tags, "maxValueChars": qido::MAX_VALUE_CHARS}))
}

/// An instance's values of the QIDO index's tags (defaults plus `extra`; entries
/// [`qido_indexed_tags`] refuses are left out), from its one parse, for its ledger row:
/// `{"set": "<16 hex digits>", "values": [["00081010", "<normalised value>"], ...]}`.
pub fn qido_instance_index(parsed: &ParsedInstance, extra: &[String]) -> Value {
    let valid: Vec<String> = extra.iter().filter(|e| qido::indexed_tags(std::slice::from_ref(*e)).is_ok()).cloned().collect();
    match qido::indexed_tags(&valid) {
        Ok((set, tags)) => qido::instance_index(parsed, &set, &tags),
        Err(_) => unreachable!("the defaults and the entries checked one by one resolve"),
    }
}

/// The tags indexed for QIDO without configuration (keywords).
pub fn qido_default_indexed_tags() -> &'static [&'static str] {
    qido::DEFAULT_INDEXED
}

/// QIDO-RS, between the steps: the values of one stored instance the answer needs (the plan's
/// `stored` selection: its `tags`, or every attribute when `all`), as DICOM JSON text.
pub fn qido_stored_values(bytes: &[u8], stored: &Value) -> Result<String, DicomError> {
    qido::stored_values(bytes, stored)
}

/// QIDO-RS step 2: the DICOM JSON result array for the candidate ImagingStudy (+ Patient)
/// resources.
pub fn qido_query(request: &Value, candidates: &Value) -> Result<Value, DicomError> {
    qido::query(request, candidates)
}

/// The constants a binding reads once instead of declaring them again:
/// `{"explicitVrLittleEndian": uid, "dicomBinaryTag": {"system", "code"}, "extensions": {"instanceBinary", "instanceAttributes",
/// "dicomAttributes", "otherAttributes"}, "stowFailureReasons": {"<name>": code, ..}}` (the extension URLs of
/// [`EXT_INSTANCE_BINARY`] etc., and each [`FailureReason`] by its name with its code).
pub fn constants() -> Value {
    let reasons: serde_json::Map<String, Value> =
        FailureReason::ALL.iter().map(|r| (r.name().to_owned(), Value::from(r.code()))).collect();
    serde_json::json!({
        "stowFailureReasons": reasons,
        "explicitVrLittleEndian": EXPLICIT_VR_LITTLE_ENDIAN,
        "dicomBinaryTag": {
            "system": study_ext::DICOM_BINARY_TAG_SYSTEM,
            "code": study_ext::DICOM_BINARY_TAG_CODE,
        },
        "extensions": {
            "instanceBinary": EXT_INSTANCE_BINARY,
            "instanceAttributes": EXT_INSTANCE_ATTRIBUTES,
            "dicomAttributes": EXT_DICOM_ATTRIBUTES,
            "otherAttributes": study_ext::OTHER_ATTRIBUTES,
        },
    })
}

/// STOW-RS response (status and DICOM JSON data set) for the request JSON of [`StowOutcome`];
/// a request that does not deserialize is [`ErrorKind::InvalidInput`]. See [`stow_response`].
pub fn stow_response_json(outcome: &Value) -> Result<Value, DicomError> {
    let outcome = <StowOutcome as serde::Deserialize>::deserialize(outcome)
        .map_err(|e| DicomError::new(ErrorKind::InvalidInput, format!("STOW-RS outcome: {e}")))?;
    Ok(stow_response(&outcome))
}

/// Lowercase hex SHA-256 of the exact bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Not part of the contract: internals the crate's own integration tests compare against.
#[doc(hidden)]
pub mod __private {
    pub use crate::json::le_bytes;
    pub use crate::qido::{records, SeriesRecord, StudyRecord};
}

#[cfg(test)]
mod tests {
    #[test]
    fn constants_name_the_core_values() {
        let c = super::constants();
        assert_eq!(c["explicitVrLittleEndian"], super::EXPLICIT_VR_LITTLE_ENDIAN);
        assert_eq!(c["extensions"]["instanceBinary"], super::EXT_INSTANCE_BINARY);
        assert_eq!(c["dicomBinaryTag"]["code"], "dicom");
        assert_eq!(c["extensions"]["instanceAttributes"], super::EXT_INSTANCE_ATTRIBUTES);
        assert_eq!(c["extensions"]["dicomAttributes"], super::EXT_DICOM_ATTRIBUTES);
        assert_eq!(c["stowFailureReasons"]["patientConflict"], 0xC409);
        assert_eq!(c["stowFailureReasons"]["processingFailure"], 0x0110);
        assert_eq!(c["stowFailureReasons"].as_object().unwrap().len(), super::FailureReason::ALL.len());
    }

    #[test]
    fn stow_response_json_reads_the_request() {
        let r = super::stow_response_json(&serde_json::json!({
            "serviceBase": "http://h", "studyUid": "1.2",
            "failures": [{"reason": "studyUidMismatch", "sopInstanceUid": "1.3"}]
        }))
        .unwrap();
        assert_eq!(r["status"], 409);
        assert_eq!(r["body"]["00081198"]["Value"][0]["00081197"]["Value"][0], 0xA901);
        let e = super::stow_response_json(&serde_json::json!({"failures": [{"reason": 5}]})).unwrap_err();
        assert_eq!(e.kind(), super::ErrorKind::InvalidInput);
    }
}
