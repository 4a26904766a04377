//! Time of the core's render per file (no server): `cargo run --release -p dicom-fhir-core --example render_timing -- FILE...`
use std::time::Instant;
fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).unwrap();
        let opts = dicom_fhir_core::RenderOptions::default();
        let _ = dicom_fhir_core::render_frame(&bytes, 1, &opts).unwrap();
        let n = 20;
        let t = Instant::now();
        let mut len = 0;
        for _ in 0..n {
            len = dicom_fhir_core::render_frame(&bytes, 1, &opts).unwrap().bytes.len();
        }
        let t_render = t.elapsed().as_secs_f64() / n as f64 * 1000.0;
        let t = Instant::now();
        for _ in 0..n {
            let _ = dicom_fhir_core::thumbnail(&bytes, dicom_fhir_core::MediaType::Jpeg).unwrap();
        }
        let t_thumb = t.elapsed().as_secs_f64() / n as f64 * 1000.0;
        println!("{path}: render {t_render:.2} ms ({len} bytes), thumbnail {t_thumb:.2} ms");
    }
}
