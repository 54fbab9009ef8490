//! Axis ranges, tick positions and tick labels.
//!
//! Plotters' own key-point search works on raw numbers, which puts time ticks at 02:46:40 and
//! value ticks at 0.3; Crane picks calendar-friendly time steps and 1-2-2.5-5 value steps itself
//! and hands the positions to plotters with `with_key_points`.

/// One second, in milliseconds.
const SECOND: i64 = 1_000;
/// One minute, in milliseconds.
const MINUTE: i64 = 60 * SECOND;
/// One hour, in milliseconds.
const HOUR: i64 = 60 * MINUTE;
/// One day, in milliseconds.
pub(crate) const DAY: i64 = 24 * HOUR;

/// Time steps a human reads at a glance, smallest first.
const TIME_STEPS: [i64; 22] = [
    SECOND,
    2 * SECOND,
    5 * SECOND,
    10 * SECOND,
    15 * SECOND,
    30 * SECOND,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
    30 * DAY,
];

/// Values and bounds are clamped to ± this much so that axis arithmetic stays finite.
pub(crate) const VALUE_LIMIT: f64 = 1e15;

/// Ranges up to this long label their ticks with seconds (HH:MM:SS).
const SECONDS_LABEL_SPAN: i64 = 10 * MINUTE;

/// The ticks of the time axis and how to label them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimeAxis {
    /// Tick positions (unix ms), multiples of `step`, inside the range.
    pub ticks: Vec<i64>,
    /// Distance between ticks in ms.
    pub step: i64,
    /// Whether labels show seconds (short ranges).
    pub seconds: bool,
    /// Whether ticks are durations since a start (`m:ss`) rather than times of day.
    pub elapsed: bool,
}

impl TimeAxis {
    /// Picks the smallest readable step that gives at most `max_ticks` ticks in `from..=to`; `elapsed` labels them
    /// as durations since a start (`m:ss`) instead of times of day.
    pub(crate) fn new(from: i64, to: i64, max_ticks: usize, elapsed: bool) -> Self {
        let max_ticks = max_ticks.max(2) as i64;
        let count = |step: i64| to.div_euclid(step) - (from + step - 1).div_euclid(step) + 1;
        let step = TIME_STEPS.iter().copied().find(|&s| count(s) <= max_ticks).unwrap_or_else(|| {
            // Longer than any listed step allows: whole days, as many as needed.
            let days = (to - from) / DAY / max_ticks + 1;
            days * DAY
        });
        let first = (from + step - 1).div_euclid(step) * step;
        let ticks = (0..count(step).clamp(0, max_ticks)).map(|i| first + i * step).filter(|&t| t <= to).collect();
        TimeAxis { ticks, step, seconds: to - from <= SECONDS_LABEL_SPAN, elapsed }
    }

    /// Formats a tick in UTC: HH:MM:SS for short ranges, MM-DD for day steps, HH:MM otherwise; for an elapsed axis,
    /// minutes and seconds since the start (`0:30`, `12:00`, `90:00`).
    pub(crate) fn label(&self, t: i64) -> String {
        if self.elapsed {
            let sign = if t < 0 { "-" } else { "" };
            let t = t.unsigned_abs() / SECOND as u64;
            return format!("{sign}{}:{:02}", t / 60, t % 60);
        }
        let day = t.div_euclid(DAY);
        let ms = t.rem_euclid(DAY);
        let (h, m, s) = (ms / HOUR, ms % HOUR / MINUTE, ms % MINUTE / SECOND);
        if self.step >= DAY {
            let (month, mday) = month_day(day);
            format!("{month:02}-{mday:02}")
        } else if self.seconds {
            format!("{h:02}:{m:02}:{s:02}")
        } else {
            format!("{h:02}:{m:02}")
        }
    }
}

/// Month and day of month of a day counted from 1970-01-01 (proleptic Gregorian calendar).
fn month_day(days: i64) -> (i64, i64) {
    // Howard Hinnant's `civil_from_days`, with the year dropped.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let mday = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (month, mday)
}

/// The value axis: its bounds, ticks and labels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValueAxis {
    /// Lower bound of the axis.
    pub lo: f64,
    /// Upper bound of the axis.
    pub hi: f64,
    /// Tick positions, multiples of `step`, inside `lo..=hi`.
    pub ticks: Vec<f64>,
    /// Distance between ticks.
    pub step: f64,
    /// Unit appended to labels.
    unit: String,
}

/// What the value axis is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ValueInput {
    /// Smallest and largest value to show (data and threshold), if any.
    pub data: Option<(f64, f64)>,
    /// Fixed lower bound.
    pub fixed_lo: Option<f64>,
    /// Fixed upper bound.
    pub fixed_hi: Option<f64>,
    /// Whether ticks must be whole numbers (replica counts).
    pub integer: bool,
    /// Most intervals between ticks the height allows.
    pub max_intervals: usize,
}

