//! Type inference and coercion of JSON values (dlt's `py_type_to_sc_type`, `iso_timestamp`
//! detection and `coerce_value`), producing [`Cell`]s ready to be appended to Arrow builders.

use base64::Engine;
use chrono::NaiveDate;
use serde_json::Value;
use sluice_core::DataType;

/// Largest number of decimal digits a `Decimal128` holds.
pub(crate) const MAX_DECIMAL_DIGITS: usize = 38;

/// One value of a row, already in the physical form of its target column.
#[derive(Debug, Clone)]
pub(crate) enum Cell<'a> {
    /// Text borrowed from the item.
    Str(&'a str),
    /// A JSON value serialized when appended.
    Json(&'a Value),
    /// bigint.
    I64(i64),
    /// double.
    F64(f64),
    /// bool.
    Bool(bool),
    /// decimal / wei, unscaled at the column's scale.
    Dec(i128),
    /// timestamp, microseconds since the epoch (UTC).
    Micros(i64),
    /// date, days since the epoch.
    Date(i32),
    /// time of day, microseconds since midnight.
    Time(i64),
    /// binary.
    Bytes(Vec<u8>),
}

/// What a column expects from a cell.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub data_type: DataType,
    /// Precision and scale of a decimal / wei column.
    pub precision: u8,
    pub scale: i8,
}

/// Infer the data type of a JSON value that is stored as one cell.
pub(crate) fn infer(v: &Value) -> (DataType, Cell<'_>) {
    match v {
        Value::String(s) => match parse_datetime(s) {
            Some(us) => (DataType::Timestamp, Cell::Micros(us)),
            None => (DataType::Text, Cell::Str(s)),
        },
        Value::Number(n) => infer_number(n.as_str()),
        Value::Bool(b) => (DataType::Bool, Cell::Bool(*b)),
        Value::Object(_) | Value::Array(_) => (DataType::Json, Cell::Json(v)),
        // nulls never reach inference; treat defensively as json null
        Value::Null => (DataType::Json, Cell::Json(v)),
    }
}

fn infer_number(s: &str) -> (DataType, Cell<'_>) {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = s.parse::<i64>() {
            return (DataType::Bigint, Cell::I64(i));
        }
        let significant = digits.trim_start_matches('0').len();
        if significant <= MAX_DECIMAL_DIGITS
            && let Ok(i) = s.parse::<i128>()
        {
            return (DataType::Decimal, Cell::Dec(i));
        }
        return (DataType::Text, Cell::Str(s));
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() => (DataType::Double, Cell::F64(f)),
        _ => (DataType::Text, Cell::Str(s)),
    }
}

/// The text form of a value (coercion of anything into `text`).
fn as_text(v: &Value) -> Cell<'_> {
    match v {
        Value::String(s) => Cell::Str(s),
        Value::Number(n) => Cell::Str(n.as_str()),
        Value::Bool(true) => Cell::Str("true"),
        Value::Bool(false) => Cell::Str("false"),
        _ => Cell::Json(v),
    }
}

/// Coerce `v` (inferred as `from` with cell `cell`) into a column described by `to`.
/// `None` when the value does not fit: the caller then uses a variant column.
pub(crate) fn coerce<'a>(
    v: &'a Value,
    from: DataType,
    cell: &Cell<'a>,
    to: Target,
) -> Option<Cell<'a>> {
    use DataType::*;
    let text = match v {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    };
    match to.data_type {
        Text => Some(as_text(v)),
        Json => {
            let s = text?;
            serde_json::from_str::<serde::de::IgnoredAny>(s).ok()?;
            Some(Cell::Str(s))
        }
        Bigint => match (from, cell) {
            (_, Cell::I64(i)) => Some(Cell::I64(*i)),
            (_, Cell::F64(f)) => f64_to_i64(*f).map(Cell::I64),
            (_, Cell::Dec(d)) if from == Decimal => i64::try_from(*d).ok().map(Cell::I64),
            _ => parse_int(text?).map(Cell::I64),
        },
        Double => match cell {
            Cell::I64(i) => Some(Cell::F64(*i as f64)),
            Cell::F64(f) => Some(Cell::F64(*f)),
            Cell::Dec(d) if from == Decimal => Some(Cell::F64(*d as f64)),
            _ => parse_float(text?).map(Cell::F64),
        },
        Decimal | Wei => {
            let (p, s) = (to.precision, to.scale);
            match cell {
                Cell::I64(i) => rescale(*i as i128, 0, p, s).map(Cell::Dec),
                Cell::Dec(d) if from == Decimal => rescale(*d, 0, p, s).map(Cell::Dec),
                Cell::F64(_) => parse_decimal(as_number_str(v)?, p, s).map(Cell::Dec),
                _ => parse_decimal(text?.trim(), p, s).map(Cell::Dec),
            }
        }
        Bool => match cell {
            Cell::Bool(b) => Some(Cell::Bool(*b)),
            Cell::I64(i) => Some(Cell::Bool(*i != 0)),
            Cell::F64(f) => Some(Cell::Bool(*f != 0.0)),
            Cell::Dec(d) if from == Decimal => Some(Cell::Bool(*d != 0)),
            _ => str2bool(text?).map(Cell::Bool),
        },
        Timestamp => match cell {
            Cell::Micros(us) => Some(Cell::Micros(*us)),
            Cell::I64(i) => i.checked_mul(1_000_000).map(Cell::Micros),
            Cell::F64(f) => f64_seconds_to_micros(*f).map(Cell::Micros),
            _ => {
                let s = text?;
                parse_datetime(s)
                    .or_else(|| parse_date(s).map(|d| d as i64 * MICROS_PER_DAY))
                    .map(Cell::Micros)
            }
        },
        Date => match cell {
            Cell::I64(i) => i32::try_from(i.div_euclid(86_400)).ok().map(Cell::Date),
            Cell::F64(f) => f64_seconds_to_micros(*f)
                .and_then(|us| i32::try_from(us.div_euclid(MICROS_PER_DAY)).ok())
                .map(Cell::Date),
            _ => {
                let s = text?;
                parse_date(s)
                    .or_else(|| {
                        parse_datetime(s)
                            .and_then(|us| i32::try_from(us.div_euclid(MICROS_PER_DAY)).ok())
                    })
                    .map(Cell::Date)
            }
        },
        Time => parse_time(text?).map(Cell::Time),
        Binary => match cell {
            Cell::I64(i) if *i >= 0 => {
                let bytes = i.to_le_bytes();
                let len = 8 - (i.leading_zeros() as usize / 8);
                Some(Cell::Bytes(bytes[..len].to_vec()))
            }
            _ => parse_binary(text?).map(Cell::Bytes),
        },
    }
}

