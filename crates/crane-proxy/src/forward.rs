//! Forwarding one request: choose a backend, rewrite the headers, send it through the pooled client (retrying a
//! failed connect once when that is safe), and stream the response back while it is counted.

use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::{self, PathAndQuery, Scheme};
use hyper::{Method, Request, Response, StatusCode, Uri, Version};

use crane_core::scale_to_zero::Refusal;

use crate::activator::Verdict;
use crate::balance::BackendState;
use crate::metrics::Finished;
use crate::Shared;

/// Idempotent requests whose body is at most this large are buffered so that they can be retried on another
/// backend. Larger and chunked bodies are streamed and never retried.
const RETRY_BODY_LIMIT: u64 = 64 * 1024;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Headers that describe one connection rather than the message (RFC 9110 §7.6.1), so a proxy must not forward them.
/// Framing (`Transfer-Encoding`) is redone by hyper on each side.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in `Connection` are hop-by-hop too. This is rare, so only then is anything collected.
    if let Some(connection) = headers.get(header::CONNECTION) {
        let named: Vec<HeaderName> = connection
            .to_str()
            .unwrap_or("")
            .split(',')
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
        headers.remove(header::CONNECTION);
    }
    for name in
        [&KEEP_ALIVE, &PROXY_CONNECTION, &header::TE, &header::TRAILER, &header::TRANSFER_ENCODING, &header::UPGRADE]
    {
        headers.remove(name);
    }
}

/// Adds the `X-Forwarded-*` headers Kubernetes ingress controllers set. `client_ip` is the peer's address, formatted
/// once per client connection.
fn add_forwarded(headers: &mut HeaderMap, client_ip: &HeaderValue) {
    // Several X-Forwarded-For lines are one comma-separated list; append the client to the end of it.
    let mut earlier = headers.get_all(&X_FORWARDED_FOR).iter().peekable();
    let forwarded_for = if earlier.peek().is_none() {
        client_ip.clone()
    } else {
        let mut list = Vec::with_capacity(64);
        for value in earlier {
            list.extend_from_slice(value.as_bytes());
            list.extend_from_slice(b", ");
        }
        list.extend_from_slice(client_ip.as_bytes());
        HeaderValue::from_maybe_shared(Bytes::from(list)).unwrap_or_else(|_| client_ip.clone())
    };
    headers.insert(X_FORWARDED_FOR.clone(), forwarded_for);
    // Crane's listener speaks plain HTTP, whatever a client claims.
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    if let Some(host) = headers.get(header::HOST).cloned() {
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
}

/// Formats a client address once per connection, for [`add_forwarded`].
pub(crate) fn client_ip_header(ip: IpAddr) -> HeaderValue {
    // Show IPv4 clients of a dual-stack socket as plain IPv4.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    HeaderValue::try_from(ip.to_string()).expect("an IP address is a valid header value")
}

fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE)
}

/// The body sent to a backend.
pub(crate) enum RequestBody {
    /// No body; replayable.
    Empty,
    /// A small buffered body; replayable by cloning the bytes.
    Full(Option<Bytes>),
    /// The client's body, streamed through and counted as it goes.
    Stream(MeteredIncoming),
}

