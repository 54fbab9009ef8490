//! The built-in evaluator's time series: an in-memory, bounded buffer of what Crane exposes on `/metrics`.
//!
//! Every evaluation interval the evaluator renders Crane's own exposition (`exposition::prometheus_text`), parses it
//! with `prometheus-parse` and appends each sample with the current time ([`Tsdb::scrape`]), as a Prometheus
//! scraping Crane would. The buffer implements [`SeriesSource`], so rules see exactly the series and labels a real
//! Prometheus would see (without the `job`/`instance` labels a scrape adds).
//!
//! Bounds (documented in docs/alerts.md):
//! - samples older than [`RETENTION_MS`] (1 h) are dropped;
//! - at most [`MAX_SERIES`] series: samples of further new series are dropped (and counted);
//! - at most [`MAX_SAMPLES`] samples in all: each series keeps at most `MAX_SAMPLES / series` of its newest samples,
//!   so with many series the history is shorter than an hour;
//! - an exposition above [`MAX_TEXT_BYTES`] is not parsed.
//!
//! Staleness, as Prometheus: a series missing from the latest scrape is gone for selectors evaluated at or after that
//! scrape (an app deleted a minute ago has no `crane_app_replicas` any more), and its samples leave with the
//! retention.
//!
//! **Architecture Invariant:** the buffer holds only what `/metrics` shows; it never reads the SQLite samples behind
//! the charts.

use std::collections::{BTreeMap, VecDeque};

use crane_core::alerts::{LabelMatcher, Labels, Series, SeriesSource};
use crane_core::model::Millis;

/// How long samples are kept.
pub(crate) const RETENTION_MS: Millis = 60 * 60 * 1000;
/// Most series kept.
pub(crate) const MAX_SERIES: usize = 10_000;
/// Most samples kept in all (16 bytes each: 16 MB).
pub(crate) const MAX_SAMPLES: usize = 1_000_000;
/// Largest exposition parsed.
pub(crate) const MAX_TEXT_BYTES: usize = 8 * 1024 * 1024;

/// The label that holds a series' metric name.
const NAME: &str = "__name__";

#[derive(Debug, Default)]
struct Stored {
    samples: VecDeque<(Millis, f64)>,
    /// The time of the latest scrape that had this series.
    last_seen: Millis,
}

/// The buffer.
#[derive(Debug, Default)]
pub(crate) struct Tsdb {
    /// By metric name, then by labels (with `__name__`).
    series: BTreeMap<String, BTreeMap<Labels, Stored>>,
    /// Series in all.
    count: usize,
    /// Samples in all.
    samples: usize,
    /// The time of the latest scrape.
    last_scrape: Option<Millis>,
    /// Samples dropped because [`MAX_SERIES`] was reached.
    pub dropped: u64,
}

/// Formats a bucket bound or quantile as Prometheus writes it in a label.
fn float_label(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        v.to_string()
    }
}

/// The samples of an exposition as (labels with `__name__`, value): summaries and histograms are split back into
/// their `quantile` / `_bucket{le}` series, as Prometheus stores them.
pub(crate) fn parse_exposition(text: &str) -> Result<Vec<(Labels, f64)>, String> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "the exposition is {} bytes, above the {MAX_TEXT_BYTES} bytes the buffer reads",
            text.len()
        ));
    }
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .map_err(|e| format!("the exposition does not parse: {e}"))?;
    let mut out = Vec::with_capacity(scrape.samples.len());
    for s in scrape.samples {
        let base: Labels = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let with = |name: String, extra: Option<(&str, String)>| {
            let mut labels = base.clone();
            labels.insert(NAME.to_string(), name);
            if let Some((k, v)) = extra {
                labels.insert(k.to_string(), v);
            }
            labels
        };
        match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => out.push((with(s.metric.clone(), None), v)),
            prometheus_parse::Value::Summary(quantiles) => {
                for q in quantiles {
                    out.push((with(s.metric.clone(), Some(("quantile", float_label(q.quantile)))), q.count));
                }
            }
            prometheus_parse::Value::Histogram(buckets) => {
                let name =
                    if s.metric.ends_with("_bucket") { s.metric.clone() } else { format!("{}_bucket", s.metric) };
                for b in buckets {
                    out.push((with(name.clone(), Some(("le", float_label(b.less_than)))), b.count));
                }
            }
        }
    }
    Ok(out)
}

