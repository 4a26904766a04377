//! The ImagingStudy extensions of this project, in one place: their URLs, and the
//! `dicom-attributes` extension (on ImagingStudy and on each series: the values of that level's
//! QIDO attributes as the stored instance has them), written at ingest ([`attributes_extension`],
//! used by `fhir`) and read back by QIDO ([`attributes_from_extension`], used by `qido`); and the
//! `instance-binary` extension, written by `fhir` and read by tools ([`instance_binary_references`]).

use serde_json::{json, Map, Value};

use crate::attributes::{kept_attr, level_of, returnable, stored, tag_key, ATTRS, Attr, Level};
use crate::parse::ParsedInstance;

/// On ImagingStudy and on each of its series: the DICOM values of that level's QIDO attributes
/// as the stored instance has them (see [`attributes_extension`]).
pub const EXT_DICOM_ATTRIBUTES: &str =
    "http://dicomfhir.org/fhir/StructureDefinition/dicom-attributes";
/// The sub-extension of `dicom-attributes` holding, as DICOM JSON (PS3.18 F.2) in its
/// `valueString`, every other attribute of that level the instance has (see
/// [`attributes_extension`]). Its presence says the level's values are complete.
pub const OTHER_ATTRIBUTES: &str = "otherAttributes";
/// `Binary.meta.tag` of every DICOM Binary the plugin stores (system and code): how clients list
/// the instances (`Binary?_tag=<system>|<code>`).
pub const DICOM_BINARY_TAG_SYSTEM: &str = "http://dicomfhir.org/fhir/CodeSystem/tags";
pub const DICOM_BINARY_TAG_CODE: &str = "dicom";
/// On each instance of an ImagingStudy: the Binary holding its bytes.
pub const EXT_INSTANCE_BINARY: &str =
    "http://dicomfhir.org/fhir/StructureDefinition/instance-binary";
/// On each instance of an ImagingStudy: rows, columns, bits allocated, number of frames.
pub const EXT_INSTANCE_ATTRIBUTES: &str =
    "http://dicomfhir.org/fhir/StructureDefinition/instance-attributes";

