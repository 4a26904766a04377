//! STOW-RS (PS3.18 10.5): instances sent in multipart/related batches, and what the response
//! says about each of them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use reqwest::{header, Method, StatusCode};
use serde_json::Value;

use super::{read_checked, retryable, send_all, Outcome, Sent, Shared, StowOptions, UploadOptions};
use crate::client::{Answer, ClientError, Fhir, DICOM};
use crate::scan::DicomFile;

/// A STOW-RS request is closed at this many bytes even before `batch` instances: the body is
/// built in memory, and the server stores one request in one transaction.
pub const STOW_MAX_BATCH_BYTES: u64 = 64 * 1024 * 1024;

/// Splits the files into STOW-RS requests of at most `batch` instances and
/// [`STOW_MAX_BATCH_BYTES`] (a larger file goes alone).
fn stow_batches(todo: Vec<DicomFile>, batch: usize) -> Vec<Vec<DicomFile>> {
    let mut batches: Vec<Vec<DicomFile>> = Vec::new();
    let mut bytes = 0u64;
    for file in todo {
        match batches.last_mut() {
            Some(b) if b.len() < batch.max(1) && bytes + file.size <= STOW_MAX_BATCH_BYTES => {
                bytes += file.size;
                b.push(file);
            }
            _ => {
                bytes = file.size;
                batches.push(vec![file]);
            }
        }
    }
    batches
}

pub(super) async fn send_stow(
    fhir: &Fhir,
    todo: Vec<DicomFile>,
    stow: &StowOptions,
    options: &UploadOptions,
    jobs: usize,
    shared: &Arc<Shared>,
) -> Sent {
    send_all(stow_batches(todo, stow.batch), jobs, shared, |batch| {
        let (fhir, options, shared, url) = (
            fhir.clone(),
            options.clone(),
            shared.clone(),
            stow.url.clone(),
        );
        async move { stow_batch(&fhir, &url, batch, &options, &shared).await }
    })
    .await
}

