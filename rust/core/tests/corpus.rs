//! Every file of the real test corpus (pydicom and pydicom-data wheels, plus pydicom's
//! charset files) either parses into valid DICOM JSON or is rejected with a reason; the
//! set of rejected files is pinned so a regression in either direction shows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dicom_dictionary_std::tags;
use dicom_fhir_core::{classify, parse, ParsedInstance, PersonName, Rejection};
use serde_json::Value;

mod common;

use common::{data_root, walk, wheel_files};

/// pydicom's charset_files, wherever the fetch script put them.
fn charset_dir() -> PathBuf {
    let root = data_root();
    for d in ["pydicom-charset", "pydicom/charset_files"] {
        if root.join(d).join("chrH31.dcm").is_file() {
            return root.join(d);
        }
    }
    panic!(
        "pydicom charset_files missing under {}: run scripts/fetch-test-data.sh",
        root.display()
    );
}

fn corpus() -> Vec<(String, PathBuf)> {
    let root = data_root();
    let mut files = wheel_files();
    let cs = charset_dir();
    if !cs.starts_with(root.join("pydicom")) {
        walk(&cs, &mut files);
    }
    let mut named: Vec<_> = files
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .replace("pydicom/charset_files", "pydicom-charset"),
                p,
            )
        })
        .collect();
    named.sort();
    named
}

/// Files rejected on purpose, with a word their reason must contain.
const EXPECTED_REJECTIONS: &[(&str, &str)] = &[
    // not DICOM at all
    ("pydicom/README.txt", "not a DICOM Part-10 file"),
    ("pydicom/crayons.icc", "not a DICOM Part-10 file"),
    (
        "pydicom/dicomdirtests/README.txt",
        "not a DICOM Part-10 file",
    ),
    (
        "pydicom/dicomdirtests/TINY_ALPHA/README",
        "not a DICOM Part-10 file",
    ),
    ("pydicom/rtplan.dump", "not a DICOM Part-10 file"),
    ("pydicom/rtstruct.dump", "not a DICOM Part-10 file"),
    ("pydicom/test1.json", "not a DICOM Part-10 file"),
    ("pydicom/test_PN.json", "not a DICOM Part-10 file"),
    ("pydicom/zipMR.gz", "not a DICOM Part-10 file"),
    ("pydicom-charset/FileInfo.txt", "not a DICOM Part-10 file"),
    // bare data sets, no File Meta Information
    (
        "pydicom/ExplVR_BigEndNoMeta.dcm",
        "no File Meta Information",
    ),
    (
        "pydicom/ExplVR_LitEndNoMeta.dcm",
        "no File Meta Information",
    ),
    ("pydicom/no_meta.dcm", "not a DICOM Part-10 file"),
    ("pydicom/rtstruct.dcm", "no File Meta Information"),
    ("pydicom-data/OT-PAL-8-face.dcm", "no File Meta Information"),
    // broken File Meta Information
    ("pydicom/meta_missing_tsyntax.dcm", "TransferSyntax"),
    ("pydicom/no_meta_group_length.dcm", "File Meta Information"),
    // truncated or structurally broken
    ("pydicom/MR_truncated.dcm", "truncated"),
    ("pydicom/rtplan_truncated.dcm", "truncated"),
    ("pydicom/UN_sequence.dcm", "malformed"),
    ("pydicom/dicomdirtests/DICOMDIR-nooffset", "malformed"),
    // DICOMDIRs and other objects without the key UIDs
    (
        "pydicom/dicomdirtests/DICOMDIR",
        "missing Study Instance UID",
    ),
    (
        "pydicom/dicomdirtests/DICOMDIR-bigEnd",
        "missing Study Instance UID",
    ),
    (
        "pydicom/dicomdirtests/DICOMDIR-empty.dcm",
        "missing Study Instance UID",
    ),
    (
        "pydicom/dicomdirtests/DICOMDIR-implicit",
        "missing Study Instance UID",
    ),
    (
        "pydicom/dicomdirtests/DICOMDIR-nopatient",
        "missing Study Instance UID",
    ),
    (
        "pydicom/dicomdirtests/DICOMDIR-reordered",
        "missing Study Instance UID",
    ),
    (
        "pydicom/dicomdirtests/TINY_ALPHA/DICOMDIR",
        "missing Study Instance UID",
    ),
    (
        "pydicom/JPEGLSNearLossless_08.dcm",
        "missing Study Instance UID",
    ),
    (
        "pydicom/JPEGLSNearLossless_16.dcm",
        "missing Study Instance UID",
    ),
    (
        "pydicom/SC_rgb_jls_lossy_line.dcm",
        "missing Study Instance UID",
    ),
    (
        "pydicom/SC_rgb_jls_lossy_sample.dcm",
        "missing Study Instance UID",
    ),
    (
        "pydicom/empty_charset_LEI.dcm",
        "missing Study Instance UID",
    ),
    ("pydicom/nested_priv_SQ.dcm", "missing Study Instance UID"),
    ("pydicom/priv_SQ.dcm", "missing Study Instance UID"),
    (
        "pydicom-charset/chrSQEncoding.dcm",
        "missing Study Instance UID",
    ),
    (
        "pydicom-charset/chrSQEncoding1.dcm",
        "missing Study Instance UID",
    ),
    // a hex string where the Study Instance UID should be
    (
        "pydicom-data/bad_sequence.dcm",
        "malformed Study Instance UID",
    ),
];

