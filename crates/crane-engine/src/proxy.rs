//! The engine's side of the built-in load balancer: one [`crane_proxy::AppProxy`] (an HTTP/1.1 reverse proxy on a
//! loopback port) per app with a port, whose backend set is the app's ready instances after each reconcile pass.
//!
//! **Architecture Invariant:** the backend set is replaced as a whole; requests in flight keep their backend until
//! they finish (the proxy drains removed backends), so membership changes never cut requests.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use crane_core::model::ContainerState;
use crane_core::ports::{RuntimeError, StoredApp};
use crane_core::spec::{AppSpec, Balance};
use crane_proxy::{AppProxy, Backend, ProxyConfig};

use crate::clock::LockExt;
use crate::Inner;

/// The listening ports of every app.
#[derive(Default)]
pub(crate) struct Proxies {
    apps: Mutex<BTreeMap<String, AppProxy>>,
}

/// Starts the proxy of `app` on an already bound listener (binding first reports a port in use synchronously).
fn start(app: &str, listener: std::net::TcpListener) -> std::io::Result<AppProxy> {
    AppProxy::bind_std(ProxyConfig::new(app), listener).map_err(|e| std::io::Error::other(e.to_string()))
}

fn bind(port: u16) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

impl Proxies {
    /// Makes sure the app's listening port exists before the app is stored, so a port in use is reported at apply
    /// time. Returns the port (None when the app has no port).
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
        if let Some(current) = apps.get(&spec.name) {
            if wanted.is_none() || wanted == Some(current.port()) {
                return Ok(Some(current.port()));
            }
        }
        let listener = match wanted {
            Some(p) => bind(p).map_err(|_| RuntimeError::PortInUse(p))?,
            None => bind(stored.unwrap_or(0)).or_else(|_| bind(0)).map_err(|e| RuntimeError::Other(e.to_string()))?,
        };
        let proxy = start(&spec.name, listener).map_err(|e| RuntimeError::Other(e.to_string()))?;
        let port = proxy.port();
        apps.insert(spec.name.clone(), proxy);
        Ok(Some(port))
    }

    /// Stops an app's listener.
    pub(crate) fn remove(&self, app: &str) {
        self.apps.locked().remove(app);
    }

    /// Requests still in flight to any of these containers (draining backends included).
    pub(crate) fn in_flight(&self, ids: &[String]) -> u64 {
        let apps = self.apps.locked();
        apps.values()
            .flat_map(|p| p.metrics().backends)
            .filter(|b| ids.contains(&b.id))
            .map(|b| b.traffic.in_flight)
            .sum()
    }

    /// Traffic metrics of an app's load balancer.
    pub(crate) fn metrics(&self, app: &str) -> Option<crane_proxy::ProxyMetrics> {
        self.apps.locked().get(app).map(|p| p.metrics())
    }

    /// Whether any app's load balancer has had traffic in the last few seconds.
    pub(crate) fn busy(&self) -> bool {
        let apps = self.apps.locked();
        apps.values().any(|p| {
            let m = p.metrics().app.traffic;
            m.rps > 0.0 || m.in_flight > 0
        })
    }

    /// The cumulative latency histogram of an app's load balancer.
    pub(crate) fn latency_histogram(&self, app: &str) -> Option<crane_proxy::hdrhistogram::Histogram<u64>> {
        self.apps.locked().get(app).map(|p| p.latency_histogram())
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
            let members: Vec<&crane_core::model::ObservedInstance> = shared
                .observed
                .iter()
                .filter(|o| {
                    o.app == app.spec.name && o.state == ContainerState::Running && o.index <= app.spec.replicas
                })
                .filter(|o| !shared.removing.contains(&o.id))
                .filter(|o| inner.probers.health(&o.id).map(|h| h.ready).unwrap_or(true))
                .collect();
            ready.extend(members.iter().map(|o| o.id.clone()));
            let (Some(port), Some(first)) = (app.public_port, app.spec.ports.first()) else { continue };
            if !apps.contains_key(&app.spec.name) {
                // After an engine restart: listen again on the port the app was given.
                match bind(port).and_then(|l| start(&app.spec.name, l)) {
                    Ok(p) => {
                        apps.insert(app.spec.name.clone(), p);
                    }
                    Err(e) => {
                        tracing::warn!("cannot listen on port {port} for app '{}': {e}", app.spec.name);
                        continue;
                    }
                }
            }
            let backends: Vec<Backend> = members
                .iter()
                .filter_map(|o| {
                    let ip = shared.addresses.get(&o.id)?;
                    Some(Backend {
                        id: o.id.clone(),
                        name: o.name.clone(),
                        addr: SocketAddr::new(*ip, first.container),
                    })
                })
                .collect();
            shared.ready_backends.insert(app.spec.name.clone(), backends.iter().map(|b| b.addr).collect());
            if let Some(p) = apps.get(&app.spec.name) {
                p.set_strategy(match first.balance.unwrap_or_default() {
                    Balance::LeastConnections => crane_proxy::Strategy::LeastConnections,
                    Balance::RoundRobin => crane_proxy::Strategy::RoundRobin,
                });
                p.set_backends(backends);
            }
        }
        // The window shows as ready exactly what the load balancer sends traffic to.
        shared.in_load_balancer = ready;
    }
}
