//! Walking a DICOM Part-10 instance without loading it: the File Meta Information, then the data
//! set token by token with dicom-rs' lazy reader (values are skipped, never kept), encapsulated
//! pixel data item header by item header. Shared by [`crate::bulkdata`] (where a value lies) and
//! [`crate::frames`] (where a frame lies); both read instances this server stored, so an instance
//! that cannot be read is a corrupt stored one ([`guarded`]).

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::panic::{catch_unwind, AssertUnwindSafe};

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntax;
use dicom_encoding::transfer_syntax::{Codec, Endianness, TransferSyntaxIndex};
use dicom_object::FileMetaTable;
use dicom_parser::dataset::LazyDataToken;
use dicom_parser::dataset::lazy_read::LazyDataSetReader;
use dicom_parser::stateful::decode::StatefulDecode;
use dicom_transfer_syntax_registry::{entries, TransferSyntaxRegistry};

use crate::DicomError;

/// Default cap on the inflated size of a deflated data set (Deflated Explicit VR Little Endian),
/// inflated in memory on every frames or bulk data request: a deflate bomb costs at most this
/// much. Callers pass their own cap to [`crate::bulkdata::locate_limited`] and [`crate::frames::frames_limited`].
pub const DEFAULT_MAX_INFLATED: u64 = 256 << 20;

/// Start of the message of an error that is a limit of this server, not a defect of the input
/// (its kind is [`ErrorKind::LimitExceeded`](crate::ErrorKind::LimitExceeded)).
const LIMIT_PREFIX: &str = "limit exceeded: ";

pub(crate) const MAX_DEPTH: usize = 32;

/// A piece of a value: a range of the Part-10 input, or bytes made for the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    File { offset: u64, length: u64 },
    Bytes(Vec<u8>),
}

impl Chunk {
    pub fn len(&self) -> u64 {
        match self {
            Chunk::File { length, .. } => *length,
            Chunk::Bytes(b) => b.len() as u64,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bytes of chunks taken from `input` (the Part-10 bytes the chunks were computed from).
pub fn chunk_bytes(input: &[u8], chunks: &[Chunk]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunks.iter().map(|c| c.len() as usize).sum());
    for c in chunks {
        match c {
            Chunk::File { offset, length } => {
                out.extend_from_slice(&input[*offset as usize..(*offset + *length) as usize])
            }
            Chunk::Bytes(b) => out.extend_from_slice(b),
        }
    }
    out
}

/// The instance is not what it should be. Walks read instances this server stored: the public
/// entry points turn this into [`ErrorKind::CorruptStored`](crate::ErrorKind::CorruptStored)
/// ([`guarded`]), while a malformed tag path stays the caller's [`DicomError::invalid_input`].
pub(crate) fn err(msg: impl Into<String>) -> DicomError {
    DicomError::invalid_input(msg)
}

/// Runs a walk of a stored instance: a panic of dicom-rs becomes an error, and an invalid
/// instance is a corrupt stored one ([`DicomError::stored`]).
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, DicomError>) -> Result<T, DicomError> {
    catch_parser_panic(f).map_err(DicomError::stored)
}

/// Runs `f`, turning a panic of dicom-rs (it has known panics on malformed input) into an
/// invalid-input error naming the panic. Shared by [`guarded`] and [`crate::parse`].
pub(crate) fn catch_parser_panic<T>(f: impl FnOnce() -> Result<T, DicomError>) -> Result<T, DicomError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(err(format!("malformed DICOM data: the parser failed ({})", panic_message(&*p, "unknown")))),
    }
}

/// The message of a caught panic (`panic!` with a literal or a formatted string), else `otherwise`.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send), otherwise: &str) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| otherwise.into())
}

/// One segment of a tag path: a tag, then (inside a sequence) an item index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seg {
    Tag(Tag),
    Item(usize),
}

/// An opened Part-10 input: where the data set starts and how it is encoded.
pub(crate) struct Opened {
    pub(crate) ts_uid: String,
    pub(crate) ts: &'static TransferSyntax,
    /// Offset of the data set in the input (0 for an inflated data set).
    pub(crate) data_start: u64,
    /// The inflated data set of a deflated transfer syntax.
    pub(crate) inflated: Option<Vec<u8>>,
}