async fn stow_batch(
    fhir: &Fhir,
    url: &str,
    batch: Vec<DicomFile>,
    options: &UploadOptions,
    shared: &Shared,
) -> Sent {
    let boundary = format!("dicom-fhir-{}", &batch[0].sha256[..32]);
    let mut body = Vec::new();
    let mut ready = Vec::new();
    let mut out = Vec::new();
    for file in batch {
        match read_checked(&file).await {
            Ok(bytes) => {
                body.extend_from_slice(
                    format!("--{boundary}\r\nContent-Type: {DICOM}\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(&bytes);
                body.extend_from_slice(b"\r\n");
                ready.push(file);
            }
            Err(reason) => out.push((file, Ok(Outcome::Failed(reason)))),
        }
    }
    if ready.is_empty() {
        return out;
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let headers = [
        (
            header::CONTENT_TYPE,
            format!("multipart/related; type=\"{DICOM}\"; boundary={boundary}"),
        ),
        (header::ACCEPT, "application/dicom+json".to_string()),
    ];
    let what = format!("a STOW-RS request of {} instances", ready.len());
    let mut attempt = 0u32;
    let failure = loop {
        let failure = match fhir
            .send(Method::POST, url, &headers, Some(body.clone()))
            .await
        {
            Ok(answer) => {
                if let Err(e) = fhir.check_auth(&answer) {
                    out.extend(ready.into_iter().map(|f| (f, Err(e.clone()))));
                    return out;
                }
                let s = answer.status;
                if s == StatusCode::OK || s == StatusCode::ACCEPTED || s == StatusCode::CONFLICT {
                    let response = StowResponse::parse(answer.json().as_ref());
                    for file in ready {
                        let result = response.outcome(&file.sop_instance_uid, s, &answer);
                        out.push((file, Ok(result)));
                    }
                    return out;
                }
                if s == StatusCode::NOT_FOUND || s == StatusCode::METHOD_NOT_ALLOWED {
                    let e = ClientError::Http(format!(
                        "no STOW-RS service at {url}: {}",
                        answer.reason()
                    ));
                    out.extend(ready.into_iter().map(|f| (f, Err(e.clone()))));
                    return out;
                }
                if !retryable(s) {
                    break answer.reason();
                }
                answer.reason()
            }
            Err(e) if e.transient => e.message,
            Err(e) => {
                if let Some(stop) = e.stops_run() {
                    out.extend(ready.into_iter().map(|f| (f, Err(stop.clone()))));
                    return out;
                }
                break e.message;
            }
        };
        if attempt >= options.retries || shared.stop() {
            break format!("{failure} (after {} attempts)", attempt + 1);
        }
        shared.back_off(options, attempt, &what, &failure).await;
        attempt += 1;
    };
    out.extend(
        ready
            .into_iter()
            .map(|f| (f, Ok(Outcome::Failed(failure.clone())))),
    );
    out
}

/// What a STOW-RS response (PS3.18 10.5.3, DICOM JSON) says about the instances of a request.
#[derive(Debug, Default)]
struct StowResponse {
    /// ReferencedSOPSequence (0008,1199): stored.
    stored: HashSet<String>,
    /// FailedSOPSequence (0008,1198): SOP Instance UID → reason.
    failed: HashMap<String, String>,
    /// Reasons of failed items without a SOP Instance UID (a part the server could not parse).
    unattributed: Vec<String>,
}

impl StowResponse {
    fn parse(response: Option<&Value>) -> StowResponse {
        let mut out = StowResponse::default();
        let items = |tag: &str| {
            response
                .and_then(|r| r[tag]["Value"].as_array())
                .cloned()
                .unwrap_or_default()
        };
        let first_str =
            |item: &Value, tag: &str| item[tag]["Value"][0].as_str().map(str::to_string);
        for item in items("00081199") {
            if let Some(uid) = first_str(&item, "00081155") {
                out.stored.insert(uid);
            }
        }
        for item in items("00081198") {
            let reason = failure_reason(
                item["00081197"]["Value"][0].as_u64(),
                first_str(&item, "00000902").as_deref(),
            );
            match first_str(&item, "00081155") {
                Some(uid) => {
                    out.failed.insert(uid, reason);
                }
                None => out.unattributed.push(reason),
            }
        }
        out
    }

    /// The outcome of one sent instance. Listed as failed → its reason; listed as stored, or
    /// not listed in a 200 (all stored) → stored; otherwise failed, with what the response says.
    fn outcome(&self, sop_instance_uid: &str, status: StatusCode, answer: &Answer) -> Outcome {
        if let Some(reason) = self.failed.get(sop_instance_uid) {
            return Outcome::Failed(reason.clone());
        }
        if self.stored.contains(sop_instance_uid) || status == StatusCode::OK {
            return Outcome::Created;
        }
        let code = status.as_u16();
        Outcome::Failed(if self.unattributed.is_empty() {
            format!(
                "HTTP {code}: the STOW-RS response does not list this instance as stored ({})",
                answer.reason()
            )
        } else {
            format!(
                "HTTP {code}: not stored; the server failed parts it could not identify: {}",
                self.unattributed.join("; ")
            )
        })
    }
}

/// FailureReason (0008,1197) as text (PS3.18 Table I.2-1 / PS3.4 Annex GG), with the
/// server's ErrorComment (0000,0902) when it gives one.
fn failure_reason(code: Option<u64>, comment: Option<&str>) -> String {
    // the codes and their meanings are the core's (the server sends the same ones)
    let meaning = match code {
        Some(c) => dicom_fhir_core::FailureReason::from_code(c).map_or("", |r| r.meaning()),
        None => "no reason given",
    };
    let mut text = match code {
        Some(c) if meaning.is_empty() => format!("STOW-RS failure {c:04X}"),
        Some(c) => format!("STOW-RS failure {c:04X} ({meaning})"),
        None => format!("STOW-RS failure ({meaning})"),
    };
    if let Some(comment) = comment.map(str::trim).filter(|c| !c.is_empty()) {
        text.push_str(": ");
        text.push_str(comment);
    }
    text
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn stow_response_gives_each_instance_its_outcome() {
        let response = serde_json::json!({
            "00081198": {"vr": "SQ", "Value": [
                {"00081155": {"vr": "UI", "Value": ["1.2.3"]}, "00081197": {"vr": "US", "Value": [0xB00E]},
                 "00000902": {"vr": "LO", "Value": ["HAPI-0000: already stored"]}},
                {"00081155": {"vr": "UI", "Value": ["1.2.4"]}},
                {"00081197": {"vr": "US", "Value": [0xA900]}}
            ]},
            "00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.5"]}}]}
        });
        let parsed = StowResponse::parse(Some(&response));
        let answer = crate::client::Answer {
            status: StatusCode::ACCEPTED,
            headers: header::HeaderMap::new(),
            body: vec![],
        };
        let failed = |uid| match parsed.outcome(uid, StatusCode::ACCEPTED, &answer) {
            Outcome::Failed(reason) => reason,
            _ => String::new(),
        };
        assert_eq!(
            failed("1.2.3"),
            "STOW-RS failure B00E (SOP Instance UID already stored with other bytes): HAPI-0000: already stored"
        );
        assert!(failed("1.2.4").contains("no reason given"));
        assert!(failed("1.2.6").contains("A900"), "{}", failed("1.2.6"));
        assert!(matches!(
            parsed.outcome("1.2.5", StatusCode::ACCEPTED, &answer),
            Outcome::Created
        ));
        let empty = StowResponse::parse(None);
        assert!(matches!(
            empty.outcome("1.2.5", StatusCode::OK, &answer),
            Outcome::Created
        ));
        assert!(matches!(
            empty.outcome("1.2.5", StatusCode::CONFLICT, &answer),
            Outcome::Failed(_)
        ));
    }

    #[test]
    fn failure_reasons_are_the_cores() {
        assert_eq!(
            failure_reason(Some(0xC409), Some(" other patient ")),
            "STOW-RS failure C409 (conflicting Patient ID): other patient"
        );
        assert_eq!(
            failure_reason(Some(0x0110), None),
            "STOW-RS failure 0110 (processing failure)"
        );
        assert_eq!(failure_reason(Some(0x1234), None), "STOW-RS failure 1234");
        assert_eq!(
            failure_reason(None, None),
            "STOW-RS failure (no reason given)"
        );
    }

    #[test]
    fn stow_batches_close_at_count_or_bytes() {
        let file = |size: u64| DicomFile {
            path: PathBuf::from("x"),
            sha256: "0".repeat(64),
            size,
            study_instance_uid: "1".into(),
            sop_instance_uid: "2".into(),
        };
        let sizes = |b: &Vec<Vec<DicomFile>>| b.iter().map(|v| v.len()).collect::<Vec<_>>();
        assert_eq!(
            sizes(&stow_batches((0..5).map(|_| file(10)).collect(), 2)),
            [2, 2, 1]
        );
        let big = STOW_MAX_BATCH_BYTES / 2 + 1;
        let files = vec![
            file(big),
            file(big),
            file(10),
            file(STOW_MAX_BATCH_BYTES * 2),
            file(10),
        ];
        assert_eq!(sizes(&stow_batches(files, 20)), [1, 2, 1, 1]);
    }
}
