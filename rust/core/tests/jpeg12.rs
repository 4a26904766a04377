//! 12-bit lossy JPEG (JPEG Extended 1.2.840.10008.1.2.4.51, `JPGExtended.dcm`: 1024×256, 12 bits
//! stored, no window): decoded through libjpeg-turbo, compared with an independent decoder.
//!
//! `REFERENCE` is pydicom 3.0.2 + pylibjpeg-libjpeg 2.5.0's `pixel_array` of the file, as means of
//! 16×16 blocks (64 rows × 16 columns of blocks), made by:
//! `a = ds.pixel_array.astype(float); a.reshape(64, 16, 16, 16).mean(axis=(1, 3))` (values 0..264).

use dicom_fhir_core::{check_transcodable, frames_explicit_le, render_frame, to_explicit_le, ErrorKind, MediaType, RenderOptions};
use dicom_object::OpenFileOptions;
use dicom_pixeldata::PixelDecoder;

mod common;

use common::read_named as file;

const LIMIT: u64 = 256 << 20;
const ROWS: usize = 1024;
const COLS: usize = 256;
const REFERENCE_MAX: f64 = 264.0;

#[rustfmt::skip]
const REFERENCE: [f64; 1024] = [
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.9, 10.4, 3.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 12.8, 44.1, 44.1, 44.7, 8.1, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 35.8, 32.3, 29.9, 35.8, 27.5, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.6, 35.8, 44.1, 59.6, 48.9, 31.7, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 3.8, 37.0, 65.5, 105.8, 78.5, 31.6, 1.5, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 2.7, 21.6, 59.0, 82.1, 68.5, 24.5, 2.1, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 2.7, 5.6, 15.6, 56.6, 67.9, 55.4, 21.6, 11.4, 14.4, 4.4, 1.0, 1.0,
    1.0, 1.0, 1.5, 19.2, 40.0, 24.0, 21.6, 50.1, 88.1, 50.1, 31.1, 39.9, 57.2, 37.6, 3.9, 1.0,
    1.0, 1.0, 9.1, 48.3, 67.3, 48.9, 56.6, 66.1, 111.8, 69.7, 53.6, 32.9, 55.4, 43.0, 12.1, 1.6,
    1.0, 5.0, 15.6, 44.8, 50.7, 38.8, 59.6, 95.2, 130.2, 94.0, 47.7, 38.2, 27.0, 32.2, 15.1, 2.9,
    1.0, 9.8, 22.2, 34.0, 24.5, 45.9, 50.6, 66.7, 107.6, 67.3, 47.1, 42.4, 22.8, 28.1, 20.4, 2.9,
    1.6, 12.7, 29.2, 21.7, 20.3, 44.1, 51.9, 57.8, 98.1, 61.4, 50.1, 41.2, 23.3, 20.3, 25.1, 3.7,
    2.1, 16.8, 25.1, 16.7, 23.3, 45.9, 45.4, 54.8, 87.4, 56.6, 47.1, 38.2, 28.1, 16.7, 24.5, 4.1,
    3.4, 22.2, 17.4, 14.5, 26.3, 40.0, 36.4, 44.1, 75.6, 51.2, 40.5, 34.0, 34.0, 15.6, 20.9, 5.9,
    5.3, 25.1, 13.8, 13.8, 31.1, 34.6, 31.6, 37.0, 51.2, 50.1, 38.2, 39.4, 35.8, 18.5, 17.9, 5.8,
    5.4, 25.1, 10.3, 7.3, 28.1, 26.3, 26.3, 32.8, 47.1, 59.0, 35.2, 32.8, 35.2, 15.1, 18.0, 6.1,
    6.0, 23.3, 9.1, 12.1, 22.2, 22.7, 23.9, 30.5, 42.3, 57.8, 34.6, 29.3, 22.9, 14.6, 15.6, 5.8,
    4.8, 20.4, 11.5, 16.2, 21.0, 22.1, 25.2, 29.3, 54.8, 74.4, 35.2, 25.8, 19.8, 15.7, 13.8, 4.7,
    4.8, 22.2, 12.1, 18.6, 21.5, 30.5, 31.7, 37.6, 53.7, 61.9, 35.3, 34.6, 28.1, 19.2, 15.1, 4.7,
    3.5, 22.8, 10.9, 16.2, 22.1, 30.5, 35.8, 48.9, 48.9, 52.4, 45.9, 43.5, 22.8, 17.5, 11.4, 4.8,
    2.3, 20.4, 8.4, 11.5, 17.3, 27.5, 49.5, 58.4, 93.4, 70.2, 55.4, 42.9, 19.1, 15.0, 7.9, 4.8,
    1.0, 16.3, 9.7, 10.2, 19.7, 33.4, 51.8, 78.6, 175.4, 139.1, 63.1, 47.7, 29.9, 15.6, 6.1, 4.7,
    1.0, 11.5, 13.9, 9.7, 20.4, 45.3, 50.1, 46.5, 67.9, 48.9, 63.7, 63.7, 42.9, 16.9, 9.1, 5.3,
    1.0, 7.4, 24.6, 15.6, 19.0, 41.2, 43.5, 47.7, 51.8, 45.3, 44.1, 51.2, 29.8, 13.8, 22.7, 7.0,
    1.0, 2.2, 22.1, 21.6, 20.4, 38.8, 29.4, 29.9, 46.5, 26.3, 28.7, 35.8, 23.9, 19.2, 36.4, 4.7,
    1.0, 1.0, 13.3, 21.0, 25.1, 31.1, 25.1, 20.3, 35.2, 17.9, 25.1, 34.0, 21.0, 16.8, 15.1, 1.0,
    1.0, 1.0, 2.2, 16.8, 24.5, 29.9, 23.3, 16.2, 9.0, 15.0, 22.7, 36.4, 18.0, 5.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 8.6, 26.3, 29.3, 22.8, 15.6, 3.9, 14.4, 22.8, 37.0, 14.5, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 4.5, 25.7, 29.9, 23.4, 11.4, 1.1, 14.4, 26.4, 35.2, 10.4, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 2.7, 25.7, 34.0, 21.6, 7.9, 1.0, 13.2, 31.1, 30.5, 6.9, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.6, 26.3, 35.2, 19.2, 6.8, 1.0, 15.1, 34.0, 29.3, 3.9, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 2.1, 28.7, 32.3, 18.1, 5.6, 1.6, 16.3, 36.4, 29.3, 2.1, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 3.9, 44.1, 36.4, 20.4, 5.7, 2.8, 25.1, 45.3, 34.6, 1.1, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 2.7, 38.8, 36.4, 24.5, 5.0, 3.2, 41.7, 46.5, 38.2, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 29.3, 38.8, 23.9, 2.7, 1.5, 36.4, 47.7, 33.5, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 26.9, 39.4, 19.8, 2.1, 1.0, 16.3, 45.3, 25.1, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 14.4, 38.2, 15.0, 1.0, 1.0, 16.2, 38.2, 16.9, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 13.3, 36.4, 19.2, 1.0, 1.0, 21.0, 35.3, 12.1, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 9.2, 32.2, 17.9, 1.0, 1.0, 23.4, 31.1, 6.9, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 6.3, 31.1, 16.8, 1.0, 1.0, 24.5, 27.5, 2.7, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 4.4, 30.5, 18.0, 1.0, 2.1, 26.9, 21.6, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 2.7, 31.1, 21.6, 1.0, 2.1, 29.3, 13.9, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.6, 30.5, 26.3, 1.0, 3.9, 31.1, 8.6, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 31.7, 32.3, 1.1, 8.6, 34.6, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.1, 33.4, 42.3, 4.0, 22.8, 41.2, 5.1, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 2.1, 33.4, 40.5, 12.1, 35.2, 38.8, 4.5, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 4.5, 35.2, 26.3, 8.5, 32.3, 32.8, 2.7, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 9.8, 20.4, 8.6, 6.9, 18.0, 14.4, 1.6, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 4.5, 4.5, 1.0, 2.1, 5.0, 2.7, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
];

