//! Errors of the load generator: an invalid plan (every problem at once, each naming its field and the fix)
//! or a missing tokio runtime.

use std::time::Duration;

/// Result of this crate's fallible functions.
pub type Result<T> = std::result::Result<T, LoadError>;

/// Why a load run could not be validated or started.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    /// The plan has one or more problems; all of them are listed, each naming its field.
    #[error("invalid load plan: {}", join_issues(.0))]
    InvalidPlan(Vec<PlanIssue>),
    /// [`crate::LoadRun::start`] was called outside a tokio runtime.
    #[error("no tokio runtime: start the load generator from inside a tokio runtime")]
    NoRuntime,
}

impl LoadError {
    /// The plan problems behind an [`LoadError::InvalidPlan`]; empty for other errors.
    pub fn issues(&self) -> &[PlanIssue] {
        match self {
            LoadError::InvalidPlan(issues) => issues,
            LoadError::NoRuntime => &[],
        }
    }
}

/// One problem in a [`crate::LoadPlan`]; its message starts with the field name and says how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanIssue {
    /// `url` could not be parsed as an absolute URL.
    #[error("url: `{url}` is not a valid URL ({reason}); write it as http://127.0.0.1:PORT/path")]
    UrlUnparsable {
        /// The URL as given.
        url: String,
        /// What the parser objected to.
        reason: String,
    },
    /// `url` has no scheme or a scheme other than `http`.
    #[error("url: scheme `{scheme}` is not supported; use http://127.0.0.1:PORT/path (plain HTTP/1.1, as the app's public port speaks)")]
    UrlScheme {
        /// The scheme found, or `none`.
        scheme: String,
    },
    /// `url` names a host that is not a loopback address.
    #[error(
        "url: host `{host}` is not a loopback address; Crane's load generator only targets your own local apps — \
         use 127.0.0.1 (or [::1], or localhost) with the app's public port"
    )]
    NotLoopback {
        /// The host found in the URL.
        host: String,
    },
    /// A rate of the shape is not a number in 0 < rate ≤ 20 000 (a ramp end may also be 0).
    #[error("{field}: {value} requests per second is out of range; use a rate above 0 and at most 20000")]
    RateOutOfRange {
        /// `shape.rate`, `shape.from` or `shape.to`.
        field: &'static str,
        /// The rate given.
        value: f64,
    },
    /// Both ends of a ramp are 0, so no request would ever be sent.
    #[error("shape: a ramp from 0 to 0 sends nothing; set shape.to (or shape.from) above 0")]
    RampAllZero,
    /// `duration` is shorter than 1 s or longer than 1 h.
    #[error("duration: {value:?} is out of range; use between 1s and 1h")]
    DurationOutOfRange {
        /// The duration given.
        value: Duration,
    },
    /// `concurrency` is 0 or above 1024.
    #[error("concurrency: {value} is out of range; use between 1 and 1024 requests in flight")]
    ConcurrencyOutOfRange {
        /// The concurrency given.
        value: u32,
    },
    /// `max_requests` is 0.
    #[error("max_requests: 0 would send nothing; use at least 1")]
    MaxRequestsZero,
    /// `timeout` is shorter than 1 ms or longer than 60 s.
    #[error("timeout: {value:?} is out of range; use between 1ms and 60s per request")]
    TimeoutOutOfRange {
        /// The timeout given.
        value: Duration,
    },
}

impl PlanIssue {
    /// The name of the [`crate::LoadPlan`] field at fault, as a form or a CLI flag would show it.
    pub fn field(&self) -> &'static str {
        match self {
            PlanIssue::UrlUnparsable { .. } | PlanIssue::UrlScheme { .. } | PlanIssue::NotLoopback { .. } => "url",
            PlanIssue::RateOutOfRange { field, .. } => field,
            PlanIssue::RampAllZero => "shape",
            PlanIssue::DurationOutOfRange { .. } => "duration",
            PlanIssue::ConcurrencyOutOfRange { .. } => "concurrency",
            PlanIssue::MaxRequestsZero => "max_requests",
            PlanIssue::TimeoutOutOfRange { .. } => "timeout",
        }
    }
}

fn join_issues(issues: &[PlanIssue]) -> String {
    issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}
