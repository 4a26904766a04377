//! Merge of ImagingStudy fragments into an ImagingStudy, and removal of instances.
//!
//! Cost is O(n log n) in the size of the study: series and instances are found through hash
//! indices built once per call, and sorting/recounting happens once at the end.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::{
    EXT_DICOM_ATTRIBUTES, EXT_INSTANCE_ATTRIBUTES, EXT_INSTANCE_BINARY, STUDY_UID_SYSTEM,
    V2_0203_SYSTEM,
};
use crate::study_ext::instance_binary_references;
use crate::DicomError;

/// Study fields a fragment overrides when it carries them (absent = keep what is there). A
/// re-upload (every instance of the fragment already listed with the same Binary) only fills the
/// ones missing: when a study's instances disagree on a study or series value, which one shows
/// is decided by the uploads of new instances, never by re-sending stored ones (a re-upload
/// is a no-op, whatever order concurrent re-uploads merge in).
const STUDY_OWNED: &[&str] = &[
    "status",
    "started",
    "referrer",
    "procedureCode",
    "description",
];
/// Series fields a fragment overrides when it carries them.
const SERIES_OWNED: &[&str] = &[
    "number",
    "modality",
    "description",
    "bodySite",
    "laterality",
    "started",
];
/// Instance fields replaced as a whole by the fragment (absent in the fragment = removed).
const INSTANCE_OWNED: &[&str] = &["uid", "sopClass", "number", "title"];
const OUR_EXTENSIONS: &[&str] = &[EXT_INSTANCE_BINARY, EXT_INSTANCE_ATTRIBUTES];

/// R4 element order, so the output does not depend on the order fields were added in.
const STUDY_ORDER: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "implicitRules",
    "language",
    "text",
    "contained",
    "extension",
    "modifierExtension",
    "identifier",
    "status",
    "modality",
    "subject",
    "encounter",
    "started",
    "basedOn",
    "referrer",
    "interpreter",
    "endpoint",
    "numberOfSeries",
    "numberOfInstances",
    "procedureReference",
    "procedureCode",
    "location",
    "reasonCode",
    "reasonReference",
    "note",
    "description",
    "series",
];
const SERIES_ORDER: &[&str] = &[
    "id",
    "extension",
    "modifierExtension",
    "uid",
    "number",
    "modality",
    "description",
    "numberOfInstances",
    "endpoint",
    "bodySite",
    "laterality",
    "specimen",
    "started",
    "performer",
    "instance",
];
const INSTANCE_ORDER: &[&str] = &[
    "id",
    "extension",
    "modifierExtension",
    "uid",
    "sopClass",
    "number",
    "title",
];

/// Fragments that do not merge: the caller's to fix.
fn err(msg: impl Into<String>) -> DicomError {
    DicomError::invalid_input(msg)
}

/// The existing (stored) study is not an ImagingStudy this server could have written.
fn corrupt(msg: impl Into<String>) -> DicomError {
    DicomError::corrupt_stored(msg)
}

/// The study's object, checked to be an ImagingStudy (fragments may omit resourceType).
/// A fragment that is not a study is the caller's error; a stored study that is not one is
/// corrupt.
fn as_study<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, DicomError> {
    let fragment = what.starts_with("fragment");
    let fail = |msg: String| if fragment { err(msg) } else { corrupt(msg) };
    let Value::Object(m) = v else {
        return Err(fail(format!("{what} is not a JSON object")));
    };
    match m.get("resourceType") {
        Some(Value::String(t)) if t == "ImagingStudy" => Ok(m),
        None if fragment => Ok(m),
        _ => Err(fail(format!("{what} is not an ImagingStudy"))),
    }
}

fn into_study(v: Value, what: &str) -> Result<Map<String, Value>, DicomError> {
    as_study(&v, what)?;
    match v {
        Value::Object(m) => Ok(m),
        _ => unreachable!(),
    }
}