fn blocks(samples: &[f64]) -> Vec<f64> {
    assert_eq!(samples.len(), ROWS * COLS);
    let mut out = vec![0.0; (ROWS / 16) * (COLS / 16)];
    for (i, v) in samples.iter().enumerate() {
        let (r, c) = (i / COLS, i % COLS);
        out[(r / 16) * (COLS / 16) + c / 16] += v / 256.0;
    }
    out
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

fn samples_u16(le: &[u8]) -> Vec<f64> {
    le.chunks_exact(2).map(|w| f64::from(u16::from_le_bytes([w[0], w[1]]))).collect()
}

#[test]
fn twelve_bit_lossy_jpeg_transcodes_to_the_reference_pixels() {
    let out = to_explicit_le(&file("JPGExtended.dcm"), LIMIT).expect("JPGExtended transcodes");
    let obj = OpenFileOptions::new().from_reader(std::io::Cursor::new(&out[128..])).unwrap();
    assert_eq!(obj.meta().transfer_syntax().trim_end_matches('\0'), "1.2.840.10008.1.2.1");
    let decoded = obj.decode_pixel_data().unwrap();
    assert_eq!((decoded.rows(), decoded.columns(), decoded.bits_allocated()), (ROWS as u32, COLS as u32, 16));
    let got = blocks(&samples_u16(decoded.data()));
    let r = pearson(&got, &REFERENCE);
    assert!(r >= 0.99, "Pearson {r} against pydicom + pylibjpeg");
    let worst = got.iter().zip(REFERENCE.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst < 1.0, "a 16×16 block mean differs by {worst} from the reference");
}

#[test]
fn twelve_bit_lossy_jpeg_frame_is_the_transcoded_pixel_data() {
    let bytes = file("JPGExtended.dcm");
    let frames = frames_explicit_le(&bytes, &[1], LIMIT).expect("frame 1 decodes");
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].len(), ROWS * COLS * 2);
    let got = blocks(&samples_u16(&frames[0]));
    assert!(pearson(&got, &REFERENCE) >= 0.99);
}

