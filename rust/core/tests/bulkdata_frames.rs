//! WADO-RS bulk data and frames on the real corpus: every BulkDataURI of every parsable file
//! resolves through `bulkdata::locate` to the bytes dicom-rs reads for that element, and the
//! frames of `frames::frames` equal dicom-rs' `PixelDataObject::frame_pixel_data` wherever
//! dicom-rs can split the pixel data.

use std::path::{Path, PathBuf};

use dicom_core::value::Value as DValue;
use dicom_core::Tag;
use dicom_encoding::adapters::PixelDataObject;
use dicom_fhir_core::__private::le_bytes;
use dicom_fhir_core::{chunk_bytes, locate, locate_in, parse_tag_path};
use dicom_fhir_core::{all_frames_in, frames, frames_in};
use dicom_object::{InMemDicomObject, OpenFileOptions};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data")
}

fn corpus() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in ["pydicom", "pydicom-data"] {
        for e in std::fs::read_dir(root().join(d)).expect("run scripts/fetch-test-data.sh") {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "dcm") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn bulk_uris(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(u)) = m.get("BulkDataURI") {
                out.push(u.clone());
            }
            m.values().for_each(|x| bulk_uris(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| bulk_uris(x, out)),
        _ => {}
    }
}

/// The element a tag path names, in dicom-rs' full read.
fn element<'a>(obj: &'a InMemDicomObject, path: &str) -> Option<&'a dicom_object::mem::InMemElement> {
    let parts: Vec<&str> = path.split('/').collect();
    let mut cur = obj;
    let mut i = 0;
    loop {
        let tag: Tag = parse_tag_path(parts[i]).unwrap()[0];
        let e = cur.get(tag)?;
        if i + 1 == parts.len() {
            return Some(e);
        }
        let idx: usize = parts[i + 1].parse().unwrap();
        cur = e.items()?.get(idx)?;
        i += 2;
    }
}

/// The server walks stored files on disk (`BufReader<File>`, headers only): every frame and every
/// BulkDataURI must come out exactly as from the same bytes in memory.
#[test]
fn files_on_disk_answer_like_bytes_in_memory() {
    let mut compared = 0;
    for path in corpus() {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let open = || std::io::BufReader::with_capacity(16 * 1024, std::fs::File::open(&path).unwrap());
        let in_memory = all_frames_in(&bytes);
        if let Ok(mem) = &in_memory {
            let numbers: Vec<u64> = (1..=mem.number_of_frames + 1).collect(); // and one past the end
            let on_disk = frames(&mut open(), &numbers).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(on_disk, frames_in(&bytes, &numbers).unwrap(), "{name}: frames differ");
            compared += 1;
        } else {
            let disk = frames(&mut open(), &[1]).map_err(|e| e.message().to_string());
            assert_eq!(disk, frames_in(&bytes, &[1]).map_err(|e| e.message().to_string()), "{name}");
        }
        let Ok(parsed) = dicom_fhir_core::parse(&bytes) else { continue };
        let mut uris = Vec::new();
        bulk_uris(&parsed.dicom_json("http://x/i"), &mut uris);
        for uri in uris {
            let tag_path = uri.strip_prefix("http://x/i/bulkdata/").unwrap();
            let mem = locate_in(&bytes, tag_path).map_err(|e| e.message().to_string());
            let disk = locate(&mut open(), tag_path).map_err(|e| e.message().to_string());
            assert_eq!(disk, mem, "{name} {tag_path}");
        }
    }
    assert!(compared >= 40, "only {compared} files compared");
}