/// The `urn:dicom:uid` identifier value of a study, if any.
fn study_uid(study: &Map<String, Value>) -> Option<&str> {
    study.get("identifier")?.as_array()?.iter().find_map(|i| {
        (i.get("system")?.as_str()? == STUDY_UID_SYSTEM)
            .then(|| i.get("value")?.as_str())
            .flatten()
    })
}

fn is_accession(identifier: &Value) -> bool {
    identifier
        .pointer("/type/coding")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter().any(|c| {
                c.get("system").and_then(Value::as_str) == Some(V2_0203_SYSTEM)
                    && c.get("code").and_then(Value::as_str) == Some("ACSN")
            })
        })
}

/// Which of our identifiers this is (None: someone else's, kept as is).
fn identifier_kind(i: &Value) -> Option<&'static str> {
    if i.get("system").and_then(Value::as_str) == Some(STUDY_UID_SYSTEM) {
        Some("uid")
    } else if is_accession(i) {
        Some("accession")
    } else {
        None
    }
}

/// Our basedOn entry is the ServiceRequest named by the accession number.
fn based_on_kind(r: &Value) -> Option<&'static str> {
    r.get("identifier")
        .filter(|i| is_accession(i))
        .map(|_| "accession")
}

/// Replaces entries of the kinds the fragment carries (first one in place, duplicates dropped;
/// with `replace` false the stored entry stays), appends new kinds, keeps everything else.
fn merge_owned_list(
    target: &mut Map<String, Value>,
    key: &str,
    ours: &[Value],
    kind: fn(&Value) -> Option<&'static str>,
    replace: bool,
) {
    if ours.is_empty() {
        return;
    }
    let mut list = match target.shift_remove(key) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    for new in ours {
        let Some(k) = kind(new) else {
            if !list.contains(new) {
                list.push(new.clone());
            }
            continue;
        };
        let mut placed = false;
        list.retain_mut(|old| {
            if kind(old) != Some(k) {
                return true;
            }
            if placed {
                return false;
            }
            if replace {
                *old = new.clone();
            }
            placed = true;
            true
        });
        if !placed {
            list.push(new.clone());
        }
    }
    target.insert(key.into(), list.into());
}

/// Replaces the `dicom-attributes` extension of `target` (study or series) by the fragment's,
/// when it has one (the latest new instance's values win, as for the owned fields; with
/// `replace` false only a missing one is added); other extensions stay.
fn merge_attributes_extension(target: &mut Map<String, Value>, frag: &Map<String, Value>, replace: bool) {
    let is_ours = |e: &Value| e.get("url").and_then(Value::as_str) == Some(EXT_DICOM_ATTRIBUTES);
    let has_ours = || {
        target
            .get("extension")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(is_ours))
    };
    if !replace && has_ours() {
        return;
    }
    let Some(new) = frag
        .get("extension")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|e| is_ours(e)))
    else {
        return;
    };
    let mut list = match target.shift_remove("extension") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    list.retain(|e| !is_ours(e));
    list.insert(0, new.clone());
    target.insert("extension".into(), list.into());
}

fn uid_of(v: &Value) -> Option<&str> {
    v.get("uid").and_then(Value::as_str)
}

/// Series of a study with hash indices over series and (lazily) instance uids.
struct SeriesSet {
    series: Vec<Value>,
    by_uid: HashMap<String, usize>,
    instances: HashMap<usize, HashMap<String, usize>>,
}

impl SeriesSet {
    fn new(series: Vec<Value>) -> Self {
        let mut by_uid = HashMap::with_capacity(series.len());
        for (i, s) in series.iter().enumerate() {
            if let Some(u) = uid_of(s) {
                by_uid.entry(u.to_string()).or_insert(i);
            }
        }
        SeriesSet {
            series,
            by_uid,
            instances: HashMap::new(),
        }
    }

    fn instance_index(&mut self, pos: usize) -> &mut HashMap<String, usize> {
        let series = &self.series;
        self.instances.entry(pos).or_insert_with(|| {
            let mut idx = HashMap::new();
            if let Some(list) = series[pos].get("instance").and_then(Value::as_array) {
                for (i, inst) in list.iter().enumerate() {
                    if let Some(u) = uid_of(inst) {
                        idx.entry(u.to_string()).or_insert(i);
                    }
                }
            }
            idx
        })
    }