#[test]
fn every_corpus_file_parses_or_is_rejected_for_a_known_reason() {
    let mut rejected = BTreeMap::new();
    let mut parsed = 0;
    for (name, path) in corpus() {
        let bytes = std::fs::read(&path).unwrap();
        match parse(&bytes) {
            Ok(inst) => {
                parsed += 1;
                check_instance(&name, &bytes, &inst);
            }
            Err(e) => {
                assert!(!e.message().is_empty(), "{name}: empty rejection message");
                rejected.insert(name, e.message().to_string());
            }
        }
    }
    let expected: BTreeMap<&str, &str> = EXPECTED_REJECTIONS.iter().copied().collect();
    let unexpected: Vec<_> = rejected
        .iter()
        .filter(|(n, _)| !expected.contains_key(n.as_str()))
        .collect();
    let missing: Vec<_> = expected
        .keys()
        .filter(|n| !rejected.contains_key(**n))
        .collect();
    assert!(
        unexpected.is_empty(),
        "rejected unexpectedly: {unexpected:#?}"
    );
    assert!(
        missing.is_empty(),
        "expected a rejection, but parsed: {missing:?}"
    );
    for (name, why) in &expected {
        assert!(
            rejected[*name].contains(why),
            "{name}: reason {:?} lacks {why:?}",
            rejected[*name]
        );
    }
    eprintln!("corpus: {parsed} parsed, {} rejected", rejected.len());
    assert!(parsed >= 200, "only {parsed} files parsed");
}

/// Rejected corpus files without the Part-10 "DICM" prefix: not DICOM (an uploader skips them).
const NOT_DICOM: &[&str] = &[
    "pydicom/README.txt",
    "pydicom/crayons.icc",
    "pydicom/dicomdirtests/README.txt",
    "pydicom/dicomdirtests/TINY_ALPHA/README",
    "pydicom/rtplan.dump",
    "pydicom/rtstruct.dump",
    "pydicom/test1.json",
    "pydicom/test_PN.json",
    "pydicom/zipMR.gz",
    "pydicom-charset/FileInfo.txt",
    "pydicom/ExplVR_BigEndNoMeta.dcm",
    "pydicom/ExplVR_LitEndNoMeta.dcm",
    "pydicom/no_meta.dcm",
    "pydicom/rtstruct.dcm",
    "pydicom-data/OT-PAL-8-face.dcm",
];

/// Rejected corpus files whose File Meta Information says DICOMDIR (skipped too, even the
/// malformed DICOMDIR-nooffset: it is not an instance either way).
const DIRECTORIES: &[&str] = &[
    "pydicom/dicomdirtests/DICOMDIR",
    "pydicom/dicomdirtests/DICOMDIR-bigEnd",
    "pydicom/dicomdirtests/DICOMDIR-empty.dcm",
    "pydicom/dicomdirtests/DICOMDIR-implicit",
    "pydicom/dicomdirtests/DICOMDIR-nooffset",
    "pydicom/dicomdirtests/DICOMDIR-nopatient",
    "pydicom/dicomdirtests/DICOMDIR-reordered",
    "pydicom/dicomdirtests/TINY_ALPHA/DICOMDIR",
];

