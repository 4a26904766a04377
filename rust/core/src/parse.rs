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

use std::io::{BufReader, Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::header::Header;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{tags, StandardDataDictionary};
use dicom_encoding::transfer_syntax::{Codec, TransferSyntaxIndex};
use dicom_encoding::TransferSyntax;
use dicom_object::collector::DicomCollectorOptions;
use dicom_object::file::ReadPreamble;
use dicom_object::mem::InMemElement;
use dicom_object::{FileMetaTable, InMemDicomObject};
use dicom_parser::dataset::lazy_read::LazyDataSetReader;
use dicom_parser::dataset::LazyDataToken;
use dicom_parser::stateful::decode::StatefulDecode;
use dicom_transfer_syntax_registry::{entries, TransferSyntaxRegistry};

use crate::charset::Charset;
use crate::DicomError;

/// Largest inflated size of a deflated data set we accept at ingest: the same cap as a frames
/// or bulk data request (a deflate bomb of a few MiB must not cost a GiB per upload).
const MAX_INFLATED: u64 = crate::part10::DEFAULT_MAX_INFLATED;
/// Deepest sequence nesting we accept (real objects stay well below 10).
const MAX_DEPTH: usize = 32;
/// Cap on warnings, so a hostile file cannot produce megabytes of them.
const MAX_WARNINGS: usize = 100;

const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

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
    match catch_unwind(AssertUnwindSafe(|| parse_inner(bytes))) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(err(format!(
                "malformed DICOM data: the parser failed ({msg})"
            )))
        }
    }
}

/// The input is not a valid instance (the default error of parsing).
fn err(msg: impl Into<String>) -> DicomError {
    DicomError::invalid_input(msg)
}

/// Media Storage Directory Storage: the SOP Class of a DICOMDIR (PS3.4 Annex F, PS3.10 8.6).
const MEDIA_STORAGE_DIRECTORY: &str = "1.2.840.10008.1.3.10";

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

/// An error and all its sources, "a: b: c".
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let m = src.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = src.source();
    }
    s
}

fn looks_truncated(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("fill whole buffer")
        || m.contains("unexpected end")
        || m.contains("eof")
        || m.contains("past the end")
}

