//! Where a bulk data value lies in a Part-10 instance (WADO-RS `…/bulkdata/<tag path>`).
//!
//! [`locate`] walks the data set token by token with dicom-rs' lazy reader (values are skipped,
//! never kept) until it reaches the element a BulkDataURI names (see [`crate::json`] for the
//! tag path scheme) and returns the byte range(s) of its value in the Part-10 input, so the
//! caller can stream exactly those bytes from what it already holds. Nothing is loaded twice
//! and the pixel data is never read: encapsulated pixel data is walked item header by item
//! header with seeks.
//!
//! When the bytes to serve are not a slice of the input, the value is returned as bytes:
//! deflated data sets (offsets are in the inflated stream), big endian data (bulk data is
//! served little endian, PS3.18 §8.7.3.3.1) and 1-bit frames that do not start on a byte.
//!
//! The top-level encapsulated Pixel Data is served one part per frame (PS3.18 §8.6.1: compressed
//! multi-frame data is sent as individual frames, without item delimiters); any other
//! encapsulated value (e.g. an icon in a sequence) as one part: its fragments concatenated.

use std::io::{Cursor, Read, Seek};

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;

use crate::part10::{
    err, fragments, guarded, open, stream_chunk, swap_width, value_chunk, walk_stream, with_stream, Chunk, Found, Seg,
    DEFAULT_MAX_INFLATED, MAX_DEPTH,
};
use crate::DicomError;

/// The value a tag path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkValue {
    pub vr: VR,
    /// One part per frame for the top-level encapsulated Pixel Data, one part otherwise.
    pub parts: Vec<Vec<Chunk>>,
}

/// Parses `7FE00010`, `00540016/0/00181072` (tags and item indices alternate, ends on a tag).
pub fn parse_tag_path(path: &str) -> Result<Vec<Tag>, DicomError> {
    Ok(parse_path(path)?
        .into_iter()
        .filter_map(|s| match s {
            Seg::Tag(t) => Some(t),
            Seg::Item(_) => None,
        })
        .collect())
}

pub(crate) fn parse_path(path: &str) -> Result<Vec<Seg>, DicomError> {
    let bad = || {
        err(format!(
            "malformed bulk data path '{path}': expected tags as 8 hex digits and item indices, e.g. 7FE00010 or 00540016/0/00181072"
        ))
    };
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if parts.is_empty() || parts.len() % 2 == 0 || parts.len() > 2 * MAX_DEPTH + 1 {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        if i % 2 == 0 {
            if p.len() != 8 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            let v = u32::from_str_radix(p, 16).map_err(|_| bad())?;
            out.push(Seg::Tag(Tag((v >> 16) as u16, (v & 0xFFFF) as u16)));
        } else {
            if p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            out.push(Seg::Item(p.parse().map_err(|_| bad())?));
        }
    }
    Ok(out)
}

/// Finds the value a tag path names; `Ok(None)` when the instance has no such element.
/// A deflated data set is inflated up to [`DEFAULT_MAX_INFLATED`] bytes.
pub fn locate<R: Read + Seek>(r: &mut R, path: &str) -> Result<Option<BulkValue>, DicomError> {
    locate_limited(r, path, DEFAULT_MAX_INFLATED)
}

/// [`locate`] inflating a deflated data set up to `max_inflated` bytes; beyond that a
/// [`LimitExceeded`](crate::ErrorKind::LimitExceeded) error. A malformed `path` is
/// [`InvalidInput`](crate::ErrorKind::InvalidInput); an instance that cannot be read is
/// [`CorruptStored`](crate::ErrorKind::CorruptStored) (it is one this server stored).
pub fn locate_limited<R: Read + Seek>(r: &mut R, path: &str, max_inflated: u64) -> Result<Option<BulkValue>, DicomError> {
    let target = parse_path(path)?;
    guarded(|| locate_inner(r, &target, max_inflated))
}

/// [`locate`] over bytes in memory.
pub fn locate_in(bytes: &[u8], path: &str) -> Result<Option<BulkValue>, DicomError> {
    locate(&mut Cursor::new(bytes), path)
}

/// [`locate_limited`] over bytes in memory.
pub fn locate_in_limited(bytes: &[u8], path: &str, max_inflated: u64) -> Result<Option<BulkValue>, DicomError> {
    locate_limited(&mut Cursor::new(bytes), path, max_inflated)
}

fn locate_inner<R: Read + Seek>(r: &mut R, target: &[Seg], max_inflated: u64) -> Result<Option<BulkValue>, DicomError> {
    let opened = open(r, max_inflated)?;
    let (walk, ts) = walk_stream(r, &opened, target)?;
    let Some(found) = walk.found else {
        return Ok(None);
    };
    let top_pixel = target.len() == 1 && target[0] == Seg::Tag(tags::PIXEL_DATA);
    match found {
        Found::Value { pos, len, vr } => {
            let chunk = value_chunk(r, &opened, ts, pos, len, swap_width(vr))?;
            Ok(Some(BulkValue { vr, parts: vec![vec![chunk]] }))
        }
        Found::Encapsulated { pos } => {
            if top_pixel {
                let frames = crate::frames::encapsulated_frames(r, &opened, &walk.attrs, pos)?;
                return Ok(Some(BulkValue { vr: VR::OB, parts: frames }));
            }
            let frags = with_stream(r, &opened, |s, end| fragments(s, pos, end))?;
            let chunks = frags
                .iter()
                .skip(1)
                .map(|f| stream_chunk(&opened, f.value, f.len))
                .collect();
            Ok(Some(BulkValue { vr: VR::OB, parts: vec![chunks] }))
        }
    }
}

/// Standard base64 (for bytes that cross a text boundary, e.g. JNI JSON).
pub fn base64(bytes: &[u8]) -> String {
    crate::json::base64(bytes)
}
