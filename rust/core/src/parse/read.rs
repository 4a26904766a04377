//! Reading a Part-10 instance: the File Meta Information, the inflated data set, the lazy token
//! scan that checks lengths and nesting before dicom-rs allocates, and the data set itself.

use std::io::{BufReader, Cursor, Read};

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::header::Header;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{tags, StandardDataDictionary};
use dicom_encoding::TransferSyntax;
use dicom_encoding::transfer_syntax::{Codec, TransferSyntaxIndex};
use dicom_object::collector::DicomCollectorOptions;
use dicom_object::file::ReadPreamble;
use dicom_object::mem::InMemElement;
use dicom_object::{FileMetaTable, InMemDicomObject};
use dicom_parser::dataset::LazyDataToken;
use dicom_parser::dataset::lazy_read::LazyDataSetReader;
use dicom_parser::stateful::decode::StatefulDecode;
use dicom_transfer_syntax_registry::{entries, TransferSyntaxRegistry};

use crate::charset::Charset;
use crate::parse::validate::{check_values, key_uid, keyword, raw_strings, uid_problem};
use crate::parse::view::{is_single_valued_text, uses_charset};
use crate::parse::{err, ParsedInstance, PixelDataInfo};
use crate::DicomError;

/// Largest inflated size of a deflated data set we accept at ingest: the same cap as a frames
/// or bulk data request (a deflate bomb of a few MiB must not cost a GiB per upload).
pub(super) const MAX_INFLATED: u64 = crate::part10::DEFAULT_MAX_INFLATED;

/// Deepest sequence nesting we accept (real objects stay well below 10).
pub(super) const MAX_DEPTH: usize = 32;

/// Cap on warnings, so a hostile file cannot produce megabytes of them.
pub(super) const MAX_WARNINGS: usize = 100;

pub(super) const EXPLICIT_VR_LE: &str = crate::transfer_syntax::EXPLICIT_VR_LITTLE_ENDIAN;

/// An error and all its sources, "a: b: c".
pub(super) fn chain(e: &dyn std::error::Error) -> String {
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

pub(super) fn looks_truncated(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("fill whole buffer")
        || m.contains("unexpected end")
        || m.contains("eof")
        || m.contains("past the end")
}

pub(super) fn parse_inner(bytes: &[u8]) -> Result<ParsedInstance, DicomError> {
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
pub(super) fn find_magic(bytes: &[u8]) -> Result<usize, DicomError> {
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
pub(super) fn read_dataset(
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
pub(super) fn scan(data: &[u8], ts: &TransferSyntax) -> Result<Option<PixelDataInfo>, DicomError> {
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
pub(super) fn reinterpret_un(obj: &mut InMemDicomObject, warnings: &mut Vec<String>) {
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

pub(super) fn has_key_uids(obj: &InMemDicomObject) -> bool {
    [
        tags::STUDY_INSTANCE_UID,
        tags::SERIES_INSTANCE_UID,
        tags::SOP_INSTANCE_UID,
        tags::SOP_CLASS_UID,
    ]
    .iter()
    .all(|t| key_uid(obj, *t, "").is_ok())
}