fn parse_inner(bytes: &[u8]) -> Result<ParsedInstance, DicomError> {
    let magic_at = find_magic(bytes)?;
    let mut rest = &bytes[magic_at..];
    let meta = FileMetaTable::from_reader(&mut rest).map_err(|e| {
        let m = chain(&e);
        // The "DICM" prefix is there: a damaged DICOM file, not "not DICOM".
        if looks_truncated(&m) {
            err(format!(
                "truncated file: the File Meta Information ends early ({m})"
            ))
        } else {
            err(format!("invalid File Meta Information: {m}"))
        }
    })?;
    let ts_uid = meta.transfer_syntax().to_string();
    if ts_uid.is_empty() {
        return Err(err(
            "invalid File Meta Information: no Transfer Syntax UID (0002,0010)",
        ));
    }
    let ts = TransferSyntaxRegistry
        .get(&ts_uid)
        .ok_or_else(|| DicomError::unsupported(format!("unsupported transfer syntax '{ts_uid}'")))?;
    let mut warnings = Vec::new();

    // The data set as plain (inflated) bytes, and the TS to read it with.
    let (data, read_ts): (std::borrow::Cow<[u8]>, &TransferSyntax) = match ts.codec() {
        Codec::Dataset(Some(adapter)) => {
            let mut out = Vec::new();
            let reader = adapter.adapt_reader(Box::new(rest));
            reader
                .take(MAX_INFLATED + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    err(format!(
                        "deflated data set cannot be inflated (corrupt or truncated): {e}"
                    ))
                })?;
            if out.len() as u64 > MAX_INFLATED {
                return Err(DicomError::limit_exceeded(format!(
                    "deflated data set inflates to more than {} MiB",
                    MAX_INFLATED >> 20
                )));
            }
            let explicit = TransferSyntaxRegistry
                .get(EXPLICIT_VR_LE)
                .ok_or_else(|| DicomError::internal("registry lacks Explicit VR LE"))?;
            (out.into(), explicit)
        }
        Codec::Dataset(None) => {
            return Err(DicomError::unsupported(format!(
                "unsupported transfer syntax '{ts_uid}' ({})",
                ts.name()
            )))
        }
        _ => (rest.into(), ts),
    };
    if data.is_empty() {
        return Err(err(
            "truncated file: no data set after the File Meta Information",
        ));
    }

    let (mut obj, pixel_data) = match read_dataset(&data, read_ts) {
        Ok(r) => r,
        Err(first) => {
            // dicom-rs #521: explicit VR announced, implicit VR written.
            let implicit = entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
            if read_ts.uid() != implicit.uid()
                && read_ts.endianness() == dicom_encoding::transfer_syntax::Endianness::Little
            {
                match read_dataset(&data, &implicit) {
                    Ok(r) if has_key_uids(&r.0) => {
                        warnings.push(format!(
                            "TransferSyntaxUID (0002,0010): data set is Implicit VR Little Endian although the transfer syntax {ts_uid} says explicit VR; read as implicit"
                        ));
                        r
                    }
                    _ => return Err(first),
                }
            } else {
                return Err(first);
            }
        }
    };

    reinterpret_un(&mut obj, &mut warnings);
    let uid = |tag: Tag, name: &str| -> Result<String, DicomError> { key_uid(&obj, tag, name) };
    let study = uid(tags::STUDY_INSTANCE_UID, "Study Instance UID (0020,000D)")?;
    let series = uid(tags::SERIES_INSTANCE_UID, "Series Instance UID (0020,000E)")?;
    let sop_instance = uid(tags::SOP_INSTANCE_UID, "SOP Instance UID (0008,0018)")?;
    let sop_class = uid(tags::SOP_CLASS_UID, "SOP Class UID (0008,0016)")?;

    if let Some(reason) = uid_problem(&ts_uid) {
        warnings.push(format!(
            "TransferSyntaxUID (0002,0010): '{ts_uid}' {reason}"
        ));
    }
    let ms_inst = meta.media_storage_sop_instance_uid();
    if !ms_inst.is_empty() && ms_inst != sop_instance {
        warnings.push(format!(
            "MediaStorageSOPInstanceUID (0002,0003): '{ms_inst}' differs from SOPInstanceUID '{sop_instance}'"
        ));
    }
    let ms_class = meta.media_storage_sop_class_uid();
    if !ms_class.is_empty() && ms_class != sop_class {
        warnings.push(format!("MediaStorageSOPClassUID (0002,0002): '{ms_class}' differs from SOPClassUID '{sop_class}'"));
    }

    let (charset, cs_warnings) =
        Charset::from_terms(&raw_strings(&obj, tags::SPECIFIC_CHARACTER_SET));
    warnings.extend(cs_warnings);
    check_values(&obj, 0, &mut warnings);
    warnings.truncate(MAX_WARNINGS);

    Ok(ParsedInstance {
        obj,
        meta,
        charset,
        pixel_data,
        sha256: crate::sha256_hex(bytes),
        size: bytes.len() as u64,
        warnings,
        study,
        series,
        sop_instance,
        sop_class,
        transfer_syntax: ts_uid,
    })
}

/// Offset of "DICM": 128 with a preamble, 0 without.
fn find_magic(bytes: &[u8]) -> Result<usize, DicomError> {
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        return Ok(128);
    }
    if bytes.len() >= 4 && &bytes[..4] == b"DICM" {
        return Ok(0);
    }
    let why = if bytes.is_empty() {
        "the input is empty".to_string()
    } else if bytes.len() >= 4 && matches!(bytes[..2], [0x08, 0x00] | [0x00, 0x08]) {
        "no File Meta Information (no 'DICM' prefix); this looks like a bare data set without a Part-10 header".to_string()
    } else if bytes.len() < 132 {
        format!("only {} bytes and no 'DICM' prefix", bytes.len())
    } else {
        "no 'DICM' prefix at byte 128 (or 0)".to_string()
    };
    Err(err(format!("not a DICOM Part-10 file: {why}")))
}

