//! `dicom-fhir verify`: audits the store.
//!
//! * every DICOM Binary's bytes hash to its id (`hash-mismatch`) and parse (`not-dicom`);
//! * every ImagingStudy instance references an existing Binary (`missing-binary`) whose bytes
//!   are that instance (`wrong-binary`);
//! * every DICOM Binary is listed in the ImagingStudy of its Study Instance UID (`unlisted`).
//!
//! `--repair` re-uploads unlisted Binaries (the same bytes again is a no-op that re-indexes the
//! instance into its ImagingStudy) and removes instance entries pointing at missing Binaries
//! (the core's `remove_instances`, then a versioned PUT of the ImagingStudy).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use reqwest::{header, Method, StatusCode};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::{enc, ClientError, Fhir, DICOM, DICOM_TAG_CODE, DICOM_TAG_SYSTEM, FHIR_JSON};
use crate::upload::Progress;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// `hash-mismatch`, `not-dicom`, `missing-binary`, `wrong-binary`, `unlisted`, `unreadable`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub study: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sop_instance_uid: Option<String>,
    pub detail: String,
    /// What `--repair` did about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct VerifyReport {
    pub server: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub study: Option<String>,
    pub studies_checked: u64,
    pub instances_checked: u64,
    pub binaries_checked: u64,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One instance entry of an ImagingStudy.
#[derive(Debug, Clone)]
struct Entry {
    study: String,
    sop: String,
    binary: Option<String>,
}

struct Downloaded {
    id: String,
    bytes: Option<Vec<u8>>,
    /// (study, sop) from the core, or why the bytes do not parse / could not be read.
    parsed: Result<(String, String), String>,
    hash_ok: bool,
}

pub struct VerifyOptions {
    pub study: Option<String>,
    pub repair: bool,
    pub jobs: usize,
}

