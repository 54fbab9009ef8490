//! Crane's built-in load balancer: per app port, an HTTP reverse proxy ([`AppProxy`]) or a layer-4 TCP balancer
//! ([`TcpProxy`]), listening on a loopback port and spreading traffic over the app's ready instances.
//!
//! What users coming from Kubernetes or NGINX can count on:
//! - HTTP/1.1 and HTTP/2 without TLS (h2c, prior knowledge) on the same port; HTTP/2 to the instances when the app
//!   declares it ([`ProxyConfig::backend_http2`]), so gRPC works, streaming and trailers included, and gRPC status
//!   codes are counted next to HTTP ones;
//! - `Upgrade` (WebSocket) requests go to one ready instance and the connection is then spliced both ways until
//!   either side closes; it counts as a long-lived connection and is closed when its instance has drained;
//! - session affinity by cookie ([`ProxyConfig::sticky`]);
//! - balancing is per request, not per connection: a keep-alive client still reaches every instance;
//! - round-robin or least-connections ([`Strategy`]), switchable live;
//! - keep-alive on both sides, with one pooled client per proxy (idle backend connections close after 30 s);
//! - `X-Forwarded-For` / `-Proto` / `-Host` are set and hop-by-hop headers removed;
//! - a connect that fails (refused, timed out) is retried once on another instance when the request is idempotent
//!   and its body is empty or small; a request the backend may have received is never retried; the instance is
//!   then avoided for 5 s while others are available (NGINX's `max_fails=1`);
//! - `503` with `Retry-After: 1` when no instance is ready, `504` when one is too slow, `502` otherwise;
//! - scale to zero ([`AppProxy::set_scale_to_zero`]): with no instance ready the request is held (a bounded queue,
//!   a bounded wait, then `503` with `Retry-After`), the owner is asked to start one ([`ZeroSignal::Wake`]), and
//!   the held requests go on as soon as it is ready (Knative's activator);
//! - membership changes never cut requests in flight: removed instances drain for up to
//!   [`ProxyConfig::drain_timeout`];
//! - bodies stream both ways; per-app and per-instance counters ([`ProxyMetrics`]).
//!
//! The caller (the engine) decides which instances are ready and calls [`AppProxy::set_backends`] after each
//! reconcile pass; this crate knows nothing about containers.
//!
//! **Architecture Invariant:** nothing on the per-request path takes a lock shared by all requests: the backend set
//! is read through an `RwLock` held only to clone one `Arc`, counters are atomics, and latency histograms are
//! sharded.

#![warn(missing_docs)]

mod activator;
mod balance;
mod config;
mod connect;
mod error;
mod forward;
mod metrics;
mod splice;
mod tcp;
mod upgrade;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use activator::{ZeroSignal, ZeroStatus};
pub use config::{sticky_cookie_name, Backend, ProxyConfig, Strategy};
pub use error::{ProxyError, Result};
/// The histogram crate of [`AppProxy::latency_histogram`], re-exported so callers use the same version.
pub use hdrhistogram;
pub use metrics::{AppTraffic, BackendTraffic, ProxyMetrics, Traffic, GRPC_CODES};
pub use tcp::TcpProxy;

use balance::BackendSet;
use connect::{Connector, Registry};
use metrics::Counters;

/// How long an idle pooled connection to a backend is kept, like NGINX's `keepalive_timeout` for upstreams.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the listener task and every request share.
pub(crate) struct Shared {
    config: ProxyConfig,
    backends: BackendSet,
    client: Client<Connector, forward::RequestBody>,
    /// Opens the dedicated backend connections of upgraded requests.
    connector: Connector,
    connections: Arc<Registry>,
    /// The name of the session-affinity cookie, when [`ProxyConfig::sticky`] is on.
    sticky_cookie: String,
    app: Counters,
    retries: AtomicU64,
    /// The clock the request rate is measured against.
    started: Instant,
    unavailable_page: Bytes,
    /// Scale to zero, once the owner turned it on; `activator_on` says whether it is on now.
    activator: std::sync::OnceLock<activator::Activator>,
    activator_on: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// The activator, when scale to zero is on.
    pub(crate) fn activator(&self) -> Option<&activator::Activator> {
        if self.activator_on.load(Ordering::Relaxed) {
            self.activator.get()
        } else {
            None
        }
    }
}

