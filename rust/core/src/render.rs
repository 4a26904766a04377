//! Rendered images (PS3.18 §8.3.5, §9.5): one frame of a stored instance as JPEG or PNG.
//!
//! Pipeline, per PS3.18 defaults: decode the frame (dicom-pixeldata: native, deflate, RLE, JPEG
//! baseline/extended 8-bit/lossless, JPEG-LS via CharLS, JPEG 2000 via the pure-Rust openjp2;
//! 12-bit JPEG Extended via libjpeg-turbo, [`crate::jpeg12`]),
//! then for one sample per pixel the Modality LUT, the first VOI LUT or window of the instance
//! (else min–max over the frame), MONOCHROME1 inverted; colour goes to RGB (YBR converted);
//! PALETTE COLOR goes through the instance's palette LUTs (our code: dicom-pixeldata leaves the
//! indices). The source region (WADO-RS viewport `sx,sy,sw,sh`, WADO-URI `region`) is cut out and
//! flipped, then scaled to fit the viewport keeping the aspect ratio, then encoded.
//!
//! What cannot be decoded is [`ErrorKind::Unsupported`] with the reason; a codec panic is caught
//! here and reported the same way.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::{ConvertOptions, PixelDecoder, VoiLutFunction, VoiLutOption, WindowLevel};
use image::{DynamicImage, ImageEncoder, RgbImage};

use crate::error::{DicomError, ErrorKind};

/// Longest side of a [`thumbnail`], in pixels.
pub const THUMBNAIL_SIZE: u32 = 128;

/// Largest viewport side we scale to: bounds the memory of one request.
pub const MAX_VIEWPORT: u32 = 4096;

/// Default largest decoded frame (rows × columns × samples × bytes) we decode: 256 MiB. Checked
/// on the declared header before anything is decoded, so a hostile Rows/Columns costs nothing.
pub const MAX_FRAME_BYTES: u64 = 256 << 20;

/// The rendered media types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Jpeg,
    Png,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
        }
    }
}

/// PS3.18 `window` function (C.11.2.1.2/3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WindowFunction {
    #[default]
    Linear,
    LinearExact,
    Sigmoid,
}

/// An explicit VOI window replacing the instance's own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub center: f64,
    pub width: f64,
    pub function: WindowFunction,
}

/// A part of the frame to render (PS3.18 "Order of application": region, then viewport).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SourceRegion {
    /// WADO-RS `viewport=vw,vh,sx,sy,sw,sh`: the rectangle at column `x`, row `y` of |width| ×
    /// |height| pixels; a negative width (height) flips it horizontally (vertically).
    Pixels { x: u32, y: u32, width: i32, height: i32 },
    /// WADO-URI `region=xmin,ymin,xmax,ymax`: fractions 0–1 of the frame's width and height.
    Fractions { xmin: f64, ymin: f64, xmax: f64, ymax: f64 },
}

/// A region resolved against a frame: the pixels to keep and the flips.
struct Crop {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    flip_h: bool,
    flip_v: bool,
}

