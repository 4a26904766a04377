//! STOW-RS (PS3.18 §10.5) in one place: the FailureReason (0008,1197) codes, their meanings, and
//! the response data set (RetrieveURL, FailedSOPSequence, ReferencedSOPSequence) with its HTTP
//! status. The server (Java, through JNI) only says which instances it stored and why the
//! others failed; the CLI decodes the codes other servers send with the same table.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Why one part of a STOW-RS request was not stored: a FailureReason (0008,1197) of PS3.18
/// Table I.2-1 / PS3.4 Annex GG (and 0xC409, a conflicting Patient ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailureReason {
    /// 0x0110: processing failure (the server's fault or an unexpected refusal).
    ProcessingFailure,
    /// 0x0122: SOP class not supported (e.g. a part that is not application/dicom).
    SopClassNotSupported,
    /// 0x0124: not authorized.
    NotAuthorized,
    /// 0xA700: out of resources.
    OutOfResources,
    /// 0xA900: the data set does not match the SOP class or is not valid DICOM.
    Invalid,
    /// 0xA901: the Study Instance UID does not match the request URL.
    StudyUidMismatch,
    /// 0xB00E: the SOP Instance UID is stored already with other bytes.
    DuplicateDifferent,
    /// 0xC000: cannot understand.
    CannotUnderstand,
    /// 0xC122: referenced transfer syntax not supported.
    TransferSyntaxNotSupported,
    /// 0xC409: the instance's patient conflicts with its study's (or is ambiguous).
    PatientConflict,
}

impl FailureReason {
    /// Every reason, in code order of the table above.
    pub const ALL: [FailureReason; 10] = [
        FailureReason::ProcessingFailure,
        FailureReason::SopClassNotSupported,
        FailureReason::NotAuthorized,
        FailureReason::OutOfResources,
        FailureReason::Invalid,
        FailureReason::StudyUidMismatch,
        FailureReason::DuplicateDifferent,
        FailureReason::CannotUnderstand,
        FailureReason::TransferSyntaxNotSupported,
        FailureReason::PatientConflict,
    ];

    /// The FailureReason (0008,1197) value.
    pub const fn code(self) -> u16 {
        match self {
            FailureReason::ProcessingFailure => 0x0110,
            FailureReason::SopClassNotSupported => 0x0122,
            FailureReason::NotAuthorized => 0x0124,
            FailureReason::OutOfResources => 0xA700,
            FailureReason::Invalid => 0xA900,
            FailureReason::StudyUidMismatch => 0xA901,
            FailureReason::DuplicateDifferent => 0xB00E,
            FailureReason::CannotUnderstand => 0xC000,
            FailureReason::TransferSyntaxNotSupported => 0xC122,
            FailureReason::PatientConflict => 0xC409,
        }
    }

    /// The reason a code means, `None` for a code this table does not know.
    pub fn from_code(code: u64) -> Option<FailureReason> {
        FailureReason::ALL
            .into_iter()
            .find(|r| u64::from(r.code()) == code)
    }

    /// What the code means, for people.
    pub const fn meaning(self) -> &'static str {
        match self {
            FailureReason::ProcessingFailure => "processing failure",
            FailureReason::SopClassNotSupported => "SOP class not supported",
            FailureReason::NotAuthorized => "not authorized",
            FailureReason::OutOfResources => "out of resources",
            FailureReason::Invalid => "data set does not match SOP class or is not valid DICOM",
            FailureReason::StudyUidMismatch => "Study Instance UID does not match the request URL",
            FailureReason::DuplicateDifferent => "SOP Instance UID already stored with other bytes",
            FailureReason::CannotUnderstand => "cannot understand",
            FailureReason::TransferSyntaxNotSupported => "referenced transfer syntax not supported",
            FailureReason::PatientConflict => "conflicting Patient ID",
        }
    }

    /// The name of the reason in the request JSON of [`stow_response`] (`"duplicateDifferent"`).
    pub fn name(self) -> &'static str {
        match self {
            FailureReason::ProcessingFailure => "processingFailure",
            FailureReason::SopClassNotSupported => "sopClassNotSupported",
            FailureReason::NotAuthorized => "notAuthorized",
            FailureReason::OutOfResources => "outOfResources",
            FailureReason::Invalid => "invalid",
            FailureReason::StudyUidMismatch => "studyUidMismatch",
            FailureReason::DuplicateDifferent => "duplicateDifferent",
            FailureReason::CannotUnderstand => "cannotUnderstand",
            FailureReason::TransferSyntaxNotSupported => "transferSyntaxNotSupported",
            FailureReason::PatientConflict => "patientConflict",
        }
    }
}

