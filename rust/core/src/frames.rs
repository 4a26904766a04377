//! Frames of an instance's Pixel Data, without decoding (WADO-RS `…/frames/1,3,5`).
//!
//! [`frames`] returns, for each requested frame, where its bytes are in the Part-10 input
//! ([`Chunk`]s), reading only the data set header and, for encapsulated data, the item headers
//! of the fragments (the fragment values are seeked over, never read), except where the split
//! needs a peek at the first bytes of fragments (see below).
//!
//! * Native: a frame is `Rows × Columns × SamplesPerPixel × BitsAllocated` bits (YBR_*_422:
//!   two samples per pixel), frames packed back to back. A frame that starts inside a byte
//!   (1-bit data whose frame size is not a multiple of 8 bits) is shifted into new bytes,
//!   first pixel in the lowest bit as DICOM packs it. Big endian data is swapped to little
//!   endian (PS3.18 §8.7.3.3.1).
//! * Encapsulated (PS3.5 A.4): the Extended Offset Table (7FE0,0001) when present, else the
//!   Basic Offset Table when it has one offset per frame; each frame is the concatenation of
//!   the fragments from its offset to the next frame's. With an empty table: one fragment per
//!   frame when the counts agree, all fragments for a single frame, and otherwise a split where
//!   a fragment starts a new codestream (JPEG SOI `FFD8`, JPEG 2000 SOC+SIZ `FF4F FF51` or the
//!   JP2 signature box), or failing that after each fragment that ends one (EOI/EOC `FFD9`,
//!   with an optional padding byte).
//!
//! dicom-rs' `PixelDataObject::frame_pixel_data` supports neither the Extended Offset Table
//! nor several fragments per frame without a Basic Offset Table (see docs/dicomweb.md).

use std::io::{Cursor, Read, Seek};

use dicom_dictionary_std::tags;

use crate::part10::{
    fragments, guarded, open, read_stream, stream_chunk, walk_stream, with_stream, Chunk, DEFAULT_MAX_INFLATED,
    Found, Fragment, ImageAttrs, Opened, Seg,
};
use crate::DicomError;

/// See `part10::err`: an invalid stored instance becomes `CorruptStored` at the entry points.
fn err(msg: impl Into<String>) -> DicomError {
    DicomError::invalid_input(msg)
}

/// The requested frames of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frames {
    pub transfer_syntax_uid: String,
    pub number_of_frames: u64,
    pub encapsulated: bool,
    /// One entry per requested frame, in request order; `None` for a frame that does not exist.
    pub frames: Vec<Option<Vec<Chunk>>>,
}

/// Parses a WADO-RS frame list (`1,3,5`; PS3.18 §8.3.3.1: 1-based frame numbers separated
/// by commas, in the order the parts are wanted; repeats allowed).
pub fn parse_frame_list(list: &str) -> Result<Vec<u64>, DicomError> {
    let bad = |why: &str| err(format!("malformed frame list '{list}': {why}"));
    let mut out = Vec::new();
    for item in list.split(',') {
        let t = item.trim();
        if t.is_empty() {
            return Err(bad("empty frame number"));
        }
        if !t.bytes().all(|b| b.is_ascii_digit()) || t.len() > 10 {
            return Err(bad(&format!("'{t}' is not a frame number")));
        }
        let n: u64 = t.parse().map_err(|_| bad("not a number"))?;
        if n == 0 {
            return Err(bad("frame numbers start at 1"));
        }
        out.push(n);
        if out.len() > 100_000 {
            return Err(bad("more than 100000 frames"));
        }
    }
    Ok(out)
}

/// Frames `numbers` (1-based, in that order) of the Part-10 instance read from `r`.
/// An instance without Pixel Data has 0 frames.
/// A deflated data set is inflated up to [`DEFAULT_MAX_INFLATED`] bytes.
pub fn frames<R: Read + Seek>(r: &mut R, numbers: &[u64]) -> Result<Frames, DicomError> {
    frames_limited(r, numbers, DEFAULT_MAX_INFLATED)
}

