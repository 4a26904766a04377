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
        let failure = match fhir
            .send(Method::POST, "Binary", &headers, Some(bytes.clone()))
            .await
        {
            Ok(answer) => {
                fhir.check_auth(&answer)?;
                if answer.status == StatusCode::OK || answer.status == StatusCode::CREATED {
                    let id = stored_id(&answer).unwrap_or_default();
                    if id != file.sha256 {
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
                            "the server stored {} as {shown}{hint}, not as Binary/{} (the SHA-256 of its bytes)",
                            file.path.display(),
                            file.sha256
                        )));
                    }
                    return Ok(if answer.status == StatusCode::CREATED {
                        Outcome::Created
                    } else {
                        Outcome::Unchanged
                    });
                }
                if !retryable(answer.status) {
                    let mut reason = answer.reason();
                    if answer.status == StatusCode::CONFLICT {
                        reason.push_str(" (an instance with this SOP Instance UID is already stored with other bytes)");
                    }
                    return Ok(Outcome::Failed(reason));
                }
                answer.reason()
            }
            Err(e) if e.transient => e.message,
            Err(e) => match e.stops_run() {
                Some(stop) => return Err(stop),
                None => return Ok(Outcome::Failed(e.message)),
            },
        };
        if attempt >= options.retries || shared.stop() {
            let tries = attempt + 1;
            return Ok(Outcome::Failed(format!(
                "{failure} (after {tries} attempts)"
            )));
        }
        shared
            .back_off(options, attempt, &file.path.display().to_string(), &failure)
            .await;
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
