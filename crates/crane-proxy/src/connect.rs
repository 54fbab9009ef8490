//! Opening connections to backends, and closing them all when a removed backend overstays its drain timeout.
//!
//! The pooled HTTP client owns its connections and offers no way to close them from outside. So the connector
//! keeps a duplicate handle of every socket it opens, grouped by backend address; shutting a duplicate down ends
//! the connection for its owner too, which fails whatever request was still running on it. This costs nothing
//! per request: the registry is only touched when a connection opens, closes, or is killed.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Every open backend connection of one proxy, by backend address.
#[derive(Default)]
pub(crate) struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<SocketAddr, HashMap<u64, socket2::Socket>>>,
}

impl Registry {
    fn register(self: &Arc<Self>, addr: SocketAddr, stream: &TcpStream) -> io::Result<Registration> {
        let duplicate = socket2::SockRef::from(stream).try_clone()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().entry(addr).or_default().insert(id, duplicate);
        Ok(Registration { registry: self.clone(), addr, id })
    }

    /// Ends every connection to `addr`, idle or busy. Requests still waiting on them fail with a `502`.
    pub(crate) fn kill(&self, addr: SocketAddr) -> usize {
        let sockets = self.lock().remove(&addr).unwrap_or_default();
        for socket in sockets.values() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        sockets.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, HashMap<u64, socket2::Socket>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes a connection's duplicate handle from the registry when the connection is dropped, so the socket really
/// closes.
pub(crate) struct Registration {
    registry: Arc<Registry>,
    addr: SocketAddr,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.registry.lock();
        if let Some(by_id) = open.get_mut(&self.addr) {
            by_id.remove(&self.id);
            if by_id.is_empty() {
                open.remove(&self.addr);
            }
        }
    }
}

/// The pooled client's connector: plain TCP with `TCP_NODELAY` and a connect timeout, registered for killing.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) timeout: Duration,
    pub(crate) registry: Arc<Registry>,
}

impl tower_service::Service<Uri> for Connector {
    type Response = BackendStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<BackendStream>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            // The proxy always builds URIs from a backend's SocketAddr, so the authority parses back into one.
            let addr: SocketAddr = uri
                .authority()
                .and_then(|a| a.as_str().parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("not a backend address: {uri}")))?;
            let (stream, registration) = open(&this.registry, addr, this.timeout).await?;
            Ok(BackendStream { io: TokioIo::new(stream), _registration: registration })
        })
    }
}

/// Opens a registered connection to `addr` (with `TCP_NODELAY`), failing after `timeout`. The connection can be
/// ended by [`Registry::kill`] for as long as the registration lives.
pub(crate) async fn open(
    registry: &Arc<Registry>,
    addr: SocketAddr,
    timeout: Duration,
) -> io::Result<(TcpStream, Registration)> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connect to {addr} timed out")))??;
    stream.set_nodelay(true)?;
    let registration = registry.register(addr, &stream)?;
    Ok((stream, registration))
}

/// A connection to a backend, as handed to the pooled client.
pub(crate) struct BackendStream {
    io: TokioIo<TcpStream>,
    _registration: Registration,
}

impl Connection for BackendStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for BackendStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for BackendStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}
