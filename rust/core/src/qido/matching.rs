//! QIDO-RS: DICOM attribute matching (PS3.4 C.2.2.2).

use serde_json::Value;

use crate::qido::query::{norm_time, Filter, Matcher};

/// String forms of an element's values (PN: the alphabetic group).
pub(super) fn values_of(elem: Option<&Value>) -> Vec<String> {
    let Some(vals) = elem.and_then(|e| e.get("Value")).and_then(Value::as_array) else {
        return Vec::new();
    };
    vals.iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Object(o) => o
                .get("Alphabetic")
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// `*` any run, `?` any one character (PS3.4 C.2.2.2.4).
pub(super) fn wildcard(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(sp) = star {
            p = sp + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

pub(super) fn fold(s: &str, ci: bool) -> Vec<char> {
    let s = s.trim_end_matches([' ', '\0']).trim_start();
    if ci {
        s.to_lowercase().chars().collect()
    } else {
        s.chars().collect()
    }
}

pub(super) fn fuzzy_match(query: &str, value: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.to_lowercase()
            .split(['^', ' ', ',', '-'])
            .map(|w| w.trim_matches(['*', '?']).to_owned())
            .filter(|w| !w.is_empty())
            .collect()
    };
    let have = words(value);
    words(query)
        .iter()
        .all(|q| have.iter().any(|h| h.starts_with(q.as_str())))
}

pub(super) fn matches(filter: &Filter, elem: Option<&Value>) -> bool {
    let vals = values_of(elem);
    match &filter.matcher {
        Matcher::Universal => true,
        Matcher::Uids(u) => vals.iter().any(|v| u.contains(v)),
        Matcher::Numbers(n) => vals
            .iter()
            .any(|v| v.trim().parse::<i64>().is_ok_and(|x| n.contains(&x))),
        Matcher::Decimals(n) => vals
            .iter()
            .any(|v| v.trim().parse::<f64>().is_ok_and(|x| n.contains(&x))),
        Matcher::Range(lo, hi) => vals.iter().any(|v| {
            let v = if filter.attr.vr == "TM" {
                match norm_time(v, false) {
                    Some(t) => t,
                    None => return false,
                }
            } else {
                v.trim().to_owned()
            };
            lo.as_ref().is_none_or(|l| v.as_str() >= l.as_str())
                && hi.as_ref().is_none_or(|h| v.as_str() <= h.as_str())
        }),
        Matcher::Patterns { values, ci, fuzzy } => vals.iter().any(|v| {
            values.iter().any(|q| {
                if *fuzzy && fuzzy_match(q, v) {
                    return true;
                }
                wildcard(&fold(q, *ci), &fold(v, *ci))
            })
        }),
    }
}
