//! WADO-RS retrieve of one stored instance from the server's DICOMweb facade: the bytes as
//! stored (what `dicom-fhir listen` sends in a C-GET/C-MOVE sub-operation).

use reqwest::{header, Method};

use crate::client::{ClientError, Fhir};

/// `GET dicomweb/studies/{study}/series/{series}/instances/{instance}` with
/// `Accept: application/dicom` (single part, the stored Part-10 file unchanged). 401/403 are
/// `ClientError::Unauthorized`; any other non-success answer is `ClientError::Http`.
pub async fn retrieve_instance(
    fhir: &Fhir,
    study: &str,
    series: &str,
    instance: &str,
) -> Result<Vec<u8>, ClientError> {
    let path = format!("dicomweb/studies/{study}/series/{series}/instances/{instance}");
    let answer = fhir
        .send(
            Method::GET,
            &path,
            &[(header::ACCEPT, "application/dicom".into())],
            None,
        )
        .await
        .map_err(|e| fhir.connection_error(e))?;
    fhir.check_auth(&answer)?;
    if answer.status.as_u16() != 200 {
        return Err(ClientError::Http(format!(
            "WADO-RS {}: {}",
            answer.status.as_u16(),
            answer.reason()
        )));
    }
    Ok(answer.body)
}
