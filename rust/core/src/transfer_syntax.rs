//! Transfer syntaxes, in one place: which are native (uncompressed), which transfer syntax the
//! bytes of a stored one are served in, and the media type of each encapsulated one's frames
//! (PS3.18 Table 8.7.3-5). WADO-RS negotiation (Java, through JNI) asks these questions here.

use serde::Serialize;

/// Implicit VR Little Endian.
pub const IMPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2";
/// Explicit VR Little Endian: what native pixel data and plain bulk data are served as.
pub const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";
/// Deflated Explicit VR Little Endian.
pub const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1.99";
/// Explicit VR Big Endian (retired).
pub const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

/// The native (uncompressed) transfer syntaxes: their pixel data are plain bytes.
const NATIVE: [&str; 4] = [
    IMPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
];

/// Encapsulated transfer syntaxes and the media type of their frames (PS3.18 Table 8.7.3-5).
const MEDIA_TYPES: [(&str, &str); 11] = [
    ("1.2.840.10008.1.2.4.50", "image/jpeg"), // JPEG Baseline (Process 1)
    ("1.2.840.10008.1.2.4.51", "image/jpeg"), // JPEG Extended (Process 2 & 4)
    ("1.2.840.10008.1.2.4.57", "image/jpeg"), // JPEG Lossless, Non-Hierarchical (Process 14)
    ("1.2.840.10008.1.2.4.70", "image/jpeg"), // JPEG Lossless, First-Order Prediction
    ("1.2.840.10008.1.2.4.80", "image/jls"),  // JPEG-LS Lossless
    ("1.2.840.10008.1.2.4.81", "image/jls"),  // JPEG-LS Near-Lossless
    ("1.2.840.10008.1.2.4.90", "image/jp2"),  // JPEG 2000 (Lossless Only)
    ("1.2.840.10008.1.2.4.91", "image/jp2"),  // JPEG 2000
    ("1.2.840.10008.1.2.4.92", "image/jpx"),  // JPEG 2000 Part 2 Multi-component (Lossless Only)
    ("1.2.840.10008.1.2.4.93", "image/jpx"),  // JPEG 2000 Part 2 Multi-component
    ("1.2.840.10008.1.2.5", "image/dicom-rle"), // RLE Lossless
];

/// Whether a transfer syntax is native (uncompressed).
pub fn is_native(uid: &str) -> bool {
    NATIVE.contains(&uid)
}

/// The media type of the frames of an encapsulated transfer syntax; `None` for a native or an
/// unknown one.
pub fn compressed_media_type(uid: &str) -> Option<&'static str> {
    MEDIA_TYPES.iter().find(|(u, _)| *u == uid).map(|(_, m)| *m)
}

/// The transfer syntax the pixel data of an instance stored in `uid` is served in: native
/// pixel data is served little endian (Explicit VR Little Endian's bytes); encapsulated pixel
/// data as stored.
pub fn served_transfer_syntax(uid: &str) -> &str {
    if is_native(uid) {
        EXPLICIT_VR_LITTLE_ENDIAN
    } else {
        uid
    }
}

/// What a binding needs to know about one transfer syntax (the JSON of
/// [`transfer_syntax_info`]): `{"uid","native","servedAs","mediaType"}`, `mediaType` null for
/// a native or unknown one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferSyntaxInfo {
    pub uid: String,
    pub native: bool,
    pub served_as: String,
    pub media_type: Option<&'static str>,
}

/// [`is_native`], [`served_transfer_syntax`] and [`compressed_media_type`] of one UID at once.
pub fn transfer_syntax_info(uid: &str) -> TransferSyntaxInfo {
    TransferSyntaxInfo {
        uid: uid.to_owned(),
        native: is_native(uid),
        served_as: served_transfer_syntax(uid).to_owned(),
        media_type: compressed_media_type(uid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_of_encapsulated_syntaxes() {
        assert_eq!(
            compressed_media_type("1.2.840.10008.1.2.4.50"),
            Some("image/jpeg")
        );
        assert_eq!(
            compressed_media_type("1.2.840.10008.1.2.4.70"),
            Some("image/jpeg")
        );
        assert_eq!(
            compressed_media_type("1.2.840.10008.1.2.4.80"),
            Some("image/jls")
        );
        assert_eq!(
            compressed_media_type("1.2.840.10008.1.2.4.91"),
            Some("image/jp2")
        );
        assert_eq!(
            compressed_media_type("1.2.840.10008.1.2.4.92"),
            Some("image/jpx")
        );
        assert_eq!(
            compressed_media_type("1.2.840.10008.1.2.5"),
            Some("image/dicom-rle")
        );
        assert_eq!(compressed_media_type(EXPLICIT_VR_LITTLE_ENDIAN), None);
        assert_eq!(compressed_media_type("1.2.840.10008.1.2.4.100"), None);
        assert_eq!(compressed_media_type(""), None);
    }

    #[test]
    fn native_syntaxes_are_served_little_endian() {
        for uid in NATIVE {
            assert!(is_native(uid));
            assert_eq!(served_transfer_syntax(uid), EXPLICIT_VR_LITTLE_ENDIAN);
            assert_eq!(compressed_media_type(uid), None);
        }
        assert!(!is_native("1.2.840.10008.1.2.4.50"));
        assert_eq!(
            served_transfer_syntax("1.2.840.10008.1.2.4.50"),
            "1.2.840.10008.1.2.4.50"
        );
        assert_eq!(served_transfer_syntax("9.9"), "9.9");
    }

    #[test]
    fn info_json() {
        let v = serde_json::to_value(transfer_syntax_info(IMPLICIT_VR_LITTLE_ENDIAN)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"uid": IMPLICIT_VR_LITTLE_ENDIAN, "native": true,
                "servedAs": EXPLICIT_VR_LITTLE_ENDIAN, "mediaType": null})
        );
        let v = serde_json::to_value(transfer_syntax_info("1.2.840.10008.1.2.5")).unwrap();
        assert_eq!(v["mediaType"], "image/dicom-rle");
        assert_eq!(v["servedAs"], "1.2.840.10008.1.2.5");
        assert_eq!(v["native"], false);
    }
}
