//! Transcoding to Explicit VR Little Endian over every compressed file of the corpus: each one
//! transcodes (the same instance, every attribute kept, the decoded pixels, frame n = frame n) or
//! is refused as Unsupported with a pinned reason. Hostile input first: corrupt codestreams, a
//! huge declared image with a tiny body.
//!
//! The pixels are compared with dicom-pixeldata's own decode here; the comparison with an
//! independent decoder (pydicom + pylibjpeg) is tests/python/test_transcode.py.

use std::collections::BTreeMap;
use std::io::Cursor;

use dicom_core::header::Header;
use dicom_dictionary_std::tags;
use dicom_fhir_core::{check_transcodable, frames_explicit_le, parse, to_explicit_le, ErrorKind, EXPLICIT_VR_LITTLE_ENDIAN};
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::PixelDecoder;

mod common;

use common::{pixel_data_files, read_named as file, refusal_differences, UNDECODABLE};

const LIMIT: u64 = 256 << 20;

/// Corpus files with encapsulated Pixel Data that `parse` accepts, by name relative to `.data/`.
fn compressed() -> Vec<(String, Vec<u8>)> {
    pixel_data_files(|parsed| !dicom_fhir_core::is_native(parsed.transfer_syntax_uid()))
}

fn open(bytes: &[u8]) -> DefaultDicomObject {
    OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Always)
        .from_reader(Cursor::new(bytes))
        .unwrap()
}

fn text(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.element_opt(tag).ok().flatten().and_then(|e| e.to_str().ok()).map(|s| s.trim().to_owned())
}