pub(crate) fn io(e: std::io::Error) -> DicomError {
    err(format!("cannot read the instance: {e}"))
}

pub(crate) fn open<R: Read + Seek>(r: &mut R, max_inflated: u64) -> Result<Opened, DicomError> {
    r.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut head = Vec::with_capacity(132);
    (&mut *r).take(132).read_to_end(&mut head).map_err(io)?;
    let magic = if head.len() >= 132 && &head[128..132] == b"DICM" {
        128
    } else if head.len() >= 4 && &head[..4] == b"DICM" {
        0
    } else {
        return Err(err("not a DICOM Part-10 file: no 'DICM' prefix"));
    };
    r.seek(SeekFrom::Start(magic)).map_err(io)?;
    let meta = FileMetaTable::from_reader(&mut *r)
        .map_err(|e| err(format!("not a DICOM Part-10 file: invalid File Meta Information: {e}")))?;
    let data_start = r.stream_position().map_err(io)?;
    let ts_uid = meta.transfer_syntax().to_string();
    let ts = TransferSyntaxRegistry
        .get(&ts_uid)
        .ok_or_else(|| DicomError::unsupported(format!("unsupported transfer syntax '{ts_uid}'")))?;
    match ts.codec() {
        Codec::Dataset(Some(adapter)) => {
            let mut out = Vec::new();
            let reader = adapter.adapt_reader(Box::new(&mut *r));
            reader
                .take(max_inflated.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| err(format!("deflated data set cannot be inflated: {e}")))?;
            if out.len() as u64 > max_inflated {
                return Err(DicomError::limit_exceeded(format!(
                    "{LIMIT_PREFIX}the deflated data set inflates to more than {max_inflated} bytes, the limit of this server"
                )));
            }
            let explicit = TransferSyntaxRegistry
                .get(entries::EXPLICIT_VR_LITTLE_ENDIAN.uid())
                .ok_or_else(|| DicomError::internal("registry lacks Explicit VR LE"))?;
            Ok(Opened { ts_uid, ts: explicit, data_start: 0, inflated: Some(out) })
        }
        Codec::Dataset(None) => Err(DicomError::unsupported(format!("unsupported transfer syntax '{ts_uid}'"))),
        _ => Ok(Opened { ts_uid, ts, data_start, inflated: None }),
    }
}

/// Top-level attributes that describe the pixel data (read while walking).
#[derive(Debug, Clone, Default)]
pub(crate) struct ImageAttrs {
    pub rows: Option<u64>,
    pub columns: Option<u64>,
    pub samples_per_pixel: Option<u64>,
    pub bits_allocated: Option<u64>,
    pub number_of_frames: Option<u64>,
    pub photometric: Option<String>,
    pub extended_offsets: Option<Vec<u64>>,
}

/// What the walk found at the target path.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    /// A primitive value: position (in the data set stream), length, VR.
    Value { pos: u64, len: u64, vr: VR },
    /// Encapsulated data; `pos` is the first item header (the Basic Offset Table).
    Encapsulated { pos: u64 },
}

pub(crate) struct Walk {
    pub attrs: ImageAttrs,
    pub found: Option<Found>,
}

fn u64s(p: &dicom_core::value::PrimitiveValue) -> Vec<u64> {
    use dicom_core::value::PrimitiveValue as P;
    match p {
        P::U64(v) => v.to_vec(),
        P::U8(b) => b
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
        P::U32(v) => v.iter().map(|x| u64::from(*x)).collect(),
        P::U16(v) => v.iter().map(|x| u64::from(*x)).collect(),
        other => other
            .to_multi_int::<i64>()
            .map(|v| v.into_iter().filter(|x| *x >= 0).map(|x| x as u64).collect())
            .unwrap_or_default(),
    }
}

