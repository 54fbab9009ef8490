//! The engine's side of the built-in load balancer: per app, one listener per declared port on a loopback port —
//! a [`crane_proxy::AppProxy`] (HTTP/1.1, h2c, WebSockets) for http ports, a [`crane_proxy::TcpProxy`] (layer 4)
//! for tcp ports — whose backend set is the app's ready instances after each reconcile pass.
//!
//! The first port listens on the app's stored public port; the others on their `public` port when the spec names
//! one, else on a free port picked when the listener starts (kept while the engine runs, shown in the app view).
//!
//! **Architecture Invariant:** the backend set is replaced as a whole; requests in flight keep their backend until
//! they finish (the proxy drains removed backends), so membership changes never cut requests.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use crane_core::model::ContainerState;
use crane_core::ports::{RuntimeError, StoredApp};
use crane_core::spec::{AppSpec, Balance, PortMode, PortSpec};
use crane_proxy::{AppProxy, Backend, ProxyConfig, ProxyMetrics, TcpProxy};

use crate::clock::LockExt;
use crate::Inner;

/// What a port's listener is, from its spec: a change of any of these starts a new listener on the same port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    tcp: bool,
    backend_http2: bool,
    sticky: bool,
}

impl Shape {
    fn of(port: &PortSpec) -> Shape {
        Shape {
            tcp: port.effective_mode() == PortMode::Tcp,
            backend_http2: port.backend_http2(),
            sticky: port.sticky.is_some(),
        }
    }
}

/// A running listener of either kind.
enum Listener {
    Http(AppProxy),
    Tcp(TcpProxy),
}

impl Listener {
    fn port(&self) -> u16 {
        match self {
            Listener::Http(p) => p.port(),
            Listener::Tcp(p) => p.port(),
        }
    }

    fn metrics(&self) -> ProxyMetrics {
        match self {
            Listener::Http(p) => p.metrics(),
            Listener::Tcp(p) => p.metrics(),
        }
    }

    fn set_backends(&self, backends: Vec<Backend>, strategy: crane_proxy::Strategy) {
        match self {
            Listener::Http(p) => {
                p.set_strategy(strategy);
                p.set_backends(backends);
            }
            Listener::Tcp(p) => {
                p.set_strategy(strategy);
                p.set_backends(backends);
            }
        }
    }

    fn close_connections(&self, id: &str) -> usize {
        match self {
            Listener::Http(p) => p.close_connections(id),
            Listener::Tcp(p) => p.close_connections(id),
        }
    }
}

/// One port of an app and its listener.
struct PortListener {
    container: u16,
    shape: Shape,
    listener: Listener,
}

/// The listening ports of every app, in the order of the spec's `ports` (the first one is the app's public port).
#[derive(Default)]
pub(crate) struct Proxies {
    apps: Mutex<BTreeMap<String, Vec<PortListener>>>,
    /// Where the http listeners of apps with `min: 0` send wake requests and cold starts (the collector reads
    /// them and asks the loop); `None` in engines that never scale to zero (tests of other parts).
    zero_signals: Option<tokio::sync::mpsc::UnboundedSender<crane_proxy::ZeroSignal>>,
}

/// The scale-to-zero bounds of an app's http listeners: `Some` when its policy has `min: 0`.
fn zero_config(spec: &AppSpec) -> Option<crane_core::scale_to_zero::Config> {
    let policy = crane_core::autoscale::Policy::from_spec(spec.autoscaling.as_ref()?);
    policy.idle_after.map(crane_core::scale_to_zero::Config::new)
}

/// A port's traffic, for the app view.
pub(crate) struct PortTraffic {
    /// The container port.
    pub(crate) container: u16,
    /// The loopback port the load balancer listens on.
    pub(crate) public: u16,
    /// The counters.
    pub(crate) metrics: ProxyMetrics,
}

/// Starts the listener of one port on an already bound listener (binding first reports a port in use
/// synchronously).
fn start(app: &str, port: &PortSpec, listener: std::net::TcpListener) -> std::io::Result<PortListener> {
    let shape = Shape::of(port);
    let mut config = ProxyConfig::new(app);
    config.backend_http2 = shape.backend_http2;
    config.sticky = shape.sticky;
    config.strategy = strategy(port);
    let listener = if shape.tcp {
        Listener::Tcp(TcpProxy::bind_std(config, listener).map_err(|e| std::io::Error::other(e.to_string()))?)
    } else {
        Listener::Http(AppProxy::bind_std(config, listener).map_err(|e| std::io::Error::other(e.to_string()))?)
    };
    Ok(PortListener { container: port.container, shape, listener })
}

fn strategy(port: &PortSpec) -> crane_proxy::Strategy {
    match port.balance.unwrap_or_default() {
        Balance::LeastConnections => crane_proxy::Strategy::LeastConnections,
        Balance::RoundRobin => crane_proxy::Strategy::RoundRobin,
    }
}