impl RequestBody {
    fn replay(&self) -> Option<RequestBody> {
        match self {
            RequestBody::Empty => Some(RequestBody::Empty),
            RequestBody::Full(bytes) => Some(RequestBody::Full(bytes.clone())),
            RequestBody::Stream(_) => None,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            RequestBody::Stream(body) => {
                let polled = Pin::new(&mut body.incoming).poll_frame(cx);
                if let Poll::Ready(Some(Ok(frame))) = &polled {
                    if let Some(data) = frame.data_ref() {
                        body.bytes += data.len() as u64;
                    }
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Full(bytes) => bytes.is_none(),
            RequestBody::Stream(body) => body.incoming.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            RequestBody::Stream(body) => body.incoming.size_hint(),
        }
    }
}

/// A streamed request body that adds the bytes it forwarded to the app's and the backend's counters when done.
pub(crate) struct MeteredIncoming {
    incoming: Incoming,
    bytes: u64,
    shared: Arc<Shared>,
    backend: Arc<BackendState>,
}

impl Drop for MeteredIncoming {
    fn drop(&mut self) {
        self.shared.app.add_bytes_in(self.bytes);
        self.backend.counters.add_bytes_in(self.bytes);
    }
}

/// One request from arrival to the end of its response. Dropping it records the request in the metrics, so every
/// way a request can end (response sent, client gone, body error) is counted exactly once.
pub(crate) struct Exchange {
    shared: Arc<Shared>,
    backend: Option<Arc<BackendState>>,
    started: Instant,
    pub(crate) status: u16,
    proxy_error: bool,
    bytes_out: u64,
    /// The gRPC status of the answer, when it had one.
    grpc: Option<u32>,
}

impl Exchange {
    fn new(shared: Arc<Shared>) -> Exchange {
        shared.app.start();
        Exchange {
            shared,
            backend: None,
            started: Instant::now(),
            status: 0,
            proxy_error: false,
            bytes_out: 0,
            grpc: None,
        }
    }

    /// The proxy this exchange belongs to.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Makes `backend` the one this request is (now) sent to; holding it keeps it alive while it drains.
    fn assign(&mut self, backend: Arc<BackendState>) {
        backend.counters.start();
        if let Some(previous) = self.backend.replace(backend) {
            previous.counters.abandon();
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let now = Instant::now();
        let done = Finished {
            status: self.status,
            proxy_error: self.proxy_error,
            bytes_out: self.bytes_out,
            latency: now.duration_since(self.started),
            second: now.duration_since(self.shared.started).as_secs(),
        };
        self.shared.app.finish(&done);
        if let Some(backend) = &self.backend {
            backend.counters.finish(&done);
        }
        if let Some(code) = self.grpc {
            self.shared.app.grpc_status(code);
            if let Some(backend) = &self.backend {
                backend.counters.grpc_status(code);
            }
        }
    }
}

/// The body sent back to the client: the backend's response streamed through, or a page written by the proxy.
pub(crate) struct ResponseBody {
    pub(crate) inner: Inner,
    /// Taken (and so recorded) as soon as the body ends, without waiting for hyper to drop it.
    pub(crate) exchange: Option<Exchange>,
}

pub(crate) enum Inner {
    Upstream(Incoming),
    Page(Option<Bytes>),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = match &mut this.inner {
            Inner::Upstream(body) => Pin::new(body).poll_frame(cx),
            Inner::Page(page) => Poll::Ready(page.take().map(|b| Ok(Frame::data(b)))),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(exchange)) = (frame.data_ref(), this.exchange.as_mut()) {
                    exchange.bytes_out += data.len() as u64;
                }
                if let (Some(trailers), Some(exchange)) = (frame.trailers_ref(), this.exchange.as_mut()) {
                    exchange.grpc = grpc_status(trailers).or(exchange.grpc);
                }
                if this.is_end_stream() {
                    this.exchange = None;
                }
            }
            Poll::Ready(_) => this.exchange = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Upstream(body) => body.is_end_stream(),
            Inner::Page(page) => page.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Upstream(body) => body.size_hint(),
            Inner::Page(page) => SizeHint::with_exact(page.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

/// Answers one client request. Never fails: every failure becomes a proxy-generated response.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    client_ip: HeaderValue,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let mut request = request;
    // An `Upgrade` (WebSocket) request keeps its connection: take hyper's handle to it before the request is split.
    let upgrade = crate::upgrade::requested(&request).map(|protocol| (protocol, hyper::upgrade::on(&mut request)));
    let mut exchange = Exchange::new(shared);
    let (mut head, incoming) = request.into_parts();
    let sticky = exchange.shared.config.sticky.then(|| sticky_token(&head.headers, &exchange.shared.sticky_cookie));
    let trailers = accepts_trailers(&head.headers);
    strip_hop_by_hop(&mut head.headers);
    add_forwarded(&mut head.headers, &client_ip);
    // An HTTP/2 client names the host in the URI only; an HTTP/1.1 backend needs it as a header.
    if !head.headers.contains_key(header::HOST) {
        if let Some(host) = head.uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()) {
            head.headers.insert(header::HOST, host);
        }
    }
    if exchange.shared.config.backend_http2 {
        head.version = Version::HTTP_2;
        // gRPC servers require `te: trailers`, the one hop-by-hop value HTTP/2 allows.
        if trailers {
            head.headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
    } else {
        // Backends get HTTP/1.1, so their connections stay pooled even for HTTP/1.0 clients.
        head.version = Version::HTTP_11;
    }
    let path: PathAndQuery = head.uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));

    let mut now_ms = exchange.started.duration_since(exchange.shared.started).as_millis() as u64;
    let activator = exchange.shared.activator();
    if let Some(activator) = activator {
        activator.request_seen();
    }
    let kept =
        sticky.as_ref().and_then(|t| t.as_deref()).and_then(|token| exchange.shared.backends.sticky(token, now_ms));
    let mut picked = kept.or_else(|| exchange.shared.backends.pick(now_ms));
    if let (None, Some(activator)) = (&picked, activator) {
        // No ready instance: with scale to zero on, wait for one (the activator wakes the app) instead of 503.
        match hold(&exchange.shared, activator).await {
            Ok(()) => {
                now_ms = exchange.shared.started.elapsed().as_millis() as u64;
                picked = exchange.shared.backends.pick(now_ms);
            }
            Err(why) => {
                let app = &exchange.shared.config.app;
                let page = match why {
                    Refusal::QueueFull => format!(
                        "App '{app}' is waking from zero and already holds as many requests as it may; retry in a \
                         second.\n"
                    ),
                    Refusal::Timeout => format!(
                        "App '{app}' did not wake from zero in time (no instance became ready); retry in a second, \
                         and check the app in the window or `cranectl get instances {app}`.\n"
                    ),
                };
                return Ok(page_response(exchange, StatusCode::SERVICE_UNAVAILABLE, Bytes::from(page), true));
            }
        }
    }
    let Some(mut backend) = picked else {
        // The request body stays unread; hyper drains it or closes the connection after this answer.
        let page = exchange.shared.unavailable_page.clone();
        return Ok(page_response(exchange, StatusCode::SERVICE_UNAVAILABLE, page, true));
    };
    exchange.assign(backend.clone());
    if let Some((protocol, client)) = upgrade {
        let mut response = crate::upgrade::forward(exchange, backend.clone(), head, path, protocol, client).await;
        set_sticky_cookie(&mut response, &sticky, &backend);
        return Ok(response);
    }

    // Only a request that can be sent again unchanged may be retried: idempotent, with no or a small body.
    let idempotent = is_idempotent(&head.method);
    let hint = incoming.size_hint();
    let body = if incoming.is_end_stream() {
        RequestBody::Empty
    } else if idempotent && hint.exact().is_some_and(|n| n <= RETRY_BODY_LIMIT) {
        match incoming.collect().await {
            Ok(collected) => {
                let bytes = collected.to_bytes();
                exchange.shared.app.add_bytes_in(bytes.len() as u64);
                backend.counters.add_bytes_in(bytes.len() as u64);
                RequestBody::Full(Some(bytes))
            }
            Err(e) => {
                // The client stopped sending; it will not read an answer either, but give a sensible one.
                tracing::debug!(app = %exchange.shared.config.app, "client request body failed: {e}");
                return Ok(page_response(
                    exchange,
                    StatusCode::BAD_REQUEST,
                    Bytes::from_static(b"Bad request body\n"),
                    false,
                ));
            }
        }
    } else {
        RequestBody::Stream(MeteredIncoming {
            incoming,
            bytes: 0,
            shared: exchange.shared.clone(),
            backend: backend.clone(),
        })
    };
    // Keeping a copy of the head costs an allocation, so only when a retry is possible at all.
    let retry = if idempotent && exchange.shared.backends.len() > 1 {
        body.replay().map(|body| (head.clone(), body))
    } else {
        None
    };

    let mut outcome = send(&exchange.shared, &backend, head, path.clone(), body).await;
    // An idempotent request that got no answer at all may be sent again (RFC 9110 §9.2.2): its connection could
    // not be opened, or the instance died (a pooled connection reset) before answering. A timeout is not retried:
    // the instance may still be working on it.
    if let Err(Failure::Connect(_) | Failure::Upstream(_)) = &outcome {
        if let Err(Failure::Connect(_)) = &outcome {
            backend.connect_failed(now_ms);
        }
        let other = retry.and_then(|r| exchange.shared.backends.pick_other(&backend, now_ms).map(|b| (r, b)));
        if let Some(((head, body), other)) = other {
            tracing::debug!(app = %exchange.shared.config.app, from = %backend.backend.name, to = %other.backend.name,
                "no answer; retrying on another instance");
            exchange.shared.retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            backend = other;
            exchange.assign(backend.clone());
            outcome = send(&exchange.shared, &backend, head, path, body).await;
            if let Err(Failure::Connect(_)) = &outcome {
                backend.connect_failed(now_ms);
            }
        }
    }

    match outcome {
        Ok(response) => {
            backend.answered();
            let (mut head, body) = response.into_parts();
            strip_hop_by_hop(&mut head.headers);
            exchange.status = head.status.as_u16();
            // A trailers-only gRPC answer carries its status in the headers.
            exchange.grpc = grpc_status(&head.headers);
            let mut response =
                Response::from_parts(head, ResponseBody { inner: Inner::Upstream(body), exchange: Some(exchange) });
            set_sticky_cookie(&mut response, &sticky, &backend);
            Ok(response)
        }
        Err(failure) => {
            let app = &exchange.shared.config.app;
            let name = &backend.backend.name;
            let (status, page) = match failure {
                Failure::Timeout => (
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "Instance '{name}' of app '{app}' did not answer within {:?}.\n\
                         The app may be overloaded or stuck; check its logs in the window or with `cranectl logs {app}`.\n",
                        exchange.shared.config.request_timeout
                    ),
                ),
                Failure::Connect(e) | Failure::Upstream(e) => (
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "Crane could not get an answer from instance '{name}' of app '{app}': {}.\n\
                         Check the instance in the window or with `cranectl get instances {app}`.\n",
                        describe(&e)
                    ),
                ),
            };
            tracing::debug!(app = %app, backend = %name, %status, "proxy error");
            Ok(page_response(exchange, status, Bytes::from(page), false))
        }
    }
}

