//! Transcoding to Explicit VR Little Endian for WADO-RS (PS3.18 §8.7.3): a stored instance, or
//! some of its frames, with the pixel data decoded.
//!
//! Decoding is dicom-pixeldata's (the codecs of [`crate::render`]); the data set is rewritten
//! here, not by its `Transcode`, which relabels PALETTE COLOR as MONOCHROME2, labels RLE
//! YBR_FULL as RGB without converting it, and leaves the encapsulated-only attributes behind.
//!
//! Every attribute is kept but those the decoded pixel data changes: Transfer Syntax UID, Pixel
//! Data (OB for 8-bit samples, OW for 16), Photometric Interpretation (YBR_* → RGB where the codec
//! converted the colour: JPEG, JPEG-LS, JPEG 2000; RLE keeps its samples as they are), Planar
//! Configuration 0, Lossy Image Compression "01" when the source was lossy, and the Extended
//! Offset Table and Encapsulated Pixel Data Value Total Length removed.
//!
//! Bounded work: the decoded size (Rows × Columns × Samples × bytes × frames) is checked against
//! a limit from the header, before anything is decoded; a deflated data set is inflated within
//! the same limit. What cannot be decoded is [`ErrorKind::Unsupported`] (WADO-RS 406) with the
//! reason; a codec panic is caught and reported the same way.


use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN as EVRLE;

use crate::error::{DicomError, ErrorKind};
use crate::render::{open, text, uint};
use crate::transfer_syntax::is_native;

/// Lossy transfer syntaxes among those we decode (their decoded pixels are not the original's).
const LOSSY: [&str; 4] = [
    "1.2.840.10008.1.2.4.50", // JPEG Baseline
    "1.2.840.10008.1.2.4.51", // JPEG Extended
    "1.2.840.10008.1.2.4.81", // JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91", // JPEG 2000
];

/// RLE Lossless: its codec returns the samples as stored (YBR_FULL stays YBR_FULL).
const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// The stored Part-10 instance re-encoded in Explicit VR Little Endian with its pixel data
/// decoded: same SOP Instance UID, a Part-10 file (preamble, File Meta with the new Transfer
/// Syntax UID). A native instance is only re-encoded (no decoding). `max_decoded_bytes` bounds
/// the decoded pixel data and an inflated deflated data set ([`ErrorKind::LimitExceeded`]).
pub fn to_explicit_le(bytes: &[u8], max_decoded_bytes: u64) -> Result<Vec<u8>, DicomError> {
    crate::render::decoding(|| {
        let mut obj = checked_open(bytes, max_decoded_bytes)?;
        let ts = ts_of(&obj);
        if obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_some() && !is_native(&ts) {
            let image = Image::of(&obj)?;
            image.check(image.frames as u64, max_decoded_bytes)?;
            if crate::jpeg12::applies(&ts, image.stored) {
                let all: Vec<u32> = (1..=image.frames).collect();
                obj = crate::jpeg12::native_copy(&obj, bytes, &all)?;
                obj.put(DataElement::new(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, PrimitiveValue::from("01")));
                return write(obj, bytes.len());
            }
            let decoded = obj.decode_pixel_data().map_err(|e| cannot_decode(&ts, e))?;
            let (allocated, pi) = (decoded.bits_allocated(), decoded.photometric_interpretation().as_str().to_owned());
            let pixels = decoded.into_data();
            let expected = image.frame_bytes() * image.frames as u64;
            if (pixels.len() as u64) < expected {
                return Err(DicomError::unsupported(format!(
                    "the pixel data (transfer syntax {ts}) decoded to {} bytes, {expected} expected",
                    pixels.len()
                )));
            }
            replace_pixel_data(&mut obj, &ts, &image, pixels, allocated, &pi);
        }
        obj.update_meta(|meta| meta.set_transfer_syntax(&EVRLE));
        write(obj, bytes.len())
    })
}

fn write(obj: DefaultDicomObject, size_hint: usize) -> Result<Vec<u8>, DicomError> {
    let mut out = Vec::with_capacity(size_hint);
    obj.write_all(&mut out)
        .map_err(|e| DicomError::new(ErrorKind::Internal, format!("writing the transcoded instance: {e}")))?;
    Ok(out)
}

