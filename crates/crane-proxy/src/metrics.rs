//! Traffic counters kept on the hot path with atomics only, and the serializable snapshots built from them.
//!
//! Every request updates two sets of counters: the app's and its backend's. Counters are plain atomics; the latency
//! histogram, which needs `&mut` to record, is split into a few shards each behind its own lock, and a thread
//! always tries "its" shard first, so two Tokio workers practically never wait on each other.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// A point-in-time copy of all traffic counters of one proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyMetrics {
    /// Totals over every request the app's port received, including the ones no backend could take.
    pub app: AppTraffic,
    /// One entry per backend in the current set, in set order, followed by removed backends that still have
    /// requests in flight (`draining: true`).
    pub backends: Vec<BackendTraffic>,
}

/// The traffic of the whole app, as seen by its proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppTraffic {
    /// The app's name.
    pub app: String,
    /// Requests that were sent to a second backend because connecting to the first one failed.
    pub retries: u64,
    /// The counters.
    #[serde(flatten)]
    pub traffic: Traffic,
}

/// The traffic one backend received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendTraffic {
    /// The backend's container id.
    pub id: String,
    /// The backend's instance name, such as `web-1`.
    pub name: String,
    /// The backend's address.
    pub addr: std::net::SocketAddr,
    /// True when the backend was removed from the set and only finishes the requests it already had.
    pub draining: bool,
    /// Attempts to open a connection to this backend that failed (refused or timed out).
    pub connect_failures: u64,
    /// True while a recent failed connect makes the proxy send requests to the other backends instead.
    pub avoided: bool,
    /// The counters.
    #[serde(flatten)]
    pub traffic: Traffic,
}

/// Request counters, shared by [`AppTraffic`] and [`BackendTraffic`].
///
/// A request is counted when its response has been sent completely (or abandoned), the way access logs do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// Requests answered (or abandoned by the client) since the proxy started.
    pub requests_total: u64,
    /// Responses with a 1xx status.
    pub status_1xx: u64,
    /// Responses with a 2xx status.
    pub status_2xx: u64,
    /// Responses with a 3xx status.
    pub status_3xx: u64,
    /// Responses with a 4xx status.
    pub status_4xx: u64,
    /// Responses with a 5xx status, whether the backend or the proxy produced them.
    pub status_5xx: u64,
    /// Responses the proxy produced itself: `502` (backend failed), `503` (no backend), `504` (backend too slow).
    pub errors: u64,
    /// Requests currently being handled (from arrival to the end of the response body).
    pub in_flight: u64,
    /// Request body bytes forwarded to backends (headers not included).
    pub bytes_in: u64,
    /// Response body bytes sent to clients (headers not included).
    pub bytes_out: u64,
    /// Median latency from request arrival to the end of the response, in milliseconds, since start.
    pub latency_p50_ms: f64,
    /// 95th percentile latency in milliseconds, since start.
    pub latency_p95_ms: f64,
    /// 99th percentile latency in milliseconds, since start.
    pub latency_p99_ms: f64,
    /// Requests per second over the last ten seconds (or since start when that is shorter).
    pub rps: f64,
    /// Requests per second over the last full second and the part of the current one that has passed: what the
    /// autoscaler reads, so a load step shows within a fraction of a second instead of ramping over ten.
    pub rps_recent: f64,
    /// Long-lived connections open now: upgraded connections (WebSockets) of an http port, client connections of
    /// a tcp port.
    pub open_connections: u64,
    /// Long-lived connections opened since the proxy started.
    pub connections_total: u64,
    /// Long-lived connections opened per second over the last ten seconds.
    pub connections_per_second: f64,
    /// Answers by gRPC status code (`grpc-status` of the trailers, or of the headers of a trailers-only answer);
    /// only codes seen at least once.
    pub grpc_status: std::collections::BTreeMap<u8, u64>,
}

/// The names of the gRPC status codes, by code.
pub const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// How many seconds the rolling request rate covers.
const RATE_WINDOW_SECS: u64 = 10;
/// Slots in the rate ring: more than the window so that the slot being reset is never one that is being read.
const RATE_SLOTS: usize = 16;
/// The low bits of a rate slot hold the count, the high bits the second it belongs to.
const RATE_COUNT_BITS: u32 = 40;
const RATE_COUNT_MASK: u64 = (1 << RATE_COUNT_BITS) - 1;

/// Latencies are recorded in microseconds up to ten minutes; longer ones are clamped.
const LATENCY_MAX_MICROS: u64 = 10 * 60 * 1_000_000;
/// Shards per histogram; a power of two above the worker count of a small desktop machine.
const LATENCY_SHARDS: usize = 4;

/// The live counters of an app or a backend.
pub(crate) struct Counters {
    requests: AtomicU64,
    status: [AtomicU64; 5],
    errors: AtomicU64,
    in_flight: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    latency: Latency,
    rate: Rate,
    open_connections: AtomicU64,
    connections: AtomicU64,
    connection_rate: Rate,
    grpc: [AtomicU64; 17],
}

