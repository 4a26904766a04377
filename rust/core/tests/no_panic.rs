//! Property tests: no input, however broken, makes `parse` (or anything done with its
//! result) panic. Inputs are random bytes and mutations (truncation, byte flips, forged
//! lengths, spliced chunks) of real corpus files.

use std::path::Path;
use std::sync::OnceLock;

use dicom_dictionary_std::tags;
use dicom_fhir_core::{parse, ItemView, ParsedInstance};
use proptest::prelude::*;

/// Small real files covering explicit/implicit/big endian, deflate, encapsulated pixel
/// data, sequences, ISO 2022 text and the implicit-VR fallback.
const SEEDS: &[&str] = &[
    "pydicom/CT_small.dcm",
    "pydicom/MR_small_implicit.dcm",
    "pydicom/MR_small_bigendian.dcm",
    "pydicom/image_dfl.dcm",
    "pydicom/JPEG2000.dcm",
    "pydicom/SC_rgb_jpeg.dcm",
    "pydicom/rtplan.dcm",
    "pydicom/test-SR.dcm",
    "pydicom-charset/chrH32.dcm",
    "pydicom-charset/chrI2.dcm",
];

fn seeds() -> &'static Vec<Vec<u8>> {
    static S: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    S.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data");
        SEEDS
            .iter()
            .map(|name| {
                let p = root.join(name);
                let alt = root.join(name.replace("pydicom-charset", "pydicom/charset_files"));
                std::fs::read(&p)
                    .or_else(|_| std::fs::read(&alt))
                    .unwrap_or_else(|_| {
                        panic!("{} missing: run scripts/fetch-test-data.sh", p.display())
                    })
            })
            .collect()
    })
}

/// Uses everything a caller can reach, so our own code is exercised on odd data too.
fn exercise(inst: &ParsedInstance) {
    let _ = (
        inst.sha256(),
        inst.size(),
        inst.warnings(),
        inst.pixel_data(),
    );
    let _ = (
        inst.study_instance_uid(),
        inst.series_instance_uid(),
        inst.sop_instance_uid(),
    );
    let _ = (inst.sop_class_uid(), inst.transfer_syntax_uid());
    let json = inst.dicom_json("http://h");
    let text = json.to_string();
    let back: serde_json::Value = serde_json::from_str(&text).expect("JSON must re-parse");
    assert!(back.is_object());
    view(&inst.root(), 0);
}

fn view(v: &ItemView<'_>, depth: usize) {
    for tag in [
        tags::PATIENT_NAME,
        tags::PATIENT_ID,
        tags::STUDY_DATE,
        tags::ROWS,
        tags::NUMBER_OF_FRAMES,
        tags::IMAGE_TYPE,
    ] {
        let _ = (
            v.string(tag),
            v.strings(tag),
            v.int(tag),
            v.person_name(tag),
            v.person_names(tag),
        );
    }
    if depth < 4 {
        for seq in [
            tags::REFERENCED_SERIES_SEQUENCE,
            tags::CONTENT_SEQUENCE,
            tags::BEAM_SEQUENCE,
            tags::CONCEPT_NAME_CODE_SEQUENCE,
        ] {
            for item in v.items(seq) {
                view(&item, depth + 1);
            }
        }
    }
}

fn check(bytes: &[u8]) {
    match parse(bytes) {
        Ok(inst) => exercise(&inst),
        Err(e) => {
            assert!(!e.message().is_empty());
            if std::env::var_os("SHOW_REJECTIONS").is_some() {
                eprintln!("REJECT {}", e.message());
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(Vec<(usize, u8)>),
    /// A forged 32-bit length (or any 4 bytes) at a position.
    Word(usize, u32),
    /// Copy a chunk from one place to another (overwriting).
    Splice(usize, usize, usize),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        prop::collection::vec((any::<usize>(), any::<u8>()), 1..8).prop_map(Mutation::Flip),
        (
            any::<usize>(),
            prop_oneof![
                Just(0xFFFF_FFFFu32),
                Just(0xFFFF_FFF0),
                Just(0x7FFF_FFFF),
                any::<u32>(),
                0u32..64
            ]
        )
            .prop_map(|(p, w)| Mutation::Word(p, w)),
        (any::<usize>(), any::<usize>(), 1usize..64)
            .prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
        (any::<usize>(), 1usize..32).prop_map(|(a, n)| Mutation::Delete(a, n)),
    ]
}

fn apply(mut b: Vec<u8>, m: &Mutation) -> Vec<u8> {
    if b.is_empty() {
        return b;
    }
    // Mutate the header region most of the time: that is where the parser works.
    let len = b.len();
    let pos = |p: usize| {
        if p % 4 == 0 {
            p % len
        } else {
            p % len.min(2048)
        }
    };
    match m {
        Mutation::Truncate(p) => b.truncate(pos(*p)),
        Mutation::Flip(v) => {
            for (p, x) in v {
                let i = pos(*p);
                b[i] = *x;
            }
        }
        Mutation::Word(p, w) => {
            let i = pos(*p);
            for (k, x) in w.to_le_bytes().iter().enumerate() {
                if i + k < len {
                    b[i + k] = *x;
                }
            }
        }
        Mutation::Splice(from, to, n) => {
            let (f, t) = (pos(*from), pos(*to));
            let n = (*n).min(len - f).min(len - t);
            let chunk = b[f..f + n].to_vec();
            b[t..t + n].copy_from_slice(&chunk);
        }
        Mutation::Delete(at, n) => {
            let a = pos(*at);
            let n = (*n).min(len - a);
            b.drain(a..a + n);
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), dicm in any::<bool>()) {
        // Half of the inputs get a plausible preamble so the meta parser is reached.
        let input = if dicm {
            let mut v = vec![0u8; 128];
            v.extend_from_slice(b"DICM\x02\x00\x00\x00UL\x04\x00");
            v.extend_from_slice(&bytes);
            v
        } else {
            bytes
        };
        check(&input);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_real_files_never_panic(seed in 0..SEEDS.len(), muts in prop::collection::vec(mutation(), 1..4)) {
        let mut b = seeds()[seed].clone();
        for m in &muts {
            b = apply(b, m);
        }
        check(&b);
    }
}

#[test]
fn every_prefix_of_a_small_file_is_handled() {
    // Exhaustive truncation of the header region of one file.
    let b = &seeds()[1];
    for n in (0..b.len().min(3000)).step_by(7) {
        check(&b[..n]);
    }
}
