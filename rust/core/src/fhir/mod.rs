//! FHIR R4 derivation from a parsed DICOM instance (ImagingStudy fragment, Patient) and the
//! merge/remove of instances in an ImagingStudy. Mapping decisions are listed in
//! `docs/architecture.md` ("FHIR mapping decisions").

pub mod datetime;
pub mod imaging_study;
pub mod merge;
pub mod name;
pub mod patient;

use serde_json::{json, Map, Value};

use crate::parse::{ItemView, ParsedInstance};
use crate::DeriveOptions;
pub use crate::study_ext::{EXT_DICOM_ATTRIBUTES, EXT_INSTANCE_ATTRIBUTES, EXT_INSTANCE_BINARY};
use dicom_dictionary_std::tags;

pub const DCM_SYSTEM: &str = "http://dicom.nema.org/resources/ontology/DCM";
pub const SNOMED_SYSTEM: &str = "http://snomed.info/sct";
pub const STUDY_UID_SYSTEM: &str = "urn:dicom:uid";
pub const V2_0203_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
/// Marks a required element the DICOM file does not give (a Coding without a code).
pub const DATA_ABSENT_REASON: &str = "http://hl7.org/fhir/StructureDefinition/data-absent-reason";
pub const RFC3986_SYSTEM: &str = "urn:ietf:rfc:3986";
pub const DEFAULT_PATIENT_ID_SYSTEM: &str = "urn:dicom:patient-id";
/// Used when PatientID is empty: one Patient per study, stable across re-uploads.
pub const STUDY_PATIENT_SYSTEM: &str = "urn:dicom:study-patient";
/// Prefix for coding schemes we cannot name with a URI (local "99..." designators).
pub const LOCAL_CODING_SCHEME_PREFIX: &str = "urn:dicom:coding-scheme:";
/// Prefix for a non-URI IssuerOfPatientID (a local namespace name).
pub const LOCAL_ISSUER_PREFIX: &str = "urn:dicom:patient-id:";
/// FHIR core extension telling which PN group (ABC/IDE/SYL) a HumanName is.
pub const EXT_EN_REPRESENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";

/// Largest value of FHIR `unsignedInt`.
pub const UNSIGNED_INT_MAX: i64 = 2_147_483_647;

/// Builds the `parse` result JSON of the native contract.
pub fn derive(parsed: &ParsedInstance, options: &DeriveOptions) -> Value {
    let mut warnings: Vec<String> = parsed.warnings().to_vec();
    let default_tz = match options.default_timezone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(tz) => match datetime::offset(tz) {
            Ok(tz) => Some(tz),
            Err(e) => {
                warnings.push(format!(
                    "defaultTimezone: {e}; dates are emitted without time"
                ));
                None
            }
        },
    };
    let study = imaging_study::fragment(parsed, default_tz.as_deref(), &mut warnings);
    let (patient, patient_identifier) = patient::patient(parsed, options, &mut warnings);
    json!({
        "sha256": parsed.sha256(),
        "size": parsed.size(),
        "studyInstanceUid": parsed.study_instance_uid(),
        "seriesInstanceUid": parsed.series_instance_uid(),
        "sopInstanceUid": parsed.sop_instance_uid(),
        "sopClassUid": parsed.sop_class_uid(),
        "transferSyntaxUid": parsed.transfer_syntax_uid(),
        "patientIdentifier": patient_identifier,
        "warnings": warnings,
        "imagingStudy": study,
        "patient": patient,
    })
}

/// FHIR `oid` value space: `[0-2](\.(0|[1-9][0-9]*))+`.
pub fn is_oid(s: &str) -> bool {
    let mut parts = s.split('.');
    match parts.next() {
        Some("0" | "1" | "2") => {}
        _ => return false,
    }
    let mut n = 0;
    for p in parts {
        n += 1;
        let ok = !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p == "0" || !p.starts_with('0'));
        if !ok {
            return false;
        }
    }
    n > 0
}

