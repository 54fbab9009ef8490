//! Reducing long series to about one point per pixel, and splitting them where samples are missing.
//!
//! Both steps work in time, not in sample index: a bucket never straddles a hole in the data, so a
//! gap stays a gap after reduction, and an uneven sampling rate does not skew the result.

/// How the points that fall into one bucket are combined into one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reduce {
    /// The arithmetic mean: right for rates, percentages and latencies drawn as lines.
    Mean,
    /// The largest value: right for step series such as replica counts, where an average like
    /// 2.4 replicas is meaningless and a short scale-up must stay visible.
    Max,
}

/// Reduces a long series to at most `max_points` by averaging buckets (keeps the first/last timestamps);
/// used before rendering 24 h at 5 s (17 280 points) so SVGs stay small.
///
/// The time span from the first to the last sample is cut into `max_points` equal buckets; each
/// bucket that holds samples becomes one point at the mean timestamp of its samples with the mean
/// of their values, except that the first point keeps the earliest timestamp and the last point
/// the latest, so the reduced line still spans the data exactly. Empty buckets produce nothing,
/// so the result may be shorter than `max_points`, and holes in the data stay holes.
///
/// Non-finite values (NaN, ±∞) are ignored. The result is sorted by time even when the input is
/// not. A series that already fits is returned as is (sorted, non-finite values removed);
/// `max_points == 0` yields an empty vector, and `max_points == 1` the overall mean at the latest
/// timestamp.
pub fn downsample(points: &[(i64, f64)], max_points: usize) -> Vec<(i64, f64)> {
    bucket(points, max_points, Reduce::Mean)
}

/// Buckets `points` in time as [`downsample`] describes, combining each bucket with `reduce`.
pub(crate) fn bucket(points: &[(i64, f64)], max_points: usize, reduce: Reduce) -> Vec<(i64, f64)> {
    if max_points == 0 {
        return Vec::new();
    }
    let finite = points.iter().filter(|(_, v)| v.is_finite());
    let count = finite.clone().count();
    if count == 0 {
        return Vec::new();
    }
    if count <= max_points {
        let mut out: Vec<(i64, f64)> = finite.copied().collect();
        out.sort_by_key(|&(t, _)| t);
        return out;
    }

    let first = finite.clone().map(|&(t, _)| t).min().unwrap_or(0);
    let last = finite.clone().map(|&(t, _)| t).max().unwrap_or(0);
    // i128 keeps `(t - first) * n` exact for any i64 timestamps; `span + 1` as the divisor puts
    // the latest sample into the last bucket rather than one past it.
    let span = i128::from(last) - i128::from(first) + 1;
    let n = max_points as i128;

    #[derive(Clone, Copy)]
    struct Acc {
        count: u64,
        t_sum: i128,
        v: f64,
    }
    let mut acc = vec![Acc { count: 0, t_sum: 0, v: 0.0 }; max_points];
    for &(t, v) in finite {
        let idx = ((i128::from(t) - i128::from(first)) * n / span) as usize;
        let a = &mut acc[idx.min(max_points - 1)];
        a.v = match (reduce, a.count) {
            (Reduce::Mean, _) => a.v + v,
            (Reduce::Max, 0) => v,
            (Reduce::Max, _) => a.v.max(v),
        };
        a.count += 1;
        a.t_sum += i128::from(t);
    }

    let mut out: Vec<(i64, f64)> = acc
        .iter()
        .filter(|a| a.count > 0)
        .map(|a| {
            let t = (a.t_sum / i128::from(a.count)) as i64;
            let v = match reduce {
                Reduce::Mean => a.v / a.count as f64,
                Reduce::Max => a.v,
            };
            (t, v)
        })
        .collect();
    if let Some(p) = out.first_mut() {
        p.0 = first;
    }
    if let Some(p) = out.last_mut() {
        p.0 = last;
    }
    out
}

