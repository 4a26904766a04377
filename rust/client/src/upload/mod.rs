//! The upload client, shared by the `dicom-fhir upload` command and `dicom_fhir.upload()`.
//!
//! 1. walk the paths and let the core classify every file: files without the Part-10 "DICM"
//!    prefix and DICOMDIRs are skipped, invalid (damaged) DICOM files fail, both with the
//!    parser's reason;
//! 2. ask the server which SHA-256 ids already exist as Binary (ids only, batched) and skip
//!    those without sending their bytes: an interrupted upload resumes where it stopped;
//! 3. send the rest with `jobs` concurrent requests, as `POST Binary` (default) or STOW-RS
//!    batches, retrying 5xx/408/429 answers and timeouts with exponential backoff.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{header, Method, StatusCode};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::{check_auth, is_sha256_hex, Answer, ClientError, Fhir, DICOM, FHIR_JSON};
use crate::scan::{scan_file, walk, DicomFile, Scanned};

/// Upload settings.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Concurrent requests (and parser threads while scanning).
    pub jobs: usize,
    /// Retries of one request after a 5xx/408/429 answer or a timeout.
    pub retries: u32,
    /// First backoff delay; doubled at each retry.
    pub backoff: Duration,
    /// STOW-RS instead of `POST Binary`.
    pub stow: Option<StowOptions>,
    /// Skip instances whose Binary already exists (default true).
    pub resume: bool,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            jobs: 4,
            retries: 4,
            backoff: Duration::from_millis(500),
            stow: None,
            resume: true,
        }
    }
}

/// STOW-RS (PS3.18 10.5) settings.
#[derive(Debug, Clone)]
pub struct StowOptions {
    /// e.g. `http://host:8080/fhir/dicomweb/studies`.
    pub url: String,
    /// Instances per request.
    pub batch: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Scanning,
    Checking,
    Uploading,
    Done,
}

impl Phase {
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Scanning => "scanning",
            Phase::Checking => "checking",
            Phase::Uploading => "uploading",
            Phase::Done => "done",
        }
    }
}

/// A snapshot of the counters, sent to the progress sink after every file.
#[derive(Debug, Clone, Serialize)]
pub struct ProgressEvent {
    pub phase: Phase,
    /// Files found (scanning) or instances to send (uploading).
    pub files_total: u64,
    pub files_done: u64,
    pub bytes_total: u64,
    pub bytes_done: u64,
    pub skipped_existing: u64,
    pub not_dicom: u64,
    pub failed: u64,
}

/// Receives progress; `cancelled()` is polled before each file.
pub trait Progress: Send + Sync {
    fn update(&self, event: &ProgressEvent);
    /// A line for the user (a skipped file, a retry).
    fn note(&self, _message: &str) {}
    fn cancelled(&self) -> bool {
        false
    }
}

/// No progress output.
pub struct Silent;
impl Progress for Silent {
    fn update(&self, _: &ProgressEvent) {}
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileProblem {
    pub path: String,
    pub reason: String,
}

/// The outcome of an upload (also the `--report` JSON).
#[derive(Debug, Clone, Serialize, Default)]
pub struct UploadReport {
    pub server: String,
    pub mode: String,
    /// Files found under the paths.
    pub files: u64,
    /// Of which DICOM (distinct SHA-256).
    pub instances: u64,
    /// Newly stored (201, or stored by STOW-RS).
    pub stored: u64,
    /// Sent, and the server already had the same bytes (200).
    pub unchanged: u64,
    /// Already on the server before the run: not sent.
    pub skipped_existing: u64,
    /// Same bytes as another file of this run: sent once.
    pub duplicates: u64,
    pub bytes_sent: u64,
    pub seconds: f64,
    /// (stored + unchanged) / seconds of the sending phase.
    pub instances_per_second: f64,
    pub not_dicom: Vec<FileProblem>,
    pub failed: Vec<FileProblem>,
}

impl UploadReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }
}

struct Shared {
    event: Mutex<ProgressEvent>,
    abort: AtomicBool,
    progress: Arc<dyn Progress>,
}

