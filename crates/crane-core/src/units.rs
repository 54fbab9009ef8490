//! Units users write in specs: Kubernetes memory quantities (`128Mi`, `0.5Gi`, `500M`) and short durations
//! (`500ms`, `5s`, `1m30s`). Errors are sentences meant to be shown next to the field.

use std::time::Duration;

/// Binary and decimal suffixes Kubernetes accepts for quantities, with their multipliers.
const SUFFIXES: &[(&str, u128)] = &[
    ("Ki", 1 << 10),
    ("Mi", 1 << 20),
    ("Gi", 1 << 30),
    ("Ti", 1 << 40),
    ("Pi", 1 << 50),
    ("Ei", 1 << 60),
    ("k", 1_000),
    ("M", 1_000_000),
    ("G", 1_000_000_000),
    ("T", 1_000_000_000_000),
    ("P", 1_000_000_000_000_000),
    ("E", 1_000_000_000_000_000_000),
    ("", 1),
];

/// Parses a Kubernetes quantity into bytes: `128Mi`, `1Gi`, `500M`, `1000000`, `0.5Gi`, `1e6`.
///
/// Fractions of a byte round up, as Kubernetes does. The milli suffix `m` is refused: in a memory limit it is almost
/// always a typo for `M` or `Mi`.
pub fn parse_quantity(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("the quantity is empty".to_string());
    }
    let number_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(format!("`{s}` does not start with a number"));
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    // The number is kept as an exact fraction mantissa / 10^decimals so `0.1Gi` is not rounded through f64.
    let digits = format!("{int_part}{frac_part}");
    let mantissa: u128 = digits.parse().map_err(|_| format!("`{s}` is too large"))?;
    let mut denominator = pow10(frac_part.len()).ok_or_else(|| format!("`{s}` has too many decimals"))?;
    let multiplier = if let Some((_, m)) = SUFFIXES.iter().find(|(name, _)| *name == suffix) {
        *m
    } else if let Some(exp) = suffix.strip_prefix(['e', 'E']) {
        let exp: i32 = exp.parse().map_err(|_| format!("`{suffix}` is not a valid exponent in `{s}`"))?;
        let scale = pow10(exp.unsigned_abs() as usize).ok_or_else(|| format!("`{s}` is too large"))?;
        if exp < 0 {
            denominator = denominator.checked_mul(scale).ok_or_else(|| format!("`{s}` is too small"))?;
            1
        } else {
            scale
        }
    } else if suffix == "m" {
        return Err(format!("`{s}` is in thousandths of a byte (`m`); for megabytes write `M` or `Mi`"));
    } else {
        return Err(format!(
            "`{suffix}` is not a unit; use Ki, Mi, Gi, Ti (powers of 1024) or k, M, G, T (powers of 1000)"
        ));
    };
    let bytes = mantissa.checked_mul(multiplier).ok_or_else(|| format!("`{s}` is too large"))?.div_ceil(denominator);
    u64::try_from(bytes).map_err(|_| format!("`{s}` is too large"))
}

fn pow10(n: usize) -> Option<u128> {
    10u128.checked_pow(u32::try_from(n).ok()?)
}

/// Parses a duration such as `500ms`, `5s`, `1m`, `1h`, `1m30s` or `1.5s`. A bare `0` is accepted; any other number
/// needs a unit, because `5` alone is ambiguous.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err("the duration is empty".to_string());
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_end);
        if number.is_empty() {
            return Err(format!("`{rest}` does not start with a number"));
        }
        let unit_end = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let unit_nanos: u128 = match unit {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("`{number}` in `{text}` has no unit; add one: ms, s, m or h")),
            other => return Err(format!("`{other}` in `{text}` is not a time unit; use ms, s, m or h")),
        };
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if frac_part.contains('.') || (int_part.is_empty() && frac_part.is_empty()) {
            return Err(format!("`{number}` in `{text}` is not a number"));
        }
        let too_long = || format!("`{text}` is too long");
        let digits: u128 = format!("{int_part}{frac_part}").parse().map_err(|_| too_long())?;
        let nanos =
            digits.checked_mul(unit_nanos).ok_or_else(too_long)? / pow10(frac_part.len()).ok_or_else(too_long)?;
        let part = Duration::from_nanos(u64::try_from(nanos).map_err(|_| too_long())?);
        total = total.checked_add(part).ok_or_else(too_long)?;
        rest = next;
    }
    Ok(total)
}

