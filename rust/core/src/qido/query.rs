//! QIDO-RS: parsing and validating the request (query parameters, matchers).

use serde_json::Value;

use crate::attributes::{attr_by_keyword, attr_by_tag, matchable_vr, Attr, Level, NOT_MATCHABLE};
use crate::DicomError;

/// A malformed or unsupported query: the client's to fix (400).
pub(super) fn bad(msg: impl Into<String>) -> DicomError {
    DicomError::invalid_input(msg)
}

/// The values of a numeric matching key: a list separated by `\` (or `,`), each read by
/// `read`; one that is not `what` (None) refuses the query.
fn numbers<T>(value: &str, keyword: &str, what: &str, read: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, DicomError> {
    value
        .split(['\\', ','])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| read(v).ok_or_else(|| bad(format!("{keyword}: \"{v}\" is not {what}"))))
        .collect()
}

#[derive(Debug, Clone)]
pub(super) enum Matcher {
    /// Empty value or `*`: matches everything, the attribute is only returned.
    Universal,
    /// UID list (UI): any of these.
    Uids(Vec<String>),
    /// Normalised inclusive bounds (DA: YYYYMMDD, TM: HHMMSS.ffffff).
    Range(Option<String>, Option<String>),
    /// Values with optional `*`/`?` wildcards (any matches); `ci` = case-insensitive (PN).
    Patterns {
        values: Vec<String>,
        ci: bool,
        fuzzy: bool,
    },
    /// IS/US and other integer values: any equal.
    Numbers(Vec<i64>),
    /// DS/FL/FD values: any equal as numbers (`70` matches `70.0`).
    Decimals(Vec<f64>),
}

#[derive(Debug, Clone)]
pub(super) struct Filter {
    pub(super) attr: &'static Attr,
    pub(super) matcher: Matcher,
}

#[derive(Debug)]
pub(super) enum Includes {
    All,
    Tags(Vec<u32>),
}

#[derive(Debug)]
pub(super) struct Query {
    pub(super) level: Level,
    pub(super) study_uid: Option<String>,
    pub(super) series_uid: Option<String>,
    pub(super) filters: Vec<Filter>,
    pub(super) includes: Includes,
    pub(super) limit: Option<usize>,
    pub(super) offset: usize,
    pub(super) max_results: usize,
    pub(super) retrieve_base: String,
    pub(super) warnings: Vec<String>,
}

/// Ok(Some(attr)): a standard attribute; Ok(None): well-formed but no standard attribute of a
/// level (a sequence path, a private or unknown tag); Err: no keyword, no tag (400).
pub(super) fn resolve_attribute(key: &str) -> Result<Option<&'static Attr>, DicomError> {
    if key.contains('.') {
        return Ok(None); // sequence matching (e.g. RequestAttributesSequence.X)
    }
    if key.len() == 8 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        let tag = u32::from_str_radix(key, 16).map_err(|_| bad(format!("bad tag {key}")))?;
        return Ok(attr_by_tag(tag));
    }
    if let Some(attr) = attr_by_keyword(key) {
        return Ok(Some(attr));
    }
    Err(bad(format!(
        "Unknown query parameter or attribute \"{key}\" (PS3.18 §8.3.4: use a DICOM keyword or a tag gggeeee)"
    )))
}