/// Walks `stream` (the data set) with transfer syntax `ts` to `target`, collecting the
/// top-level image attributes on the way. Stops at the target or at the top-level Pixel Data.
pub(crate) fn walk<S: Read + Seek>(stream: S, ts: &TransferSyntax, target: &[Seg]) -> Result<Walk, DicomError> {
    let mut reader = LazyDataSetReader::new_with_ts(stream, ts)
        .map_err(|e| err(format!("malformed data set: {e}")))?;
    let mut attrs = ImageAttrs::default();
    // Path of the current position: tags of open sequences with their current item index.
    let mut stack: Vec<(Tag, Option<usize>)> = Vec::new();
    let matches = |stack: &[(Tag, Option<usize>)], tag: Tag| -> bool {
        if target.len() != stack.len() * 2 + 1 {
            return false;
        }
        for (i, (t, item)) in stack.iter().enumerate() {
            if target[2 * i] != Seg::Tag(*t) || item.map(Seg::Item) != Some(target[2 * i + 1]) {
                return false;
            }
        }
        target[target.len() - 1] == Seg::Tag(tag)
    };
    let mut pending: Option<Tag> = None;
    while let Some(token) = reader.advance() {
        let token = token.map_err(|e| err(format!("malformed data set: {e}")))?;
        match token {
            LazyDataToken::ElementHeader(h) => {
                pending = Some(h.tag);
                if stack.is_empty() && h.tag > tags::PIXEL_DATA && target.len() == 1 {
                    return Ok(Walk { attrs, found: None });
                }
            }
            LazyDataToken::SequenceStart { tag, .. } => {
                stack.push((tag, None));
                if stack.len() > MAX_DEPTH {
                    return Err(err("malformed data set: sequences nested too deep"));
                }
            }
            LazyDataToken::ItemStart { .. } => {
                if let Some(top) = stack.last_mut() {
                    top.1 = Some(top.1.map_or(0, |i| i + 1));
                }
            }
            LazyDataToken::ItemEnd => {}
            LazyDataToken::SequenceEnd => {
                stack.pop();
            }
            LazyDataToken::PixelSequenceStart => {
                let tag = pending.take().unwrap_or(tags::PIXEL_DATA);
                // The lazy reader does not tell where it stands here; the caller reads the
                // position of the source, which the decoder reads exactly (no read-ahead).
                let pos = PEEK_MARKER;
                if matches(&stack, tag) {
                    return Ok(Walk { attrs, found: Some(Found::Encapsulated { pos }) });
                }
                if stack.is_empty() {
                    return Ok(Walk { attrs, found: None });
                }
                // a nested encapsulated value we do not want: its fragments follow as tokens
                stack.push((tag, None));
            }
            LazyDataToken::LazyValue { header, decoder } => {
                pending = None;
                let len = u64::from(header.len.0);
                if matches(&stack, header.tag) {
                    let pos = decoder.position();
                    return Ok(Walk {
                        attrs,
                        found: Some(Found::Value { pos, len, vr: header.vr }),
                    });
                }
                let t = header.tag;
                let wanted = stack.is_empty()
                    && [
                        tags::ROWS,
                        tags::COLUMNS,
                        tags::SAMPLES_PER_PIXEL,
                        tags::BITS_ALLOCATED,
                        tags::NUMBER_OF_FRAMES,
                        tags::PHOTOMETRIC_INTERPRETATION,
                        tags::EXTENDED_OFFSET_TABLE,
                    ]
                    .contains(&t)
                    && len <= (1 << 26);
                if stack.is_empty() && t == tags::PIXEL_DATA {
                    return Ok(Walk { attrs, found: None });
                }
                if wanted {
                    let token = LazyDataToken::LazyValue { header, decoder };
                    let v = token
                        .into_value()
                        .map_err(|e| err(format!("malformed value of {t}: {e}")))?;
                    let first = || u64s(&v).first().copied();
                    match t {
                        tags::ROWS => attrs.rows = first(),
                        tags::COLUMNS => attrs.columns = first(),
                        tags::SAMPLES_PER_PIXEL => attrs.samples_per_pixel = first(),
                        tags::BITS_ALLOCATED => attrs.bits_allocated = first(),
                        tags::NUMBER_OF_FRAMES => {
                            attrs.number_of_frames = v
                                .to_str()
                                .trim_matches([' ', '\0'])
                                .parse::<u64>()
                                .ok()
                                .or_else(first)
                        }
                        tags::PHOTOMETRIC_INTERPRETATION => {
                            attrs.photometric =
                                Some(v.to_str().trim_matches([' ', '\0']).to_string())
                        }
                        _ => attrs.extended_offsets = Some(u64s(&v)),
                    }
                } else {
                    decoder
                        .skip_bytes(header.len.0)
                        .map_err(|e| err(format!("truncated data set: {e}")))?;
                }
            }
            LazyDataToken::LazyItemValue { len, decoder } => {
                decoder
                    .skip_bytes(len)
                    .map_err(|e| err(format!("truncated data set: {e}")))?;
            }
            _ => {}
        }
    }
    Ok(Walk { attrs, found: None })
}

