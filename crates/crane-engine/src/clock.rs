//! The engine's clock. Production uses the system clock; tests use tokio's clock so that a paused runtime
//! (`tokio::time::pause`, `advance`) moves backoff, stability and rollout deadlines deterministically.

use crane_core::model::Millis;

/// Where "now" comes from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// Wall-clock time (`SystemTime`): event times are real dates.
    System,
    /// Tokio's clock, anchored at the wall-clock time when it was made: follows `tokio::time::pause`/`advance`.
    Tokio {
        /// Wall-clock millis at `origin`.
        origin_ms: Millis,
        /// The tokio instant it was made at.
        origin: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that follows tokio's (paused or not) from now on.
    pub fn tokio() -> Clock {
        Clock::Tokio { origin_ms: system_now(), origin: tokio::time::Instant::now() }
    }

    /// The current time.
    pub fn now(&self) -> Millis {
        match self {
            Clock::System => system_now(),
            Clock::Tokio { origin_ms, origin } => origin_ms
                .saturating_add(tokio::time::Instant::now().saturating_duration_since(*origin).as_millis() as u64),
        }
    }
}

fn system_now() -> Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Locks a std mutex, recovering the data if a panicking thread poisoned it. The engine's mutexes guard plain values
/// that every writer leaves consistent between statements, so a panic elsewhere (caught by the loop's supervisor)
/// must not turn every later call into a panic.
pub(crate) trait LockExt<T> {
    /// The guard, poisoned or not.
    fn locked(&self) -> std::sync::MutexGuard<'_, T>;
}

impl<T> LockExt<T> for std::sync::Mutex<T> {
    fn locked(&self) -> std::sync::MutexGuard<'_, T> {
        self.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