    /// True when every instance of the study fragment is already listed, in its series, with
    /// the same Binary: stored bytes sent again. (Other bytes under a listed SOP Instance UID,
    /// which `replace-instances` lets through, are new and override like any new instance.)
    fn is_reupload(&mut self, frag: &Map<String, Value>) -> bool {
        let mut any = false;
        for s in frag.get("series").and_then(Value::as_array).into_iter().flatten() {
            let Some(&pos) = uid_of(s).and_then(|u| self.by_uid.get(u)) else {
                return false;
            };
            for inst in s.get("instance").and_then(Value::as_array).into_iter().flatten() {
                let Some(i) = uid_of(inst).and_then(|u| self.instance_index(pos).get(u).copied()) else {
                    return false;
                };
                let stored = &self.series[pos]["instance"][i];
                let new: Vec<&str> = instance_binary_references(inst).collect();
                if new.is_empty() || !new.iter().copied().eq(instance_binary_references(stored)) {
                    return false;
                }
                any = true;
            }
        }
        any
    }

    fn merge_series(&mut self, frag: &Value, replace: bool) -> Result<(), DicomError> {
        let Value::Object(fs) = frag else {
            return Err(err("fragment series is not an object"));
        };
        let uid = uid_of(frag)
            .ok_or_else(|| err("fragment series has no uid"))?
            .to_string();
        let pos = match self.by_uid.get(&uid) {
            Some(&p) => p,
            None => {
                let mut s = Map::new();
                s.insert("uid".into(), uid.clone().into());
                self.series.push(Value::Object(s));
                self.by_uid.insert(uid, self.series.len() - 1);
                self.series.len() - 1
            }
        };
        {
            let Value::Object(target) = &mut self.series[pos] else {
                return Err(corrupt("series is not an object"));
            };
            for k in SERIES_OWNED {
                if let Some(v) = fs.get(*k) {
                    if replace || !target.contains_key(*k) {
                        target.insert((*k).into(), v.clone());
                    }
                }
            }
            merge_attributes_extension(target, fs, replace);
            if !matches!(target.get("instance"), Some(Value::Array(_))) {
                target.insert("instance".into(), Value::Array(Vec::new()));
            }
        }
        let Some(frag_instances) = fs.get("instance").and_then(Value::as_array) else {
            return Ok(());
        };
        for fi in frag_instances {
            let iuid = uid_of(fi)
                .ok_or_else(|| err("fragment instance has no uid"))?
                .to_string();
            let existing = self.instance_index(pos).get(&iuid).copied();
            let Some(Value::Array(list)) = self.series[pos].get_mut("instance") else {
                unreachable!()
            };
            match existing {
                Some(i) => list[i] = merge_instance(&list[i], fi)?,
                None => {
                    list.push(merge_instance(&Value::Null, fi)?);
                    let n = list.len() - 1;
                    self.instance_index(pos).insert(iuid, n);
                }
            }
        }
        Ok(())
    }
}