#[test]
fn every_bulk_data_uri_resolves_to_the_bytes_dicom_rs_reads() {
    let mut checked = 0;
    let mut files = 0;
    for path in corpus() {
        let bytes = std::fs::read(&path).unwrap();
        let Ok(parsed) = dicom_fhir_core::parse(&bytes) else { continue };
        let json = parsed.dicom_json("http://x/i");
        let mut uris = Vec::new();
        bulk_uris(&json, &mut uris);
        if uris.is_empty() {
            continue;
        }
        let full = OpenFileOptions::new().from_reader(bytes.as_slice()).ok();
        files += 1;
        for uri in uris {
            let tag_path = uri.strip_prefix("http://x/i/bulkdata/").unwrap();
            let name = path.file_name().unwrap().to_string_lossy();
            let found = match locate_in(&bytes, tag_path) {
                Ok(f) => f.unwrap_or_else(|| panic!("{name} {tag_path}: not found")),
                // a file cut short inside its pixel data: an error, never wrong bytes
                Err(e) if e.message().contains("truncated") && name.contains("too_short") => continue,
                Err(e) => panic!("{name} {tag_path}: {e}"),
            };
            let Some(full) = &full else { continue };
            let Some(elem) = element(full, tag_path) else {
                panic!("{name} {tag_path}: dicom-rs has no such element");
            };
            match elem.value() {
                DValue::Primitive(p) => {
                    assert_eq!(found.parts.len(), 1, "{name} {tag_path}");
                    let ours = chunk_bytes(&bytes, &found.parts[0]);
                    let theirs = le_bytes(p);
                    assert_eq!(ours.len(), theirs.len(), "{name} {tag_path}: length");
                    assert!(ours == theirs, "{name} {tag_path}: bytes differ");
                }
                DValue::PixelSequence(seq) => {
                    let ours: Vec<u8> = found.parts.iter().flat_map(|p| chunk_bytes(&bytes, p)).collect();
                    let theirs: Vec<u8> = seq.fragments().iter().flat_map(|f| f.iter().copied()).collect();
                    assert!(ours == theirs, "{name} {tag_path}: fragments differ");
                    if tag_path == "7FE00010" {
                        let n = full.number_of_frames().unwrap_or(1).max(1);
                        assert_eq!(found.parts.len() as u32, n, "{name}: one part per frame");
                    }
                }
                DValue::Sequence(_) => panic!("{name} {tag_path}: a sequence"),
            }
            checked += 1;
        }
    }
    assert!(files >= 40 && checked >= 60, "only {checked} values in {files} files checked");
}

#[test]
fn frames_equal_dicom_rs_where_it_can_split() {
    let mut compared = 0;
    let mut multi = 0;
    for path in corpus() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&path).unwrap();
        if dicom_fhir_core::parse(&bytes).map(|p| p.pixel_data().is_none()).unwrap_or(true) {
            continue;
        }
        let Ok(full) = OpenFileOptions::new().from_reader(bytes.as_slice()) else { continue };
        let ours = match all_frames_in(&bytes) {
            Ok(f) => f,
            Err(e) => {
                // files whose pixel data is too short for their header
                assert!(e.message().contains("too few") || e.message().contains("fragments"), "{name}: {e}");
                continue;
            }
        };
        let n = full.number_of_frames().unwrap_or(1).max(1);
        assert_eq!(ours.number_of_frames, u64::from(n), "{name}");
        if n > 1 {
            multi += 1;
        }
        let encapsulated = full.number_of_fragments().is_some();
        let big_endian = ours.transfer_syntax_uid == "1.2.840.10008.1.2.2";
        let dicom_rs_splits = !encapsulated
            || full.number_of_fragments() == Some(n)
            || full.offset_table().is_some_and(|t| t.len() as u32 == n)
            || n == 1;
        for f in 0..n {
            let mine = chunk_bytes(&bytes, ours.frames[f as usize].as_ref().unwrap());
            if !dicom_rs_splits || big_endian || (n == 1 && encapsulated) {
                continue;
            }
            let Some(theirs) = full.frame_pixel_data(f) else { continue };
            if full.bits_allocated() == Some(1) {
                continue; // dicom-rs rounds each 1-bit frame to whole bytes; checked below
            }
            assert!(mine == theirs.as_ref(), "{name} frame {f}: bytes differ ({} vs {})", mine.len(), theirs.len());
            compared += 1;
        }
        if encapsulated {
            // whatever the split, the frames hold exactly the fragments, in order
            let all: Vec<u8> = ours.frames.iter().flat_map(|c| chunk_bytes(&bytes, c.as_ref().unwrap())).collect();
            let frags: Vec<u8> = (0..full.number_of_fragments().unwrap())
                .flat_map(|i| full.fragment(i as usize).unwrap().into_owned())
                .collect();
            assert!(all == frags, "{name}: frames are not the fragments");
        }
    }
    assert!(compared >= 150 && multi >= 8, "compared {compared} frames, {multi} multi-frame files");
}

