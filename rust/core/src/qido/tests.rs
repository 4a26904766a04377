use serde_json::{json, Value};

use crate::qido::matching::wildcard;
use crate::qido::plan::{plan, shift_day};
use crate::qido::query::norm_time;
use crate::qido::response::query;

fn study(uid: &str, started: &str, modality: &str, family: &str) -> Value {
    json!({"imagingStudy": {
        "resourceType": "ImagingStudy",
        "identifier": [{"system": "urn:dicom:uid", "value": format!("urn:oid:{uid}")},
                       {"type": {"coding": [{"code": "ACSN"}]}, "value": "ACC1"}],
        "started": started,
        "description": "Head",
        "series": [{"uid": format!("{uid}.1"), "number": 1, "modality": {"code": modality},
                    "instance": [
                        {"uid": format!("{uid}.1.1"), "number": 1, "sopClass": {"code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"},
                         "extension": [{"url": "http://dicomfhir.org/fhir/StructureDefinition/instance-attributes",
                            "extension": [{"url": "rows", "valueUnsignedInt": 512}, {"url": "columns", "valueUnsignedInt": 256},
                                          {"url": "transferSyntax", "valueOid": "urn:oid:1.2.840.10008.1.2.1"}]}]},
                        {"uid": format!("{uid}.1.2"), "number": 2, "sopClass": {"code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}}]},
                   {"uid": format!("{uid}.2"), "number": 2, "modality": {"code": "SR"},
                    "instance": [{"uid": format!("{uid}.2.1"), "number": 1, "sopClass": {"code": "urn:oid:1.2.3"}}]}]},
        "patient": {"resourceType": "Patient", "name": [{"family": family, "given": ["John", "Q"]}],
                    "identifier": [{"system": "urn:dicom:patient-id", "value": "PID1"}],
                    "birthDate": "1970-01-02", "gender": "male"}})
}

fn candidates() -> Value {
    json!([
        study("1.2.3", "2020-05-06T10:11:12+01:00", "CT", "Doe"),
        study("1.2.4", "2021-01-01", "MR", "Smith"),
    ])
}

fn run(level: &str, params: &[(&str, &str)]) -> Value {
    let req = json!({"level": level, "params": params.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                     "retrieveBase": "http://h/dw/", "maxResults": 100});
    query(&req, &candidates()).unwrap()
}

fn uids(result: &Value, tag: &str) -> Vec<String> {
    result["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[tag]["Value"][0].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn study_level_required_attributes() {
    let r = run("study", &[]);
    assert_eq!(r["total"], 2);
    let m = &r["matches"][0];
    assert_eq!(m["0020000D"]["Value"][0], "1.2.3");
    assert_eq!(m["00080020"]["Value"][0], "20200506");
    assert_eq!(m["00080030"]["Value"][0], "101112");
    assert_eq!(m["00080050"]["Value"][0], "ACC1");
    assert_eq!(m["00080061"]["Value"], json!(["CT", "SR"]));
    assert_eq!(m["00100010"]["Value"][0]["Alphabetic"], "Doe^John^Q");
    assert_eq!(m["00100020"]["Value"][0], "PID1");
    assert_eq!(m["00100030"]["Value"][0], "19700102");
    assert_eq!(m["00100040"]["Value"][0], "M");
    assert_eq!(m["00201206"]["Value"][0], 2);
    assert_eq!(m["00201208"]["Value"][0], 3);
    assert_eq!(m["00081190"]["Value"][0], "http://h/dw/studies/1.2.3");
    assert_eq!(m["00200010"], json!({"vr": "SH"}));
    assert!(m.get("00081030").is_none());
}

#[test]
fn matching_kinds() {
    assert_eq!(
        uids(&run("study", &[("PatientName", "do*")]), "0020000D"),
        ["1.2.3"]
    );
    assert_eq!(
        uids(
            &run("study", &[("PatientName", "SMITH^JOHN^Q")]),
            "0020000D"
        ),
        ["1.2.4"]
    );
    assert_eq!(
        uids(&run("study", &[("PatientName", "?oe*")]), "0020000D"),
        ["1.2.3"]
    );
    assert_eq!(
        uids(
            &run("study", &[("StudyDate", "20200101-20201231")]),
            "0020000D"
        ),
        ["1.2.3"]
    );
    assert_eq!(
        uids(&run("study", &[("StudyDate", "20210101-")]), "0020000D"),
        ["1.2.4"]
    );
    assert_eq!(
        uids(&run("study", &[("StudyDate", "-20200506")]), "0020000D"),
        ["1.2.3"]
    );
    assert_eq!(
        uids(&run("study", &[("StudyTime", "10-11")]), "0020000D"),
        ["1.2.3"]
    );
    assert_eq!(
        uids(
            &run("study", &[("StudyInstanceUID", "1.2.4\\9.9")]),
            "0020000D"
        ),
        ["1.2.4"]
    );
    assert_eq!(
        uids(
            &run("study", &[("StudyInstanceUID", "1.2.3,1.2.4")]),
            "0020000D"
        )
        .len(),
        2
    );
    assert_eq!(
        uids(&run("study", &[("ModalitiesInStudy", "MR")]), "0020000D"),
        ["1.2.4"]
    );
    assert_eq!(
        uids(&run("study", &[("00080061", "SR")]), "0020000D").len(),
        2
    );
    assert_eq!(
        uids(&run("study", &[("PatientName", "")]), "0020000D").len(),
        2
    );
    assert_eq!(
        uids(
            &run("study", &[("PatientName", "jo"), ("fuzzymatching", "true")]),
            "0020000D"
        )
        .len(),
        2
    );
    assert_eq!(
        uids(&run("study", &[("PatientName", "jo")]), "0020000D").len(),
        0
    );
    // relational: a series/instance key on a study-level query
    assert_eq!(
        uids(&run("study", &[("Modality", "MR")]), "0020000D"),
        ["1.2.4"]
    );
    assert_eq!(
        uids(
            &run("study", &[("SOPInstanceUID", "1.2.3.1.2")]),
            "0020000D"
        ),
        ["1.2.3"]
    );
    assert_eq!(
        uids(
            &run("series", &[("SOPInstanceUID", "1.2.3.1.2")]),
            "0020000E"
        ),
        ["1.2.3.1"]
    );
}

#[test]
fn series_and_instances() {
    let r = run("series", &[("Modality", "CT")]);
    assert_eq!(uids(&r, "0020000E"), ["1.2.3.1"]);
    assert_eq!(r["matches"][0]["00201209"]["Value"][0], 2);
    assert_eq!(r["matches"][0]["0020000D"]["Value"][0], "1.2.3");
    let r = run("instance", &[("SOPClassUID", "1.2.3")]);
    assert_eq!(uids(&r, "00080018"), ["1.2.3.2.1", "1.2.4.2.1"]);
    let r = run("instance", &[("InstanceNumber", "2")]);
    assert_eq!(uids(&r, "00080018"), ["1.2.3.1.2", "1.2.4.1.2"]);
    let r = run("instance", &[("SOPInstanceUID", "1.2.3.1.1")]);
    assert_eq!(r["matches"][0]["00280010"]["Value"][0], 512);
    assert_eq!(
        r["matches"][0]["00081190"]["Value"][0],
        "http://h/dw/studies/1.2.3/series/1.2.3.1/instances/1.2.3.1.1"
    );
    let req = json!({"level": "instance", "studyInstanceUid": "1.2.4", "seriesInstanceUid": "1.2.4.1", "params": []});
    let r = query(&req, &candidates()).unwrap();
    assert_eq!(r["total"], 2);
    assert!(r["matches"][0].get("0020000D").is_none());
    // The study in the path drops study attributes, not the row's own RetrieveURL.
    assert_eq!(
        r["matches"][0]["00081190"]["Value"][0],
        "/studies/1.2.4/series/1.2.4.1/instances/1.2.4.1.1"
    );
    assert!(r["matches"][0].get("00080056").is_some());
    let req = json!({"level": "series", "studyInstanceUid": "1.2.4", "retrieveBase": "http://h/dw", "params": []});
    let r = query(&req, &candidates()).unwrap();
    assert_eq!(
        r["matches"][0]["00081190"]["Value"][0],
        "http://h/dw/studies/1.2.4/series/1.2.4.1"
    );
}

#[test]
fn paging_and_includes() {
    let r = run("instance", &[("limit", "2"), ("offset", "1")]);
    assert_eq!(r["total"], 6);
    assert_eq!(r["remaining"], 3);
    assert_eq!(uids(&r, "00080018"), ["1.2.3.1.2", "1.2.3.2.1"]);
    let r = run("study", &[("includefield", "StudyDescription,00080021")]);
    assert_eq!(r["matches"][0]["00081030"]["Value"][0], "Head");
    let r = run("study", &[("includefield", "all")]);
    assert!(r["matches"][0].get("00081030").is_some());
}

#[test]
fn plan_window_is_the_end_of_the_page() {
    let req = |p: &[(&str, &str)]| json!({"level": "study", "maxResults": 100,
        "params": p.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()});
    assert_eq!(plan(&req(&[("limit", "10"), ("offset", "5")])).unwrap()["window"], 15);
    // No limit, or one above the server's maximum: the maximum is the page.
    assert_eq!(plan(&req(&[("offset", "5")])).unwrap()["window"], 105);
    assert_eq!(plan(&req(&[("limit", "1000")])).unwrap()["window"], 100);
}

#[test]
fn errors_and_warnings() {
    let req = |p: &[(&str, &str)]| json!({"level": "study", "params": p.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()});
    assert!(plan(&req(&[("NoSuchThing", "x")])).is_err());
    assert!(plan(&req(&[("StudyDate", "2020")])).is_err());
    assert!(plan(&req(&[("limit", "-1")])).is_err());
    assert!(plan(&req(&[("StudyInstanceUID", "1.2.x")])).is_err());
    // A key the ImagingStudy does not keep is matched from the stored instances, never ignored.
    let p = plan(&req(&[("PatientWeight", "70")])).unwrap();
    assert_eq!(p["warnings"], json!([]));
    assert_eq!(p["stored"]["unindexed"], json!(["PatientWeight"]));
    assert!(p["stored"]["tags"].as_array().unwrap().contains(&json!("00101030")));
    // What cannot be matched is refused, with the reason, instead of being ignored.
    for (k, v) in [("RequestAttributesSequence", "x"), ("ReferencedImageSequence", "1"),
                   ("00400275.00321060", "x"), ("00091001", "x"), ("PixelData", "x")] {
        let e = plan(&req(&[(k, v)])).unwrap_err();
        assert!(e.to_string().contains("cannot be a matching key"), "{k}: {e}");
    }
    // ... but asked for without a value they are only returned (or have nothing to return).
    assert!(plan(&req(&[("RequestAttributesSequence", "")])).is_ok());
    assert!(plan(&req(&[("00091001", "")])).is_ok());
    assert!(plan(&req(&[("SliceLocation", "ten")])).is_err());
    let p = plan(&req(&[
        ("StudyDate", "20200101-20200131"),
        ("PatientName", "Doe^J*"),
        ("PatientID", "P1"),
        ("StudyInstanceUID", "1.2.3\\1.2.4"),
        ("ModalitiesInStudy", "CT"),
        ("StudyDescription", "Chest CT*"),
    ]))
    .unwrap();
    assert_eq!(p["studyDescriptionPrefix"], "Chest CT");
    assert_eq!(p["startedFrom"], "2019-12-31");
    assert_eq!(p["startedTo"], "2020-02-01");
    assert_eq!(p["patientNamePrefix"], "Doe");
    assert_eq!(p["patientId"], "P1");
    assert_eq!(p["studyUids"], json!(["1.2.3", "1.2.4"]));
    assert_eq!(p["modalities"], json!(["CT"]));
}

#[test]
fn omitted_instances_are_counted_from_number_of_instances() {
    let req = json!({"level": "study", "params": [["includefield", "all"]],
                     "retrieveBase": "http://h/dw/", "maxResults": 100});
    let full = query(&req, &candidates()).unwrap();
    let mut stripped = candidates();
    for c in stripped.as_array_mut().unwrap() {
        for se in c["imagingStudy"]["series"].as_array_mut().unwrap() {
            let n = se["instance"].as_array().unwrap().len();
            se.as_object_mut().unwrap().remove("instance");
            se["numberOfInstances"] = json!(n);
        }
        c["dicom"] = json!({"instancesOmitted": true});
    }
    let lean = query(&req, &stripped).unwrap();
    assert_eq!(full["matches"], lean["matches"]);
    assert!(full["matches"][0]["00201208"]["Value"][0].as_u64().unwrap() > 0);
}

#[test]
fn stored_values_win_over_fhir_values() {
    let mut c = candidates();
    // the FHIR resources say "Head" and Doe; the stored instances say otherwise
    c[0]["dicom"] = json!({
        "study": {"00081030": {"vr": "LO", "Value": ["Brain"]},
                  "00080090": {"vr": "PN", "Value": [{"Alphabetic": "Ref^Doc"}]},
                  "00200010": {"vr": "SH", "Value": ["S7"]},
                  "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Stored^Name"}]},
                  "00080050": {"vr": "SH"}},
        "series": {"1.2.3.1": {"0008103E": {"vr": "LO", "Value": ["Axial"]},
                               "00080021": {"vr": "DA", "Value": ["1997.04.24"]},
                               "00080060": {"vr": "CS", "Value": ["CT"]}}},
        "instances": {"1.2.3.1.1": {"00200013": {"vr": "IS", "Value": [9]}}}});
    let req = |level: &str, p: &[(&str, &str)]| {
        json!({"level": level, "retrieveBase": "http://h/dw",
        "params": p.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()})
    };
    let r = query(
        &req(
            "study",
            &[
                ("StudyInstanceUID", "1.2.3"),
                ("includefield", "StudyDescription"),
            ],
        ),
        &c,
    )
    .unwrap();
    let m = &r["matches"][0];
    assert_eq!(m["00081030"]["Value"][0], "Brain");
    assert_eq!(m["00080090"]["Value"][0]["Alphabetic"], "Ref^Doc");
    assert_eq!(m["00200010"]["Value"][0], "S7");
    assert_eq!(m["00100010"]["Value"][0]["Alphabetic"], "Stored^Name");
    // absent in the instance: absent in the answer, whatever FHIR holds
    assert_eq!(m["00080050"], json!({"vr": "SH"}));
    // matching uses the stored values too (ReferringPhysicianName and StudyID are matchable)
    let found = |p: &[(&str, &str)]| {
        query(&req("study", p), &c).unwrap()["total"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(found(&[("StudyDescription", "Brain")]), 1);
    assert_eq!(found(&[("StudyDescription", "Head")]), 1); // 1.2.4 has no stored values
    assert_eq!(found(&[("StudyID", "S7")]), 1);
    assert_eq!(found(&[("ReferringPhysicianName", "ref*")]), 1);
    let series = query(&req("series", &[("StudyInstanceUID", "1.2.3")]), &c).unwrap();
    assert_eq!(series["matches"][0]["0008103E"]["Value"][0], "Axial");
    // an ACR-NEMA date in the file is answered, and matched, as DA
    let dated = query(&req("series", &[("SeriesDate", "19970101-19971231")]), &c).unwrap();
    assert_eq!(dated["total"], 1);
    assert_eq!(dated["matches"][0]["00080021"]["Value"][0], "19970424");
    let inst = query(&req("instance", &[("SOPInstanceUID", "1.2.3.1.1")]), &c).unwrap();
    assert_eq!(inst["matches"][0]["00200013"]["Value"][0], 9);
    // the plan lists what the caller should pass
    let p = plan(&req("study", &[("Modality", "CT")])).unwrap();
    assert_eq!(p["stored"]["series"], true);
    assert_eq!(p["stored"]["instances"], false);
    assert!(p["stored"]["tags"]
        .as_array()
        .unwrap()
        .contains(&json!("00081030")));
    assert!(!p["stored"]["tags"]
        .as_array()
        .unwrap()
        .contains(&json!("00081190")));
}

#[test]
fn wildcard_and_time() {
    let w = |p: &str, t: &str| {
        wildcard(
            &p.chars().collect::<Vec<_>>(),
            &t.chars().collect::<Vec<_>>(),
        )
    };
    assert!(w("a*c", "abbbc"));
    assert!(w("a?c", "abc"));
    assert!(!w("a?c", "abbc"));
    assert!(w("*", ""));
    assert!(w("**b", "ab"));
    assert_eq!(norm_time("10", true).unwrap(), "105959.999999");
    assert_eq!(norm_time("1011", false).unwrap(), "101100.000000");
    assert!(norm_time("1", false).is_none());
    assert_eq!(shift_day("20200301", -1).unwrap(), "2020-02-29");
    assert_eq!(shift_day("20201231", 1).unwrap(), "2021-01-01");
}

/// Candidates whose stored instances carry attributes the ImagingStudy does not keep.
fn with_stored_values() -> Value {
    let mut c = candidates();
    let inst = |uid: &str, slice: f64, pos: [f64; 3]| {
        (uid.to_owned(), json!({
            "00201041": {"vr": "DS", "Value": [slice]},
            "00200032": {"vr": "DS", "Value": pos},
            "00080008": {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY"]},
            "00080070": {"vr": "LO", "Value": ["Philips"]},
            "00101010": {"vr": "AS", "Value": ["045Y"]},
            "7FE00010": {"vr": "OW", "BulkDataURI": "x"},
            "00431028": {"vr": "OB", "BulkDataURI": "y"},
            "00540016": {"vr": "SQ", "Value": [{"00181072": {"vr": "LO", "Value": ["a".repeat(20_000)]}}]},
            "00081032": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": ["X1"]}}]},
        }))
    };
    let mut instances = serde_json::Map::new();
    for (u, v) in [inst("1.2.3.1.1", 10.0, [0.0, 0.0, 10.0]), inst("1.2.3.1.2", 12.5, [0.0, 0.0, 12.5])] {
        instances.insert(u, v);
    }
    let first = instances["1.2.3.1.1"].clone();
    let mut sr = first.clone();
    sr["00080070"] = json!({"vr": "LO", "Value": ["GE"]});
    instances.insert("1.2.3.2.1".into(), sr.clone());
    c[0]["dicom"] = json!({"study": first, "series": {"1.2.3.1": first, "1.2.3.2": sr}, "instances": instances});
    // The other study's instances were made by another scanner and hold no PatientAge.
    let mut other = json!({"00080070": {"vr": "LO", "Value": ["Siemens"]}, "00201041": {"vr": "DS", "Value": [10]}});
    let mut inst2 = serde_json::Map::new();
    for u in ["1.2.4.1.1", "1.2.4.1.2", "1.2.4.2.1"] {
        inst2.insert(u.into(), other.clone());
    }
    other["00080060"] = json!({"vr": "CS", "Value": ["MR"]});
    c[1]["dicom"] = json!({"study": other, "series": {"1.2.4.1": other, "1.2.4.2": other}, "instances": inst2});
    c
}

fn run_stored(level: &str, params: &[(&str, &str)]) -> Value {
    let req = json!({"level": level, "params": params.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                     "retrieveBase": "http://h/dw/", "maxResults": 100});
    query(&req, &with_stored_values()).unwrap()
}

#[test]
fn keys_outside_the_kept_set_match_at_their_level() {
    // Manufacturer is of the series (General Equipment): a study matches when one series does.
    assert_eq!(uids(&run_stored("study", &[("Manufacturer", "Philips")]), "0020000D"), ["1.2.3"]);
    assert_eq!(uids(&run_stored("study", &[("Manufacturer", "sie*")]), "0020000D"), Vec::<String>::new());
    assert_eq!(uids(&run_stored("study", &[("Manufacturer", "Sie*")]), "0020000D"), ["1.2.4"]);
    let r = run_stored("series", &[("Manufacturer", "GE")]);
    assert_eq!(uids(&r, "0020000E"), ["1.2.3.2"]);
    assert_eq!(r["matches"][0]["00080070"]["Value"][0], "GE");
    // PatientAge is of the study (Patient Study module); a study without it does not match.
    let r = run_stored("study", &[("PatientAge", "045Y")]);
    assert_eq!(uids(&r, "0020000D"), ["1.2.3"]);
    assert_eq!(r["matches"][0]["00101010"]["Value"][0], "045Y");
    assert_eq!(run_stored("study", &[("00101010", "0*")])["total"], 1);
    // SliceLocation is of the instance; DS compares as numbers (12.50 = 12.5).
    let r = run_stored("instance", &[("SliceLocation", "12.50")]);
    assert_eq!(uids(&r, "00080018"), ["1.2.3.1.2"]);
    assert_eq!(uids(&run_stored("study", &[("SliceLocation", "10")]), "0020000D"), ["1.2.3", "1.2.4"]);
    // Multi-valued: any value matches.
    assert_eq!(run_stored("instance", &[("ImageType", "PRIMARY")])["total"], 3);
    // A key of the instance on /studies is not returned there.
    assert!(run_stored("study", &[("SliceLocation", "10")])["matches"][0].get("00201041").is_none());
}

#[test]
fn includefield_returns_what_the_instances_have_at_the_level() {
    let r = run_stored("study", &[("includefield", "all"), ("StudyInstanceUID", "1.2.3")]);
    let m = &r["matches"][0];
    assert_eq!(m["00101010"]["Value"][0], "045Y"); // study level
    assert_eq!(m["00081032"]["Value"][0]["00080100"]["Value"][0], "X1"); // a small sequence
    assert!(m.get("00080070").is_none(), "series level");
    assert!(m.get("00201041").is_none(), "instance level");
    let r = run_stored("instance", &[("includefield", "all"), ("SOPInstanceUID", "1.2.3.1.2")]);
    let m = &r["matches"][0];
    assert_eq!(m["00201041"]["Value"][0], 12.5);
    assert_eq!(m["00200032"]["Value"], json!([0.0, 0.0, 12.5]));
    assert_eq!(m["00080070"]["Value"][0], "Philips");
    assert_eq!(m["00101010"]["Value"][0], "045Y");
    for bulk in ["7FE00010", "00431028", "00540016"] {
        assert!(m.get(bulk).is_none(), "{bulk} is bulk data or a sequence over the bound");
    }
    // By name or tag, at the resource's level or above.
    let r = run_stored("instance", &[("includefield", "ImagePositionPatient,00080070,PatientAge"), ("SOPInstanceUID", "1.2.3.1.1")]);
    let m = &r["matches"][0];
    assert_eq!(m["00200032"]["Value"], json!([0.0, 0.0, 10.0]));
    assert_eq!(m["00080070"]["Value"][0], "Philips");
    assert_eq!(m["00101010"]["Value"][0], "045Y");
    // Asked for and absent: present and empty, with the dictionary's VR.
    let r = run_stored("instance", &[("includefield", "PatientWeight"), ("SOPInstanceUID", "1.2.3.1.1")]);
    assert_eq!(r["matches"][0]["00101030"], json!({"vr": "DS"}));
}

#[test]
fn the_plan_names_what_must_be_read_from_the_instances() {
    let p = |level: &str, params: &[(&str, &str)]| {
        plan(&json!({"level": level, "params": params.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()})).unwrap()
    };
    assert_eq!(p("study", &[("PatientID", "P1")])["stored"]["unindexed"], json!([]));
    assert_eq!(p("study", &[("includefield", "StudyDescription")])["stored"]["unindexed"], json!([]));
    let s = &p("study", &[("Manufacturer", "Philips")])["stored"];
    assert_eq!(s["unindexed"], json!(["Manufacturer"]));
    assert_eq!((s["series"].as_bool(), s["instances"].as_bool()), (Some(true), Some(false)));
    assert_eq!(p("study", &[("includefield", "all")])["stored"]["unindexed"], json!(["includefield=all"]));
    // An instance attribute included on /studies is not returned there: nothing to read.
    assert_eq!(p("study", &[("includefield", "SliceLocation")])["stored"]["unindexed"], json!([]));
    assert_eq!(p("instance", &[("includefield", "SliceLocation")])["stored"]["unindexed"], json!(["SliceLocation"]));
    // Study and series values outside the table are kept in the ImagingStudy; instance values are not.
    let suffice = |level: &str, params: &[(&str, &str)]| p(level, params)["stored"]["keptValuesSuffice"].as_bool();
    assert_eq!(suffice("study", &[("Manufacturer", "Philips")]), Some(true));
    assert_eq!(suffice("study", &[("includefield", "all")]), Some(true));
    assert_eq!(suffice("series", &[("includefield", "all"), ("PatientAge", "042Y")]), Some(true));
    assert_eq!(suffice("study", &[("SliceLocation", "1")]), Some(false));
    assert_eq!(suffice("instance", &[("includefield", "all")]), Some(false));
    assert_eq!(suffice("instance", &[("includefield", "SliceLocation")]), Some(false));
}

#[test]
fn a_study_without_modalities_has_no_empty_modalities_in_study() {
    let mut c = study("1.2.5", "2021-01-01", "CT", "Doe");
    for se in c["imagingStudy"]["series"].as_array_mut().unwrap() {
        se.as_object_mut().unwrap().remove("modality");
    }
    let req = json!({"level": "study", "params": [["includefield", "ModalitiesInStudy"]], "retrieveBase": "http://h/dw/", "maxResults": 10});
    let r = query(&req, &json!([c])).unwrap();
    assert_eq!(r["total"], 1);
    assert!(r["matches"][0].get("00080061").is_none(), "{}", r["matches"][0]);
    assert_eq!(run("study", &[])["matches"][0]["00080061"]["Value"], json!(["CT", "SR"]));
}

#[test]
fn levels_follow_the_information_model() {
    use crate::attributes::{level_of, Level};
    for (tag, level) in [
        (0x0010_1010, Level::Study),    // PatientAge
        (0x0010_1030, Level::Study),    // PatientWeight
        (0x0008_1060, Level::Study),    // NameOfPhysiciansReadingStudy
        (0x0008_0070, Level::Series),   // Manufacturer
        (0x0008_0080, Level::Series),   // InstitutionName (General Equipment)
        (0x0018_0015, Level::Series),   // BodyPartExamined
        (0x0018_1030, Level::Series),   // ProtocolName
        (0x0020_0032, Level::Instance), // ImagePositionPatient
        (0x0020_1041, Level::Instance), // SliceLocation
        (0x0018_0050, Level::Instance), // SliceThickness
    ] {
        assert_eq!(level_of(tag), level, "{tag:08X}");
    }
}
