//! Finding files under the given paths and asking the core whether each one is DICOM.

use std::path::{Path, PathBuf};

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
    /// Not DICOM (or not readable): the reason, from the core's parser.
    Skipped(PathBuf, String),
}

#[derive(Debug, Clone)]
pub struct DicomFile {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub study_instance_uid: String,
    pub sop_instance_uid: String,
}

/// Reads and parses one file with the core.
pub fn scan_file(path: &Path) -> Scanned {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Scanned::Skipped(path.to_path_buf(), format!("cannot read: {e}")),
    };
    match dicom_fhir_core::parse::parse(&bytes) {
        Ok(p) => Scanned::Dicom(DicomFile {
            path: path.to_path_buf(),
            sha256: p.sha256().to_string(),
            size: p.size(),
            study_instance_uid: p.study_instance_uid().to_string(),
            sop_instance_uid: p.sop_instance_uid().to_string(),
        }),
        Err(e) => Scanned::Skipped(path.to_path_buf(), format!("not DICOM: {e}")),
    }
}
