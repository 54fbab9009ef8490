//! The backend set and the choice of a backend for each request.
//!
//! **Architecture Invariant:** the set is an immutable slice swapped as a whole, and every request holds an `Arc` to
//! the backend it was sent to. Replacing the set therefore never touches a request in flight; a removed backend
//! lives (draining) exactly as long as some request still holds it.
//!
//! Like NGINX's `max_fails=1 fail_timeout=…`, a backend whose connect just failed is avoided for a few seconds, so
//! an instance that died before the engine noticed costs one failed connect, not one per request. It is only
//! avoided while another backend is available.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

use hyper::http::uri::Authority;

use crate::config::{Backend, Strategy};
use crate::metrics::Counters;

/// How long a backend whose connect failed is avoided, in milliseconds.
const AVOID_AFTER_CONNECT_FAILURE_MS: u64 = 5_000;

/// How much of a backend's id its sticky cookie carries (Docker's short id length).
const STICKY_TOKEN_LEN: usize = 12;

/// A backend and its live counters.
pub(crate) struct BackendState {
    pub(crate) backend: Backend,
    /// The backend's address as a URI authority, built once so each request only clones it.
    pub(crate) authority: Authority,
    pub(crate) counters: Counters,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) draining: AtomicBool,
    /// Bumped each time the backend is removed, so a drain timer started by an earlier removal can tell that the
    /// backend was added back in the meantime.
    pub(crate) removals: AtomicU64,
    /// Until when (milliseconds since proxy start) the backend is avoided after a failed connect; 0 when it is not.
    avoid_until_ms: AtomicU64,
}

impl BackendState {
    fn new(backend: Backend) -> BackendState {
        let authority = Authority::try_from(backend.addr.to_string()).expect("a socket address is a valid authority");
        BackendState {
            backend,
            authority,
            counters: Counters::new(),
            connect_failures: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            removals: AtomicU64::new(0),
            avoid_until_ms: AtomicU64::new(0),
        }
    }

    /// Records a failed connect at `now_ms`: the backend is avoided for a while.
    pub(crate) fn connect_failed(&self, now_ms: u64) {
        self.connect_failures.fetch_add(1, Ordering::Relaxed);
        self.avoid_until_ms.store(now_ms + AVOID_AFTER_CONNECT_FAILURE_MS, Ordering::Relaxed);
    }

    /// Records that the backend answered: it is no longer avoided.
    pub(crate) fn answered(&self) {
        // Load first so the common case writes nothing to the shared cache line.
        if self.avoid_until_ms.load(Ordering::Relaxed) != 0 {
            self.avoid_until_ms.store(0, Ordering::Relaxed);
        }
    }

    /// True while the backend is avoided because of a recent failed connect.
    pub(crate) fn avoided(&self, now_ms: u64) -> bool {
        now_ms < self.avoid_until_ms.load(Ordering::Relaxed)
    }

    /// What least-connections compares: requests in flight plus long-lived connections (WebSockets, TCP).
    pub(crate) fn load(&self) -> u64 {
        self.counters.in_flight() + self.counters.open_connections()
    }

    /// The value of the session-affinity cookie that names this backend: the start of its id, which changes when
    /// the instance is replaced.
    pub(crate) fn sticky_token(&self) -> &str {
        let id = &self.backend.id;
        id.get(..STICKY_TOKEN_LEN).unwrap_or(id)
    }

    fn is(&self, other: &Backend) -> bool {
        self.backend.id == other.id && self.backend.addr == other.addr
    }
}

/// A backend that left the set, and which removal of it this is.
pub(crate) struct Removed {
    pub(crate) backend: Weak<BackendState>,
    pub(crate) removal: u64,
    pub(crate) addr: SocketAddr,
}

/// The current backends, the balancing state, and the removed backends still finishing requests.
pub(crate) struct BackendSet {
    current: RwLock<Arc<[Arc<BackendState>]>>,
    draining: Mutex<Vec<Weak<BackendState>>>,
    /// The size of the current set, readable without the lock.
    len: AtomicUsize,
    turn: AtomicUsize,
    strategy: AtomicU8,
}

impl BackendSet {
    pub(crate) fn new(strategy: Strategy) -> BackendSet {
        BackendSet {
            current: RwLock::new(Arc::new([])),
            draining: Mutex::new(Vec::new()),
            len: AtomicUsize::new(0),
            turn: AtomicUsize::new(0),
            strategy: AtomicU8::new(strategy.to_u8()),
        }
    }

    pub(crate) fn set_strategy(&self, strategy: Strategy) {
        self.strategy.store(strategy.to_u8(), Ordering::Relaxed);
    }

    pub(crate) fn strategy(&self) -> Strategy {
        Strategy::from_u8(self.strategy.load(Ordering::Relaxed))
    }

