//! 12-bit lossy JPEG (JPEG Extended, 1.2.840.10008.1.2.4.51 with Bits Stored above 8): no Rust
//! decoder handles it (jpeg-decoder relaxed precision for lossless only, zune-jpeg lacks it), so
//! its frames go through libjpeg-turbo 3.1's 12-bit API (`tj3Decompress12`), vendored and built
//! statically by turbojpeg-sys. Every other syntax stays with dicom-pixeldata.
//!
//! The decoded frames are put in a native (Explicit VR Little Endian) copy of the instance, so
//! rendering and transcoding go on as for any native instance: the same VOI, palette and
//! rewriting code, nothing special downstream.

use std::ffi::CStr;

use dicom_core::value::{DataSetSequence, Value};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN as EVRLE;
use turbojpeg_sys as tj;

use crate::error::DicomError;
use crate::render::{text, uint};

pub(crate) const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";

/// True for the instances this module decodes: JPEG Extended with more than 8 bits stored.
pub(crate) fn applies(ts: &str, bits_stored: u32) -> bool {
    ts == JPEG_EXTENDED && bits_stored > 8
}

/// A libjpeg-turbo decompressor, destroyed on drop (also when a decode fails).
struct Decompressor(tj::tjhandle);

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { tj::tj3Destroy(self.0) }
    }
}

impl Decompressor {
    fn new() -> Result<Self, DicomError> {
        // SAFETY: plain constructor; null on failure.
        let h = unsafe { tj::tj3Init(tj::TJINIT_TJINIT_DECOMPRESS as i32) };
        if h.is_null() {
            return Err(DicomError::unsupported("the 12-bit JPEG decoder could not be initialised"));
        }
        Ok(Decompressor(h))
    }

    fn error(&self, what: &str) -> DicomError {
        // SAFETY: the handle is live; libjpeg-turbo returns a NUL-terminated string it owns.
        let msg = unsafe { CStr::from_ptr(tj::tj3GetErrorStr(self.0)) }.to_string_lossy().into_owned();
        DicomError::unsupported(format!("the 12-bit JPEG (transfer syntax {JPEG_EXTENDED}) {what}: {msg}"))
    }

    fn get(&self, param: tj::TJPARAM) -> i32 {
        // SAFETY: the handle is live.
        unsafe { tj::tj3Get(self.0, param as i32) }
    }
}

/// Reads a frame's JPEG header and checks it against the instance's: size, 9–12-bit precision,
/// a colour space for its samples per pixel. Returns the pixel format and components to decode to.
fn read_header(d: &Decompressor, codestream: &[u8], rows: u32, cols: u32, samples: u32) -> Result<(tj::TJPF, usize), DicomError> {
    // SAFETY: the buffer outlives the call and its length is passed.
    if unsafe { tj::tj3DecompressHeader(d.0, codestream.as_ptr(), codestream.len() as _) } != 0 {
        return Err(d.error("header cannot be read"));
    }
    let (w, h) = (d.get(tj::TJPARAM_TJPARAM_JPEGWIDTH), d.get(tj::TJPARAM_TJPARAM_JPEGHEIGHT));
    let precision = d.get(tj::TJPARAM_TJPARAM_PRECISION);
    let colorspace = d.get(tj::TJPARAM_TJPARAM_COLORSPACE);
    if (w, h) != (cols as i32, rows as i32) {
        return Err(DicomError::unsupported(format!(
            "the 12-bit JPEG frame (transfer syntax {JPEG_EXTENDED}) is {w}×{h}, the instance says {cols}×{rows} (Columns × Rows)"
        )));
    }
    if !(9..=12).contains(&precision) {
        return Err(DicomError::unsupported(format!(
            "the JPEG Extended ({JPEG_EXTENDED}) frame has {precision}-bit precision; the 12-bit decoder takes 9 to 12"
        )));
    }
    match (samples, colorspace as u32) {
        (1, tj::TJCS_TJCS_GRAY) => Ok((tj::TJPF_TJPF_GRAY, 1)),
        (3, tj::TJCS_TJCS_RGB | tj::TJCS_TJCS_YCbCr) => Ok((tj::TJPF_TJPF_RGB, 3)),
        _ => Err(DicomError::unsupported(format!(
            "a 12-bit JPEG ({JPEG_EXTENDED}) of colour space {colorspace} in an instance of {samples} sample(s) per pixel"
        ))),
    }
}

/// Decodes one frame's codestream to `rows × cols × samples` 16-bit samples, pixel-interleaved
/// (colour as RGB). The JPEG's own frame header must agree with the instance's: a codestream of
/// another size or precision is refused before anything is decompressed.
pub(crate) fn decode_frame(codestream: &[u8], rows: u32, cols: u32, samples: u32) -> Result<Vec<u16>, DicomError> {
    let d = Decompressor::new()?;
    let (format, components) = read_header(&d, codestream, rows, cols, samples)?;
    let mut out = vec![0i16; rows as usize * cols as usize * components];
    // SAFETY: `out` holds exactly width × height × components samples (pitch 0 = tightly packed),
    // checked against the header just read.
    let rc = unsafe {
        tj::tj3Decompress12(d.0, codestream.as_ptr(), codestream.len() as _, out.as_mut_ptr(), 0, format as i32)
    };
    if rc != 0 {
        return Err(d.error("could not be decoded"));
    }
    Ok(out.into_iter().map(|v| v as u16).collect())
}