#[test]
fn named_multiframe_files() {
    for (file, frames) in [
        ("pydicom-data/emri_small.dcm", 10),
        ("pydicom-data/emri_small_jpeg_2k_lossless.dcm", 10),
        ("pydicom-data/emri_small_RLE.dcm", 10),
        ("pydicom-data/emri_small_big_endian.dcm", 10),
        ("pydicom-data/color3d_jpeg_baseline.dcm", 120),
        ("pydicom/SC_rgb_rle_2frame.dcm", 2),
        ("pydicom-data/OBXXXX1A_rle_2frame.dcm", 2),
    ] {
        let bytes = std::fs::read(root().join(file)).unwrap();
        let f = frames_in(&bytes, &[1, frames, frames + 1, 0]).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(f.number_of_frames, frames, "{file}");
        assert!(f.frames[0].is_some() && f.frames[1].is_some(), "{file}");
        assert!(f.frames[2].is_none() && f.frames[3].is_none(), "{file}");
    }
    // big endian frames come out little endian: equal to the little endian file's
    let le = std::fs::read(root().join("pydicom-data/emri_small.dcm")).unwrap();
    let be = std::fs::read(root().join("pydicom-data/emri_small_big_endian.dcm")).unwrap();
    let (a, b) = (all_frames_in(&le).unwrap(), all_frames_in(&be).unwrap());
    for i in 0..10 {
        assert_eq!(
            chunk_bytes(&le, a.frames[i].as_ref().unwrap()),
            chunk_bytes(&be, b.frames[i].as_ref().unwrap()),
            "frame {i}"
        );
    }
}

#[test]
fn bad_paths_and_missing_elements() {
    let bytes = std::fs::read(root().join("pydicom/CT_small.dcm")).unwrap();
    for bad in ["", "7FE0001", "7FE00010/0", "zz", "00081140/x/00081150", "7FE00010/0/00081150/1"] {
        assert!(locate_in(&bytes, bad).is_err(), "{bad}");
    }
    assert!(locate_in(&bytes, "7FE10010").unwrap().is_none());
    assert!(locate_in(&bytes, "00081140/5/00081150").unwrap().is_none());
    let px = locate_in(&bytes, "7FE00010").unwrap().unwrap();
    assert_eq!(chunk_bytes(&bytes, &px.parts[0]).len(), 128 * 128 * 2);
}

/// A deflated data set is inflated on every frames and bulk data request: only up to the cap the
/// caller gives, beyond which the error says it is a limit of the server (`LimitExceeded`), not bad input.
#[test]
fn deflated_data_sets_are_inflated_up_to_the_cap() {
    use dicom_fhir_core::{frames_in_limited, locate_in_limited, ErrorKind, DEFAULT_MAX_INFLATED};
    let is_limit = |e: &dicom_fhir_core::DicomError| e.kind() == ErrorKind::LimitExceeded;
    let bytes = std::fs::read(root().join("pydicom/image_dfl.dcm")).expect("run scripts/fetch-test-data.sh");
    let within = frames_in_limited(&bytes, &[1], DEFAULT_MAX_INFLATED).expect("inflates within the default cap");
    assert_eq!(within, frames_in(&bytes, &[1]).unwrap());
    let e = frames_in_limited(&bytes, &[1], 1000).unwrap_err();
    assert!(is_limit(&e), "{e}");
    assert!(e.message().contains("more than 1000 bytes"), "{e}");
    let e = locate_in_limited(&bytes, "7FE00010", 1000).unwrap_err();
    assert!(is_limit(&e), "{e}");
    // other errors are not limits
    assert!(!is_limit(&frames_in_limited(b"not dicom", &[1], 1000).unwrap_err()));
}

/// Frames and bulk data read instances this server stored: one that cannot be read is
/// `CorruptStored` (a 5xx), while a malformed frame list or tag path is the caller's
/// `InvalidInput` (a 4xx).
#[test]
fn unreadable_stored_instances_are_corrupt_stored_and_bad_requests_invalid_input() {
    use dicom_fhir_core::{parse_frame_list, ErrorKind};
    assert_eq!(frames_in(b"not dicom", &[1]).unwrap_err().kind(), ErrorKind::CorruptStored);
    assert_eq!(locate_in(b"not dicom", "7FE00010").unwrap_err().kind(), ErrorKind::CorruptStored);
    let bytes = std::fs::read(root().join("pydicom/CT_small.dcm")).expect("run scripts/fetch-test-data.sh");
    assert_eq!(frames_in(&bytes[..140], &[1]).unwrap_err().kind(), ErrorKind::CorruptStored);
    assert_eq!(parse_frame_list("0").unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(locate_in(&bytes, "7FE0").unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(
        dicom_fhir_core::stored_dicom_json(b"not dicom", "").unwrap_err().kind(),
        ErrorKind::CorruptStored
    );
    assert!(dicom_fhir_core::stored_dicom_json(&bytes, "").is_ok());
}
