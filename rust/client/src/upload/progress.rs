//! Progress of an upload (also used by the store audit): phases, counters, the sink trait.

use serde::Serialize;

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