/// [`frames`] inflating a deflated data set up to `max_inflated` bytes; beyond that a
/// [`LimitExceeded`](crate::ErrorKind::LimitExceeded) error. An instance that cannot be read is
/// [`CorruptStored`](crate::ErrorKind::CorruptStored) (it is one this server stored).
pub fn frames_limited<R: Read + Seek>(r: &mut R, numbers: &[u64], max_inflated: u64) -> Result<Frames, DicomError> {
    guarded(|| frames_inner(r, numbers, max_inflated))
}

/// [`frames`] over bytes in memory.
pub fn frames_in(bytes: &[u8], numbers: &[u64]) -> Result<Frames, DicomError> {
    frames(&mut Cursor::new(bytes), numbers)
}

/// [`frames_limited`] over bytes in memory.
pub fn frames_in_limited(bytes: &[u8], numbers: &[u64], max_inflated: u64) -> Result<Frames, DicomError> {
    frames_limited(&mut Cursor::new(bytes), numbers, max_inflated)
}

/// Every frame of the instance (tests, tools).
pub fn all_frames_in(bytes: &[u8]) -> Result<Frames, DicomError> {
    let n = frames_in(bytes, &[])?.number_of_frames;
    frames_in(bytes, &(1..=n).collect::<Vec<_>>())
}

fn frames_inner<R: Read + Seek>(r: &mut R, numbers: &[u64], max_inflated: u64) -> Result<Frames, DicomError> {
    let opened = open(r, max_inflated)?;
    let target = [Seg::Tag(tags::PIXEL_DATA)];
    let (walk, ts) = walk_stream(r, &opened, &target)?;
    let attrs = walk.attrs;
    let count = attrs.number_of_frames.filter(|n| *n > 0).unwrap_or(1);
    let want = |n: u64| n >= 1 && n <= count;
    match walk.found {
        // no pixel data: no frames (every requested frame is missing)
        None => Ok(Frames {
            transfer_syntax_uid: opened.ts_uid.clone(),
            number_of_frames: 0,
            encapsulated: false,
            frames: vec![None; numbers.len()],
        }),
        Some(Found::Encapsulated { pos }) => {
            let all = encapsulated_frames(r, &opened, &attrs, pos)?;
            let count = all.len() as u64;
            let frames = numbers
                .iter()
                .map(|n| (*n >= 1 && *n <= count).then(|| all[(*n - 1) as usize].clone()))
                .collect();
            Ok(Frames {
                transfer_syntax_uid: opened.ts_uid.clone(),
                number_of_frames: count,
                encapsulated: true,
                frames,
            })
        }
        Some(Found::Value { pos, len, vr }) => {
            let rows = attrs.rows.ok_or_else(|| err("native pixel data without Rows (0028,0010)"))?;
            let cols = attrs
                .columns
                .ok_or_else(|| err("native pixel data without Columns (0028,0011)"))?;
            let bits = attrs
                .bits_allocated
                .ok_or_else(|| err("native pixel data without BitsAllocated (0028,0100)"))?;
            let mut spp = attrs.samples_per_pixel.unwrap_or(1).max(1);
            if attrs
                .photometric
                .as_deref()
                .is_some_and(|p| p.ends_with("_422"))
                && spp == 3
            {
                spp = 2;
            }
            let frame_bits = rows
                .checked_mul(cols)
                .and_then(|x| x.checked_mul(spp))
                .and_then(|x| x.checked_mul(bits))
                .filter(|x| *x > 0)
                .ok_or_else(|| err("native pixel data: Rows × Columns × SamplesPerPixel × BitsAllocated is 0 or too large"))?;
            let width = if ts.endianness() == dicom_encoding::transfer_syntax::Endianness::Big {
                match (bits, vr) {
                    (16, _) => 2,
                    (32, _) => 4,
                    (64, _) => 8,
                    _ => 0,
                }
            } else {
                0
            };
            let mut out = Vec::with_capacity(numbers.len());
            for &n in numbers {
                if !want(n) {
                    out.push(None);
                    continue;
                }
                let start_bit = (n - 1) * frame_bits;
                let end_bit = start_bit + frame_bits;
                if end_bit > len * 8 {
                    return Err(err(format!(
                        "native pixel data holds {len} bytes, too few for frame {n} of {count} ({frame_bits} bits each)"
                    )));
                }
                let chunk = if start_bit % 8 == 0 && frame_bits % 8 == 0 {
                    let (off, flen) = (pos + start_bit / 8, frame_bits / 8);
                    if width > 1 {
                        let mut b = read_stream(r, &opened, off, flen)?;
                        for c in b.chunks_exact_mut(width) {
                            c.reverse();
                        }
                        Chunk::Bytes(b)
                    } else {
                        stream_chunk(&opened, off, flen)
                    }
                } else {
                    let first = start_bit / 8;
                    let last = end_bit.div_ceil(8);
                    let raw = read_stream(r, &opened, pos + first, last - first)?;
                    Chunk::Bytes(shift_bits(&raw, (start_bit % 8) as u32, frame_bits))
                };
                out.push(Some(vec![chunk]));
            }
            Ok(Frames {
                transfer_syntax_uid: opened.ts_uid.clone(),
                number_of_frames: count,
                encapsulated: false,
                frames: out,
            })
        }
    }
}