/// The JPEG headers of every frame checked as [`decode_frame`] checks them, without decoding:
/// what a multi-instance answer refuses before its first byte (a codestream that is not JPEG, of
/// another size or precision). A corrupt scan still fails only when decoded.
pub(crate) fn check_headers(bytes: &[u8], frames: u32, rows: u32, cols: u32, samples: u32) -> Result<(), DicomError> {
    let d = Decompressor::new()?;
    let all: Vec<u64> = (1..=u64::from(frames)).collect();
    let located = crate::frames::frames_in(bytes, &all)
        .map_err(|e| DicomError::unsupported(format!("the 12-bit JPEG frames cannot be located: {e}")))?;
    for chunks in located.frames.iter().flatten() {
        read_header(&d, &crate::part10::chunk_bytes(bytes, chunks), rows, cols, samples)?;
    }
    Ok(())
}

/// Frames `numbers` (1-based) of the stored Part-10 instance `bytes`, each decoded by
/// [`decode_frame`]; a frame that does not exist is [`ErrorKind::InvalidInput`](crate::ErrorKind).
pub(crate) fn decode_frames(bytes: &[u8], numbers: &[u32], rows: u32, cols: u32, samples: u32) -> Result<Vec<Vec<u16>>, DicomError> {
    let wanted: Vec<u64> = numbers.iter().map(|n| u64::from(*n)).collect();
    let located = crate::frames::frames_in(bytes, &wanted)
        .map_err(|e| DicomError::unsupported(format!("the 12-bit JPEG frames cannot be located: {e}")))?;
    numbers
        .iter()
        .zip(&located.frames)
        .map(|(n, chunks)| {
            let chunks = chunks.as_ref().ok_or_else(|| DicomError::invalid_input(format!("frame {n} does not exist")))?;
            decode_frame(&crate::part10::chunk_bytes(bytes, chunks), rows, cols, samples)
        })
        .collect()
}

/// A native copy of `obj` holding the decoded frames `numbers` (1-based, existing) in their
/// order: Explicit VR Little Endian, Pixel Data OW, Number of Frames = their count, YBR → RGB
/// with Planar Configuration 0, per-frame functional groups reduced to those frames. `bytes` is
/// the stored Part-10 instance `obj` was read from (the frames are located in it).
pub(crate) fn native_copy(obj: &DefaultDicomObject, bytes: &[u8], numbers: &[u32]) -> Result<DefaultDicomObject, DicomError> {
    let rows = uint(obj, tags::ROWS).unwrap_or(0);
    let cols = uint(obj, tags::COLUMNS).unwrap_or(0);
    let samples = uint(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    let words: Vec<u16> = decode_frames(bytes, numbers, rows, cols, samples)?.concat();
    let mut copy = obj.clone();
    copy.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(words.into())));
    if numbers.len() != 1 || copy.element_opt(tags::NUMBER_OF_FRAMES).ok().flatten().is_some() {
        copy.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from(numbers.len().to_string())));
    }
    keep_per_frame_items(&mut copy, numbers);
    if samples == 3 {
        copy.put(DataElement::new(tags::PLANAR_CONFIGURATION, VR::US, PrimitiveValue::from(0u16)));
        if text(obj, tags::PHOTOMETRIC_INTERPRETATION).is_some_and(|pi| pi.starts_with("YBR")) {
            copy.put(DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("RGB")));
        }
    }
    for tag in [tags::EXTENDED_OFFSET_TABLE, tags::EXTENDED_OFFSET_TABLE_LENGTHS, tags::ENCAPSULATED_PIXEL_DATA_VALUE_TOTAL_LENGTH] {
        copy.remove_element(tag);
    }
    copy.update_meta(|meta| meta.set_transfer_syntax(&EVRLE));
    Ok(copy)
}

/// Per-frame Functional Groups (5200,9230) keep the items of the frames kept, in their order, so
/// a per-frame window still belongs to its frame.
fn keep_per_frame_items(obj: &mut DefaultDicomObject, numbers: &[u32]) {
    let items = match obj.element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE).ok().flatten().and_then(|e| e.items()) {
        Some(items) => items.to_vec(),
        None => return,
    };
    let kept: Vec<_> = numbers.iter().filter_map(|n| items.get(*n as usize - 1).cloned()).collect();
    if kept.len() == numbers.len() {
        obj.put(DataElement::new(
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
            VR::SQ,
            Value::from(DataSetSequence::from(kept)),
        ));
    }
}
