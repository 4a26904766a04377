//! What the Query/Retrieve SCP serves: the Information Models (SOP classes), the DIMSE command
//! fields of C-FIND/C-GET/C-MOVE, their statuses, the levels and which level a key belongs to.

use dicom_core::Tag;
use dicom_dictionary_std::tags;

/// Patient Root Query/Retrieve Information Model - FIND.
pub const PATIENT_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.1.1";
/// Study Root Query/Retrieve Information Model - FIND.
pub const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
/// The Query/Retrieve FIND SOP classes the listener accepts.
pub const FIND_SOP_CLASSES: &[&str] = &[PATIENT_ROOT_FIND, STUDY_ROOT_FIND];

pub const C_FIND_RQ: u16 = 0x0020;
pub const C_FIND_RSP: u16 = 0x8020;
pub const C_CANCEL_RQ: u16 = 0x0FFF;
pub const C_GET_RQ: u16 = 0x0010;
pub const C_GET_RSP: u16 = 0x8010;
pub const C_MOVE_RQ: u16 = 0x0021;
pub const C_MOVE_RSP: u16 = 0x8021;

/// Patient Root Query/Retrieve Information Model - MOVE and - GET.
pub const PATIENT_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.1.2";
pub const PATIENT_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.1.3";
/// Study Root Query/Retrieve Information Model - MOVE and - GET.
pub const STUDY_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";
pub const STUDY_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.2.3";
/// The Query/Retrieve GET and MOVE SOP classes the listener accepts.
pub const RETRIEVE_SOP_CLASSES: &[&str] = &[
    PATIENT_ROOT_GET,
    STUDY_ROOT_GET,
    PATIENT_ROOT_MOVE,
    STUDY_ROOT_MOVE,
];
/// Most UIDs (or Patient IDs) one C-GET/C-MOVE identifier lists at its level.
pub const MAX_RETRIEVE_KEYS: usize = 1000;

/// C-FIND statuses (PS3.4 C.4.1.1.4).
pub mod find_status {
    pub const SUCCESS: u16 = 0x0000;
    /// A match follows.
    pub const PENDING: u16 = 0xFF00;
    /// A match follows; some keys with a value were not used for matching.
    pub const PENDING_KEYS_NOT_SUPPORTED: u16 = 0xFF01;
    /// Matching ended by a C-CANCEL.
    pub const CANCELLED: u16 = 0xFE00;
    /// Refused: out of resources (also: more matches than the listener gives).
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Error: identifier does not match SOP class (wrong level, missing unique keys).
    pub const IDENTIFIER_DOES_NOT_MATCH: u16 = 0xA900;
    /// Failed: unable to process (unreadable identifier, the server refused the query).
    pub const UNABLE_TO_PROCESS: u16 = 0xC000;
}

/// C-GET and C-MOVE statuses (PS3.4 C.4.2.1.5, C.4.3.1.4).
pub mod retrieve_status {
    pub const SUCCESS: u16 = 0x0000;
    /// Sub-operations are continuing.
    pub const PENDING: u16 = 0xFF00;
    /// Sub-operations ended by a C-CANCEL.
    pub const CANCELLED: u16 = 0xFE00;
    /// Warning: sub-operations complete, one or more failures or warnings.
    pub const SOME_FAILED: u16 = 0xB000;
    /// Refused: out of resources, unable to calculate the number of matches.
    pub const OUT_OF_RESOURCES_MATCHES: u16 = 0xA701;
    /// Refused: out of resources, unable to perform sub-operations (every one failed).
    pub const OUT_OF_RESOURCES_SUB_OPERATIONS: u16 = 0xA702;
    /// Refused: move destination unknown (not configured, or it refused the association).
    pub const MOVE_DESTINATION_UNKNOWN: u16 = 0xA801;
    /// Error: identifier does not match SOP class.
    pub const IDENTIFIER_DOES_NOT_MATCH: u16 = 0xA900;
    /// Failed: unable to process.
    pub const UNABLE_TO_PROCESS: u16 = 0xC000;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Patient,
    Study,
    Series,
    Image,
}

impl Level {
    pub(super) fn parse(s: &str) -> Option<Level> {
        match s {
            "PATIENT" => Some(Level::Patient),
            "STUDY" => Some(Level::Study),
            "SERIES" => Some(Level::Series),
            "IMAGE" => Some(Level::Image),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Level::Patient => "PATIENT",
            Level::Study => "STUDY",
            Level::Series => "SERIES",
            Level::Image => "IMAGE",
        }
    }
}

/// Attributes of the Patient level (PS3.4 C.6.1.1.2), kept in the study at the Study Root:
/// QIDO has no patient level, so `attributes::level_of` says Study for these.
pub(super) const PATIENT_KEYS: &[Tag] = &[
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::ISSUER_OF_PATIENT_ID,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_BIRTH_TIME,
    tags::PATIENT_SEX,
    tags::OTHER_PATIENT_I_DS_SEQUENCE,
    tags::OTHER_PATIENT_NAMES,
    tags::PATIENT_COMMENTS,
    tags::NUMBER_OF_PATIENT_RELATED_STUDIES,
    tags::NUMBER_OF_PATIENT_RELATED_SERIES,
    tags::NUMBER_OF_PATIENT_RELATED_INSTANCES,
];

/// Keys about the query itself, never QIDO parameters: set by the listener in every answer or
/// left out.
pub(super) const CONTROL_KEYS: &[Tag] = &[
    tags::SPECIFIC_CHARACTER_SET,
    tags::QUERY_RETRIEVE_LEVEL,
    tags::RETRIEVE_AE_TITLE,
    tags::INSTANCE_AVAILABILITY,
    tags::TIMEZONE_OFFSET_FROM_UTC,
    tags::QUERY_RETRIEVE_VIEW,
];

/// The level an attribute belongs to: the patient keys above, else the server's one table of
/// attribute levels (`attributes::level_of`: study, series, else instance).
pub(super) fn level_of(tag: Tag) -> Level {
    if PATIENT_KEYS.contains(&tag) {
        return Level::Patient;
    }
    let key = (u32::from(tag.group()) << 16) | u32::from(tag.element());
    match crate::attributes::level_of(key) {
        crate::attributes::Level::Study => Level::Study,
        crate::attributes::Level::Series => Level::Series,
        crate::attributes::Level::Instance => Level::Image,
    }
}
