//! dicom-fhir integrator tools as a library: the FHIR client, the upload client and the store
//! audit behind the `dicom-fhir` CLI, shared with the Python module (`rust/python`) so there is
//! one implementation. Every DICOM decision comes from `dicom-fhir-core`.

pub mod client;
pub mod scan;
pub mod upload;
pub mod verify;

pub use client::{ClientConfig, ClientError, Fhir};
pub use upload::{upload, Progress, ProgressEvent, StowOptions, UploadOptions, UploadReport};
pub use verify::{verify, VerifyOptions, VerifyReport};
