//! What to send: the [`LoadPlan`], its [`validate`] rules, and the open-loop [`Schedule`] derived from its
//! [`Shape`]. Everything here is pure — no sockets, no clock — so it is tested with plain numbers.

use std::net::IpAddr;
use std::time::Duration;

use hyper::Uri;
use serde::{Deserialize, Serialize};

use crate::error::{LoadError, PlanIssue, Result};

/// The highest rate a plan may ask for, in requests per second.
pub const MAX_RATE: f64 = 20_000.0;
/// The shortest run a plan may ask for.
pub const MIN_DURATION: Duration = Duration::from_secs(1);
/// The longest run a plan may ask for.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// The most requests a plan may keep in flight at once.
pub const MAX_CONCURRENCY: u32 = 1024;
/// Requests in flight at once unless the plan says otherwise.
pub const DEFAULT_CONCURRENCY: u32 = 64;
/// Per-request timeout unless the plan says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest per-request timeout a plan may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `max_requests`: the largest schedule any valid plan can produce (20 000 req/s for 1 h), so by default
/// only the shape and the duration bound the run.
pub const DEFAULT_MAX_REQUESTS: u64 = 72_000_000;

/// How the request rate evolves over the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shape {
    /// The same rate for the whole run.
    Constant {
        /// Requests per second.
        rate: f64,
    },
    /// A rate changing linearly from `from` at the start to `to` at the end of the run.
    Ramp {
        /// Requests per second at the start.
        from: f64,
        /// Requests per second at the end.
        to: f64,
    },
}

impl Shape {
    /// The rate at the start and at the end of the run.
    fn ends(&self) -> (f64, f64) {
        match *self {
            Shape::Constant { rate } => (rate, rate),
            Shape::Ramp { from, to } => (from, to),
        }
    }

    /// The scheduled rate (requests per second) `elapsed` into a run of `duration`; 0 outside the run.
    pub fn rate_at(&self, elapsed: Duration, duration: Duration) -> f64 {
        if elapsed >= duration {
            return 0.0;
        }
        let (from, to) = self.ends();
        from + (to - from) * elapsed.as_secs_f64() / duration.as_secs_f64()
    }

    /// How many requests the schedule issues over `duration` (before `max_requests` applies): the area under the
    /// rate curve, rounded up.
    pub fn planned_requests(&self, duration: Duration) -> u64 {
        let (from, to) = self.ends();
        let area = (from + to) / 2.0 * duration.as_secs_f64();
        if area.is_finite() && area > 0.0 {
            area.ceil() as u64
        } else {
            0
        }
    }

    /// When request `k` (counting from 0) is due, in seconds from the start, so that the number of requests due by
    /// time `t` is the integral of the rate up to `t`. `None` when the curve never reaches `k` requests.
    fn offset_secs(&self, k: u64, duration: Duration) -> Option<f64> {
        if k == 0 {
            return Some(0.0);
        }
        let (from, to) = self.ends();
        let slope = (to - from) / duration.as_secs_f64();
        let k = k as f64;
        // Solve from·t + slope·t²/2 = k for t. This form of the quadratic root has no division by the slope (a
        // constant rate is slope 0) and no cancellation when the slope is small.
        let discriminant = from * from + 2.0 * slope * k;
        if discriminant < 0.0 {
            return None;
        }
        let t = 2.0 * k / (from + discriminant.sqrt());
        t.is_finite().then_some(t)
    }
}

/// A request-generation plan: where, how fast, how long, and the hard bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    /// The target, `http://127.0.0.1:PORT/path`; only loopback hosts (127.0.0.0/8, `[::1]`, `localhost`) are allowed.
    pub url: String,
    /// How the request rate evolves over the run.
    pub shape: Shape,
    /// How long requests are issued, 1 s ..= 1 h.
    pub duration: Duration,
    /// The most requests in flight at once, 1 ..= 1024 (default 64); a request due while this many are in flight
    /// is not sent and counts as the error kind `concurrency limit`.
    pub concurrency: u32,
    /// A hard bound on the requests the schedule issues (sent, plus those refused by the concurrency limit).
    pub max_requests: u64,
    /// Per-request timeout covering connect, request and the whole response body (default 5 s, at most 60 s).
    pub timeout: Duration,
}

