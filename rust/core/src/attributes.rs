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

pub(crate) fn attr_by_tag(tag: u32) -> Option<&'static Attr> {
    ATTRS.iter().find(|a| a.tag == tag)
}

pub(crate) fn tag_key(tag: u32) -> String {
    format!("{tag:08X}")
}
