//! Every corpus file with pixel data either renders (a decodable image of the right size that is
//! not one flat value) or is refused as Unsupported with a reason; both sets are pinned so a
//! regression or an improvement shows.

use std::collections::BTreeMap;

use dicom_fhir_core::{
    parse, render_frame, thumbnail, ErrorKind, MediaType, RenderOptions, Window, WindowFunction, MAX_FRAME_BYTES, THUMBNAIL_SIZE,
};

mod common;

use common::{pixel_data_files, read_named as file, refusal_differences, UNDECODABLE};

/// Files with Pixel Data that `parse` accepts, by name relative to `.data/`.
fn images() -> Vec<(String, Vec<u8>)> {
    pixel_data_files(|_| true)
}

/// Files refused besides `common::UNDECODABLE` (refused by transcoding too), with a word the
/// reason must contain.
const EXPECTED_UNSUPPORTED: &[(&str, &str)] = &[
    // 32-bit samples (float/int dose grids, 32-bit RGB): dicom-pixeldata renders 1, 8, 16 bits
    ("pydicom-data/SC_rgb_32bit.dcm", "Bits Allocated 32"),
    ("pydicom-data/SC_rgb_32bit_2frame.dcm", "Bits Allocated 32"),
    ("pydicom-data/SC_rgb_expb_32bit.dcm", "Bits Allocated 32"),
    ("pydicom-data/SC_rgb_expb_32bit_2frame.dcm", "Bits Allocated 32"),
    ("pydicom/badVR.dcm", "Bits Allocated 32"),
    ("pydicom/rtdose.dcm", "Bits Allocated 32"),
    ("pydicom/rtdose_1frame.dcm", "Bits Allocated 32"),
    ("pydicom/rtdose_expb.dcm", "Bits Allocated 32"),
    ("pydicom/rtdose_expb_1frame.dcm", "Bits Allocated 32"),
    // segmented palette LUTs (0028,1221..1223)
    ("pydicom-data/gdcm-US-ALOKA-16.dcm", "segmented palettes"),
    ("pydicom-data/gdcm-US-ALOKA-16_big.dcm", "segmented palettes"),
    ("pydicom/SC_ybr_full_422_uncompressed.dcm", "YBR_FULL_422"),
];

/// Files whose rendering is one flat value, pinned so a change shows.
const EXPECTED_FLAT: &[&str] = &[
    // correct: values 991..1489 HU under their own window 30/100 are all white (pydicom agrees)
    "pydicom/dicomdirtests/77654033/CT2/17166",
    "pydicom/dicomdirtests/77654033/CT2/17196",
];

/// Renders one file; `Err` is a problem of the test (a wrong size, an undecodable output).
fn check(name: &str, bytes: &[u8]) -> Result<Result<bool, String>, String> {
    let header = parse(bytes).unwrap();
    let rows = header.int(dicom_dictionary_std::tags::ROWS).unwrap_or(0) as u32;
    let cols = header.int(dicom_dictionary_std::tags::COLUMNS).unwrap_or(0) as u32;
    let r = match render_frame(bytes, 1, &RenderOptions { media_type: MediaType::Png, ..Default::default() }) {
        Ok(r) => r,
        Err(e) if e.kind() == ErrorKind::Unsupported => return Ok(Err(e.to_string())),
        Err(e) => return Err(format!("{name}: {:?} {e}", e.kind())),
    };
    let img = image::load_from_memory_with_format(&r.bytes, image::ImageFormat::Png)
        .map_err(|e| format!("{name}: PNG does not decode: {e}"))?;
    if (img.width(), img.height()) != (cols, rows) {
        return Err(format!("{name}: PNG {}x{}, expected {cols}x{rows}", img.width(), img.height()));
    }
    let px = img.to_rgb8();
    let first = px.as_raw()[0];
    let flat = px.as_raw().iter().all(|v| *v == first);
    let jpeg = render_frame(bytes, 1, &RenderOptions::default()).map_err(|e| format!("{name}: JPEG {e}"))?;
    let img = image::load_from_memory_with_format(&jpeg.bytes, image::ImageFormat::Jpeg)
        .map_err(|e| format!("{name}: JPEG does not decode: {e}"))?;
    if (img.width(), img.height()) != (cols, rows) {
        return Err(format!("{name}: JPEG size {}x{}", img.width(), img.height()));
    }
    let t = thumbnail(bytes, MediaType::Jpeg).map_err(|e| format!("{name}: thumbnail {e}"))?;
    if t.width.max(t.height) != THUMBNAIL_SIZE.min(rows.max(cols)) {
        return Err(format!("{name}: thumbnail {}x{}", t.width, t.height));
    }
    Ok(Ok(flat))
}