/// Scans the data set for length sanity and the Pixel Data header, then reads the header
/// (everything before Pixel Data) into memory.
fn read_dataset(
    data: &[u8],
    ts: &TransferSyntax,
) -> Result<(InMemDicomObject, Option<PixelDataInfo>), DicomError> {
    let pixel = scan(data, ts)?;
    let mut collector = DicomCollectorOptions::new()
        .expected_ts(ts.uid().to_string())
        .read_preamble(ReadPreamble::Never)
        .from_reader(BufReader::new(Cursor::new(data)));
    let mut obj = InMemDicomObject::new_empty();
    collector
        .read_dataset_up_to_pixeldata(&mut obj)
        .map_err(|e| {
            let m = chain(&e);
            if looks_truncated(&m) {
                err(format!("truncated file: the data set ends early ({m})"))
            } else {
                err(format!("malformed data set: {m}"))
            }
        })?;
    if obj.iter().next().is_none() {
        return Err(err("malformed data set: no data elements"));
    }
    Ok((obj, pixel))
}

/// Walks the tokens of the data set without reading values: rejects lengths beyond the
/// input and absurd nesting, and returns the top-level Pixel Data header if any.
fn scan(data: &[u8], ts: &TransferSyntax) -> Result<Option<PixelDataInfo>, DicomError> {
    let total = data.len() as u64;
    let mut reader = LazyDataSetReader::new_with_ts(Cursor::new(data), ts)
        .map_err(|e| err(format!("malformed data set: {}", chain(&e))))?;
    let mut depth = 0usize;
    let bad = |e: &dyn std::error::Error| {
        let m = chain(e);
        if looks_truncated(&m) {
            err(format!("truncated file: the data set ends early ({m})"))
        } else {
            err(format!("malformed data set: {m}"))
        }
    };
    while let Some(token) = reader.advance() {
        let token = token.map_err(|e| bad(&e))?;
        match token {
            LazyDataToken::ElementHeader(h) if depth == 0 && h.tag >= tags::PIXEL_DATA => {
                if h.tag != tags::PIXEL_DATA {
                    return Ok(None);
                }
                // Native pixel data is never read, so check here that it is all there.
                let len = u64::from(h.len.0);
                let at = reader.advance().and_then(|t| t.ok()).map(|t| match t {
                    LazyDataToken::LazyValue { decoder, .. } => decoder.position(),
                    _ => 0,
                });
                if let Some(at) = at {
                    if at.saturating_add(len) > total {
                        return Err(err(format!(
                            "truncated file: Pixel Data claims {len} bytes but only {} remain",
                            total.saturating_sub(at)
                        )));
                    }
                }
                return Ok(Some(PixelDataInfo {
                    vr: h.vr,
                    length: Some(len),
                    encapsulated: false,
                }));
            }
            LazyDataToken::SequenceStart { tag, .. } if depth == 0 && tag >= tags::PIXEL_DATA => {
                return Ok(None)
            }
            LazyDataToken::PixelSequenceStart if depth == 0 => {
                return Ok(Some(PixelDataInfo {
                    vr: VR::OB,
                    length: None,
                    encapsulated: true,
                }));
            }
            LazyDataToken::SequenceStart { .. } | LazyDataToken::PixelSequenceStart => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(err(format!(
                        "malformed data set: sequences nested deeper than {MAX_DEPTH} levels"
                    )));
                }
            }
            LazyDataToken::SequenceEnd => depth = depth.saturating_sub(1),
            LazyDataToken::LazyValue { header, decoder } => {
                let len = u64::from(header.len.0);
                if decoder.position().saturating_add(len) > total {
                    return Err(err(format!(
                        "truncated or malformed data set: element {} claims {len} bytes, past the end of the data",
                        header.tag
                    )));
                }
                decoder.skip_bytes(header.len.0).map_err(|e| bad(&e))?;
            }
            LazyDataToken::LazyItemValue { len, decoder } => {
                if decoder.position().saturating_add(u64::from(len)) > total {
                    return Err(err(format!("truncated or malformed data set: an item claims {len} bytes, past the end of the data")));
                }
                decoder.skip_bytes(len).map_err(|e| bad(&e))?;
            }
            _ => {}
        }
    }
    Ok(None)
}