impl Shared {
    fn bump(&self, f: impl FnOnce(&mut ProgressEvent)) {
        let snapshot = {
            let mut e = self.event.lock().unwrap();
            f(&mut e);
            e.clone()
        };
        self.progress.update(&snapshot);
    }
    fn stop(&self) -> bool {
        self.abort.load(Ordering::Relaxed) || self.progress.cancelled()
    }
    /// Counts one sent file in the progress; an error that stops the run stops the others too.
    fn record(&self, file: &DicomFile, result: &Result<Outcome, ClientError>) {
        if result.is_err() {
            self.abort.store(true, Ordering::Relaxed);
        }
        let failed = !matches!(result, Ok(Outcome::Created | Outcome::Unchanged));
        self.bump(|e| {
            e.files_done += 1;
            e.bytes_done += file.size;
            if failed {
                e.failed += 1;
            }
        });
    }
    /// Waits before retry number `attempt` (0-based), telling the user why.
    async fn back_off(&self, options: &UploadOptions, attempt: u32, what: &str, failure: &str) {
        let delay = options.backoff * 2u32.pow(attempt.min(6));
        self.progress.note(&format!(
            "retrying {what} in {:.1}s: {failure}",
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
    }
}

enum Outcome {
    Created,
    Unchanged,
    Failed(String),
}

/// Uploads every DICOM file under `paths`. `Err` only for problems that stop the run
/// (unreachable, 401/403, not FHIR, plugin missing, cancelled); per-file failures are in the
/// report.
pub async fn upload(
    fhir: &Fhir,
    paths: &[PathBuf],
    options: &UploadOptions,
    progress: Arc<dyn Progress>,
) -> Result<UploadReport, ClientError> {
    let jobs = options.jobs.max(1);
    fhir.preflight().await?;
    let mut report = UploadReport {
        server: fhir.base().to_string(),
        mode: if options.stow.is_some() {
            "stow-rs"
        } else {
            "binary"
        }
        .to_string(),
        ..Default::default()
    };
    let shared = Arc::new(Shared {
        event: Mutex::new(ProgressEvent {
            phase: Phase::Scanning,
            files_total: 0,
            files_done: 0,
            bytes_total: 0,
            bytes_done: 0,
            skipped_existing: 0,
            not_dicom: 0,
            failed: 0,
        }),
        abort: AtomicBool::new(false),
        progress: progress.clone(),
    });

    // 1. scan
    let (files, walk_problems) = walk(paths);
    for (path, reason) in walk_problems {
        progress.note(&format!("failed {}: {reason}", path.display()));
        report.failed.push(FileProblem {
            path: path.display().to_string(),
            reason,
        });
    }
    report.files = files.len() as u64;
    let unwalkable = report.failed.len() as u64;
    shared.bump(|e| {
        e.files_total = files.len() as u64;
        e.failed = unwalkable;
    });
    let scanned = scan_all(files, jobs, &shared).await?;
    let mut by_sha: HashMap<String, DicomFile> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for s in scanned {
        match s {
            Scanned::Dicom(d) => {
                if by_sha.contains_key(&d.sha256) {
                    report.duplicates += 1;
                } else {
                    order.push(d.sha256.clone());
                    by_sha.insert(d.sha256.clone(), d);
                }
            }
            Scanned::Skipped(path, reason) => {
                progress.note(&format!("skipped {}: {reason}", path.display()));
                report.not_dicom.push(FileProblem {
                    path: path.display().to_string(),
                    reason,
                });
            }
            Scanned::Failed(path, reason) => {
                progress.note(&format!("failed {}: {reason}", path.display()));
                report.failed.push(FileProblem {
                    path: path.display().to_string(),
                    reason,
                });
            }
        }
    }
    report.instances = order.len() as u64;

    // 2. which are already stored
    shared.bump(|e| e.phase = Phase::Checking);
    let existing: HashSet<String> = if options.resume {
        fhir.existing_binaries(&order).await?
    } else {
        HashSet::new()
    };
    let todo: Vec<DicomFile> = order
        .iter()
        .filter(|sha| !existing.contains(*sha))
        .map(|sha| by_sha.remove(sha).unwrap())
        .collect();
    report.skipped_existing = report.instances - todo.len() as u64;
    let skipped = report.skipped_existing;
    let bytes_total: u64 = todo.iter().map(|f| f.size).sum();
    shared.bump(|e| {
        e.phase = Phase::Uploading;
        e.files_total = todo.len() as u64;
        e.files_done = 0;
        e.bytes_total = bytes_total;
        e.bytes_done = 0;
        e.skipped_existing = skipped;
    });

    // 3. send
    let started = Instant::now();
    // Files sharing a SOP Instance UID (other bytes) never go in parallel: the first in path
    // order is sent first, so the server answers the others with a deterministic 409 instead of
    // racing its uniqueness check. Wave n holds the n-th file of each SOP Instance UID.
    let mut waves: Vec<Vec<DicomFile>> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for file in todo {
        let n = seen.entry(file.sop_instance_uid.clone()).or_insert(0);
        if waves.len() <= *n {
            waves.push(Vec::new());
        }
        waves[*n].push(file);
        *n += 1;
    }
    let mut results: Sent = Vec::new();
    for wave in waves {
        if shared.stop() {
            break;
        }
        results.extend(match &options.stow {
            None => send_binaries(fhir, wave, options, jobs, &shared).await,
            Some(stow) => send_stow(fhir, wave, stow, options, jobs, &shared).await,
        });
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut fatal = None;
    for (file, result) in results {
        match result {
            Ok(Outcome::Created) => {
                report.stored += 1;
                report.bytes_sent += file.size;
            }
            Ok(Outcome::Unchanged) => {
                report.unchanged += 1;
                report.bytes_sent += file.size;
            }
            Ok(Outcome::Failed(reason)) => report.failed.push(FileProblem {
                path: file.path.display().to_string(),
                reason,
            }),
            Err(e) => {
                report.failed.push(FileProblem {
                    path: file.path.display().to_string(),
                    reason: e.to_string(),
                });
                if fatal.is_none() {
                    fatal = Some(e);
                }
            }
        }
    }
    if let Some(e) = fatal {
        return Err(e);
    }
    if progress.cancelled() {
        return Err(ClientError::Cancelled);
    }
    report.seconds = elapsed;
    let sent = (report.stored + report.unchanged) as f64;
    report.instances_per_second = if elapsed > 0.0 { sent / elapsed } else { 0.0 };
    report.failed.sort_by(|a, b| a.path.cmp(&b.path));
    shared.bump(|e| e.phase = Phase::Done);
    Ok(report)
}

async fn scan_all(
    files: Vec<PathBuf>,
    jobs: usize,
    shared: &Arc<Shared>,
) -> Result<Vec<Scanned>, ClientError> {
    let limit = Arc::new(Semaphore::new(jobs.max(2)));
    let mut set = JoinSet::new();
    for (index, path) in files.into_iter().enumerate() {
        let permit = limit.clone().acquire_owned().await.unwrap();
        if shared.stop() {
            return Err(ClientError::Cancelled);
        }
        let shared = shared.clone();
        set.spawn_blocking(move || {
            let s = scan_file(&path);
            drop(permit);
            shared.bump(|e| {
                e.files_done += 1;
                match s {
                    Scanned::Skipped(..) => e.not_dicom += 1,
                    Scanned::Failed(..) => e.failed += 1,
                    Scanned::Dicom(_) => {}
                }
            });
            (index, s)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.map_err(|e| ClientError::Http(format!("scanner thread: {e}")))?);
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

type Sent = Vec<(DicomFile, Result<Outcome, ClientError>)>;

/// Runs `send` on each unit (one file, or one STOW-RS request's files), at most `jobs` at a
/// time, and records every file's result; stops starting new ones once the run is aborted.
async fn send_all<U, F, Fut>(units: Vec<U>, jobs: usize, shared: &Arc<Shared>, send: F) -> Sent
where
    F: Fn(U) -> Fut,
    Fut: std::future::Future<Output = Sent> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(jobs));
    let mut set = JoinSet::new();
    let mut results = Vec::new();
    for unit in units {
        let permit = limit.clone().acquire_owned().await.unwrap();
        if shared.stop() {
            break;
        }
        let (task, shared) = (send(unit), shared.clone());
        set.spawn(async move {
            let out = task.await;
            drop(permit);
            for (file, result) in &out {
                shared.record(file, result);
            }
            out
        });
        while let Some(done) = set.try_join_next() {
            results.extend(done.expect("upload task panicked"));
        }
    }
    while let Some(done) = set.join_next().await {
        results.extend(done.expect("upload task panicked"));
    }
    results
}

async fn send_binaries(
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

async fn read_checked(file: &DicomFile) -> Result<Vec<u8>, String> {
    let bytes = tokio::fs::read(&file.path)
        .await
        .map_err(|e| format!("cannot read: {e}"))?;
    if dicom_fhir_core::sha256_hex(&bytes) != file.sha256 {
        return Err("the file changed during the upload; run the upload again".into());
    }
    Ok(bytes)
}

fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
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
                check_auth(&answer, fhir.base())?;
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
            Err(e) => return Ok(Outcome::Failed(e.message)),
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

// ---- STOW-RS (PS3.18 10.5) ----

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

async fn send_stow(
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
                if let Err(e) = check_auth(&answer, fhir.base()) {
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
            Err(e) => break e.message,
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
    let meaning = match code {
        Some(0xA700) => "out of resources",
        Some(0xA900) => "data set does not match SOP class or is not valid DICOM",
        Some(0xA901) => "Study Instance UID does not match the request URL",
        Some(0xB00E) => "SOP Instance UID already stored with other bytes",
        Some(0xC000) => "cannot understand",
        Some(0xC122) => "referenced transfer syntax not supported",
        Some(0x0110) => "processing failure",
        Some(0x0122) => "SOP class not supported",
        Some(0x0124) => "not authorized",
        Some(_) => "",
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

/// Convenience for callers without their own runtime (Python): a multi-threaded runtime.
pub fn runtime(jobs: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(jobs.clamp(2, 8))
        .enable_all()
        .build()
}

/// Shortest readable form of a path for messages.
pub fn show(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn query_encoding_and_sha_check() {
        use crate::client::{enc, is_sha256_hex};
        assert_eq!(enc("http://x|dicom"), "http%3A%2F%2Fx%7Cdicom");
        assert_eq!(enc("a,b"), "a%2Cb");
        assert!(is_sha256_hex(&"0f".repeat(32)));
        assert!(!is_sha256_hex("123"));
        assert!(!is_sha256_hex(&"0F".repeat(32)));
    }
}
