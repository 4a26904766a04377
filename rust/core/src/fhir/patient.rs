//! The Patient of one instance and the identifier it is matched by.

use dicom_dictionary_std::tags;
use serde_json::{json, Map, Value};

use super::*;
use crate::parse::ParsedInstance;

/// `(Patient, patientIdentifier)`; the identifier is the Patient's first (and only) one.
pub fn patient(
    p: &ParsedInstance,
    options: &DeriveOptions,
    warnings: &mut Vec<String>,
) -> (Value, Value) {
    let identifier = identifier(p, options);
    let mut pt = Map::new();
    pt.insert("resourceType".into(), "Patient".into());
    pt.insert("identifier".into(), json!([identifier.clone()]));
    if let Some(pn) = p.person_name(tags::PATIENT_NAME) {
        let names = name::human_names(&pn);
        if !names.is_empty() {
            pt.insert("name".into(), names.into());
        }
    }
    if let Some(sex) = p.string(tags::PATIENT_SEX) {
        pt.insert("gender".into(), gender(&sex).into());
    }
    if let Some(da) = p.string(tags::PATIENT_BIRTH_DATE) {
        match datetime::date(&da) {
            Ok(d) => {
                pt.insert("birthDate".into(), d.into());
            }
            Err(e) => warn(
                warnings,
                "PatientBirthDate",
                format!("PatientBirthDate: {e}; omitted"),
            ),
        }
    }
    (Value::Object(pt), identifier)
}

/// PatientSex → AdministrativeGender (present but unrecognised → unknown).
pub fn gender(sex: &str) -> &'static str {
    match sex.trim().to_ascii_uppercase().as_str() {
        "M" => "male",
        "F" => "female",
        "O" => "other",
        _ => "unknown",
    }
}

/// The whole text of a single-valued attribute, even when a (broken) file gives it several
/// values: `VICTIM1\x` names the patient `VICTIM1\x`, never `VICTIM1` (a prefix would file the
/// images under another patient). None when empty.
fn whole_text(p: &ParsedInstance, tag: dicom_core::Tag) -> Option<String> {
    let values = p.strings(tag);
    let text = values.join("\\");
    (!text.trim().is_empty()).then(|| text.trim().to_string())
}

/// PatientID with its system: the issuer's universal id (qualifiers sequence), else
/// IssuerOfPatientID when it is an OID or URI, else a URN naming the local issuer, else the
/// configured default. No PatientID → a per-study identifier so re-uploads stay idempotent.
pub fn identifier(p: &ParsedInstance, options: &DeriveOptions) -> Value {
    let Some(value) = whole_text(p, tags::PATIENT_ID) else {
        return json!({ "system": STUDY_PATIENT_SYSTEM, "value": p.study_instance_uid() });
    };
    let qualifiers = p.items(tags::ISSUER_OF_PATIENT_ID_QUALIFIERS_SEQUENCE);
    let universal = qualifiers.first().and_then(|q| {
        let id = q.string(tags::UNIVERSAL_ENTITY_ID)?;
        issuer_uri(&id, q.string(tags::UNIVERSAL_ENTITY_ID_TYPE).as_deref())
    });
    let issuer = whole_text(p, tags::ISSUER_OF_PATIENT_ID);
    let (system, assigner) = match (universal, issuer) {
        (Some(system), issuer) => (system, issuer.filter(|i| issuer_uri(i, None).is_none())),
        (None, Some(issuer)) => match issuer_uri(&issuer, None) {
            Some(system) => (system, None),
            // Namespaced by the issuer so equal IDs from two issuers never name one Patient.
            None => (
                format!("{LOCAL_ISSUER_PREFIX}{}", pct_encode(&issuer)),
                Some(issuer),
            ),
        },
        (None, None) => (
            options
                .patient_identifier_system
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or(DEFAULT_PATIENT_ID_SYSTEM)
                .to_string(),
            None,
        ),
    };
    let mut id = Map::new();
    id.insert("system".into(), system.into());
    id.insert("value".into(), value.into());
    if let Some(a) = assigner {
        id.insert("assigner".into(), json!({ "display": a }));
    }
    Value::Object(id)
}
