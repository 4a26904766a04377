//! The DICOM attributes this server answers in QIDO-RS (PS3.18 Tables 10.6.3-3/4/5) and keeps
//! in the ImagingStudy at ingest: tag, keyword, VR, level, whether returned by default, and which
//! are computed rather than taken from the stored instances.

/// Query/retrieve level of a QIDO resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Study,
    Series,
    Instance,
}

/// One attribute this module knows how to produce (and therefore match).
#[derive(Debug)]
pub(crate) struct Attr {
    pub(crate) tag: u32,
    pub(crate) keyword: &'static str,
    pub(crate) vr: &'static str,
    pub(crate) level: Level,
    /// Returned by default at its level (PS3.18 Tables 10.6.3-3/4/5).
    pub(crate) default: bool,
}

const fn a(tag: u32, keyword: &'static str, vr: &'static str, level: Level, default: bool) -> Attr {
    Attr {
        tag,
        keyword,
        vr,
        level,
        default,
    }
}

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use dicom_core::dictionary::DataDictionary;
use dicom_core::Tag;
use dicom_dictionary_std::StandardDataDictionary;
use Level::{Instance as I, Series as SE, Study as ST};

pub(crate) const ATTRS: &[Attr] = &[
    // Study (Table 10.6.3-3)
    a(0x0008_0020, "StudyDate", "DA", ST, true),
    a(0x0008_0030, "StudyTime", "TM", ST, true),
    a(0x0008_0050, "AccessionNumber", "SH", ST, true),
    a(0x0008_0056, "InstanceAvailability", "CS", ST, true),
    a(0x0008_0061, "ModalitiesInStudy", "CS", ST, true),
    a(0x0008_0090, "ReferringPhysicianName", "PN", ST, true),
    a(0x0008_1030, "StudyDescription", "LO", ST, false),
    a(0x0008_1190, "RetrieveURL", "UR", ST, true),
    a(0x0010_0010, "PatientName", "PN", ST, true),
    a(0x0010_0020, "PatientID", "LO", ST, true),
    a(0x0010_0030, "PatientBirthDate", "DA", ST, true),
    a(0x0010_0040, "PatientSex", "CS", ST, true),
    a(0x0020_000D, "StudyInstanceUID", "UI", ST, true),
    a(0x0020_0010, "StudyID", "SH", ST, true),
    a(0x0020_1206, "NumberOfStudyRelatedSeries", "IS", ST, true),
    a(0x0020_1208, "NumberOfStudyRelatedInstances", "IS", ST, true),
    // Series (Table 10.6.3-4)
    a(0x0008_0021, "SeriesDate", "DA", SE, false),
    a(0x0008_0031, "SeriesTime", "TM", SE, false),
    a(0x0008_0060, "Modality", "CS", SE, true),
    a(0x0008_103E, "SeriesDescription", "LO", SE, true),
    a(0x0020_000E, "SeriesInstanceUID", "UI", SE, true),
    a(0x0020_0011, "SeriesNumber", "IS", SE, true),
    a(
        0x0020_1209,
        "NumberOfSeriesRelatedInstances",
        "IS",
        SE,
        true,
    ),
    a(
        0x0040_0244,
        "PerformedProcedureStepStartDate",
        "DA",
        SE,
        true,
    ),
    a(
        0x0040_0245,
        "PerformedProcedureStepStartTime",
        "TM",
        SE,
        true,
    ),
    a(0x0040_0275, "RequestAttributesSequence", "SQ", SE, true),
    // Instance (Table 10.6.3-5)
    a(0x0008_0016, "SOPClassUID", "UI", I, true),
    a(0x0008_0018, "SOPInstanceUID", "UI", I, true),
    a(0x0008_3002, "AvailableTransferSyntaxUID", "UI", I, false),
    a(0x0020_0013, "InstanceNumber", "IS", I, true),
    a(0x0028_0008, "NumberOfFrames", "IS", I, true),
    a(0x0028_0010, "Rows", "US", I, true),
    a(0x0028_0011, "Columns", "US", I, true),
    a(0x0028_0100, "BitsAllocated", "US", I, true),
];

