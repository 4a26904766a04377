//! Sending one instance as `POST Binary` (`Content-Type: application/dicom`), retried with
//! backoff; the answer must name the Binary by the SHA-256 of the bytes.

use std::sync::Arc;

use reqwest::{header, Method, StatusCode};

use super::{read_checked, retryable, send_all, Outcome, Sent, Shared, UploadOptions};
use crate::client::{is_sha256_hex, Answer, ClientError, Fhir, DICOM, FHIR_JSON};
use crate::scan::DicomFile;

pub(super) async fn send_binaries(
    fhir: &Fhir,
    todo: Vec<DicomFile>,
    options: &UploadOptions,
    jobs: usize,
    shared: &Arc<Shared>,
) -> Sent {
    send_all(todo, jobs, shared, |file| {
        let (fhir, options, shared) = (fhir.clone(), options.clone(), shared.clone());
        async move {
            let result = send_binary(&fhir, &file, &options, &shared).await;
            vec![(file, result)]
        }
    })
    .await
}

async fn send_binary(
    fhir: &Fhir,
    file: &DicomFile,
    options: &UploadOptions,
    shared: &Shared,
) -> Result<Outcome, ClientError> {
    let bytes = match read_checked(file).await {
        Ok(b) => b,
        Err(reason) => return Ok(Outcome::Failed(reason)),
    };
    let what = file.path.display().to_string();
    let pacing = Pacing {
        stop: &|| shared.stop(),
        note: &|message: &str| shared.progress.note(message),
    };
    Ok(
        match post_binary(fhir, bytes, &file.sha256, &what, options, &pacing).await? {
            StoreOutcome::Created => Outcome::Created,
            StoreOutcome::Unchanged => Outcome::Unchanged,
            StoreOutcome::Refused { reason, .. } => Outcome::Failed(reason),
        },
    )
}

/// What became of one instance sent as `POST Binary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    /// 201: stored now.
    Created,
    /// 200: the server had these bytes already.
    Unchanged,
    /// Not stored: `http` is the server's last answer (`None`: no answer, e.g. unreachable or
    /// timed out), after the retries of a 5xx/408/429 answer; `reason` says why, with the
    /// server's diagnostics.
    Refused { http: Option<u16>, reason: String },
}

/// How a sender waits between retries: whether to give up, and where to tell about a retry.
struct Pacing<'a> {
    stop: &'a (dyn Fn() -> bool + Sync),
    note: &'a (dyn Fn(&str) + Sync),
}

/// Stores one instance (its Part-10 bytes) the way `upload` stores each file: `POST Binary`,
/// retried with backoff after a 5xx/408/429 answer or a timeout, the answer checked to name the
/// Binary by the SHA-256 of the bytes. `note` hears about each retry. `Err` for what stops a
/// run (401/403, a token that cannot be had, a server without the plugin).
pub async fn store_instance(
    fhir: &Fhir,
    bytes: Vec<u8>,
    what: &str,
    options: &UploadOptions,
    note: &(dyn Fn(&str) + Sync),
) -> Result<StoreOutcome, ClientError> {
    let sha256 = dicom_fhir_core::sha256_hex(&bytes);
    let pacing = Pacing {
        stop: &|| false,
        note,
    };
    post_binary(fhir, bytes, &sha256, what, options, &pacing).await
}

async fn post_binary(
    fhir: &Fhir,
    bytes: Vec<u8>,
    sha256: &str,
    what: &str,
    options: &UploadOptions,
    pacing: &Pacing<'_>,
) -> Result<StoreOutcome, ClientError> {
    let headers = [
        (header::CONTENT_TYPE, DICOM.to_string()),
        (header::ACCEPT, FHIR_JSON.to_string()),
        (
            header::HeaderName::from_static("prefer"),
            "return=minimal".to_string(),
        ),
    ];
    let mut attempt = 0u32;
    loop {
        let (http, failure) = match fhir
            .send(Method::POST, "Binary", &headers, Some(bytes.clone()))
            .await
        {
            Ok(answer) => {
                fhir.check_auth(&answer)?;
                if answer.status == StatusCode::OK || answer.status == StatusCode::CREATED {
                    let id = stored_id(&answer).unwrap_or_default();
                    if id != sha256 {
                        let shown = if id.is_empty() {
                            "an unknown id".to_string()
                        } else {
                            format!("Binary/{id}")
                        };
                        let hint = if is_sha256_hex(&id) {
                            ""
                        } else {
                            " (you may want to delete it)"
                        };
                        return Err(ClientError::PluginMissing(format!(
                            "the server stored {what} as {shown}{hint}, not as Binary/{sha256} (the SHA-256 of its bytes)"
                        )));
                    }
                    return Ok(if answer.status == StatusCode::CREATED {
                        StoreOutcome::Created
                    } else {
                        StoreOutcome::Unchanged
                    });
                }
                let http = Some(answer.status.as_u16());
                if !retryable(answer.status) {
                    let mut reason = answer.reason();
                    if answer.status == StatusCode::CONFLICT {
                        reason.push_str(" (an instance with this SOP Instance UID is already stored with other bytes)");
                    }
                    return Ok(StoreOutcome::Refused { http, reason });
                }
                (http, answer.reason())
            }
            Err(e) if e.transient => (None, e.message),
            Err(e) => match e.stops_run() {
                Some(stop) => return Err(stop),
                None => {
                    return Ok(StoreOutcome::Refused {
                        http: None,
                        reason: e.message,
                    })
                }
            },
        };
        if attempt >= options.retries || (pacing.stop)() {
            let tries = attempt + 1;
            return Ok(StoreOutcome::Refused {
                http,
                reason: format!("{failure} (after {tries} attempts)"),
            });
        }
        let delay = options.backoff * 2u32.pow(attempt.min(6));
        (pacing.note)(&format!(
            "retrying {what} in {:.1}s: {failure}",
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// The Binary id from Location (`.../Binary/<id>/_history/n`) or from the body.
fn stored_id(answer: &Answer) -> Option<String> {
    let from_location = [header::LOCATION, header::CONTENT_LOCATION]
        .iter()
        .find_map(|h| {
            let loc = answer.headers.get(h)?.to_str().ok()?;
            let rest = &loc[loc.rfind("Binary/")? + "Binary/".len()..];
            Some(rest.split('/').next().unwrap_or("").to_string())
        });
    from_location.or_else(|| {
        answer
            .json()
            .and_then(|v| v["id"].as_str().map(str::to_string))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_id_from_location_or_body() {
        let sha = "a".repeat(64);
        let mut headers = header::HeaderMap::new();
        headers.insert(
            header::LOCATION,
            format!("http://h/fhir/Binary/{sha}/_history/1")
                .parse()
                .unwrap(),
        );
        let answer = crate::client::Answer {
            status: StatusCode::CREATED,
            headers,
            body: vec![],
        };
        assert_eq!(stored_id(&answer).as_deref(), Some(sha.as_str()));
        let answer = crate::client::Answer {
            status: StatusCode::CREATED,
            headers: header::HeaderMap::new(),
            body: br#"{"resourceType":"Binary","id":"123"}"#.to_vec(),
        };
        assert_eq!(stored_id(&answer).as_deref(), Some("123"));
    }
}