impl Counters {
    pub(crate) fn new() -> Counters {
        Counters {
            requests: AtomicU64::new(0),
            status: Default::default(),
            errors: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            latency: Latency::new(),
            rate: Rate::new(),
            open_connections: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            connection_rate: Rate::new(),
            grpc: Default::default(),
        }
    }

    /// Counts a long-lived connection opening in `second` (since proxy start).
    pub(crate) fn connection_opened(&self, second: u64) {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connection_rate.count(second);
    }

    /// Counts a long-lived connection closing.
    pub(crate) fn connection_closed(&self) {
        self.open_connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Long-lived connections open now.
    pub(crate) fn open_connections(&self) -> u64 {
        self.open_connections.load(Ordering::Relaxed)
    }

    /// Adds response bytes sent outside a request (spliced connections).
    pub(crate) fn add_bytes_out(&self, n: u64) {
        if n > 0 {
            self.bytes_out.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counts one gRPC answer with status `code` (codes above 16 are counted as UNKNOWN, as gRPC clients read them).
    pub(crate) fn grpc_status(&self, code: u32) {
        let code = if code > 16 { 2 } else { code as usize };
        self.grpc[code].fetch_add(1, Ordering::Relaxed);
    }

    /// The cumulative latency histogram in microseconds; subtracting an earlier copy gives the latency
    /// distribution of the requests in between.
    pub(crate) fn latency_histogram(&self) -> Histogram<u64> {
        self.latency.merged()
    }

    pub(crate) fn start(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Undoes [`Counters::start`] for a request that moved to another backend before it was sent.
    pub(crate) fn abandon(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn add_bytes_in(&self, n: u64) {
        if n > 0 {
            self.bytes_in.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Records a finished request. `status` is 0 when the client went away before any response existed.
    pub(crate) fn finish(&self, done: &Finished) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        if (100..600).contains(&done.status) {
            self.status[usize::from(done.status / 100 - 1)].fetch_add(1, Ordering::Relaxed);
        }
        if done.proxy_error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if done.bytes_out > 0 {
            self.bytes_out.fetch_add(done.bytes_out, Ordering::Relaxed);
        }
        self.latency.record(done.latency);
        self.rate.count(done.second);
    }

    /// Copies the counters. `uptime` is the time since the proxy started, which the request rate is relative to.
    pub(crate) fn snapshot(&self, uptime: Duration) -> Traffic {
        let (p50, p95, p99) = self.latency.percentiles_ms();
        Traffic {
            requests_total: self.requests.load(Ordering::Relaxed),
            status_1xx: self.status[0].load(Ordering::Relaxed),
            status_2xx: self.status[1].load(Ordering::Relaxed),
            status_3xx: self.status[2].load(Ordering::Relaxed),
            status_4xx: self.status[3].load(Ordering::Relaxed),
            status_5xx: self.status[4].load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            latency_p50_ms: p50,
            latency_p95_ms: p95,
            latency_p99_ms: p99,
            rps: self.rate.per_second(uptime),
            rps_recent: self.rate.recent(uptime),
            open_connections: self.open_connections.load(Ordering::Relaxed),
            connections_total: self.connections.load(Ordering::Relaxed),
            connections_per_second: self.connection_rate.per_second(uptime),
            grpc_status: self
                .grpc
                .iter()
                .enumerate()
                .map(|(code, n)| (code as u8, n.load(Ordering::Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
}

/// What is known about a request once it is over.
pub(crate) struct Finished {
    /// The status sent to the client, or 0 when none was.
    pub(crate) status: u16,
    /// True when the proxy produced the response itself (502/503/504).
    pub(crate) proxy_error: bool,
    /// Response body bytes sent.
    pub(crate) bytes_out: u64,
    /// From arrival to the end of the response.
    pub(crate) latency: Duration,
    /// The second since proxy start in which the request finished.
    pub(crate) second: u64,
}

/// A latency histogram split into shards so recording never contends on one lock.
struct Latency {
    shards: [Mutex<Histogram<u64>>; LATENCY_SHARDS],
}

/// Hands out shard numbers to threads in turn.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % LATENCY_SHARDS;
}

fn new_histogram() -> Histogram<u64> {
    // Two significant digits: 1 % precision is plenty for percentiles and keeps each shard around 20 KiB.
    Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, 2).expect("static histogram bounds are valid")
}

impl Latency {
    fn new() -> Latency {
        Latency { shards: std::array::from_fn(|_| Mutex::new(new_histogram())) }
    }

    fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(1, LATENCY_MAX_MICROS);
        let home = SHARD.with(|s| *s);
        // Take the first free shard starting at this thread's own; only block when all of them are busy.
        for k in 0..LATENCY_SHARDS {
            if let Ok(mut h) = self.shards[(home + k) % LATENCY_SHARDS].try_lock() {
                h.saturating_record(micros);
                return;
            }
        }
        self.shards[home].lock().unwrap_or_else(PoisonError::into_inner).saturating_record(micros);
    }

    /// All shards merged (microseconds).
    fn merged(&self) -> Histogram<u64> {
        let mut merged = new_histogram();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = merged.add(&*shard);
        }
        merged
    }

    fn percentiles_ms(&self) -> (f64, f64, f64) {
        let mut merged = new_histogram();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            // Same bounds on both sides, so adding cannot fail.
            let _ = merged.add(&*shard);
        }
        if merged.is_empty() {
            return (0.0, 0.0, 0.0);
        }
        let ms = |q: f64| merged.value_at_quantile(q) as f64 / 1000.0;
        (ms(0.50), ms(0.95), ms(0.99))
    }
}

/// Requests finished per second, in a ring of one-second slots. Each slot packs the second it counts for and the
/// count into one atomic word, so a slot is reset and reused without a lock.
struct Rate {
    slots: [AtomicU64; RATE_SLOTS],
}

impl Rate {
    fn new() -> Rate {
        Rate { slots: Default::default() }
    }

    fn count(&self, second: u64) {
        let slot = &self.slots[(second % RATE_SLOTS as u64) as usize];
        let tag = second << RATE_COUNT_BITS;
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            if current & !RATE_COUNT_MASK == tag {
                slot.fetch_add(1, Ordering::Relaxed);
                return;
            }
            // The slot still holds an older second: start it over for this one.
            match slot.compare_exchange_weak(current, tag | 1, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    fn per_second(&self, uptime: Duration) -> f64 {
        let now = uptime.as_secs();
        let oldest = now.saturating_sub(RATE_WINDOW_SECS - 1);
        let total: u64 = self
            .slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|v| (oldest..=now).contains(&(v >> RATE_COUNT_BITS)))
            .map(|v| v & RATE_COUNT_MASK)
            .sum();
        // The window is the nine full seconds before this one plus the part of this one that has passed.
        let covered = uptime.as_secs_f64().min((RATE_WINDOW_SECS - 1) as f64 + uptime.subsec_nanos() as f64 / 1e9);
        total as f64 / covered.max(1.0)
    }
}

impl Rate {
    /// Requests per second over the last full second plus the part of the current one that has passed.
    fn recent(&self, uptime: Duration) -> f64 {
        let now = uptime.as_secs();
        let previous = now.saturating_sub(1);
        let total: u64 = self
            .slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|v| (previous..=now).contains(&(v >> RATE_COUNT_BITS)))
            .map(|v| v & RATE_COUNT_MASK)
            .sum();
        let covered = (uptime.as_secs_f64()).min(1.0 + uptime.subsec_nanos() as f64 / 1e9);
        // Less than a fifth of a second says too little; the start of a second counts as a fifth.
        total as f64 / covered.max(0.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(status: u16, ms: u64, second: u64) -> Finished {
        Finished { status, proxy_error: status == 502, bytes_out: 10, latency: Duration::from_millis(ms), second }
    }

    #[test]
    fn counts_status_classes_errors_and_latency() {
        let c = Counters::new();
        for (status, ms) in [(200, 1), (200, 2), (404, 3), (502, 100), (101, 1)] {
            c.start();
            c.finish(&done(status, ms, 0));
        }
        let t = c.snapshot(Duration::from_millis(500));
        assert_eq!((t.requests_total, t.status_1xx, t.status_2xx, t.status_4xx, t.status_5xx), (5, 1, 2, 1, 1));
        assert_eq!((t.errors, t.in_flight, t.bytes_out), (1, 0, 50));
        assert!((1.9..=2.1).contains(&t.latency_p50_ms), "{t:?}");
        assert!((99.0..=101.0).contains(&t.latency_p99_ms), "{t:?}");
        assert_eq!(t.rps, 5.0);
    }

    #[test]
    fn rate_covers_the_last_ten_seconds_only() {
        let r = Rate::new();
        for second in 0..30 {
            for _ in 0..second {
                r.count(second);
            }
        }
        // At 29.0 s the window holds seconds 20..=29, covering 9 s plus the current (empty so far) fraction.
        let rate = r.per_second(Duration::from_secs(29));
        assert_eq!(rate, (20..30).sum::<u64>() as f64 / 9.0);
        // Long after the last request the rate falls to zero.
        assert_eq!(r.per_second(Duration::from_secs(100)), 0.0);
    }

    /// The recent rate sees a load step within the second it starts: 100 requests in the first half of second 31
    /// read as 100 / 1.5 s, where the ten-second rate still reads 100 / 10 s.
    #[test]
    fn recent_rate_follows_a_step() {
        let r = Rate::new();
        for _ in 0..100 {
            r.count(31);
        }
        let at = Duration::from_millis(31_500);
        assert!((r.recent(at) - 100.0 / 1.5).abs() < 1e-9, "{}", r.recent(at));
        assert!(r.per_second(at) < 11.0);
        // A second later the step is the previous second: 100 over 1.0 s plus what passed of the next.
        assert!((r.recent(Duration::from_millis(32_000)) - 100.0).abs() < 1e-9);
        assert_eq!(r.recent(Duration::from_secs(40)), 0.0);
        assert_eq!(Rate::new().recent(Duration::ZERO), 0.0);
    }
}
