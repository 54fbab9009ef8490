//! What the caller tells a proxy: its backends, its balancing strategy and its timeouts.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One ready instance of the app that may receive requests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Backend {
    /// The container id; together with `addr` it identifies the backend across [`set_backends`] calls, so its
    /// counters survive membership updates.
    ///
    /// [`set_backends`]: crate::AppProxy::set_backends
    pub id: String,
    /// The instance name shown to users, such as `web-1`; used in error pages and metrics.
    pub name: String,
    /// Where the instance listens (container IP and container port).
    pub addr: SocketAddr,
}

/// How a backend is chosen for each request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Each request goes to the next backend in the set, in order, starting with the first one.
    #[default]
    RoundRobin,
    /// Each request goes to the backend with the fewest requests in flight; ties are broken round-robin.
    LeastConnections,
}

impl Strategy {
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            Strategy::RoundRobin => 0,
            Strategy::LeastConnections => 1,
        }
    }

    pub(crate) fn from_u8(value: u8) -> Strategy {
        match value {
            1 => Strategy::LeastConnections,
            _ => Strategy::RoundRobin,
        }
    }
}

/// The settings of one app's proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyConfig {
    /// The app's name, shown in error pages and metrics.
    pub app: String,
    /// The initial balancing strategy; [`AppProxy::set_strategy`](crate::AppProxy::set_strategy) changes it live.
    pub strategy: Strategy,
    /// How long opening a TCP connection to a backend may take before it counts as failed (and may be retried on
    /// another backend).
    pub connect_timeout: Duration,
    /// How long a backend may take to send its response headers before the client gets a `504`. Streaming the
    /// body afterwards is not limited, so long downloads and event streams keep working.
    pub request_timeout: Duration,
    /// How long requests already sent to a removed backend may keep running before their connections are closed.
    /// Long-lived connections (WebSockets, TCP connections) are closed at the same moment.
    pub drain_timeout: Duration,
    /// Speak HTTP/2 (h2c, prior knowledge) to the backends instead of HTTP/1.1, for apps that declare
    /// `appProtocol: http2|grpc`. Clients may use either protocol on the listener in both cases.
    pub backend_http2: bool,
    /// Keep each client on one backend with a cookie the proxy sets ([`sticky_cookie_name`]); a client whose
    /// backend left the set is moved to another one and gets a new cookie.
    pub sticky: bool,
}

/// The name of the session-affinity cookie of `app`. Cookies are not scoped by port, so two apps on the same host
/// need different names.
pub fn sticky_cookie_name(app: &str) -> String {
    format!("crane-sticky-{app}")
}

impl ProxyConfig {
    /// The defaults NGINX and Kubernetes users expect: round-robin, 1 s connect, 60 s request, 30 s drain, HTTP/1.1
    /// to the backends, no session affinity.
    pub fn new(app: impl Into<String>) -> ProxyConfig {
        ProxyConfig {
            app: app.into(),
            strategy: Strategy::RoundRobin,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            backend_http2: false,
            sticky: false,
        }
    }
}