#[test]
fn every_image_in_the_corpus_renders_or_is_unsupported_for_a_known_reason() {
    let mut unsupported = BTreeMap::new();
    let mut flat = Vec::new();
    let mut problems = Vec::new();
    let mut rendered = 0;
    for (name, bytes) in images() {
        match check(&name, &bytes) {
            Ok(Ok(is_flat)) => {
                rendered += 1;
                if is_flat {
                    flat.push(name.clone());
                }
            }
            Ok(Err(why)) => {
                unsupported.insert(name, why);
            }
            Err(problem) => problems.push(problem),
        }
    }
    problems.extend(refusal_differences(&unsupported, UNDECODABLE.iter().chain(EXPECTED_UNSUPPORTED), "renders"));
    let expected_flat: Vec<String> = EXPECTED_FLAT.iter().map(|s| s.to_string()).collect();
    if flat != expected_flat {
        problems.push(format!("flat renderings {flat:?}, expected {expected_flat:?}"));
    }
    assert!(problems.is_empty(), "{} rendered; problems:\n{}", rendered, problems.join("\n"));
    assert!(rendered > 50, "only {rendered} rendered");
}

fn png(bytes: &[u8], frame: u32, window: Option<Window>) -> image::RgbImage {
    let r = render_frame(bytes, frame, &RenderOptions { media_type: MediaType::Png, window, ..Default::default() }).unwrap();
    image::load_from_memory(&r.bytes).unwrap().to_rgb8()
}

fn mean(img: &image::RgbImage) -> f64 {
    img.as_raw().iter().map(|v| *v as f64).sum::<f64>() / img.as_raw().len() as f64
}

/// References from pydicom + numpy: modality LUT, then min–max (CT_small has no window) or the
/// C.11.2.1.2 linear window 40/400, scaled to 0–255.
#[test]
fn ct_small_matches_a_pydicom_reference() {
    let ct = file("CT_small.dcm");
    let m = mean(&png(&ct, 1, None));
    assert!((m - 96.03).abs() < 1.5, "min–max mean {m}");
    let w = Window { center: 40.0, width: 400.0, function: WindowFunction::Linear };
    let m = mean(&png(&ct, 1, Some(w)));
    assert!((m - 101.52).abs() < 1.5, "window 40/400 mean {m}");
}

fn std_dev(img: &image::RgbImage) -> f64 {
    let m = mean(img);
    (img.as_raw().iter().map(|v| (*v as f64 - m).powi(2)).sum::<f64>() / img.as_raw().len() as f64).sqrt()
}

/// Signed 16-bit samples (-30..245) with neither window nor VOI LUT: the min–max default must
/// use the signed values. Reference from pydicom + numpy: round((x - min) / (max - min) × 255)
/// has mean 40.37 and standard deviation 19.51 for both files, which hold the same pixels
/// (JPEG 2000 lossless and Explicit VR Little Endian).
#[test]
fn signed_16_bit_without_a_window_renders_min_max_of_the_signed_values() {
    let j2k = png(&file("JPEG2000.dcm"), 1, None);
    let unc = png(&file("JPEG2000_UNC.dcm"), 1, None);
    for (name, img) in [("JPEG2000.dcm", &j2k), ("JPEG2000_UNC.dcm", &unc)] {
        let (m, s) = (mean(img), std_dev(img));
        assert!((m - 40.37).abs() < 1.0, "{name}: mean {m}, pydicom 40.37");
        assert!((s - 19.51).abs() < 1.0, "{name}: standard deviation {s}, pydicom 19.51");
        assert!(img.as_raw().contains(&0) && img.as_raw().contains(&255), "{name}: min–max spans 0..255");
    }
    let worst = j2k.as_raw().iter().zip(unc.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(worst <= 1, "the JPEG 2000 rendering differs from the uncompressed one by up to {worst}");
}

#[test]
fn palette_color_is_applied() {
    let img = png(&file("OBXXXX1A_rle.dcm"), 1, None);
    assert!(img.pixels().any(|p| p[0] != p[1] || p[1] != p[2]), "palette rendered as grey");
}

#[test]
fn frame_n_of_a_multiframe_instance_is_frame_n() {
    let mf = file("emri_small.dcm");
    assert_ne!(png(&mf, 1, None).as_raw(), png(&mf, 2, None).as_raw());
    for bad in [0, 11] {
        let e = render_frame(&mf, bad, &RenderOptions::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "frame {bad}: {e}");
    }
}

#[test]
fn viewport_keeps_the_aspect_ratio_and_bad_parameters_are_invalid_input() {
    let ct = file("CT_small.dcm"); // 128 × 128
    let r = render_frame(&ct, 1, &RenderOptions { viewport: Some((64, 32)), ..Default::default() }).unwrap();
    assert_eq!((r.width, r.height), (32, 32));
    for opts in [
        RenderOptions { viewport: Some((0, 10)), ..Default::default() },
        RenderOptions { viewport: Some((100_000, 10)), ..Default::default() },
        RenderOptions { quality: Some(0), ..Default::default() },
        RenderOptions { window: Some(Window { center: 0.0, width: 0.0, function: WindowFunction::Linear }), ..Default::default() },
        RenderOptions { window: Some(Window { center: f64::NAN, width: 1.0, function: WindowFunction::Linear }), ..Default::default() },
    ] {
        assert_eq!(render_frame(&ct, 1, &opts).unwrap_err().kind(), ErrorKind::InvalidInput, "{opts:?}");
    }
    let e = render_frame(b"not dicom", 1, &RenderOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CorruptStored);
}

/// `bytes` with the US value of `(0028,element)` (Explicit VR Little Endian) set to `value`.
fn with_us(bytes: &[u8], element: u16, value: u16) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut header = vec![0x28, 0x00];
    header.extend_from_slice(&element.to_le_bytes());
    header.extend_from_slice(b"US\x02\x00");
    let at = out.windows(header.len()).position(|w| w == header.as_slice()).expect("the element is in the file");
    out[at + 8..at + 10].copy_from_slice(&value.to_le_bytes());
    out
}