/// One app's running proxy. It owns the listener task: dropping it closes the port, lets requests in flight finish
/// and closes idle client connections.
pub struct AppProxy {
    shared: Arc<Shared>,
    port: u16,
    runtime: tokio::runtime::Handle,
    /// Dropped with the proxy, which tells the listener and every client connection to stop.
    _stop: watch::Sender<()>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for AppProxy {
    fn drop(&mut self) {
        // Aborting frees the port at once, even if the task is not polled again soon.
        self.listener.abort();
    }
}

impl std::fmt::Debug for AppProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppProxy").field("app", &self.shared.config.app).field("port", &self.port).finish()
    }
}

impl AppProxy {
    /// Binds `127.0.0.1:port` (0 picks a free port) and starts serving; the backend set starts empty, so requests
    /// get `503` until [`AppProxy::set_backends`] is called.
    ///
    /// Fails with [`ProxyError::PortInUse`] when another socket listens on the port.
    pub async fn bind(config: ProxyConfig, port: u16) -> Result<AppProxy> {
        AppProxy::bind_std(config, bind_loopback(port)?)
    }

    /// Starts serving on a listener the caller already bound, so it can reserve (and report) the port
    /// synchronously. Must be called from within a Tokio runtime, which then runs the proxy.
    pub fn bind_std(config: ProxyConfig, listener: std::net::TcpListener) -> Result<AppProxy> {
        let (runtime, port, listener) = tokio_listener(listener)?;

        let connections = Arc::new(Registry::default());
        let connector = Connector { timeout: config.connect_timeout, registry: connections.clone() };
        let mut builder = Client::builder(TokioExecutor::new());
        builder.pool_idle_timeout(POOL_IDLE_TIMEOUT).pool_timer(TokioTimer::new());
        if config.backend_http2 {
            // h2c with prior knowledge: one multiplexed connection per backend carries every request.
            builder.http2_only(true).timer(TokioTimer::new());
        }
        let client = builder.build(connector.clone());
        let shared = Arc::new(Shared {
            backends: BackendSet::new(config.strategy),
            unavailable_page: forward::unavailable_page(&config.app),
            sticky_cookie: sticky_cookie_name(&config.app),
            config,
            client,
            connector,
            connections,
            app: Counters::new(),
            retries: AtomicU64::new(0),
            started: Instant::now(),
            activator: std::sync::OnceLock::new(),
            activator_on: std::sync::atomic::AtomicBool::new(false),
        });
        let (stop, stopped) = watch::channel(());
        let task = runtime.spawn(accept_loop(listener, shared.clone(), stopped));
        Ok(AppProxy { shared, port, runtime, _stop: stop, listener: task })
    }

    /// The port the proxy listens on (useful after binding port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Replaces the set of ready backends. New requests only go to this set at once; requests already sent to a
    /// removed backend finish, for up to [`ProxyConfig::drain_timeout`], after which its connections are closed.
    /// A backend is identified by its id and address: one that stays keeps its counters.
    pub fn set_backends(&self, backends: Vec<Backend>) {
        let any = !backends.is_empty();
        replace_backends(&self.runtime, &self.shared, backends);
        if let (true, Some(activator)) = (any, self.shared.activator()) {
            activator.ready();
        }
    }

