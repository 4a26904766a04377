//! DICOM JSON (PS3.18 §F.2) of a parsed instance.
//!
//! Built here rather than with dicom-json 0.10.1 because that crate writes DS/IS as
//! strings, inlines every binary value (no BulkDataURI), cannot see our header-only
//! Pixel Data and decodes text with the first Specific Character Set value only.
//!
//! Rules:
//! * no group 0002 and no group length (gggg,0000) elements;
//! * DS and IS values are JSON numbers; a value that does not parse stays a string
//!   (parsing records a warning for it);
//! * PN values are objects with `Alphabetic`, `Ideographic`, `Phonetic` (absent or
//!   delimiter-only groups left out); text is decoded to Unicode with ISO 2022 code extensions honoured;
//! * ST, LT, UT and UR are single strings, never split on backslash;
//! * an empty value inside a multi-valued element is `null`; an element without any
//!   value has no `Value` key;
//! * binary VRs (OB, OD, OF, OL, OV, OW, UN) of at most [`INLINE_LIMIT`] bytes are
//!   `InlineBinary` (base64 of the little-endian bytes); larger ones, encapsulated data
//!   and the top-level Pixel Data (never read) are
//!   `{"vr": .., "BulkDataURI": "<base>/bulkdata/<tag path>"}`.
//!
//! Tag path scheme: the tags from the root to the element, as 8 uppercase hex digits,
//! with the 0-based item index after each sequence, joined by '/':
//! `7FE00010` (Pixel Data), `00431028` (a top-level private blob),
//! `00540016/0/00181072` (an element of the first item of (0054,0016)).
//! A trailing '/' on the base is dropped.

use dicom_core::header::{HasLength, Header};
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{Tag, VR};
use serde_json::{json, Map, Number, Value as Json};

use crate::number::{ds_number, is_number};
use crate::parse::{is_single_valued_text, is_text_vr, primitive_strings, ItemView, ParsedInstance, PixelDataInfo};

/// Binary values larger than this many bytes become BulkDataURIs.
pub const INLINE_LIMIT: usize = 1024;

/// DICOM JSON of a parsed instance (here, not in `parse`, so that parsing does not depend on
/// its JSON form).
impl ParsedInstance {
    /// DICOM JSON (PS3.18 F.2) of the data set; see this module for the rules.
    pub fn dicom_json(&self, bulk_data_uri_base: &str) -> Json {
        Json::Object(dataset_json(&self.root(), bulk_data_uri_base, self.pixel_data()))
    }
    /// [`dicom_json`](Self::dicom_json) as a string.
    pub fn dicom_json_string(&self, bulk_data_uri_base: &str) -> String {
        self.dicom_json(bulk_data_uri_base).to_string()
    }
}

pub(crate) fn dataset_json(
    view: &ItemView<'_>,
    base: &str,
    pixel: Option<&PixelDataInfo>,
) -> Map<String, Json> {
    let base = base.trim_end_matches('/');
    let mut map = object(view, base, "", None);
    if let Some(px) = pixel {
        map.insert(
            "7FE00010".into(),
            json!({"vr": px.vr.to_string(), "BulkDataURI": format!("{base}/bulkdata/7FE00010")}),
        );
    }
    map
}

fn tag_key(tag: Tag) -> String {
    format!("{:04X}{:04X}", tag.group(), tag.element())
}

/// DICOM JSON of just these top-level elements of the data set (absent ones are left out).
pub(crate) fn selected_json(view: &ItemView<'_>, tags: &[Tag]) -> Map<String, Json> {
    object(view, "", "", Some(tags))
}

fn object(view: &ItemView<'_>, base: &str, path: &str, only: Option<&[Tag]>) -> Map<String, Json> {
    let mut map = Map::new();
    for elem in view.obj.iter() {
        let tag = elem.tag();
        if tag.group() == 0x0002 || tag.element() == 0x0000 || tag.group() == 0xFFFE {
            continue;
        }
        if only.is_some_and(|only| !only.contains(&tag)) {
            continue;
        }
        let key = tag_key(tag);
        let tag_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}/{key}")
        };
        let vr = elem.vr();
        let mut out = Map::new();
        out.insert("vr".into(), Json::String(vr.to_string().to_owned()));
        match elem.value() {
            Value::Sequence(seq) => {
                let items: Vec<Json> = seq
                    .items()
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        Json::Object(object(&view.item(item), base, &format!("{tag_path}/{i}"), None))
                    })
                    .collect();
                if !items.is_empty() {
                    out.insert("Value".into(), Json::Array(items));
                }
            }
            Value::PixelSequence(_) => {
                out.insert(
                    "BulkDataURI".into(),
                    Json::String(format!("{base}/bulkdata/{tag_path}")),
                );
            }
            Value::Primitive(p) => primitive(view, elem, vr, p, base, &tag_path, &mut out),
        }
        map.insert(key, Json::Object(out));
    }
    map
}