/// What [`to_explicit_le`] refuses without decoding (a header read): pixel data no decoder here
/// handles, a decoded size beyond the limit, a data set dicom-object cannot read. For a
/// multi-instance answer that must be refused as a whole before its first byte is sent. A corrupt
/// codestream passes this check and fails in [`to_explicit_le`].
pub fn check_transcodable(bytes: &[u8], max_decoded_bytes: u64) -> Result<(), DicomError> {
    crate::render::decoding(|| {
        let obj = checked_open(bytes, max_decoded_bytes)?;
        let ts = ts_of(&obj);
        if obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_some() && !is_native(&ts) {
            let image = Image::of(&obj)?;
            image.check(image.frames as u64, max_decoded_bytes)?;
            if crate::jpeg12::applies(&ts, image.stored) {
                crate::jpeg12::check_headers(bytes, image.frames, image.rows, image.columns, image.samples)?;
            }
        }
        Ok(())
    })
}

/// Frames `numbers` (1-based, each once) of the stored instance decoded, as WADO-RS sends them
/// in Explicit VR Little Endian: samples little endian, pixel-interleaved (Planar Configuration
/// 0), YBR of a JPEG/JPEG-LS/JPEG 2000 codestream as RGB (the photometric interpretation
/// [`to_explicit_le`] gives). All of them together must fit `max_decoded_bytes`, checked before
/// decoding. A frame that does not exist is [`ErrorKind::InvalidInput`].
pub fn frames_explicit_le(bytes: &[u8], numbers: &[u64], max_decoded_bytes: u64) -> Result<Vec<Vec<u8>>, DicomError> {
    crate::render::decoding(|| {
        let obj = checked_open(bytes, max_decoded_bytes)?;
        let ts = ts_of(&obj);
        if obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_none() {
            return Err(DicomError::invalid_input("the instance has no Pixel Data (7FE0,0010)"));
        }
        if is_native(&ts) {
            return Err(DicomError::new(
                ErrorKind::Internal,
                format!("native pixel data ({ts}) is served as stored, not decoded"),
            ));
        }
        let image = Image::of(&obj)?;
        if let Some(n) = numbers.iter().find(|n| **n == 0 || **n > image.frames as u64) {
            return Err(DicomError::invalid_input(format!(
                "frame {n} does not exist: the instance has {} frame(s), numbered from 1",
                image.frames
            )));
        }
        image.check(numbers.len() as u64, max_decoded_bytes)?;
        if crate::jpeg12::applies(&ts, image.stored) {
            let numbers: Vec<u32> = numbers.iter().map(|n| *n as u32).collect();
            let frames = crate::jpeg12::decode_frames(bytes, &numbers, image.rows, image.columns, image.samples)?;
            return Ok(frames.into_iter().map(|f| f.iter().flat_map(|w| w.to_le_bytes()).collect()).collect());
        }
        numbers
            .iter()
            .map(|n| {
                let decoded = obj.decode_pixel_data_frame(*n as u32 - 1).map_err(|e| cannot_decode(&ts, e))?;
                let data = decoded.frame_data(0).map_err(|e| cannot_decode(&ts, e))?;
                if (data.len() as u64) < image.frame_bytes() {
                    return Err(DicomError::unsupported(format!(
                        "frame {n} (transfer syntax {ts}) decoded to {} bytes, {} expected",
                        data.len(),
                        image.frame_bytes()
                    )));
                }
                Ok(data[..image.frame_bytes() as usize].to_vec())
            })
            .collect()
    })
}

/// The image attributes decoding depends on, read from the header.
struct Image {
    rows: u32,
    columns: u32,
    samples: u32,
    allocated: u32,
    stored: u32,
    frames: u32,
}