impl LoadPlan {
    /// A plan with the default concurrency, timeout and `max_requests`.
    pub fn new(url: impl Into<String>, shape: Shape, duration: Duration) -> Self {
        LoadPlan {
            url: url.into(),
            shape,
            duration,
            concurrency: DEFAULT_CONCURRENCY,
            max_requests: DEFAULT_MAX_REQUESTS,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Checks a plan and returns every problem at once, each naming its field and the fix.
pub fn validate(plan: &LoadPlan) -> Result<()> {
    resolve_target(plan).map(drop)
}

/// Validates `plan` and returns the URI to request: the plan's URL with `localhost` replaced by 127.0.0.1, so the
/// generator never asks a resolver where to connect.
pub(crate) fn resolve_target(plan: &LoadPlan) -> Result<Uri> {
    let mut issues = Vec::new();
    let target = check_url(&plan.url, &mut issues);
    check_shape(&plan.shape, &mut issues);
    if !(MIN_DURATION..=MAX_DURATION).contains(&plan.duration) {
        issues.push(PlanIssue::DurationOutOfRange { value: plan.duration });
    }
    if !(1..=MAX_CONCURRENCY).contains(&plan.concurrency) {
        issues.push(PlanIssue::ConcurrencyOutOfRange { value: plan.concurrency });
    }
    if plan.max_requests == 0 {
        issues.push(PlanIssue::MaxRequestsZero);
    }
    if !(Duration::from_millis(1)..=MAX_TIMEOUT).contains(&plan.timeout) {
        issues.push(PlanIssue::TimeoutOutOfRange { value: plan.timeout });
    }
    match target {
        Some(target) if issues.is_empty() => Ok(target),
        _ => Err(LoadError::InvalidPlan(issues)),
    }
}

fn check_shape(shape: &Shape, issues: &mut Vec<PlanIssue>) {
    let in_range =
        |rate: f64, zero_ok: bool| rate.is_finite() && rate <= MAX_RATE && (rate > 0.0 || zero_ok && rate == 0.0);
    match *shape {
        Shape::Constant { rate } => {
            if !in_range(rate, false) {
                issues.push(PlanIssue::RateOutOfRange { field: "shape.rate", value: rate });
            }
        }
        Shape::Ramp { from, to } => {
            // One end of a ramp may be 0: "from nothing to 500 req/s" is the classic scaling demo.
            let from_ok = in_range(from, true);
            let to_ok = in_range(to, true);
            if !from_ok {
                issues.push(PlanIssue::RateOutOfRange { field: "shape.from", value: from });
            }
            if !to_ok {
                issues.push(PlanIssue::RateOutOfRange { field: "shape.to", value: to });
            }
            if from_ok && to_ok && from == 0.0 && to == 0.0 {
                issues.push(PlanIssue::RampAllZero);
            }
        }
    }
}

/// Parses the URL, records its problems, and returns the loopback URI to request when it has none.
fn check_url(url: &str, issues: &mut Vec<PlanIssue>) -> Option<Uri> {
    let uri: Uri = match url.trim().parse() {
        Ok(uri) => uri,
        Err(e) => {
            issues.push(PlanIssue::UrlUnparsable { url: url.to_string(), reason: e.to_string() });
            return None;
        }
    };
    let scheme_ok = uri.scheme_str() == Some("http");
    if !scheme_ok {
        let scheme = uri.scheme_str().unwrap_or("none").to_string();
        issues.push(PlanIssue::UrlScheme { scheme });
    }
    let Some(host) = uri.host() else {
        issues.push(PlanIssue::UrlUnparsable { url: url.to_string(), reason: "no host".to_string() });
        return None;
    };
    let Some(ip) = loopback_ip(host) else {
        issues.push(PlanIssue::NotLoopback { host: host.to_string() });
        return None;
    };
    if !scheme_ok {
        return None;
    }
    let host = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    // The authority is rebuilt from the checked address and the port alone, which also drops any user info.
    let authority = match uri.port_u16() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    };
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    match Uri::builder().scheme("http").authority(authority).path_and_query(path).build() {
        Ok(target) => Some(target),
        Err(e) => {
            issues.push(PlanIssue::UrlUnparsable { url: url.to_string(), reason: e.to_string() });
            None
        }
    }
}

/// The loopback address `host` stands for: a literal in 127.0.0.0/8, `[::1]`, or `localhost` (as 127.0.0.1).
fn loopback_ip(host: &str) -> Option<IpAddr> {
    if host.eq_ignore_ascii_case("localhost") || host.eq_ignore_ascii_case("localhost.") {
        return Some(IpAddr::from([127, 0, 0, 1]));
    }
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let ip: IpAddr = literal.parse().ok()?;
    ip.is_loopback().then_some(ip)
}

/// The open-loop timetable of a run: request `k` is due at a fixed offset from the start, whatever happened to the
/// requests before it.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    shape: Shape,
    duration: Duration,
    max_requests: u64,
    next: u64,
    finished: bool,
}

impl Schedule {
    /// The timetable of `plan`, starting at request 0.
    pub(crate) fn new(plan: &LoadPlan) -> Self {
        Schedule {
            shape: plan.shape,
            duration: plan.duration,
            max_requests: plan.max_requests,
            next: 0,
            finished: false,
        }
    }

