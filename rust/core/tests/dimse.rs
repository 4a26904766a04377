//! `dimse::part10_from_c_store` on corpus data: the stored file keeps the data set bytes as
//! received, and refuses (with the C-STORE status a sender sees) a data set that is not the
//! command's instance or that is cut short.

use std::path::{Path, PathBuf};

use dicom_fhir_core::dimse::{self, status, Command};

fn data_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data")
}

/// (the data set bytes after the File Meta Information, SOP Class UID, SOP Instance UID)
fn data_set(file: &[u8]) -> (Vec<u8>, String, String) {
    let parsed = dicom_fhir_core::parse(file).unwrap();
    let group_length = u32::from_le_bytes(file[140..144].try_into().unwrap()) as usize;
    (
        file[144 + group_length..].to_vec(),
        parsed.sop_class_uid().to_string(),
        parsed.sop_instance_uid().to_string(),
    )
}

fn command(class: &str, instance: &str) -> Command {
    Command {
        field: dimse::C_STORE_RQ,
        message_id: 1,
        affected_sop_class_uid: class.into(),
        affected_sop_instance_uid: instance.into(),
        has_data_set: true,
        status: None,
        move_destination: String::new(),
    }
}

#[test]
fn received_data_set_is_stored_byte_for_byte_with_new_meta() {
    let ct = std::fs::read(data_root().join("pydicom/CT_small.dcm"))
        .expect("run scripts/fetch-test-data.sh");
    let (bytes, class, instance) = data_set(&ct);
    let out = dimse::part10_from_c_store(
        &command(&class, &instance),
        "1.2.840.10008.1.2.1",
        "CT1",
        &bytes,
    )
    .unwrap();
    assert!(out.ends_with(&bytes));
    let parsed = dicom_fhir_core::parse(&out).unwrap();
    assert_eq!(parsed.sop_instance_uid(), instance);
    assert_eq!(parsed.transfer_syntax_uid(), "1.2.840.10008.1.2.1");
    assert_eq!(parsed.meta().source_application_entity_title(), Some("CT1"));
}

#[test]
fn another_instance_than_the_command_is_a900() {
    let ct = std::fs::read(data_root().join("pydicom/CT_small.dcm")).unwrap();
    let (bytes, class, _) = data_set(&ct);
    let refusal = dimse::part10_from_c_store(
        &command(&class, "1.2.3.4.5"),
        "1.2.840.10008.1.2.1",
        "X",
        &bytes,
    )
    .unwrap_err();
    assert_eq!(refusal.status, status::DATA_SET_DOES_NOT_MATCH);
    let (_, _, instance) = data_set(&ct);
    let refusal = dimse::part10_from_c_store(
        &command("1.2.840.10008.5.1.4.1.1.4", &instance),
        "1.2.840.10008.1.2.1",
        "X",
        &bytes,
    )
    .unwrap_err();
    assert_eq!(refusal.status, status::DATA_SET_DOES_NOT_MATCH);
}

#[test]
fn truncated_or_mis_encoded_data_set_is_c000() {
    let ct = std::fs::read(data_root().join("pydicom/CT_small.dcm")).unwrap();
    let (bytes, class, instance) = data_set(&ct);
    let rq = command(&class, &instance);
    for cut in [bytes.len() - 1000, bytes.len() / 2, 100, 7, 0] {
        let refusal =
            dimse::part10_from_c_store(&rq, "1.2.840.10008.1.2.1", "X", &bytes[..cut]).unwrap_err();
        assert_eq!(refusal.status & 0xF000, 0xC000, "cut at {cut}");
        assert!(!refusal.comment.is_empty());
    }
    // explicit VR bytes announced as big endian
    let refusal = dimse::part10_from_c_store(&rq, "1.2.840.10008.1.2.2", "X", &bytes).unwrap_err();
    assert_eq!(refusal.status & 0xF000, 0xC000);
}