#[test]
fn twelve_bit_lossy_jpeg_renders_like_the_reference() {
    let r = render_frame(&file("JPGExtended.dcm"), 1, &RenderOptions { media_type: MediaType::Png, ..Default::default() })
        .expect("JPGExtended renders");
    let img = image::load_from_memory(&r.bytes).unwrap().to_luma8();
    assert_eq!((img.width(), img.height()), (COLS as u32, ROWS as u32));
    // the reference rendering: no window in the file, so min–max (0..264) to 0..255
    let want: Vec<f64> = REFERENCE.iter().map(|v| v / REFERENCE_MAX * 255.0).collect();
    let got = blocks(&img.as_raw().iter().map(|v| f64::from(*v)).collect::<Vec<_>>());
    let p = pearson(&got, &want);
    assert!(p >= 0.99, "Pearson {p} against the pydicom reference rendering");
}

/// Hostile input: the codestream cut short, or a header that does not match the JPEG's frame.
#[test]
fn a_broken_twelve_bit_codestream_is_unsupported_not_a_panic() {
    let bytes = file("JPGExtended.dcm");
    let cut = &bytes[..bytes.len() - bytes.len() / 3];
    for result in [
        to_explicit_le(cut, LIMIT).map(|_| ()),
        render_frame(cut, 1, &RenderOptions::default()).map(|_| ()),
    ] {
        let e = result.expect_err("a truncated instance must not decode");
        assert!(matches!(e.kind(), ErrorKind::Unsupported | ErrorKind::CorruptStored | ErrorKind::InvalidInput), "{e:?}");
    }
    // Rows (0028,0010) patched from 1024 to 1000: the JPEG frame is 1024 rows high
    let at = bytes.windows(8).position(|w| w == [0x28, 0x00, 0x10, 0x00, b'U', b'S', 2, 0]).unwrap() + 8;
    let mut patched = bytes.clone();
    patched[at..at + 2].copy_from_slice(&1000u16.to_le_bytes());
    let e = to_explicit_le(&patched, LIMIT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("1024"), "{e}");
    let e = render_frame(&patched, 1, &RenderOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    // a study answer refuses it from the headers, before its first byte
    assert_eq!(check_transcodable(&patched, LIMIT).unwrap_err().kind(), ErrorKind::Unsupported);
}

/// Hostile input: JPEG 2000 codestreams (12 bits stored) labelled JPEG Extended are refused from
/// their headers, before a study answer starts, and never reach the decoder as JPEG.
#[test]
fn a_codestream_that_is_not_jpeg_labelled_jpeg_extended_is_refused_from_the_header() {
    let j2k = file("emri_small_jpeg_2k_lossless.dcm");
    let at = j2k.windows(22).position(|w| w == b"1.2.840.10008.1.2.4.90").unwrap();
    let mut labelled = j2k.clone();
    labelled[at..at + 22].copy_from_slice(b"1.2.840.10008.1.2.4.51");
    let e = check_transcodable(&labelled, LIMIT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("1.2.840.10008.1.2.4.51"), "{e}");
    assert_eq!(to_explicit_le(&labelled, LIMIT).unwrap_err().kind(), ErrorKind::Unsupported);
    assert_eq!(frames_explicit_le(&labelled, &[3], LIMIT).unwrap_err().kind(), ErrorKind::Unsupported);
    assert_eq!(render_frame(&labelled, 2, &RenderOptions::default()).unwrap_err().kind(), ErrorKind::Unsupported);
}
