//! The built-in load balancer, first cut: one loopback listening port per app with a port, forwarding each TCP
//! connection round-robin to the app's running instances (container IP + container port), retrying the connect once
//! on another instance, and answering `503` when no instance runs.
//!
//! **Architecture Invariant:** the backend list is replaced as a whole after each reconcile pass; connections already
//! forwarded keep their backend until they close, so membership changes never cut in-flight requests.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crane_core::model::ContainerState;
use crane_core::ports::{RuntimeError, StoredApp};
use crane_core::spec::AppSpec;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::Inner;

/// How long a connect to one backend may take before the next one is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

struct AppProxy {
    port: u16,
    backends: Arc<RwLock<Vec<SocketAddr>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AppProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The listening ports of every app.
#[derive(Default)]
pub(crate) struct Proxies {
    apps: Mutex<BTreeMap<String, AppProxy>>,
}

fn bind(port: u16) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

impl Proxies {
    /// Makes sure the app's listening port exists before the app is stored, so a port in use is reported at apply
    /// time. Returns the port (None when the app has no port).
    pub(crate) fn prepare(&self, spec: &AppSpec, stored: Option<u16>, wanted: Option<u16>) -> Result<Option<u16>, RuntimeError> {
        if spec.ports.is_empty() {
            self.remove(&spec.name);
            return Ok(None);
        }
        let mut apps = self.apps.lock().unwrap();
        if let Some(current) = apps.get(&spec.name) {
            if wanted.is_none() || wanted == Some(current.port) {
                return Ok(Some(current.port));
            }
        }
        let listener = match wanted {
            Some(p) => bind(p).map_err(|_| RuntimeError::PortInUse(p))?,
            None => bind(stored.unwrap_or(0)).or_else(|_| bind(0)).map_err(|e| RuntimeError::Other(e.to_string()))?,
        };
        let proxy = start(&spec.name, listener).map_err(|e| RuntimeError::Other(e.to_string()))?;
        let port = proxy.port;
        apps.insert(spec.name.clone(), proxy);
        Ok(Some(port))
    }

    /// Stops an app's listener.
    pub(crate) fn remove(&self, app: &str) {
        self.apps.lock().unwrap().remove(app);
    }

    /// Stops every listener.
    pub(crate) fn clear(&self) {
        self.apps.lock().unwrap().clear();
    }

    /// Brings listeners and backend lists in line with the stored apps and the last observation.
    pub(crate) fn update(&self, inner: &Inner, stored: &[StoredApp]) {
        let mut shared = inner.shared.lock().unwrap();
        let mut ready = std::collections::BTreeSet::new();
        let mut apps = self.apps.lock().unwrap();
        apps.retain(|name, _| stored.iter().any(|a| &a.spec.name == name && !a.spec.ports.is_empty()));
        for app in stored {
            // Ready instances: running, wanted, not being removed, and passing readiness (instances without probes
            // are ready when running). Only they receive traffic.
            let members: Vec<&crane_core::model::ObservedInstance> = shared
                .observed
                .iter()
                .filter(|o| o.app == app.spec.name && o.state == ContainerState::Running && o.index <= app.spec.replicas)
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
            let backends: Vec<SocketAddr> = members
                .iter()
                .filter_map(|o| shared.addresses.get(&o.id).map(|ip| SocketAddr::new(*ip, first.container)))
                .collect();
            if let Some(p) = apps.get(&app.spec.name) {
                *p.backends.write().unwrap() = backends;
            }
        }
        // The window shows as ready exactly what the load balancer sends traffic to.
        shared.in_load_balancer = ready;
    }
}

fn start(app: &str, listener: std::net::TcpListener) -> std::io::Result<AppProxy> {
    let port = listener.local_addr()?.port();
    let listener = TcpListener::from_std(listener)?;
    let backends: Arc<RwLock<Vec<SocketAddr>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let app = app.to_string();
    let task = {
        let backends = backends.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                let _ = client.set_nodelay(true);
                let list = backends.read().unwrap().clone();
                let first = next.fetch_add(1, Ordering::Relaxed);
                let app = app.clone();
                tokio::spawn(async move { forward(&app, client, &list, first).await });
            }
        })
    };
    Ok(AppProxy { port, backends, task })
}

async fn forward(app: &str, mut client: TcpStream, backends: &[SocketAddr], first: usize) {
    // Try the chosen instance, then one other if its connect fails.
    let attempts = backends.len().min(2);
    for k in 0..attempts {
        let addr = backends[(first + k) % backends.len()];
        if let Ok(Ok(mut upstream)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            let _ = upstream.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            return;
        }
    }
    // Read the request head first: an HTTP client treats an answer that comes before its request as an error.
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::io::AsyncReadExt::read(&mut client, &mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let body = format!("no instance of app '{app}' is ready; check `cranectl get instances {app}`\n");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(response.as_bytes()).await;
    let _ = client.shutdown().await;
}