fn as_number_str(v: &Value) -> Option<&str> {
    match v {
        Value::Number(n) => Some(n.as_str()),
        _ => None,
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

fn f64_to_i64(f: f64) -> Option<i64> {
    if f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        Some(f as i64)
    } else {
        None
    }
}

fn f64_seconds_to_micros(f: f64) -> Option<i64> {
    let us = (f * 1e6).round();
    if us.is_finite() && us.abs() < 9.2e18 {
        Some(us as i64)
    } else {
        None
    }
}

/// An integer from text: optional sign, decimal or `0x` hexadecimal, surrounding spaces allowed.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let value = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i128::from_str_radix(hex, 16).ok()?
    } else {
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        body.parse::<i128>().ok()?
    };
    i64::try_from(if neg { -value } else { value }).ok()
}

fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if let Some(i) = parse_int(t) {
        return Some(i as f64);
    }
    // reject words Rust accepts ("inf", "NaN") that are not numbers in JSON terms
    if !t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Multiply an unscaled value at `from_scale` to `scale`, checking it fits `precision` digits.
fn rescale(v: i128, from_scale: i8, precision: u8, scale: i8) -> Option<i128> {
    let diff = scale as i32 - from_scale as i32;
    let out = if diff >= 0 {
        v.checked_mul(10i128.checked_pow(diff as u32)?)?
    } else {
        let d = 10i128.checked_pow((-diff) as u32)?;
        if v % d != 0 {
            return None;
        }
        v / d
    };
    fits_precision(out, precision).then_some(out)
}

fn fits_precision(v: i128, precision: u8) -> bool {
    match 10i128.checked_pow(precision as u32) {
        Some(limit) => v.unsigned_abs() < limit as u128,
        None => true,
    }
}

/// A decimal from text such as `-12.345` or `1.5e3`, at `scale`; `None` when digits beyond the
/// scale are not zero or the value does not fit `precision`.
pub(crate) fn parse_decimal(s: &str, precision: u8, scale: i8) -> Option<i128> {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (neg, body) = match mantissa.as_bytes().first() {
        Some(b'-') => (true, &mantissa[1..]),
        Some(b'+') => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (int_part, frac_part) = match body.find('.') {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    // value = digits * 10^(exp - frac_len); we want value * 10^scale
    let shift = exp - frac_part.len() as i32 + scale as i32;
    let mut unscaled: i128 = if digits.is_empty() {
        0
    } else {
        if digits.len() > 39 {
            return None;
        }
        digits.parse::<i128>().ok()?
    };
    if shift >= 0 {
        unscaled = unscaled.checked_mul(10i128.checked_pow(shift as u32)?)?;
    } else {
        let d = 10i128.checked_pow((-shift) as u32);
        match d {
            Some(d) => {
                if unscaled % d != 0 {
                    return None;
                }
                unscaled /= d;
            }
            None if unscaled == 0 => {}
            None => return None,
        }
    }
    let v = if neg { -unscaled } else { unscaled };
    fits_precision(v, precision).then_some(v)
}

fn str2bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn parse_binary(s: &str) -> Option<Vec<u8>> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.len() % 2 != 0 {
            return None;
        }
        return (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
    }
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// `YYYY-MM-DD` at the start of `b`, as days since the epoch.
fn date_prefix(b: &[u8]) -> Option<i32> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits(b, 0, 4)? as i32;
    let m = digits(b, 5, 2)?;
    let d = digits(b, 8, 2)?;
    let date = NaiveDate::from_ymd_opt(y, m, d)?;
    Some(
        date.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1)?)
            .num_days() as i32,
    )
}

