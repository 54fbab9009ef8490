//! Holding requests while an app at zero wakes (Knative's activator): when no instance is ready, a request waits
//! here — at most [`Config::max_held`] at once, each at most [`Config::hold_timeout`] — instead of getting `503`,
//! the owner is asked to start an instance ([`ZeroSignal::Wake`]), and the held requests go on as soon as the
//! backend set is not empty. What to do with each request is decided by the pure
//! [`crane_core::scale_to_zero::Machine`]; this module only keeps the waiting requests' channels and the clock.
//!
//! Only a request that finds no ready backend takes the lock here, so a serving app's requests never touch it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crane_core::model::Millis;
use crane_core::scale_to_zero::{Action, Config, Event, Machine, Phase, Refusal};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// What a proxy tells its owner about scale to zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZeroSignal {
    /// A request is held at zero replicas: start an instance.
    Wake {
        /// The app.
        app: String,
    },
    /// An instance became ready after a wake; the held requests go through now.
    Woke {
        /// The app.
        app: String,
        /// First held request → an instance ready, ms.
        cold_start_ms: Millis,
        /// Requests let through.
        released: usize,
    },
}

/// Where a proxy's scale to zero stands, for the owner's views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeroStatus {
    /// The machine's phase.
    pub phase: Phase,
    /// Requests held now.
    pub held: usize,
    /// The bounds.
    pub config: Config,
    /// Requests refused (queue full, held too long) since the proxy started.
    pub refused: u64,
    /// The last cold start, ms, and how long ago it ended, ms.
    pub last_cold_start: Option<(Millis, Millis)>,
}

/// The answer a held request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// An instance is ready: pick one.
    Forward,
    /// Answer `503` with `Retry-After`.
    Refuse {
        /// Why.
        why: Refusal,
        /// Seconds for `Retry-After`.
        retry_after_s: u32,
    },
}

struct State {
    machine: Machine,
    waiters: HashMap<u64, oneshot::Sender<Verdict>>,
    next_id: u64,
    /// The last cold start and when it ended (machine time).
    last_cold_start: Option<(Millis, Millis)>,
}

/// One listener's activator.
pub(crate) struct Activator {
    app: String,
    epoch: Instant,
    state: Mutex<State>,
    signals: mpsc::UnboundedSender<ZeroSignal>,
    refused: AtomicU64,
    /// When the last request arrived (machine time + 1; 0 for none yet), written by every request.
    last_request: AtomicU64,
}

/// A request the activator holds.
pub(crate) struct Held {
    pub(crate) verdict: oneshot::Receiver<Verdict>,
    /// When to look again if no verdict came (the request's timeout).
    pub(crate) deadline: Instant,
}

impl Activator {
    pub(crate) fn new(app: &str, config: Config, signals: mpsc::UnboundedSender<ZeroSignal>) -> Activator {
        let epoch = Instant::now();
        Activator {
            app: app.to_string(),
            epoch,
            state: Mutex::new(State {
                machine: Machine::new(config),
                waiters: HashMap::new(),
                next_id: 0,
                last_cold_start: None,
            }),
            signals,
            refused: AtomicU64::new(0),
            last_request: AtomicU64::new(0),
        }
    }

    fn now(&self) -> Millis {
        self.epoch.elapsed().as_millis() as Millis
    }

    /// Notes that a request arrived (for idleness).
    pub(crate) fn request_seen(&self) {
        self.last_request.store(self.now() + 1, Ordering::Relaxed);
    }

    /// Holds a request that found no ready backend; `has_backends` is checked again under the lock, so a backend
    /// set that became non-empty meanwhile lets it through at once.
    pub(crate) fn hold(&self, has_backends: impl Fn() -> bool) -> Held {
        let (tx, rx) = oneshot::channel();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let id = state.next_id;
        state.next_id += 1;
        state.waiters.insert(id, tx);
        let now = self.now();
        let mut actions = state.machine.step(Event::Request { id }, now);
        if has_backends() {
            actions.extend(state.machine.step(Event::Ready, now));
        }
        let timeout = state.machine.config().hold_timeout;
        self.apply(&mut state, actions, now);
        Held { verdict: rx, deadline: self.epoch + std::time::Duration::from_millis(now + timeout + 1) }
    }

    /// Time passed: refuses the requests held too long.
    pub(crate) fn tick(&self) {
        self.step(Event::Tick);
    }

    /// The backend set is not empty: held requests go on.
    pub(crate) fn ready(&self) {
        self.step(Event::Ready);
    }

    /// The owner's replica count.
    pub(crate) fn replicas(&self, n: u32) {
        self.step(Event::Replicas(n));
    }

    /// The owner's periodic look for idleness; returns how long the app has been idle when it should go to zero.
    pub(crate) fn idle(&self) -> Option<Millis> {
        let last = self.last_request.load(Ordering::Relaxed);
        let actions = self.step(Event::Idle { last_request: last.checked_sub(1) });
        actions.iter().find_map(|a| match a {
            Action::ScaleToZero { idle_ms } => Some(*idle_ms),
            _ => None,
        })
    }

    /// Replaces the bounds (the spec changed).
    pub(crate) fn set_config(&self, config: Config) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.machine.config() != config {
            state.machine.set_config(config);
        }
    }

    pub(crate) fn status(&self) -> ZeroStatus {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        ZeroStatus {
            phase: state.machine.phase(),
            held: state.machine.held(),
            config: state.machine.config(),
            refused: self.refused.load(Ordering::Relaxed),
            last_cold_start: state.last_cold_start.map(|(ms, at)| (ms, now.saturating_sub(at))),
        }
    }

    fn step(&self, event: Event) -> Vec<Action> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        let actions = state.machine.step(event, now);
        self.apply(&mut state, actions.clone(), now);
        actions
    }

    /// Carries out the machine's actions: answers waiting requests and signals the owner.
    fn apply(&self, state: &mut State, actions: Vec<Action>, now: Millis) {
        for action in actions {
            match action {
                Action::Hold(_) | Action::ScaleToZero { .. } => {}
                Action::Forward(id) => {
                    if let Some(tx) = state.waiters.remove(&id) {
                        let _ = tx.send(Verdict::Forward);
                    }
                }
                Action::Refuse { id, why, retry_after_s } => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    if let Some(tx) = state.waiters.remove(&id) {
                        let _ = tx.send(Verdict::Refuse { why, retry_after_s });
                    }
                }
                Action::Wake => {
                    let _ = self.signals.send(ZeroSignal::Wake { app: self.app.clone() });
                }
                Action::Woke { cold_start_ms, released } => {
                    state.last_cold_start = Some((cold_start_ms, now));
                    let _ = self.signals.send(ZeroSignal::Woke { app: self.app.clone(), cold_start_ms, released });
                }
            }
        }
    }
}