/// PS3.5 6.2.2 lets a writer that did not know an attribute send it with VR UN. For known
/// top-level attributes with a string VR we read the bytes as the dictionary VR, so e.g. a Study
/// Instance UID or a PatientID sent as UN is still found. Text is decoded the way dicom-rs decodes
/// other values of the data set, so the character-set layer treats both alike.
fn reinterpret_un(obj: &mut InMemDicomObject, warnings: &mut Vec<String>) {
    let (charset, _) = Charset::from_terms(&raw_strings(obj, tags::SPECIFIC_CHARACTER_SET));
    let fixes: Vec<(Tag, VR, String)> = obj
        .iter()
        .filter(|e| e.vr() == VR::UN)
        .filter_map(|e| {
            let vr = StandardDataDictionary.by_tag(e.tag())?.vr().relaxed();
            let Value::Primitive(p) = e.value() else { return None };
            let bytes = p.to_bytes();
            let ascii_vr = matches!(
                vr,
                VR::AE | VR::AS | VR::CS | VR::DA | VR::DS | VR::DT | VR::IS | VR::TM | VR::UI | VR::UR
            );
            let text = if ascii_vr && bytes.is_ascii() {
                String::from_utf8_lossy(&bytes).into_owned()
            } else if uses_charset(vr) {
                charset.decode_like_dicomrs(&bytes)?
            } else {
                return None;
            };
            Some((e.tag(), vr, text))
        })
        .collect();
    for (tag, vr, text) in fixes {
        warnings.push(format!("{} {tag}: sent as UN, read as {vr:?}", keyword(tag)));
        let values: Vec<String> = if is_single_valued_text(vr) || vr == VR::UR {
            vec![text]
        } else {
            text.split('\\').map(str::to_string).collect()
        };
        obj.put(InMemElement::new(tag, vr, PrimitiveValue::Strs(values.into())));
    }
}

fn has_key_uids(obj: &InMemDicomObject) -> bool {
    [
        tags::STUDY_INSTANCE_UID,
        tags::SERIES_INSTANCE_UID,
        tags::SOP_INSTANCE_UID,
        tags::SOP_CLASS_UID,
    ]
    .iter()
    .all(|t| key_uid(obj, *t, "").is_ok())
}