pub(super) fn parse_query(request: &Value) -> Result<Query, DicomError> {
    let level = match request.get("level").and_then(Value::as_str) {
        Some("study") => Level::Study,
        Some("series") => Level::Series,
        Some("instance") => Level::Instance,
        other => {
            return Err(bad(format!(
                "level must be study, series or instance, not {other:?}"
            )));
        }
    };
    let path_uid = |k: &str| -> Result<Option<String>, DicomError> {
        match request.get(k).and_then(Value::as_str) {
            None => Ok(None),
            Some(u) => {
                check_uid(u)?;
                Ok(Some(u.to_owned()))
            }
        }
    };
    let study_uid = path_uid("studyInstanceUid")?;
    let series_uid = path_uid("seriesInstanceUid")?;
    let max_results = request
        .get("maxResults")
        .and_then(Value::as_u64)
        .map(|n| n.max(1) as usize)
        .unwrap_or(1000);
    let retrieve_base = request
        .get("retrieveBase")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_end_matches('/')
        .to_owned();

    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(list) = request.get("params").and_then(Value::as_array) {
        for p in list {
            let k = p.get(0).and_then(Value::as_str).unwrap_or_default();
            let v = p.get(1).and_then(Value::as_str).unwrap_or_default();
            params.push((k.to_owned(), v.to_owned()));
        }
    }
    let fuzzy = params
        .iter()
        .any(|(k, v)| k == "fuzzymatching" && v.eq_ignore_ascii_case("true"));

    let mut q = Query {
        level,
        study_uid,
        series_uid,
        filters: Vec::new(),
        includes: Includes::Tags(Vec::new()),
        limit: None,
        offset: 0,
        max_results,
        retrieve_base,
        warnings: Vec::new(),
    };
    for (key, value) in &params {
        match key.as_str() {
            "limit" => {
                let n: usize = value.trim().parse().map_err(|_| {
                    bad(format!(
                        "limit must be a non-negative integer, not \"{value}\""
                    ))
                })?;
                q.limit = Some(n);
            }
            "offset" => {
                q.offset = value.trim().parse().map_err(|_| {
                    bad(format!(
                        "offset must be a non-negative integer, not \"{value}\""
                    ))
                })?;
            }
            "fuzzymatching" => {
                if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                    return Err(bad(format!(
                        "fuzzymatching must be true or false, not \"{value}\""
                    )));
                }
            }
            "includefield" => {
                for field in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    if field == "all" {
                        q.includes = Includes::All;
                        continue;
                    }
                    // A private tag or sequence path has nothing to return here (WADO-RS metadata has it).
                    if let Some(attr) = resolve_attribute(field)? {
                        if let Includes::Tags(t) = &mut q.includes {
                            t.push(attr.tag);
                        }
                    }
                }
            }
            // Not query keys: media type / charset overrides some clients send.
            "accept" | "charset" | "_" => {}
            _ => match resolve_attribute(key)? {
                // Never ignored (that would answer more than was asked for): what cannot be
                // matched is refused, unless the key only asks for the attribute (no value).
                Some(attr) if NOT_MATCHABLE.contains(&attr.tag) || !matchable_vr(attr.vr) => {
                    if !value.is_empty() && value != "*" {
                        return Err(bad(format!(
                            "{} ({}) cannot be a matching key: sequence and binary values are not matched; send it without a value to have it returned",
                            attr.keyword, attr.vr
                        )));
                    }
                    if let Includes::Tags(t) = &mut q.includes {
                        t.push(attr.tag);
                    }
                }
                Some(attr) => {
                    // A lower level's key (e.g. Modality on /studies) selects the studies or
                    // series that hold a matching series/instance (relational, as C-FIND).
                    let matcher = matcher(attr, value, fuzzy)?;
                    q.filters.push(Filter { attr, matcher });
                }
                None => {
                    if !value.is_empty() && value != "*" {
                        return Err(bad(format!(
                            "{key} cannot be a matching key: sequence paths and private attributes are not matched"
                        )));
                    }
                }
            },
        }
    }
    Ok(q)
}

pub(super) fn check_uid(uid: &str) -> Result<(), DicomError> {
    let ok = !uid.is_empty()
        && uid.len() <= 64
        && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !uid.starts_with('.')
        && !uid.ends_with('.')
        && !uid.contains("..");
    if ok {
        Ok(())
    } else {
        Err(bad(format!("\"{uid}\" is not a valid UID")))
    }
}