/// An absolute URI as FHIR accepts it in `uri` elements: `scheme:rest`, no whitespace.
/// `urn:oid:` and `urn:uuid:` must carry a valid OID/UUID (the validator checks those).
pub fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme.len() >= 2 // excludes Windows drive letters such as C:
        && scheme.as_bytes()[0].is_ascii_alphabetic()
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.');
    if !scheme_ok || rest.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if let Some(oid) = lower.strip_prefix("urn:oid:") {
        return is_oid(oid);
    }
    if let Some(uuid) = lower.strip_prefix("urn:uuid:") {
        return is_uuid(uuid);
    }
    true
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A system URI for an HL7 v2 style issuer (Universal Entity ID + type, or a bare value):
/// ISO → `urn:oid:`, UUID → `urn:uuid:`, URI kept; anything else is not a URI.
pub fn issuer_uri(id: &str, id_type: Option<&str>) -> Option<String> {
    let id = id.trim();
    if id.is_empty() {
        return None;
    }
    match id_type.map(|t| t.trim().to_ascii_uppercase()).as_deref() {
        Some("UUID") if is_uuid(&id.to_ascii_lowercase()) => {
            return Some(format!("urn:uuid:{}", id.to_ascii_lowercase()))
        }
        _ => {}
    }
    if is_oid(id) {
        Some(format!("urn:oid:{id}"))
    } else if is_uri(id) {
        Some(id.to_string())
    } else {
        None
    }
}

/// Issuer of an identifier from an HL7v2 Hierarchic Designator item
/// (IssuerOfAccessionNumberSequence, IssuerOfPatientIDQualifiersSequence):
/// `(system, local namespace name)`.
pub fn hierarchic_designator(item: &ItemView<'_>) -> (Option<String>, Option<String>) {
    let universal = item
        .string(tags::UNIVERSAL_ENTITY_ID)
        .and_then(|id| issuer_uri(&id, item.string(tags::UNIVERSAL_ENTITY_ID_TYPE).as_deref()));
    let local = item.string(tags::LOCAL_NAMESPACE_ENTITY_ID);
    match universal {
        Some(system) => (Some(system), local),
        None => match local.as_deref().and_then(|l| issuer_uri(l, None)) {
            Some(system) => (Some(system), None),
            None => (None, local),
        },
    }
}

/// FHIR system for a DICOM Coding Scheme Designator (PS3.16 Table 8-1 for the common ones;
/// the data set's CodingSchemeIdentificationSequence for the rest; else a stable local URN).
pub fn coding_system(designator: &str, schemes: &[ItemView<'_>]) -> String {
    let known = match designator {
        "DCM" => Some(DCM_SYSTEM),
        "SCT" => Some(SNOMED_SYSTEM),
        "SRT" => Some("http://snomed.info/srt"),
        "LN" => Some("http://loinc.org"),
        "UCUM" => Some("http://unitsofmeasure.org"),
        "RADLEX" => Some("http://www.radlex.org"),
        "C4" | "C5" => Some("http://www.ama-assn.org/go/cpt"),
        "I10" => Some("http://hl7.org/fhir/sid/icd-10"),
        "I9C" => Some("http://hl7.org/fhir/sid/icd-9-cm"),
        "MDC" => Some("urn:iso:std:iso:11073:10101"),
        "UMLS" => Some("http://www.nlm.nih.gov/research/umls"),
        _ => None,
    };
    if let Some(k) = known {
        return k.to_string();
    }
    for s in schemes {
        if s.string(tags::CODING_SCHEME_DESIGNATOR).as_deref() != Some(designator) {
            continue;
        }
        if let Some(url) = s.string(tags::CODING_SCHEME_URL).filter(|u| is_uri(u)) {
            return url;
        }
        if let Some(uid) = s.string(tags::CODING_SCHEME_UID).filter(|u| is_oid(u)) {
            return format!("urn:oid:{uid}");
        }
    }
    if is_oid(designator) {
        return format!("urn:oid:{designator}");
    }
    format!("{LOCAL_CODING_SCHEME_PREFIX}{}", pct_encode(designator))
}

/// A Coding from a DICOM Code Sequence item; `None` without a code value.
pub fn coding_from_item(item: &ItemView<'_>, schemes: &[ItemView<'_>]) -> Option<Value> {
    let code = item
        .string(tags::CODE_VALUE)
        .or_else(|| item.string(tags::LONG_CODE_VALUE))
        .or_else(|| item.string(tags::URN_CODE_VALUE))?;
    let mut c = Map::new();
    if let Some(d) = item.string(tags::CODING_SCHEME_DESIGNATOR) {
        c.insert("system".into(), coding_system(&d, schemes).into());
        if let Some(v) = item.string(tags::CODING_SCHEME_VERSION) {
            c.insert("version".into(), v.into());
        }
    }
    c.insert("code".into(), code.into());
    if let Some(m) = item.string(tags::CODE_MEANING) {
        c.insert("display".into(), m.into());
    }
    Some(Value::Object(c))
}

