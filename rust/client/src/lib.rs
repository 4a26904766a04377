//! The dicom-fhir client library: the FHIR client, the upload client (scan, resume, POST Binary
//! or STOW-RS) and the store audit. The `dicom-fhir` CLI (`rust/cli`) and the Python module
//! (`rust/python`) both call it, so there is one implementation. Every DICOM decision comes
//! from `dicom-fhir-core`.

pub mod client;
pub mod qido;
pub mod scan;
pub mod smart;
pub mod upload;
pub mod verify;
pub mod wado;

pub use client::{ClientConfig, ClientError, Fhir};
pub use smart::{SmartConfig, TokenProvider};
pub use upload::{upload, Progress, ProgressEvent, StowOptions, UploadOptions, UploadReport};
pub use verify::{verify, VerifyOptions, VerifyReport};