pub(super) fn matcher(attr: &Attr, raw: &str, fuzzy: bool) -> Result<Matcher, DicomError> {
    let value = raw.trim();
    if value.is_empty() || value.chars().all(|c| c == '*') {
        return Ok(Matcher::Universal);
    }
    match attr.vr {
        "UI" => {
            let uids: Vec<String> = value
                .split(['\\', ','])
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect();
            for u in &uids {
                check_uid(u)?;
            }
            Ok(Matcher::Uids(uids))
        }
        "DA" => {
            let (lo, hi) = split_range(value);
            let norm = |s: &str| -> Result<Option<String>, DicomError> {
                if s.is_empty() {
                    return Ok(None);
                }
                let d: String = s.chars().filter(|c| *c != '.').collect();
                if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(Some(d))
                } else {
                    Err(bad(format!(
                        "{}: \"{raw}\" is not a date or date range (YYYYMMDD, YYYYMMDD-YYYYMMDD, -YYYYMMDD, YYYYMMDD-)",
                        attr.keyword
                    )))
                }
            };
            match hi {
                None => {
                    let d = norm(lo)?;
                    Ok(Matcher::Range(d.clone(), d))
                }
                Some(hi) => {
                    let (lo, hi) = (norm(lo)?, norm(hi)?);
                    if lo.is_none() && hi.is_none() {
                        return Err(bad(format!(
                            "{}: \"{raw}\" is not a date range",
                            attr.keyword
                        )));
                    }
                    Ok(Matcher::Range(lo, hi))
                }
            }
        }
        "TM" => {
            let (lo, hi) = split_range(value);
            let bad_tm = || {
                bad(format!(
                    "{}: \"{raw}\" is not a time or time range (HHMMSS[.F], with '-' for a range)",
                    attr.keyword
                ))
            };
            match hi {
                None => {
                    let l = norm_time(lo, false).ok_or_else(bad_tm)?;
                    let h = norm_time(lo, true).ok_or_else(bad_tm)?;
                    Ok(Matcher::Range(Some(l), Some(h)))
                }
                Some(hi) => {
                    let l = if lo.is_empty() {
                        None
                    } else {
                        Some(norm_time(lo, false).ok_or_else(bad_tm)?)
                    };
                    let h = if hi.is_empty() {
                        None
                    } else {
                        Some(norm_time(hi, true).ok_or_else(bad_tm)?)
                    };
                    if l.is_none() && h.is_none() {
                        return Err(bad_tm());
                    }
                    Ok(Matcher::Range(l, h))
                }
            }
        }
        "IS" | "US" | "SS" | "UL" | "SL" | "UV" | "SV" => {
            numbers(value, attr.keyword, "an integer", |v| v.parse::<i64>().ok()).map(Matcher::Numbers)
        }
        "DS" | "FL" | "FD" => numbers(value, attr.keyword, "a decimal number", |v| {
            v.parse::<f64>().ok().filter(|x| x.is_finite())
        })
        .map(Matcher::Decimals),
        "PN" => {
            // Only the alphabetic group is matched; a PN never contains a backslash.
            let values = value
                .split('\\')
                .map(|v| v.split('=').next().unwrap_or("").trim().to_owned())
                .collect();
            Ok(Matcher::Patterns {
                values,
                ci: true,
                fuzzy,
            })
        }
        "CS" => Ok(Matcher::Patterns {
            values: value
                .split(['\\', ','])
                .map(|v| v.trim().to_owned())
                .collect(),
            ci: false,
            fuzzy: false,
        }),
        _ => Ok(Matcher::Patterns {
            values: value.split('\\').map(|v| v.trim().to_owned()).collect(),
            ci: false,
            fuzzy: false,
        }),
    }
}

/// `a-b`, `-b`, `a-`: (a, Some(b)); a single value: (v, None).
pub(super) fn split_range(value: &str) -> (&str, Option<&str>) {
    match value.find('-') {
        Some(i) => (value[..i].trim(), Some(value[i + 1..].trim())),
        None => (value, None),
    }
}

/// TM → "HHMMSS.ffffff"; `upper` fills what is missing with the largest value (inclusive end).
pub(super) fn norm_time(tm: &str, upper: bool) -> Option<String> {
    let tm = tm.trim().replace(':', "");
    let (main, frac) = match tm.split_once('.') {
        Some((m, f)) => (m.to_owned(), f.to_owned()),
        None => (tm.clone(), String::new()),
    };
    if main.is_empty()
        || main.len() > 6
        || main.len() % 2 == 1
        || !main.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 6
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (!frac.is_empty() && main.len() != 6)
    {
        return None;
    }
    let mut out = main.clone();
    while out.len() < 6 {
        out.push_str(if upper { "59" } else { "00" });
    }
    let mut f = frac;
    let fill = if upper { '9' } else { '0' };
    while f.len() < 6 {
        f.push(fill);
    }
    Some(format!("{out}.{f}"))
}
