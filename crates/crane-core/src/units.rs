//! Units users write in specs: Kubernetes memory quantities (`128Mi`, `0.5Gi`, `500M`, `1e8`) and short durations
//! (`500ms`, `5s`, `1m30s`). Errors are sentences meant to be shown next to the field.
//!
//! This module is the one parser of each quantity: the typed spec ([`Bytes`], [`Duration`]) deserializes through it,
//! validation reports its errors, and the Docker adapter, the engine and the CLI read the typed values or call it, so
//! a value accepted in one place is accepted everywhere.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

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
/// needs a unit, because `5` alone is ambiguous. Fractions of a millisecond round up, so a duration written as more
/// than zero never becomes zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err("the duration is empty".to_string());
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = std::time::Duration::ZERO;
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
        let part = std::time::Duration::from_nanos(u64::try_from(nanos).map_err(|_| too_long())?);
        total = total.checked_add(part).ok_or_else(too_long)?;
        rest = next;
    }
    // At most u64::MAX nanoseconds, so the milliseconds fit too.
    Ok(Duration::from_millis(total.as_nanos().div_ceil(1_000_000) as u64))
}

/// Prometheus' duration units, largest first, with their length in milliseconds. A Prometheus duration names each
/// unit at most once, in this order (`1h30m`, not `30m1h`), with whole numbers only.
const PROMETHEUS_UNITS: &[(&str, u64)] = &[
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a duration in Prometheus' syntax (`30s`, `5m`, `1h30m`, `2d`, `1w`, `500ms`, or a bare `0`), as rule files
/// and PromQL write them: whole numbers, units from `y` down to `ms`, each at most once and largest first. Crane's
/// own spec durations ([`parse_duration`]) also accept fractions (`1.5s`), which Prometheus refuses, so alert rules
/// go through this parser: a rule Crane accepts is one Prometheus accepts.
pub fn parse_prometheus_duration(s: &str) -> Result<Duration, String> {
    if s.is_empty() {
        return Err("the duration is empty".to_string());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total: u64 = 0;
    // Index into PROMETHEUS_UNITS of the next unit allowed: each unit comes after the previous one.
    let mut next_unit = 0;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_end);
        if number.is_empty() {
            let fix = if rest.starts_with('.') {
                "; Prometheus durations are whole numbers (`1500ms`, not `1.5s`)"
            } else {
                ""
            };
            return Err(format!("`{rest}` in `{s}` does not start with a whole number{fix}"));
        }
        let unit_end = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let Some(position) = PROMETHEUS_UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(if unit.is_empty() {
                format!("`{number}` in `{s}` has no unit; add one: ms, s, m, h, d, w or y")
            } else if unit.starts_with('.') {
                format!("`{s}` has a fraction; Prometheus durations are whole numbers (`1500ms`, not `1.5s`)")
            } else {
                format!("`{unit}` in `{s}` is not a time unit; use ms, s, m, h, d, w or y")
            });
        };
        if position < next_unit {
            return Err(format!(
                "`{s}` names its units out of order or twice; write each unit once, largest first (e.g. `1h30m`)"
            ));
        }
        next_unit = position + 1;
        let too_long = || format!("`{s}` is too long");
        let n: u64 = number.parse().map_err(|_| too_long())?;
        let part = n.checked_mul(PROMETHEUS_UNITS[position].1).ok_or_else(too_long)?;
        total = total.checked_add(part).ok_or_else(too_long)?;
        rest = next;
    }
    // Prometheus keeps durations as Go's time.Duration (int64 nanoseconds).
    if total > i64::MAX as u64 / 1_000_000 {
        return Err(format!("`{s}` is too long"));
    }
    Ok(Duration::from_millis(total))
}

/// A duration in Prometheus' canonical text, as Prometheus itself prints one (`1h30m`, `90d`, `1500ms` → `1s500ms`,
/// `0s`): years and weeks only when they divide it exactly. [`parse_prometheus_duration`] reads it back.
pub fn format_prometheus_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (i, (unit, mult)) in PROMETHEUS_UNITS.iter().enumerate() {
        // "y" and "w" (the first two) only when exact: `90d` reads better than `12w6d`.
        if i < 2 && !ms.is_multiple_of(*mult) {
            continue;
        }
        let n = ms / mult;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            ms -= n * mult;
        }
    }
    out
}