/// A CodeableConcept from a Code Sequence item (text only when the item has no code).
pub fn concept_from_item(item: &ItemView<'_>, schemes: &[ItemView<'_>]) -> Option<Value> {
    match coding_from_item(item, schemes) {
        Some(c) => Some(json!({ "coding": [c] })),
        None => item
            .string(tags::CODE_MEANING)
            .map(|m| json!({ "text": m })),
    }
}

/// Adds a derivation warning unless the parse layer already reported a problem with the
/// same attribute (its warnings start with the keyword too), so each problem is told once.
pub fn warn(warnings: &mut Vec<String>, keyword: &str, message: String) {
    let told = warnings.iter().any(|w| {
        w.strip_prefix(keyword)
            .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with(':'))
    });
    if !told {
        warnings.push(message);
    }
}

/// A non-negative DICOM integer that fits FHIR `unsignedInt`, else a warning.
pub fn unsigned(value: Option<i64>, keyword: &str, warnings: &mut Vec<String>) -> Option<i64> {
    let v = value?;
    if (0..=UNSIGNED_INT_MAX).contains(&v) {
        Some(v)
    } else {
        warn(
            warnings,
            keyword,
            format!("{keyword}: {v} is out of range for FHIR unsignedInt; omitted"),
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids() {
        assert!(is_oid("1.2.840.10008.1.2.1"));
        assert!(is_oid("2.25.0"));
        assert!(!is_oid("1"));
        assert!(!is_oid("3.1"));
        assert!(!is_oid("1.02"));
        assert!(!is_oid("1..2"));
        assert!(!is_oid("1.2."));
    }

    #[test]
    fn uris() {
        assert!(is_uri("http://example.org/x"));
        assert!(is_uri("urn:oid:1.2.3"));
        assert!(is_uri("urn:uuid:123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uri("urn:oid:1.02"));
        assert!(!is_uri("urn:uuid:nope"));
        assert!(!is_uri("HOSPITAL"));
        assert!(!is_uri("C:\\dir"));
        assert!(!is_uri("http://a b"));
        assert!(!is_uri("1.2.3"));
    }

    #[test]
    fn issuers() {
        assert_eq!(
            issuer_uri("1.2.3", Some("ISO")).as_deref(),
            Some("urn:oid:1.2.3")
        );
        assert_eq!(issuer_uri("1.2.3", None).as_deref(), Some("urn:oid:1.2.3"));
        assert_eq!(
            issuer_uri("123E4567-E89B-12D3-A456-426614174000", Some("UUID")).as_deref(),
            Some("urn:uuid:123e4567-e89b-12d3-a456-426614174000")
        );
        assert_eq!(
            issuer_uri("https://h.example/ids", Some("URI")).as_deref(),
            Some("https://h.example/ids")
        );
        assert_eq!(issuer_uri("HOSP", None), None);
        assert_eq!(issuer_uri("  ", None), None);
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(pct_encode("HOSP A/é"), "HOSP%20A%2F%C3%A9");
        assert_eq!(pct_encode("a-b.c_d~"), "a-b.c_d~");
    }

    #[test]
    fn genders() {
        assert_eq!(patient::gender("M"), "male");
        assert_eq!(patient::gender("f "), "female");
        assert_eq!(patient::gender("O"), "other");
        assert_eq!(patient::gender("U"), "unknown");
    }

    #[test]
    fn warnings_are_told_once() {
        let mut w = vec!["StudyDate (0008,0020): invalid date 'x'".to_string()];
        warn(&mut w, "StudyDate", "StudyDate: again".into());
        warn(&mut w, "StudyTime", "StudyTime: bad".into());
        warn(&mut w, "Study", "Study: other".into());
        assert_eq!(w.len(), 3);
    }
}