/// `classify` accepts what `parse` accepts; of the rest, files without the "DICM" prefix are
/// not DICOM, DICOMDIRs are directories, and every other rejected file (truncated, broken meta,
/// no key UIDs) is invalid DICOM, i.e. a failure for an uploader.
#[test]
fn every_rejected_corpus_file_is_not_dicom_a_directory_or_invalid() {
    let mut kinds = BTreeMap::new();
    for (name, path) in corpus() {
        let bytes = std::fs::read(&path).unwrap();
        match (classify(&bytes), parse(&bytes)) {
            (Ok(a), Ok(b)) => assert_eq!(a.sha256(), b.sha256(), "{name}"),
            (Err(r), Err(e)) => {
                if r.kind != Rejection::Directory {
                    assert_eq!(r.error, e, "{name}: classify keeps the parser's reason");
                }
                kinds.insert(name, r.kind);
            }
            (a, b) => panic!("{name}: classify {:?} but parse {:?}", a.is_ok(), b.is_ok()),
        }
    }
    let expected: BTreeMap<String, Rejection> = EXPECTED_REJECTIONS
        .iter()
        .map(|(name, _)| {
            let kind = if NOT_DICOM.contains(name) {
                Rejection::NotDicom
            } else if DIRECTORIES.contains(name) {
                Rejection::Directory
            } else {
                Rejection::Invalid
            };
            (name.to_string(), kind)
        })
        .collect();
    assert_eq!(kinds, expected);
    assert!(kinds.values().filter(|k| k.is_failure()).count() >= 15);
}

#[test]
fn classify_damaged_and_foreign_input() {
    let ct = std::fs::read(data_root().join("pydicom/CT_small.dcm")).unwrap();
    let kind = |bytes: &[u8]| classify(bytes).err().map(|r| r.kind);
    assert_eq!(kind(&ct), None);
    let mut garbage = vec![0u8; 128];
    garbage.extend_from_slice(b"DICM");
    garbage.extend((0..1024).map(|i| (i * 7 % 251) as u8));
    for (what, bytes) in [
        ("first half", &ct[..ct.len() / 2]),
        ("meta and a bit", &ct[..300]),
        ("preamble, DICM and 8 bytes", &ct[..140]),
        ("preamble and DICM", &ct[..132]),
        ("garbage after DICM", &garbage[..]),
    ] {
        let r = classify(bytes).unwrap_err();
        assert_eq!(r.kind, Rejection::Invalid, "{what}: {}", r.error);
        assert!(r.kind.is_failure());
        assert!(!r.error.message().contains("not a DICOM"), "{what}: {}", r.error);
    }
    let truncated = classify(&ct[..ct.len() / 2]).unwrap_err().error.message().to_string();
    assert!(truncated.contains("truncated"), "{truncated}");
    for (what, bytes) in [
        ("empty", &b""[..]),
        ("text", &b"hello world"[..]),
        ("JPEG", &b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"[..]),
        ("the preamble only", &ct[..128]),
        ("the data set without preamble and meta", &ct[132 + 200..]),
    ] {
        let r = classify(bytes).unwrap_err();
        assert_eq!(r.kind, Rejection::NotDicom, "{what}: {}", r.error);
        assert!(!r.kind.is_failure());
    }
}

fn check_instance(name: &str, bytes: &[u8], inst: &ParsedInstance) {
    assert_eq!(inst.size(), bytes.len() as u64);
    assert_eq!(inst.sha256(), dicom_fhir_core::sha256_hex(bytes));
    assert_eq!(inst.sha256().len(), 64);
    assert!(!inst.transfer_syntax_uid().is_empty());

    let json = inst.dicom_json("https://example.org/dicomweb/studies/1/series/2/instances/3");
    let obj = json
        .as_object()
        .unwrap_or_else(|| panic!("{name}: JSON is not an object"));
    let uid = |key: &str| {
        obj.get(key)
            .and_then(|e| e["Value"][0].as_str())
            .map(str::to_string)
    };
    assert_eq!(
        uid("0020000D").as_deref(),
        Some(inst.study_instance_uid()),
        "{name}"
    );
    assert_eq!(
        uid("0020000E").as_deref(),
        Some(inst.series_instance_uid()),
        "{name}"
    );
    assert_eq!(
        uid("00080018").as_deref(),
        Some(inst.sop_instance_uid()),
        "{name}"
    );
    assert_eq!(
        uid("00080016").as_deref(),
        Some(inst.sop_class_uid()),
        "{name}"
    );

    match inst.pixel_data() {
        Some(px) => {
            let e = &obj["7FE00010"];
            assert_eq!(e["vr"], px.vr.to_string(), "{name}");
            assert_eq!(
                e["BulkDataURI"],
                "https://example.org/dicomweb/studies/1/series/2/instances/3/bulkdata/7FE00010",
                "{name}"
            );
        }
        None => assert!(
            !obj.contains_key("7FE00010"),
            "{name}: PixelData without header info"
        ),
    }
    check_dataset(name, obj, inst, "");

    let text = inst.dicom_json_string("http://x");
    let back: Value = serde_json::from_str(&text).unwrap();
    if let Some(diff) = json_diff(&back, &inst.dicom_json("http://x"), "") {
        panic!("{name}: JSON does not round-trip at {diff}");
    }
}

/// First difference between two JSON values; floats may differ in the last bit because
/// serde_json's default float parser is not exact.
fn json_diff(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return Some(format!("{at} (keys)"));
            }
            x.iter().find_map(|(k, v)| match y.get(k) {
                Some(w) => json_diff(v, w, &format!("{at}/{k}")),
                None => Some(format!("{at}/{k}")),
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{at} (length)"));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (v, w))| json_diff(v, w, &format!("{at}/{i}")))
        }
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            ((x - y).abs() > x.abs().max(y.abs()) * 1e-15).then(|| format!("{at}: {x} != {y}"))
        }
        _ => (a != b).then(|| format!("{at}: {a} != {b}")),
    }
}