/// Values of a primitive element as stored (charset aside), trailing padding removed.
fn raw_strings(obj: &InMemDicomObject, tag: Tag) -> Vec<String> {
    match obj.get(tag).map(|e| e.value()) {
        Some(Value::Primitive(p)) => primitive_strings(p).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn trim_padding(s: &str) -> &str {
    s.trim_end_matches([' ', '\0'])
}

fn key_uid(obj: &InMemDicomObject, tag: Tag, name: &str) -> Result<String, DicomError> {
    let values: Vec<String> = raw_strings(obj, tag)
        .iter()
        .map(|s| trim_padding(s).trim_start().to_string())
        .collect();
    match values.as_slice() {
        [] => Err(err(format!("missing {name}"))),
        [v] if v.is_empty() => Err(err(format!("missing {name} (the value is empty)"))),
        [v] => match uid_problem(v) {
            None => Ok(v.clone()),
            Some(reason) => Err(err(format!("malformed {name} '{v}': {reason}"))),
        },
        _ => Err(err(format!(
            "malformed {name}: {} values where one is required",
            values.len()
        ))),
    }
}

/// Why a UID is not well-formed per PS3.5 §9.1, or `None`.
pub(crate) fn uid_problem(uid: &str) -> Option<String> {
    if uid.is_empty() {
        return Some("empty".into());
    }
    if uid.len() > 64 {
        return Some(format!("{} characters, more than 64", uid.len()));
    }
    if let Some(c) = uid.chars().find(|c| !c.is_ascii_digit() && *c != '.') {
        return Some(format!(
            "contains '{}', only digits and dots are allowed",
            c.escape_default()
        ));
    }
    for comp in uid.split('.') {
        if comp.is_empty() {
            return Some("has an empty component".into());
        }
        if comp.len() > 1 && comp.starts_with('0') {
            return Some(format!("component '{comp}' has a leading zero"));
        }
    }
    None
}

fn keyword(tag: Tag) -> String {
    match StandardDataDictionary.by_tag(tag) {
        Some(e) => format!("{} {tag}", e.alias()),
        None => format!("{tag}"),
    }
}

/// Non-fatal checks of every value: UIs, dates, numbers.
fn check_values(obj: &InMemDicomObject, depth: usize, warnings: &mut Vec<String>) {
    let key_tags = [
        tags::STUDY_INSTANCE_UID,
        tags::SERIES_INSTANCE_UID,
        tags::SOP_INSTANCE_UID,
        tags::SOP_CLASS_UID,
    ];
    for elem in obj.iter() {
        if warnings.len() >= MAX_WARNINGS {
            return;
        }
        let tag = elem.tag();
        match elem.value() {
            Value::Sequence(seq) => {
                for item in seq.items() {
                    check_values(item, depth + 1, warnings);
                }
            }
            Value::Primitive(p) => {
                let vr = elem.vr();
                if !matches!(vr, VR::UI | VR::DA | VR::DS | VR::IS)
                    || (depth == 0 && key_tags.contains(&tag))
                {
                    continue;
                }
                for v in primitive_strings(p).unwrap_or_default() {
                    let v = trim_padding(&v).trim_start();
                    if v.is_empty() {
                        continue;
                    }
                    let problem = match vr {
                        VR::UI => uid_problem(v).map(|r| format!("UID '{v}' {r}")),
                        VR::DA => (!valid_date(v)).then(|| format!("invalid date '{v}'")),
                        VR::DS => crate::number::ds_number(v)
                            .is_none()
                            .then(|| format!("DS value '{v}' is not a decimal number")),
                        _ => crate::number::is_number(v)
                            .is_none()
                            .then(|| format!("IS value '{v}' is not an integer")),
                    };
                    if let Some(p) = problem {
                        warnings.push(format!("{}: {p}", keyword(tag)));
                    }
                }
            }
            Value::PixelSequence(_) => {}
        }
    }
}

/// YYYYMMDD with a real calendar date (DA, PS3.5 Table 6.2-1).
fn valid_date(s: &str) -> bool {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let y: u32 = s[0..4].parse().unwrap_or(0);
    let m: u32 = s[4..6].parse().unwrap_or(0);
    let d: u32 = s[6..8].parse().unwrap_or(0);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// Values of a primitive as strings; `None` for binary (byte/word) data.
pub(crate) fn primitive_strings(p: &PrimitiveValue) -> Option<Vec<String>> {
    match p {
        PrimitiveValue::Empty => Some(Vec::new()),
        PrimitiveValue::Str(s) => Some(vec![s.clone()]),
        PrimitiveValue::Strs(v) => Some(v.to_vec()),
        PrimitiveValue::U8(_) => None,
        other => Some(other.to_multi_str().into_owned()),
    }
}

pub(crate) fn is_text_vr(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::TM
            | VR::UC
            | VR::UI
            | VR::UR
            | VR::UT
    )
}

/// VRs that hold one value even when it contains a backslash.
pub(crate) fn is_single_valued_text(vr: VR) -> bool {
    matches!(vr, VR::ST | VR::LT | VR::UT | VR::UR)
}

/// VRs decoded with the Specific Character Set (PS3.5 §6.1.2.3).
fn uses_charset(vr: VR) -> bool {
    matches!(
        vr,
        VR::SH | VR::LO | VR::ST | VR::LT | VR::PN | VR::UC | VR::UT
    )
}

impl ParsedInstance {
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
    pub fn study_instance_uid(&self) -> &str {
        &self.study
    }
    pub fn series_instance_uid(&self) -> &str {
        &self.series
    }
    pub fn sop_instance_uid(&self) -> &str {
        &self.sop_instance
    }
    pub fn sop_class_uid(&self) -> &str {
        &self.sop_class
    }
    pub fn transfer_syntax_uid(&self) -> &str {
        &self.transfer_syntax
    }
    /// The top-level Pixel Data header, when the instance has pixel data.
    pub fn pixel_data(&self) -> Option<&PixelDataInfo> {
        self.pixel_data.as_ref()
    }
    pub fn meta(&self) -> &FileMetaTable {
        &self.meta
    }
    /// The header as read by dicom-rs (text not yet charset-corrected; prefer the accessors).
    pub fn dataset(&self) -> &InMemDicomObject {
        &self.obj
    }
    /// The root data set as a view.
    pub fn root(&self) -> ItemView<'_> {
        ItemView {
            obj: &self.obj,
            charset: self.charset.clone(),
        }
    }
    /// First value, decoded to Unicode, padding trimmed; `None` if absent or empty.
    pub fn string(&self, tag: Tag) -> Option<String> {
        self.root().string(tag)
    }
    /// All values (ST/LT/UT/UR are never split), decoded and trimmed; empty values are kept
    /// so positions stay meaningful.
    pub fn strings(&self, tag: Tag) -> Vec<String> {
        self.root().strings(tag)
    }
    /// First value as an integer (binary integers, IS, or an integral DS).
    pub fn int(&self, tag: Tag) -> Option<i64> {
        self.root().int(tag)
    }
    /// First PN value, component groups split on '='.
    pub fn person_name(&self, tag: Tag) -> Option<PersonName> {
        self.root().person_name(tag)
    }
    /// All PN values.
    pub fn person_names(&self, tag: Tag) -> Vec<PersonName> {
        self.root().person_names(tag)
    }
    /// Items of a sequence (empty when absent or not a sequence).
    pub fn items(&self, tag: Tag) -> Vec<ItemView<'_>> {
        self.root().items(tag)
    }
}

