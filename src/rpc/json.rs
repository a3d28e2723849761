//! Numbers the way Core's UniValue writes them: amounts with exactly eight
//! decimals (`ValueFromAmount`) and doubles with 16 significant digits (C's
//! `%.16g`), which serde_json's shortest round-trip form does not match.

use serde_json::{Number, Value};

/// Core's UniValue type names, for its type errors.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// An amount in satoshis as Core's BTC number (`50.00000000`).
pub fn amount(sats: i64) -> Value {
    let sign = if sats < 0 { "-" } else { "" };
    let abs = sats.unsigned_abs();
    number(format!(
        "{sign}{}.{:08}",
        abs / 100_000_000,
        abs % 100_000_000
    ))
}

/// A double as `%.16g` prints it.
pub fn double(v: f64) -> Value {
    if !v.is_finite() {
        return Value::Null;
    }
    number(format_g16(v))
}

fn number(text: String) -> Value {
    Value::Number(Number::from_string_unchecked(text))
}

/// C's `%.16g`.
pub fn format_g16(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{v:.15e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..16).contains(&exp) {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let decimals = (15 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_and_amounts_print_as_core() {
        assert_eq!(format_g16(4.6565423739069247e-10), "4.656542373906925e-10");
        assert_eq!(format_g16(1.0), "1");
        assert_eq!(format_g16(0.5), "0.5");
        assert_eq!(format_g16(123456.789), "123456.789");
        assert_eq!(format_g16(1e20), "1e+20");
        assert_eq!(format_g16(0.0001), "0.0001");
        assert_eq!(format_g16(0.00001), "1e-05");
        assert_eq!(amount(5_000_000_000).to_string(), "50.00000000");
        assert_eq!(amount(-1).to_string(), "-0.00000001");
        assert_eq!(amount(0).to_string(), "0.00000000");
    }
}