impl Tsdb {
    /// Appends one scrape's samples at time `at` (a scrape at or before the latest one is ignored), then applies
    /// the retention and the caps.
    pub(crate) fn append(&mut self, at: Millis, samples: Vec<(Labels, f64)>) {
        if self.last_scrape.is_some_and(|last| at <= last) {
            return;
        }
        self.last_scrape = Some(at);
        for (labels, value) in samples {
            let Some(name) = labels.get(NAME).cloned() else { continue };
            let family = self.series.entry(name).or_default();
            let stored = match family.get_mut(&labels) {
                Some(s) => s,
                None => {
                    if self.count >= MAX_SERIES {
                        self.dropped += 1;
                        continue;
                    }
                    self.count += 1;
                    family.entry(labels).or_default()
                }
            };
            if stored.last_seen == at {
                // The same series twice in one exposition: the first value counts, as in Prometheus.
                continue;
            }
            stored.samples.push_back((at, value));
            stored.last_seen = at;
            self.samples += 1;
        }
        self.prune(at);
    }

    /// Drops samples older than the retention, series without samples, and the oldest samples of each series above
    /// its share of [`MAX_SAMPLES`].
    fn prune(&mut self, now: Millis) {
        let oldest = now.saturating_sub(RETENTION_MS);
        let per_series = (MAX_SAMPLES / self.count.max(1)).max(2);
        let mut count = 0;
        let mut samples = 0;
        for family in self.series.values_mut() {
            family.retain(|_, s| {
                while s.samples.front().is_some_and(|(t, _)| *t < oldest) || s.samples.len() > per_series {
                    s.samples.pop_front();
                }
                samples += s.samples.len();
                !s.samples.is_empty()
            });
            count += family.len();
        }
        self.series.retain(|_, family| !family.is_empty());
        self.count = count;
        self.samples = samples;
    }

    /// Series and samples held.
    pub(crate) fn size(&self) -> (usize, usize) {
        (self.count, self.samples)
    }
}