/// The value of the session-affinity cookie `name`, if the request carries one.
fn sticky_token(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_string())
}

/// Sets the session-affinity cookie when the client did not name `backend` already (no cookie, or its instance
/// left and the client was moved).
fn set_sticky_cookie(response: &mut Response<ResponseBody>, sent: &Option<Option<String>>, backend: &BackendState) {
    let Some(sent) = sent else { return };
    let token = backend.sticky_token();
    if sent.as_deref() == Some(token) {
        return;
    }
    let Some(shared) = response.body().exchange.as_ref().map(|e| e.shared.clone()) else { return };
    let cookie = format!("{}={token}; Path=/; HttpOnly; SameSite=Lax", shared.sticky_cookie);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Whether the client said it accepts trailers (`TE: trailers`), which gRPC clients always do.
fn accepts_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("trailers"))))
}

/// The `grpc-status` of a header or trailer block.
fn grpc_status(headers: &HeaderMap) -> Option<u32> {
    headers.get("grpc-status")?.to_str().ok()?.trim().parse().ok()
}

/// Why a request got no response from its backend.
enum Failure {
    /// The connection could not be opened: the backend never saw the request.
    Connect(hyper_util::client::legacy::Error),
    /// The backend did not send response headers within the request timeout.
    Timeout,
    /// Anything else, possibly after the backend received the request.
    Upstream(hyper_util::client::legacy::Error),
}

