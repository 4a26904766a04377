//! Times `render_frame` (JPEG, default options) and `thumbnail` on the files given:
//! `cargo run --release -p dicom-fhir-core --example render_time -- FILE...` (best of 5).

use std::time::Instant;

use dicom_fhir_core::{render_frame, thumbnail, MediaType, RenderOptions};

fn best<F: FnMut()>(mut f: F) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("read");
        let full = best(|| {
            render_frame(&bytes, 1, &RenderOptions::default()).expect("render");
        });
        let thumb = best(|| {
            thumbnail(&bytes, MediaType::Jpeg).expect("thumbnail");
        });
        println!("{path}: rendered JPEG {full:.2} ms, thumbnail {thumb:.2} ms");
    }
}