/// The references (`Binary/<id>`) of the `instance-binary` extension(s) of one ImagingStudy
/// instance: where its bytes are stored.
pub fn instance_binary_references(instance: &Value) -> impl Iterator<Item = &str> {
    instance
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("url").and_then(Value::as_str) == Some(EXT_INSTANCE_BINARY))
        .filter_map(|e| e.pointer("/valueReference/reference").and_then(Value::as_str))
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// The `dicom-attributes` extension (ImagingStudy for [`Level::Study`], a series for
/// [`Level::Series`]) of one instance: the values its DICOM data set has for the QIDO attributes
/// of that level, one sub-extension per value: `url` = keyword, `valueString` = the value as
/// DICOM text (PN as `Alphabetic=Ideographic=Phonetic`, numbers as written, a sequence as its
/// DICOM JSON). QIDO answers and matches these, not the FHIR fields a user may edit; FHIR string
/// SearchParameters on them let the database narrow (PatientName, StudyDescription).
///
/// Every other attribute of that level ([`level_of`]: Patient and Study modules on the study;
/// General Series, Equipment, Frame of Reference on the series) that QIDO may return
/// ([`returnable`]: no bulk data, no large sequence) is kept too, as DICOM JSON in one
/// [`OTHER_ATTRIBUTES`] sub-extension, present even when empty: a study whose study and series
/// carry it answers `includefield=all` and keys outside the table at those levels without
/// reading its instances (docs/dicomweb.md, "Keys outside the index").
pub fn attributes_extension(p: &ParsedInstance, level: Level) -> Value {
    let attrs: Vec<&Attr> = ATTRS
        .iter()
        .filter(|a| a.level == level && stored(a))
        .collect();
    let tags: Vec<dicom_core::Tag> = attrs
        .iter()
        .map(|a| dicom_core::Tag((a.tag >> 16) as u16, (a.tag & 0xFFFF) as u16))
        .collect();
    let json = crate::json::selected_json(&p.root(), &tags);
    let mut subs = Vec::new();
    for attr in attrs {
        let Some(element) = json.get(&tag_key(attr.tag)) else {
            continue;
        };
        let values = element.get("Value").and_then(Value::as_array);
        if values.is_none_or(|v| v.is_empty()) {
            continue;
        }
        let texts: Vec<String> = if attr.vr == "SQ" {
            vec![element.to_string()]
        } else {
            values
                .into_iter()
                .flatten()
                .filter_map(|v| match v {
                    Value::String(t) => Some(t.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Object(pn) => {
                        let group = |k: &str| pn.get(k).and_then(Value::as_str).unwrap_or("");
                        let joined = [group("Alphabetic"), group("Ideographic"), group("Phonetic")]
                            .join("=");
                        Some(joined.trim_end_matches('=').to_owned())
                    }
                    _ => None,
                })
                .filter(|t| !t.is_empty())
                .collect()
        };
        for t in texts {
            subs.push(json!({"url": attr.keyword, "valueString": t}));
        }
    }
    subs.push(json!({"url": OTHER_ATTRIBUTES, "valueString": Value::Object(other_attributes(p, level)).to_string()}));
    json!({"url": EXT_DICOM_ATTRIBUTES, "extension": subs})
}

/// DICOM JSON of the instance's returnable attributes of `level` that the table does not have.
fn other_attributes(p: &ParsedInstance, level: Level) -> Map<String, Value> {
    let root = p.root();
    let tags: Vec<dicom_core::Tag> = root
        .obj
        .iter()
        .map(dicom_core::header::Header::tag)
        .filter(|t| {
            let tag = (u32::from(t.group()) << 16) | u32::from(t.element());
            t.group() % 2 == 0 && kept_attr(tag).is_none() && level_of(tag) == level
        })
        .collect();
    let mut json = crate::json::selected_json(&root, &tags);
    json.retain(|key, element| u32::from_str_radix(key, 16).is_ok_and(|tag| returnable(tag, element)));
    json
}

/// DICOM JSON (as [`overlay`] takes it) from the `dicom-attributes` extension among `exts`, with
/// the [`OTHER_ATTRIBUTES`] when `with_other`;
/// None when there is none (a study written before it existed: the caller reads the instance).
pub(crate) fn attributes_from_extension(exts: Option<&Value>, with_other: bool) -> Option<Value> {
    let ext = exts?
        .as_array()?
        .iter()
        .find(|e| s(e, "url").as_deref() == Some(EXT_DICOM_ATTRIBUTES))?;
    let mut out = Map::new();
    for sub in ext.get("extension").and_then(Value::as_array).into_iter().flatten() {
        let (Some(keyword), Some(text)) = (s(sub, "url"), s(sub, "valueString")) else {
            continue;
        };
        if keyword == OTHER_ATTRIBUTES {
            if !with_other {
                continue; // a query that returns and matches none of them: not parsed
            }
            if let Ok(Value::Object(other)) = serde_json::from_str::<Value>(&text) {
                out.extend(other); // never a table attribute: no key is written twice
            }
            continue;
        }
        let Some(attr) = ATTRS.iter().find(|a| a.keyword == keyword && stored(a)) else {
            continue;
        };
        if attr.vr == "SQ" {
            if let Ok(element) = serde_json::from_str::<Value>(&text) {
                out.insert(tag_key(attr.tag), element);
            }
            continue;
        }
        let value = match attr.vr {
            "PN" => crate::json::pn_json(&text),
            "IS" => crate::number::is_number(&text).map_or_else(|| Value::from(text.clone()), Value::from),
            "DS" => crate::number::ds_number(&text).map_or_else(|| Value::from(text.clone()), Value::Number),
            "US" | "UL" | "SS" | "SL" => text.parse::<i64>().map_or_else(|_| Value::from(text.clone()), Value::from),
            _ => Value::from(text),
        };
        let element = out
            .entry(tag_key(attr.tag))
            .or_insert_with(|| json!({"vr": attr.vr, "Value": []}));
        if let Some(values) = element.get_mut("Value").and_then(Value::as_array_mut) {
            values.push(value);
        }
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_binary_references_reads_what_fhir_writes() {
        let instance = json!({"uid": "1.2", "extension": [
            {"url": EXT_INSTANCE_ATTRIBUTES, "extension": []},
            {"url": EXT_INSTANCE_BINARY, "valueReference": {"reference": "Binary/abc"}}
        ]});
        assert_eq!(instance_binary_references(&instance).collect::<Vec<_>>(), ["Binary/abc"]);
        assert_eq!(instance_binary_references(&json!({"uid": "1.2"})).count(), 0);
    }
}
