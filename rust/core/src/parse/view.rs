//! Access to the values of a parsed instance and its sequence items, text decoded to Unicode.

use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::mem::InMemElement;
use dicom_object::{FileMetaTable, InMemDicomObject};

use crate::charset::Charset;
use crate::parse::validate::{raw_strings, trim_padding};
use crate::parse::{ItemView, ParsedInstance, PersonName, PixelDataInfo};

/// Values of a primitive as strings; `None` for binary (byte/word) data.
pub(crate) fn primitive_strings(p: &PrimitiveValue) -> Option<Vec<String>> {
    match p {
        PrimitiveValue::Empty => Some(Vec::new()),
        PrimitiveValue::Str(s) => Some(vec![s.clone()]),
        PrimitiveValue::Strs(v) => Some(v.to_vec()),
        PrimitiveValue::U8(_) => None,
        other => Some(other.to_multi_str().into_owned()),
    }
}

pub(crate) fn is_text_vr(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::TM
            | VR::UC
            | VR::UI
            | VR::UR
            | VR::UT
    )
}

/// VRs that hold one value even when it contains a backslash.
pub(crate) fn is_single_valued_text(vr: VR) -> bool {
    matches!(vr, VR::ST | VR::LT | VR::UT | VR::UR)
}

/// VRs decoded with the Specific Character Set (PS3.5 §6.1.2.3).
pub(super) fn uses_charset(vr: VR) -> bool {
    matches!(
        vr,
        VR::SH | VR::LO | VR::ST | VR::LT | VR::PN | VR::UC | VR::UT
    )
}

impl ParsedInstance {
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
    pub fn study_instance_uid(&self) -> &str {
        &self.study
    }
    pub fn series_instance_uid(&self) -> &str {
        &self.series
    }
    pub fn sop_instance_uid(&self) -> &str {
        &self.sop_instance
    }
    pub fn sop_class_uid(&self) -> &str {
        &self.sop_class
    }
    pub fn transfer_syntax_uid(&self) -> &str {
        &self.transfer_syntax
    }
    /// The top-level Pixel Data header, when the instance has pixel data.
    pub fn pixel_data(&self) -> Option<&PixelDataInfo> {
        self.pixel_data.as_ref()
    }
    pub fn meta(&self) -> &FileMetaTable {
        &self.meta
    }
    /// The header as read by dicom-rs (text not yet charset-corrected; prefer the accessors).
    pub fn dataset(&self) -> &InMemDicomObject {
        &self.obj
    }
    /// The root data set as a view.
    pub fn root(&self) -> ItemView<'_> {
        ItemView {
            obj: &self.obj,
            charset: self.charset.clone(),
        }
    }
    /// First value, decoded to Unicode, padding trimmed; `None` if absent or empty.
    pub fn string(&self, tag: Tag) -> Option<String> {
        self.root().string(tag)
    }
    /// All values (ST/LT/UT/UR are never split), decoded and trimmed; empty values are kept
    /// so positions stay meaningful.
    pub fn strings(&self, tag: Tag) -> Vec<String> {
        self.root().strings(tag)
    }
    /// First value as an integer (binary integers, IS, or an integral DS).
    pub fn int(&self, tag: Tag) -> Option<i64> {
        self.root().int(tag)
    }
    /// First PN value, component groups split on '='.
    pub fn person_name(&self, tag: Tag) -> Option<PersonName> {
        self.root().person_name(tag)
    }
    /// All PN values.
    pub fn person_names(&self, tag: Tag) -> Vec<PersonName> {
        self.root().person_names(tag)
    }
    /// Items of a sequence (empty when absent or not a sequence).
    pub fn items(&self, tag: Tag) -> Vec<ItemView<'_>> {
        self.root().items(tag)
    }
}

