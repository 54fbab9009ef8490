//! Scale to zero and back, as Knative's activator does it and the Kubernetes HPA cannot: an app with
//! `autoscaling.min: 0` goes to zero replicas after `idleAfter` without a request; its load balancer keeps listening,
//! holds the requests that arrive (a bounded queue, each for a bounded time), asks the engine to start an instance,
//! and lets the held requests through as soon as one is ready.
//!
//! [`Machine`] is that behaviour as a pure state machine, one per listening port: the load balancer feeds it
//! [`Event`]s with the time and carries out the [`Action`]s it returns (answer, hold, let through, ask the engine);
//! it never sleeps, reads a clock or touches a socket, so a table of events with times tests it completely.
//!
//! ```text
//!   Serving ──Idle (ready, then no request for idleAfter)──▶ Zero ──Request──▶ Waking ──Ready──▶ Serving
//!      ▲  └──Replicas(0) (scaled by hand)──────▶  │                  │ Tick: held past the timeout → 503
//!      └──────────────Replicas(n > 0)─────────────┘                  └ Request past the queue → 503
//! ```
//!
//! The decision to go from 0 to 1 replica when the load balancer asks is [`wake`]; the engine loop makes it, so
//! the loop stays the one writer of replica counts.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// Most requests one listener holds while its app wakes; more get `503` at once. Knative's activator queues
/// without a fixed bound per revision but caps concurrency by its own capacity; a bound keeps a flood from
/// holding unbounded memory (each held request keeps its connection and headers).
pub const DEFAULT_MAX_HELD: usize = 256;

/// How long a request may be held before it gets `503` (Knative's activator waits up to the request timeout; a
/// cold start of Crane's demo image takes well under a second, a pulled image a few seconds).
pub const DEFAULT_HOLD_TIMEOUT: Millis = 30_000;

/// The `Retry-After` of a refused request, in seconds: a client that retries then finds the app awake.
pub const RETRY_AFTER_S: u32 = 1;

/// The bounds of one listener's machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// No request for this long takes a serving app to zero (`autoscaling.idleAfter`).
    pub idle_after: Millis,
    /// Most requests held at once.
    pub max_held: usize,
    /// Longest a request is held.
    pub hold_timeout: Millis,
}

impl Config {
    /// The bounds for an app whose policy scales to zero after `idle_after`.
    pub fn new(idle_after: Millis) -> Config {
        Config { idle_after, max_held: DEFAULT_MAX_HELD, hold_timeout: DEFAULT_HOLD_TIMEOUT }
    }
}

/// Where the app is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum Phase {
    /// One or more replicas wanted (ready or starting).
    Serving,
    /// Zero replicas; the next request wakes the app.
    Zero,
    /// A request arrived at zero and an instance is starting.
    Waking {
        /// When the first held request arrived.
        since: Millis,
    },
}

/// What happened, as the load balancer or the engine saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A request arrived and no ready instance could take it. `id` is the load balancer's, unique per machine.
    Request {
        /// The request's id.
        id: u64,
    },
    /// The set of ready instances became non-empty.
    Ready,
    /// The engine's replica count for the app (after each reconcile pass).
    Replicas(u32),
    /// The engine's periodic look: when the last request arrived (`None`: none since the listener started).
    Idle {
        /// When the last request arrived.
        last_request: Option<Millis>,
    },
    /// Time passed (held requests may have timed out).
    Tick,
}

/// Why a request got `503`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// [`Config::max_held`] requests were already held.
    QueueFull,
    /// It was held for [`Config::hold_timeout`] and no instance became ready.
    Timeout,
}

/// What the caller must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Keep the request until a later action names it.
    Hold(u64),
    /// Send the request on to a ready instance now.
    Forward(u64),
    /// Answer `503` with `Retry-After: retry_after_s`.
    Refuse {
        /// The request's id.
        id: u64,
        /// Why.
        why: Refusal,
        /// Seconds for `Retry-After`.
        retry_after_s: u32,
    },
    /// Ask the engine to start an instance ([`wake`] decides).
    Wake,
    /// Ask the engine to scale the app to zero: no request for `idle_ms`.
    ScaleToZero {
        /// How long the app has been without a request.
        idle_ms: Millis,
    },
    /// The app is ready again after a wake: its cold start took `cold_start_ms` (first held request → ready).
    Woke {
        /// First held request → an instance ready.
        cold_start_ms: Millis,
        /// How many held requests go through now.
        released: usize,
    },
}

/// One listener's scale-to-zero state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    config: Config,
    phase: Phase,
    /// Held requests and when each arrived, oldest first.
    held: VecDeque<(u64, Millis)>,
    /// Since when an instance has been ready in this serving stretch (the first `Ready` after the app was created,
    /// woke or was scaled up from zero); idleness counts from then, so an app still starting is never idle.
    ready_since: Option<Millis>,
}

