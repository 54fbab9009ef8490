//! The ways starting a proxy can fail. Serving never fails as a whole: a request that cannot be forwarded gets a
//! proxy-generated `502`/`503`/`504` answer and is counted in the metrics instead.

/// Why an [`AppProxy`](crate::AppProxy) could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Another socket already listens on the requested port; the caller should pick another port (or 0).
    #[error("port {0} is already in use on 127.0.0.1")]
    PortInUse(u16),
    /// Binding or preparing the listening socket failed for another reason (for example a port below 1024 without
    /// the privilege to use it).
    #[error("cannot listen on port {port}: {source}")]
    Listen {
        /// The port that was asked for (0 means "any free port").
        port: u16,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The proxy was started outside a Tokio runtime, so it has nowhere to run its listener task.
    #[error("the proxy must be started from within a Tokio runtime")]
    NoRuntime,
}

/// The result of starting a proxy.
pub type Result<T> = std::result::Result<T, ProxyError>;