/// Longest ErrorComment (0000,0902): an LO value.
const MAX_ERROR_COMMENT: usize = 64;

/// The outcome of one STOW-RS request, as the server saw it (the request JSON of
/// [`stow_response`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StowOutcome {
    /// `<service base>`: study URLs are `<serviceBase>/studies/<uid>`.
    pub service_base: String,
    /// The study of the request URL (`POST .../studies/<uid>`), if any.
    pub study_uid: Option<String>,
    /// The instances stored, in request order.
    pub stored: Vec<StowStored>,
    /// The parts not stored, in request order.
    pub failures: Vec<StowFailure>,
}

/// One stored instance.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StowStored {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub study_instance_uid: String,
    pub series_instance_uid: String,
}

/// One part not stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StowFailure {
    #[serde(default)]
    pub sop_class_uid: Option<String>,
    #[serde(default)]
    pub sop_instance_uid: Option<String>,
    pub reason: FailureReason,
    /// Becomes the ErrorComment, cut to 64 characters.
    #[serde(default)]
    pub message: Option<String>,
}

fn element(vr: &str, value: Value) -> Value {
    json!({"vr": vr, "Value": [value]})
}

fn study_url(base: &str, study: &str) -> String {
    format!("{base}/studies/{study}")
}

/// The STOW-RS response: `{"status": 200|202|409, "body": <DICOM JSON data set>}`. The body
/// has RetrieveURL (0008,1190) when exactly one study is concerned, FailedSOPSequence
/// (0008,1198) with ReferencedSOPClassUID (0008,1150), ReferencedSOPInstanceUID (0008,1155),
/// FailureReason (0008,1197) and ErrorComment (0000,0902) per failure, and
/// ReferencedSOPSequence (0008,1199) with the class, instance and RetrieveURL of each stored
/// instance. Status: 200 all stored, 409 none stored, 202 otherwise.
pub fn stow_response(outcome: &StowOutcome) -> Value {
    let base = outcome.service_base.as_str();
    let mut body = Map::new();
    let mut studies: Vec<&str> = Vec::new();
    for s in &outcome.stored {
        if !studies.contains(&s.study_instance_uid.as_str()) {
            studies.push(&s.study_instance_uid);
        }
    }
    if let Some(study) = outcome.study_uid.as_deref() {
        if !studies.contains(&study) {
            studies.push(study);
        }
    }
    if let [study] = studies.as_slice() {
        body.insert(
            "00081190".into(),
            element("UR", Value::from(study_url(base, study))),
        );
    }
    if !outcome.failures.is_empty() {
        let items: Vec<Value> = outcome
            .failures
            .iter()
            .map(|f| {
                let mut item = Map::new();
                if let Some(c) = &f.sop_class_uid {
                    item.insert("00081150".into(), element("UI", Value::from(c.as_str())));
                }
                if let Some(i) = &f.sop_instance_uid {
                    item.insert("00081155".into(), element("UI", Value::from(i.as_str())));
                }
                item.insert(
                    "00081197".into(),
                    element("US", Value::from(f.reason.code())),
                );
                if let Some(m) = &f.message {
                    let comment: String = m.chars().take(MAX_ERROR_COMMENT).collect();
                    item.insert("00000902".into(), element("LO", Value::from(comment)));
                }
                Value::Object(item)
            })
            .collect();
        body.insert("00081198".into(), json!({"vr": "SQ", "Value": items}));
    }
    if !outcome.stored.is_empty() {
        let items: Vec<Value> = outcome
            .stored
            .iter()
            .map(|s| {
                let url = format!(
                    "{}/series/{}/instances/{}",
                    study_url(base, &s.study_instance_uid),
                    s.series_instance_uid,
                    s.sop_instance_uid
                );
                let mut item = Map::new();
                item.insert(
                    "00081150".into(),
                    element("UI", Value::from(s.sop_class_uid.as_str())),
                );
                item.insert(
                    "00081155".into(),
                    element("UI", Value::from(s.sop_instance_uid.as_str())),
                );
                item.insert("00081190".into(), element("UR", Value::from(url)));
                Value::Object(item)
            })
            .collect();
        body.insert("00081199".into(), json!({"vr": "SQ", "Value": items}));
    }
    let status = if outcome.failures.is_empty() {
        200
    } else if outcome.stored.is_empty() {
        409
    } else {
        202
    };
    json!({"status": status, "body": Value::Object(body)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for r in FailureReason::ALL {
            assert_eq!(FailureReason::from_code(u64::from(r.code())), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
            assert!(!r.meaning().is_empty());
        }
        assert_eq!(FailureReason::Invalid.code(), 0xA900);
        assert_eq!(FailureReason::PatientConflict.code(), 0xC409);
        assert_eq!(FailureReason::DuplicateDifferent.code(), 0xB00E);
        assert_eq!(FailureReason::from_code(0x1234), None);
    }

    fn stored(uid: &str) -> StowStored {
        StowStored {
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.7".into(),
            sop_instance_uid: uid.into(),
            study_instance_uid: "1.2.3".into(),
            series_instance_uid: "1.2.3.4".into(),
        }
    }

    #[test]
    fn all_stored_is_200_with_one_retrieve_url() {
        let outcome = StowOutcome {
            service_base: "http://h/dicomweb".into(),
            stored: vec![stored("1.2.3.4.5")],
            ..Default::default()
        };
        let r = stow_response(&outcome);
        assert_eq!(r["status"], 200);
        assert_eq!(
            serde_json::to_string(&r["body"]).unwrap(),
            concat!(
                r#"{"00081190":{"vr":"UR","Value":["http://h/dicomweb/studies/1.2.3"]},"#,
                r#""00081199":{"vr":"SQ","Value":[{"00081150":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.7"]},"#,
                r#""00081155":{"vr":"UI","Value":["1.2.3.4.5"]},"#,
                r#""00081190":{"vr":"UR","Value":["http://h/dicomweb/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5"]}}]}}"#
            )
        );
    }

    #[test]
    fn failures_from_json_request() {
        let outcome: StowOutcome = serde_json::from_value(json!({
            "serviceBase": "http://h",
            "studyUid": "9.9",
            "stored": [],
            "failures": [
                {"reason": "invalid", "message": "x".repeat(100)},
                {"sopClassUid": "1.2", "sopInstanceUid": "1.3", "reason": "patientConflict"}
            ]
        }))
        .unwrap();
        let r = stow_response(&outcome);
        assert_eq!(r["status"], 409);
        let body = &r["body"];
        assert_eq!(body["00081190"]["Value"][0], "http://h/studies/9.9");
        let items = body["00081198"]["Value"].as_array().unwrap();
        assert_eq!(
            serde_json::to_string(&items[0]).unwrap(),
            format!(
                r#"{{"00081197":{{"vr":"US","Value":[43264]}},"00000902":{{"vr":"LO","Value":["{}"]}}}}"#,
                "x".repeat(64)
            )
        );
        assert_eq!(items[1]["00081150"]["Value"][0], "1.2");
        assert_eq!(items[1]["00081155"]["Value"][0], "1.3");
        assert_eq!(items[1]["00081197"]["Value"][0], 0xC409);
        assert!(items[1].get("00000902").is_none());
        assert!(body.get("00081199").is_none());
    }

    #[test]
    fn partial_success_is_202_and_two_studies_have_no_retrieve_url() {
        let mut other = stored("1.5");
        other.study_instance_uid = "7.7".into();
        let outcome = StowOutcome {
            service_base: "b".into(),
            study_uid: None,
            stored: vec![stored("1.4"), other],
            failures: vec![StowFailure {
                sop_class_uid: None,
                sop_instance_uid: None,
                reason: FailureReason::ProcessingFailure,
                message: None,
            }],
        };
        let r = stow_response(&outcome);
        assert_eq!(r["status"], 202);
        assert!(r["body"].get("00081190").is_none());
        assert_eq!(
            r["body"]["00081198"]["Value"][0]["00081197"]["Value"][0],
            0x0110
        );
        assert_eq!(r["body"]["00081199"]["Value"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn unknown_reason_is_refused() {
        let bad = serde_json::from_value::<StowOutcome>(json!({"failures": [{"reason": "nope"}]}));
        assert!(bad.is_err());
    }
}
