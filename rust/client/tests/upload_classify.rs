//! `dicom_fhir_client::upload` (the code behind `dicom-fhir upload` and the Python module's
//! `upload()`) against a loopback stand-in for a FHIR server with the plugin: which files are
//! sent, skipped (not DICOM) or failed (damaged DICOM), in both modes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use dicom_fhir_client::upload::Silent;
use dicom_fhir_client::{ClientConfig, Fhir, StowOptions, UploadOptions};

/// Answers /metadata, the plugin's StructureDefinition (found), Binary searches (none), and
/// POST Binary (201, id = SHA-256 of the body) / STOW-RS (200); keeps the POSTed bodies.
fn serve() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let keep = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let keep = keep.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut parts = line.split_whitespace();
                let (method, path) = (
                    parts.next().unwrap_or("").to_string(),
                    parts.next().unwrap_or("").to_string(),
                );
                let mut length = 0usize;
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let (status, extra, json) = if method == "POST" && path == "/fhir/Binary" {
                    let sha = dicom_fhir_core::sha256_hex(&body);
                    keep.lock().unwrap().push(body);
                    (
                        "201 Created",
                        format!(
                            "Location: http://127.0.0.1:{port}/fhir/Binary/{sha}/_history/1\r\n"
                        ),
                        format!(r#"{{"resourceType":"Binary","id":"{sha}"}}"#),
                    )
                } else if method == "POST" {
                    keep.lock().unwrap().push(body);
                    ("200 OK", String::new(), "{}".to_string())
                } else if path.starts_with("/fhir/metadata") {
                    (
                        "200 OK",
                        String::new(),
                        r#"{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1"}"#
                            .to_string(),
                    )
                } else {
                    let total = if path.starts_with("/fhir/StructureDefinition") {
                        1
                    } else {
                        0
                    };
                    (
                        "200 OK",
                        String::new(),
                        format!(
                            r#"{{"resourceType":"Bundle","type":"searchset","total":{total}}}"#
                        ),
                    )
                };
                let mut out = stream;
                let _ = write!(
                    out,
                    "HTTP/1.1 {status}\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{json}",
                    json.len()
                );
            });
        }
    });
    (format!("http://127.0.0.1:{port}/fhir"), received)
}

fn ct_small() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data/pydicom/CT_small.dcm");
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-test-data.sh)", path.display()))
}

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dicom-fhir-upload-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ct = ct_small();
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
