//! The layer-4 balancer of a tcp port (`mode: tcp`): each client connection goes to one ready backend, chosen
//! round-robin or by fewest open connections, and its bytes pass through unread — what NGINX's `stream` module does
//! for databases, caches and any other TCP service.
//!
//! A connect that fails is retried on the other backends (each once, avoided ones last), so a client only sees a
//! failure when no backend accepts; the failed backend is then avoided for a few seconds. Removed backends drain:
//! their connections run on for up to [`ProxyConfig::drain_timeout`] and are then closed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::balance::{BackendSet, BackendState};
use crate::connect::Registry;
use crate::metrics::Counters;
use crate::{Backend, Balanced, ProxyConfig, ProxyMetrics, Result, Strategy};

/// What the listener task and every connection share.
pub(crate) struct TcpShared {
    config: ProxyConfig,
    backends: BackendSet,
    connections: Arc<Registry>,
    app: Counters,
    retries: AtomicU64,
    started: Instant,
}

impl Balanced for TcpShared {
    fn config(&self) -> &ProxyConfig {
        &self.config
    }
    fn backends(&self) -> &BackendSet {
        &self.backends
    }
    fn connections(&self) -> &Registry {
        &self.connections
    }
    fn app(&self) -> &Counters {
        &self.app
    }
    fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    fn started(&self) -> Instant {
        self.started
    }
}

/// One tcp port's running balancer. Dropping it closes the port; connections already spliced run on until either
/// side closes them.
pub struct TcpProxy {
    shared: Arc<TcpShared>,
    port: u16,
    runtime: tokio::runtime::Handle,
    _stop: watch::Sender<()>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl std::fmt::Debug for TcpProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpProxy").field("app", &self.shared.config.app).field("port", &self.port).finish()
    }
}

impl TcpProxy {
    /// Binds `127.0.0.1:port` (0 picks a free port) and starts accepting; with no backends yet, connections are
    /// closed at once.
    pub async fn bind(config: ProxyConfig, port: u16) -> Result<TcpProxy> {
        TcpProxy::bind_std(config, crate::bind_loopback(port)?)
    }

    /// Starts on a listener the caller already bound. Must be called from within a Tokio runtime.
    pub fn bind_std(config: ProxyConfig, listener: std::net::TcpListener) -> Result<TcpProxy> {
        let (runtime, port, listener) = crate::tokio_listener(listener)?;
        let shared = Arc::new(TcpShared {
            backends: BackendSet::new(config.strategy),
            config,
            connections: Arc::new(Registry::default()),
            app: Counters::new(),
            retries: AtomicU64::new(0),
            started: Instant::now(),
        });
        let (stop, stopped) = watch::channel(());
        let task = runtime.spawn(accept_loop(listener, shared.clone(), stopped));
        Ok(TcpProxy { shared, port, runtime, _stop: stop, listener: task })
    }

    /// The port the balancer listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Replaces the set of ready backends: new connections go to this set; connections to removed backends run on
    /// for up to [`ProxyConfig::drain_timeout`] and are then closed.
    pub fn set_backends(&self, backends: Vec<Backend>) {
        crate::replace_backends(&self.runtime, &self.shared, backends);
    }

    /// Switches the balancing strategy for the next connections.
    pub fn set_strategy(&self, strategy: Strategy) {
        self.shared.backends.set_strategy(strategy);
    }

    /// Closes every connection to the backend with this container id now (the engine's drain limit passed).
    /// Returns how many were closed.
    pub fn close_connections(&self, id: &str) -> usize {
        crate::close_connections(&*self.shared, id)
    }

    /// A snapshot of the counters: `open_connections`, `connections_total`, `connections_per_second` and the
    /// bytes per app and per backend (`requests_total` stays 0 on a tcp port).
    pub fn metrics(&self) -> ProxyMetrics {
        crate::metrics_of(&*self.shared)
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<TcpShared>, mut stop: watch::Receiver<()>) {
    loop {
        let (client, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(app = %shared.config.app, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = client.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move { serve(shared, client).await });
    }
}

/// Connects one client to a backend (retrying on the others) and splices them until one side closes.
async fn serve(shared: Arc<TcpShared>, client: TcpStream) {
    let now_ms = shared.started.elapsed().as_millis() as u64;
    let second = shared.started.elapsed().as_secs();
    shared.app.connection_opened(second);
    let connected = connect(&shared, now_ms).await;
    let Some((backend, stream, _registration)) = connected else {
        // No backend accepted: closing the client is all a layer-4 balancer can say.
        shared.app.connection_closed();
        tracing::debug!(app = %shared.config.app, "no backend accepted a tcp connection");
        return;
    };
    backend.counters.connection_opened(second);
    crate::splice::splice(client, stream, &shared.app, &backend.counters).await;
    backend.counters.connection_closed();
    shared.app.connection_closed();
}

/// The first backend that accepts, trying each one of the set at most once.
async fn connect(
    shared: &TcpShared,
    now_ms: u64,
) -> Option<(Arc<BackendState>, TcpStream, crate::connect::Registration)> {
    let mut backend = shared.backends.pick(now_ms)?;
    let mut tried: Vec<Arc<BackendState>> = Vec::new();
    loop {
        match crate::connect::open(&shared.connections, backend.backend.addr, shared.config.connect_timeout).await {
            Ok((stream, registration)) => {
                backend.answered();
                return Some((backend, stream, registration));
            }
            Err(e) => {
                backend.connect_failed(now_ms);
                tracing::debug!(app = %shared.config.app, backend = %backend.backend.name, "tcp connect failed: {e}");
                tried.push(backend.clone());
                let next = shared.backends.current().iter().find(|b| !tried.iter().any(|t| Arc::ptr_eq(t, b))).cloned();
                // Prefer one that is not avoided, in set order after the failed one.
                let next = shared
                    .backends
                    .pick_other(&backend, now_ms)
                    .filter(|b| !tried.iter().any(|t| Arc::ptr_eq(t, b)))
                    .or(next)?;
                shared.retries.fetch_add(1, Ordering::Relaxed);
                backend = next;
            }
        }
    }
}