fn check_dataset(
    name: &str,
    obj: &serde_json::Map<String, Value>,
    inst: &ParsedInstance,
    path: &str,
) {
    for (key, elem) in obj {
        let at = format!("{name} {path}{key}");
        assert_eq!(key.len(), 8, "{at}: bad key");
        assert!(
            key.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()),
            "{at}: bad key"
        );
        assert!(!key.starts_with("0002"), "{at}: group 0002 in JSON");
        let vr = elem["vr"].as_str().unwrap_or_else(|| panic!("{at}: no vr"));
        let kinds = ["Value", "InlineBinary", "BulkDataURI"]
            .iter()
            .filter(|k| elem.get(**k).is_some())
            .count();
        assert!(kinds <= 1, "{at}: several value kinds");
        if let Some(b) = elem.get("InlineBinary") {
            // at most 1024 bytes inline
            assert!(
                b.as_str().unwrap().len() <= 1368,
                "{at}: large InlineBinary"
            );
        }
        let Some(values) = elem.get("Value") else {
            continue;
        };
        let values = values
            .as_array()
            .unwrap_or_else(|| panic!("{at}: Value not an array"));
        match vr {
            "DS" | "IS" => {
                for v in values {
                    if let Some(s) = v.as_str() {
                        // kept as a string only when unparsable, with a warning
                        assert!(
                            inst.warnings().iter().any(|w| w.contains(s.trim())),
                            "{at}: {vr} string {s:?} without a warning"
                        );
                    } else {
                        assert!(v.is_number() || v.is_null(), "{at}: {vr} value {v}");
                    }
                }
            }
            "PN" => {
                for v in values {
                    assert!(v.is_object() || v.is_null(), "{at}: PN value {v}");
                }
            }
            "SQ" => {
                for (i, item) in values.iter().enumerate() {
                    let item = item
                        .as_object()
                        .unwrap_or_else(|| panic!("{at}: item not an object"));
                    check_dataset(name, item, inst, &format!("{path}{key}/{i}/"));
                }
            }
            "ST" | "LT" | "UT" | "UR" => assert_eq!(values.len(), 1, "{at}: {vr} split"),
            "OB" | "OW" | "OD" | "OF" | "OL" | "OV" | "UN" => panic!("{at}: binary VR with Value"),
            _ => {}
        }
    }
}

