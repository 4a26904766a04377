//! Parsing and validation of DICOM Part-10 instances (header only).
//!
//! [`parse`] reads the File Meta Information and the data set up to, not including,
//! Pixel Data (whose VR, length and encapsulation are recorded without reading the
//! pixels), validates the key UIDs and computes the SHA-256 of the exact bytes.
//! Text is decoded to Unicode with full Specific Character Set support, including the
//! ISO 2022 code extensions that dicom-rs lacks (see `charset.rs`).
//!
//! What we do around dicom-rs 0.10.1 and why:
//! * every dicom-rs call runs inside `catch_unwind`: it has known panics on malformed input;
//! * before the real read, a lazy token scan checks that every value length fits in the
//!   input (dicom-rs allocates the claimed length up front, so a forged 4 GiB length would
//!   otherwise allocate 4 GiB) and that sequences do not nest absurdly deep (the builder
//!   recurses; a stack overflow aborts the process and cannot be caught). The same scan
//!   finds the Pixel Data header;
//! * an explicit VR transfer syntax whose data set is really implicit VR is re-read as
//!   Implicit VR Little Endian (dicom-rs issue #521), with a warning;
//! * deflated data sets are inflated once, with a size cap.
//!
//! Split by concern: `read` (the pipeline), `validate` (key UIDs, value warnings), `view` (value
//! access and text decoding), `classify` (what a rejected file is).

mod classify;
mod read;
#[cfg(test)]
mod tests;
mod validate;
mod view;

use dicom_core::VR;
use dicom_object::{FileMetaTable, InMemDicomObject};

use crate::charset::Charset;
use crate::parse::read::parse_inner;
use crate::part10::catch_parser_panic;
use crate::DicomError;

pub use classify::{classify, Rejected, Rejection};
pub(crate) use view::{is_single_valued_text, is_text_vr, primitive_strings};

/// The three component groups of a PN value, decoded to Unicode.
/// Components inside a group stay '^'-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonName {
    pub alphabetic: Option<String>,
    pub ideographic: Option<String>,
    pub phonetic: Option<String>,
}

/// What we know about the top-level (7FE0,0010) Pixel Data without having read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelDataInfo {
    /// VR as encoded (OB for encapsulated data; OB or OW for native data).
    pub vr: VR,
    /// Value length in bytes for native pixel data; `None` when encapsulated.
    pub length: Option<u64>,
    pub encapsulated: bool,
}

/// A validated Part-10 instance, header only.
#[derive(Debug, Clone)]
pub struct ParsedInstance {
    obj: InMemDicomObject,
    meta: FileMetaTable,
    charset: Charset,
    pixel_data: Option<PixelDataInfo>,
    sha256: String,
    size: u64,
    warnings: Vec<String>,
    study: String,
    series: String,
    sop_instance: String,
    sop_class: String,
    transfer_syntax: String,
}

/// A view of a data set (the instance's root or a sequence item) with text decoding.
/// Same accessors as [`ParsedInstance`].
#[derive(Debug, Clone)]
pub struct ItemView<'a> {
    pub(crate) obj: &'a InMemDicomObject,
    pub(crate) charset: Charset,
}

/// Parses and validates a DICOM Part-10 instance. Never panics.
pub fn parse(bytes: &[u8]) -> Result<ParsedInstance, DicomError> {
    catch_parser_panic(|| parse_inner(bytes))
}

/// The input is not a valid instance (the default error of parsing).
fn err(msg: impl Into<String>) -> DicomError {
    DicomError::invalid_input(msg)
}