async fn send(
    shared: &Shared,
    backend: &BackendState,
    mut head: hyper::http::request::Parts,
    path: PathAndQuery,
    body: RequestBody,
) -> Result<Response<Incoming>, Failure> {
    let mut target = uri::Parts::default();
    target.scheme = Some(Scheme::HTTP);
    target.authority = Some(backend.authority.clone());
    target.path_and_query = Some(path);
    head.uri = Uri::from_parts(target).expect("scheme, authority and path make a valid URI");
    let request = Request::from_parts(head, body);
    match tokio::time::timeout(shared.config.request_timeout, shared.client.request(request)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) if e.is_connect() => Err(Failure::Connect(e)),
        Ok(Err(e)) => Err(Failure::Upstream(e)),
        Err(_) => Err(Failure::Timeout),
    }
}

/// The innermost cause of a client error, which is the one that means something to a user ("connection refused").
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

pub(crate) fn page_response(
    mut exchange: Exchange,
    status: StatusCode,
    page: Bytes,
    retry_soon: bool,
) -> Response<ResponseBody> {
    exchange.status = status.as_u16();
    exchange.proxy_error = status.is_server_error();
    let mut response = Response::new(ResponseBody { inner: Inner::Page(Some(page)), exchange: Some(exchange) });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if retry_soon {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// Waits in the activator until an instance is ready (`Ok`) or the request is refused (queue full, held too long).
async fn hold(shared: &Arc<Shared>, activator: &crate::activator::Activator) -> Result<(), Refusal> {
    let mut held = activator.hold(|| shared.backends.len() > 0);
    loop {
        tokio::select! {
            verdict = &mut held.verdict => return match verdict {
                Ok(Verdict::Forward) => Ok(()),
                Ok(Verdict::Refuse { why, .. }) => Err(why),
                // The activator went away (scale to zero switched off): try the backends as they are.
                Err(_) => Ok(()),
            },
            _ = tokio::time::sleep_until(held.deadline) => {
                // This request's time is up: the tick refuses it (and any older one); look again shortly in case
                // the clock's rounding left it one millisecond short.
                activator.tick();
                held.deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(5);
            }
        }
    }
}

/// The `503` page of an app with no ready instance, built once per proxy.
pub(crate) fn unavailable_page(app: &str) -> Bytes {
    Bytes::from(format!(
        "No instance of app '{app}' is ready. Crane is starting or healing them; \
         check the app in the window or `cranectl get instances {app}`.\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn hop_by_hop_headers_are_removed_including_the_ones_connection_names() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("te", "trailers"),
            ("x-kept", "yes"),
            ("content-length", "3"),
        ]);
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "x-kept"]);
    }

    #[test]
    fn forwarded_headers_append_the_client_and_copy_the_host() {
        let ip = client_ip_header("::ffff:10.1.2.3".parse().unwrap());
        let mut h =
            headers(&[("host", "app.local:8080"), ("x-forwarded-for", "1.1.1.1"), ("x-forwarded-proto", "https")]);
        h.append("x-forwarded-for", HeaderValue::from_static("2.2.2.2"));
        add_forwarded(&mut h, &ip);
        assert_eq!(h["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 10.1.2.3");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "app.local:8080");

        let mut fresh = HeaderMap::new();
        add_forwarded(&mut fresh, &ip);
        assert_eq!(fresh["x-forwarded-for"], "10.1.2.3");
        assert!(fresh.get("x-forwarded-host").is_none());
    }
}

#[cfg(test)]
mod affinity_tests {
    use super::*;

    #[test]
    fn sticky_token_is_read_from_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; crane-sticky-web=abc123"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(sticky_token(&h, "crane-sticky-web").as_deref(), Some("abc123"));
        assert_eq!(sticky_token(&h, "crane-sticky-api"), None);
    }

    #[test]
    fn trailers_and_grpc_status_are_read() {
        let mut h = HeaderMap::new();
        h.insert(header::TE, HeaderValue::from_static("gzip, Trailers"));
        h.insert("grpc-status", HeaderValue::from_static("14"));
        assert!(accepts_trailers(&h));
        assert_eq!(grpc_status(&h), Some(14));
        assert!(!accepts_trailers(&HeaderMap::new()));
    }
}