fn load(name: &str) -> ParsedInstance {
    let path = if name.starts_with("chr") {
        charset_dir().join(name)
    } else {
        data_root().join(name)
    };
    parse(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn pn(a: &str, i: Option<&str>, p: Option<&str>) -> PersonName {
    PersonName {
        alphabetic: Some(a.into()),
        ideographic: i.map(Into::into),
        phonetic: p.map(Into::into),
    }
}

#[test]
fn character_sets_decode_like_pydicom() {
    // Expected names as pydicom 3.0.2 decodes them.
    let cases: &[(&str, PersonName)] = &[
        ("chrArab.dcm", pn("قباني^لنزار", None, None)),
        ("chrFren.dcm", pn("Buc^Jérôme", None, None)),
        ("chrFrenMulti.dcm", pn("Buc^Jérôme", None, None)),
        ("chrGerm.dcm", pn("Äneas^Rüdiger", None, None)),
        ("chrGreek.dcm", pn("Διονυσιος", None, None)),
        ("chrHbrw.dcm", pn("שרון^דבורה", None, None)),
        ("chrRuss.dcm", pn("Люкceмбypг", None, None)),
        ("chrX1.dcm", pn("Wang^XiaoDong", Some("王^小東"), None)),
        ("chrX2.dcm", pn("Wang^XiaoDong", Some("王^小东"), None)),
        (
            "chrH31.dcm",
            pn("Yamada^Tarou", Some("山田^太郎"), Some("やまだ^たろう")),
        ),
        (
            "chrH32.dcm",
            pn("ﾔﾏﾀﾞ^ﾀﾛｳ", Some("山田^太郎"), Some("やまだ^たろう")),
        ),
        (
            "chrI2.dcm",
            pn("Hong^Gildong", Some("洪^吉洞"), Some("홍^길동")),
        ),
        ("chrJapMulti.dcm", pn("やまだ^たろう", None, None)),
        (
            "chrJapMultiExplicitIR6.dcm",
            pn("やまだ^たろう", None, None),
        ),
        ("chrKoreanMulti.dcm", pn("김희중", None, None)),
    ];
    for (file, expected) in cases {
        let inst = load(file);
        assert_eq!(
            inst.person_name(tags::PATIENT_NAME).as_ref(),
            Some(expected),
            "{file}"
        );
    }

    let jap = load("chrJapMulti.dcm");
    assert_eq!(
        jap.string(tags::ADDITIONAL_PATIENT_HISTORY).as_deref(),
        Some("たろう")
    );
    assert_eq!(jap.person_names(tags::OTHER_PATIENT_NAMES).len(), 2);
    let kor = load("chrKoreanMulti.dcm");
    assert_eq!(
        kor.string(tags::ADDITIONAL_PATIENT_HISTORY).as_deref(),
        Some("김희중")
    );
    assert_eq!(
        kor.person_name(tags::OPERATORS_NAME)
            .unwrap()
            .alphabetic
            .as_deref(),
        Some("김희중")
    );
    let fren = load("chrFrenMulti.dcm");
    assert_eq!(
        fren.strings(dicom_core::Tag(0x0010, 0x1000)), /* OtherPatientIDs, retired */
        vec!["eggs", "spam"]
    );

    // The same decoding reaches the DICOM JSON.
    let j = load("chrH31.dcm").dicom_json("");
    assert_eq!(
        j["00100010"]["Value"][0],
        serde_json::json!({"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"})
    );
    let j = load("chrX1.dcm").dicom_json("");
    assert_eq!(
        j["00100010"]["Value"][0],
        serde_json::json!({"Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小東"})
    );
}

#[test]
fn accessors_and_json_details() {
    let ct = load("pydicom/CT_small.dcm");
    assert_eq!(ct.int(tags::ROWS), Some(128));
    assert_eq!(ct.string(tags::MODALITY).as_deref(), Some("CT"));
    assert!(ct.strings(tags::IMAGE_TYPE).len() >= 2);
    let px = ct.pixel_data().unwrap();
    assert_eq!((px.length, px.encapsulated), (Some(32768), false));
    let j = ct.dicom_json("http://h/base/");
    assert!(
        j["00180050"]["Value"][0].is_number(),
        "SliceThickness DS as number"
    );
    assert!(
        j["00200013"]["Value"][0].is_number(),
        "InstanceNumber IS as number"
    );
    assert_eq!(
        j["7FE00010"]["BulkDataURI"],
        "http://h/base/bulkdata/7FE00010"
    );

    let jpeg = load("pydicom/SC_rgb_jpeg.dcm");
    assert!(
        jpeg.warnings().iter().any(|w| w.contains("Implicit VR")),
        "{:?}",
        jpeg.warnings()
    );
    assert!(jpeg.pixel_data().unwrap().encapsulated);

    let dfl = load("pydicom/image_dfl.dcm");
    assert_eq!(dfl.transfer_syntax_uid(), "1.2.840.10008.1.2.1.99");
    assert!(dfl.pixel_data().is_some());

    // ReferencedSOPInstanceUID with a leading zero is a warning, not a rejection.
    let dose = load("pydicom/rtdose.dcm");
    assert!(dose
        .warnings()
        .iter()
        .any(|w| w.starts_with("ReferencedSOPInstanceUID") && w.contains("leading zero")));
    // Sequences are reachable with their items.
    assert!(!dose.items(tags::REFERENCED_RT_PLAN_SEQUENCE).is_empty());
    assert!(dose.items(tags::REFERENCED_RT_PLAN_SEQUENCE)[0]
        .string(tags::REFERENCED_SOP_INSTANCE_UID)
        .is_some());

    // An unparsable IS stays a string, with a warning.
    let bad = load("pydicom/badVR.dcm");
    assert!(bad.warnings().iter().any(|w| w.contains("NumberOfFrames")));
    assert_eq!(bad.dicom_json("")["00280008"]["Value"][0], "1A");
}

#[test]
fn large_binary_values_become_bulk_data() {
    // Scan the corpus for a non-pixel binary element above 1024 bytes and check its URI.
    let mut seen = 0;
    for (name, path) in corpus() {
        let Ok(inst) = parse(&std::fs::read(&path).unwrap()) else {
            continue;
        };
        let json = inst.dicom_json("b");
        fn visit(v: &serde_json::Map<String, Value>, path: &str, seen: &mut usize, name: &str) {
            for (k, e) in v {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}/{k}")
                };
                if let Some(uri) = e.get("BulkDataURI") {
                    assert_eq!(uri.as_str().unwrap(), format!("b/bulkdata/{p}"), "{name}");
                    *seen += 1;
                }
                if let Some(items) = e.get("Value").and_then(|v| v.as_array()) {
                    for (i, it) in items.iter().enumerate() {
                        if let Some(o) = it.as_object() {
                            visit(o, &format!("{p}/{i}"), seen, name);
                        }
                    }
                }
            }
        }
        visit(json.as_object().unwrap(), "", &mut seen, &name);
    }
    assert!(seen > 100, "only {seen} BulkDataURIs in the corpus");
}