/// A hostile header: Rows = Columns = 65535 and 3 samples of 16 bits (25 GB a frame) over a few
/// kilobytes of pixel data, native and JPEG 2000. Refused as a limit before anything is decoded
/// (decoding would fail differently: the data is far too short), in the frame and the thumbnail.
#[test]
fn a_frame_larger_than_the_render_limit_is_refused_before_decoding() {
    for name in ["CT_small.dcm", "MR_small_jp2klossless.dcm"] {
        let huge = with_us(&with_us(&with_us(&file(name), 0x0010, 65535), 0x0011, 65535), 0x0002, 3);
        assert!(parse(&huge).is_ok(), "{name}: the header alone is valid DICOM");
        let started = std::time::Instant::now();
        let e = render_frame(&huge, 1, &RenderOptions::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::LimitExceeded, "{name}: {e}");
        assert!(e.message().contains("65535×65535") && e.message().contains("limit"), "{name}: {e}");
        let e = thumbnail(&huge, MediaType::Png).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::LimitExceeded, "{name} thumbnail: {e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{name}: refused in {:?}", started.elapsed());
    }
}

/// The limit is the caller's to configure: CT_small (128 × 128 × 16 bits = 32 KiB) renders under
/// the default and is refused under a 16 KiB limit.
#[test]
fn the_render_limit_is_configurable() {
    let ct = file("CT_small.dcm");
    assert_eq!(RenderOptions::default().max_frame_bytes, MAX_FRAME_BYTES);
    let small = RenderOptions { max_frame_bytes: 16 << 10, ..Default::default() };
    let e = render_frame(&ct, 1, &small).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LimitExceeded, "{e}");
    assert!(e.message().contains("16384"), "{e}");
    render_frame(&ct, 1, &RenderOptions { max_frame_bytes: 32 << 10, ..Default::default() }).expect("exactly at the limit");
}