fn bind(port: u16) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Brings an app's listeners in line with its spec: listeners whose port and shape stay are kept (with their
/// connections and counters), changed ones restart on the same port, new ones bind `public` or a free port. The
/// first port binds `primary` (the stored public port) when it is new. Returns the first error, after trying every
/// port.
fn sync_ports(
    app: &str,
    ports: &[PortSpec],
    current: Vec<PortListener>,
    primary: Option<u16>,
) -> (Vec<PortListener>, Result<(), RuntimeError>) {
    let mut current: Vec<Option<PortListener>> = current.into_iter().map(Some).collect();
    let mut next = Vec::with_capacity(ports.len());
    let mut outcome = Ok(());
    for (i, port) in ports.iter().enumerate() {
        let existing = current.iter_mut().find(|l| l.as_ref().is_some_and(|l| l.container == port.container));
        let existing = existing.and_then(Option::take);
        let wanted = if i == 0 { port.public.or(primary) } else { port.public };
        match existing {
            Some(l) if l.shape == Shape::of(port) && port.public.is_none_or(|p| p == l.listener.port()) => {
                next.push(l);
                continue;
            }
            Some(l) => {
                // Same port, another shape (or another public port): free the port, then listen again.
                let keep = wanted.unwrap_or(l.listener.port());
                drop(l);
                match bind(keep).and_then(|listener| start(app, port, listener)) {
                    Ok(l) => next.push(l),
                    Err(_) if outcome.is_ok() => outcome = Err(RuntimeError::PortInUse(keep)),
                    Err(_) => {}
                }
            }
            None => {
                let bound = match wanted {
                    Some(p) if port.public.is_some() => bind(p).map_err(|_| RuntimeError::PortInUse(p)),
                    // A stored port that is taken now (after a restart) falls back to a free one.
                    Some(p) => bind(p).or_else(|_| bind(0)).map_err(|e| RuntimeError::Other(e.to_string())),
                    None => bind(0).map_err(|e| RuntimeError::Other(e.to_string())),
                };
                match bound
                    .and_then(|listener| start(app, port, listener).map_err(|e| RuntimeError::Other(e.to_string())))
                {
                    Ok(l) => next.push(l),
                    Err(e) if outcome.is_ok() => outcome = Err(e),
                    Err(_) => {}
                }
            }
        }
    }
    (next, outcome)
}

impl Proxies {
    /// Listeners whose scale-to-zero signals go to `signals`.
    pub(crate) fn new(signals: tokio::sync::mpsc::UnboundedSender<crane_proxy::ZeroSignal>) -> Proxies {
        Proxies { apps: Mutex::default(), zero_signals: Some(signals) }
    }

    /// With `min: 0`: whether every http listener of the app has gone without a request for `idleAfter` (then the
    /// shortest idle time, ms). Each listener counts the app as at zero from then on; the caller scales it.
    pub(crate) fn idle_check(&self, app: &str) -> Option<u64> {
        let apps = self.apps.locked();
        let mut idle: Option<u64> = None;
        for p in apps.get(app)? {
            if let Listener::Http(proxy) = &p.listener {
                if proxy.scale_to_zero_status().is_none() {
                    continue;
                }
                let ms = proxy.idle_check()?;
                idle = Some(idle.map_or(ms, |i| i.min(ms)));
            }
        }
        idle
    }

    /// Where scale to zero stands for the app (its first http listener), when it is on.
    pub(crate) fn zero_status(&self, app: &str) -> Option<crane_proxy::ZeroStatus> {
        let apps = self.apps.locked();
        apps.get(app)?.iter().find_map(|p| match &p.listener {
            Listener::Http(proxy) => proxy.scale_to_zero_status(),
            Listener::Tcp(_) => None,
        })
    }

    /// Makes sure the app's listening ports exist before the app is stored, so a port in use is reported at apply
    /// time. Returns the first port's public port (None when the app has no port).
    pub(crate) fn prepare(
        &self,
        spec: &AppSpec,
        stored: Option<u16>,
        wanted: Option<u16>,
    ) -> Result<Option<u16>, RuntimeError> {
        if spec.ports.is_empty() {
            self.remove(&spec.name);
            return Ok(None);
        }
        let mut apps = self.apps.locked();
        let current = apps.remove(&spec.name).unwrap_or_default();
        let (next, outcome) = sync_ports(&spec.name, &spec.ports, current, wanted.or(stored));
        let port = next.first().filter(|l| l.container == spec.ports[0].container).map(|l| l.listener.port());
        apps.insert(spec.name.clone(), next);
        outcome?;
        Ok(port)
    }

    /// Stops an app's listeners.
    pub(crate) fn remove(&self, app: &str) {
        self.apps.locked().remove(app);
    }