pub(crate) const RETRIEVE_URL: u32 = 0x0008_1190;

pub(crate) const INSTANCE_AVAILABILITY: u32 = 0x0008_0056;

/// Attributes that are returned but never matched (sequence matching is not supported): a query
/// on them gets a warning.
pub(crate) const NOT_MATCHABLE: &[u32] = &[0x0040_0275];

/// Computed or structural attributes: never taken from the stored instances.
const COMPUTED: &[u32] = &[
    0x0008_0056, // InstanceAvailability
    0x0008_0061, // ModalitiesInStudy
    0x0008_1190, // RetrieveURL
    0x0008_3002, // AvailableTransferSyntaxUID
    0x0020_000D, // StudyInstanceUID
    0x0020_000E, // SeriesInstanceUID
    0x0008_0018, // SOPInstanceUID
    0x0020_1206, // NumberOfStudyRelatedSeries
    0x0020_1208, // NumberOfStudyRelatedInstances
    0x0020_1209, // NumberOfSeriesRelatedInstances
];

/// Attributes whose values are the stored instances' (not the FHIR resources', which users may
/// edit): the caller passes them per study/series/instance as `"dicom"` of a candidate.
pub(crate) fn stored(attr: &Attr) -> bool {
    !COMPUTED.contains(&attr.tag)
}

/// An attribute of the table above (the ones kept in the ImagingStudy or computed).
pub(crate) fn kept_attr(tag: u32) -> Option<&'static Attr> {
    ATTRS.iter().find(|a| a.tag == tag)
}

/// Any standard attribute: the table's, else the data dictionary's with its level by
/// [`level_of`]. Private and unknown tags have none.
pub(crate) fn attr_by_tag(tag: u32) -> Option<&'static Attr> {
    kept_attr(tag).or_else(|| dictionary_attr(tag))
}

/// A standard attribute by keyword (the table's first).
pub(crate) fn attr_by_keyword(keyword: &str) -> Option<&'static Attr> {
    if let Some(a) = ATTRS.iter().find(|a| a.keyword == keyword) {
        return Some(a);
    }
    let entry = StandardDataDictionary.by_name(keyword)?;
    let t = entry.tag.inner();
    dictionary_attr((u32::from(t.group()) << 16) | u32::from(t.element()))
}

/// The dictionary's attributes as [`Attr`]s, made once per tag asked for (at most the
/// dictionary's size, so they live for the process).
fn dictionary_attr(tag: u32) -> Option<&'static Attr> {
    static MADE: OnceLock<Mutex<HashMap<u32, &'static Attr>>> = OnceLock::new();
    let made = MADE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut made = made.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(a) = made.get(&tag) {
        return Some(a);
    }
    let t = Tag((tag >> 16) as u16, (tag & 0xFFFF) as u16);
    if t.group() % 2 == 1 || t.element() == 0 || t.group() == 0x0002 || t.group() == 0xFFFE {
        return None; // private, group length, file meta, item delimiters: not attributes of a level
    }
    let entry = StandardDataDictionary.by_tag(t)?;
    let attr: &'static Attr = Box::leak(Box::new(Attr {
        tag,
        keyword: entry.alias,
        vr: entry.vr.relaxed().to_string(),
        level: level_of(tag),
        default: false,
    }));
    made.insert(tag, attr);
    Some(attr)
}