impl SeriesSource for Tsdb {
    fn select(&self, name: &str, matchers: &[LabelMatcher], start: Millis, end: Millis) -> Result<Vec<Series>, String> {
        let Some(family) = self.series.get(name) else { return Ok(Vec::new()) };
        // A series missing from the latest scrape at or before `end` is stale from that scrape on.
        let latest = self.last_scrape.filter(|t| *t <= end);
        let mut out = Vec::new();
        for (labels, stored) in family {
            if latest.is_some_and(|t| stored.last_seen < t) {
                continue;
            }
            let value = |n: &str| labels.get(n).map(String::as_str).unwrap_or("");
            if !matchers.iter().all(|m| m.matches(value(&m.name))) {
                continue;
            }
            let samples: Vec<(Millis, f64)> =
                stored.samples.iter().copied().filter(|(t, _)| (start..=end).contains(t)).collect();
            if !samples.is_empty() {
                out.push(Series { labels: labels.clone(), samples });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crane_core::alerts::{evaluate, parse_query};

    const TEXT: &str = "# HELP crane_app_replicas Desired replicas.\n# TYPE crane_app_replicas gauge\n\
        crane_app_replicas{app=\"web\"} 2\ncrane_app_replicas{app=\"api\"} 1\n\
        # TYPE crane_lb_request_duration_seconds summary\n\
        crane_lb_request_duration_seconds{app=\"web\",quantile=\"0.5\"} 0.1\n\
        crane_lb_request_duration_seconds{app=\"web\",quantile=\"0.95\"} 0.7\n\
        crane_lb_request_duration_seconds_sum{app=\"web\"} 3\n\
        crane_lb_request_duration_seconds_count{app=\"web\"} 10\n\
        # TYPE crane_lb_requests_total counter\ncrane_lb_requests_total{app=\"web\",code=\"2xx\"} 0\n";

    fn query(db: &Tsdb, q: &str, at: Millis) -> Vec<(Labels, f64)> {
        evaluate(&parse_query(q).unwrap(), at, db).unwrap()
    }

    #[test]
    fn scraped_series_answer_queries_like_prometheus() {
        let mut db = Tsdb::default();
        let t0 = 1_000_000;
        db.append(t0, parse_exposition(TEXT).unwrap());
        let more = TEXT.replace("code=\"2xx\"} 0", "code=\"2xx\"} 150");
        db.append(t0 + 15_000, parse_exposition(&more).unwrap());
        db.append(t0 + 30_000, parse_exposition(&TEXT.replace("code=\"2xx\"} 0", "code=\"2xx\"} 300")).unwrap());
        let got = query(&db, "crane_app_replicas > 1", t0 + 30_000);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.get("app").map(String::as_str), Some("web"));
        assert_eq!(got[0].1, 2.0);
        let got = query(&db, "max by (app) (crane_lb_request_duration_seconds{quantile=\"0.95\"})", t0 + 30_000);
        assert_eq!(got, vec![([("app".to_string(), "web".to_string())].into_iter().collect(), 0.7)]);
        let got = query(&db, "crane_lb_request_duration_seconds_count", t0 + 30_000);
        assert_eq!(got[0].1, 10.0);
        // 300 requests between the first and last sample, 30 s apart, in a 1m window: extrapolated to the window's
        // start would go below zero, so Prometheus stops at zero: 300 over 60 s.
        let got = query(&db, "sum(rate(crane_lb_requests_total[1m]))", t0 + 30_000);
        assert!((got[0].1 - 5.0).abs() < 1e-9, "{got:?}");
        assert_eq!(db.size(), (7, 21));
    }

    #[test]
    fn a_series_missing_from_the_latest_scrape_is_stale() {
        let mut db = Tsdb::default();
        db.append(1_000, parse_exposition(TEXT).unwrap());
        let without_api = TEXT.replace("crane_app_replicas{app=\"api\"} 1\n", "");
        db.append(16_000, parse_exposition(&without_api).unwrap());
        assert_eq!(query(&db, "crane_app_replicas", 16_000).len(), 1);
        // At the earlier scrape's time both were there.
        assert_eq!(query(&db, "crane_app_replicas", 1_000).len(), 2);
    }

    #[test]
    fn retention_and_caps_bound_the_buffer() {
        let mut db = Tsdb::default();
        let step = 15_000;
        for i in 0..400u64 {
            db.append(i * step, parse_exposition(TEXT).unwrap());
        }
        let (series, samples) = db.size();
        assert_eq!(series, 7);
        // One hour of 15 s scrapes (both ends included).
        assert_eq!(samples, 7 * (RETENTION_MS / step + 1) as usize);

        let mut db = Tsdb::default();
        let many: Vec<(Labels, f64)> = (0..MAX_SERIES + 5)
            .map(|i| {
                let labels: Labels =
                    [(NAME.to_string(), "m".to_string()), ("i".to_string(), i.to_string())].into_iter().collect();
                (labels, 1.0)
            })
            .collect();
        db.append(1, many.clone());
        db.append(2, many);
        assert_eq!(db.size().0, MAX_SERIES);
        assert_eq!(db.dropped, 10);
        assert!(db.size().1 <= MAX_SAMPLES);
        // An older or repeated scrape is ignored.
        db.append(2, parse_exposition(TEXT).unwrap());
        assert_eq!(db.size().0, MAX_SERIES);
    }

    #[test]
    fn an_oversized_exposition_is_refused() {
        let big = "a 1\n".repeat(MAX_TEXT_BYTES / 4 + 1);
        assert!(parse_exposition(&big).unwrap_err().contains("bytes"));
    }
}