#[test]
fn rejects_bad_input_with_clear_reasons() {
    let ct = std::fs::read(data_root().join("pydicom/CT_small.dcm")).unwrap();
    assert!(parse(b"").unwrap_err().message().contains("empty"));
    assert!(parse(b"hello world")
        .unwrap_err()
        .message()
        .starts_with("not a DICOM Part-10 file"));
    let truncated = parse(&ct[..ct.len() / 2]).unwrap_err().message().to_string();
    assert!(truncated.contains("truncated"), "{truncated}");
    let meta_only = parse(&ct[..300]).unwrap_err().message().to_string();
    assert!(!meta_only.is_empty());
    let only_preamble = parse(&ct[..140]).unwrap_err().message().to_string();
    assert!(
        only_preamble.contains("File Meta Information"),
        "{only_preamble}"
    );
}

/// Key UIDs sent with VR UN (PS3.5 6.2.2) are read as their dictionary VR, not reported missing.
#[test]
fn key_uids_sent_as_un_are_found() {
    for file in ["pydicom-data/explicit_VR-UN.dcm", "pydicom/rtdose_rle.dcm"] {
        let bytes = std::fs::read(data_root().join(file)).expect("run scripts/fetch-test-data.sh");
        let parsed = dicom_fhir_core::parse(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!parsed.study_instance_uid().is_empty());
        assert!(parsed.warnings().iter().any(|w| w.contains("sent as UN")), "{file}: {:?}", parsed.warnings());
    }
    let bytes = std::fs::read(data_root().join("pydicom-data/explicit_VR-UN.dcm")).unwrap();
    let parsed = dicom_fhir_core::parse(&bytes).unwrap();
    use dicom_dictionary_std::tags;
    assert_eq!(parsed.string(tags::PATIENT_ID).as_deref(), Some("PANCREAS_0001"));
    assert_eq!(parsed.string(tags::STUDY_DESCRIPTION).as_deref(), Some("Pancreas"));
}