/// Checks one transcoded file; `Err` says what is wrong.
fn check(name: &str, source: &[u8], out: &[u8]) -> Result<(), String> {
    let parsed = parse(out).map_err(|e| format!("{name}: the output does not parse: {e}"))?;
    if parsed.transfer_syntax_uid() != EXPLICIT_VR_LITTLE_ENDIAN {
        return Err(format!("{name}: output transfer syntax {}", parsed.transfer_syntax_uid()));
    }
    let (src, dst) = (open(source), open(out));
    for tag in [tags::SOP_INSTANCE_UID, tags::SOP_CLASS_UID, tags::STUDY_INSTANCE_UID, tags::PATIENT_ID, tags::ROWS, tags::COLUMNS] {
        if text(&src, tag) != text(&dst, tag) {
            return Err(format!("{name}: {tag} changed: {:?} -> {:?}", text(&src, tag), text(&dst, tag)));
        }
    }
    if dst.meta().media_storage_sop_instance_uid() != src.meta().media_storage_sop_instance_uid() {
        return Err(format!("{name}: Media Storage SOP Instance UID changed"));
    }
    // every attribute of the source is still there, but those that describe encapsulated data
    let dropped = [tags::EXTENDED_OFFSET_TABLE, tags::EXTENDED_OFFSET_TABLE_LENGTHS, tags::ENCAPSULATED_PIXEL_DATA_VALUE_TOTAL_LENGTH];
    for e in src.iter() {
        if !dropped.contains(&e.tag()) && dst.element_opt(e.tag()).ok().flatten().is_none() {
            return Err(format!("{name}: {} lost", e.tag()));
        }
    }
    let src_pi = text(&src, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default();
    let dst_pi = text(&dst, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default();
    if src_pi == "PALETTE COLOR" && dst_pi != "PALETTE COLOR" {
        return Err(format!("{name}: PALETTE COLOR relabelled {dst_pi}"));
    }
    let pixels = dst.element(tags::PIXEL_DATA).unwrap().to_bytes().map_err(|e| format!("{name}: {e}"))?.into_owned();
    let (want, frames) = if name.ends_with("JPGExtended.dcm") {
        // 12-bit lossy JPEG: dicom-pixeldata cannot decode it; tests/jpeg12.rs compares with pydicom
        (pixels.clone(), 1)
    } else {
        let expected = src.decode_pixel_data().map_err(|e| format!("{name}: reference decode: {e}"))?;
        (expected.data().to_vec(), expected.number_of_frames() as u64)
    };
    if pixels.len() < want.len() || pixels[..want.len()] != want[..] {
        return Err(format!("{name}: pixels differ from the decoded source ({} vs {} bytes)", pixels.len(), want.len()));
    }
    // frame n of the frames call is frame n of the transcoded instance
    let frame_len = want.len() / frames as usize;
    let last = frames;
    let got = frames_explicit_le(source, &[last, 1], LIMIT).map_err(|e| format!("{name}: frames: {e}"))?;
    if got[0] != want[(last as usize - 1) * frame_len..last as usize * frame_len] || got[1] != want[..frame_len] {
        return Err(format!("{name}: frames {last},1 differ from the transcoded instance's"));
    }
    Ok(())
}

#[test]
fn every_compressed_file_in_the_corpus_transcodes_or_is_unsupported_for_a_known_reason() {
    let files = compressed();
    assert!(files.len() >= 40, "only {} compressed files found", files.len());
    let mut unsupported = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, bytes) in &files {
        let checked = check_transcodable(bytes, LIMIT);
        match to_explicit_le(bytes, LIMIT) {
            Ok(out) => {
                if let Err(e) = checked {
                    problems.push(format!("{name}: transcodes but check_transcodable said {e}"));
                }
                if let Err(p) = check(name, bytes, &out) {
                    problems.push(p);
                }
            }
            Err(e) if e.kind() == ErrorKind::Unsupported => {
                unsupported.insert(name.clone(), e.to_string());
            }
            Err(e) => problems.push(format!("{name}: {:?} {e}", e.kind())),
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let differences = refusal_differences(&unsupported, UNDECODABLE, "transcodes");
    assert!(differences.is_empty(), "{differences:#?}");
}

#[test]
fn native_instances_are_re_encoded_without_decoding() {
    for name in ["CT_small.dcm", "SC_rgb_expb.dcm", "image_dfl.dcm", "MR_small_implicit.dcm"] {
        let source = file(name);
        let out = to_explicit_le(&source, LIMIT).unwrap();
        let (src, dst) = (open(&source), open(&out));
        assert_eq!(dst.meta().transfer_syntax().trim_end_matches('\0'), EXPLICIT_VR_LITTLE_ENDIAN, "{name}");
        assert_eq!(
            src.decode_pixel_data().unwrap().data(),
            dst.decode_pixel_data().unwrap().data(),
            "{name}: pixels changed"
        );
    }
}

#[test]
fn ybr_full_422_jpeg_becomes_rgb_and_lossy_is_flagged() {
    let out = to_explicit_le(&file("SC_rgb_dcmtk_+eb+cy+n2.dcm"), LIMIT).unwrap();
    let dst = open(&out);
    assert_eq!(text(&dst, tags::PHOTOMETRIC_INTERPRETATION).as_deref(), Some("RGB"));
    assert_eq!(text(&dst, tags::PLANAR_CONFIGURATION).as_deref(), Some("0"));
    assert_eq!(text(&dst, tags::LOSSY_IMAGE_COMPRESSION).as_deref(), Some("01"));
}

#[test]
fn palette_color_stays_palette_color_with_its_luts() {
    let out = to_explicit_le(&file("OBXXXX1A_rle.dcm"), LIMIT).unwrap();
    let dst = open(&out);
    assert_eq!(text(&dst, tags::PHOTOMETRIC_INTERPRETATION).as_deref(), Some("PALETTE COLOR"));
    assert!(dst.element_opt(tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA).unwrap().is_some());
}

#[test]
fn a_truncated_jpeg_2000_codestream_is_unsupported_not_a_panic() {
    let source = file("693_J2KR.dcm");
    // cut the codestream in half inside its fragment, keeping the item and element lengths
    // consistent: the data set still parses, the codestream cannot decode
    let obj = open(&source);
    let pixel = obj.element(tags::PIXEL_DATA).unwrap();
    let fragment = pixel.fragments().unwrap()[0].clone();
    let at = source.windows(64).position(|w| w == &fragment[..64]).unwrap();
    let mut hostile = source.clone();
    for b in &mut hostile[at + fragment.len() / 2..at + fragment.len()] {
        *b = 0;
    }
    let e = to_explicit_le(&hostile, LIMIT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let e = frames_explicit_le(&hostile, &[1], LIMIT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
}

#[test]
fn a_huge_declared_image_with_a_tiny_body_is_refused_before_decoding() {
    // JPEG-LL.dcm with Rows and Columns 65535 and Number of Frames 1000: 8 TB declared
    let mut obj = open(&file("JPEG-LL.dcm"));
    obj.put(dicom_core::DataElement::new(tags::ROWS, dicom_core::VR::US, dicom_core::PrimitiveValue::from(65535u16)));
    obj.put(dicom_core::DataElement::new(tags::COLUMNS, dicom_core::VR::US, dicom_core::PrimitiveValue::from(65535u16)));
    obj.put(dicom_core::DataElement::new(tags::NUMBER_OF_FRAMES, dicom_core::VR::IS, dicom_core::PrimitiveValue::from("1000")));
    let mut hostile = Vec::new();
    obj.write_all(&mut hostile).unwrap();
    let started = std::time::Instant::now();
    let e = to_explicit_le(&hostile, LIMIT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LimitExceeded, "{e}");
    assert!(e.to_string().contains("limit"), "{e}");
    assert_eq!(check_transcodable(&hostile, LIMIT).unwrap_err().kind(), ErrorKind::LimitExceeded);
    let e = frames_explicit_le(&hostile, &[1000], LIMIT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LimitExceeded, "{e}");
    assert!(started.elapsed().as_secs() < 2, "refused after {:?}: it decoded", started.elapsed());
}

#[test]
fn the_limit_counts_every_frame_asked_for() {
    let source = file("emri_small_jpeg_2k_lossless.dcm"); // 10 frames of 64×64×16 bits = 8 KiB each
    assert_eq!(frames_explicit_le(&source, &[1, 2], 2 * 8192).unwrap().len(), 2);
    assert_eq!(frames_explicit_le(&source, &[1, 2, 3], 2 * 8192).unwrap_err().kind(), ErrorKind::LimitExceeded);
    assert_eq!(to_explicit_le(&source, 9 * 8192).unwrap_err().kind(), ErrorKind::LimitExceeded);
    assert_eq!(frames_explicit_le(&source, &[11], LIMIT).unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn twelve_bit_lossy_jpeg_is_transcodable_and_a_corrupt_one_is_unsupported_with_the_reason() {
    // the pixels against pydicom's: tests/jpeg12.rs
    check_transcodable(&file("JPGExtended.dcm"), LIMIT).unwrap();
    let e = to_explicit_le(&file("JPEG-lossy.dcm"), LIMIT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("12-bit JPEG"), "{e}");
}

#[test]
fn a_jpeg_2000_frame_cut_short_is_unsupported_and_the_other_frames_still_decode() {
    // frame 1's fragment truncated to half its codestream, offsets rewritten: a well-formed data set
    let mut obj = open(&file("emri_small_jpeg_2k_lossless.dcm"));
    let pixel = obj.element(tags::PIXEL_DATA).unwrap();
    let mut fragments: Vec<Vec<u8>> = pixel.fragments().unwrap().to_vec();
    let half = (fragments[0].len() / 2) & !1;
    fragments[0].truncate(half);
    let mut offsets = vec![0u32];
    for f in &fragments[..fragments.len() - 1] {
        offsets.push(offsets.last().unwrap() + 8 + f.len() as u32);
    }
    obj.put(dicom_core::DataElement::new(
        tags::PIXEL_DATA,
        dicom_core::VR::OB,
        dicom_core::value::PixelFragmentSequence::new(offsets, fragments),
    ));
    let mut hostile = Vec::new();
    obj.write_all(&mut hostile).unwrap();
    let e = to_explicit_le(&hostile, LIMIT).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert_eq!(frames_explicit_le(&hostile, &[1], LIMIT).unwrap_err().kind(), ErrorKind::Unsupported);
    assert_eq!(frames_explicit_le(&hostile, &[2], LIMIT).unwrap().len(), 1);
}