    /// Requests in flight plus long-lived connections (WebSockets, TCP) to any of these containers, draining
    /// backends included.
    pub(crate) fn in_flight(&self, ids: &[String]) -> u64 {
        let apps = self.apps.locked();
        apps.values()
            .flatten()
            .flat_map(|p| p.listener.metrics().backends)
            .filter(|b| ids.contains(&b.id))
            .map(|b| b.traffic.in_flight + b.traffic.open_connections)
            .sum()
    }

    /// Closes every connection still open to these (removed) containers; returns how many were closed.
    pub(crate) fn close_connections(&self, ids: &[String]) -> usize {
        let apps = self.apps.locked();
        apps.values().flatten().map(|p| ids.iter().map(|id| p.listener.close_connections(id)).sum::<usize>()).sum()
    }

    /// Traffic metrics of an app's first port.
    pub(crate) fn metrics(&self, app: &str) -> Option<ProxyMetrics> {
        self.apps.locked().get(app).and_then(|ports| ports.first()).map(|p| p.listener.metrics())
    }

    /// Traffic of each of an app's ports, in spec order.
    pub(crate) fn ports(&self, app: &str) -> Vec<PortTraffic> {
        let apps = self.apps.locked();
        apps.get(app)
            .into_iter()
            .flatten()
            .map(|p| PortTraffic { container: p.container, public: p.listener.port(), metrics: p.listener.metrics() })
            .collect()
    }

    /// Whether any app's load balancer has had traffic in the last few seconds.
    pub(crate) fn busy(&self) -> bool {
        let apps = self.apps.locked();
        apps.values().flatten().any(|p| {
            let m = p.listener.metrics().app.traffic;
            m.rps > 0.0 || m.in_flight > 0 || m.open_connections > 0 || m.connections_per_second > 0.0
        })
    }

    /// The cumulative latency histogram of an app's first port, when it is an http port.
    pub(crate) fn latency_histogram(&self, app: &str) -> Option<crane_proxy::hdrhistogram::Histogram<u64>> {
        match &self.apps.locked().get(app)?.first()?.listener {
            Listener::Http(p) => Some(p.latency_histogram()),
            Listener::Tcp(_) => None,
        }
    }

    /// Stops every listener.
    pub(crate) fn clear(&self) {
        self.apps.locked().clear();
    }

    /// Brings listeners and backend lists in line with the stored apps and the last observation.
    pub(crate) fn update(&self, inner: &Inner, stored: &[StoredApp]) {
        let mut shared = inner.shared.locked();
        let mut ready = std::collections::BTreeSet::new();
        shared.ready_backends.clear();
        let mut apps = self.apps.locked();
        apps.retain(|name, _| stored.iter().any(|a| &a.spec.name == name && !a.spec.ports.is_empty()));
        for app in stored {
            // Ready instances: running, wanted, not being removed, and passing readiness (instances without probes
            // are ready when running). Only they receive traffic.
            let members: Vec<(String, String, Option<IpAddr>)> = shared
                .observed
                .iter()
                .filter(|o| {
                    o.app == app.spec.name && o.state == ContainerState::Running && o.index <= app.spec.replicas
                })
                .filter(|o| !shared.removing.contains(&o.id))
                .filter(|o| inner.probers.health(&o.id).map(|h| h.ready).unwrap_or(true))
                .map(|o| (o.id.clone(), o.name.clone(), shared.addresses.get(&o.id).copied()))
                .collect();
            ready.extend(members.iter().map(|(id, _, _)| id.clone()));
            let Some(port) = app.public_port else { continue };
            if app.spec.ports.is_empty() {
                continue;
            }
            let current = apps.remove(&app.spec.name).unwrap_or_default();
            // After an engine restart (no listener yet) or a change of the ports: listen as the spec says, the
            // first port on the port the app was given.
            let (listeners, outcome) = sync_ports(&app.spec.name, &app.spec.ports, current, Some(port));
            if let Err(e) = outcome {
                tracing::warn!("cannot listen for app '{}': {e}", app.spec.name);
            }
            for (i, l) in listeners.iter().enumerate() {
                let Some(spec) = app.spec.ports.iter().find(|p| p.container == l.container) else { continue };
                let backends: Vec<Backend> = members
                    .iter()
                    .filter_map(|(id, name, ip)| {
                        Some(Backend { id: id.clone(), name: name.clone(), addr: SocketAddr::new((*ip)?, l.container) })
                    })
                    .collect();
                if i == 0 {
                    shared.ready_backends.insert(app.spec.name.clone(), backends.iter().map(|b| b.addr).collect());
                }
                if let (Listener::Http(proxy), Some(signals)) = (&l.listener, &self.zero_signals) {
                    // The replica count first: a wake in progress ends with the backends that follow.
                    proxy.set_scale_to_zero(zero_config(&app.spec), signals);
                    proxy.set_replicas(app.spec.replicas);
                }
                l.listener.set_backends(backends, strategy(spec));
            }
            apps.insert(app.spec.name.clone(), listeners);
        }
        // The window shows as ready exactly what the load balancer sends traffic to.
        shared.in_load_balancer = ready;
    }
}