/// A date-only string `YYYY-MM-DD`.
pub(crate) fn parse_date(s: &str) -> Option<i32> {
    let b = s.trim().as_bytes();
    if b.len() != 10 {
        return None;
    }
    date_prefix(b)
}

/// `HH:MM[:SS[.ffffff]]` at the start of `b`: (microseconds since midnight, bytes consumed).
fn time_prefix(b: &[u8]) -> Option<(i64, usize)> {
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let h = digits(b, 0, 2)?;
    let mi = digits(b, 3, 2)?;
    let mut pos = 5;
    let mut sec = 0;
    let mut micros = 0u32;
    if b.get(pos) == Some(&b':') {
        sec = digits(b, pos + 1, 2)?;
        pos += 3;
        if matches!(b.get(pos), Some(b'.') | Some(b',')) {
            pos += 1;
            let start = pos;
            let mut scale = 100_000u32;
            while let Some(c) = b.get(pos).filter(|c| c.is_ascii_digit()) {
                micros += (c - b'0') as u32 * scale;
                scale /= 10;
                pos += 1;
            }
            if pos == start {
                return None;
            }
        }
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    Some((
        ((h as i64 * 60 + mi as i64) * 60 + sec as i64) * 1_000_000 + micros as i64,
        pos,
    ))
}

/// A time-of-day string.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let (us, used) = time_prefix(b)?;
    (used == b.len()).then_some(us)
}

/// An ISO-8601 date-time (date and time; `T`, `t` or space separator; optional fraction; `Z`,
/// `±hh:mm`, `±hhmm` or `±hh` offset; naive means UTC) as microseconds since the epoch.
/// A date without time is not a date-time.
pub(crate) fn parse_datetime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    // cheap rejection first: most strings are not timestamps
    if b.len() < 16 || !b[0].is_ascii_digit() || b[4] != b'-' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let days = date_prefix(b)? as i64;
    let (tod, used) = time_prefix(&b[11..])?;
    let rest = &b[11 + used..];
    let offset_secs: i64 = match rest {
        [] => 0,
        [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (h, m) = match tail.len() {
                2 => (digits(tail, 0, 2)?, 0),
                4 => (digits(tail, 0, 2)?, digits(tail, 2, 2)?),
                5 if tail[2] == b':' => (digits(tail, 0, 2)?, digits(tail, 3, 2)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h as i64 * 60 + m as i64) * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    Some(days * MICROS_PER_DAY + tod - offset_secs * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn datetimes_parse_and_dates_do_not() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_datetime("1970-01-01 00:00:01"), Some(1_000_000));
        assert_eq!(parse_datetime("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_datetime("1970-01-01T01:00:00+0100"), Some(0));
        assert_eq!(
            parse_datetime("1970-01-01T00:00:00.5-00:30"),
            Some(1_800_500_000)
        );
        assert_eq!(parse_datetime("1970-01-01T00:00"), Some(0));
        assert_eq!(parse_datetime("1970-01-01"), None);
        assert_eq!(parse_datetime("1970-13-01T00:00:00Z"), None);
        assert_eq!(parse_datetime("1970-01-01T00:00:00Zjunk"), None);
        assert_eq!(parse_datetime("not a timestamp at all"), None);
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_time("01:00:00.25"), Some(3_600_250_000));
    }

    #[test]
    fn numbers_infer_bigint_double_decimal_text() {
        assert!(matches!(infer(&json!(5)), (DataType::Bigint, Cell::I64(5))));
        assert!(matches!(infer(&json!(1.5)), (DataType::Double, Cell::F64(f)) if f == 1.5));
        let big: Value = serde_json::from_str("9223372036854775808").unwrap();
        assert!(
            matches!(infer(&big), (DataType::Decimal, Cell::Dec(d)) if d == 9_223_372_036_854_775_808)
        );
        let huge: Value = serde_json::from_str(&"9".repeat(45)).unwrap();
        assert!(matches!(infer(&huge), (DataType::Text, Cell::Str(s)) if s.len() == 45));
    }

    #[test]
    fn decimals_parse_at_scale() {
        assert_eq!(parse_decimal("12.34", 38, 2), Some(1234));
        assert_eq!(parse_decimal("-1.5e2", 38, 0), Some(-150));
        assert_eq!(parse_decimal("1.234", 38, 2), None);
        assert_eq!(parse_decimal("123", 2, 0), None);
        assert_eq!(parse_int(" 0x10 "), Some(16));
        assert_eq!(parse_int("5"), Some(5));
        assert_eq!(parse_int("5.5"), None);
    }
}