impl<'a> ItemView<'a> {
    pub(crate) fn element(&self, tag: Tag) -> Option<&'a InMemElement> {
        self.obj.get(tag)
    }

    /// Decoded text values of an element; `None` for sequences and binary data.
    pub(crate) fn text_values(&self, elem: &InMemElement) -> Option<Vec<String>> {
        let vr = elem.vr();
        let Value::Primitive(p) = elem.value() else {
            return None;
        };
        let mut values = primitive_strings(p)?;
        if values.is_empty() {
            return Some(values);
        }
        if uses_charset(vr) {
            values = self
                .charset
                .fix(&values, !is_single_valued_text(vr), vr == VR::PN);
        }
        if is_single_valued_text(vr) && values.len() > 1 {
            values = vec![values.join("\\")];
        }
        let keep_leading = matches!(vr, VR::ST | VR::LT | VR::UT | VR::UC | VR::UR);
        Some(
            values
                .into_iter()
                .map(|v| {
                    let t = trim_padding(&v);
                    if keep_leading {
                        t.to_string()
                    } else {
                        t.trim_start_matches(' ').to_string()
                    }
                })
                .collect(),
        )
    }

    pub fn string(&self, tag: Tag) -> Option<String> {
        self.strings(tag)
            .into_iter()
            .next()
            .filter(|s| !s.is_empty())
    }

    pub fn strings(&self, tag: Tag) -> Vec<String> {
        let Some(elem) = self.element(tag) else {
            return Vec::new();
        };
        let v = self.text_values(elem).unwrap_or_default();
        if v.iter().all(|s| s.is_empty()) {
            Vec::new()
        } else {
            v
        }
    }

    pub fn int(&self, tag: Tag) -> Option<i64> {
        let elem = self.element(tag)?;
        let Value::Primitive(p) = elem.value() else {
            return None;
        };
        match p {
            PrimitiveValue::Str(_) | PrimitiveValue::Strs(_) => {
                let first = primitive_strings(p)?.into_iter().next()?;
                let t = first.trim_matches([' ', '\0']);
                crate::number::is_number(t).or_else(|| {
                    let f = crate::number::ds_number(t)?.as_f64()?;
                    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
                })
            }
            PrimitiveValue::U8(_) | PrimitiveValue::Empty => None,
            other => other.to_int::<i64>().ok(),
        }
    }

    pub fn person_name(&self, tag: Tag) -> Option<PersonName> {
        self.person_names(tag).into_iter().next()
    }

    pub fn person_names(&self, tag: Tag) -> Vec<PersonName> {
        let Some(elem) = self.element(tag) else {
            return Vec::new();
        };
        self.text_values(elem)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| split_pn(v))
            .collect()
    }

    pub fn items(&self, tag: Tag) -> Vec<ItemView<'a>> {
        let Some(items) = self.element(tag).and_then(|e| e.items()) else {
            return Vec::new();
        };
        items.iter().map(|obj| self.item(obj)).collect()
    }

    /// A nested item inherits the character set unless it declares its own.
    pub(crate) fn item(&self, obj: &'a InMemDicomObject) -> ItemView<'a> {
        let terms = raw_strings(obj, tags::SPECIFIC_CHARACTER_SET);
        let charset = if terms.is_empty() {
            self.charset.clone()
        } else {
            Charset::from_terms(&terms).0
        };
        ItemView { obj, charset }
    }
}