impl SourceRegion {
    /// The pixels of a `cols` × `rows` frame it names; outside the frame, empty, or not finite →
    /// [`ErrorKind::InvalidInput`] (PS3.18 §8.3: 400).
    fn resolve(self, cols: u32, rows: u32) -> Result<Crop, DicomError> {
        match self {
            SourceRegion::Pixels { x, y, width, height } => {
                let (w, h) = (width.unsigned_abs(), height.unsigned_abs());
                let fits = w > 0 && h > 0 && u64::from(x) + u64::from(w) <= u64::from(cols) && u64::from(y) + u64::from(h) <= u64::from(rows);
                if !fits {
                    return Err(DicomError::invalid_input(format!(
                        "viewport source rectangle {x},{y},{width},{height} (sx,sy,sw,sh) is not a non-empty part of the {cols}×{rows} image"
                    )));
                }
                Ok(Crop { x, y, width: w, height: h, flip_h: width < 0, flip_v: height < 0 })
            }
            SourceRegion::Fractions { xmin, ymin, xmax, ymax } => {
                let valid = [xmin, ymin, xmax, ymax].iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v));
                let (x0, x1) = ((xmin * cols as f64).round() as u32, (xmax * cols as f64).round() as u32);
                let (y0, y1) = ((ymin * rows as f64).round() as u32, (ymax * rows as f64).round() as u32);
                if !valid || x1 <= x0 || y1 <= y0 {
                    return Err(DicomError::invalid_input(format!(
                        "region {xmin},{ymin},{xmax},{ymax} (xmin,ymin,xmax,ymax) must be fractions 0-1 with min < max, at least a pixel of the {cols}×{rows} image"
                    )));
                }
                Ok(Crop { x: x0, y: y0, width: x1 - x0, height: y1 - y0, flip_h: false, flip_v: false })
            }
        }
    }
}

/// What to render. `Default` is the PS3.18 default: JPEG, the instance's own VOI, full size.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOptions {
    pub media_type: MediaType,
    pub window: Option<Window>,
    /// Fit within (width, height), keeping the aspect ratio.
    pub viewport: Option<(u32, u32)>,
    /// Render only this part of the frame (before fitting it in the viewport).
    pub region: Option<SourceRegion>,
    /// JPEG quality 1–100 (default 90); ignored for PNG.
    pub quality: Option<u8>,
    /// Largest decoded frame to render, in bytes (default [`MAX_FRAME_BYTES`]); a larger one is
    /// [`ErrorKind::LimitExceeded`]. The server's setting, never a query parameter.
    pub max_frame_bytes: u64,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            media_type: MediaType::Jpeg,
            window: None,
            viewport: None,
            region: None,
            quality: None,
            max_frame_bytes: MAX_FRAME_BYTES,
        }
    }
}

/// An encoded image.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub media_type: MediaType,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

const DEFAULT_QUALITY: u8 = 90;

/// Renders frame `frame_number` (1-based) of a stored Part-10 instance.
pub fn render_frame(bytes: &[u8], frame_number: u32, options: &RenderOptions) -> Result<Rendered, DicomError> {
    options.validate()?;
    render_object(&open(bytes)?, bytes, frame_number, options)
}

/// A small image of frame 1: longest side [`THUMBNAIL_SIZE`] (smaller images are not enlarged),
/// the instance's default VOI, no annotation. The instance is parsed once, for its size and its
/// pixels (parsing is most of the cost of a large multi-frame instance).
pub fn thumbnail(bytes: &[u8], media_type: MediaType) -> Result<Rendered, DicomError> {
    let obj = open(bytes)?;
    let (rows, cols) = (uint(&obj, tags::ROWS).unwrap_or(0), uint(&obj, tags::COLUMNS).unwrap_or(0));
    let side = THUMBNAIL_SIZE.min(rows.max(cols).max(1));
    render_object(&obj, bytes, 1, &RenderOptions { media_type, viewport: Some((side, side)), ..RenderOptions::default() })
}

/// Runs a decoding step; a codec panic becomes [`ErrorKind::Unsupported`](crate::ErrorKind) instead
/// of unwinding through the caller (a JNI call, a request thread). Used by rendering and transcoding.
pub(crate) fn decoding<T>(f: impl FnOnce() -> Result<T, DicomError>) -> Result<T, DicomError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(DicomError::unsupported(format!(
            "the pixel data could not be decoded: {}",
            crate::part10::panic_message(&*p, "codec panic")
        ))),
    }
}