    /// Turns scale to zero on with these bounds (`Some`), or off (`None`: no request is held any more; those
    /// held now are let through to whatever the backend set holds). `signals` receives the wake requests and
    /// the cold starts; only the first call's sender is kept.
    pub fn set_scale_to_zero(
        &self,
        config: Option<crane_core::scale_to_zero::Config>,
        signals: &tokio::sync::mpsc::UnboundedSender<ZeroSignal>,
    ) {
        match config {
            Some(config) => {
                let activator = self
                    .shared
                    .activator
                    .get_or_init(|| activator::Activator::new(&self.shared.config.app, config, signals.clone()));
                activator.set_config(config);
                self.shared.activator_on.store(true, Ordering::Relaxed);
            }
            None => {
                if self.shared.activator_on.swap(false, Ordering::Relaxed) {
                    if let Some(activator) = self.shared.activator.get() {
                        activator.ready();
                    }
                }
            }
        }
    }

    /// Tells the activator the app's replica count after a reconcile pass (0: the app is at zero).
    pub fn set_replicas(&self, replicas: u32) {
        if let Some(activator) = self.shared.activator() {
            activator.replicas(replicas);
        }
    }

    /// With scale to zero on: whether the app has gone without a request for `idleAfter` (then how long, ms). The
    /// activator counts the app as at zero from here on; the owner scales it to zero.
    pub fn idle_check(&self) -> Option<u64> {
        self.shared.activator()?.idle()
    }

    /// Where scale to zero stands, when it is on.
    pub fn scale_to_zero_status(&self) -> Option<ZeroStatus> {
        self.shared.activator().map(activator::Activator::status)
    }

    /// Closes every connection to the backend with this container id now, upgraded ones (WebSockets) included:
    /// the engine calls it when its drain limit passed before it removes the instance. Returns how many closed.
    pub fn close_connections(&self, id: &str) -> usize {
        close_connections(&*self.shared, id)
    }

    /// Switches the balancing strategy for the next requests.
    pub fn set_strategy(&self, strategy: Strategy) {
        self.shared.backends.set_strategy(strategy);
    }

    /// The app's cumulative latency histogram (microseconds, since the proxy started). Subtract an earlier copy
    /// (`Histogram::subtract`) to get the percentiles of a recent window, as the autoscaler and charts do.
    pub fn latency_histogram(&self) -> hdrhistogram::Histogram<u64> {
        self.shared.app.latency_histogram()
    }

    /// A snapshot of the traffic counters.
    pub fn metrics(&self) -> ProxyMetrics {
        metrics_of(&*self.shared)
    }
}

/// What the HTTP and the TCP proxies share: a backend set with its connections and counters.
/// Binds `127.0.0.1:port` (0 picks a free port): [`ProxyError::PortInUse`] when another socket listens on it.
pub(crate) fn bind_loopback(port: u16) -> Result<std::net::TcpListener> {
    std::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)).map_err(|source| {
        match source.kind() {
            std::io::ErrorKind::AddrInUse => ProxyError::PortInUse(port),
            _ => ProxyError::Listen { port, source },
        }
    })
}

/// The current runtime, the listener's port and the listener registered with that runtime's reactor. Must be
/// called from within a Tokio runtime.
pub(crate) fn tokio_listener(listener: std::net::TcpListener) -> Result<(tokio::runtime::Handle, u16, TcpListener)> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| ProxyError::NoRuntime)?;
    let port = listener.local_addr().map_err(|source| ProxyError::Listen { port: 0, source })?.port();
    let listen_error = |source| ProxyError::Listen { port, source };
    listener.set_nonblocking(true).map_err(listen_error)?;
    let listener = {
        // Registering the socket with the reactor needs the runtime's context even when called from outside it.
        let _enter = runtime.enter();
        TcpListener::from_std(listener).map_err(listen_error)?
    };
    Ok((runtime, port, listener))
}

pub(crate) trait Balanced: Send + Sync + 'static {
    fn config(&self) -> &ProxyConfig;
    fn backends(&self) -> &BackendSet;
    fn connections(&self) -> &Registry;
    fn app(&self) -> &Counters;
    fn retries(&self) -> u64;
    fn started(&self) -> Instant;
}