/// The level of an attribute in the DICOM information model (PS3.3 Composite IOD modules, the
/// PS3.4 C.6.2.1 Study Root levels): the Patient, Patient Study and General Study modules are
/// study level; the General Series, General Equipment and Frame of Reference modules (one
/// scanner, one protocol, one body part per series) are series level; everything else is of the
/// instance (Image Plane, Image Pixel, acquisition parameters, ...).
pub(crate) fn level_of(tag: u32) -> Level {
    if let Some(a) = kept_attr(tag) {
        return a.level;
    }
    if tag >> 16 == 0x0010 || STUDY_LEVEL.contains(&tag) {
        Level::Study
    } else if SERIES_LEVEL.contains(&tag) {
        Level::Series
    } else {
        Level::Instance
    }
}

/// General Study and Patient Study attributes outside group 0010 (beyond the table's).
const STUDY_LEVEL: &[u32] = &[
    0x0008_0051, // IssuerOfAccessionNumberSequence
    0x0008_0096, // ReferringPhysicianIdentificationSequence
    0x0008_1032, // ProcedureCodeSequence
    0x0008_1048, // PhysiciansOfRecord
    0x0008_1060, // NameOfPhysiciansReadingStudy
    0x0008_1080, // AdmittingDiagnosesDescription
    0x0008_1110, // ReferencedStudySequence
    0x0032_1033, // RequestingService
    0x0032_1034, // RequestingServiceCodeSequence
    0x0032_1066, // ReasonForVisit
    0x0038_0010, // AdmissionID
    0x0038_0060, // ServiceEpisodeID
    0x0038_0062, // ServiceEpisodeDescription
];

/// General Series, General Equipment and Frame of Reference attributes (beyond the table's).
const SERIES_LEVEL: &[u32] = &[
    0x0008_0070, // Manufacturer
    0x0008_0080, // InstitutionName
    0x0008_0081, // InstitutionAddress
    0x0008_1010, // StationName
    0x0008_1040, // InstitutionalDepartmentName
    0x0008_1050, // PerformingPhysicianName
    0x0008_1070, // OperatorsName
    0x0008_1090, // ManufacturerModelName
    0x0018_0015, // BodyPartExamined
    0x0018_1000, // DeviceSerialNumber
    0x0018_1020, // SoftwareVersions
    0x0018_1030, // ProtocolName
    0x0018_1050, // SpatialResolution
    0x0018_1200, // DateOfLastCalibration
    0x0018_1201, // TimeOfLastCalibration
    0x0018_5100, // PatientPosition
    0x0020_0052, // FrameOfReferenceUID
    0x0020_0060, // Laterality
    0x0020_1040, // PositionReferenceIndicator
    0x0028_0108, // SmallestPixelValueInSeries
    0x0028_0109, // LargestPixelValueInSeries
    0x0040_0253, // PerformedProcedureStepID
    0x0040_0254, // PerformedProcedureStepDescription
];

/// Whether values of this VR can be matched: not sequences, not binary values.
pub(crate) fn matchable_vr(vr: &str) -> bool {
    !matches!(vr, "SQ" | "OB" | "OD" | "OF" | "OL" | "OV" | "OW" | "UN")
}

/// The largest sequence (its DICOM JSON, in bytes) `includefield` returns: code sequences and
/// references are small; a larger one (a dose report's content tree, a per-frame functional
/// group of a 1,000-frame enhanced instance) belongs to WADO-RS metadata.
pub(crate) const MAX_RETURNED_SEQUENCE_BYTES: usize = 16 * 1024;

/// Whether an element of a stored instance may be returned by QIDO (`includefield`): no bulk
/// data (BulkDataURI, the pixel data and other 7FEx groups) and no sequence larger than
/// [`MAX_RETURNED_SEQUENCE_BYTES`].
pub(crate) fn returnable(tag: u32, element: &serde_json::Value) -> bool {
    if tag >> 16 >= 0x7FE0 || element.get("BulkDataURI").is_some() {
        return false;
    }
    if element.get("vr").and_then(serde_json::Value::as_str) == Some("SQ") {
        return element.to_string().len() <= MAX_RETURNED_SEQUENCE_BYTES;
    }
    true
}

pub(crate) fn tag_key(tag: u32) -> String {
    format!("{tag:08X}")
}