impl ValueAxis {
    /// Computes the bounds (fixed ones kept exactly, automatic ones 0-based with 10 % headroom
    /// and rounded out to a tick) and ticks at a 1-2-2.5-5 step.
    pub(crate) fn new(input: ValueInput, unit: &str) -> Self {
        let fixed_lo = input.fixed_lo.filter(|v| v.is_finite()).map(|v| v.clamp(-VALUE_LIMIT, VALUE_LIMIT));
        let fixed_hi = input.fixed_hi.filter(|v| v.is_finite()).map(|v| v.clamp(-VALUE_LIMIT, VALUE_LIMIT));
        let (mut fixed_lo, fixed_hi) = match (fixed_lo, fixed_hi) {
            (Some(a), Some(b)) if a > b => (Some(b), Some(a)),
            (Some(a), Some(b)) if a == b => (Some(a), Some(a + 1.0)),
            other => other,
        };
        let (data_lo, data_hi) = input
            .data
            .filter(|(lo, hi)| lo.is_finite() && hi.is_finite())
            .map_or((0.0, 0.0), |(lo, hi)| (lo.clamp(-VALUE_LIMIT, VALUE_LIMIT), hi.clamp(-VALUE_LIMIT, VALUE_LIMIT)));
        // Automatic bounds include 0 so that bars of the same metric compare at a glance.
        let mut lo = fixed_lo.unwrap_or(data_lo.min(0.0));
        let mut hi = fixed_hi.unwrap_or(data_hi.max(0.0).max(lo));
        if fixed_lo.is_some() && fixed_hi.is_none() {
            hi = hi.max(lo);
        }
        if fixed_hi.is_some() && fixed_lo.is_none() {
            lo = lo.min(hi);
        }
        if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
            // A flat line (or no data): give it a unit of room, on the automatic side.
            if fixed_hi.is_none() {
                hi = lo + 1.0;
            } else {
                lo = hi - 1.0;
                fixed_lo = None;
            }
        }
        let headroom = (hi - lo) * 0.1;
        if fixed_hi.is_none() && hi > 0.0 {
            hi += headroom;
        }
        if fixed_lo.is_none() && lo < 0.0 {
            lo -= headroom;
        }

        let max_intervals = input.max_intervals.max(1);
        let step = nice_step(lo, hi, max_intervals, input.integer);
        if fixed_lo.is_none() {
            lo = (lo / step).floor() * step;
        }
        if fixed_hi.is_none() {
            hi = (hi / step).ceil() * step;
        }
        // Keep this after rounding: a fixed bound and a rounded one could still meet.
        if hi <= lo {
            hi = lo + step;
        }
        // Bounds are clamped above, so this cannot happen; it keeps the promise of finite output.
        let step = if step.is_finite() && step > 0.0 { step } else { 1.0 };
        if !(lo.is_finite() && hi.is_finite() && hi > lo) {
            (lo, hi) = (0.0, 1.0);
        }

        let eps = step * 1e-9;
        let first = (lo / step - 1e-9).ceil() as i64;
        let ticks = (0..=max_intervals as i64 + 1)
            .map(|i| (first + i) as f64 * step)
            .take_while(|&v| v <= hi + eps)
            .map(|v| if v.abs() < eps { 0.0 } else { v })
            .collect();
        ValueAxis { lo, hi, ticks, step, unit: unit.to_string() }
    }

    /// Formats a tick value with the unit: "70%", "128 MiB", "1.5k req/s".
    pub(crate) fn label(&self, v: f64) -> String {
        let biggest = self.lo.abs().max(self.hi.abs());
        let (scale, suffix) = if biggest >= 1e10 {
            (1e9, "G")
        } else if biggest >= 1e7 {
            (1e6, "M")
        } else if biggest >= 1e4 {
            (1e3, "k")
        } else {
            (1.0, "")
        };
        let decimals = decimals_of(self.step / scale);
        let v = if v.abs() < self.step * 1e-9 { 0.0 } else { v };
        let number = format!("{:.*}{suffix}", decimals, v / scale);
        match self.unit.as_str() {
            "" => number,
            "%" => format!("{number}%"),
            unit => format!("{number} {unit}"),
        }
    }
}

/// The smallest step of the 1-2-2.5-5 family that covers `lo..hi` in at most `max_intervals`.
fn nice_step(lo: f64, hi: f64, max_intervals: usize, integer: bool) -> f64 {
    let raw = ((hi - lo) / max_intervals as f64).max(f64::MIN_POSITIVE);
    let mut mag = 10f64.powf(raw.log10().floor() - 1.0);
    let intervals = |s: f64| (hi / s).ceil() - (lo / s).floor();
    // Twenty candidates span two decades past `raw`, which always contains a fit.
    for _ in 0..20 {
        for m in [1.0, 2.0, 2.5, 5.0] {
            let step = m * mag;
            if integer && (step < 1.0 || step.fract() != 0.0) {
                continue;
            }
            if intervals(step) <= max_intervals as f64 {
                return step;
            }
        }
        mag *= 10.0;
    }
    raw
}

