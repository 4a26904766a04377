//! The upload client, shared by the `dicom-fhir upload` command and `dicom_fhir.upload()`.
//!
//! 1. walk the paths and let the core classify every file: files without the Part-10 "DICM"
//!    prefix and DICOMDIRs are skipped, invalid (damaged) DICOM files fail, both with the
//!    parser's reason;
//! 2. ask the server which SHA-256 ids already exist as Binary (ids only, batched) and skip
//!    those without sending their bytes: an interrupted upload resumes where it stopped;
//! 3. send the rest with `jobs` concurrent requests, as `POST Binary` (default) or STOW-RS
//!    batches, retrying 5xx/408/429 answers and timeouts with exponential backoff.
//!
//! Here: the options, the report and the run (scan, resume check, waves of sends); the sending
//! itself is in `binary` (`POST Binary`) and `stow` (STOW-RS), progress types in `progress`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::{ClientError, Fhir};
use crate::scan::{scan_file, walk, DicomFile, Scanned};

mod binary;
mod progress;
mod stow;

pub use binary::{store_instance, StoreOutcome};
pub use progress::{Phase, Progress, ProgressEvent, Silent};
pub use stow::STOW_MAX_BATCH_BYTES;

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
            None => binary::send_binaries(fhir, wave, options, jobs, &shared).await,
            Some(stow) => stow::send_stow(fhir, wave, stow, options, jobs, &shared).await,
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