const PEEK_MARKER: u64 = u64::MAX;

/// One fragment (item) of encapsulated data: where its header and value are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fragment {
    /// Offset of the item header in the stream.
    pub item: u64,
    pub value: u64,
    pub len: u64,
}

/// Reads the item headers of encapsulated data from `pos` (first item = Basic Offset Table)
/// to the sequence delimiter, seeking over the values.
pub(crate) fn fragments<R: Read + Seek + ?Sized>(r: &mut R, pos: u64, end: u64) -> Result<Vec<Fragment>, DicomError> {
    let mut out = Vec::new();
    let mut at = pos;
    loop {
        if at + 8 > end {
            return Err(err("truncated pixel data: the fragments end without a sequence delimiter"));
        }
        r.seek(SeekFrom::Start(at)).map_err(io)?;
        let mut h = [0u8; 8];
        r.read_exact(&mut h).map_err(io)?;
        let group = u16::from_le_bytes([h[0], h[1]]);
        let elem = u16::from_le_bytes([h[2], h[3]]);
        let len = u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
        match (group, elem) {
            (0xFFFE, 0xE000) => {
                if len == 0xFFFF_FFFF || at + 8 + len > end {
                    return Err(err(format!(
                        "malformed pixel data: fragment at byte {at} claims {len} bytes, past the end"
                    )));
                }
                out.push(Fragment { item: at, value: at + 8, len });
                at += 8 + len;
            }
            (0xFFFE, 0xE0DD) => return Ok(out),
            _ => {
                return Err(err(format!(
                    "malformed pixel data: expected an item at byte {at}, found ({group:04X},{elem:04X})"
                )))
            }
        }
    }
}

/// Walks with the announced transfer syntax and, when that fails on an explicit VR little
/// endian syntax, as implicit VR (dicom-rs #521; parse does the same).
pub(crate) fn walk_stream<R: Read + Seek>(
    r: &mut R,
    opened: &Opened,
    target: &[Seg],
) -> Result<(Walk, &'static TransferSyntax), DicomError> {
    let run = |r: &mut R, ts: &'static TransferSyntax| -> Result<Walk, DicomError> {
        match &opened.inflated {
            Some(buf) => walk_at(&mut Cursor::new(buf.as_slice()), 0, ts, target),
            None => walk_at(r, opened.data_start, ts, target),
        }
    };
    let implicit = TransferSyntaxRegistry
        .get(entries::IMPLICIT_VR_LITTLE_ENDIAN.uid())
        .ok_or_else(|| DicomError::internal("registry lacks Implicit VR LE"))?;
    let can_retry = opened.ts.endianness() == Endianness::Little && opened.ts.uid() != implicit.uid();
    match run(r, opened.ts) {
        Ok(w) if w.found.is_some() || !can_retry => Ok((w, opened.ts)),
        // Nothing found: maybe because the data set is implicit VR after all.
        Ok(w) => match run(r, implicit) {
            Ok(w2) if w2.found.is_some() => Ok((w2, implicit)),
            _ => Ok((w, opened.ts)),
        },
        Err(first) if can_retry => run(r, implicit).map(|w| (w, implicit)).map_err(|_| first),
        Err(first) => Err(first),
    }
}