/// A span of time in whole milliseconds, as a spec writes it (`500ms`, `5s`, `1m30s`).
///
/// It deserializes through [`parse_duration`] (so serde, validation and every caller accept exactly the same text)
/// and serializes to a canonical text ([`Duration`]'s `Display`) that parses back to the same value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Duration {
        Duration(ms)
    }

    /// A duration of `s` seconds.
    pub const fn from_secs(s: u64) -> Duration {
        Duration(s.saturating_mul(1000))
    }

    /// The length in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whether it is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The same length as a standard library duration, for timers and sleeps.
    pub const fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

impl std::str::FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s)
    }
}

impl fmt::Display for Duration {
    /// The canonical text: hours, minutes and seconds with up to three decimals (`1h`, `1m30s`, `1.5s`), or
    /// milliseconds below a second (`500ms`); `0s` for zero. Exact, unlike [`format_millis`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        match (s, frac) {
            (0, 0) => Ok(()),
            (s, 0) => write!(f, "{s}s"),
            (0, frac) => write!(f, "{frac}ms"),
            (s, frac) => write!(f, "{s}.{}s", format!("{frac:03}").trim_end_matches('0')),
        }
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.to_std()
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = deserializer.deserialize_str(TextVisitor("a duration such as `500ms`, `5s` or `1m30s`"))?;
        parse_duration(&text).map_err(de::Error::custom)
    }
}

/// A memory size in bytes, as a spec writes it: a Kubernetes quantity (`128Mi`, `0.5Gi`, `500M`, `1e8`).
///
/// It deserializes through [`parse_quantity`] and serializes to a canonical text (the largest unit that divides it
/// exactly, binary first: `128Mi`, `100M`, or plain bytes) that parses back to the same value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(u64);

impl Bytes {
    /// `n` bytes.
    pub const fn new(n: u64) -> Bytes {
        Bytes(n)
    }

    /// The size in bytes.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl std::str::FromStr for Bytes {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_quantity(s).map(Bytes)
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n == 0 {
            return f.write_str("0");
        }
        // Binary units first (memory limits are usually written in Mi and Gi), largest first; the empty suffix is
        // the last entry of SUFFIXES, so plain bytes are the fallback.
        let binary = SUFFIXES.iter().filter(|(s, _)| s.ends_with('i')).rev();
        let decimal = SUFFIXES.iter().filter(|(s, _)| !s.ends_with('i')).rev();
        let unit = binary.chain(decimal).find(|(s, m)| !s.is_empty() && u128::from(n) % m == 0);
        match unit {
            Some((suffix, m)) => write!(f, "{}{suffix}", u128::from(n) / m),
            None => write!(f, "{n}"),
        }
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = deserializer.deserialize_str(TextVisitor("a memory quantity such as `128Mi`, `1Gi` or `500M`"))?;
        parse_quantity(&text).map(Bytes).map_err(de::Error::custom)
    }
}

