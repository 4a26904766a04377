//! Finding files under the given paths and asking the core what each one is: an instance to
//! send, a file to skip (not DICOM, DICOMDIR) or a failure (invalid DICOM).

use std::path::{Path, PathBuf};

use dicom_fhir_core::Rejection;
use walkdir::WalkDir;

/// Every regular file under `paths` (folders are walked recursively, symlinks followed),
/// sorted within each folder, in the order the paths were given. Unreadable entries are
/// returned as skipped with the reason.
pub fn walk(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for root in paths {
        if !root.exists() {
            problems.push((root.clone(), "no such file or folder".to_string()));
            continue;
        }
        for entry in WalkDir::new(root).follow_links(true).sort_by_file_name() {
            match entry {
                Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
                Ok(_) => {}
                Err(e) => {
                    let path = e
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| root.clone());
                    problems.push((path, e.to_string()));
                }
            }
        }
    }
    (files, problems)
}

/// What the core says about one file.
#[derive(Debug, Clone)]
pub enum Scanned {
    Dicom(DicomFile),
    /// Not DICOM (no Part-10 "DICM" prefix) or a DICOMDIR: the reason, from the core.
    Skipped(PathBuf, String),
    /// A file that should have been an instance and cannot be sent: invalid (damaged) DICOM,
    /// with the core's reason, or a file that cannot be read.
    Failed(PathBuf, String),
}

#[derive(Debug, Clone)]
pub struct DicomFile {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub study_instance_uid: String,
    pub sop_instance_uid: String,
}

/// Reads and classifies one file with the core.
pub fn scan_file(path: &Path) -> Scanned {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Scanned::Failed(path.to_path_buf(), format!("cannot read: {e}")),
    };
    match dicom_fhir_core::classify(&bytes) {
        Ok(p) => Scanned::Dicom(DicomFile {
            path: path.to_path_buf(),
            sha256: p.sha256().to_string(),
            size: p.size(),
            study_instance_uid: p.study_instance_uid().to_string(),
            sop_instance_uid: p.sop_instance_uid().to_string(),
        }),
        Err(r) => match r.kind {
            Rejection::NotDicom => Scanned::Skipped(path.to_path_buf(), format!("not DICOM: {r}")),
            Rejection::Directory => Scanned::Skipped(path.to_path_buf(), r.to_string()),
            Rejection::Invalid => {
                Scanned::Failed(path.to_path_buf(), format!("invalid DICOM: {r}"))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct_small() -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data/pydicom/CT_small.dcm");
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-test-data.sh)", path.display()))
    }

    fn scan_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Scanned {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        scan_file(&path)
    }

    /// A file with the Part-10 "DICM" prefix that does not parse is invalid (damaged) DICOM: a
    /// failure, not a skip.
    #[test]
    fn damaged_dicom_fails_non_dicom_is_skipped() {
        let dir = std::env::temp_dir().join(format!("dicom-fhir-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ct = ct_small();
        let mut garbage = vec![0u8; 128];
        garbage.extend_from_slice(b"DICM");
        garbage.extend((0..1024).map(|i| (i * 7 % 251) as u8));
        for (name, bytes) in [
            ("truncated.dcm", &ct[..ct.len() / 2]),
            ("meta-only.dcm", &ct[..300]),
            ("garbage.dcm", &garbage[..]),
        ] {
            let scanned = scan_bytes(&dir, name, bytes);
            match &scanned {
                Scanned::Failed(_, reason) => {
                    assert!(reason.starts_with("invalid DICOM: "), "{name}: {reason}")
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        for (name, bytes) in [
            ("README.txt", &b"not DICOM"[..]),
            ("photo.jpg", &b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"[..]),
            ("empty", &b""[..]),
        ] {
            let scanned = scan_bytes(&dir, name, bytes);
            assert!(
                matches!(scanned, Scanned::Skipped(..)),
                "{name}: {scanned:?}"
            );
        }
        assert!(matches!(scan_bytes(&dir, "ct.dcm", &ct), Scanned::Dicom(_)));
        let dicomdir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.data/pydicom/dicomdirtests/DICOMDIR");
        match scan_file(&dicomdir) {
            Scanned::Skipped(_, reason) => assert!(reason.contains("DICOMDIR"), "{reason}"),
            other => panic!("DICOMDIR: {other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
