//! QIDO-RS (PS3.18 §10.6): query validation, the database narrowing plan, DICOM matching
//! (PS3.4 C.2.2.2) and the response (PS3.18 Tables 10.6.3-3/4/5).
//!
//! The caller (the HAPI facade) does two calls:
//! 1. [`plan`]: validates the query (a bad query is a [`DicomError`], i.e. a 400) and returns
//!    what a FHIR ImagingStudy search can use to narrow the candidates (always a superset);
//! 2. [`query`]: given the candidate ImagingStudy (+ Patient) resources, applies the exact DICOM
//!    matching, paging and attribute selection and returns the DICOM JSON result array.
//!
//! Request JSON (both calls):
//! ```json
//! {"level": "study" | "series" | "instance",
//!  "studyInstanceUid": "1.2..."  // from the path (/studies/{s}/...), optional
//!  "seriesInstanceUid": "1.2..." // from the path, optional
//!  "params": [["PatientName", "DOE*"], ["includefield", "00081030"], ...],  // query, in order
//!  "retrieveBase": "http://host/fhir/dicomweb",  // RetrieveURL prefix
//!  "maxResults": 1000}                             // the server's cap per response
//! ```
//! Candidates (for [`query`]): `[{"imagingStudy": {...}, "patient": {...} | null}, ...]`, in the
//! order results are to be returned (studies); series and instances keep the ImagingStudy order.
//!
//! Where attribute values come from: [`records_from_fhir`] turns an ImagingStudy (as written by
//! this project's merge) and its Patient into DICOM attributes. This is the seam where a later
//! version can prefer DICOM values kept verbatim at ingest; everything else here works on the
//! DICOM attributes only.
//!
//! The module is split by concern: [`query`] parses and validates the request, [`plan`] makes the
//! FHIR narrowing plan, [`records`] turns the candidates into DICOM attributes, [`matching`]
//! matches them and [`response`] builds the answer. The attribute table is `crate::attributes`,
//! the ImagingStudy extension that keeps values at ingest `crate::study_ext`.



mod index;
mod matching;
mod plan;
mod query;
mod records;
mod response;
#[cfg(test)]
mod tests;

pub use index::{indexed_tags, instance_index, DEFAULT_INDEXED, MAX_VALUE_CHARS};
pub(crate) use plan::{plan, stored_values};
pub use records::{records, SeriesRecord, StudyRecord};
pub(crate) use response::query;
