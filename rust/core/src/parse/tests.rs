use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::{FileMetaTable, InMemDicomObject};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::charset::Charset;
use crate::parse::read::{find_magic, read_dataset};
use crate::parse::validate::{raw_strings, uid_problem, valid_date};
use crate::parse::view::split_pn;
use crate::parse::{ItemView, PersonName};

/// Reads a file's data set without the key-UID validation (the charset sample files
/// have no Study Instance UID).
fn root_of(name: &str) -> (InMemDicomObject, Charset) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data");
    let bytes = std::fs::read(dir.join("pydicom-charset").join(name))
        .or_else(|_| std::fs::read(dir.join("pydicom/charset_files").join(name)))
        .expect("run scripts/fetch-test-data.sh");
    let mut rest = &bytes[find_magic(&bytes).unwrap()..];
    let meta = FileMetaTable::from_reader(&mut rest).unwrap();
    let ts = TransferSyntaxRegistry.get(meta.transfer_syntax()).unwrap();
    let (obj, _) = read_dataset(rest, ts).unwrap();
    let cs = Charset::from_terms(&raw_strings(&obj, tags::SPECIFIC_CHARACTER_SET)).0;
    (obj, cs)
}

#[test]
fn sequence_items_use_their_own_or_the_inherited_charset() {
    let expected = PersonName {
        alphabetic: Some("ﾔﾏﾀﾞ^ﾀﾛｳ".into()),
        ideographic: Some("山田^太郎".into()),
        phonetic: Some("やまだ^たろう".into()),
    };
    for file in ["chrSQEncoding.dcm", "chrSQEncoding1.dcm"] {
        let (obj, charset) = root_of(file);
        let root = ItemView { obj: &obj, charset };
        assert_eq!(
            root.person_name(tags::REQUESTING_PHYSICIAN)
                .unwrap()
                .alphabetic
                .as_deref(),
            Some("Doctor^Who^^MD")
        );
        let items = root.items(tags::REQUESTED_PROCEDURE_CODE_SEQUENCE);
        assert_eq!(items.len(), 1, "{file}");
        assert_eq!(
            items[0].person_name(tags::PATIENT_NAME),
            Some(expected.clone()),
            "{file}"
        );
        assert_eq!(
            items[0].string(tags::CODE_VALUE).as_deref(),
            Some("CodeValue")
        );
    }
}

#[test]
fn uid_rules() {
    assert_eq!(uid_problem("1.2.840.10008.1.2"), None);
    assert_eq!(uid_problem("0"), None);
    assert!(uid_problem("1.02").unwrap().contains("leading zero"));
    assert!(uid_problem("1..2").unwrap().contains("empty component"));
    assert!(uid_problem("1.2.").unwrap().contains("empty component"));
    assert!(uid_problem("1.2a").unwrap().contains("'a'"));
    assert!(uid_problem(&"1".repeat(65)).unwrap().contains("64"));
}

#[test]
fn dates() {
    assert!(valid_date("20240229"));
    assert!(!valid_date("20230229"));
    assert!(!valid_date("1997.04.24"));
    assert!(!valid_date("20241301"));
}

#[test]
fn pn_groups() {
    assert_eq!(split_pn("^^^^"), None);
    assert_eq!(
        split_pn("=Yamada"),
        Some(PersonName {
            ideographic: Some("Yamada".into()),
            ..Default::default()
        })
    );
}