    /// When the next request is due, from the start of the run; `None` once the run issued everything.
    pub(crate) fn next_due(&self) -> Option<Duration> {
        if self.finished || self.next >= self.max_requests {
            return None;
        }
        let offset = self.shape.offset_secs(self.next, self.duration)?;
        (offset < self.duration.as_secs_f64()).then(|| Duration::from_secs_f64(offset))
    }

    /// Moves past the request [`Schedule::next_due`] returned.
    pub(crate) fn advance(&mut self) {
        self.next += 1;
    }

    /// Ends the timetable early (on stop).
    pub(crate) fn finish(&mut self) {
        self.finished = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(url: &str, shape: Shape) -> LoadPlan {
        LoadPlan::new(url, shape, Duration::from_secs(2))
    }

    /// Checks the full timetable of a shape over `secs`: its length and its first and last offsets.
    fn check_schedule(shape: Shape, secs: u64, len: u64, first: f64, last: f64) {
        let mut schedule = Schedule::new(&LoadPlan::new("http://127.0.0.1/", shape, Duration::from_secs(secs)));
        let mut offsets = Vec::new();
        while let Some(due) = schedule.next_due() {
            offsets.push(due.as_secs_f64());
            schedule.advance();
        }
        assert_eq!(offsets.len() as u64, len, "{shape:?}");
        assert_eq!(shape.planned_requests(Duration::from_secs(secs)), len, "{shape:?}");
        assert!((offsets[0] - first).abs() < 1e-9, "{shape:?}: first {}", offsets[0]);
        assert!((offsets[offsets.len() - 1] - last).abs() < 1e-6, "{shape:?}: last {}", offsets[offsets.len() - 1]);
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "{shape:?}: offsets must not go back in time");
    }

    #[test]
    fn schedules() {
        check_schedule(Shape::Constant { rate: 200.0 }, 2, 400, 0.0, 399.0 / 200.0);
        check_schedule(Shape::Constant { rate: 0.5 }, 3, 2, 0.0, 2.0);
        // 0 → 100 over 2 s: N(t) = 25 t², 100 requests, the last one at sqrt(99/25).
        check_schedule(Shape::Ramp { from: 0.0, to: 100.0 }, 2, 100, 0.0, (99.0f64 / 25.0).sqrt());
        // 100 → 0 over 2 s: N(t) = 100 t − 25 t², the last of 100 requests just before the end.
        check_schedule(Shape::Ramp { from: 100.0, to: 0.0 }, 2, 100, 0.0, 2.0 - (1.0f64 / 25.0).sqrt());
        // 50 → 250 over 2 s: N(t) = 50 t + 50 t².
        check_schedule(
            Shape::Ramp { from: 50.0, to: 250.0 },
            2,
            300,
            0.0,
            (-50.0 + (2500.0f64 + 200.0 * 299.0).sqrt()) / 100.0,
        );
    }