    /// The current set.
    pub(crate) fn current(&self) -> Arc<[Arc<BackendState>]> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How many backends the current set has.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Removed backends that still have requests holding them.
    pub(crate) fn draining(&self) -> Vec<Arc<BackendState>> {
        let mut draining = self.draining.lock().unwrap_or_else(PoisonError::into_inner);
        draining.retain(|w| w.strong_count() > 0);
        draining.iter().filter_map(Weak::upgrade).collect()
    }

    /// True when some backend of the current set listens on `addr`.
    pub(crate) fn serves(&self, addr: SocketAddr) -> bool {
        self.current.read().unwrap_or_else(PoisonError::into_inner).iter().any(|b| b.backend.addr == addr)
    }

    /// Replaces the set. Backends that stay (same id and address) keep their state and counters; a removed backend
    /// that comes back gets its old state back. Returns the backends that were just removed.
    pub(crate) fn replace(&self, backends: Vec<Backend>) -> Vec<Removed> {
        // The draining lock also serialises concurrent replacements.
        let mut draining = self.draining.lock().unwrap_or_else(PoisonError::into_inner);
        draining.retain(|w| w.strong_count() > 0);
        let old = self.current();
        let mut next: Vec<Arc<BackendState>> = Vec::with_capacity(backends.len());
        for backend in backends {
            if next.iter().any(|s| s.is(&backend)) {
                continue;
            }
            let kept = old.iter().find(|s| s.is(&backend)).cloned().or_else(|| {
                let pos = draining.iter().position(|w| w.upgrade().is_some_and(|s| s.is(&backend)))?;
                draining.swap_remove(pos).upgrade()
            });
            let state = match kept {
                Some(state) => {
                    state.draining.store(false, Ordering::Relaxed);
                    state
                }
                None => Arc::new(BackendState::new(backend)),
            };
            next.push(state);
        }
        let mut removed = Vec::new();
        for state in old.iter().filter(|s| !next.iter().any(|n| Arc::ptr_eq(n, s))) {
            state.draining.store(true, Ordering::Relaxed);
            let removal = state.removals.fetch_add(1, Ordering::Relaxed) + 1;
            draining.push(Arc::downgrade(state));
            removed.push(Removed { backend: Arc::downgrade(state), removal, addr: state.backend.addr });
        }
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        self.len.store(next.len(), Ordering::Relaxed);
        *current = next.into();
        removed
    }

    /// Chooses the backend for a new request at `now_ms` (milliseconds since proxy start), or None when the set is
    /// empty.
    pub(crate) fn pick(&self, now_ms: u64) -> Option<Arc<BackendState>> {
        let set = self.current.read().unwrap_or_else(PoisonError::into_inner);
        let n = set.len();
        if n == 0 {
            return None;
        }
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        // Candidates in turn order, avoided ones last: scanning from the round-robin position makes ties rotate.
        let order = |k: usize| (turn + k) % n;
        let chosen = match self.strategy() {
            Strategy::RoundRobin => (0..n).map(order).find(|&i| !set[i].avoided(now_ms)).unwrap_or(turn % n),
            Strategy::LeastConnections => {
                (0..n).map(order).min_by_key(|&i| (set[i].avoided(now_ms), set[i].load())).unwrap_or(turn % n)
            }
        };
        Some(set[chosen].clone())
    }

    /// The backend of the current set a session-affinity cookie names, unless it is avoided after a failed
    /// connect.
    pub(crate) fn sticky(&self, token: &str, now_ms: u64) -> Option<Arc<BackendState>> {
        let set = self.current.read().unwrap_or_else(PoisonError::into_inner);
        set.iter().find(|b| b.sticky_token() == token && !b.avoided(now_ms)).cloned()
    }

    /// The backend with this id, in the current set or still draining.
    pub(crate) fn by_id(&self, id: &str) -> Option<Arc<BackendState>> {
        self.current()
            .iter()
            .find(|b| b.backend.id == id)
            .cloned()
            .or_else(|| self.draining().into_iter().find(|b| b.backend.id == id))
    }

