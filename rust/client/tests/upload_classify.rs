//! `dicom_fhir_client::upload` (the code behind `dicom-fhir upload` and the Python module's
//! `upload()`) against a loopback stand-in for a FHIR server with the plugin: which files are
//! sent, skipped (not DICOM) or failed (damaged DICOM), in both modes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use dicom_fhir_client::upload::Silent;
use dicom_fhir_client::{ClientConfig, Fhir, StowOptions, UploadOptions};

mod support;

/// A FHIR server with the plugin (`support::plugin_answer`) that keeps the POSTed bodies
/// (Binary and STOW-RS).
fn serve() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let keep = received.clone();
    let port = support::serve("application/fhir+json", move |request, port| {
        let answer = support::plugin_answer(&request, port);
        if request.method == "POST" {
            keep.lock().unwrap().push(request.body);
        }
        answer
    });
    (format!("http://127.0.0.1:{port}/fhir"), received)
}

fn folder(name: &str) -> PathBuf {
    let dir = support::temp_dir(&format!("upload-{name}"));
    let ct = support::ct_small();
    let mut garbage = vec![0u8; 128];
    garbage.extend_from_slice(b"DICM");
    garbage.extend((0..1024).map(|i| (i * 7 % 251) as u8));
    std::fs::write(dir.join("a_good.dcm"), &ct).unwrap();
    std::fs::write(dir.join("b_truncated.dcm"), &ct[..ct.len() / 2]).unwrap();
    std::fs::write(dir.join("c_garbage.dcm"), &garbage).unwrap();
    std::fs::write(dir.join("d_README.txt"), "not DICOM").unwrap();
    std::fs::write(dir.join("e_photo.jpg"), b"\xff\xd8\xff\xe0\x00\x10JFIF\x00").unwrap();
    dir
}

fn run(stow: bool) {
    let (url, received) = serve();
    let dir = folder(if stow { "stow" } else { "binary" });
    let fhir = Fhir::new(&ClientConfig::new(url.clone())).unwrap();
    let options = UploadOptions {
        stow: stow.then(|| StowOptions {
            url: format!("{url}/dicomweb/studies"),
            batch: 20,
        }),
        ..Default::default()
    };
    let rt = dicom_fhir_client::upload::runtime(2).unwrap();
    let report = rt
        .block_on(dicom_fhir_client::upload(
            &fhir,
            std::slice::from_ref(&dir),
            &options,
            Arc::new(Silent),
        ))
        .expect("the run itself succeeds");
    let path = |n: &str| dir.join(n).display().to_string();

    let failed: Vec<_> = report.failed.iter().map(|p| p.path.clone()).collect();
    assert_eq!(
        failed,
        [path("b_truncated.dcm"), path("c_garbage.dcm")],
        "{report:#?}"
    );
    for p in &report.failed {
        assert!(p.reason.starts_with("invalid DICOM: "), "{p:?}");
    }
    assert!(
        report.failed[0].reason.contains("truncated"),
        "{:?}",
        report.failed[0]
    );
    assert!(!report.ok());
    let skipped: Vec<_> = report.not_dicom.iter().map(|p| p.path.clone()).collect();
    assert_eq!(skipped, [path("d_README.txt"), path("e_photo.jpg")]);
    assert_eq!((report.files, report.instances, report.stored), (5, 1, 1));
    let sent = received.lock().unwrap().concat();
    let dicm = sent.windows(4).filter(|w| w == b"DICM").count();
    assert_eq!(dicm, 1, "only the good file is sent");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damaged_dicom_fails_and_non_dicom_is_skipped_binary() {
    run(false);
}

#[test]
fn damaged_dicom_fails_and_non_dicom_is_skipped_stow() {
    run(true);
}
