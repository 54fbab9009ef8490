//! Test backends and a small client: plain hyper on 127.0.0.1, no Docker.
//!
//! A test backend answers every request with its own name, except:
//! - `/slow?ms=N` answers after N milliseconds;
//! - `/headers` answers with the `X-Forwarded-*` headers it received, one `name: value` per line;
//! - `/stream` sends `first\n`, then waits for [`TestBackend::release`] before sending `last\n`;
//! - `/count` answers with the number of request body bytes it read.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crane_proxy::{AppProxy, Backend, ProxyConfig, Strategy};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::Notify;

type AnyBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

/// A running test backend.
pub struct TestBackend {
    pub backend: Backend,
    /// Requests this backend received.
    pub hits: Arc<AtomicUsize>,
    /// Lets a `/stream` response finish.
    pub release: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start_backend(name: &str) -> TestBackend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let task = {
        let name = name.to_string();
        let hits = hits.clone();
        let release = release.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let name = name.clone();
                let hits = hits.clone();
                let release = release.clone();
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req| answer(name.clone(), hits.clone(), release.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
    };
    TestBackend { backend: Backend { id: format!("id-{name}"), name: name.to_string(), addr }, hits, release, task }
}

async fn answer(
    name: String,
    hits: Arc<AtomicUsize>,
    release: Arc<Notify>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<AnyBody>, Infallible> {
    hits.fetch_add(1, Ordering::SeqCst);
    let body = match req.uri().path() {
        "/stream" => {
            let (mut sender, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(1);
            tokio::spawn(async move {
                let _ = sender.send_data(Bytes::from_static(b"first\n")).await;
                release.notified().await;
                let _ = sender.send_data(Bytes::from_static(b"last\n")).await;
            });
            return Ok(Response::new(body.boxed_unsync()));
        }
        "/count" => req.into_body().collect().await.map_or(0, |b| b.to_bytes().len()).to_string(),
        "/slow" => {
            let ms: u64 =
                req.uri().query().and_then(|q| q.strip_prefix("ms=")).and_then(|v| v.parse().ok()).unwrap_or(500);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            name
        }
        "/headers" => ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"]
            .iter()
            .map(|h| format!("{h}: {}\n", req.headers().get(*h).map_or("", |v| v.to_str().unwrap())))
            .collect(),
        _ => name,
    };
    Ok(Response::new(Full::new(Bytes::from(body)).boxed_unsync()))
}

/// An address nothing listens on: connecting to it is refused.
/// A backend address that refuses every connection. The port stays bound (without listening) for as long as the
/// value lives, so no test running beside this one can be given the same port and answer in its place.
pub struct DeadBackend {
    pub backend: Backend,
    _socket: tokio::net::TcpSocket,
}

pub async fn dead_backend(name: &str) -> DeadBackend {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    DeadBackend { backend: Backend { id: format!("id-{name}"), name: name.to_string(), addr }, _socket: socket }
}

pub async fn proxy(strategy: Strategy) -> AppProxy {
    let mut config = ProxyConfig::new("web");
    config.strategy = strategy;
    AppProxy::bind(config, 0).await.unwrap()
}

pub async fn proxy_with_backends(backends: Vec<Backend>) -> AppProxy {
    let proxy = proxy(Strategy::RoundRobin).await;
    proxy.set_backends(backends);
    proxy
}

/// A response, read completely.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

/// A pooled keep-alive client, like a browser's.
pub type Client = hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

pub fn client() -> Client {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
}

pub async fn send(client: &Client, method: &str, port: u16, path: &str, body: &str) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    read(response).await
}

pub async fn get(client: &Client, port: u16, path: &str) -> Answer {
    send(client, "GET", port, path, "").await
}

pub async fn read(response: Response<hyper::body::Incoming>) -> Answer {
    let (head, body) = response.into_parts();
    let body = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    Answer { status: head.status.as_u16(), headers: head.headers, body }
}

/// Waits until `check` holds, for up to two seconds: counters settle just after the client has read the response.
pub async fn eventually(mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(check(), "condition did not hold within 2 s");
}

pub fn addr_of(b: &TestBackend) -> SocketAddr {
    b.backend.addr
}
