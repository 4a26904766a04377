//! The test corpus shared by the integration tests: the files of the pydicom and pydicom-data
//! wheels, which `scripts/fetch-test-data.sh` puts under `.data/`.

// Each test crate uses part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

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