/// `bits` bits starting at bit `shift` of `raw` (LSB first), packed from bit 0.
fn shift_bits(raw: &[u8], shift: u32, bits: u64) -> Vec<u8> {
    let n = bits.div_ceil(8) as usize;
    let mut out = vec![0u8; n];
    for (i, o) in out.iter_mut().enumerate() {
        let lo = raw.get(i).copied().unwrap_or(0) >> shift;
        let hi = if shift == 0 {
            0
        } else {
            raw.get(i + 1).copied().unwrap_or(0) << (8 - shift)
        };
        *o = lo | hi;
    }
    let rem = (bits % 8) as u32;
    if rem != 0 {
        if let Some(last) = out.last_mut() {
            *last &= (1u8 << rem) - 1;
        }
    }
    out
}

/// Splits encapsulated pixel data whose first item header is at data set position `pos`
/// into frames (each a list of fragment values).
pub(crate) fn encapsulated_frames<R: Read + Seek>(
    r: &mut R,
    opened: &Opened,
    attrs: &ImageAttrs,
    pos: u64,
) -> Result<Vec<Vec<Chunk>>, DicomError> {
    let count = attrs.number_of_frames.filter(|n| *n > 0).unwrap_or(1);
    let groups = with_stream(r, opened, |s, end| {
        let items = fragments(s, pos, end)?;
        let Some((bot, frags)) = items.split_first() else {
            return Err(err("malformed pixel data: no Basic Offset Table item"));
        };
        split(s, bot, frags, count, attrs.extended_offsets.as_deref())
    })?;
    Ok(groups
        .into_iter()
        .map(|g| g.iter().map(|f| stream_chunk(opened, f.value, f.len)).collect())
        .collect())
}