pub async fn verify(
    fhir: &Fhir,
    options: &VerifyOptions,
    progress: Arc<dyn Progress>,
) -> Result<VerifyReport, ClientError> {
    fhir.preflight().await?;
    let mut report = VerifyReport {
        server: fhir.base().to_string(),
        study: options.study.clone(),
        ..Default::default()
    };

    // Studies and their instance entries.
    let studies: Vec<Value> = match &options.study {
        Some(uid) => {
            let (status, json, answer) =
                fhir.get_json(&format!("ImagingStudy/{}", enc(uid))).await?;
            match status {
                s if s.is_success() => json.into_iter().collect(),
                StatusCode::NOT_FOUND | StatusCode::GONE => vec![],
                _ => {
                    return Err(ClientError::Http(format!(
                        "GET ImagingStudy/{uid}: {}",
                        answer.reason()
                    )))
                }
            }
        }
        None => fhir.search_all("ImagingStudy?_count=200").await?,
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut listed: HashMap<(String, String), Option<String>> = HashMap::new();
    for study in &studies {
        let id = study["id"].as_str().unwrap_or_default().to_string();
        for series in study["series"].as_array().into_iter().flatten() {
            for instance in series["instance"].as_array().into_iter().flatten() {
                let sop = instance["uid"].as_str().unwrap_or_default().to_string();
                let binary = dicom_fhir_core::instance_binary_references(instance)
                    .next()
                    .and_then(|r| r.strip_prefix("Binary/"))
                    .map(|r| r.split('/').next().unwrap_or(r).to_string());
                listed.insert((id.clone(), sop.clone()), binary.clone());
                entries.push(Entry {
                    study: id.clone(),
                    sop,
                    binary,
                });
            }
        }
    }
    report.studies_checked = studies.len() as u64;
    report.instances_checked = entries.len() as u64;

    // Every DICOM Binary id, and every Binary referenced by an entry (by id, whatever its tag).
    let tagged: Vec<String> = fhir
        .search_all(&format!(
            "Binary?_tag={}&_elements=id&_count=1000",
            enc(&format!("{DICOM_TAG_SYSTEM}|{DICOM_TAG_CODE}"))
        ))
        .await?
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    let tagged_set: HashSet<String> = tagged.iter().cloned().collect();
    let referenced: Vec<String> = {
        let mut v: Vec<String> = entries.iter().filter_map(|e| e.binary.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let untagged_refs: Vec<String> = referenced
        .iter()
        .filter(|r| !tagged_set.contains(*r))
        .cloned()
        .collect();
    let mut exists: HashSet<String> = tagged_set.clone();
    exists.extend(fhir.existing_binaries(&untagged_refs).await?);

    // Download: everything (whole store), or the study's Binaries plus the ones no study lists.
    let all_referenced: HashSet<String> = if options.study.is_some() {
        fhir.search_all("ImagingStudy?_count=200&_elements=series")
            .await?
            .iter()
            .flat_map(binaries_of)
            .collect()
    } else {
        referenced.iter().cloned().collect()
    };
    let mut to_download: Vec<String> = referenced
        .iter()
        .filter(|r| exists.contains(*r))
        .cloned()
        .collect();
    for id in &tagged {
        if !all_referenced.contains(id) && !to_download.contains(id) {
            to_download.push(id.clone());
        }
    }
    let downloads = download_all(fhir, to_download, options.jobs, progress.clone()).await?;
    report.binaries_checked = downloads.len() as u64;
    let by_id: HashMap<String, &Downloaded> = downloads.iter().map(|d| (d.id.clone(), d)).collect();

    // Binaries: hash, parse, listed in their study.
    let mut unlisted: Vec<&Downloaded> = Vec::new();
    for d in &downloads {
        if !d.hash_ok {
            let detail = match &d.bytes {
                Some(b) => format!(
                    "the bytes hash to {}, not to the id",
                    dicom_fhir_core::sha256_hex(b)
                ),
                None => d.parsed.clone().err().unwrap_or_default(),
            };
            let kind = if d.bytes.is_some() {
                "hash-mismatch"
            } else {
                "unreadable"
            };
            let (study, sop) = d.parsed.clone().ok().unzip();
            report.problems.push(problem(
                kind,
                Some(&d.id),
                study.as_deref(),
                sop.as_deref(),
                detail,
            ));
            continue;
        }
        let (study, sop) = match &d.parsed {
            Ok(p) => p.clone(),
            Err(reason) => {
                report.problems.push(problem(
                    "not-dicom",
                    Some(&d.id),
                    None,
                    None,
                    reason.clone(),
                ));
                continue;
            }
        };
        if options.study.as_ref().is_some_and(|s| *s != study) {
            continue;
        }
        let listed_as = listed.get(&(study.clone(), sop.clone()));
        let detail = match listed_as {
            Some(Some(b)) if *b == d.id => continue,
            Some(Some(b)) => {
                format!("ImagingStudy/{study} lists instance {sop} with Binary/{b} instead")
            }
            Some(None) => {
                format!("ImagingStudy/{study} lists instance {sop} without a Binary reference")
            }
            None if studies.iter().any(|s| s["id"] == study.as_str()) => {
                format!("ImagingStudy/{study} has no instance {sop}")
            }
            None => format!("there is no ImagingStudy/{study} for instance {sop}"),
        };
        report.problems.push(problem(
            "unlisted",
            Some(&d.id),
            Some(&study),
            Some(&sop),
            detail,
        ));
        unlisted.push(d);
    }

    // Entries: the Binary exists and is this instance.
    let mut dangling: HashMap<String, Vec<String>> = HashMap::new();
    for e in &entries {
        match &e.binary {
            None => {}
            Some(b) if !exists.contains(b) => {
                report.problems.push(problem(
                    "missing-binary",
                    Some(b),
                    Some(&e.study),
                    Some(&e.sop),
                    format!(
                        "ImagingStudy/{} instance {} references Binary/{b}, which does not exist",
                        e.study, e.sop
                    ),
                ));
                dangling
                    .entry(e.study.clone())
                    .or_default()
                    .push(e.sop.clone());
            }
            Some(b) => {
                if let Some(Downloaded {
                    parsed: Ok((study, sop)),
                    hash_ok: true,
                    ..
                }) = by_id.get(b).copied()
                {
                    if *study != e.study || *sop != e.sop {
                        report.problems.push(problem(
                            "wrong-binary",
                            Some(b),
                            Some(&e.study),
                            Some(&e.sop),
                            format!("Binary/{b} holds study {study} instance {sop}"),
                        ));
                    }
                }
            }
        }
    }

    if options.repair {
        repair(fhir, &mut report, &unlisted, &dangling).await?;
    }
    Ok(report)
}

fn problem(
    kind: &str,
    binary: Option<&str>,
    study: Option<&str>,
    sop: Option<&str>,
    detail: String,
) -> Problem {
    Problem {
        kind: kind.to_string(),
        binary: binary.map(str::to_string),
        study: study.map(str::to_string),
        sop_instance_uid: sop.map(str::to_string),
        detail,
        repair: None,
    }
}

fn binaries_of(study: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for series in study["series"].as_array().into_iter().flatten() {
        for instance in series["instance"].as_array().into_iter().flatten() {
            for r in dicom_fhir_core::instance_binary_references(instance) {
                if let Some(r) = r.strip_prefix("Binary/") {
                    out.push(r.to_string());
                }
            }
        }
    }
    out
}

async fn download_all(
    fhir: &Fhir,
    ids: Vec<String>,
    jobs: usize,
    progress: Arc<dyn Progress>,
) -> Result<Vec<Downloaded>, ClientError> {
    let total = ids.len() as u64;
    let limit = Arc::new(Semaphore::new(jobs.max(1)));
    let mut set = JoinSet::new();
    for id in ids {
        let permit = limit.clone().acquire_owned().await.unwrap();
        if progress.cancelled() {
            return Err(ClientError::Cancelled);
        }
        let fhir = fhir.clone();
        set.spawn(async move {
            let r = download(&fhir, id).await;
            drop(permit);
            r
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.map_err(|e| ClientError::Http(format!("download task: {e}")))??);
        progress.update(&crate::upload::ProgressEvent {
            phase: crate::upload::Phase::Checking,
            files_total: total,
            files_done: out.len() as u64,
            bytes_total: 0,
            bytes_done: 0,
            skipped_existing: 0,
            not_dicom: 0,
            failed: 0,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

async fn download(fhir: &Fhir, id: String) -> Result<Downloaded, ClientError> {
    let mut attempt = 0;
    let answer = loop {
        match fhir
            .send(
                Method::GET,
                &format!("Binary/{id}"),
                &[(header::ACCEPT, DICOM.to_string())],
                None,
            )
            .await
        {
            Ok(a) if a.status.is_server_error() && attempt < 3 => {}
            Ok(a) => break a,
            Err(e) if e.transient && attempt < 3 => {}
            Err(e) => {
                if let Some(stop) = e.fatal {
                    return Err(stop);
                }
                return Err(ClientError::Unreachable(format!(
                    "GET Binary/{id}: {}",
                    e.message
                )));
            }
        }
        attempt += 1;
        tokio::time::sleep(std::time::Duration::from_millis(500 << attempt)).await;
    };
    fhir.check_auth(&answer)?;
    if !answer.status.is_success() {
        return Ok(Downloaded {
            parsed: Err(format!("GET Binary/{id}: {}", answer.reason())),
            id,
            bytes: None,
            hash_ok: false,
        });
    }
    let bytes = answer.body;
    let hash_ok = dicom_fhir_core::sha256_hex(&bytes) == id;
    let parsed = tokio::task::spawn_blocking({
        let bytes = bytes.clone();
        move || {
            dicom_fhir_core::parse(&bytes)
                .map(|p| {
                    (
                        p.study_instance_uid().to_string(),
                        p.sop_instance_uid().to_string(),
                    )
                })
                .map_err(|e| format!("the bytes are not valid DICOM: {e}"))
        }
    })
    .await
    .map_err(|e| ClientError::Http(format!("parser thread: {e}")))?;
    Ok(Downloaded {
        id,
        bytes: Some(bytes),
        parsed,
        hash_ok,
    })
}

async fn repair(
    fhir: &Fhir,
    report: &mut VerifyReport,
    unlisted: &[&Downloaded],
    dangling: &HashMap<String, Vec<String>>,
) -> Result<(), ClientError> {
    let mut outcome: HashMap<(String, String), String> = HashMap::new();
    for d in unlisted {
        let bytes = d.bytes.clone().unwrap_or_default();
        let headers = [
            (header::CONTENT_TYPE, DICOM.to_string()),
            (header::ACCEPT, FHIR_JSON.to_string()),
            (
                header::HeaderName::from_static("prefer"),
                "return=minimal".to_string(),
            ),
        ];
        let result = match fhir
            .send(Method::POST, "Binary", &headers, Some(bytes))
            .await
        {
            Ok(a) => {
                fhir.check_auth(&a)?;
                if a.status.is_success() {
                    "re-uploaded: the server re-indexed the instance".to_string()
                } else {
                    format!("re-upload failed: {}", a.reason())
                }
            }
            Err(e) => match e.stops_run() {
                Some(stop) => return Err(stop),
                None => format!("re-upload failed: {}", e.message),
            },
        };
        outcome.insert(("unlisted".into(), d.id.clone()), result);
    }
    for (study, sops) in dangling {
        let result = remove_entries(fhir, study, sops).await?;
        for sop in sops {
            outcome.insert(
                ("missing-binary".into(), format!("{study}/{sop}")),
                result.clone(),
            );
        }
    }
    for p in &mut report.problems {
        let key = match p.kind.as_str() {
            "unlisted" => (p.kind.clone(), p.binary.clone().unwrap_or_default()),
            "missing-binary" => (
                p.kind.clone(),
                format!(
                    "{}/{}",
                    p.study.clone().unwrap_or_default(),
                    p.sop_instance_uid.clone().unwrap_or_default()
                ),
            ),
            _ => {
                p.repair = Some("not repairable here: the original bytes are not on the server; upload the file again".into());
                continue;
            }
        };
        p.repair = outcome.get(&key).cloned();
    }
    Ok(())
}

/// Removes instance entries with the core's `remove_instances` and a versioned PUT (retried on
/// a concurrent change); deletes the ImagingStudy when nothing is left.
async fn remove_entries(fhir: &Fhir, study: &str, sops: &[String]) -> Result<String, ClientError> {
    for _ in 0..5 {
        let path = format!("ImagingStudy/{}", enc(study));
        let (status, json, answer) = fhir.get_json(&path).await?;
        let Some(current) = json.filter(|_| status.is_success()) else {
            return Ok(format!(
                "could not read ImagingStudy/{study}: {}",
                answer.reason()
            ));
        };
        let version = current["meta"]["versionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let refs: Vec<&str> = sops.iter().map(String::as_str).collect();
        let updated = dicom_fhir_core::remove_instances(&current, &refs).map_err(|e| {
            ClientError::Http(format!("remove_instances on ImagingStudy/{study}: {e}"))
        })?;
        let if_match = (header::IF_MATCH, format!("W/\"{version}\""));
        let answer = match updated {
            Some(mut body) => {
                if let Some(meta) = body.get_mut("meta").and_then(Value::as_object_mut) {
                    meta.remove("lastUpdated");
                }
                let headers = [
                    (header::CONTENT_TYPE, FHIR_JSON.to_string()),
                    (header::ACCEPT, FHIR_JSON.to_string()),
                    (
                        header::HeaderName::from_static("prefer"),
                        "return=minimal".to_string(),
                    ),
                    if_match,
                ];
                fhir.send(
                    Method::PUT,
                    &path,
                    &headers,
                    Some(serde_json::to_vec(&body).unwrap()),
                )
                .await
            }
            None => fhir.send(Method::DELETE, &path, &[if_match], None).await,
        };
        match answer {
            Ok(a) if a.status.is_success() => {
                return Ok("removed the entry from the ImagingStudy".to_string());
            }
            Ok(a)
                if a.status == StatusCode::CONFLICT
                    || a.status == StatusCode::PRECONDITION_FAILED =>
            {
                continue
            }
            Ok(a) => {
                fhir.check_auth(&a)?;
                return Ok(format!(
                    "could not update ImagingStudy/{study}: {}",
                    a.reason()
                ));
            }
            Err(e) => {
                if let Some(stop) = e.stops_run() {
                    return Err(stop);
                }
                return Ok(format!(
                    "could not update ImagingStudy/{study}: {}",
                    e.message
                ));
            }
        }
    }
    Ok(format!(
        "ImagingStudy/{study} kept changing; run verify --repair again"
    ))
}