impl Image {
    fn of(obj: &DefaultDicomObject) -> Result<Image, DicomError> {
        let rows = uint(obj, tags::ROWS).unwrap_or(0);
        let columns = uint(obj, tags::COLUMNS).unwrap_or(0);
        let allocated = uint(obj, tags::BITS_ALLOCATED).unwrap_or(0);
        let image = Image {
            rows,
            columns,
            samples: uint(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1),
            allocated,
            stored: uint(obj, tags::BITS_STORED).unwrap_or(allocated),
            frames: uint(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1),
        };
        if rows == 0 || columns == 0 {
            return Err(DicomError::unsupported("Rows or Columns is missing or zero: the pixel data cannot be decoded"));
        }
        if !matches!(allocated, 8 | 16) {
            return Err(DicomError::unsupported(format!(
                "compressed pixel data with Bits Allocated {allocated} is not decoded (8 and 16 are)"
            )));
        }
        if !matches!(image.samples, 1 | 3) {
            return Err(DicomError::unsupported(format!("Samples per Pixel {} is not decoded (1 and 3 are)", image.samples)));
        }
        Ok(image)
    }

    /// Bytes of one decoded frame.
    fn frame_bytes(&self) -> u64 {
        self.rows as u64 * self.columns as u64 * self.samples as u64 * (self.allocated as u64 / 8)
    }

    /// Refuses, before decoding, what no decoder here handles and what would decode beyond the limit.
    fn check(&self, frames: u64, max_decoded_bytes: u64) -> Result<(), DicomError> {
        let total = self.frame_bytes().saturating_mul(frames);
        if total > max_decoded_bytes {
            return Err(DicomError::limit_exceeded(format!(
                "decoding {frames} frame(s) of {}×{} × {} sample(s) × {} bits needs {total} bytes, more than the {max_decoded_bytes}-byte limit of this server",
                self.columns, self.rows, self.samples, self.allocated
            )));
        }
        Ok(())
    }
}

/// Opens the instance with dicom-object after checking with our reader that it is a Part-10
/// file and that a deflated data set inflates within the limit (dicom-object would inflate all).
fn checked_open(bytes: &[u8], max_decoded_bytes: u64) -> Result<DefaultDicomObject, DicomError> {
    crate::part10::guarded(|| crate::part10::open(&mut std::io::Cursor::new(bytes), max_decoded_bytes))?;
    open(bytes)
}

fn ts_of(obj: &DefaultDicomObject) -> String {
    obj.meta().transfer_syntax().trim_end_matches('\0').trim().to_owned()
}

fn cannot_decode(ts: &str, e: impl std::fmt::Display) -> DicomError {
    DicomError::unsupported(format!("the pixel data (transfer syntax {ts}) could not be decoded: {e}"))
}

/// Puts the decoded pixels in place of the encapsulated ones and the attributes that describe them.
fn replace_pixel_data(obj: &mut DefaultDicomObject, ts: &str, image: &Image, mut pixels: Vec<u8>, allocated: u16, decoded_pi: &str) {
    pixels.truncate((image.frame_bytes() * image.frames as u64) as usize);
    let element = if allocated == 16 {
        let words: Vec<u16> = pixels.chunks_exact(2).map(|w| u16::from_ne_bytes([w[0], w[1]])).collect();
        DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(words.into()))
    } else {
        if pixels.len() % 2 == 1 {
            pixels.push(0); // values have even length (PS3.5 §7.1)
        }
        DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::U8(pixels.into()))
    };
    obj.put(element);
    for tag in [tags::EXTENDED_OFFSET_TABLE, tags::EXTENDED_OFFSET_TABLE_LENGTHS, tags::ENCAPSULATED_PIXEL_DATA_VALUE_TOTAL_LENGTH] {
        obj.remove_element(tag);
    }
    let stored_pi = text(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default();
    if image.samples == 3 {
        obj.put(DataElement::new(tags::PLANAR_CONFIGURATION, VR::US, PrimitiveValue::from(0u16)));
        // The codecs but RLE convert YBR to RGB (dicom-pixeldata says RGB for all of them).
        if ts != RLE_LOSSLESS && stored_pi != decoded_pi {
            obj.put(DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from(decoded_pi)));
        }
    }
    if LOSSY.contains(&ts) && text(obj, tags::LOSSY_IMAGE_COMPRESSION).as_deref() != Some("01") {
        obj.put(DataElement::new(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, PrimitiveValue::from("01")));
    }
}