impl Balanced for Shared {
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

/// Swaps the backend set and starts a drain timer for each removed backend: once it passes, the connections still
/// open to it (requests, WebSockets, TCP connections) are closed.
pub(crate) fn replace_backends<S: Balanced>(runtime: &tokio::runtime::Handle, shared: &Arc<S>, backends: Vec<Backend>) {
    let removed = shared.backends().replace(backends);
    for gone in removed {
        let shared = Arc::downgrade(shared);
        let drain = shared.upgrade().map_or(Duration::ZERO, |s| s.config().drain_timeout);
        runtime.spawn(async move {
            tokio::time::sleep(drain).await;
            let (Some(shared), Some(backend)) = (shared.upgrade(), gone.backend.upgrade()) else {
                // Either the proxy is gone or nothing holds the backend any more: nothing to cut short.
                return;
            };
            let added_back =
                backend.removals.load(Ordering::Relaxed) != gone.removal || !backend.draining.load(Ordering::Relaxed);
            // A new backend on the same address (a reused container IP) must not lose its connections.
            if added_back || shared.backends().serves(gone.addr) {
                return;
            }
            let busy = backend.load();
            let closed = shared.connections().kill(gone.addr);
            if busy > 0 {
                tracing::warn!(app = %shared.config().app, backend = %backend.backend.name, busy, closed,
                    "drain timeout passed; closing the removed instance's connections");
            }
        });
    }
}

/// Closes the connections to the backend with container id `id` (current or draining).
pub(crate) fn close_connections<S: Balanced>(shared: &S, id: &str) -> usize {
    match shared.backends().by_id(id) {
        // Only a removed backend: one still in the set keeps its connections.
        Some(backend)
            if backend.draining.load(Ordering::Relaxed) && !shared.backends().serves(backend.backend.addr) =>
        {
            shared.connections().kill(backend.backend.addr)
        }
        _ => 0,
    }
}

/// A snapshot of the counters of a proxy.
pub(crate) fn metrics_of<S: Balanced>(shared: &S) -> ProxyMetrics {
    let uptime = shared.started().elapsed();
    let backend = |state: &balance::BackendState| BackendTraffic {
        id: state.backend.id.clone(),
        name: state.backend.name.clone(),
        addr: state.backend.addr,
        draining: state.draining.load(Ordering::Relaxed),
        connect_failures: state.connect_failures.load(Ordering::Relaxed),
        avoided: state.avoided(uptime.as_millis() as u64),
        traffic: state.counters.snapshot(uptime),
    };
    let mut backends: Vec<BackendTraffic> = shared.backends().current().iter().map(|b| backend(b)).collect();
    backends.extend(shared.backends().draining().iter().map(|b| backend(b)));
    ProxyMetrics {
        app: AppTraffic {
            app: shared.config().app.clone(),
            retries: shared.retries(),
            traffic: shared.app().snapshot(uptime),
        },
        backends,
    }
}

/// Accepts client connections until the proxy is dropped, serving each on its own task.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<()>) {
    // HTTP/1.1 and h2c prior knowledge on the same port: the first bytes of a connection tell which.
    let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // The timer enables hyper's 30 s limit for reading request headers, which protects against idle half-open
    // clients holding connections forever.
    http.http1().timer(TokioTimer::new()).keep_alive(true);
    http.http2().timer(TokioTimer::new());
    let http = Arc::new(http);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::warn!(app = %shared.config.app, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let client_ip = forward::client_ip_header(peer.ip());
        let service = {
            let shared = shared.clone();
            service_fn(move |request| forward::handle(shared.clone(), client_ip.clone(), request))
        };
        let mut stop = stop.clone();
        let http = http.clone();
        tokio::spawn(async move {
            // Upgrades (WebSockets) need the connection handed back to the proxy after the `101`.
            let connection = http.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!("client connection ended: {e}");
                    }
                }
                _ = stop.changed() => {
                    // Finish the request in progress, if any, then close.
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
}
