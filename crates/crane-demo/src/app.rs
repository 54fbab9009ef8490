//! The demo's behaviour: routes, the health and readiness switches, and the Prometheus counters. Routing is a plain
//! function of the shared state and one request so it can be tested without sockets.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::http::{Generated, Request, Response};

/// Longest CPU burn `/work` accepts, in milliseconds.
pub const MAX_WORK_MS: u64 = 10_000;

/// Paths counted under their own label; anything else is counted as `other` so the metric stays bounded.
const KNOWN_PATHS: &[&str] = &[
    "/",
    "/health",
    "/ready",
    "/work",
    "/metrics",
    "/admin/health/fail",
    "/admin/health/ok",
    "/admin/ready/off",
    "/admin/ready/on",
    "/admin/exit",
    "/admin/metrics/normal",
    "/admin/metrics/huge",
    "/admin/metrics/endless",
    "/admin/metrics/redirect",
];

/// Size of the huge `/metrics` page unless `?mb=` says otherwise.
pub const DEFAULT_HUGE_MB: u64 = 64;
/// Largest huge page `?mb=` may ask for.
pub const MAX_HUGE_MB: u64 = 4096;
/// Where the redirecting `/metrics` sends its reader: the Docker API's TCP port on the scraper's own loopback, the
/// request a scraper that follows redirects must never make.
pub const METRICS_REDIRECT: &str = "http://127.0.0.1:2375/containers/json";

/// What `GET /metrics` serves, switched with `POST /admin/metrics/*`: the hostile workloads the engine's scraper
/// must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsMode {
    /// The demo's own counters.
    Normal = 0,
    /// A page of `huge_bytes` sample lines.
    Huge = 1,
    /// Sample lines without end.
    Endless = 2,
    /// A 302 to [`METRICS_REDIRECT`].
    Redirect = 3,
}

/// State shared by every connection thread.
#[derive(Debug)]
pub struct State {
    /// Name answered by `GET /` and the `X-Crane-Instance` header.
    pub instance: String,
    /// Whether `/health` answers 200.
    pub healthy: AtomicBool,
    /// Whether `/ready` answers 200.
    pub ready: AtomicBool,
    /// Requests served, by path label.
    requests: Mutex<BTreeMap<&'static str, u64>>,
    /// CPU time burnt by `/work`, in microseconds.
    work_micros: AtomicU64,
    /// What `/metrics` serves (a [`MetricsMode`]).
    metrics_mode: AtomicU8,
    /// Size of the huge `/metrics` page, bytes.
    huge_bytes: AtomicU64,
}

/// Something the server must do after writing the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Keep serving.
    Continue,
    /// Exit the process with this code.
    Exit(i32),
}

impl State {
    /// Fresh state: healthy, and ready unless told otherwise.
    pub fn new(instance: String, ready: bool) -> State {
        State {
            instance,
            healthy: AtomicBool::new(true),
            ready: AtomicBool::new(ready),
            requests: Mutex::new(BTreeMap::new()),
            work_micros: AtomicU64::new(0),
            metrics_mode: AtomicU8::new(MetricsMode::Normal as u8),
            huge_bytes: AtomicU64::new(DEFAULT_HUGE_MB * 1024 * 1024),
        }
    }

    /// Answers one request.
    pub fn handle(&self, req: &Request) -> (Response, After) {
        let label = KNOWN_PATHS.iter().copied().find(|p| *p == req.path).unwrap_or("other");
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()).entry(label).or_insert(0) += 1;