    /// Chooses the backend for the one retry after `failed` refused the connection: the next one after it in set
    /// order that is not avoided (or else simply the next one). That is deterministic on purpose, and does not
    /// disturb the round-robin turn.
    pub(crate) fn pick_other(&self, failed: &Arc<BackendState>, now_ms: u64) -> Option<Arc<BackendState>> {
        let set = self.current.read().unwrap_or_else(PoisonError::into_inner);
        let n = set.len();
        let start = set.iter().position(|b| Arc::ptr_eq(b, failed)).map_or(0, |p| p + 1);
        let others = || (0..n).map(|k| &set[(start + k) % n]).filter(|b| !Arc::ptr_eq(b, failed));
        others().find(|b| !b.avoided(now_ms)).or_else(|| others().next()).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(i: u16) -> Backend {
        Backend { id: format!("c{i}"), name: format!("web-{i}"), addr: SocketAddr::from(([10, 0, 0, 1], 8000 + i)) }
    }

    fn names(picks: impl Iterator<Item = Option<Arc<BackendState>>>) -> Vec<String> {
        picks.map(|b| b.map_or("-".into(), |b| b.backend.name.clone())).collect()
    }

    #[test]
    fn round_robin_starts_at_the_first_backend_and_rotates() {
        let set = BackendSet::new(Strategy::RoundRobin);
        assert!(set.pick(0).is_none());
        set.replace(vec![backend(1), backend(2), backend(3)]);
        assert_eq!(names((0..4).map(|_| set.pick(0))), ["web-1", "web-2", "web-3", "web-1"]);
    }

    #[test]
    fn least_connections_avoids_busy_backends_and_rotates_ties() {
        let set = BackendSet::new(Strategy::LeastConnections);
        set.replace(vec![backend(1), backend(2), backend(3)]);
        set.current()[0].counters.start();
        assert_eq!(names((0..4).map(|_| set.pick(0))), ["web-2", "web-2", "web-3", "web-2"]);
    }

    #[test]
    fn retry_goes_to_the_next_backend_in_order() {
        let set = BackendSet::new(Strategy::RoundRobin);
        set.replace(vec![backend(1), backend(2), backend(3)]);
        let current = set.current();
        assert_eq!(set.pick_other(&current[2], 0).unwrap().backend.name, "web-1");
        assert_eq!(set.pick_other(&current[0], 0).unwrap().backend.name, "web-2");
        current[1].connect_failed(0);
        assert_eq!(set.pick_other(&current[0], 10).unwrap().backend.name, "web-3");
        set.replace(vec![backend(1)]);
        assert!(set.pick_other(&set.current()[0], 0).is_none());
    }

    #[test]
    fn sticky_token_finds_its_backend_until_it_leaves_or_fails() {
        let set = BackendSet::new(Strategy::RoundRobin);
        let long = |i: u16| Backend { id: format!("{i}{}", "a".repeat(63)), ..backend(i) };
        set.replace(vec![long(1), long(2)]);
        let token = set.current()[1].sticky_token().to_string();
        assert_eq!(token.len(), 12);
        assert_eq!(set.sticky(&token, 0).unwrap().backend.name, "web-2");
        set.current()[1].connect_failed(0);
        assert!(set.sticky(&token, 10).is_none());
        set.replace(vec![long(1), long(3)]);
        assert!(set.sticky(&token, 10_000).is_none());
        assert_eq!(set.by_id(&long(1).id).unwrap().backend.name, "web-1");
    }

    #[test]
    fn a_backend_whose_connect_failed_is_avoided_for_a_while() {
        for strategy in [Strategy::RoundRobin, Strategy::LeastConnections] {
            let set = BackendSet::new(strategy);
            set.replace(vec![backend(1), backend(2), backend(3)]);
            set.current()[0].connect_failed(1_000);
            assert_eq!(names((0..4).map(|_| set.pick(2_000))), ["web-2", "web-2", "web-3", "web-2"], "{strategy:?}");
            // Once the time is up, or once it answered, it is back in rotation.
            assert_eq!(names((0..3).map(|_| set.pick(6_000))), ["web-2", "web-3", "web-1"], "{strategy:?}");
            set.current()[0].connect_failed(6_000);
            set.current()[0].answered();
            assert_eq!(names((0..3).map(|_| set.pick(6_000))), ["web-2", "web-3", "web-1"], "{strategy:?}");
        }
        // When every backend is avoided, one is still tried.
        let set = BackendSet::new(Strategy::RoundRobin);
        set.replace(vec![backend(1)]);
        set.current()[0].connect_failed(0);
        assert_eq!(names((0..1).map(|_| set.pick(10))), ["web-1"]);
    }

    #[test]
    fn replacing_keeps_state_of_staying_and_returning_backends() {
        let set = BackendSet::new(Strategy::RoundRobin);
        set.replace(vec![backend(1), backend(2)]);
        let two = set.current()[1].clone();
        two.counters.start();
        let removed = set.replace(vec![backend(1), backend(1)]);
        assert_eq!(removed.len(), 1);
        assert_eq!(set.current().len(), 1);
        assert!(two.draining.load(Ordering::Relaxed));
        assert_eq!(set.draining().len(), 1);
        set.replace(vec![backend(2), backend(1)]);
        assert!(Arc::ptr_eq(&set.current()[0], &two));
        assert!(!two.draining.load(Ordering::Relaxed));
        assert!(set.draining().is_empty());
    }
}