fn primitive(
    view: &ItemView<'_>,
    elem: &dicom_object::mem::InMemElement,
    vr: VR,
    p: &PrimitiveValue,
    base: &str,
    tag_path: &str,
    out: &mut Map<String, Json>,
) {
    if p.is_empty() {
        return;
    }
    let values: Vec<Json> = match vr {
        VR::OB | VR::OD | VR::OF | VR::OL | VR::OV | VR::OW | VR::UN => {
            let bytes = le_bytes(p);
            if bytes.is_empty() {
                return;
            }
            if bytes.len() > INLINE_LIMIT {
                out.insert(
                    "BulkDataURI".into(),
                    Json::String(format!("{base}/bulkdata/{tag_path}")),
                );
            } else {
                out.insert("InlineBinary".into(), Json::String(base64(&bytes)));
            }
            return;
        }
        VR::PN => {
            let vals = view.text_values(elem).unwrap_or_default();
            vals.iter().map(|v| pn_json(v)).collect()
        }
        VR::DS | VR::IS => {
            let vals = view.text_values(elem).unwrap_or_default();
            vals.iter()
                .map(|v| {
                    if v.is_empty() {
                        return Json::Null;
                    }
                    let n = if vr == VR::IS {
                        is_number(v).map(Number::from)
                    } else {
                        ds_number(v)
                    };
                    n.map(Json::Number)
                        .unwrap_or_else(|| Json::String(v.clone()))
                })
                .collect()
        }
        VR::AT => match p {
            PrimitiveValue::Tags(t) => t.iter().map(|t| Json::String(tag_key(*t))).collect(),
            other => strings_json(primitive_strings(other).unwrap_or_default()),
        },
        VR::US | VR::SS | VR::UL | VR::SL | VR::UV | VR::SV | VR::FL | VR::FD => numbers(p),
        _ if is_text_vr(vr) => {
            let vals = view.text_values(elem).unwrap_or_default();
            if is_single_valued_text(vr) {
                let v = vals.join("\\");
                if v.is_empty() {
                    return;
                }
                vec![Json::String(v)]
            } else {
                strings_json(vals)
            }
        }
        _ => match primitive_strings(p) {
            Some(v) => strings_json(v),
            None => {
                out.insert("InlineBinary".into(), Json::String(base64(&le_bytes(p))));
                return;
            }
        },
    };
    if values.iter().all(Json::is_null) {
        return;
    }
    out.insert("Value".into(), Json::Array(values));
}

fn strings_json(vals: Vec<String>) -> Vec<Json> {
    vals.into_iter()
        .map(|s| {
            if s.is_empty() {
                Json::Null
            } else {
                Json::String(s)
            }
        })
        .collect()
}

pub(crate) fn pn_json(value: &str) -> Json {
    if value.is_empty() {
        return Json::Null;
    }
    let mut obj = Map::new();
    for (name, group) in ["Alphabetic", "Ideographic", "Phonetic"]
        .iter()
        .zip(value.splitn(3, '='))
    {
        let g = group.trim_end_matches([' ', '\0']);
        // "^^^^" is an empty name with its delimiters left in
        if !g.trim_matches(['^', ' ']).is_empty() {
            obj.insert((*name).into(), Json::String(g.to_string()));
        }
    }
    if obj.is_empty() {
        return Json::Null;
    }
    Json::Object(obj)
}

/// Numbers of a binary numeric element; non-finite floats become null (JSON has no NaN).
fn numbers(p: &PrimitiveValue) -> Vec<Json> {
    fn f(x: f64) -> Json {
        Number::from_f64(x).map(Json::Number).unwrap_or(Json::Null)
    }
    match p {
        PrimitiveValue::U16(v) => v.iter().map(|x| json!(x)).collect(),
        PrimitiveValue::I16(v) => v.iter().map(|x| json!(x)).collect(),
        PrimitiveValue::U32(v) => v.iter().map(|x| json!(x)).collect(),
        PrimitiveValue::I32(v) => v.iter().map(|x| json!(x)).collect(),
        PrimitiveValue::U64(v) => v.iter().map(|x| json!(x)).collect(),
        PrimitiveValue::I64(v) => v.iter().map(|x| json!(x)).collect(),
        PrimitiveValue::U8(v) => v.iter().map(|x| json!(x)).collect(),
        PrimitiveValue::F32(v) => v.iter().map(|x| f(f64::from(*x))).collect(),
        PrimitiveValue::F64(v) => v.iter().map(|x| f(*x)).collect(),
        other => primitive_strings(other)
            .unwrap_or_default()
            .iter()
            .map(|s| {
                let t = s.trim_matches([' ', '\0']);
                is_number(t)
                    .map(|n| json!(n))
                    .or_else(|| ds_number(t).map(Json::Number))
                    .unwrap_or_else(|| Json::String(s.clone()))
            })
            .collect(),
    }
}



/// The value's bytes in little endian (dicom-rs has already byte-swapped big endian input).
pub fn le_bytes(p: &PrimitiveValue) -> Vec<u8> {
    match p {
        PrimitiveValue::U8(v) => v.to_vec(),
        PrimitiveValue::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::U64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        PrimitiveValue::Empty => Vec::new(),
        other => other.to_bytes().into_owned(),
    }
}

/// Standard base64 with padding (RFC 4648 §4), as DICOM JSON InlineBinary requires.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn numbers_from_text() {
        assert_eq!(ds_number(" 5 ").unwrap().as_i64(), Some(5));
        assert_eq!(ds_number("-1.5e2").unwrap().as_f64(), Some(-150.0));
        assert!(ds_number("abc").is_none());
        assert!(ds_number("inf").is_none());
        assert!(ds_number("1e999").is_none());
        assert_eq!(is_number("+12"), Some(12));
        assert_eq!(is_number("1.0"), None);
        assert_eq!(is_number("-"), None);
    }
}