    #[test]
    fn ramp_puts_more_requests_late() {
        let mut schedule = Schedule::new(&plan("http://127.0.0.1/", Shape::Ramp { from: 50.0, to: 250.0 }));
        let (mut first, mut second) = (0, 0);
        while let Some(due) = schedule.next_due() {
            if due < Duration::from_secs(1) {
                first += 1;
            } else {
                second += 1;
            }
            schedule.advance();
        }
        // 50→150 averages 100 req/s in the first second, 150→250 averages 200 in the second.
        assert_eq!((first, second), (100, 200));
    }

    #[test]
    fn max_requests_and_finish_bound_the_schedule() {
        let mut p = plan("http://127.0.0.1/", Shape::Constant { rate: 100.0 });
        p.max_requests = 3;
        let mut schedule = Schedule::new(&p);
        for _ in 0..3 {
            assert!(schedule.next_due().is_some());
            schedule.advance();
        }
        assert_eq!(schedule.next_due(), None);
        let mut schedule = Schedule::new(&p);
        schedule.finish();
        assert_eq!(schedule.next_due(), None);
    }

    #[test]
    fn rate_at_is_linear() {
        let ramp = Shape::Ramp { from: 50.0, to: 250.0 };
        let two = Duration::from_secs(2);
        assert_eq!(ramp.rate_at(Duration::ZERO, two), 50.0);
        assert_eq!(ramp.rate_at(Duration::from_secs(1), two), 150.0);
        assert_eq!(ramp.rate_at(two, two), 0.0);
    }

    /// Validates `url` in an otherwise fine plan and returns the URI or the fields at fault.
    fn check_url(url: &str) -> std::result::Result<String, Vec<&'static str>> {
        resolve_target(&plan(url, Shape::Constant { rate: 10.0 }))
            .map(|uri| uri.to_string())
            .map_err(|e| e.issues().iter().map(PlanIssue::field).collect())
    }

    #[test]
    fn urls() {
        assert_eq!(check_url("http://127.0.0.1:8080/hello?x=1"), Ok("http://127.0.0.1:8080/hello?x=1".into()));
        assert_eq!(check_url("http://127.1.2.3:8080"), Ok("http://127.1.2.3:8080/".into()));
        assert_eq!(check_url("http://[::1]:8080/"), Ok("http://[::1]:8080/".into()));
        assert_eq!(check_url("http://LOCALHOST:8080/x"), Ok("http://127.0.0.1:8080/x".into()));
        assert_eq!(check_url("http://user:pw@127.0.0.1:8080/"), Ok("http://127.0.0.1:8080/".into()));
        assert_eq!(check_url("http://10.1.2.3/"), Err(vec!["url"]));
        assert_eq!(check_url("http://example.com/"), Err(vec!["url"]));
        assert_eq!(check_url("http://127.0.0.1.example.com/"), Err(vec!["url"]));
        assert_eq!(check_url("http://[::ffff:10.0.0.1]/"), Err(vec!["url"]));
        assert_eq!(check_url("http://0.0.0.0:8080/"), Err(vec!["url"]));
        assert_eq!(check_url("https://127.0.0.1/"), Err(vec!["url"]));
        assert_eq!(check_url("127.0.0.1:8080"), Err(vec!["url"]));
        assert_eq!(check_url("not a url"), Err(vec!["url"]));
        assert_eq!(check_url(""), Err(vec!["url"]));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let p = LoadPlan {
            url: "https://example.com/".into(),
            shape: Shape::Ramp { from: -1.0, to: f64::NAN },
            duration: Duration::from_millis(10),
            concurrency: 0,
            max_requests: 0,
            timeout: Duration::ZERO,
        };
        let err = validate(&p).unwrap_err();
        let fields: Vec<_> = err.issues().iter().map(PlanIssue::field).collect();
        assert_eq!(
            fields,
            ["url", "url", "shape.from", "shape.to", "duration", "concurrency", "max_requests", "timeout"]
        );
    }
}