        let read = matches!(req.method.as_str(), "GET" | "HEAD");
        let write = req.method == "POST";
        let response = match (req.path.as_str(), read, write) {
            ("/", true, _) => Response::text(200, format!("hello from {}\n", self.instance))
                .with_header("X-Crane-Instance", self.instance.clone()),
            ("/health", true, _) => {
                if self.healthy.load(Ordering::SeqCst) {
                    Response::text(200, "ok\n")
                } else {
                    Response::text(500, "unhealthy (switched off with /admin/health/fail)\n")
                }
            }
            ("/ready", true, _) => {
                if self.ready.load(Ordering::SeqCst) {
                    Response::text(200, "ready\n")
                } else {
                    Response::text(503, "not ready\n")
                }
            }
            ("/work", true, _) => match req.query_param("ms").map(str::parse::<u64>) {
                None => self.work(100),
                Some(Ok(ms)) => self.work(ms.min(MAX_WORK_MS)),
                Some(Err(_)) => Response::text(400, "ms must be a whole number of milliseconds\n"),
            },
            ("/metrics", true, _) => self.metrics_page(),
            ("/admin/metrics/normal", _, true) => self.metrics_switch(MetricsMode::Normal, "metrics now normal\n"),
            ("/admin/metrics/endless", _, true) => self.metrics_switch(MetricsMode::Endless, "metrics now endless\n"),
            ("/admin/metrics/redirect", _, true) => {
                self.metrics_switch(MetricsMode::Redirect, "metrics now redirect to the Docker API port\n")
            }
            ("/admin/metrics/huge", _, true) => match req.query_param("mb").map(str::parse::<u64>) {
                Some(Err(_)) => Response::text(400, "mb must be a whole number of MiB\n"),
                Some(Ok(mb)) if mb == 0 || mb > MAX_HUGE_MB => {
                    Response::text(400, format!("mb must be from 1 to {MAX_HUGE_MB}\n"))
                }
                mb => {
                    let mb = mb.and_then(Result::ok).unwrap_or(DEFAULT_HUGE_MB);
                    self.huge_bytes.store(mb * 1024 * 1024, Ordering::SeqCst);
                    self.metrics_switch(MetricsMode::Huge, &format!("metrics now a {mb} MiB page\n"))
                }
            },
            ("/admin/health/fail", _, true) => self.switch(&self.healthy, false, "health now fails\n"),
            ("/admin/health/ok", _, true) => self.switch(&self.healthy, true, "health now ok\n"),
            ("/admin/ready/off", _, true) => self.switch(&self.ready, false, "readiness now off\n"),
            ("/admin/ready/on", _, true) => self.switch(&self.ready, true, "readiness now on\n"),
            ("/admin/exit", _, true) => {
                return match req.query_param("code").unwrap_or("0").parse::<i32>() {
                    Ok(code) => (Response::text(200, format!("exiting with code {code}\n")), After::Exit(code)),
                    Err(_) => (Response::text(400, "code must be an integer\n"), After::Continue),
                };
            }
            // A known path asked with the wrong method.
            _ if label != "other" => Response::text(405, "method not allowed\n"),
            _ => Response::text(404, "not found\n"),
        };
        (response, After::Continue)
    }

    /// What `GET /metrics` answers in the current mode.
    fn metrics_page(&self) -> Response {
        let page = |generated| Response {
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            generated,
            ..Response::text(200, "")
        };
        match self.metrics_mode.load(Ordering::SeqCst) {
            1 => page(Some(Generated::Sized(self.huge_bytes.load(Ordering::SeqCst)))),
            2 => page(Some(Generated::Endless)),
            3 => Response::text(302, "moved\n").with_header("Location", METRICS_REDIRECT),
            _ => Response {
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                ..Response::text(200, self.metrics())
            },
        }
    }

    fn metrics_switch(&self, mode: MetricsMode, message: &str) -> Response {
        self.metrics_mode.store(mode as u8, Ordering::SeqCst);
        Response::text(200, message)
    }

    fn switch(&self, flag: &AtomicBool, value: bool, message: &str) -> Response {
        flag.store(value, Ordering::SeqCst);
        Response::text(200, message)
    }

    /// Burns CPU on this thread for `ms` milliseconds (busy loop, so the container's CPU usage really rises).
    fn work(&self, ms: u64) -> Response {
        let started = Instant::now();
        let until = Duration::from_millis(ms);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        while started.elapsed() < until {
            for _ in 0..10_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
            }
            std::hint::black_box(x);
        }
        let spent = started.elapsed();
        self.work_micros.fetch_add(spent.as_micros() as u64, Ordering::Relaxed);
        Response::text(200, format!("worked {ms} ms\n"))
    }

    /// The Prometheus text exposition of the demo's counters and gauges.
    pub fn metrics(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP demo_requests_total Requests served, by path.\n# TYPE demo_requests_total counter\n");
        for (path, count) in self.requests.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "demo_requests_total{{path=\"{path}\"}} {count}");
        }
        out.push_str("# HELP demo_up Whether the demo is running.\n# TYPE demo_up gauge\ndemo_up 1\n");
        let work = self.work_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP demo_work_seconds_total CPU time burnt by /work.\n# TYPE demo_work_seconds_total counter\n\
             demo_work_seconds_total {work}"
        );
        let _ = writeln!(
            out,
            "# HELP demo_healthy Whether /health answers 200.\n# TYPE demo_healthy gauge\ndemo_healthy {}",
            u8::from(self.healthy.load(Ordering::SeqCst))
        );
        let _ = writeln!(
            out,
            "# HELP demo_ready Whether /ready answers 200.\n# TYPE demo_ready gauge\ndemo_ready {}",
            u8::from(self.ready.load(Ordering::SeqCst))
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, target: &str) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            version: "HTTP/1.1".into(),
            headers: Vec::new(),
        }
    }

    fn check(state: &State, method: &str, target: &str, status: u16, body_contains: &str) {
        let (resp, after) = state.handle(&req(method, target));
        let body = String::from_utf8(resp.body).unwrap();
        assert_eq!(resp.status, status, "{method} {target}: {body}");
        assert!(body.contains(body_contains), "{method} {target}: {body:?} lacks {body_contains:?}");
        assert_eq!(after, After::Continue);
    }

    #[test]
    fn routes() {
        let s = State::new("web-1".into(), true);
        check(&s, "GET", "/", 200, "hello from web-1\n");
        check(&s, "HEAD", "/", 200, "hello from web-1");
        check(&s, "GET", "/health", 200, "ok");
        check(&s, "GET", "/ready", 200, "ready");
        check(&s, "GET", "/work?ms=1", 200, "worked 1 ms");
        check(&s, "GET", "/work?ms=abc", 400, "whole number");
        check(&s, "GET", "/nope", 404, "not found");
        check(&s, "POST", "/", 405, "method");
        check(&s, "GET", "/admin/health/fail", 405, "method");
        check(&s, "POST", "/admin/health/fail", 200, "fails");
        check(&s, "GET", "/health", 500, "unhealthy");
        check(&s, "POST", "/admin/health/ok", 200, "ok");
        check(&s, "GET", "/health", 200, "ok");
        check(&s, "POST", "/admin/ready/off", 200, "off");
        check(&s, "GET", "/ready", 503, "not ready");
        check(&s, "POST", "/admin/ready/on", 200, "on");
        check(&s, "GET", "/ready", 200, "ready");
    }

    #[test]
    fn root_carries_instance_header() {
        let s = State::new("web-2".into(), true);
        let (resp, _) = s.handle(&req("GET", "/"));
        assert_eq!(resp.headers, vec![("X-Crane-Instance", "web-2".to_string())]);
    }

    #[test]
    fn not_ready_at_start_when_asked() {
        let s = State::new("x".into(), false);
        check(&s, "GET", "/ready", 503, "not ready");
    }

    #[test]
    fn exit_switch_reports_code() {
        let s = State::new("x".into(), true);
        assert_eq!(s.handle(&req("POST", "/admin/exit?code=7")).1, After::Exit(7));
        assert_eq!(s.handle(&req("POST", "/admin/exit")).1, After::Exit(0));
        assert_eq!(s.handle(&req("POST", "/admin/exit?code=z")).1, After::Continue);
    }

    /// The hostile `/metrics` switches: a huge page of the asked size, an endless one, a redirect to the Docker API
    /// port; `normal` brings the counters back.
    #[test]
    fn metrics_switches() {
        let s = State::new("demo-1".into(), true);
        assert_eq!(s.handle(&req("GET", "/metrics")).0.generated, None);
        assert_eq!(s.handle(&req("POST", "/admin/metrics/huge?mb=3")).0.status, 200);
        let page = s.handle(&req("GET", "/metrics")).0;
        assert_eq!(page.generated, Some(Generated::Sized(3 * 1024 * 1024)));
        assert_eq!(s.handle(&req("POST", "/admin/metrics/huge?mb=0")).0.status, 400);
        assert_eq!(s.handle(&req("POST", "/admin/metrics/huge?mb=x")).0.status, 400);
        s.handle(&req("POST", "/admin/metrics/huge"));
        assert_eq!(s.handle(&req("GET", "/metrics")).0.generated, Some(Generated::Sized(DEFAULT_HUGE_MB << 20)));
        s.handle(&req("POST", "/admin/metrics/endless"));
        assert_eq!(s.handle(&req("GET", "/metrics")).0.generated, Some(Generated::Endless));
        s.handle(&req("POST", "/admin/metrics/redirect"));
        let redirect = s.handle(&req("GET", "/metrics")).0;
        assert_eq!(redirect.status, 302);
        assert!(redirect.headers.contains(&("Location", METRICS_REDIRECT.to_string())));
        s.handle(&req("POST", "/admin/metrics/normal"));
        let normal = s.handle(&req("GET", "/metrics")).0;
        assert!(normal.generated.is_none() && String::from_utf8(normal.body).unwrap().contains("demo_up 1"));
        assert_eq!(s.handle(&req("GET", "/admin/metrics/huge")).0.status, 405);
    }

    #[test]
    fn metrics_are_prometheus_text() {
        let s = State::new("x".into(), true);
        s.handle(&req("GET", "/"));
        s.handle(&req("GET", "/"));
        s.handle(&req("GET", "/work?ms=2"));
        s.handle(&req("GET", "/unknown/path"));
        s.handle(&req("POST", "/admin/ready/off"));
        let text = s.metrics();
        for expected in [
            "# TYPE demo_requests_total counter",
            "demo_requests_total{path=\"/\"} 2",
            "demo_requests_total{path=\"/work\"} 1",
            "demo_requests_total{path=\"other\"} 1",
            "# TYPE demo_up gauge",
            "demo_up 1",
            "# TYPE demo_work_seconds_total counter",
            "demo_healthy 1",
            "demo_ready 0",
        ] {
            assert!(text.contains(expected), "{text}\nlacks {expected}");
        }
        let work: f64 = text.lines().find_map(|l| l.strip_prefix("demo_work_seconds_total ")).unwrap().parse().unwrap();
        assert!(work >= 0.002, "{work}");
        // Every sample line belongs to a metric announced by a TYPE line.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{line}");
        }
    }
}