fn walk_at<R: Read + Seek>(r: &mut R, start: u64, ts: &TransferSyntax, target: &[Seg]) -> Result<Walk, DicomError> {
    r.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut w = walk(&mut *r, ts, target)?;
    // The encapsulated position the walk reports is a marker: the source stands right after
    // the element header, at the first item (the Basic Offset Table).
    // The lazy reader's positions are those of the source (it starts at `start`).
    match &mut w.found {
        Some(Found::Encapsulated { pos }) if *pos == PEEK_MARKER => {
            *pos = r.stream_position().map_err(io)? - start;
        }
        Some(Found::Value { pos, .. }) => *pos -= start,
        _ => {}
    }
    Ok(w)
}

/// Byte width to swap when big endian data is served little endian (0: none).
pub(crate) fn swap_width(vr: VR) -> usize {
    match vr {
        VR::OW | VR::US | VR::SS => 2,
        VR::OL | VR::OF | VR::UL | VR::SL | VR::FL => 4,
        VR::OD | VR::OV | VR::FD | VR::UV | VR::SV => 8,
        _ => 0,
    }
}

/// Runs `f` over the data set stream (the input, or the inflated buffer) and its end.
pub(crate) fn with_stream<R: Read + Seek, T>(
    r: &mut R,
    opened: &Opened,
    f: impl FnOnce(&mut dyn ReadSeek, u64) -> Result<T, DicomError>,
) -> Result<T, DicomError> {
    match &opened.inflated {
        Some(buf) => f(&mut Cursor::new(buf.as_slice()), buf.len() as u64),
        None => {
            let end = r.seek(SeekFrom::End(0)).map_err(io)?;
            let mut shifted = Shifted { inner: r, start: opened.data_start };
            f(&mut shifted, end - opened.data_start)
        }
    }
}

pub(crate) trait ReadSeek: Read + Seek {}

impl<T: Read + Seek> ReadSeek for T {}

/// The input seen from the start of the data set (positions as the walk reports them).
struct Shifted<'a, R> {
    inner: &'a mut R,
    start: u64,
}

impl<R: Read> Read for Shifted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<R: Seek> Seek for Shifted<'_, R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let p = match pos {
            SeekFrom::Start(p) => self.inner.seek(SeekFrom::Start(p + self.start))?,
            other => self.inner.seek(other)?,
        };
        Ok(p - self.start)
    }
}

/// A chunk for `len` bytes at data set position `pos` that need no transformation.
pub(crate) fn stream_chunk(opened: &Opened, pos: u64, len: u64) -> Chunk {
    match &opened.inflated {
        Some(buf) => Chunk::Bytes(buf[pos as usize..(pos + len) as usize].to_vec()),
        None => Chunk::File { offset: opened.data_start + pos, length: len },
    }
}

/// Reads `len` bytes at data set position `pos`.
pub(crate) fn read_stream<R: Read + Seek>(r: &mut R, opened: &Opened, pos: u64, len: u64) -> Result<Vec<u8>, DicomError> {
    match &opened.inflated {
        Some(buf) => Ok(buf[pos as usize..(pos + len) as usize].to_vec()),
        None => {
            r.seek(SeekFrom::Start(opened.data_start + pos)).map_err(io)?;
            let mut out = vec![0u8; len as usize];
            r.read_exact(&mut out).map_err(io)?;
            Ok(out)
        }
    }
}

/// A value as served: a slice of the input, or swapped to little endian.
pub(crate) fn value_chunk<R: Read + Seek>(
    r: &mut R,
    opened: &Opened,
    ts: &TransferSyntax,
    pos: u64,
    len: u64,
    width: usize,
) -> Result<Chunk, DicomError> {
    let end = match &opened.inflated {
        Some(b) => b.len() as u64,
        None => r.seek(SeekFrom::End(0)).map_err(io)? - opened.data_start,
    };
    if pos + len > end {
        return Err(err(format!("truncated file: a value of {len} bytes at {pos} runs past the end")));
    }
    if ts.endianness() == Endianness::Big && width > 1 {
        let mut bytes = read_stream(r, opened, pos, len)?;
        for c in bytes.chunks_exact_mut(width) {
            c.reverse();
        }
        return Ok(Chunk::Bytes(bytes));
    }
    Ok(stream_chunk(opened, pos, len))
}
