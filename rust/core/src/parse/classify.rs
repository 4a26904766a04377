//! What a file that does not parse is: not DICOM, a DICOMDIR, or a damaged instance.

use std::panic::{catch_unwind, AssertUnwindSafe};

use dicom_object::FileMetaTable;

use crate::parse::read::find_magic;
use crate::parse::{err, parse, ParsedInstance};
use crate::DicomError;

/// Media Storage Directory Storage: the SOP Class of a DICOMDIR (PS3.4 Annex F, PS3.10 8.6).
pub(super) const MEDIA_STORAGE_DIRECTORY: &str = "1.2.840.10008.1.3.10";

/// What a file that [`classify`] did not accept is, for a tool deciding whether to skip it
/// or to report it as a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No Part-10 "DICM" prefix (PS3.10 7.1: a 128-byte preamble, then "DICM"; the parser also
    /// reads "DICM" at byte 0): not a DICOM file at all (text, JPEG, a bare data set). Skip it.
    NotDicom,
    /// A DICOMDIR (Media Storage SOP Class UID 1.2.840.10008.1.3.10 in the File Meta
    /// Information): the index of a medium, a DICOM file that holds no instance. Skip it.
    Directory,
    /// A DICOM file (it has the "DICM" prefix) that cannot be read as an instance: truncated,
    /// garbled or incomplete File Meta Information, a broken data set, missing or malformed
    /// key UIDs, an unsupported transfer syntax. A failure, not a skip.
    Invalid,
}

impl Rejection {
    /// True for a file that should have been an instance: [`Rejection::Invalid`].
    pub fn is_failure(&self) -> bool {
        matches!(self, Rejection::Invalid)
    }
}

/// Why [`classify`] did not give an instance: the kind and the parser's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub kind: Rejection,
    pub error: DicomError,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Rejected {}

/// [`parse`], and when it fails, what the file is: not DICOM, a DICOMDIR, or an invalid
/// (damaged) DICOM file. Never panics.
pub fn classify(bytes: &[u8]) -> Result<ParsedInstance, Rejected> {
    let error = match parse(bytes) {
        Ok(parsed) => return Ok(parsed),
        Err(e) => e,
    };
    let Ok(magic_at) = find_magic(bytes) else {
        return Err(Rejected {
            kind: Rejection::NotDicom,
            error,
        });
    };
    let mut rest = &bytes[magic_at..];
    let directory = catch_unwind(AssertUnwindSafe(|| {
        FileMetaTable::from_reader(&mut rest)
            .map(|meta| meta.media_storage_sop_class_uid() == MEDIA_STORAGE_DIRECTORY)
            .unwrap_or(false)
    }))
    .unwrap_or(false);
    Err(if directory {
        Rejected {
            kind: Rejection::Directory,
            error: err(
                "a DICOMDIR (Media Storage Directory): the index of a medium, not an instance",
            ),
        }
    } else {
        Rejected {
            kind: Rejection::Invalid,
            error,
        }
    })
}