impl<'a> ItemView<'a> {
    pub(crate) fn element(&self, tag: Tag) -> Option<&'a InMemElement> {
        self.obj.get(tag)
    }

    /// Decoded text values of an element; `None` for sequences and binary data.
    pub(crate) fn text_values(&self, elem: &InMemElement) -> Option<Vec<String>> {
        let vr = elem.vr();
        let Value::Primitive(p) = elem.value() else {
            return None;
        };
        let mut values = primitive_strings(p)?;
        if values.is_empty() {
            return Some(values);
        }
        if uses_charset(vr) {
            values = self
                .charset
                .fix(&values, !is_single_valued_text(vr), vr == VR::PN);
        }
        if is_single_valued_text(vr) && values.len() > 1 {
            values = vec![values.join("\\")];
        }
        let keep_leading = matches!(vr, VR::ST | VR::LT | VR::UT | VR::UC | VR::UR);
        Some(
            values
                .into_iter()
                .map(|v| {
                    let t = trim_padding(&v);
                    if keep_leading {
                        t.to_string()
                    } else {
                        t.trim_start_matches(' ').to_string()
                    }
                })
                .collect(),
        )
    }

    pub fn string(&self, tag: Tag) -> Option<String> {
        self.strings(tag)
            .into_iter()
            .next()
            .filter(|s| !s.is_empty())
    }

    pub fn strings(&self, tag: Tag) -> Vec<String> {
        let Some(elem) = self.element(tag) else {
            return Vec::new();
        };
        let v = self.text_values(elem).unwrap_or_default();
        if v.iter().all(|s| s.is_empty()) {
            Vec::new()
        } else {
            v
        }
    }

    pub fn int(&self, tag: Tag) -> Option<i64> {
        let elem = self.element(tag)?;
        let Value::Primitive(p) = elem.value() else {
            return None;
        };
        match p {
            PrimitiveValue::Str(_) | PrimitiveValue::Strs(_) => {
                let first = primitive_strings(p)?.into_iter().next()?;
                let t = first.trim_matches([' ', '\0']);
                crate::number::is_number(t).or_else(|| {
                    let f = crate::number::ds_number(t)?.as_f64()?;
                    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
                })
            }
            PrimitiveValue::U8(_) | PrimitiveValue::Empty => None,
            other => other.to_int::<i64>().ok(),
        }
    }

    pub fn person_name(&self, tag: Tag) -> Option<PersonName> {
        self.person_names(tag).into_iter().next()
    }

    pub fn person_names(&self, tag: Tag) -> Vec<PersonName> {
        let Some(elem) = self.element(tag) else {
            return Vec::new();
        };
        self.text_values(elem)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| split_pn(v))
            .collect()
    }

    pub fn items(&self, tag: Tag) -> Vec<ItemView<'a>> {
        let Some(items) = self.element(tag).and_then(|e| e.items()) else {
            return Vec::new();
        };
        items.iter().map(|obj| self.item(obj)).collect()
    }

    /// A nested item inherits the character set unless it declares its own.
    pub(crate) fn item(&self, obj: &'a InMemDicomObject) -> ItemView<'a> {
        let terms = raw_strings(obj, tags::SPECIFIC_CHARACTER_SET);
        let charset = if terms.is_empty() {
            self.charset.clone()
        } else {
            Charset::from_terms(&terms).0
        };
        ItemView { obj, charset }
    }
}

/// Splits a decoded PN value into its component groups; `None` when all are empty.
pub(super) fn split_pn(value: &str) -> Option<PersonName> {
    let mut groups = value.splitn(3, '=').map(|g| {
        let g = g.trim_end_matches([' ', '\0']);
        // "^^^^" is an empty name with delimiters left in.
        (!g.trim_matches('^').trim().is_empty()).then(|| g.to_string())
    });
    let pn = PersonName {
        alphabetic: groups.next().flatten(),
        ideographic: groups.next().flatten(),
        phonetic: groups.next().flatten(),
    };
    (pn != PersonName::default()).then_some(pn)
}