/// `bytes` is the stored instance `obj` was read from (12-bit JPEG frames are located in it).
fn render_object(obj: &DefaultDicomObject, bytes: &[u8], frame_number: u32, options: &RenderOptions) -> Result<Rendered, DicomError> {
    // a region outside the frame is refused from the header, before decoding
    let crop = match options.region {
        Some(region) => Some(region.resolve(uint(obj, tags::COLUMNS).unwrap_or(0), uint(obj, tags::ROWS).unwrap_or(0))?),
        None => None,
    };
    let mut image = decoding(|| frame_image(obj, bytes, frame_number, options))?;
    if let Some(c) = crop {
        if u64::from(c.x) + u64::from(c.width) > u64::from(image.width()) || u64::from(c.y) + u64::from(c.height) > u64::from(image.height()) {
            return Err(DicomError::unsupported("the decoded frame is smaller than its Rows and Columns say"));
        }
        image = image.crop_imm(c.x, c.y, c.width, c.height);
        if c.flip_h {
            image = image.fliph();
        }
        if c.flip_v {
            image = image.flipv();
        }
    }
    let image = match options.viewport {
        Some((vw, vh)) => image.resize(vw, vh, image::imageops::FilterType::Triangle),
        None => image,
    };
    encode(&image, options.media_type, options.quality.unwrap_or(DEFAULT_QUALITY))
}

pub(crate) fn open(bytes: &[u8]) -> Result<DefaultDicomObject, DicomError> {
    let from = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        &bytes[128..]
    } else if bytes.starts_with(b"DICM") {
        bytes
    } else {
        return Err(DicomError::new(ErrorKind::CorruptStored, "stored instance is not a DICOM Part-10 file"));
    };
    OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Never)
        .from_reader(Cursor::new(from))
        // It passed ingest (our parser), so this is a limit of dicom-object's reader, not bad data.
        .map_err(|e| DicomError::unsupported(format!("the pixel decoder cannot read this data set: {e}")))
}