/// Splits a decoded PN value into its component groups; `None` when all are empty.
pub(crate) fn split_pn(value: &str) -> Option<PersonName> {
    let mut groups = value.splitn(3, '=').map(|g| {
        let g = g.trim_end_matches([' ', '\0']);
        // "^^^^" is an empty name with delimiters left in.
        (!g.trim_matches('^').trim().is_empty()).then(|| g.to_string())
    });
    let pn = PersonName {
        alphabetic: groups.next().flatten(),
        ideographic: groups.next().flatten(),
        phonetic: groups.next().flatten(),
    };
    (pn != PersonName::default()).then_some(pn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a file's data set without the key-UID validation (the charset sample files
    /// have no Study Instance UID).
    fn root_of(name: &str) -> (InMemDicomObject, Charset) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data");
        let bytes = std::fs::read(dir.join("pydicom-charset").join(name))
            .or_else(|_| std::fs::read(dir.join("pydicom/charset_files").join(name)))
            .expect("run scripts/fetch-test-data.sh");
        let mut rest = &bytes[find_magic(&bytes).unwrap()..];
        let meta = FileMetaTable::from_reader(&mut rest).unwrap();
        let ts = TransferSyntaxRegistry.get(meta.transfer_syntax()).unwrap();
        let (obj, _) = read_dataset(rest, ts).unwrap();
        let cs = Charset::from_terms(&raw_strings(&obj, tags::SPECIFIC_CHARACTER_SET)).0;
        (obj, cs)
    }

    #[test]
    fn sequence_items_use_their_own_or_the_inherited_charset() {
        let expected = PersonName {
            alphabetic: Some("ﾔﾏﾀﾞ^ﾀﾛｳ".into()),
            ideographic: Some("山田^太郎".into()),
            phonetic: Some("やまだ^たろう".into()),
        };
        for file in ["chrSQEncoding.dcm", "chrSQEncoding1.dcm"] {
            let (obj, charset) = root_of(file);
            let root = ItemView { obj: &obj, charset };
            assert_eq!(
                root.person_name(tags::REQUESTING_PHYSICIAN)
                    .unwrap()
                    .alphabetic
                    .as_deref(),
                Some("Doctor^Who^^MD")
            );
            let items = root.items(tags::REQUESTED_PROCEDURE_CODE_SEQUENCE);
            assert_eq!(items.len(), 1, "{file}");
            assert_eq!(
                items[0].person_name(tags::PATIENT_NAME),
                Some(expected.clone()),
                "{file}"
            );
            assert_eq!(
                items[0].string(tags::CODE_VALUE).as_deref(),
                Some("CodeValue")
            );
        }
    }

    #[test]
    fn uid_rules() {
        assert_eq!(uid_problem("1.2.840.10008.1.2"), None);
        assert_eq!(uid_problem("0"), None);
        assert!(uid_problem("1.02").unwrap().contains("leading zero"));
        assert!(uid_problem("1..2").unwrap().contains("empty component"));
        assert!(uid_problem("1.2.").unwrap().contains("empty component"));
        assert!(uid_problem("1.2a").unwrap().contains("'a'"));
        assert!(uid_problem(&"1".repeat(65)).unwrap().contains("64"));
    }

    #[test]
    fn dates() {
        assert!(valid_date("20240229"));
        assert!(!valid_date("20230229"));
        assert!(!valid_date("1997.04.24"));
        assert!(!valid_date("20241301"));
    }

    #[test]
    fn pn_groups() {
        assert_eq!(split_pn("^^^^"), None);
        assert_eq!(
            split_pn("=Yamada"),
            Some(PersonName {
                ideographic: Some("Yamada".into()),
                ..Default::default()
            })
        );
    }
}
