//! The ImagingStudy fragment of one instance (FHIR R4 ImagingStudy ↔ DICOM mapping, PS3.17).

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use serde_json::{json, Map, Value};

use super::*;
use crate::parse::ParsedInstance;

/// ImagingStudy holding only this instance; no id/subject/endpoint (the caller owns those).
pub fn fragment(p: &ParsedInstance, default_tz: Option<&str>, warnings: &mut Vec<String>) -> Value {
    let schemes = p.items(tags::CODING_SCHEME_IDENTIFICATION_SEQUENCE);
    let zone = zone(p, default_tz, warnings);
    let mut s = Map::new();
    s.insert("resourceType".into(), "ImagingStudy".into());
    let kept = crate::study_ext::attributes_extension(p, crate::attributes::Level::Study);
    s.insert("extension".into(), json!([kept]));

    let mut identifiers = vec![study_identifier(p.study_instance_uid())];
    let accession = accession_identifier(p);
    if let Some(a) = &accession {
        identifiers.push(a.clone());
    }
    s.insert("identifier".into(), identifiers.into());
    s.insert("status".into(), "available".into());

    let modality = modality(p, warnings);
    if modality.get("code").is_some() {
        s.insert("modality".into(), json!([modality.clone()]));
    }
    if let Some(started) = started(
        p,
        tags::STUDY_DATE,
        tags::STUDY_TIME,
        "StudyDate",
        zone.as_deref(),
        warnings,
    ) {
        s.insert("started".into(), started.into());
    }
    if let Some(a) = accession {
        s.insert(
            "basedOn".into(),
            json!([{ "type": "ServiceRequest", "identifier": a }]),
        );
    }
    if let Some(d) = p
        .person_name(tags::REFERRING_PHYSICIAN_NAME)
        .as_ref()
        .and_then(super::name::display)
    {
        s.insert("referrer".into(), json!({ "display": d }));
    }
    s.insert("numberOfSeries".into(), 1.into());
    s.insert("numberOfInstances".into(), 1.into());
    let procedures: Vec<Value> = p
        .items(tags::PROCEDURE_CODE_SEQUENCE)
        .iter()
        .filter_map(|i| concept_from_item(i, &schemes))
        .collect();
    if !procedures.is_empty() {
        s.insert("procedureCode".into(), procedures.into());
    }
    if let Some(d) = p.string(tags::STUDY_DESCRIPTION) {
        s.insert("description".into(), d.into());
    }
    s.insert(
        "series".into(),
        json!([series(p, modality, zone.as_deref(), &schemes, warnings)]),
    );
    Value::Object(s)
}

pub fn study_identifier(study_uid: &str) -> Value {
    json!({ "system": STUDY_UID_SYSTEM, "value": format!("urn:oid:{study_uid}") })
}

fn accession_identifier(p: &ParsedInstance) -> Option<Value> {
    let value = p.string(tags::ACCESSION_NUMBER)?;
    let mut id = Map::new();
    id.insert(
        "type".into(),
        json!({ "coding": [{ "system": V2_0203_SYSTEM, "code": "ACSN" }] }),
    );
    let (system, local) = p
        .items(tags::ISSUER_OF_ACCESSION_NUMBER_SEQUENCE)
        .first()
        .map(hierarchic_designator)
        .unwrap_or((None, None));
    if let Some(system) = system {
        id.insert("system".into(), system.into());
    }
    id.insert("value".into(), value.into());
    // A local namespace name is not a URI; it still tells who assigned the number.
    if let Some(local) = local {
        id.insert("assigner".into(), json!({ "display": local }));
    }
    Some(Value::Object(id))
}

fn zone(
    p: &ParsedInstance,
    default_tz: Option<&str>,
    warnings: &mut Vec<String>,
) -> Option<String> {
    if let Some(tz) = p.string(tags::TIMEZONE_OFFSET_FROM_UTC) {
        match datetime::offset(&tz) {
            Ok(z) => return Some(z),
            Err(e) => warn(
                warnings,
                "TimezoneOffsetFromUTC",
                format!("TimezoneOffsetFromUTC: {e}; ignored"),
            ),
        }
    }
    default_tz.map(str::to_string)
}

fn started(
    p: &ParsedInstance,
    date_tag: Tag,
    time_tag: Tag,
    keyword: &str,
    zone: Option<&str>,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let da = p.string(date_tag)?;
    let d = match datetime::date(&da) {
        Ok(d) => d,
        Err(e) => {
            warn(warnings, keyword, format!("{keyword}: {e}; omitted"));
            return None;
        }
    };
    let (Some(tm), Some(z)) = (p.string(time_tag), zone) else {
        return Some(d);
    };
    match datetime::time(&tm) {
        Ok(t) => Some(format!("{d}T{t}{z}")),
        Err(e) => {
            let time_keyword = keyword.replace("Date", "Time");
            warn(
                warnings,
                &time_keyword,
                format!("{time_keyword}: {e}; only the date is used"),
            );
            Some(d)
        }
    }
}

fn modality(p: &ParsedInstance, warnings: &mut Vec<String>) -> Value {
    if let Some(code) = p.string(tags::MODALITY) {
        return json!({ "system": DCM_SYSTEM, "code": code });
    }
    // Series.modality is 1..1 in R4. A Coding without a code, marked data-absent, keeps the
    // resource valid without inventing a modality ("OT" would be found by modality searches and
    // reported as ModalitiesInStudy, which the file does not say).
    warnings.push("Modality: absent (Type 1); series.modality is marked data-absent".into());
    json!({
        "system": DCM_SYSTEM,
        "extension": [{ "url": DATA_ABSENT_REASON, "valueCode": "unknown" }],
    })
}