/// The values kept in the ImagingStudy at ingest (`dicom-attributes` on the study and its
/// series) give QIDO exactly what reading the stored instance gives, for every corpus file:
/// character sets, person name groups, numbers as written, sequences, ACR-NEMA dates; and
/// every study and series attribute the instance has, so `includefield=all` at those levels
/// needs no read of the instance.
#[test]
fn kept_attributes_answer_qido_like_the_stored_instance() {
    use dicom_fhir_core::__private::records;
    let mut compared = 0;
    for (name, path) in corpus() {
        let Ok(inst) = parse(&std::fs::read(&path).unwrap()) else {
            continue;
        };
        let derived = dicom_fhir_core::derive(&inst, &Default::default());
        let Some(with_kept) = derived.get("imagingStudy").filter(|s| s.is_object()) else {
            continue;
        };
        // the same ImagingStudy without the kept values, and the instance's DICOM JSON instead
        let mut bare = with_kept.clone();
        bare.as_object_mut().unwrap().remove("extension");
        for se in bare["series"].as_array_mut().unwrap() {
            se.as_object_mut().unwrap().remove("extension");
        }
        let series_uid = inst.series_instance_uid().to_owned();
        // The server reads only the tags a query asks for from the stored instance (QIDO's
        // default set here: the ones kept), and `records` returns whatever it is given; so the
        // instance's JSON is cut to those tags, and every value is still compared.
        let Some(kept_only) = records(with_kept, None, None, "http://x") else {
            continue;
        };
        let asked = |attrs: &std::collections::BTreeMap<u32, serde_json::Value>| -> Vec<String> {
            attrs.keys().map(|t| format!("{t:08X}")).collect()
        };
        let cut = |json: serde_json::Value, keys: &[String]| -> serde_json::Value {
            let mut json = json;
            if let Some(obj) = json.as_object_mut() {
                obj.retain(|k, _| keys.contains(k));
            }
            json
        };
        let dicom = serde_json::json!({
            "study": cut(inst.dicom_json(""), &asked(&kept_only.study)),
            "series": {series_uid.clone(): cut(inst.dicom_json(""), &asked(&kept_only.series[0].attrs))},
        });
        let (Some(kept), Some(read)) = (
            records(with_kept, None, None, "http://x"),
            records(&bare, None, Some(&dicom), "http://x"),
        ) else {
            continue;
        };
        assert_eq!(kept.study, read.study, "{name}: study attributes differ");
        assert_eq!(
            kept.series[0].attrs, read.series[0].attrs,
            "{name}: series attributes differ"
        );
        // includefield=all: the whole instance read gives no study or series attribute more
        let whole = serde_json::json!({"study": inst.dicom_json(""), "series": {&series_uid: inst.dicom_json("")}});
        let read_all = records(&bare, None, Some(&whole), "http://x").unwrap();
        let fhir_only = records(&bare, None, None, "http://x").unwrap();
        for (what, kept, read, fhir) in [
            ("study", &kept.study, &read_all.study, &fhir_only.study),
            ("series", &kept.series[0].attrs, &read_all.series[0].attrs, &fhir_only.series[0].attrs),
        ] {
            let missing: Vec<String> = read.keys().filter(|t| !kept.contains_key(t) && !fhir.contains_key(t)).map(|t| format!("{t:08X}")).collect();
            assert!(missing.is_empty(), "{name}: {what} attributes not kept: {missing:?}");
            for (t, v) in kept {
                if read.contains_key(t) && !fhir.contains_key(t) {
                    assert_eq!(Some(v), read.get(t), "{name}: {what} {t:08X}");
                }
            }
        }
        compared += 1;
    }
    assert!(compared >= 200, "only {compared} files compared");
}
