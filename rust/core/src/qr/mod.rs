//! Query/Retrieve (PS3.4 Annex C) rules of `dicom-fhir listen`'s C-FIND, C-GET and C-MOVE SCP,
//! answered from the server's QIDO-RS and WADO-RS: which Information Models and levels are
//! served, the checks of an identifier, the QIDO requests that answer it, the response
//! identifiers and the statuses. The network and the HTTP requests
//! are the CLI's and the client library's.
//!
//! `model` (SOP classes, command fields, statuses, levels) ← `identifier` (reading and refusing
//! an identifier) ← `find` (C-FIND) and `retrieve` (C-GET/C-MOVE); this file only re-exports.

mod find;
mod identifier;
mod model;
mod retrieve;
#[cfg(test)]
mod test_support;

pub use find::{find_response, patient_identity, plan_find, FindPlan, MAX_MATCHING_KEYS};
pub use identifier::FindRefusal;
pub use model::{
    find_status, retrieve_status, Level, C_CANCEL_RQ, C_FIND_RQ, C_FIND_RSP, C_GET_RQ, C_GET_RSP,
    C_MOVE_RQ, C_MOVE_RSP, FIND_SOP_CLASSES, MAX_RETRIEVE_KEYS, PATIENT_ROOT_FIND,
    PATIENT_ROOT_GET, PATIENT_ROOT_MOVE, RETRIEVE_SOP_CLASSES, STUDY_ROOT_FIND, STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
};
pub use retrieve::{
    failed_instances_identifier, instance_to_send, plan_retrieve, retrieve_response,
    InstanceToSend, RetrievePlan, RetrieveQuery, SubOperations,
};
