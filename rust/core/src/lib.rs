//! dicom-fhir core: every DICOM rule of the project lives here, once.
//! Bindings (JNI, Python, CLI) call this crate and add no logic of their own.
//! The public API below is the contract described in `docs/architecture.md`.

pub mod fhir;
pub mod parse;
pub mod json;
pub mod qido;
pub mod bulkdata;
pub mod frames;
mod charset;

use serde_json::Value;

/// Why an input was rejected. The message is meant for the uploader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DicomError(pub String);

impl std::fmt::Display for DicomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for DicomError {}

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

/// Parses a Part-10 instance and returns the `parse` result JSON of the contract.
pub fn parse_instance(bytes: &[u8], options: &DeriveOptions) -> Result<Value, DicomError> {
    let parsed = parse::parse(bytes)?;
    Ok(fhir::derive(&parsed, options))
}

/// Merges ImagingStudy fragments into an existing ImagingStudy (or a new one).
pub fn merge_study(existing: Option<&Value>, fragments: &[Value]) -> Result<Value, DicomError> {
    fhir::merge::merge_study(existing, fragments)
}

/// Removes instances by SOP Instance UID; `None` when the study is left empty.
pub fn remove_instances(study: &Value, sop_instance_uids: &[&str]) -> Result<Option<Value>, DicomError> {
    fhir::merge::remove_instances(study, sop_instance_uids)
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