fn pearson(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().map(|v| *v as f64).sum::<f64>() / n, b.iter().map(|v| *v as f64).sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (*x as f64 - ma, *y as f64 - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}

/// The default JPEG (quality 90, jpeg-encoder) is the PNG's picture: a baseline JPEG of the same
/// size, Pearson r ≥ 0.99 with the lossless rendering, for grey, JPEG-compressed colour, native
/// RGB and palette colour.
#[test]
fn the_jpeg_is_the_same_picture_as_the_png() {
    for name in ["CT_small.dcm", "SC_rgb_jpeg_dcmtk.dcm", "US1_UNCR.dcm", "OBXXXX1A_rle.dcm"] {
        let bytes = file(name);
        let lossless = png(&bytes, 1, None);
        let r = render_frame(&bytes, 1, &RenderOptions::default()).unwrap();
        assert_eq!(r.media_type, MediaType::Jpeg, "{name}");
        assert_eq!(&r.bytes[..2], &[0xFF, 0xD8], "{name}: not a JPEG");
        let jpeg = image::load_from_memory_with_format(&r.bytes, image::ImageFormat::Jpeg).unwrap().to_rgb8();
        assert_eq!(jpeg.dimensions(), lossless.dimensions(), "{name}");
        let c = pearson(lossless.as_raw(), jpeg.as_raw());
        assert!(c >= 0.99, "{name}: JPEG vs PNG r = {c}");
    }
}

fn query(viewport: Option<&str>, region: Option<&str>) -> dicom_fhir_core::RenderQuery {
    dicom_fhir_core::RenderQuery {
        media_type: Some("image/png".into()),
        viewport: viewport.map(str::to_owned),
        region: region.map(str::to_owned),
        ..Default::default()
    }
}

fn render_query(bytes: &[u8], q: &dicom_fhir_core::RenderQuery) -> Result<image::RgbImage, dicom_fhir_core::DicomError> {
    let opts = RenderOptions::from_query(q)?;
    let r = render_frame(bytes, 1, &opts)?;
    Ok(image::load_from_memory(&r.bytes).unwrap().to_rgb8())
}

/// PS3.18 viewport `vw,vh,sx,sy,sw,sh`: the source rectangle (sx,sy) of |sw|×|sh| pixels, a
/// negative sw/sh flipping it, then fitted in vw×vh; WADO-URI `region=xmin,ymin,xmax,ymax` in
/// fractions of the image. Both are crops of the full rendering.
#[test]
fn a_source_region_is_that_part_of_the_image() {
    let ct = file("CT_small.dcm"); // 128 × 128
    let full = render_query(&ct, &query(None, None)).unwrap();
    let crop = |x: u32, y: u32, w: u32, h: u32| image::imageops::crop_imm(&full, x, y, w, h).to_image();
    // 1:1: exactly the pixels of the full rendering
    let part = render_query(&ct, &query(Some("40,20,10,30,40,20"), None)).unwrap();
    assert_eq!(part, crop(10, 30, 40, 20));
    let flipped = render_query(&ct, &query(Some("40,20,10,30,-40,-20"), None)).unwrap();
    assert_eq!(flipped, image::imageops::rotate180(&crop(10, 30, 40, 20)));
    let mirrored = render_query(&ct, &query(Some("40,20,10,30,-40,20"), None)).unwrap();
    assert_eq!(mirrored, image::imageops::flip_horizontal(&crop(10, 30, 40, 20)));
    // fitted in the viewport, aspect ratio kept
    let scaled = render_query(&ct, &query(Some("200,200,0,0,64,32"), None)).unwrap();
    assert_eq!(scaled.dimensions(), (200, 100));
    // region: the middle half of each side
    let region = render_query(&ct, &query(None, Some("0.25,0.25,0.75,0.75"))).unwrap();
    assert_eq!(region, crop(32, 32, 64, 64));
    let whole = render_query(&ct, &query(None, Some("0,0,1,1"))).unwrap();
    assert_eq!(whole, full);
}

/// Hostile values: negative, outside the image, zero size, NaN, huge, malformed → InvalidInput (400).
#[test]
fn a_hostile_source_region_is_invalid_input() {
    let ct = file("CT_small.dcm"); // 128 × 128
    for v in [
        "64,64,-1,0,10,10",
        "64,64,0,-1,10,10",
        "64,64,120,0,10,10",
        "64,64,0,0,129,10",
        "64,64,0,0,-129,10",
        "64,64,128,128,1,1",
        "64,64,0,0,0,10",
        "64,64,0,0,10,0",
        "64,64,NaN,0,10,10",
        "64,64,0,0,inf,10",
        "64,64,0,0,99999999999999999999,10",
        "64,64,4294967295,0,10,10",
        "64,64,0,0,-9223372036854775808,10",
        "64,64,0,0,10",
        "64,64,0,0,10,10,1",
        "0,0,0,0,10,10",
        "64,64,a,0,10,10",
    ] {
        let e = render_query(&ct, &query(Some(v), None)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "viewport={v}: {e}");
    }
    for v in [
        "-0.1,0,1,1",
        "0,0,1.5,1",
        "0.5,0,0.5,1",
        "0.6,0,0.5,1",
        "0,0,1,0",
        "NaN,0,1,1",
        "0,0,inf,1",
        "0,0,1e308,1",
        "0,0,1",
        "0,0,1,1,1",
        "",
        "0,0,1,x",
        // a sliver thinner than one pixel of 128
        "0,0,0.001,1",
    ] {
        let e = render_query(&ct, &query(None, Some(v))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "region={v}: {e}");
    }
    // both at once: the region is WADO-URI's, the source rectangle WADO-RS's
    let e = render_query(&ct, &query(Some("64,64,0,0,10,10"), Some("0,0,1,1"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}
