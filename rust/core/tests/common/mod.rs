//! The test corpus shared by the integration tests: the files of the pydicom and pydicom-data
//! wheels, which `scripts/fetch-test-data.sh` puts under `.data/`.

// Each test crate uses part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dicom_fhir_core::{parse, ParsedInstance};

/// `.data/` of the repository; fails the test (never skips it) when the corpus is missing.
pub fn data_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data");
    assert!(
        root.join("pydicom").is_dir() && root.join("pydicom-data").is_dir(),
        "test corpus missing under {}: run scripts/fetch-test-data.sh",
        root.display()
    );
    root
}

/// Every file below `dir`, depth first, appended to `out`.
pub fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out)
        } else {
            out.push(p)
        }
    }
}

/// Every file of the two wheels (`pydicom/`, `pydicom-data/`, their subfolders included), sorted.
pub fn wheel_files() -> Vec<PathBuf> {
    let root = data_root();
    let mut files = Vec::new();
    for d in ["pydicom", "pydicom-data"] {
        walk(&root.join(d), &mut files);
    }
    files.sort();
    files
}

/// The bytes of the wheel file called `name` (a file name, no folder).
pub fn read_named(name: &str) -> Vec<u8> {
    let p = wheel_files()
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("{name} not in the corpus"));
    std::fs::read(p).unwrap()
}

/// Corpus files with Pixel Data that `parse` accepts and `keep` selects, by name relative to
/// `.data/`, with their bytes.
pub fn pixel_data_files(keep: impl Fn(&ParsedInstance) -> bool) -> Vec<(String, Vec<u8>)> {
    let root = data_root();
    wheel_files()
        .into_iter()
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            let parsed = parse(&bytes).ok()?;
            parsed.pixel_data()?;
            if !keep(&parsed) {
                return None;
            }
            Some((p.strip_prefix(&root).unwrap().to_string_lossy().into_owned(), bytes))
        })
        .collect()
}

/// Compressed corpus files whose pixel data dicom-pixeldata cannot decode, with a word the
/// reason must contain: rendering and transcoding refuse them alike (as Unsupported).
pub const UNDECODABLE: &[(&str, &str)] = &[
    ("pydicom/SC_rgb_rle_32bit.dcm", "Bits Allocated 32"),
    ("pydicom/SC_rgb_rle_32bit_2frame.dcm", "Bits Allocated 32"),
    ("pydicom/rtdose_rle.dcm", "Bits Allocated 32"),
    ("pydicom/rtdose_rle_1frame.dcm", "Bits Allocated 32"),
    // 12-bit lossy JPEG whose codestream libjpeg-turbo rejects (pydicom + pylibjpeg too: "scan
    // start must be zero and scan stop must be 63 for the sequential operating modes")
    ("pydicom/JPEG-lossy.dcm", "12-bit JPEG"),
    // the J2K codestream is followed by a stray sequence delimiter inside the fragment
    ("pydicom/JPEG2000-embedded-sequence-delimiter.dcm", "could not be decoded"),
    // dicom-object's reader refuses the data set our parser accepts
    ("pydicom/SC_rgb_jpeg.dcm", "cannot read this data set"),
];

/// How the files refused (name → reason) differ from those expected (name → a word of the
/// reason), one line each; `works` says what a file no longer refused now does ("renders").
pub fn refusal_differences<'a>(
    refused: &BTreeMap<String, String>,
    expected: impl IntoIterator<Item = &'a (&'a str, &'a str)>,
    works: &str,
) -> Vec<String> {
    let expected: BTreeMap<String, &str> = expected.into_iter().map(|(n, w)| (n.to_string(), *w)).collect();
    let mut problems = Vec::new();
    for (name, why) in refused {
        match expected.get(name) {
            Some(w) if why.contains(w) => {}
            Some(w) => problems.push(format!("{name}: reason {why:?} lacks {w:?}")),
            None => problems.push(format!("{name} newly unsupported: {why}")),
        }
    }
    for name in expected.keys() {
        if !refused.contains_key(name) {
            problems.push(format!("{name} {works} now: remove it from the expected refusals"));
        }
    }
    problems
}