impl Machine {
    /// A machine for an app that serves (`Replicas(0)` moves it to zero); it can become idle once an instance was
    /// ready (`Ready`).
    pub fn new(config: Config) -> Machine {
        Machine { config, phase: Phase::Serving, held: VecDeque::new(), ready_since: None }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// How many requests are held.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The bounds.
    pub fn config(&self) -> Config {
        self.config
    }

    /// Replaces the bounds (the spec changed); held requests stay.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// Applies one event at `now` and returns what to do, in order.
    pub fn step(&mut self, event: Event, now: Millis) -> Vec<Action> {
        let mut actions = self.expire(now);
        match event {
            Event::Request { id } => {
                if self.held.len() >= self.config.max_held {
                    actions.push(refuse(id, Refusal::QueueFull));
                    return actions;
                }
                self.held.push_back((id, now));
                actions.push(Action::Hold(id));
                if self.phase == Phase::Zero {
                    self.phase = Phase::Waking { since: now };
                    actions.push(Action::Wake);
                }
                // While serving, instances are wanted already (starting, or replaced after a crash): holding is
                // enough, as Knative's activator does when a revision has no ready endpoint.
            }
            Event::Ready => {
                if let Phase::Waking { since } = self.phase {
                    actions.push(Action::Woke { cold_start_ms: now.saturating_sub(since), released: self.held.len() });
                }
                if self.phase != Phase::Serving || self.ready_since.is_none() {
                    self.ready_since = Some(now);
                }
                self.phase = Phase::Serving;
                actions.extend(self.held.drain(..).map(|(id, _)| Action::Forward(id)));
            }
            Event::Replicas(0) => {
                if self.phase == Phase::Serving {
                    if let Some(&(_, first)) = self.held.front() {
                        // Requests are already waiting (the app went to zero while starting): wake it for them.
                        self.phase = Phase::Waking { since: first };
                        actions.push(Action::Wake);
                    } else {
                        self.phase = Phase::Zero;
                    }
                }
            }
            Event::Replicas(_) => {
                // Scaled up by someone else (a person, the autoscaler): serving again. A wake in progress keeps
                // waiting for readiness, which is what its cold start measures.
                if self.phase == Phase::Zero {
                    self.phase = Phase::Serving;
                    self.ready_since = None;
                }
            }
            Event::Idle { last_request } => {
                let Some(ready_since) = self.ready_since else { return actions };
                let quiet_since = last_request.unwrap_or(0).max(ready_since);
                let idle_ms = now.saturating_sub(quiet_since);
                if self.phase == Phase::Serving && self.held.is_empty() && idle_ms >= self.config.idle_after {
                    self.phase = Phase::Zero;
                    actions.push(Action::ScaleToZero { idle_ms });
                }
            }
            Event::Tick => {}
        }
        actions
    }

    /// Refuses the held requests that waited [`Config::hold_timeout`]. A wake whose requests all timed out goes
    /// on (the instance is starting anyway) until `Ready`.
    fn expire(&mut self, now: Millis) -> Vec<Action> {
        let mut actions = Vec::new();
        while let Some(&(id, at)) = self.held.front() {
            if now.saturating_sub(at) < self.config.hold_timeout {
                break;
            }
            self.held.pop_front();
            actions.push(refuse(id, Refusal::Timeout));
        }
        actions
    }

    /// When the oldest held request times out, so the caller knows when to send `Tick`.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.held.front().map(|&(_, at)| at.saturating_add(self.config.hold_timeout))
    }
}

fn refuse(id: u64, why: Refusal) -> Action {
    Action::Refuse { id, why, retry_after_s: RETRY_AFTER_S }
}

/// The engine's answer to a wake request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wake {
    /// The replica count to set; `None` leaves the app as it is.
    pub replicas: Option<u32>,
    /// One sentence for the event log.
    pub reason: String,
}

/// Decides what a wake request does to an app with `current` replicas and policy bounds `min`..`max`: from zero,
/// one replica (at least `min`, at most `max`; the autoscaler adds more once the load is measured, as Knative
/// starts one pod per activation); otherwise nothing, since instances are wanted already.
pub fn wake(app: &str, current: u32, min: u32, max: u32) -> Wake {
    if current > 0 {
        return Wake { replicas: None, reason: format!("app '{app}' already wants {current} {}", plural(current)) };
    }
    let to = min.max(1).min(max.max(1));
    Wake {
        replicas: Some(to),
        reason: format!(
            "a request arrived for '{app}' at zero replicas; the load balancer holds it → scale 0→{to} (cold start)"
        ),
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        "replica"
    } else {
        "replicas"
    }
}

#[cfg(test)]
mod tests;