/// Reads a value as the text the user wrote, so one parser sees it whatever type YAML gives it: serde_norway hands a
/// plain scalar such as `1e8` or `0` over as its text; other formats may hand over a number, which is printed back.
struct TextVisitor(&'static str);

impl de::Visitor<'_> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// A CPU limit in cores (`0.5`) as Docker's `NanoCpus` (billionths of a core); `None` unless it is a positive,
/// finite number.
pub fn nano_cpus(cores: f64) -> Option<i64> {
    (cores > 0.0 && cores.is_finite()).then(|| (cores * 1e9).round() as i64)
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

    /// What one input must give.
    enum Expect {
        /// Parses as a quantity of this many bytes.
        Size(u64),
        /// Parses as a duration of this many milliseconds.
        Millis(u64),
        /// Is refused as a quantity with this message.
        NotSize(&'static str),
        /// Is refused as a duration with this message.
        NotDuration(&'static str),
    }
    use Expect::*;

    /// Checks one input against the parser its expectation names, and that an accepted value's canonical text (and
    /// its YAML and JSON forms) parse back to the same value.
    fn check(input: &str, expected: Expect) {
        match expected {
            Size(n) => {
                let got = parse_quantity(input).map(Bytes::new);
                assert_eq!(got, Ok(Bytes::new(n)), "quantity {input:?}");
                let value = Bytes::new(n);
                assert_eq!(value.to_string().parse(), Ok(value), "canonical text {value}");
                let yaml = serde_norway::to_string(&value).unwrap();
                assert_eq!(serde_norway::from_str::<Bytes>(&yaml).unwrap(), value, "yaml {yaml}");
                let json = serde_json::to_string(&value).unwrap();
                assert_eq!(serde_json::from_str::<Bytes>(&json).unwrap(), value, "json {json}");
                // A plain YAML scalar reaches the same parser as the text.
                assert_eq!(serde_norway::from_str::<Bytes>(input).ok(), Some(value), "plain yaml {input:?}");
            }
            Millis(ms) => {
                let value = Duration::from_millis(ms);
                assert_eq!(parse_duration(input), Ok(value), "duration {input:?}");
                assert_eq!(value.to_string().parse(), Ok(value), "canonical text {value}");
                let yaml = serde_norway::to_string(&value).unwrap();
                assert_eq!(serde_norway::from_str::<Duration>(&yaml).unwrap(), value, "yaml {yaml}");
                let json = serde_json::to_string(&value).unwrap();
                assert_eq!(serde_json::from_str::<Duration>(&json).unwrap(), value, "json {json}");
                assert_eq!(serde_norway::from_str::<Duration>(input).ok(), Some(value), "plain yaml {input:?}");
            }
            NotSize(message) => {
                assert_eq!(parse_quantity(input), Err(message.to_string()), "quantity {input:?}");
                if !input.is_empty() {
                    let err = serde_norway::from_str::<Bytes>(input).unwrap_err().to_string();
                    assert!(err.starts_with(message), "serde refuses {input:?} with the parser's message: {err}");
                }
            }
            NotDuration(message) => {
                assert_eq!(parse_duration(input), Err(message.to_string()), "duration {input:?}");
                if !input.is_empty() {
                    let err = serde_norway::from_str::<Duration>(input).unwrap_err().to_string();
                    assert!(err.starts_with(message), "serde refuses {input:?} with the parser's message: {err}");
                }
            }
        }
    }

    #[test]
    fn quantities() {
        check("1e8", Size(100_000_000));
        check("512Mi", Size(512 << 20));
        check("0.5Gi", Size(1 << 29));
        check("128Mi", Size(128 << 20));
        check("1Gi", Size(1 << 30));
        check("500M", Size(500_000_000));
        check("1000000", Size(1_000_000));
        check("100000001", Size(100_000_001));
        check("1.5k", Size(1500));
        check("1e6", Size(1_000_000));
        check("12E6", Size(12_000_000));
        check("2E", Size(2_000_000_000_000_000_000));
        check("0.1", Size(1));
        check("6Mi", Size(6 << 20));
        check("0", Size(0));
        check("", NotSize("the quantity is empty"));
        check("Mi", NotSize("`Mi` does not start with a number"));
        check("1.2.3Mi", NotSize("`1.2.3Mi` does not start with a number"));
        check("-1Gi", NotSize("`-1Gi` does not start with a number"));
        check(
            "256MB",
            NotSize("`MB` is not a unit; use Ki, Mi, Gi, Ti (powers of 1024) or k, M, G, T (powers of 1000)"),
        );
        check("128m", NotSize("`128m` is in thousandths of a byte (`m`); for megabytes write `M` or `Mi`"));
        check("1ex", NotSize("`ex` is not a valid exponent in `1ex`"));
        check("99999999999Ei", NotSize("`99999999999Ei` is too large"));
    }

    #[test]
    fn durations() {
        check("30s", Millis(30_000));
        check("1m30s", Millis(90_000));
        check("1500ms", Millis(1500));
        check("500ms", Millis(500));
        check("5s", Millis(5000));
        check("1m", Millis(60_000));
        check("1h", Millis(3_600_000));
        check("1h0m1.25s", Millis(3_601_250));
        check("1.5s", Millis(1500));
        check("0.5ms", Millis(1));
        check("0", Millis(0));
        check("0s", Millis(0));
        check("", NotDuration("the duration is empty"));
        check("5", NotDuration("`5` in `5` has no unit; add one: ms, s, m or h"));
        check("5x", NotDuration("`x` in `5x` is not a time unit; use ms, s, m or h"));
        check("1d", NotDuration("`d` in `1d` is not a time unit; use ms, s, m or h"));
        check("s", NotDuration("`s` does not start with a number"));
        check("1..5s", NotDuration("`1..5` in `1..5s` is not a number"));
        check("99999999999999h", NotDuration("`99999999999999h` is too long"));
    }

    #[test]
    fn canonical_texts() {
        for (ms, text) in
            [(0, "0s"), (500, "500ms"), (1500, "1.5s"), (1250, "1.25s"), (90_000, "1m30s"), (60_500, "1m500ms")]
        {
            assert_eq!(Duration::from_millis(ms).to_string(), text);
        }
        for (n, text) in [(0, "0"), (100_000_000, "100M"), (1 << 30, "1Gi"), (1_024_000, "1000Ki"), (1001, "1001")] {
            assert_eq!(Bytes::new(n).to_string(), text);
        }
    }

    #[test]
    fn millis_formatting() {
        for (ms, text) in [(0, "0ms"), (500, "500ms"), (1000, "1s"), (1500, "1.5s"), (30_000, "30s"), (90_000, "1m30s")]
        {
            assert_eq!(format_millis(ms), text);
        }
    }

    #[test]
    fn prometheus_durations() {
        for (text, ms) in [
            ("0", 0),
            ("0s", 0),
            ("30s", 30_000),
            ("1m", 60_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("1s500ms", 1500),
            ("2d", 172_800_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            ("1h0m5s", 3_605_000),
        ] {
            let d = parse_prometheus_duration(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(d.as_millis(), ms, "{text}");
            let canonical = format_prometheus_duration(d);
            assert_eq!(parse_prometheus_duration(&canonical), Ok(d), "canonical {canonical}");
        }
        for (text, message) in [
            ("", "the duration is empty"),
            ("5", "`5` in `5` has no unit; add one: ms, s, m, h, d, w or y"),
            ("1.5s", "`1.5s` has a fraction; Prometheus durations are whole numbers (`1500ms`, not `1.5s`)"),
            (
                "30m1h",
                "`30m1h` names its units out of order or twice; write each unit once, largest first (e.g. `1h30m`)",
            ),
            (
                "1m1m",
                "`1m1m` names its units out of order or twice; write each unit once, largest first (e.g. `1h30m`)",
            ),
            ("5x", "`x` in `5x` is not a time unit; use ms, s, m, h, d, w or y"),
            ("-5m", "`-5m` in `-5m` does not start with a whole number"),
            ("m", "`m` in `m` does not start with a whole number"),
            (" 5m", "` 5m` in ` 5m` does not start with a whole number"),
            ("99999999999999999999s", "`99999999999999999999s` is too long"),
            ("999999999y", "`999999999y` is too long"),
        ] {
            assert_eq!(parse_prometheus_duration(text), Err(message.to_string()), "{text:?}");
        }
        for (ms, text) in
            [(0, "0s"), (1500, "1s500ms"), (5_400_000, "1h30m"), (7_776_000_000, "90d"), (1_209_600_000, "2w")]
        {
            assert_eq!(format_prometheus_duration(Duration::from_millis(ms)), text);
        }
    }

    #[test]
    fn cpus() {
        assert_eq!(nano_cpus(0.5), Some(500_000_000));
        assert_eq!(nano_cpus(0.3), Some(300_000_000));
        assert_eq!(nano_cpus(0.0), None);
        assert_eq!(nano_cpus(f64::NAN), None);
    }
}