pub(crate) fn uint(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<u32> {
    obj.element_opt(tag).ok().flatten().and_then(|e| e.to_int::<u32>().ok())
}

pub(crate) fn text(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.element_opt(tag).ok().flatten().and_then(|e| e.to_str().ok()).map(|s| s.trim().to_owned())
}

fn frame_image(obj: &DefaultDicomObject, bytes: &[u8], frame_number: u32, options: &RenderOptions) -> Result<DynamicImage, DicomError> {
    let (window, max_frame_bytes) = (options.window, options.max_frame_bytes);
    if obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_none() {
        return Err(DicomError::unsupported("the instance has no Pixel Data (7FE0,0010) to render"));
    }
    let frames = uint(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
    if frame_number == 0 || frame_number > frames {
        return Err(DicomError::invalid_input(format!(
            "frame {frame_number} does not exist: the instance has {frames} frame(s), numbered from 1"
        )));
    }
    let ts = obj.meta().transfer_syntax().trim_end_matches('\0').to_owned();
    let rows = uint(obj, tags::ROWS).unwrap_or(0);
    let cols = uint(obj, tags::COLUMNS).unwrap_or(0);
    let spp = uint(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    let allocated = uint(obj, tags::BITS_ALLOCATED).unwrap_or(0);
    let stored = uint(obj, tags::BITS_STORED).unwrap_or(allocated);
    let pi = text(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default();
    if rows == 0 || cols == 0 {
        return Err(DicomError::unsupported("Rows or Columns is missing or zero"));
    }
    if !matches!(allocated, 1 | 8 | 16) {
        return Err(DicomError::unsupported(format!(
            "Bits Allocated {allocated} is not rendered (1, 8 and 16 are)"
        )));
    }
    let frame_bytes = rows as u64 * cols as u64 * spp as u64 * allocated.div_ceil(8) as u64;
    if frame_bytes > max_frame_bytes {
        return Err(DicomError::limit_exceeded(format!(
            "a {cols}×{rows} frame of {spp} sample(s) × {allocated} bits ({frame_bytes} bytes decoded) exceeds the {max_frame_bytes}-byte render limit"
        )));
    }
    if crate::jpeg12::applies(&ts, stored) {
        // decoded by libjpeg-turbo into a native copy holding this one frame
        let native = crate::jpeg12::native_copy(obj, bytes, &[frame_number])?;
        return frame_image(&native, bytes, 1, options);
    }
    let native = crate::transfer_syntax::is_native(&ts);
    if native && pi == "YBR_FULL_422" {
        return Err(DicomError::unsupported(
            "uncompressed YBR_FULL_422 pixel data is not rendered (only its JPEG-compressed form is)",
        ));
    }
    let decoded = obj
        .decode_pixel_data_frame(frame_number - 1)
        .map_err(|e| DicomError::unsupported(format!("the pixel data (transfer syntax {ts}) could not be decoded: {e}")))?;
    if pi == "PALETTE COLOR" {
        let data = decoded.frame_data(0).map_err(|e| DicomError::unsupported(format!("palette frame: {e}")))?;
        return palette(obj, data, decoded.bits_allocated(), cols, rows);
    }
    let voi = match window {
        None if spp == 1 && decoded.window().ok().flatten().is_none() && decoded.voi_lut_sequence().ok().flatten().is_none() => {
            min_max_window(&decoded)?
        }
        None => VoiLutOption::Default,
        Some(w) => VoiLutOption::CustomWithFunction(
            WindowLevel { center: w.center, width: w.width },
            match w.function {
                WindowFunction::Linear => VoiLutFunction::Linear,
                WindowFunction::LinearExact => VoiLutFunction::LinearExact,
                WindowFunction::Sigmoid => VoiLutFunction::Sigmoid,
            },
        ),
    };
    let image = decoded
        .to_dynamic_image_with_options(0, &ConvertOptions::new().with_voi_lut(voi).force_8bit())
        .map_err(|e| DicomError::unsupported(format!("the decoded pixel data could not be rendered ({pi}): {e}")))?;
    Ok(match image {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => image,
        DynamicImage::ImageLuma16(_) | DynamicImage::ImageLumaA8(_) | DynamicImage::ImageLumaA16(_) => {
            DynamicImage::ImageLuma8(image.to_luma8())
        }
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    })
}

/// The default VOI of a grey image with neither window nor VOI LUT: a linear window from the
/// smallest to the largest rescaled sample of the frame. Ours, not dicom-pixeldata's
/// `VoiLutOption::Normalize`: that one takes min and max of the raw unsigned words, so signed
/// samples (-30..245 read as 0..245 and 65506..65535) gave a window over the whole unsigned range
/// and a flat image. Samples are masked to Bits Stored and sign-extended as the LUT reads them.
fn min_max_window(decoded: &dicom_pixeldata::DecodedPixelData<'_>) -> Result<VoiLutOption, DicomError> {
    let bits = u32::from(decoded.bits_stored()).clamp(1, 16);
    let mask = if bits == 16 { 0xFFFF } else { (1u32 << bits) - 1 };
    let signed = decoded.pixel_representation() == dicom_pixeldata::PixelRepresentation::Signed;
    let value = |raw: u32| -> i64 {
        let v = raw & mask;
        if signed && v & (1 << (bits - 1)) != 0 {
            v as i64 - (1i64 << bits)
        } else {
            v as i64
        }
    };
    let data = decoded.frame_data(0).map_err(|e| DicomError::unsupported(format!("the decoded frame: {e}")))?;
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    let mut see = |v: i64| {
        lo = lo.min(v);
        hi = hi.max(v);
    };
    match decoded.bits_allocated() {
        16 => data.chunks_exact(2).for_each(|w| see(value(u32::from(u16::from_ne_bytes([w[0], w[1]]))))),
        8 => data.iter().for_each(|b| see(value(u32::from(*b)))),
        // 1-bit samples are 0 or 1: dicom-pixeldata's own default is right
        _ => return Ok(VoiLutOption::Default),
    }
    if lo > hi {
        return Ok(VoiLutOption::Default);
    }
    let rescale = decoded.rescale().ok().and_then(|r| r.first().copied()).unwrap_or(dicom_pixeldata::Rescale { slope: 1.0, intercept: 0.0 });
    let (a, b) = (rescale.apply(lo as f64), rescale.apply(hi as f64));
    let (lo, hi) = (a.min(b), a.max(b));
    // a flat frame still needs a width: any positive one maps it to one value
    let width = (hi - lo).max(1.0);
    Ok(VoiLutOption::CustomWithFunction(WindowLevel { center: (lo + hi) / 2.0, width }, VoiLutFunction::Linear))
}

/// One palette LUT (C.7.6.3.1.5): descriptor (entries, first mapped value, bits) and data,
/// reduced to 8 bits.
struct Lut {
    first: i64,
    values: Vec<u8>,
}

fn lut(obj: &InMemDicomObject, descriptor: dicom_core::Tag, data: dicom_core::Tag, colour: &str) -> Result<Lut, DicomError> {
    let missing = || {
        DicomError::unsupported(format!(
            "PALETTE COLOR without a {colour} Palette Color LUT (segmented palettes are not rendered)"
        ))
    };
    let d = obj.element_opt(descriptor).ok().flatten().ok_or_else(missing)?;
    let d: Vec<i64> = d.to_multi_int::<i64>().map_err(|_| missing())?;
    if d.len() != 3 {
        return Err(missing());
    }
    let entries = if d[0] == 0 { 65536 } else { (d[0] & 0xFFFF) as usize };
    // The first mapped value is US or SS depending on Pixel Representation; read as unsigned.
    let first = d[1] & 0xFFFF;
    let bits = d[2];
    let e = obj.element_opt(data).ok().flatten().ok_or_else(missing)?;
    let words: Vec<u16> = e.to_multi_int::<u16>().map_err(|_| missing())?;
    let values: Vec<u8> = if bits == 8 && words.len() * 2 == entries {
        // 8-bit entries packed two to a word
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    } else if bits == 8 {
        words.iter().map(|w| (*w & 0xFF) as u8).collect()
    } else {
        words.iter().map(|w| (*w >> 8) as u8).collect()
    };
    if values.is_empty() {
        return Err(missing());
    }
    Ok(Lut { first, values })
}

impl Lut {
    fn map(&self, index: i64) -> u8 {
        let i = (index - self.first).clamp(0, self.values.len() as i64 - 1);
        self.values[i as usize]
    }
}

fn palette(obj: &InMemDicomObject, data: &[u8], allocated: u16, cols: u32, rows: u32) -> Result<DynamicImage, DicomError> {
    let r = lut(obj, tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA, "Red")?;
    let g = lut(obj, tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA, "Green")?;
    let b = lut(obj, tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA, "Blue")?;
    let n = cols as usize * rows as usize;
    let index = |i: usize| -> i64 {
        match allocated {
            16 => u16::from_le_bytes([data[2 * i], data[2 * i + 1]]) as i64,
            _ => data[i] as i64,
        }
    };
    let need = n * if allocated == 16 { 2 } else { 1 };
    if data.len() < need {
        return Err(DicomError::unsupported(format!(
            "PALETTE COLOR frame has {} bytes, {} needed",
            data.len(),
            need
        )));
    }
    let mut out = Vec::with_capacity(n * 3);
    for i in 0..n {
        let v = index(i);
        out.extend_from_slice(&[r.map(v), g.map(v), b.map(v)]);
    }
    RgbImage::from_raw(cols, rows, out)
        .map(DynamicImage::ImageRgb8)
        .ok_or_else(|| DicomError::new(ErrorKind::Internal, "palette image size"))
}

fn encode(image: &DynamicImage, media_type: MediaType, quality: u8) -> Result<Rendered, DicomError> {
    let mut bytes = Vec::new();
    let written = match media_type {
        MediaType::Jpeg => jpeg(&mut bytes, image, quality),
        MediaType::Png => write_with(
            image::codecs::png::PngEncoder::new_with_quality(
                &mut bytes,
                image::codecs::png::CompressionType::Fast,
                image::codecs::png::FilterType::Adaptive,
            ),
            image,
        ),
    };
    written.map_err(|e| DicomError::new(ErrorKind::Internal, format!("encoding {}: {e}", media_type.as_str())))?;
    Ok(Rendered { media_type, width: image.width(), height: image.height(), bytes })
}

/// Baseline JPEG with jpeg-encoder (SIMD where the CPU has it; several times faster than image's
/// encoder on large frames), colour without chroma subsampling (4:4:4) so text and thin coloured
/// lines in ultrasound and secondary captures stay sharp. Grey images are one 8-bit channel.
fn jpeg(out: &mut Vec<u8>, image: &DynamicImage, quality: u8) -> image::ImageResult<()> {
    let to_image_error = |e: jpeg_encoder::EncodingError| {
        image::ImageError::Encoding(image::error::EncodingError::new(image::error::ImageFormatHint::Name("jpeg".into()), e))
    };
    let (width, height) = (image.width(), image.height());
    let (w, h) = match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return write_with(image::codecs::jpeg::JpegEncoder::new_with_quality(out, quality), image),
    };
    let mut encoder = jpeg_encoder::Encoder::new(out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
    match image {
        DynamicImage::ImageLuma8(g) => encoder.encode(g.as_raw(), w, h, jpeg_encoder::ColorType::Luma),
        DynamicImage::ImageRgb8(rgb) => encoder.encode(rgb.as_raw(), w, h, jpeg_encoder::ColorType::Rgb),
        other => encoder.encode(other.to_rgb8().as_raw(), w, h, jpeg_encoder::ColorType::Rgb),
    }
    .map_err(to_image_error)
}

/// Writes grey images as one 8-bit channel (a third of the work of RGB), anything else as RGB.
fn write_with(encoder: impl ImageEncoder, image: &DynamicImage) -> image::ImageResult<()> {
    let (width, height) = (image.width(), image.height());
    match image {
        DynamicImage::ImageLuma8(g) => encoder.write_image(g.as_raw(), width, height, image::ExtendedColorType::L8),
        DynamicImage::ImageRgb8(rgb) => encoder.write_image(rgb.as_raw(), width, height, image::ExtendedColorType::Rgb8),
        other => encoder.write_image(other.to_rgb8().as_raw(), width, height, image::ExtendedColorType::Rgb8),
    }
}

/// The rendering query parameters of PS3.18 as text, as a binding received them (all optional):
/// `mediaType` (`image/jpeg`, `image/png`), `window` (`center,width[,linear|linear-exact|sigmoid]`),
/// `viewport` (`vw,vh[,sx,sy,sw,sh]`), `region` (WADO-URI, `xmin,ymin,xmax,ymax`), `quality` (1–100).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RenderQuery {
    pub media_type: Option<String>,
    pub window: Option<String>,
    pub viewport: Option<String>,
    /// WADO-URI `region` (`xmin,ymin,xmax,ymax`, fractions 0–1).
    pub region: Option<String>,
    pub quality: Option<String>,
}

impl RenderOptions {
    /// Validates the query parameters; an invalid value is [`ErrorKind::InvalidInput`] (PS3.18
    /// §8.3: 400), a media type we do not render [`ErrorKind::Unsupported`] (406).
    pub fn from_query(q: &RenderQuery) -> Result<RenderOptions, DicomError> {
        let bad = |what: &str, v: &str| DicomError::invalid_input(format!("invalid {what} {v:?}"));
        let media_type = match q.media_type.as_deref().map(str::trim) {
            None | Some("") | Some("image/jpeg") | Some("image/jpg") => MediaType::Jpeg,
            Some("image/png") => MediaType::Png,
            Some(other) => {
                return Err(DicomError::unsupported(format!(
                    "rendered media type {other} is not produced (image/jpeg and image/png are)"
                )))
            }
        };
        let window = match q.window.as_deref() {
            None => None,
            Some(v) => {
                let parts: Vec<&str> = v.split(',').map(str::trim).collect();
                if !(2..=3).contains(&parts.len()) {
                    return Err(bad("window (center,width[,function])", v));
                }
                let center: f64 = parts[0].parse().map_err(|_| bad("window center", v))?;
                let width: f64 = parts[1].parse().map_err(|_| bad("window width", v))?;
                let function = match parts.get(2).map(|s| s.to_ascii_lowercase()) {
                    None => WindowFunction::Linear,
                    Some(f) if f == "linear" => WindowFunction::Linear,
                    Some(f) if f == "linear-exact" || f == "linear_exact" => WindowFunction::LinearExact,
                    Some(f) if f == "sigmoid" => WindowFunction::Sigmoid,
                    Some(_) => return Err(bad("window function", v)),
                };
                Some(Window { center, width, function })
            }
        };
        let (viewport, mut region) = match q.viewport.as_deref() {
            None => (None, None),
            Some(v) => {
                let parts: Vec<&str> = v.split(',').map(str::trim).collect();
                if parts.len() != 2 && parts.len() != 6 {
                    return Err(bad("viewport (vw,vh[,sx,sy,sw,sh])", v));
                }
                let vw: u32 = parts[0].parse().map_err(|_| bad("viewport width", v))?;
                let vh: u32 = parts[1].parse().map_err(|_| bad("viewport height", v))?;
                let source = if parts.len() == 6 {
                    // sx,sy are not negative; sw,sh may be (a flip); parse errors cover NaN and overflow
                    let x: u32 = parts[2].parse().map_err(|_| bad("viewport sx", v))?;
                    let y: u32 = parts[3].parse().map_err(|_| bad("viewport sy", v))?;
                    let width: i32 = parts[4].parse().map_err(|_| bad("viewport sw", v))?;
                    let height: i32 = parts[5].parse().map_err(|_| bad("viewport sh", v))?;
                    Some(SourceRegion::Pixels { x, y, width, height })
                } else {
                    None
                };
                (Some((vw, vh)), source)
            }
        };
        if let Some(v) = q.region.as_deref() {
            if region.is_some() {
                return Err(DicomError::invalid_input(
                    "region (WADO-URI) and a viewport source rectangle (WADO-RS) were both given",
                ));
            }
            let parts: Vec<f64> = v.split(',').map(|p| p.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| bad("region (xmin,ymin,xmax,ymax)", v))?;
            if parts.len() != 4 {
                return Err(bad("region (xmin,ymin,xmax,ymax)", v));
            }
            region = Some(SourceRegion::Fractions { xmin: parts[0], ymin: parts[1], xmax: parts[2], ymax: parts[3] });
        }
        let quality = match q.quality.as_deref() {
            None => None,
            Some(v) => Some(v.trim().parse::<u8>().map_err(|_| bad("quality (1-100)", v))?),
        };
        let options = RenderOptions { media_type, window, viewport, region, quality, ..RenderOptions::default() };
        options.validate()?;
        Ok(options)
    }

    fn validate(&self) -> Result<(), DicomError> {
        if let Some(w) = self.window {
            if !(w.width.is_finite() && w.center.is_finite()) || w.width <= 0.0 {
                return Err(DicomError::invalid_input(format!(
                    "window width must be > 0 and both values finite, got center {} width {}",
                    w.center, w.width
                )));
            }
        }
        if let Some((vw, vh)) = self.viewport {
            if vw == 0 || vh == 0 || vw > MAX_VIEWPORT || vh > MAX_VIEWPORT {
                return Err(DicomError::invalid_input(format!(
                    "viewport must be 1..={MAX_VIEWPORT} on each side, got {vw},{vh}"
                )));
            }
        }
        if let Some(q) = self.quality {
            if !(1..=100).contains(&q) {
                return Err(DicomError::invalid_input(format!("quality must be 1..=100, got {q}")));
            }
        }
        Ok(())
    }
}
