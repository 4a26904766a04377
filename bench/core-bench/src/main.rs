//! Per-instance cost of the Rust core over a folder of DICOM files, held in memory.
//!
//!     cargo run --release -p dicom-fhir-core-bench -- DIR [--rounds 5] [--limit N]
//!
//! Prints one JSON object: for each step, the per-instance time (µs) of every round and the
//! median round. Steps (each a separate pass over all instances, so one step's caches do not
//! help the next):
//!   sha256   SHA-256 of the bytes alone: the floor of any content-addressed store
//!   parse    parse + validate + SHA-256 (`parse::parse`)
//!   ingest   what the plugin calls per upload: `parse_instance` (parse + hash + ImagingStudy
//!            entry + Patient) serialized to the JSON string handed to Java
//!   full     ingest + DICOM JSON of the data set (PS3.18 F.2, as a string) + the entry merged
//!            into an ImagingStudy (serialized)
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dicom_fhir_core::{merge_study, parse, parse_instance, sha256_hex, DeriveOptions};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|e| e == "dcm") {
            out.push(p);
        }
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = None;
    let mut rounds = 5usize;
    let mut limit = usize::MAX;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--rounds" => { rounds = args[i + 1].parse().expect("--rounds N"); i += 1; }
            "--limit" => { limit = args[i + 1].parse().expect("--limit N"); i += 1; }
            a => dir = Some(PathBuf::from(a)),
        }
        i += 1;
    }
    let dir = dir.expect("usage: core-bench DIR [--rounds N] [--limit N]");
    let mut files = Vec::new();
    collect(&dir, &mut files);
    files.truncate(limit);
    assert!(!files.is_empty(), "no .dcm files under {}", dir.display());
    let data: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).expect("read")).collect();
    let bytes: usize = data.iter().map(|d| d.len()).sum();
    let options = DeriveOptions::default();

    // Each step: closure over one instance; returns something to keep the optimizer honest.
    type Step<'a> = (&'a str, Box<dyn Fn(&[u8]) -> usize + 'a>);
    let steps: Vec<Step> = vec![
        ("sha256", Box::new(|b: &[u8]| sha256_hex(b).len())),
        ("parse", Box::new(|b: &[u8]| parse(b).expect("parse").sha256().len())),
        ("ingest", Box::new(|b: &[u8]| parse_instance(b, &options).expect("parse_instance").to_string().len())),
        ("full", Box::new(|b: &[u8]| {
            let parsed = parse(b).expect("parse");
            let derived = dicom_fhir_core::derive(&parsed, &options);
            let n = derived.to_string().len();
            let json = parsed.dicom_json_string("http://localhost/dicomweb");
            let study = merge_study(None, &[derived["imagingStudy"].clone()]).expect("merge");
            n + json.len() + study.to_string().len()
        })),
    ];

    // Warm-up pass (page cache, allocator, branch predictors).
    for (_, f) in &steps {
        for d in data.iter().take(50) {
            black_box(f(d));
        }
    }
    let mut results = serde_json::Map::new();
    for (name, f) in &steps {
        let mut per_instance_us = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            let mut acc = 0usize;
            for d in &data {
                acc = acc.wrapping_add(f(d));
            }
            black_box(acc);
            per_instance_us.push(t.elapsed().as_secs_f64() * 1e6 / data.len() as f64);
        }
        results.insert(
            name.to_string(),
            serde_json::json!({"per_instance_us": median(&per_instance_us), "rounds_us": per_instance_us}),
        );
    }
    let out = serde_json::json!({
        "tool": "core-bench (Rust, release)",
        "instances": data.len(),
        "bytes_per_instance": bytes / data.len(),
        "rounds": rounds,
        "steps": results,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
