//! Crane's built-in HTTP load generator: a student points it at an app's public address, picks a constant rate or
//! a ramp and a duration, and watches the autoscaler react while progress streams in.
//!
//! ```no_run
//! # async fn demo() -> Result<(), crane_loadgen::LoadError> {
//! use std::time::Duration;
//! use crane_loadgen::{LoadPlan, LoadRun, Shape};
//!
//! let plan = LoadPlan::new("http://127.0.0.1:18080/", Shape::Ramp { from: 10.0, to: 200.0 }, Duration::from_secs(60));
//! let run = LoadRun::start(plan)?;
//! let mut progress = run.progress();
//! tokio::spawn(async move {
//!     while progress.changed().await.is_ok() {
//!         let p = progress.borrow_and_update().clone();
//!         println!("{:.0} req/s, p95 {:.1} ms", p.achieved_rate, p.p95_ms);
//!     }
//! });
//! let report = run.wait().await;
//! println!("{} ok, {} errors {:?}", report.ok, report.errors, report.error_kinds);
//! # Ok(()) }
//! ```
//!
//! # How it behaves
//! - **Open loop.** Request `k` is due at a fixed time derived from the [`Shape`] (the integral of the rate reaches
//!   `k`), whatever happened to earlier requests. A slow app therefore shows growing latency and errors, never a
//!   silently lower request rate — which is what a closed-loop "next request when the last answered" tool would show.
//! - **Concurrency limit.** At most [`LoadPlan::concurrency`] requests are in flight. A request that falls due while
//!   that many are in flight is **not sent**: it counts as an error of kind `concurrency limit` (and not in `sent`),
//!   so `ok + errors == sent + error_kinds["concurrency limit"]`.
//! - **Outcomes.** Only 2xx and 3xx answers (redirects are not followed) are ok. 4xx and 5xx answers are errors of
//!   kind `HTTP <code>`; transport failures are `connect refused`, `reset`, `timeout`, `bad response`,
//!   `connect failed` or `request failed`; requests in flight at [`LoadRun::stop`] are `cancelled by stop`.
//! - **Measurements.** Latency runs from issuing a request to the end of its body, in an HDR histogram (µs, 3
//!   significant digits). Progress shows the last second (answers per second and percentiles); the report the run.
//! - **Bounded.** A run ends at its duration (then waits for the requests in flight, at most one timeout), at
//!   `max_requests`, or at [`LoadRun::stop`]. Once [`LoadRun::wait`] returns, no task and no connection is left.
//! - **Loopback only.** Only `http://` URLs whose host is in 127.0.0.0/8, `[::1]` or `localhost` (sent to 127.0.0.1,
//!   never resolved) are accepted: the generator is for the user's own local apps, never for someone else's server.
//! - Requests are `GET` over a keep-alive pooled HTTP/1.1 client, with `User-Agent: crane-loadgen`.

mod client;
mod error;
mod plan;
mod run;
mod stats;

pub use client::USER_AGENT_VALUE;
pub use error::{LoadError, PlanIssue, Result};
pub use plan::{
    validate, LoadPlan, Shape, DEFAULT_CONCURRENCY, DEFAULT_MAX_REQUESTS, DEFAULT_TIMEOUT, MAX_CONCURRENCY,
    MAX_DURATION, MAX_RATE, MAX_TIMEOUT, MIN_DURATION,
};
pub use run::LoadRun;
pub use stats::{LoadProgress, LoadReport, CANCELLED, CONCURRENCY_LIMIT};