/// The fragment's instance, plus whatever someone else put on the stored one.
fn merge_instance(old: &Value, new: &Value) -> Result<Value, DicomError> {
    let Value::Object(n) = new else {
        return Err(err("fragment instance is not an object"));
    };
    let mut out = Map::new();
    for k in INSTANCE_OWNED {
        if let Some(v) = n.get(*k) {
            out.insert((*k).into(), v.clone());
        }
    }
    let is_ours = |e: &Value| {
        e.get("url")
            .and_then(Value::as_str)
            .is_some_and(|u| OUR_EXTENSIONS.contains(&u))
    };
    let mut ext: Vec<Value> = n
        .get("extension")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|e| is_ours(e)).cloned().collect())
        .unwrap_or_default();
    if let Value::Object(o) = old {
        if let Some(Value::Array(a)) = o.get("extension") {
            ext.extend(a.iter().filter(|e| !is_ours(e)).cloned());
        }
        for (k, v) in o {
            if k != "extension" && !INSTANCE_OWNED.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if !ext.is_empty() {
        out.insert("extension".into(), ext.into());
    }
    Ok(Value::Object(out))
}

/// Merges fragments (in order; later ones win) into `existing` or a new ImagingStudy.
pub fn merge_study(existing: Option<&Value>, fragments: &[Value]) -> Result<Value, DicomError> {
    if let Some(e) = existing {
        as_study(e, "existing study")?; // fail before paying for the copy
    }
    merge_study_owned(existing.cloned(), fragments)
}

/// [`merge_study`] taking the existing study by value: no copy of it, which matters when a
/// caller (JNI, a loop) already owns a freshly parsed study of thousands of instances.
pub fn merge_study_owned(
    existing: Option<Value>,
    fragments: &[Value],
) -> Result<Value, DicomError> {
    let mut study = match existing {
        Some(v) => into_study(v, "existing study")?,
        None => {
            let mut m = Map::new();
            m.insert("resourceType".into(), "ImagingStudy".into());
            m
        }
    };
    let series = match study.shift_remove("series") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(corrupt("existing study: series is not an array")),
    };
    let mut set = SeriesSet::new(series);
    let mut uid = study_uid(&study).map(str::to_string);
    for (n, f) in fragments.iter().enumerate() {
        let frag = as_study(f, &format!("fragment {n}"))?;
        if let Some(fu) = study_uid(frag) {
            match &uid {
                Some(u) if u != fu => {
                    return Err(err(format!(
                        "fragment {n} belongs to study {fu}, not to {u}"
                    )))
                }
                Some(_) => {}
                None => uid = Some(fu.to_string()),
            }
        }
        let replace = !set.is_reupload(frag);
        for k in STUDY_OWNED {
            if let Some(v) = frag.get(*k) {
                if replace || !study.contains_key(*k) {
                    study.insert((*k).into(), v.clone());
                }
            }
        }
        merge_attributes_extension(&mut study, frag, replace);
        if let Some(Value::Array(ids)) = frag.get("identifier") {
            merge_owned_list(&mut study, "identifier", ids, identifier_kind, replace);
        }
        if let Some(Value::Array(b)) = frag.get("basedOn") {
            merge_owned_list(&mut study, "basedOn", b, based_on_kind, replace);
        }
        if let Some(Value::Array(series)) = frag.get("series") {
            for s in series {
                set.merge_series(s, replace)?;
            }
        }
    }
    let mut study = Value::Object(study);
    finish(&mut study, set.series);
    Ok(study)
}

/// Removes instances by SOP Instance UID, drops series this leaves empty; `None` when the
/// study has no instance left.
pub fn remove_instances(
    study: &Value,
    sop_instance_uids: &[&str],
) -> Result<Option<Value>, DicomError> {
    as_study(study, "study")?;
    remove_instances_owned(study.clone(), sop_instance_uids)
}

/// [`remove_instances`] taking the study by value (no copy).
pub fn remove_instances_owned(
    study: Value,
    sop_instance_uids: &[&str],
) -> Result<Option<Value>, DicomError> {
    let mut m = into_study(study, "study")?;
    let gone: HashSet<&str> = sop_instance_uids.iter().copied().collect();
    let series = match m.shift_remove("series") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let mut kept = Vec::with_capacity(series.len());
    for mut s in series {
        if let Some(Value::Array(list)) = s.get_mut("instance") {
            let before = list.len();
            list.retain(|i| !uid_of(i).is_some_and(|u| gone.contains(u)));
            if list.is_empty() && before > 0 {
                continue;
            }
        }
        kept.push(s);
    }
    let left: usize = kept
        .iter()
        .map(|s| {
            s.get("instance")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        })
        .sum();
    if left == 0 {
        return Ok(None);
    }
    let mut study = Value::Object(m);
    finish(&mut study, kept);
    Ok(Some(study))
}