fn series(
    p: &ParsedInstance,
    modality: Value,
    zone: Option<&str>,
    schemes: &[crate::parse::ItemView<'_>],
    warnings: &mut Vec<String>,
) -> Value {
    let mut s = Map::new();
    let kept = crate::study_ext::attributes_extension(p, crate::attributes::Level::Series);
    s.insert("extension".into(), json!([kept]));
    s.insert("uid".into(), p.series_instance_uid().into());
    if let Some(n) = unsigned(
        int(p, tags::SERIES_NUMBER, "SeriesNumber", warnings),
        "SeriesNumber",
        warnings,
    ) {
        s.insert("number".into(), n.into());
    }
    s.insert("modality".into(), modality);
    if let Some(d) = p.string(tags::SERIES_DESCRIPTION) {
        s.insert("description".into(), d.into());
    }
    s.insert("numberOfInstances".into(), 1.into());
    if let Some(b) = body_site(p, schemes) {
        s.insert("bodySite".into(), b);
    }
    if let Some(l) = laterality(p) {
        s.insert("laterality".into(), l);
    }
    if let Some(st) = started(
        p,
        tags::SERIES_DATE,
        tags::SERIES_TIME,
        "SeriesDate",
        zone,
        warnings,
    ) {
        s.insert("started".into(), st.into());
    }
    s.insert("instance".into(), json!([instance(p, warnings)]));
    Value::Object(s)
}

/// AnatomicRegionSequence carries a real code; BodyPartExamined is a DICOM defined term
/// we do not translate to SNOMED (display only) to avoid guessing a wrong concept.
fn body_site(p: &ParsedInstance, schemes: &[crate::parse::ItemView<'_>]) -> Option<Value> {
    if let Some(c) = p
        .items(tags::ANATOMIC_REGION_SEQUENCE)
        .first()
        .and_then(|i| coding_from_item(i, schemes))
    {
        return Some(c);
    }
    p.string(tags::BODY_PART_EXAMINED)
        .map(|b| json!({ "display": b }))
}

fn laterality(p: &ParsedInstance) -> Option<Value> {
    let l = p
        .string(tags::LATERALITY)
        .or_else(|| p.string(tags::IMAGE_LATERALITY))?;
    let (code, display) = match l.to_ascii_uppercase().as_str() {
        "R" => ("24028007", "Right"),
        "L" => ("7771000", "Left"),
        "B" => ("51440002", "Right and left"),
        _ => return None, // U (unpaired) has no laterality
    };
    Some(json!({ "system": SNOMED_SYSTEM, "code": code, "display": display }))
}

fn instance(p: &ParsedInstance, warnings: &mut Vec<String>) -> Value {
    let mut attrs: Vec<Value> = Vec::new();
    let ts = p.transfer_syntax_uid();
    if is_oid(ts) {
        attrs.push(json!({ "url": "transferSyntax", "valueOid": format!("urn:oid:{ts}") }));
    } else {
        warnings.push(format!(
            "TransferSyntaxUID: '{ts}' is not a valid OID; not recorded in FHIR"
        ));
    }
    let size = i64::try_from(p.size()).ok();
    let numbers = [
        ("size", size, "size"),
        ("rows", p.int(tags::ROWS), "Rows"),
        ("columns", p.int(tags::COLUMNS), "Columns"),
        (
            "bitsAllocated",
            p.int(tags::BITS_ALLOCATED),
            "BitsAllocated",
        ),
        (
            "numberOfFrames",
            int(p, tags::NUMBER_OF_FRAMES, "NumberOfFrames", warnings),
            "NumberOfFrames",
        ),
    ];
    for (url, v, keyword) in numbers {
        if let Some(v) = unsigned(v, keyword, warnings) {
            attrs.push(json!({ "url": url, "valueUnsignedInt": v }));
        }
    }
    let mut extensions = vec![json!({
        "url": EXT_INSTANCE_BINARY,
        "valueReference": { "reference": format!("Binary/{}", p.sha256()) }
    })];
    if !attrs.is_empty() {
        extensions.push(json!({ "url": EXT_INSTANCE_ATTRIBUTES, "extension": attrs }));
    }
    let mut i = Map::new();
    i.insert("extension".into(), extensions.into());
    i.insert("uid".into(), p.sop_instance_uid().into());
    i.insert(
        "sopClass".into(),
        json!({ "system": RFC3986_SYSTEM, "code": format!("urn:oid:{}", p.sop_class_uid()) }),
    );
    if let Some(n) = unsigned(
        int(p, tags::INSTANCE_NUMBER, "InstanceNumber", warnings),
        "InstanceNumber",
        warnings,
    ) {
        i.insert("number".into(), n.into());
    }
    let title = p.string(tags::DOCUMENT_TITLE).or_else(|| {
        p.items(tags::CONCEPT_NAME_CODE_SEQUENCE)
            .first()
            .and_then(|c| c.string(tags::CODE_MEANING))
    });
    if let Some(t) = title {
        i.insert("title".into(), t.into());
    }
    Value::Object(i)
}

/// An integer attribute; a present but non-integer value is reported, not silently dropped.
fn int(p: &ParsedInstance, tag: Tag, keyword: &str, warnings: &mut Vec<String>) -> Option<i64> {
    let v = p.int(tag);
    if v.is_none() {
        if let Some(s) = p.string(tag) {
            warn(
                warnings,
                keyword,
                format!("{keyword}: '{s}' is not an integer; omitted"),
            );
        }
    }
    v
}