/// Formats a duration in milliseconds the way users write them: `500ms`, `2s`, `1.5s`, `1m30s`.
pub fn format_millis(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        let (seconds, rest) = (ms / 1000, ms % 1000);
        return if rest == 0 {
            format!("{seconds}s")
        } else {
            // One decimal is enough for a human reading a backoff or a timeout.
            format!("{:.1}s", ms as f64 / 1000.0).replace(".0s", "s")
        };
    }
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_quantity(input: &str, expected: Result<u64, &str>) {
        assert_eq!(parse_quantity(input), expected.map_err(str::to_string), "quantity {input:?}");
    }

    #[test]
    fn quantities() {
        check_quantity("128Mi", Ok(128 * 1024 * 1024));
        check_quantity("256Mi", Ok(256 * 1024 * 1024));
        check_quantity("1Gi", Ok(1 << 30));
        check_quantity("0.5Gi", Ok(1 << 29));
        check_quantity("500M", Ok(500_000_000));
        check_quantity("1000000", Ok(1_000_000));
        check_quantity("1.5k", Ok(1500));
        check_quantity("1e6", Ok(1_000_000));
        check_quantity("12E6", Ok(12_000_000));
        check_quantity("2E", Ok(2_000_000_000_000_000_000));
        check_quantity("0.1", Ok(1));
        check_quantity("6Mi", Ok(6 * 1024 * 1024));
        check_quantity("", Err("the quantity is empty"));
        check_quantity("Mi", Err("`Mi` does not start with a number"));
        check_quantity("1.2.3Mi", Err("`1.2.3Mi` does not start with a number"));
        check_quantity("-1Gi", Err("`-1Gi` does not start with a number"));
        check_quantity(
            "256MB",
            Err("`MB` is not a unit; use Ki, Mi, Gi, Ti (powers of 1024) or k, M, G, T (powers of 1000)"),
        );
        check_quantity("128m", Err("`128m` is in thousandths of a byte (`m`); for megabytes write `M` or `Mi`"));
        check_quantity("99999999999Ei", Err("`99999999999Ei` is too large"));
    }

    fn check_duration(input: &str, expected: Result<u64, &str>) {
        let got = parse_duration(input).map(|d| d.as_millis() as u64);
        assert_eq!(got, expected.map_err(str::to_string), "duration {input:?}");
    }

    #[test]
    fn durations() {
        check_duration("500ms", Ok(500));
        check_duration("5s", Ok(5000));
        check_duration("1m", Ok(60_000));
        check_duration("1h", Ok(3_600_000));
        check_duration("1m30s", Ok(90_000));
        check_duration("1.5s", Ok(1500));
        check_duration("0", Ok(0));
        check_duration("0s", Ok(0));
        check_duration("", Err("the duration is empty"));
        check_duration("5", Err("`5` in `5` has no unit; add one: ms, s, m or h"));
        check_duration("5x", Err("`x` in `5x` is not a time unit; use ms, s, m or h"));
        check_duration("s", Err("`s` does not start with a number"));
        check_duration("1..5s", Err("`1..5` in `1..5s` is not a number"));
    }

    #[test]
    fn millis_formatting() {
        for (ms, text) in [(0, "0ms"), (500, "500ms"), (1000, "1s"), (1500, "1.5s"), (30_000, "30s"), (90_000, "1m30s")]
        {
            assert_eq!(format_millis(ms), text);
        }
    }
}
