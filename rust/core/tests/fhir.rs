//! FHIR derivation and ImagingStudy merge on real DICOM files from `.data`
//! (run `scripts/fetch-test-data.sh` first). Expected values were checked with pydicom 3.0.2.

use std::path::PathBuf;
use std::time::Instant;

use dicom_fhir_core::{merge_study, merge_study_owned, parse_instance, remove_instances, DeriveOptions};
use serde_json::{json, Value};

fn data(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.data")
        .join(rel);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/fetch-test-data.sh", path.display()))
}

fn parse(rel: &str) -> Value {
    parse_instance(&data(rel), &DeriveOptions::default()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn parse_with(rel: &str, options: &str) -> Value {
    let o: DeriveOptions = serde_json::from_str(options).unwrap();
    parse_instance(&data(rel), &o).unwrap()
}

const CT_STUDY: &str = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
const CT_SERIES: &str = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322";
const CT_SOP: &str = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322";
const CT_SHA: &str = "3dd31e5cc835b3f2cdd46c9da1982f59251e78518fefa8163d914631c66437d6";

#[test]
fn ct_small_parse_result() {
    let r = parse("pydicom/CT_small.dcm");
    assert_eq!(r["sha256"], CT_SHA);
    assert_eq!(r["size"], 39206);
    assert_eq!(r["studyInstanceUid"], CT_STUDY);
    assert_eq!(r["seriesInstanceUid"], CT_SERIES);
    assert_eq!(r["sopInstanceUid"], CT_SOP);
    assert_eq!(r["sopClassUid"], "1.2.840.10008.5.1.4.1.1.2");
    assert_eq!(r["transferSyntaxUid"], "1.2.840.10008.1.2.1");
    assert_eq!(
        r["patientIdentifier"],
        json!({"system": "urn:dicom:patient-id", "value": "1CT1"})
    );
    assert!(r["warnings"].is_array());
}

#[test]
fn ct_small_imaging_study_field_by_field() {
    let s = &parse("pydicom/CT_small.dcm")["imagingStudy"];
    assert_eq!(s["resourceType"], "ImagingStudy");
    // AccessionNumber is empty: no accession identifier and no basedOn.
    assert_eq!(
        s["identifier"],
        json!([{"system": "urn:dicom:uid", "value": format!("urn:oid:{CT_STUDY}")}])
    );
    assert!(s.get("basedOn").is_none());
    assert_eq!(s["status"], "available");
    assert_eq!(
        s["modality"],
        json!([{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}])
    );
    // StudyDate 20040119, StudyTime 072730, TimezoneOffsetFromUTC -0500
    assert_eq!(s["started"], "2004-01-19T07:27:30-05:00");
    assert!(
        s.get("referrer").is_none(),
        "ReferringPhysicianName is empty"
    );
    assert!(s.get("procedureCode").is_none());
    assert_eq!(s["numberOfSeries"], 1);
    assert_eq!(s["numberOfInstances"], 1);
    assert_eq!(s["description"], "e+1");
    let series = &s["series"][0];
    assert_eq!(s["series"].as_array().unwrap().len(), 1);
    assert_eq!(series["uid"], CT_SERIES);
    assert_eq!(series["number"], 1);
    assert_eq!(series["modality"]["code"], "CT");
    assert!(series.get("description").is_none());
    assert_eq!(series["numberOfInstances"], 1);
    assert!(series.get("bodySite").is_none());
    assert!(series.get("laterality").is_none(), "Laterality is empty");
    // SeriesDate 19970430, SeriesTime 112749
    assert_eq!(series["started"], "1997-04-30T11:27:49-05:00");
    let inst = &series["instance"][0];
    assert_eq!(
        inst,
        &json!({
            "extension": [
                {"url": "http://dicomfhir.org/fhir/StructureDefinition/instance-binary",
                 "valueReference": {"reference": format!("Binary/{CT_SHA}")}},
                {"url": "http://dicomfhir.org/fhir/StructureDefinition/instance-attributes",
                 "extension": [
                     {"url": "transferSyntax", "valueOid": "urn:oid:1.2.840.10008.1.2.1"},
                     {"url": "size", "valueUnsignedInt": 39206},
                     {"url": "rows", "valueUnsignedInt": 128},
                     {"url": "columns", "valueUnsignedInt": 128},
                     {"url": "bitsAllocated", "valueUnsignedInt": 16}]}],
            "uid": CT_SOP,
            "sopClass": {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"},
            "number": 1
        })
    );
    assert!(s.get("subject").is_none() && s.get("id").is_none() && s.get("endpoint").is_none());
}

#[test]
fn ct_small_patient() {
    let r = parse("pydicom/CT_small.dcm");
    assert_eq!(
        r["patient"],
        json!({
            "resourceType": "Patient",
            "identifier": [{"system": "urn:dicom:patient-id", "value": "1CT1"}],
            "name": [{"text": "CT1 CompressedSamples", "family": "CompressedSamples", "given": ["CT1"]}],
            "gender": "other"
        })
    );
    assert_eq!(r["patient"]["identifier"][0], r["patientIdentifier"]);
}

#[test]
fn configured_patient_identifier_system() {
    let r = parse_with(
        "pydicom/CT_small.dcm",
        r#"{"patientIdentifierSystem": "http://hospital.example/mrn"}"#,
    );
    assert_eq!(
        r["patientIdentifier"],
        json!({"system": "http://hospital.example/mrn", "value": "1CT1"})
    );
}

#[test]
fn default_timezone_only_when_the_file_has_none() {
    // JPGLosslessP14SV1: StudyDate 20190124, StudyTime 113933, no TimezoneOffsetFromUTC.
    let f = "pydicom-data/JPGLosslessP14SV1_1s_1f_8b.dcm";
    assert_eq!(parse(f)["imagingStudy"]["started"], "2019-01-24");
    assert_eq!(
        parse_with(f, r#"{"defaultTimezone": "+01:00"}"#)["imagingStudy"]["started"],
        "2019-01-24T11:39:33+01:00"
    );
    // CT_small's own offset wins over the default.
    let ct = parse_with("pydicom/CT_small.dcm", r#"{"defaultTimezone": "+01:00"}"#);
    assert_eq!(ct["imagingStudy"]["started"], "2004-01-19T07:27:30-05:00");
    let bad = parse_with(f, r#"{"defaultTimezone": "CET"}"#);
    assert_eq!(bad["imagingStudy"]["started"], "2019-01-24");
    assert!(bad["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().starts_with("defaultTimezone")));
}

#[test]
fn procedure_code_with_a_local_coding_scheme() {
    // (0008,1032) item: 2501 / SIEMENS_RIS / ECHOCARDIOGRAM
    let s = &parse("pydicom-data/JPGLosslessP14SV1_1s_1f_8b.dcm")["imagingStudy"];
    assert_eq!(
        s["procedureCode"],
        json!([{"coding": [{"system": "urn:dicom:coding-scheme:SIEMENS_RIS", "code": "2501", "display": "ECHOCARDIOGRAM"}]}])
    );
}

#[test]
fn accession_laterality_body_part_patient_details() {
    let r = parse("pydicom-data/RG3_UNCR.dcm");
    let s = &r["imagingStudy"];
    let acsn = json!({"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]},
                      "value": "FUJI95706"});
    assert_eq!(s["identifier"][1], acsn);
    assert_eq!(
        s["basedOn"],
        json!([{"type": "ServiceRequest", "identifier": acsn}])
    );
    assert_eq!(s["started"], "2004-08-26T18:50:59-04:00");
    assert_eq!(s["description"], "Non-ossifying fibroma of distal tibia");
    assert_eq!(s["modality"][0]["code"], "CR");
    let series = &s["series"][0];
    assert_eq!(series["bodySite"], json!({"display": "EXTREMITY"}));
    assert_eq!(
        series["laterality"],
        json!({"system": "http://snomed.info/sct", "code": "24028007", "display": "Right"})
    );
    assert!(series.get("started").is_none(), "no SeriesDate");
    let p = &r["patient"];
    assert_eq!(p["gender"], "female");
    assert_eq!(p["birthDate"], "1979-04-08");
    assert_eq!(
        p["identifier"],
        json!([{"system": "urn:dicom:patient-id", "value": "11RG3"}])
    );
}

#[test]
fn referrer_title_and_frames() {
    let sr = &parse("pydicom/reportsi.dcm")["imagingStudy"];
    assert_eq!(sr["referrer"], json!({"display": "First Name Last Name"}));
    assert!(sr.get("started").is_none(), "StudyDate is empty");
    assert_eq!(sr["series"][0]["instance"][0]["title"], "Document Title");
    assert_eq!(sr["modality"][0]["code"], "SR");

    let mr = &parse("pydicom-data/emri_small.dcm")["imagingStudy"];
    let attrs = &mr["series"][0]["instance"][0]["extension"][1]["extension"];
    assert!(attrs
        .as_array()
        .unwrap()
        .contains(&json!({"url": "numberOfFrames", "valueUnsignedInt": 10})));
    assert_eq!(mr["series"][0]["bodySite"]["display"], "HEAD");

    let sc = &parse("pydicom-data/SC_rgb.dcm")["imagingStudy"];
    assert_eq!(sc["referrer"]["display"], "James Moriarty");
}

fn names(rel: &str) -> Value {
    parse(rel)["patient"]["name"].clone()
}

fn rep(code: &str) -> Value {
    json!([{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": code}])
}

#[test]
fn japanese_iso_2022_names() {
    // chrH31: Yamada^Tarou=山田^太郎=やまだ^たろう, ISO 2022 IR 87
    assert_eq!(
        names("pydicom-charset/chrH31.dcm"),
        json!([
            {"extension": rep("ABC"), "text": "Tarou Yamada", "family": "Yamada", "given": ["Tarou"]},
            {"extension": rep("IDE"), "text": "山田 太郎", "family": "山田", "given": ["太郎"]},
            {"extension": rep("SYL"), "text": "やまだ たろう", "family": "やまだ", "given": ["たろう"]}
        ])
    );
}

#[test]
fn chinese_utf8_and_gb18030_names() {
    // chrX1 (ISO_IR 192): Wang^XiaoDong=王^小東; chrX2 (GB18030): Wang^XiaoDong=王^小东
    for (f, given) in [
        ("pydicom-charset/chrX1.dcm", "小東"),
        ("pydicom-charset/chrX2.dcm", "小东"),
    ] {
        assert_eq!(
            names(f),
            json!([
                {"extension": rep("ABC"), "text": "XiaoDong Wang", "family": "Wang", "given": ["XiaoDong"]},
                {"extension": rep("IDE"), "text": format!("王 {given}"), "family": "王", "given": [given]}
            ]),
            "{f}"
        );
    }
}

#[test]
fn korean_iso_2022_names() {
    // chrKoreanMulti: 김희중 (no component separator: all family)
    let r = parse("pydicom-charset/chrKoreanMulti.dcm");
    assert_eq!(
        r["patient"]["name"],
        json!([{"text": "김희중", "family": "김희중"}])
    );
    assert_eq!(r["patient"]["birthDate"], "1800-01-01");
    // chrI2: Hong^Gildong=洪^吉洞=홍^길동
    let n = names("pydicom-charset/chrI2.dcm");
    assert_eq!(n[1]["family"], "洪");
    assert_eq!(n[1]["given"], json!(["吉洞"]));
    assert_eq!(n[2]["family"], "홍");
    assert_eq!(n[2]["given"], json!(["길동"]));
}

#[test]
fn not_dicom_is_an_error() {
    assert!(parse_instance(b"this is not DICOM at all", &DeriveOptions::default()).is_err());
}

// ---------- merge / remove ----------

fn to_string(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

const STUDY: &str = "1.2.826.0.1.3680043.8.498.1";

/// A fragment shaped like `parse` output.
fn frag(
    series: &str,
    series_no: Option<u64>,
    sop: &str,
    inst_no: Option<u64>,
    modality: &str,
) -> Value {
    let mut s = json!({"uid": series, "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": modality},
                       "numberOfInstances": 1,
                       "instance": [{"extension": [{"url": "http://dicomfhir.org/fhir/StructureDefinition/instance-binary",
                                                    "valueReference": {"reference": format!("Binary/{:0>64}", sop.replace('.', ""))}}],
                                     "uid": sop, "sopClass": {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}}]});
    if let Some(n) = series_no {
        s["number"] = n.into();
    }
    if let Some(n) = inst_no {
        s["instance"][0]["number"] = n.into();
    }
    json!({"resourceType": "ImagingStudy",
           "identifier": [{"system": "urn:dicom:uid", "value": format!("urn:oid:{STUDY}")}],
           "status": "available", "modality": [s["modality"].clone()],
           "numberOfSeries": 1, "numberOfInstances": 1, "series": [s]})
}

/// Points the fragment's one instance at another Binary (other bytes, same SOP Instance UID).
fn set_binary(fragment: &mut Value, id: &str) {
    fragment["series"][0]["instance"][0]["extension"][0]["valueReference"]["reference"] =
        format!("Binary/{id:0>64}").into();
}

/// Instances of one series that disagree on study and series values (real data does: the
/// pydicom corpus has a study whose instances differ in InstitutionName). Which values show is
/// decided by the uploads of new instances; sending stored instances again, in any order, is a
/// no-op (the ImagingStudy is not rewritten), and only fills values a FHIR client removed.
#[test]
fn a_reupload_in_any_order_changes_nothing_and_fills_what_is_missing() {
    let mut a = frag("1.2.3.1", Some(1), "1.2.3.1.1", Some(1), "CT");
    a["description"] = "from a".into();
    a["series"][0]["description"] = "series a".into();
    let mut b = frag("1.2.3.1", Some(1), "1.2.3.1.2", Some(2), "CT");
    b["description"] = "from b".into();
    b["series"][0]["description"] = "series b".into();
    let stored = merge_study(None, &[a.clone(), b.clone()]).unwrap();
    assert_eq!(stored["description"], "from b", "the latest new instance wins");
    for again in [vec![a.clone()], vec![b.clone(), a.clone()], vec![a.clone(), b.clone()]] {
        assert_eq!(to_string(&merge_study(Some(&stored), &again).unwrap()), to_string(&stored));
    }
    // a FHIR client dropped the description and the series description: a re-upload fills them
    let mut edited = stored.clone();
    edited.as_object_mut().unwrap().remove("description");
    edited["series"][0].as_object_mut().unwrap().remove("description");
    let healed = merge_study(Some(&edited), &[a.clone()]).unwrap();
    assert_eq!(healed["description"], "from a");
    assert_eq!(healed["series"][0]["description"], "series a");
    // a new instance still brings its values
    let mut c = frag("1.2.3.1", Some(1), "1.2.3.1.3", Some(3), "CT");
    c["description"] = "from c".into();
    assert_eq!(merge_study(Some(&stored), &[c]).unwrap()["description"], "from c");
}

fn instance_uids(study: &Value) -> Vec<Vec<String>> {
    study["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["instance"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["uid"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn merge_real_fragment_is_idempotent() {
    let f = parse("pydicom/CT_small.dcm")["imagingStudy"].clone();
    let once = merge_study(None, std::slice::from_ref(&f)).unwrap();
    assert_eq!(
        once, f,
        "a single fragment merged into nothing is the fragment"
    );
    let twice = merge_study(Some(&once), std::slice::from_ref(&f)).unwrap();
    assert_eq!(to_string(&once), to_string(&twice));
    let both = merge_study(None, &[f.clone(), f]).unwrap();
    assert_eq!(to_string(&once), to_string(&both));
}

#[test]
fn merge_two_real_studies_is_refused() {
    let a = parse("pydicom/CT_small.dcm")["imagingStudy"].clone();
    let b = parse("pydicom/MR_small.dcm")["imagingStudy"].clone();
    let e = merge_study(Some(&a), &[b]).unwrap_err();
    assert!(e.message().contains("belongs to study"), "{e}");
}

#[test]
fn merge_orders_series_and_instances_and_recounts() {
    let frags = vec![
        frag("1.2.3.10", None, "1.2.3.10.1", Some(1), "SR"),
        frag("1.2.3.2", Some(2), "1.2.3.2.10", Some(10), "MR"),
        frag("1.2.3.1", Some(1), "1.2.3.1.9", None, "CT"),
        frag("1.2.3.2", Some(2), "1.2.3.2.2", Some(2), "MR"),
        frag("1.2.3.9", None, "1.2.3.9.1", Some(1), "CT"),
        frag("1.2.3.1", Some(1), "1.2.3.1.10", None, "CT"),
        frag("1.2.3.1", Some(1), "1.2.3.1.5", Some(7), "CT"),
    ];
    let s = merge_study(None, &frags).unwrap();
    let series: Vec<&str> = s["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["uid"].as_str().unwrap())
        .collect();
    // numbered series first by number, then unnumbered by UID compared numerically (9 < 10)
    assert_eq!(series, ["1.2.3.1", "1.2.3.2", "1.2.3.9", "1.2.3.10"]);
    assert_eq!(
        instance_uids(&s)[0],
        ["1.2.3.1.5", "1.2.3.1.9", "1.2.3.1.10"],
        "instance 7 first, then unnumbered by UID"
    );
    assert_eq!(instance_uids(&s)[1], ["1.2.3.2.2", "1.2.3.2.10"]);
    assert_eq!(s["numberOfSeries"], 4);
    assert_eq!(s["numberOfInstances"], 7);
    assert_eq!(s["series"][0]["numberOfInstances"], 3);
    let modalities: Vec<&str> = s["modality"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap())
        .collect();
    assert_eq!(modalities, ["CT", "MR", "SR"], "distinct, in series order");
    // reversed input order gives the same bytes
    let mut rev = frags.clone();
    rev.reverse();
    assert_eq!(to_string(&s), to_string(&merge_study(None, &rev).unwrap()));
}

#[test]
fn merge_keeps_fields_it_does_not_own() {
    let base = merge_study(
        None,
        &[frag("1.2.3.1", Some(1), "1.2.3.1.1", Some(1), "CT")],
    )
    .unwrap();
    let mut edited = base.clone();
    edited["id"] = "study-1".into();
    edited["meta"] = json!({"versionId": "3"});
    edited["subject"] = json!({"reference": "Patient/p1"});
    edited["endpoint"] = json!([{"reference": "Endpoint/e1"}]);
    edited["note"] = json!([{"text": "reviewed"}]);
    edited["interpreter"] = json!([{"display": "Dr. Who"}]);
    edited["extension"] = json!([{"url": "http://example.org/x", "valueString": "kept"}]);
    edited["identifier"].as_array_mut().unwrap().insert(
        0,
        json!({"system": "http://example.org/ids", "value": "X1"}),
    );
    edited["basedOn"] = json!([{"reference": "ServiceRequest/sr1"}]);
    edited["description"] = "user description".into();
    edited["series"][0]["performer"] = json!([{"actor": {"display": "Tech"}}]);
    edited["series"][0]["instance"][0]["extension"]
        .as_array_mut()
        .unwrap()
        .push(json!({"url": "http://example.org/flag", "valueBoolean": true}));
    edited["series"][0]["instance"][0]["id"] = "i1".into();

    // same instance again, plus a new one carrying an accession number and a description
    let mut second = frag("1.2.3.1", Some(1), "1.2.3.1.2", Some(2), "CT");
    let acsn = json!({"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]}, "value": "A7"});
    second["identifier"]
        .as_array_mut()
        .unwrap()
        .push(acsn.clone());
    second["basedOn"] = json!([{"type": "ServiceRequest", "identifier": acsn}]);
    let m = merge_study(
        Some(&edited),
        &[
            frag("1.2.3.1", Some(1), "1.2.3.1.1", Some(1), "CT"),
            second.clone(),
        ],
    )
    .unwrap();

    for k in [
        "id",
        "meta",
        "subject",
        "endpoint",
        "note",
        "interpreter",
        "extension",
    ] {
        assert_eq!(m[k], edited[k], "{k}");
    }
    // user's description survives fragments that carry none
    assert_eq!(m["description"], "user description");
    assert_eq!(
        m["identifier"],
        json!([{"system": "http://example.org/ids", "value": "X1"},
               {"system": "urn:dicom:uid", "value": format!("urn:oid:{STUDY}")},
               acsn])
    );
    assert_eq!(
        m["basedOn"],
        json!([{"reference": "ServiceRequest/sr1"}, {"type": "ServiceRequest", "identifier": acsn}])
    );
    assert_eq!(
        m["series"][0]["performer"],
        edited["series"][0]["performer"]
    );
    let i1 = &m["series"][0]["instance"][0];
    assert_eq!(i1["id"], "i1");
    assert_eq!(i1["extension"].as_array().unwrap().len(), 2);
    assert_eq!(i1["extension"][1]["url"], "http://example.org/flag");
    assert_eq!(m["numberOfInstances"], 2);

    // a corrected instance (other bytes under its SOP Instance UID, as `replace-instances`
    // allows) replaces our accession in place; merging it again changes nothing
    let mut third = second.clone();
    set_binary(&mut third, "c0rrected");
    third["identifier"][1]["value"] = "A8".into();
    third["basedOn"][0]["identifier"]["value"] = "A8".into();
    let m2 = merge_study(Some(&m), &[third.clone()]).unwrap();
    assert_eq!(m2["identifier"][2]["value"], "A8");
    assert_eq!(m2["identifier"].as_array().unwrap().len(), 3);
    assert_eq!(m2["basedOn"].as_array().unwrap().len(), 2);
    assert_eq!(
        to_string(&m2),
        to_string(&merge_study(Some(&m2), &[third]).unwrap())
    );
}

#[test]
fn fragment_values_win_for_owned_fields() {
    let a = frag("1.2.3.1", Some(1), "1.2.3.1.1", Some(1), "CT");
    let mut b = frag("1.2.3.1", Some(4), "1.2.3.1.1", Some(3), "CT");
    set_binary(&mut b, "c0rrected"); // other bytes under the same SOP Instance UID
    b["description"] = "new".into();
    b["series"][0]["description"] = "series new".into();
    let m = merge_study(Some(&merge_study(None, &[a]).unwrap()), &[b]).unwrap();
    assert_eq!(m["description"], "new");
    assert_eq!(m["series"][0]["number"], 4);
    assert_eq!(m["series"][0]["description"], "series new");
    assert_eq!(m["series"][0]["instance"][0]["number"], 3);
    assert_eq!(m["numberOfInstances"], 1);
}

#[test]
fn remove_instances_drops_empty_series_and_recounts() {
    let s = merge_study(
        None,
        &[
            frag("1.2.3.1", Some(1), "1.2.3.1.1", Some(1), "CT"),
            frag("1.2.3.1", Some(1), "1.2.3.1.2", Some(2), "CT"),
            frag("1.2.3.2", Some(2), "1.2.3.2.1", Some(1), "PR"),
        ],
    )
    .unwrap();
    let r = remove_instances(&s, &["1.2.3.2.1", "1.9.9"])
        .unwrap()
        .unwrap();
    assert_eq!(r["numberOfSeries"], 1);
    assert_eq!(r["numberOfInstances"], 2);
    assert_eq!(
        r["modality"],
        json!([{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}])
    );
    let r = remove_instances(&r, &["1.2.3.1.1"]).unwrap().unwrap();
    assert_eq!(instance_uids(&r), [["1.2.3.1.2"]]);
    assert_eq!(r["series"][0]["numberOfInstances"], 1);
    assert_eq!(remove_instances(&r, &["1.2.3.1.2"]).unwrap(), None);
    // removing nothing changes nothing
    assert_eq!(
        to_string(&remove_instances(&s, &[]).unwrap().unwrap()),
        to_string(&s)
    );
}

#[test]
fn two_thousand_instances_one_by_one_equals_all_at_once() {
    // 20 series x 100 instances, delivered in a scrambled order.
    let mut frags = Vec::new();
    for k in 0..2000u64 {
        let j = (k * 7919) % 2000; // a permutation of 0..2000
        let (series, inst) = (j % 20, j / 20);
        frags.push(frag(
            &format!("1.2.3.{series}"),
            Some(series + 1),
            &format!("1.2.3.{series}.{inst}"),
            Some(inst + 1),
            if series % 2 == 0 { "CT" } else { "MR" },
        ));
    }
    let t = Instant::now();
    let all = merge_study(None, &frags).unwrap();
    let t_all = t.elapsed();

    // One by one as the JNI layer does it: the study it parsed is handed over, not copied.
    let t = Instant::now();
    let mut one: Option<Value> = None;
    for f in &frags {
        one = Some(merge_study_owned(one.take(), std::slice::from_ref(f)).unwrap());
    }
    let t_one = t.elapsed();

    let mut chunked: Option<Value> = None;
    for c in frags.chunks(500) {
        chunked = Some(merge_study(chunked.as_ref(), c).unwrap());
    }
    let (one, chunked) = (one.unwrap(), chunked.unwrap());
    assert_eq!(to_string(&all), to_string(&one));
    assert_eq!(to_string(&all), to_string(&chunked));
    assert_eq!(all["numberOfInstances"], 2000);
    assert_eq!(all["numberOfSeries"], 20);
    assert_eq!(
        instance_uids(&all)[3][..3],
        ["1.2.3.3.0", "1.2.3.3.1", "1.2.3.3.2"]
    );
    // re-merging everything into the full study is a no-op
    assert_eq!(
        to_string(&all),
        to_string(&merge_study(Some(&all), &frags).unwrap())
    );
    eprintln!("2000 fragments: all at once {t_all:?}, one by one {t_one:?}");
    // generous bounds (debug build): the point is to catch quadratic behaviour
    assert!(t_all.as_secs_f64() < 3.0, "all at once took {t_all:?}");
    assert!(t_one.as_secs_f64() < 60.0, "one by one took {t_one:?}");
}

#[test]
fn merging_one_instance_into_a_big_study_is_fast() {
    let frags: Vec<Value> = (0..2000u64)
        .map(|k| {
            frag(
                &format!("1.2.3.{}", k % 20),
                Some(k % 20 + 1),
                &format!("1.2.3.{}.{}", k % 20, k / 20),
                Some(k / 20 + 1),
                "CT",
            )
        })
        .collect();
    let all = merge_study(None, &frags).unwrap();
    let extra = frag("1.2.3.5", Some(6), "1.2.3.5.999", Some(999), "CT");
    let t = Instant::now();
    for _ in 0..10 {
        let m = merge_study(Some(&all), std::slice::from_ref(&extra)).unwrap();
        assert_eq!(m["numberOfInstances"], 2001);
    }
    let per_call = t.elapsed() / 10;
    eprintln!("one instance into 2000: {per_call:?} per call");
    assert!(per_call.as_secs_f64() < 1.0, "{per_call:?}");
}

// ---------- synthetic instances for attributes the corpus lacks ----------

mod synth {
    use dicom_core::value::DataSetSequence;
    use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
    use dicom_dictionary_std::tags;
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

    pub const STUDY: &str = "1.2.826.0.1.3680043.8.498.77";

    pub fn s(o: &mut InMemDicomObject, tag: Tag, vr: VR, v: &str) {
        o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    }

    pub fn item(pairs: &[(Tag, VR, &str)]) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        for (t, vr, v) in pairs {
            s(&mut o, *t, *vr, v);
        }
        o
    }

    pub fn sq(o: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
        o.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
    }

    /// A minimal valid Secondary Capture header plus whatever `extra` adds.
    pub fn bytes(extra: impl FnOnce(&mut InMemDicomObject)) -> Vec<u8> {
        let mut o = InMemDicomObject::new_empty();
        s(&mut o, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
        s(
            &mut o,
            tags::SOP_CLASS_UID,
            VR::UI,
            "1.2.840.10008.5.1.4.1.1.7",
        );
        s(
            &mut o,
            tags::SOP_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.8.498.77.1.1",
        );
        s(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, STUDY);
        s(
            &mut o,
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.8.498.77.1",
        );
        s(&mut o, tags::MODALITY, VR::CS, "OT");
        s(&mut o, tags::PATIENT_ID, VR::LO, "P1");
        extra(&mut o);
        let f = o
            .with_meta(FileMetaTableBuilder::new().transfer_syntax("1.2.840.10008.1.2.1"))
            .unwrap();
        let mut out = Vec::new();
        f.write_all(&mut out).unwrap();
        out
    }
}

fn parse_synth(extra: impl FnOnce(&mut dicom_object::InMemDicomObject)) -> Value {
    parse_instance(&synth::bytes(extra), &DeriveOptions::default()).unwrap()
}

#[test]
fn patient_identifier_systems() {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    let id = |issuer: Option<&str>| {
        parse_synth(|o| {
            if let Some(i) = issuer {
                synth::s(o, tags::ISSUER_OF_PATIENT_ID, VR::LO, i);
            }
        })["patientIdentifier"]
            .clone()
    };
    assert_eq!(
        id(None),
        json!({"system": "urn:dicom:patient-id", "value": "P1"})
    );
    assert_eq!(
        id(Some("1.2.840.113619.6.1")),
        json!({"system": "urn:oid:1.2.840.113619.6.1", "value": "P1"})
    );
    assert_eq!(
        id(Some("https://hospital.example/mrn")),
        json!({"system": "https://hospital.example/mrn", "value": "P1"})
    );
    assert_eq!(
        id(Some("HOSP A")),
        json!({"system": "urn:dicom:patient-id:HOSP%20A", "value": "P1", "assigner": {"display": "HOSP A"}})
    );
    // the qualifiers' universal entity id wins over a local issuer name
    let q = parse_synth(|o| {
        synth::s(o, tags::ISSUER_OF_PATIENT_ID, VR::LO, "HOSPA");
        synth::sq(
            o,
            tags::ISSUER_OF_PATIENT_ID_QUALIFIERS_SEQUENCE,
            vec![synth::item(&[
                (tags::UNIVERSAL_ENTITY_ID, VR::UT, "2.16.840.1.113883.3.1"),
                (tags::UNIVERSAL_ENTITY_ID_TYPE, VR::CS, "ISO"),
            ])],
        );
    });
    assert_eq!(
        q["patientIdentifier"],
        json!({"system": "urn:oid:2.16.840.1.113883.3.1", "value": "P1", "assigner": {"display": "HOSPA"}})
    );
    // no PatientID: one Patient per study, same identifier on every re-upload
    let empty = parse_synth(|o| synth::s(o, tags::PATIENT_ID, VR::LO, ""));
    assert_eq!(
        empty["patientIdentifier"],
        json!({"system": "urn:dicom:study-patient", "value": synth::STUDY})
    );
    assert_eq!(
        empty["patient"]["identifier"][0],
        empty["patientIdentifier"]
    );
}

/// PatientID and IssuerOfPatientID take one value. A file that holds several (`A\B`) is not
/// guessed to mean its first one: the whole text names the patient, so `VICTIM1\x` can never
/// be filed under the Patient `VICTIM1`.
#[test]
fn patient_id_with_several_values_is_never_cut_to_the_first() {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    let id = parse_synth(|o| synth::s(o, tags::PATIENT_ID, VR::LO, "VICTIM1\\x"))["patientIdentifier"].clone();
    assert_eq!(id, json!({"system": "urn:dicom:patient-id", "value": "VICTIM1\\x"}));
    let issuer = parse_synth(|o| synth::s(o, tags::ISSUER_OF_PATIENT_ID, VR::LO, "HOSP A\\HOSP B"))["patientIdentifier"].clone();
    assert_eq!(issuer["system"], json!("urn:dicom:patient-id:HOSP%20A%5CHOSP%20B"));
    // characters that mean something in a FHIR search are data
    for hostile in ["NONE,VICTIM1", "VICTIM1|x", "$VICTIM1", "*", "%56ICTIM1"] {
        let id = parse_synth(|o| synth::s(o, tags::PATIENT_ID, VR::LO, hostile))["patientIdentifier"].clone();
        assert_eq!(id["value"], json!(hostile));
    }
}

#[test]
fn patient_gender_and_birth_date() {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    let p = |sex: &str, dob: &str| {
        let r = parse_synth(|o| {
            synth::s(o, tags::PATIENT_SEX, VR::CS, sex);
            synth::s(o, tags::PATIENT_BIRTH_DATE, VR::DA, dob);
        });
        (r["patient"].clone(), r["warnings"].clone())
    };
    let (m, _) = p("M", "19700101");
    assert_eq!(
        (m["gender"].as_str(), m["birthDate"].as_str()),
        (Some("male"), Some("1970-01-01"))
    );
    assert_eq!(p("F", "").0["gender"], "female");
    assert_eq!(p("X", "").0["gender"], "unknown");
    assert!(p("", "").0.get("gender").is_none(), "absent sex: no gender");
    let (bad, warnings) = p("O", "19701301");
    assert!(bad.get("birthDate").is_none());
    assert!(
        warnings
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("PatientBirthDate")),
        "{warnings}"
    );
}

#[test]
fn accession_issuer_procedure_codes_and_coded_body_site() {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    let r = parse_synth(|o| {
        synth::s(o, tags::ACCESSION_NUMBER, VR::SH, "ACC-1");
        synth::sq(
            o,
            tags::ISSUER_OF_ACCESSION_NUMBER_SEQUENCE,
            vec![synth::item(&[(
                tags::LOCAL_NAMESPACE_ENTITY_ID,
                VR::UT,
                "RIS",
            )])],
        );
        synth::sq(
            o,
            tags::PROCEDURE_CODE_SEQUENCE,
            vec![
                synth::item(&[
                    (tags::CODE_VALUE, VR::SH, "24627-2"),
                    (tags::CODING_SCHEME_DESIGNATOR, VR::SH, "LN"),
                    (tags::CODE_MEANING, VR::LO, "Chest CT"),
                ]),
                synth::item(&[
                    (tags::CODE_VALUE, VR::SH, "X1"),
                    (tags::CODING_SCHEME_DESIGNATOR, VR::SH, "99LOCAL"),
                    (tags::CODE_MEANING, VR::LO, "Local"),
                ]),
            ],
        );
        synth::sq(
            o,
            tags::CODING_SCHEME_IDENTIFICATION_SEQUENCE,
            vec![synth::item(&[
                (tags::CODING_SCHEME_DESIGNATOR, VR::SH, "99LOCAL"),
                (tags::CODING_SCHEME_UID, VR::UI, "1.2.3.4.5"),
            ])],
        );
        synth::sq(
            o,
            tags::ANATOMIC_REGION_SEQUENCE,
            vec![synth::item(&[
                (tags::CODE_VALUE, VR::SH, "51185008"),
                (tags::CODING_SCHEME_DESIGNATOR, VR::SH, "SCT"),
                (tags::CODE_MEANING, VR::LO, "Chest"),
            ])],
        );
        synth::s(o, tags::BODY_PART_EXAMINED, VR::CS, "CHEST");
        synth::s(o, tags::IMAGE_LATERALITY, VR::CS, "B");
        synth::s(o, tags::DOCUMENT_TITLE, VR::ST, "Scanned request");
        synth::s(o, tags::REFERRING_PHYSICIAN_NAME, VR::PN, "Smith^Anne^^Dr.");
        synth::s(o, tags::SERIES_NUMBER, VR::IS, "-3");
    });
    let s = &r["imagingStudy"];
    let acsn = json!({"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]},
                      "value": "ACC-1", "assigner": {"display": "RIS"}});
    assert_eq!(s["identifier"][1], acsn);
    assert_eq!(s["basedOn"][0]["identifier"], acsn);
    assert_eq!(
        s["procedureCode"],
        json!([{"coding": [{"system": "http://loinc.org", "code": "24627-2", "display": "Chest CT"}]},
               {"coding": [{"system": "urn:oid:1.2.3.4.5", "code": "X1", "display": "Local"}]}])
    );
    assert_eq!(s["referrer"], json!({"display": "Dr. Anne Smith"}));
    let series = &s["series"][0];
    assert_eq!(
        series["bodySite"],
        json!({"system": "http://snomed.info/sct", "code": "51185008", "display": "Chest"})
    );
    assert_eq!(series["laterality"]["code"], "51440002");
    assert!(
        series.get("number").is_none(),
        "negative SeriesNumber cannot be an unsignedInt"
    );
    assert_eq!(series["instance"][0]["title"], "Scanned request");
    assert!(r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().starts_with("SeriesNumber")));
}

#[test]
fn absent_modality_is_marked_not_invented() {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    let out = parse_synth(|o| synth::s(o, tags::MODALITY, VR::CS, ""));
    let study = &out["imagingStudy"];
    // no modality code a search or ModalitiesInStudy could find
    assert_eq!(
        study["series"][0]["modality"],
        json!({"system": "http://dicom.nema.org/resources/ontology/DCM",
               "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                              "valueCode": "unknown"}]})
    );
    assert!(study.get("modality").is_none(), "{study}");
    let present = parse_synth(|_| {});
    assert_eq!(present["imagingStudy"]["modality"][0]["code"], "OT");
}

#[test]
fn kept_dicom_attributes_follow_the_latest_instance_and_leave_other_extensions() {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    const URL: &str = "http://dicomfhir.org/fhir/StructureDefinition/dicom-attributes";
    let first = parse_synth(|o| synth::s(o, tags::STUDY_DESCRIPTION, VR::LO, "First"))["imagingStudy"].clone();
    let mut existing = dicom_fhir_core::merge_study(None, &[first]).unwrap();
    existing["extension"]
        .as_array_mut()
        .unwrap()
        .push(json!({"url": "http://example.org/other", "valueString": "kept"}));
    let second = parse_synth(|o| synth::s(o, tags::STUDY_DESCRIPTION, VR::LO, "Second"))["imagingStudy"].clone();
    let merged = dicom_fhir_core::merge_study(Some(&existing), &[second]).unwrap();
    let exts = merged["extension"].as_array().unwrap();
    let ours: Vec<&Value> = exts.iter().filter(|e| e["url"] == URL).collect();
    assert_eq!(ours.len(), 1, "{merged}");
    assert!(ours[0]["extension"]
        .as_array()
        .unwrap()
        .contains(&json!({"url": "StudyDescription", "valueString": "Second"})));
    assert!(exts.contains(&json!({"url": "http://example.org/other", "valueString": "kept"})));
    // each series keeps its own values
    assert_eq!(merged["series"][0]["extension"][0]["url"], URL);
}

/// Each error says what kind it is, so bindings answer 4xx for the caller's mistakes and 5xx
/// for the server's (see `ErrorKind`).
#[test]
fn errors_carry_their_kind() {
    use dicom_fhir_core::{qido_plan, ErrorKind};
    // ingest: not an instance
    let e = parse_instance(b"garbage", &DeriveOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    // ingest: a valid instance in a transfer syntax nobody knows
    let mut ct = data("pydicom/CT_small.dcm");
    let ts = b"1.2.840.10008.1.2.1";
    let at = ct.windows(ts.len()).position(|w| w == ts).expect("CT_small is Explicit VR LE");
    ct[at + ts.len() - 1] = b'7';
    let e = parse_instance(&ct, &DeriveOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.message().contains("unsupported transfer syntax"), "{e}");
    // merge: a stored study that is not an ImagingStudy is corrupt, a bad fragment is not
    let e = merge_study(Some(&json!({"resourceType": "Patient"})), &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CorruptStored, "{e}");
    let e = remove_instances(&json!([]), &["1.2.3"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CorruptStored, "{e}");
    let e = merge_study(None, &[json!("not a study")]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    // QIDO: a malformed query
    let e = qido_plan(&json!({"level": "study", "params": [["StudyInstanceUID", "not a uid!"]]})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

#[test]
fn qido_stored_values_are_the_selected_tags_of_a_stored_instance() {
    let bytes = data("pydicom/CT_small.dcm");
    let stored = serde_json::json!({"tags": ["00180050", "00280030", "7FE00010x"], "all": false});
    let kept: serde_json::Value =
        serde_json::from_str(&dicom_fhir_core::qido_stored_values(&bytes, &stored).unwrap()).unwrap();
    let keys: Vec<&String> = kept.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["00180050", "00280030"], "the selected tags the instance has, nothing else");
    assert_eq!(kept["00180050"]["vr"], "DS");
    let all: serde_json::Value = serde_json::from_str(
        &dicom_fhir_core::qido_stored_values(&bytes, &serde_json::json!({"tags": [], "all": true})).unwrap(),
    )
    .unwrap();
    assert!(all.as_object().unwrap().len() > 50, "includefield=all: every attribute");
    // what a careless or hostile store holds: not DICOM, cut short, a selection that is not one
    for garbage in [&b"not dicom"[..], &bytes[..bytes.len() / 3]] {
        let e = dicom_fhir_core::qido_stored_values(garbage, &stored).unwrap_err();
        assert_eq!(e.kind(), dicom_fhir_core::ErrorKind::CorruptStored, "{e}");
    }
    let odd = dicom_fhir_core::qido_stored_values(&bytes, &serde_json::json!({"tags": "00180050"})).unwrap();
    assert_eq!(odd, "{}");
}
