//! What the client's integration tests share: a loopback stand-in for an HTTP server, the
//! answers of a FHIR server with the plugin, the test corpus and throwaway folders.
#![allow(dead_code)] // each test crate uses its part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// One request as the stand-in read it.
pub struct Request {
    pub method: String,
    pub path: String,
    /// The token of an `Authorization: Bearer` header.
    pub bearer: Option<String>,
    pub body: Vec<u8>,
}

/// An answer: status line text (`"200 OK"`), extra header lines (each ending in CRLF), JSON body.
pub type Answer = (String, String, String);

/// Serves every connection on its own thread: reads one request, writes `answer(request, port)`
/// with `content_type`, closes. Returns the port (on 127.0.0.1).
pub fn serve(
    content_type: &'static str,
    answer: impl Fn(Request, u16) -> Answer + Send + Sync + Clone + 'static,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let request = read_request(&stream);
                let (status, extra, json) = answer(request, port);
                let mut out = stream;
                let _ = write!(
                    out,
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{json}",
                    json.len()
                );
            });
        }
    });
    port
}

fn read_request(stream: &std::net::TcpStream) -> Request {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let (mut length, mut bearer) = (0usize, None);
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
            if k.eq_ignore_ascii_case("authorization") {
                bearer = v.trim().strip_prefix("Bearer ").map(str::to_string);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    Request {
        method,
        path,
        bearer,
        body,
    }
}

/// What a FHIR server with the plugin answers the client: POST Binary 201 (id = SHA-256 of
/// the body), any other POST (STOW-RS) 200, /metadata a CapabilityStatement, a search a Bundle
/// (the plugin's StructureDefinition found, no Binary).
pub fn plugin_answer(request: &Request, port: u16) -> Answer {
    let ok = |json: String| ("200 OK".to_string(), String::new(), json);
    if request.method == "POST" && request.path == "/fhir/Binary" {
        let sha = dicom_fhir_core::sha256_hex(&request.body);
        return (
            "201 Created".into(),
            format!("Location: http://127.0.0.1:{port}/fhir/Binary/{sha}/_history/1\r\n"),
            format!(r#"{{"resourceType":"Binary","id":"{sha}"}}"#),
        );
    }
    if request.method == "POST" {
        return ok("{}".into());
    }
    if request.path.starts_with("/fhir/metadata") {
        return ok(r#"{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1"}"#.into());
    }
    let total = u8::from(request.path.starts_with("/fhir/StructureDefinition"));
    ok(format!(
        r#"{{"resourceType":"Bundle","type":"searchset","total":{total}}}"#
    ))
}

/// CT_small.dcm of the pydicom corpus.
pub fn ct_small() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data/pydicom/CT_small.dcm");
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-test-data.sh)", path.display()))
}

/// An empty folder of this test process.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dicom-fhir-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
