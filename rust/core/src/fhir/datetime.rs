//! DICOM DA/TM/TimezoneOffsetFromUTC → FHIR `date` / `dateTime`.
//! FHIR requires a zone whenever a time is given, and seconds with it.

/// `YYYYMMDD` (or the ACR-NEMA `YYYY.MM.DD`) → `YYYY-MM-DD`, checking the calendar.
pub fn date(da: &str) -> Result<String, String> {
    let da = da.trim();
    let digits: String = if da.len() == 10 && da.as_bytes()[4] == b'.' && da.as_bytes()[7] == b'.' {
        da.replace('.', "")
    } else {
        da.to_string()
    };
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{da}' is not a DICOM date (YYYYMMDD)"));
    }
    let y: u32 = digits[0..4].parse().unwrap_or(0);
    let m: u32 = digits[4..6].parse().unwrap_or(0);
    let d: u32 = digits[6..8].parse().unwrap_or(0);
    // FHIR's date pattern has no year 0000.
    if y == 0 || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return Err(format!("'{da}' is not a valid calendar date"));
    }
    Ok(format!(
        "{}-{}-{}",
        &digits[0..4],
        &digits[4..6],
        &digits[6..8]
    ))
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// `HH[MM[SS[.F{1,6}]]]` (or the ACR-NEMA `HH:MM:SS`) → `hh:mm:ss[.f]`; missing parts are zero.
pub fn time(tm: &str) -> Result<String, String> {
    let tm = tm.trim();
    let bad = || format!("'{tm}' is not a DICOM time (HHMMSS.FFFFFF)");
    let (main, frac) = match tm.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (tm, None),
    };
    let main: String = if main.contains(':') {
        main.replace(':', "")
    } else {
        main.to_string()
    };
    if !matches!(main.len(), 2 | 4 | 6) || !main.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if let Some(f) = frac {
        // a fraction is only allowed after seconds
        if main.len() != 6 || f.is_empty() || f.len() > 6 || !f.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
    }
    let hh = &main[0..2];
    let mm = main.get(2..4).unwrap_or("00");
    let ss = main.get(4..6).unwrap_or("00");
    let (h, m, s): (u32, u32, u32) = (
        hh.parse().map_err(|_| bad())?,
        mm.parse().map_err(|_| bad())?,
        ss.parse().map_err(|_| bad())?,
    );
    // DICOM and FHIR both allow a leap second (60).
    if h > 23 || m > 59 || s > 60 {
        return Err(format!("'{tm}' is not a valid time of day"));
    }
    Ok(match frac {
        Some(f) => format!("{hh}:{mm}:{ss}.{f}"),
        None => format!("{hh}:{mm}:{ss}"),
    })
}

/// `+HHMM`/`-HHMM` (DICOM), `+HH:MM` or `Z` → FHIR zone `+hh:mm` / `Z`.
/// FHIR accepts -13:59..+14:00 either way of the sign, hours 00..14.
pub fn offset(tz: &str) -> Result<String, String> {
    let tz = tz.trim();
    if tz == "Z" {
        return Ok("Z".into());
    }
    let bad = || format!("'{tz}' is not a UTC offset (+HHMM)");
    let (sign, rest) = match tz.as_bytes().first() {
        Some(b'+') => ('+', &tz[1..]),
        Some(b'-') => ('-', &tz[1..]),
        _ => return Err(bad()),
    };
    let digits: String = match rest.len() {
        5 if rest.as_bytes()[2] == b':' => rest.replace(':', ""),
        _ => rest.to_string(),
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let h: u32 = digits[0..2].parse().map_err(|_| bad())?;
    let m: u32 = digits[2..4].parse().map_err(|_| bad())?;
    if m > 59 || h > 14 || (h == 14 && m != 0) {
        return Err(format!("'{tz}' is outside the UTC offsets FHIR allows"));
    }
    Ok(format!("{sign}{}:{}", &digits[0..2], &digits[2..4]))
}

/// DA [+ TM + zone] → FHIR dateTime. Without a zone (already in FHIR form) the time is
/// dropped, since FHIR forbids a time without zone. Errors name the bad part.
#[cfg_attr(not(test), allow(dead_code))] // no caller since the modules are private; kept with its tests
pub fn date_time(da: &str, tm: Option<&str>, zone: Option<&str>) -> Result<String, String> {
    let d = date(da)?;
    match (tm.map(str::trim).filter(|t| !t.is_empty()), zone) {
        (Some(t), Some(z)) => Ok(format!("{d}T{}{z}", time(t)?)),
        _ => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date("20040119").unwrap(), "2004-01-19");
        assert_eq!(date("2004.01.19").unwrap(), "2004-01-19");
        assert_eq!(date("20000229").unwrap(), "2000-02-29");
        assert!(date("19000229").is_err());
        assert!(date("20041301").is_err());
        assert!(date("00000101").is_err());
        assert!(date("2004011").is_err());
        assert!(date("2004-01-19").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(time("072730").unwrap(), "07:27:30");
        assert_eq!(time("0727").unwrap(), "07:27:00");
        assert_eq!(time("07").unwrap(), "07:00:00");
        assert_eq!(time("072730.123").unwrap(), "07:27:30.123");
        assert_eq!(time("07:27:30").unwrap(), "07:27:30");
        assert_eq!(time("235960").unwrap(), "23:59:60");
        assert!(time("240000").is_err());
        assert!(time("0727.5").is_err());
        assert!(time("072730.1234567").is_err());
        assert!(time("7").is_err());
    }

    #[test]
    fn offsets() {
        assert_eq!(offset("-0500").unwrap(), "-05:00");
        assert_eq!(offset("+01:00").unwrap(), "+01:00");
        assert_eq!(offset("+1400").unwrap(), "+14:00");
        assert_eq!(offset("Z").unwrap(), "Z");
        assert!(offset("+1401").is_err());
        assert!(offset("0500").is_err());
        assert!(offset("+5").is_err());
    }

    #[test]
    fn date_times() {
        assert_eq!(
            date_time("20040119", Some("072730"), Some("-05:00")).unwrap(),
            "2004-01-19T07:27:30-05:00"
        );
        assert_eq!(
            date_time("20040119", Some("072730"), None).unwrap(),
            "2004-01-19"
        );
        assert_eq!(
            date_time("20040119", None, Some("+01:00")).unwrap(),
            "2004-01-19"
        );
        assert!(date_time("20040119", Some("99"), Some("Z")).is_err());
    }
}
