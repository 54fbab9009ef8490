//! How one request is sent: a keep-alive pooled HTTP/1.1 client whose background tasks are tracked so a run can
//! end them all, and the mapping of each attempt to an [`Outcome`] with a short error kind.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::USER_AGENT;
use hyper::{Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The `User-Agent` every generated request carries, so app logs and Crane's router can tell load from users.
pub const USER_AGENT_VALUE: &str = "crane-loadgen";

/// The pooled client a run shares between its requests.
pub(crate) type LoadClient = Client<HttpConnector, Empty<Bytes>>;

/// What became of one request that went out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// The app answered (any status) and the whole body arrived.
    Response {
        /// The HTTP status code.
        status: u16,
        /// From issuing the request to the end of the body.
        latency: Duration,
    },
    /// No complete answer: a transport failure or the timeout.
    Failed {
        /// A short, stable kind: `connect refused`, `timeout`, `reset`, …
        kind: &'static str,
    },
}

/// A hyper executor that spawns the client's background tasks (one per pooled connection) into a set the run owns,
/// so that [`TrackedExecutor::shutdown`] can end them: after a run no connection task keeps a socket open.
#[derive(Clone, Default)]
pub(crate) struct TrackedExecutor {
    tasks: Arc<Mutex<JoinSet<()>>>,
}

impl<F> hyper::rt::Executor<F> for TrackedExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        // Reap connections that already closed, so a long run with churning connections does not accumulate them.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            drop(fut.await);
        });
    }
}

impl TrackedExecutor {
    /// Aborts every background task and waits until all have ended. Called once the client is dropped and no request
    /// is in flight, so only idle keep-alive connections are closed.
    pub(crate) async fn shutdown(&self) {
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// A keep-alive HTTP/1.1 client that may pool up to `concurrency` idle connections to the target.
pub(crate) fn client(executor: TrackedExecutor, concurrency: u32) -> LoadClient {
    let mut connector = HttpConnector::new();
    // Small requests and responses: Nagle's algorithm would only add latency the student would wrongly blame on the app.
    connector.set_nodelay(true);
    Client::builder(executor).pool_max_idle_per_host(concurrency as usize).build(connector)
}

/// Sends one GET to `target`, reads the whole body, and holds `permit` (one unit of the concurrency limit) until done.
pub(crate) async fn send_one(
    client: LoadClient,
    target: Uri,
    timeout: Duration,
    permit: OwnedSemaphorePermit,
) -> Outcome {
    let issued = Instant::now();
    let outcome = match tokio::time::timeout(timeout, exchange(&client, target)).await {
        Err(_) => Outcome::Failed { kind: "timeout" },
        Ok(Err(kind)) => Outcome::Failed { kind },
        Ok(Ok(status)) => Outcome::Response { status, latency: issued.elapsed() },
    };
    drop(permit);
    outcome
}

/// The request and the response body, without the timeout.
async fn exchange(client: &LoadClient, target: Uri) -> Result<u16, &'static str> {
    let request =
        Request::get(target).header(USER_AGENT, USER_AGENT_VALUE).body(Empty::new()).map_err(|_| "bad request")?;
    let response = client.request(request).await.map_err(|e| error_kind(&e))?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    // The body is read to its end and dropped: that is part of the app's latency and lets the connection be reused.
    while let Some(frame) = body.frame().await {
        frame.map_err(|e| error_kind(&e))?;
    }
    Ok(status)
}

/// A short kind for a failed request, found by walking the error's causes to the socket error, if any.
fn error_kind(error: &(dyn StdError + 'static)) -> &'static str {
    let mut cause = Some(error);
    let mut connect = false;
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return "connect refused",
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof => return "reset",
                io::ErrorKind::TimedOut => return "timeout",
                _ => {}
            }
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_closed() {
                return "reset";
            }
            if hyper.is_parse() || hyper.is_parse_status() {
                return "bad response";
            }
            if hyper.is_timeout() {
                return "timeout";
            }
        }
        if let Some(legacy) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            connect |= legacy.is_connect();
        }
        cause = e.source();
    }
    if connect {
        "connect failed"
    } else {
        "request failed"
    }
}