/// Sorts, recounts, recomputes the study modality list, and puts keys in R4 order.
fn finish(study: &mut Value, mut series: Vec<Value>) {
    series.sort_by(cmp_by_number_then_uid);
    let mut total: u64 = 0;
    let mut modalities: Vec<Value> = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for s in series.iter_mut() {
        let Value::Object(sm) = s else { continue };
        let count = match sm.get_mut("instance") {
            Some(Value::Array(list)) => {
                list.sort_by(cmp_by_number_then_uid);
                for i in list.iter_mut() {
                    if let Value::Object(im) = i {
                        reorder(im, INSTANCE_ORDER);
                    }
                }
                Some(list.len() as u64)
            }
            _ => None,
        };
        match count {
            Some(0) => {
                sm.shift_remove("instance");
                sm.insert("numberOfInstances".into(), 0.into());
            }
            Some(c) => {
                sm.insert("numberOfInstances".into(), c.into());
            }
            None => {}
        }
        total += sm
            .get("numberOfInstances")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if let Some(m) = sm.get("modality") {
            let key = (
                m.get("system")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                m.get("code")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            );
            if !key.1.is_empty() && seen.insert(key) {
                modalities.push(m.clone());
            }
        }
        reorder(sm, SERIES_ORDER);
    }
    let Value::Object(m) = study else { return };
    m.insert("numberOfSeries".into(), (series.len() as u64).into());
    m.insert("numberOfInstances".into(), total.into());
    if modalities.is_empty() {
        m.shift_remove("modality");
    } else {
        m.insert("modality".into(), modalities.into());
    }
    if series.is_empty() {
        m.shift_remove("series");
    } else {
        m.insert("series".into(), series.into());
    }
    reorder(m, STUDY_ORDER);
}

/// Known keys in `order`, then the others in their current order.
fn reorder(m: &mut Map<String, Value>, order: &[&str]) {
    if in_order(m, order) {
        return; // the common case: rebuilding every instance map would dominate the cost
    }
    let mut rest: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
    for k in order {
        if let Some(p) = rest.iter().position(|(rk, _)| rk == k) {
            let (rk, v) = rest.remove(p);
            m.insert(rk, v);
        }
    }
    for (k, v) in rest {
        m.insert(k, v);
    }
}

/// Whether the known keys already come first, in `order`.
fn in_order(m: &Map<String, Value>, order: &[&str]) -> bool {
    let mut next = 0; // position in `order` the following key may not precede
    let mut unknown_seen = false;
    for k in m.keys() {
        match order[next..].iter().position(|o| o == k) {
            Some(p) if !unknown_seen => next += p + 1,
            Some(_) => return false,
            None if order[..next].contains(&k.as_str()) => return false,
            None => unknown_seen = true,
        }
    }
    true
}

/// By `number` (absent last), then by UID compared component by component as numbers.
fn cmp_by_number_then_uid(a: &Value, b: &Value) -> Ordering {
    let na = a.get("number").and_then(Value::as_u64);
    let nb = b.get("number").and_then(Value::as_u64);
    let by_number = match (na, nb) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    by_number.then_with(|| cmp_uid(uid_of(a).unwrap_or(""), uid_of(b).unwrap_or("")))
}

/// "1.2.9" < "1.2.10": numeric components compare by length first, then text.
pub fn cmp_uid(a: &str, b: &str) -> Ordering {
    let mut ia = a.split('.');
    let mut ib = b.split('.');
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let numeric =
                    x.bytes().all(|c| c.is_ascii_digit()) && y.bytes().all(|c| c.is_ascii_digit());
                let o = if numeric {
                    let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
                } else {
                    x.cmp(y)
                };
                // "01" and "1" are equal numerically; fall back to text so the order is total.
                let o = o.then_with(|| x.cmp(y));
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_order() {
        assert_eq!(cmp_uid("1.2.9", "1.2.10"), Ordering::Less);
        assert_eq!(cmp_uid("1.2.10", "1.2.10"), Ordering::Equal);
        assert_eq!(cmp_uid("1.2", "1.2.1"), Ordering::Less);
        assert_eq!(cmp_uid("1.3", "1.2.1"), Ordering::Greater);
        assert_ne!(cmp_uid("1.01", "1.1"), Ordering::Equal);
    }
}