/// How many decimals show `step` (and multiples of it) exactly, at most 6.
fn decimals_of(step: f64) -> usize {
    (0..6)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0)
        })
        .unwrap_or(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_axis(data: Option<(f64, f64)>, lo: Option<f64>, hi: Option<f64>, integer: bool) -> ValueAxis {
        ValueAxis::new(ValueInput { data, fixed_lo: lo, fixed_hi: hi, integer, max_intervals: 5 }, "")
    }

    #[test]
    fn time_ticks() {
        let five_min = TimeAxis::new(0, 5 * MINUTE, 8, false);
        assert_eq!(five_min.step, MINUTE);
        assert_eq!(five_min.label(90 * SECOND), "00:01:30");
        let day = TimeAxis::new(1_000, DAY + 1_000, 5, false);
        assert_eq!(day.step, 6 * HOUR);
        assert_eq!(day.ticks, vec![6 * HOUR, 12 * HOUR, 18 * HOUR, DAY]);
        assert_eq!(day.label(DAY + 13 * HOUR + 5 * MINUTE), "13:05");
        let hour = TimeAxis::new(10 * MINUTE, 70 * MINUTE, 7, false);
        assert_eq!(hour.step, 10 * MINUTE);
        assert_eq!(hour.ticks.len(), 7);
        let negative = TimeAxis::new(-HOUR, 0, 7, false);
        assert_eq!(negative.label(-HOUR), "23:00");
        let run = TimeAxis::new(0, 90 * SECOND, 7, true);
        assert_eq!(run.step, 15 * SECOND);
        assert_eq!(
            run.ticks.iter().map(|&t| run.label(t)).collect::<Vec<_>>(),
            ["0:00", "0:15", "0:30", "0:45", "1:00", "1:15", "1:30"]
        );
        assert_eq!(run.label(62 * MINUTE + 5 * SECOND), "62:05");
        assert_eq!(run.label(-5 * SECOND), "-0:05");
        let weeks = TimeAxis::new(0, 60 * DAY, 6, false);
        assert!(weeks.step >= DAY && weeks.ticks.len() <= 6);
        assert_eq!(weeks.label(0), "01-01");
        assert_eq!(weeks.label(59 * DAY), "03-01");
    }

    #[test]
    fn value_ranges() {
        let pct = value_axis(Some((3.0, 57.0)), Some(0.0), Some(100.0), false);
        assert_eq!((pct.lo, pct.hi, pct.step), (0.0, 100.0, 20.0));
        assert_eq!(pct.ticks, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let auto = value_axis(Some((3.0, 57.0)), None, None, false);
        assert_eq!((auto.lo, auto.hi), (0.0, 80.0));
        let flat = value_axis(Some((0.0, 0.0)), None, None, false);
        assert!(flat.hi > 0.0);
        let replicas = value_axis(Some((1.0, 3.0)), None, None, true);
        assert!(replicas.ticks.iter().all(|t| t.fract() == 0.0), "{replicas:?}");
        assert_eq!(replicas.step, 1.0);
        let negative = value_axis(Some((-5.0, 5.0)), None, None, false);
        assert!(negative.lo < -5.0 && negative.hi > 5.0);
        let swapped = value_axis(None, Some(10.0), Some(0.0), false);
        assert_eq!((swapped.lo, swapped.hi), (0.0, 10.0));
        let nan = value_axis(None, Some(f64::NAN), Some(f64::INFINITY), false);
        assert!(nan.lo.is_finite() && nan.hi.is_finite() && nan.hi > nan.lo);
        let huge = value_axis(Some((0.0, 1e15)), None, None, false);
        assert!(huge.ticks.len() <= 7);
    }

    #[test]
    fn value_labels() {
        let axis = |hi: f64, unit: &str| {
            ValueAxis::new(
                ValueInput { data: Some((0.0, hi)), fixed_lo: None, fixed_hi: None, integer: false, max_intervals: 5 },
                unit,
            )
        };
        assert_eq!(axis(57.0, "%").label(20.0), "20%");
        assert_eq!(axis(200.0, "MiB").label(100.0), "100 MiB");
        assert_eq!(axis(2.2, "ms").label(0.5), "0.5 ms");
        assert_eq!(axis(24_000.0, "req/s").label(5_000.0), "5k req/s");
        assert_eq!(axis(2.0, "").label(-0.0), "0.0");
    }
}
