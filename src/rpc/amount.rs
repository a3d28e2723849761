//! Core's AmountFromValue: a BTC amount given as a JSON number or string,
//! read exactly (never through floating point) with ParseFixedPoint's grammar
//! and limits, and Core's error codes and messages.

use serde_json::Value;

use super::protocol::code;
use super::RpcError;

/// Every satoshi there will ever be (Core's MAX_MONEY).
pub const MAX_MONEY: i64 = 21_000_000 * 100_000_000;

/// Largest fixed-point mantissa Core accepts: 18 digits.
const UPPER_BOUND: i64 = 999_999_999_999_999_999;

/// An amount in satoshis; errors as Core's AmountFromValue.
pub fn amount_from_value(v: &Value) -> Result<i64, RpcError> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => {
            return Err(RpcError::new(
                code::TYPE_ERROR,
                "Amount is not a number or string",
            ));
        }
    };
    let sats = parse_fixed_point(&text, 8)
        .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "Invalid amount"))?;
    if !(0..=MAX_MONEY).contains(&sats) {
        return Err(RpcError::new(code::TYPE_ERROR, "Amount out of range"));
    }
    Ok(sats)
}

/// Core's ParseFixedPoint: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?` as
/// a count of 10^-decimals units, when exact and at most 18 digits long.
pub fn parse_fixed_point(text: &str, decimals: i64) -> Option<i64> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (number, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], exponent(&rest[i + 1..])?),
        None => (rest, 0),
    };
    let (int, frac) = match number.split_once('.') {
        Some((_, "")) => return None,
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (int.len() > 1 && int.starts_with('0')) {
        return None;
    }
    // A lone leading 0 is not a digit of the mantissa; trailing zeros move
    // into the exponent.
    let all = if int == "0" {
        frac.to_string()
    } else {
        format!("{int}{frac}")
    };
    let significant = all.trim_end_matches('0');
    let trailing_zeros = (all.len() - significant.len()) as i64;
    let significant = significant.trim_start_matches('0');
    if significant.len() > 18 {
        return None;
    }
    let mut mantissa: i64 = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    let scale = exponent - frac.len() as i64 + trailing_zeros + decimals;
    if !(0..18).contains(&scale) {
        return None;
    }
    for _ in 0..scale {
        if mantissa > UPPER_BOUND / 10 {
            return None;
        }
        mantissa *= 10;
    }
    Some(if negative { -mantissa } else { mantissa })
}

/// The exponent after `e`: optional sign, at least one digit, bounded as Core bounds it.
fn exponent(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'+') => (false, &text[1..]),
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut e: i64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() || e > UPPER_BOUND / 10 {
            return None;
        }
        e = e * 10 + (b - b'0') as i64;
    }
    Some(if negative { -e } else { e })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_cores_parse_fixed_point() {
        let p = |s| parse_fixed_point(s, 8);
        assert_eq!(p("0"), Some(0));
        assert_eq!(p("1"), Some(100_000_000));
        assert_eq!(p("0.00000001"), Some(1));
        assert_eq!(p("1e-8"), Some(1));
        assert_eq!(p("0.1E1"), Some(100_000_000));
        assert_eq!(p("-0.5"), Some(-50_000_000));
        assert_eq!(p("20999999.99999999"), Some(2_099_999_999_999_999));
        assert_eq!(p("0.000000001"), None);
        assert_eq!(p("0.0000000100"), Some(1));
        assert_eq!(p("0e9"), Some(0));
        assert_eq!(p("0e10"), None);
        for bad in [
            "", "-", ".5", "1.", "01", "+1", "1e", "1e+", "foo", "1 ", "0x10",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn amounts_out_of_range_or_malformed_are_type_errors() {
        let e = |v: Value| amount_from_value(&v).unwrap_err().message;
        assert_eq!(e(serde_json::json!(-1)), "Amount out of range");
        assert_eq!(e(serde_json::json!("foo")), "Invalid amount");
        assert_eq!(
            e(serde_json::json!(true)),
            "Amount is not a number or string"
        );
        assert_eq!(
            amount_from_value(&serde_json::json!("0.01")).unwrap(),
            1_000_000
        );
        assert_eq!(
            amount_from_value(&serde_json::json!(21000000)).unwrap(),
            MAX_MONEY
        );
    }
}