/// Splits a time-sorted series wherever consecutive samples are further apart than
/// `max(3 × median interval, min_gap_ms)`, so missing data is drawn as a break, not a straight
/// line across the hole. `min_gap_ms` is about two pixels' worth of time: a hole narrower than
/// that would be invisible and only cost an extra SVG element.
pub(crate) fn split_gaps(points: &[(i64, f64)], min_gap_ms: i64) -> Vec<&[(i64, f64)]> {
    if points.len() < 3 {
        return if points.is_empty() { Vec::new() } else { vec![points] };
    }
    let mut diffs: Vec<i64> = points.windows(2).map(|w| w[1].0.saturating_sub(w[0].0)).collect();
    let mid = diffs.len() / 2;
    let median = *diffs.select_nth_unstable(mid).1;
    // With a zero median (many duplicate timestamps) every real interval would look like a gap;
    // the pixel floor keeps that case sane.
    let limit = median.saturating_mul(3).max(min_gap_ms).max(1);

    let mut segments = Vec::new();
    let mut start = 0;
    for i in 1..points.len() {
        if points[i].0.saturating_sub(points[i - 1].0) > limit {
            segments.push(&points[start..i]);
            start = i;
        }
    }
    segments.push(&points[start..]);
    segments
}

/// Turns a series into the corners of a step line: each value holds until the next sample.
pub(crate) fn to_steps(points: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for w in points.windows(2) {
        out.push(w[0]);
        out.push((w[1].0, w[0].1));
    }
    if let Some(&last) = points.last() {
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[(i64, f64)], max: usize, expected: &[(i64, f64)]) {
        assert_eq!(downsample(input, max), expected, "downsample({input:?}, {max})");
    }

    #[test]
    fn downsample_table() {
        check(&[], 10, &[]);
        check(&[(0, 1.0)], 0, &[]);
        check(&[(0, 1.0), (1, 2.0)], 10, &[(0, 1.0), (1, 2.0)]);
        check(&[(0, 1.0), (1, 3.0), (2, 5.0), (3, 7.0)], 2, &[(0, 2.0), (3, 6.0)]);
        check(&[(0, 1.0), (10, 3.0), (20, 5.0)], 1, &[(20, 3.0)]);
        // Non-finite values are ignored; the rest fits.
        check(&[(0, f64::NAN), (1, 2.0), (2, f64::INFINITY)], 5, &[(1, 2.0)]);
        check(&[(0, f64::NAN)], 5, &[]);
        // Unsorted input comes out sorted.
        check(&[(2, 2.0), (0, 0.0), (1, 1.0)], 5, &[(0, 0.0), (1, 1.0), (2, 2.0)]);
        // A hole stays a hole: the middle buckets are empty and produce nothing.
        check(&[(0, 1.0), (1, 1.0), (2, 1.0), (97, 5.0), (98, 5.0), (99, 5.0)], 4, &[(0, 1.0), (99, 5.0)]);
        // Extreme timestamps do not overflow.
        check(&[(i64::MIN, 1.0), (0, 2.0), (i64::MAX, 3.0)], 2, &[(i64::MIN, 1.0), (i64::MAX, 2.5)]);
    }

    #[test]
    fn downsample_day_at_five_seconds() {
        let points: Vec<(i64, f64)> = (0..17_280).map(|i| (i * 5_000, 42.0)).collect();
        let out = downsample(&points, 600);
        assert!(out.len() <= 600 && out.len() > 590, "{}", out.len());
        assert_eq!(out.first().map(|p| p.0), Some(0));
        assert_eq!(out.last().map(|p| p.0), Some(17_279 * 5_000));
        assert!(out.iter().all(|&(_, v)| v == 42.0));
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn max_reduction_keeps_spikes() {
        let points = [(0, 1.0), (1, 4.0), (2, 1.0), (3, 1.0)];
        assert_eq!(bucket(&points, 2, Reduce::Max), vec![(0, 4.0), (3, 1.0)]);
    }

    #[test]
    fn gaps_split_the_series() {
        let mut points: Vec<(i64, f64)> = (0..10).map(|i| (i * 5, 1.0)).collect();
        points.extend((20..30).map(|i| (i * 5, 1.0)));
        let segments = split_gaps(&points, 0);
        assert_eq!(segments.iter().map(|s| s.len()).collect::<Vec<_>>(), vec![10, 10]);
        // The same hole is ignored when it is narrower than the pixel floor.
        assert_eq!(split_gaps(&points, 1_000).len(), 1);
        assert_eq!(split_gaps(&[(0, 1.0), (1_000, 1.0)], 0).len(), 1);
        assert!(split_gaps(&[], 0).is_empty());
    }

    #[test]
    fn steps_hold_each_value() {
        assert_eq!(
            to_steps(&[(0, 1.0), (10, 2.0), (20, 3.0)]),
            vec![(0, 1.0), (10, 1.0), (10, 2.0), (20, 2.0), (20, 3.0)]
        );
        assert!(to_steps(&[]).is_empty());
    }
}