fn split<S: Read + Seek + ?Sized>(
    s: &mut S,
    bot: &Fragment,
    frags: &[Fragment],
    count: u64,
    extended: Option<&[u64]>,
) -> Result<Vec<Vec<Fragment>>, DicomError> {
    if frags.is_empty() {
        return Err(err("encapsulated pixel data without fragments"));
    }
    let first_item = frags[0].item;
    if let Some(eot) = extended.filter(|o| !o.is_empty()) {
        if let Some(g) = by_offsets(frags, first_item, eot, count) {
            return Ok(g);
        }
    }
    if bot.len >= 4 {
        let mut raw = vec![0u8; bot.len as usize];
        s.seek(std::io::SeekFrom::Start(bot.value))
            .and_then(|_| s.read_exact(&mut raw))
            .map_err(|e| err(format!("cannot read the Basic Offset Table: {e}")))?;
        let offsets: Vec<u64> = raw
            .chunks_exact(4)
            .map(|c| u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        if let Some(g) = by_offsets(frags, first_item, &offsets, count) {
            return Ok(g);
        }
    }
    if frags.len() as u64 == count {
        return Ok(frags.iter().map(|f| vec![*f]).collect());
    }
    if count == 1 {
        return Ok(vec![frags.to_vec()]);
    }
    if (frags.len() as u64) < count {
        return Err(err(format!(
            "encapsulated pixel data has {} fragments for {count} frames",
            frags.len()
        )));
    }
    // Several fragments per frame and no usable offset table: find the codestream boundaries.
    let mut starts = Vec::with_capacity(frags.len());
    let mut ends = Vec::with_capacity(frags.len());
    for f in frags {
        let head = peek(s, f.value, f.len.min(12))?;
        let tail_at = f.value + f.len.saturating_sub(3);
        let tail = peek(s, tail_at, f.len.min(3))?;
        starts.push(starts_codestream(&head));
        ends.push(ends_codestream(&tail));
    }
    let by_start = group_where(frags, |i| i == 0 || starts[i]);
    if by_start.len() as u64 == count {
        return Ok(by_start);
    }
    let by_end = group_where(frags, |i| i == 0 || ends[i - 1]);
    if by_end.len() as u64 == count {
        return Ok(by_end);
    }
    Err(err(format!(
        "cannot split {} fragments into {count} frames: no usable offset table and the codestream markers do not agree",
        frags.len()
    )))
}

fn peek<S: Read + Seek + ?Sized>(s: &mut S, at: u64, len: u64) -> Result<Vec<u8>, DicomError> {
    let mut b = vec![0u8; len as usize];
    s.seek(std::io::SeekFrom::Start(at))
        .and_then(|_| s.read_exact(&mut b))
        .map_err(|e| err(format!("cannot read a fragment: {e}")))?;
    Ok(b)
}

fn starts_codestream(head: &[u8]) -> bool {
    head.starts_with(&[0xFF, 0xD8])
        || head.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
        || head.starts_with(&[0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20])
}

fn ends_codestream(tail: &[u8]) -> bool {
    let n = tail.len();
    (n >= 2 && tail[n - 2..] == [0xFF, 0xD9]) || (n >= 3 && tail[n - 3..n - 1] == [0xFF, 0xD9] && tail[n - 1] == 0)
}

/// Groups fragments, a new group starting at each index where `new` holds.
fn group_where(frags: &[Fragment], new: impl Fn(usize) -> bool) -> Vec<Vec<Fragment>> {
    let mut out: Vec<Vec<Fragment>> = Vec::new();
    for (i, f) in frags.iter().enumerate() {
        if new(i) || out.is_empty() {
            out.push(Vec::new());
        }
        if let Some(last) = out.last_mut() {
            last.push(*f);
        }
    }
    out
}

/// Groups fragments by frame offsets (relative to the first fragment's item header);
/// `None` when the table does not fit the fragments.
fn by_offsets(frags: &[Fragment], first_item: u64, offsets: &[u64], count: u64) -> Option<Vec<Vec<Fragment>>> {
    if offsets.len() as u64 != count || offsets.first() != Some(&0) {
        return None;
    }
    if offsets.windows(2).any(|w| w[1] <= w[0]) {
        return None;
    }
    let mut out: Vec<Vec<Fragment>> = vec![Vec::new(); offsets.len()];
    let mut k = 0usize;
    for f in frags {
        let rel = f.item - first_item;
        while k + 1 < offsets.len() && rel >= offsets[k + 1] {
            if rel != offsets[k + 1] {
                return None; // an offset that falls inside a fragment
            }
            k += 1;
        }
        out[k].push(*f);
    }
    if out.iter().any(Vec::is_empty) {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lists() {
        assert_eq!(parse_frame_list("1,3,5").unwrap(), vec![1, 3, 5]);
        assert_eq!(parse_frame_list(" 2 , 1,2").unwrap(), vec![2, 1, 2]);
        for bad in ["", "1,,2", "0", "-1", "a", "1.5", "1,", "99999999999"] {
            assert!(parse_frame_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bit_shifting() {
        // bits (LSB first) of 0b1011_0100 0b0000_0011, take 6 bits from bit 2: 101101, then 0..
        assert_eq!(shift_bits(&[0b1011_0100, 0b0000_0011], 2, 6), vec![0b0010_1101]);
        assert_eq!(shift_bits(&[0b1011_0100, 0b0000_0011], 4, 8), vec![0b0011_1011]);
        assert_eq!(shift_bits(&[0xAB, 0xCD], 0, 16), vec![0xAB, 0xCD]);
    }

    #[test]
    fn markers() {
        assert!(starts_codestream(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(starts_codestream(&[0xFF, 0x4F, 0xFF, 0x51, 0]));
        assert!(!starts_codestream(&[0x12, 0x34]));
        assert!(ends_codestream(&[0x00, 0xFF, 0xD9]));
        assert!(ends_codestream(&[0xFF, 0xD9, 0x00]));
        assert!(!ends_codestream(&[0xFF, 0xD9, 0x01]));
    }

    fn item(out: &mut Vec<u8>, value: &[u8]) {
        out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }

    /// emri_small_jpeg_2k_lossless.dcm rebuilt with each frame in two fragments, with an
    /// empty Basic Offset Table, and optionally with an Extended Offset Table.
    fn rebuilt(extended: bool) -> (Vec<u8>, Vec<Vec<u8>>) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.data/pydicom-data/emri_small_jpeg_2k_lossless.dcm");
        let bytes = std::fs::read(path).expect("run scripts/fetch-test-data.sh");
        let orig = all_frames_in(&bytes).unwrap();
        let frames: Vec<Vec<u8>> = orig
            .frames
            .iter()
            .map(|c| crate::part10::chunk_bytes(&bytes, c.as_ref().unwrap()))
            .collect();
        let header = [0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
        let at = bytes
            .windows(12)
            .rposition(|w| w[..4] == header[..4] && w[6..] == header[6..])
            .unwrap();
        let mut out = bytes[..at].to_vec();
        let mut items = Vec::new();
        let (mut offsets, mut lengths) = (Vec::new(), Vec::new());
        for f in &frames {
            offsets.push(items.len() as u64);
            lengths.push(f.len() as u64);
            let mid = (f.len() / 2) & !1;
            item(&mut items, &f[..mid]);
            item(&mut items, &f[mid..]);
        }
        if extended {
            for (tag, vals) in [(0x0001u16, &offsets), (0x0002, &lengths)] {
                out.extend_from_slice(&[0xE0, 0x7F]);
                out.extend_from_slice(&tag.to_le_bytes());
                out.extend_from_slice(&[b'O', b'V', 0, 0]);
                out.extend_from_slice(&((vals.len() * 8) as u32).to_le_bytes());
                vals.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
            }
        }
        out.extend_from_slice(&header);
        item(&mut out, &[]);
        out.extend_from_slice(&items);
        out.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        (out, frames)
    }

    #[test]
    fn empty_offset_table_with_two_fragments_per_frame_and_extended_offset_table() {
        for extended in [false, true] {
            let (bytes, frames) = rebuilt(extended);
            let got = frames_in(&bytes, &[3, 1, 10, 11]).unwrap();
            assert_eq!(got.number_of_frames, 10);
            for (k, n) in [(0usize, 3usize), (1, 1), (2, 10)] {
                let chunks = got.frames[k].as_ref().unwrap();
                assert_eq!(chunks.len(), 2, "two fragments");
                assert_eq!(crate::part10::chunk_bytes(&bytes, chunks), frames[n - 1], "frame {n}");
            }
            assert!(got.frames[3].is_none());
        }
    }

    #[test]
    fn offset_tables_group_fragments_without_markers() {
        let frag = |item: u64, len: u64| Fragment { item, value: item + 8, len };
        // fragments of 10, 20, 30, 40 bytes; items at 0, 18, 46, 84 (relative)
        let frags = [frag(100, 10), frag(118, 20), frag(146, 30), frag(184, 40)];
        let g = by_offsets(&frags, 100, &[0, 46], 2).unwrap();
        assert_eq!(g, vec![frags[..2].to_vec(), frags[2..].to_vec()]);
        let g = by_offsets(&frags, 100, &[0, 18, 84], 3).unwrap();
        assert_eq!(g.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 2, 1]);
        assert!(by_offsets(&frags, 100, &[0, 20], 2).is_none(), "offset inside a fragment");
        assert!(by_offsets(&frags, 100, &[0, 46], 3).is_none(), "wrong count");
        // no table, no markers, more fragments than frames: refused, never guessed
        let data = vec![0u8; 300];
        let bot = frag(92, 0);
        let e = split(&mut Cursor::new(data.clone()), &bot, &frags, 2, None).unwrap_err();
        assert!(e.message().contains("cannot split"), "{e}");
        let g = split(&mut Cursor::new(data), &bot, &frags, 2, Some(&[0, 18])).unwrap();
        assert_eq!(g.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 3]);
    }
}
