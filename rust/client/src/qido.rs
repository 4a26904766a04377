//! QIDO-RS on the server's DICOMweb facade (`[FHIR base]/dicomweb`), one page at a time: what
//! `dicom-fhir listen` answers a C-FIND with.

use reqwest::{header, Method};
use serde_json::Value;

use crate::client::{enc, ClientError, Fhir};

/// One page of QIDO matches (DICOM JSON objects).
#[derive(Debug, Clone, Default)]
pub struct QidoPage {
    pub matches: Vec<Value>,
    /// The server said more results can be requested (`Warning: 299 … additional results`).
    pub more: bool,
    /// The server ignored some query keys (`Warning: 299 … not supported as query keys`).
    pub keys_ignored: bool,
}

/// `GET {path}?{params}&limit={limit}&offset={offset}` with `Accept: application/dicom+json`.
/// 401/403 are `ClientError::Unauthorized`; any other non-success answer is
/// `ClientError::Http` with the server's reason.
pub async fn qido_page(
    fhir: &Fhir,
    path: &str,
    params: &[(String, String)],
    limit: usize,
    offset: usize,
) -> Result<QidoPage, ClientError> {
    let mut url = format!("{path}?limit={limit}&offset={offset}");
    for (k, v) in params {
        url.push('&');
        url.push_str(&enc(k));
        url.push('=');
        url.push_str(&enc(v));
    }
    let answer = fhir
        .send(
            Method::GET,
            &url,
            &[(header::ACCEPT, "application/dicom+json".into())],
            None,
        )
        .await
        .map_err(|e| fhir.connection_error(e))?;
    fhir.check_auth(&answer)?;
    let warnings: Vec<String> = answer
        .headers
        .get_all(header::WARNING)
        .iter()
        .filter_map(|w| w.to_str().ok().map(str::to_string))
        .collect();
    let more = warnings.iter().any(|w| w.contains("additional results"));
    let keys_ignored = warnings
        .iter()
        .any(|w| w.contains("not supported as query keys"));
    match answer.status.as_u16() {
        // 404: the study or series of the path is not stored; nothing matches
        204 | 404 => Ok(QidoPage {
            matches: Vec::new(),
            more: false,
            keys_ignored,
        }),
        200 => {
            let matches = match answer.json() {
                Some(Value::Array(items)) => items,
                _ => {
                    return Err(ClientError::Http(format!(
                        "QIDO-RS answer is not a JSON array: {}",
                        answer.reason()
                    )))
                }
            };
            Ok(QidoPage {
                matches,
                more,
                keys_ignored,
            })
        }
        _ => Err(ClientError::Http(answer.reason())),
    }
}
