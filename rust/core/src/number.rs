//! DS and IS values (decimal and integer strings) as numbers: the one reading of DICOM number
//! text, shared by parsing (warnings), DICOM JSON and the values QIDO reads back.

use serde_json::Number;

/// A DS value as a JSON number: integers stay integers, the rest are f64.
pub(crate) fn ds_number(s: &str) -> Option<Number> {
    let s = s.trim_matches([' ', '\0']);
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    if let Some(i) = is_number(s) {
        return Some(Number::from(i));
    }
    let f: f64 = s.parse().ok()?;
    Number::from_f64(f)
}

/// An IS value (optional sign, digits).
pub(crate) fn is_number(s: &str) -> Option<i64> {
    let s = s.trim_matches([' ', '\0']);
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.strip_prefix('+').unwrap_or(s).parse().ok()
}
