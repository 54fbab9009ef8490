//! CrashLoop-style restart backoff, as pure functions of a slot's [`RestartHistory`] and the time.
//!
//! The first crash of a slot is replaced at once: Crane's target is a killed replica replaced within a second, and a
//! single crash says nothing about the next one. From the second consecutive crash on, the delay doubles from
//! `initial` up to `cap`, as Kubernetes does, so a crash-looping image does not keep the engine busy. A slot that has
//! run for `stable_after` without crashing starts over with a clean history.

use crate::model::{Millis, RestartHistory};

/// How long to wait before restarting a crashed slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Delay after the second consecutive crash; each further crash doubles it.
    pub initial: Millis,
    /// Longest delay.
    pub cap: Millis,
    /// A run this long counts as stable and clears the slot's crash history.
    pub stable_after: Millis,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self { initial: 1_000, cap: 30_000, stable_after: 30_000 }
    }
}

impl BackoffPolicy {
    /// Delay before restarting after `crashes` consecutive crashes: 0 for the first (or none), then `initial`,
    /// `2 × initial`, `4 × initial`… capped at `cap`.
    pub fn delay_after(&self, crashes: u32) -> Millis {
        if crashes <= 1 {
            return 0;
        }
        // Beyond 63 doublings the shift would overflow; the cap has long been reached by then.
        let doublings = (crashes - 2).min(63);
        self.initial.saturating_mul(1u64 << doublings).min(self.cap)
    }

    /// Delay before retrying a start that failed `attempts` times in a row: `initial`, `2 × initial`… capped at
    /// `cap`. Unlike a crash, a failed start is never retried at once: the same call would fail the same way.
    pub fn retry_delay(&self, attempts: u32) -> Millis {
        self.delay_after(attempts.saturating_add(1))
    }

    /// Whether an instance that started at `started_at` has run long enough, at `now`, to count as stable.
    pub fn is_stable(&self, started_at: Millis, now: Millis) -> bool {
        now.saturating_sub(started_at) >= self.stable_after
    }
}

impl RestartHistory {
    /// Records a crash noticed at `now`.
    pub fn record_crash(&mut self, now: Millis) {
        self.consecutive_crashes = self.consecutive_crashes.saturating_add(1);
        self.last_crash_at = Some(now);
    }

    /// Earliest time the slot may be started again; 0 (any time) when it has never crashed.
    pub fn next_start_at(&self, policy: &BackoffPolicy) -> Millis {
        match self.last_crash_at {
            Some(at) => at.saturating_add(policy.delay_after(self.consecutive_crashes)),
            None => 0,
        }
    }

    /// Forgets the crashes: the slot ran stably, or it no longer exists.
    pub fn reset(&mut self) {
        *self = RestartHistory::default();
    }

    /// Clears the history when an instance started at `started_at` has, by `now`, run for `stable_after`.
    /// Returns whether it was cleared.
    pub fn reset_if_stable(&mut self, started_at: Millis, now: Millis, policy: &BackoffPolicy) -> bool {
        if self.consecutive_crashes > 0 && policy.is_stable(started_at, now) {
            self.reset();
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After `crashes` consecutive crashes, the last at 10 s, the delay is `expected_delay`.
    fn check(crashes: u32, expected_delay: Millis) {
        let policy = BackoffPolicy::default();
        let mut history = RestartHistory::default();
        if crashes > 0 {
            history = RestartHistory { consecutive_crashes: crashes - 1, last_crash_at: Some(1) };
            history.record_crash(10_000);
        }
        assert_eq!(policy.delay_after(crashes), expected_delay, "delay after {crashes} crashes");
        let expected_next = if crashes == 0 { 0 } else { 10_000 + expected_delay };
        assert_eq!(history.next_start_at(&policy), expected_next, "next start after {crashes} crashes");
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        check(0, 0);
        check(1, 0);
        check(2, 1_000);
        check(3, 2_000);
        check(4, 4_000);
        check(5, 8_000);
        check(6, 16_000);
        check(7, 30_000);
        check(8, 30_000);
        check(200, 30_000);
        check(u32::MAX, 30_000);
    }

    #[test]
    fn a_stable_run_resets_the_history() {
        let policy = BackoffPolicy::default();
        let mut history = RestartHistory { consecutive_crashes: 4, last_crash_at: Some(1_000) };
        assert!(!history.reset_if_stable(2_000, 31_999, &policy));
        assert_eq!(history.consecutive_crashes, 4);
        assert!(history.reset_if_stable(2_000, 32_000, &policy));
        assert_eq!(history, RestartHistory::default());
        assert!(!history.reset_if_stable(2_000, 99_000, &policy), "nothing to reset");
    }
}
