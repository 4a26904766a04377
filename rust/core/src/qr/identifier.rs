//! Reading a C-FIND/C-GET/C-MOVE identifier: its data set, its QueryRetrieveLevel, its values,
//! and the refusal (status and Error Comment) when it cannot be answered.

use dicom_core::DataElement;
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::model::{find_status, Level};

/// Why a C-FIND is answered with a failure: its status and Error Comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindRefusal {
    pub status: u16,
    pub comment: String,
}

pub(super) fn refuse(status: u16, comment: impl Into<String>) -> FindRefusal {
    FindRefusal {
        status,
        comment: comment.into(),
    }
}

pub(super) fn text_value(element: &DataElement<InMemDicomObject>) -> String {
    element
        .to_str()
        .map(|s| s.trim_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

/// A value usable as the single-value match of a unique key: a UID, no list, no wildcard.
pub(super) fn single_uid(value: &str) -> bool {
    !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// The identifier of a C-FIND, C-GET or C-MOVE received in `transfer_syntax`.
pub(super) fn read_identifier(
    transfer_syntax: &str,
    identifier: &[u8],
) -> Result<InMemDicomObject, FindRefusal> {
    let ts = TransferSyntaxRegistry
        .get(transfer_syntax)
        .filter(|ts| !ts.is_unsupported())
        .ok_or_else(|| {
            refuse(
                find_status::UNABLE_TO_PROCESS,
                "identifier in an unsupported transfer syntax",
            )
        })?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        InMemDicomObject::read_dataset_with_ts(identifier, ts)
    }))
    .map_err(|_| refuse(find_status::UNABLE_TO_PROCESS, "identifier cannot be read"))?
    .map_err(|e| {
        refuse(
            find_status::UNABLE_TO_PROCESS,
            format!("identifier cannot be read: {e}"),
        )
    })
}

/// The identifier's QueryRetrieveLevel (0008,0052), which every C-FIND/C-GET/C-MOVE must have.
pub(super) fn query_level(obj: &InMemDicomObject) -> Result<Level, FindRefusal> {
    let level_text = obj
        .element(tags::QUERY_RETRIEVE_LEVEL)
        .map_err(|_| {
            refuse(
                find_status::IDENTIFIER_DOES_NOT_MATCH,
                "no QueryRetrieveLevel (0008,0052)",
            )
        })
        .map(text_value)?;
    Level::parse(&level_text).ok_or_else(|| {
        refuse(
            find_status::IDENTIFIER_DOES_NOT_MATCH,
            format!("QueryRetrieveLevel {level_text:.20} unknown"),
        )
    })
}
