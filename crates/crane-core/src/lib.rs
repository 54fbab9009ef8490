//! Crane's functional core: the workload spec, its validation, and the pure planners (reconcile, backoff) that turn a
//! snapshot of desired and observed state into a plan. Nothing here performs I/O: no tokio, bollard, sqlx or tauri
//! (a test, `tests/no_io_deps.rs`, keeps it that way).

pub mod access;
pub mod alerts;
pub mod autoscale;
pub mod backoff;
pub mod error;
pub mod experiment;
pub mod lab;
pub mod model;
pub mod policy;
pub mod ports;
pub mod probe;
pub mod reconcile;
pub mod revision;
pub mod safety;
pub mod scale_to_zero;
pub mod spec;
pub mod text;
pub mod units;
pub mod validate;

pub use backoff::BackoffPolicy;
pub use error::{Diagnostic, Error, Result};
pub use reconcile::{reconcile, Plan, Remove, RemoveCause, RolloutState, RolloutStatus, Snapshot, Start, Waiting};
pub use safety::Floor;
pub use units::{format_millis, parse_duration, parse_quantity};
pub use validate::{needs_new_revision, parse_spec, parse_spec_with, to_yaml, validate, validate_with};

#[cfg(test)]
pub(crate) mod test_rng;
