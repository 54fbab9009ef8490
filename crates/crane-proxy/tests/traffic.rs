//! Traffic beyond request/response over HTTP/1.1, against real sockets: WebSocket-style upgrades, h2c clients and
//! HTTP/2 (gRPC-like) backends, session-affinity cookies, and the layer-4 balancer of tcp ports.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use crane_proxy::{AppProxy, Backend, ProxyConfig, Strategy, TcpProxy};
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

type AnyBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

/// An HTTP/1.1 backend that accepts any `Upgrade` and then echoes every line prefixed with its name.
async fn upgrade_backend(name: &str) -> (Backend, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let prefix = name.to_string();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let prefix = prefix.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    let prefix = prefix.clone();
                    async move {
                        if req.headers().get("upgrade").is_none() {
                            return Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(prefix))));
                        }
                        let on = hyper::upgrade::on(&mut req);
                        tokio::spawn(async move {
                            let Ok(upgraded) = on.await else { return };
                            let (read, mut write) = tokio::io::split(TokioIo::new(upgraded));
                            let mut lines = BufReader::new(read).lines();
                            while let Ok(Some(line)) = lines.next_line().await {
                                if write.write_all(format!("{prefix}: {line}\n").as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                        });
                        let mut response = Response::new(Full::new(Bytes::new()));
                        *response.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
                        response.headers_mut().insert("upgrade", "echo".parse().unwrap());
                        response.headers_mut().insert("connection", "upgrade".parse().unwrap());
                        Ok(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (Backend { id: format!("id-{name}"), name: name.to_string(), addr }, task)
}

/// Sends an upgrade request on a raw connection and returns the stream once the `101` head has been read.
async fn open_upgraded(port: u16, cookie: Option<&str>) -> (BufReader<TcpStream>, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    let head = format!("GET /ws HTTP/1.1\r\nHost: web\r\nConnection: Upgrade\r\nUpgrade: echo\r\n{cookie}\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(stream);
    let mut response = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        response.push_str(&line);
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    (reader, response)
}

async fn echo(conn: &mut BufReader<TcpStream>, text: &str) -> String {
    conn.get_mut().write_all(format!("{text}\n").as_bytes()).await.unwrap();
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_line(&mut line)).await.unwrap().unwrap();
    line.trim_end().to_string()
}

#[tokio::test]
async fn an_upgrade_is_spliced_counted_and_closed_after_its_instance_drains() {
    let (one, _t1) = upgrade_backend("web-1").await;
    let (two, _t2) = upgrade_backend("web-2").await;
    let mut config = ProxyConfig::new("web");
    config.drain_timeout = Duration::from_millis(300);
    let proxy = AppProxy::bind(config, 0).await.unwrap();
    proxy.set_backends(vec![one.clone(), two.clone()]);

    let (mut conn, head) = open_upgraded(proxy.port(), None).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.to_ascii_lowercase().contains("upgrade: echo"), "{head}");
    assert_eq!(echo(&mut conn, "hello").await, "web-1: hello");
    assert_eq!(echo(&mut conn, "again").await, "web-1: again");
    eventually(|| proxy.metrics().app.traffic.open_connections == 1).await;
    let metrics = proxy.metrics();
    assert_eq!((metrics.app.traffic.connections_total, metrics.app.traffic.status_1xx), (1, 1));
    assert_eq!(metrics.backends[0].traffic.open_connections, 1);
    assert!(metrics.app.traffic.bytes_in >= 12 && metrics.app.traffic.bytes_out >= 26, "{metrics:?}");

    // web-1 leaves: its upgraded connection runs on through the drain timeout, then is closed.
    proxy.set_backends(vec![two.clone()]);
    assert_eq!(echo(&mut conn, "still").await, "web-1: still");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), conn.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the drained connection was not closed");
    eventually(|| proxy.metrics().app.traffic.open_connections == 0).await;
    // New upgrades go to the instance that is left.
    let (mut conn, _) = open_upgraded(proxy.port(), None).await;
    assert_eq!(echo(&mut conn, "hi").await, "web-2: hi");
}

#[tokio::test]
async fn close_connections_cuts_a_removed_instance_at_once() {
    let (one, _t1) = upgrade_backend("web-1").await;
    let proxy = AppProxy::bind(ProxyConfig::new("web"), 0).await.unwrap();
    proxy.set_backends(vec![one.clone()]);
    let (mut conn, _) = open_upgraded(proxy.port(), None).await;
    assert_eq!(echo(&mut conn, "x").await, "web-1: x");
    // Still in the set: nothing is cut.
    assert_eq!(proxy.close_connections(&one.id), 0);
    proxy.set_backends(vec![]);
    assert_eq!(proxy.close_connections(&one.id), 1);
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), conn.read_to_end(&mut rest)).await.unwrap().unwrap();
}

#[tokio::test]
async fn h2c_prior_knowledge_and_http1_share_the_port_and_stream() {
    let backends = [start_backend("web-1").await, start_backend("web-2").await];
    let proxy = proxy_with_backends(backends.iter().map(|b| b.backend.clone()).collect()).await;

    let stream = TcpStream::connect(("127.0.0.1", proxy.port())).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let mut names = Vec::new();
    for _ in 0..4 {
        let request = Request::get("http://web.local/").body(Empty::<Bytes>::new()).unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        names.push(read(response).await.body);
    }
    assert_eq!(names, ["web-1", "web-2", "web-1", "web-2"]);

    // A streamed response arrives in parts over HTTP/2.
    let request = Request::get("http://web.local/stream").body(Empty::<Bytes>::new()).unwrap();
    let mut body = sender.send_request(request).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"first\n");
    for b in &backends {
        b.release.notify_one();
    }
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(&rest[..], b"last\n");

    // HTTP/1.1 on the same port.
    assert!(get(&client(), proxy.port(), "/").await.body.starts_with("web-"));
}

/// An HTTP/2-only backend answering like a gRPC server: `/ok` with trailers `grpc-status: 0`, `/unavailable` as a
/// trailers-only answer with `grpc-status: 14`, `/stream` with three messages then the trailers.
async fn h2_backend(name: &str) -> (Backend, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let name_owned = name.to_string();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let name = name_owned.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let name = name.clone();
                    async move {
                        assert_eq!(req.version(), hyper::Version::HTTP_2);
                        let te = req.headers().get("te").map(|v| v.to_str().unwrap().to_string());
                        let (mut sender, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(4);
                        let path = req.uri().path().to_string();
                        let mut response = Response::new(body.boxed_unsync());
                        response.headers_mut().insert("content-type", "application/grpc".parse().unwrap());
                        if path == "/unavailable" {
                            response.headers_mut().insert("grpc-status", "14".parse().unwrap());
                            drop(sender);
                            return Ok::<Response<AnyBody>, Infallible>(response);
                        }
                        tokio::spawn(async move {
                            let count = if path == "/stream" { 3 } else { 1 };
                            for i in 0..count {
                                let text = format!("{name} {i} te={}\n", te.as_deref().unwrap_or("-"));
                                let _ = sender.send_data(Bytes::from(text)).await;
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            let mut trailers = hyper::HeaderMap::new();
                            trailers.insert("grpc-status", "0".parse().unwrap());
                            let _ = sender.send_trailers(trailers).await;
                        });
                        Ok(response)
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (Backend { id: format!("id-{name}"), name: name.to_string(), addr }, task)
}

#[tokio::test]
async fn http2_backends_get_grpc_streams_with_trailers_and_status_counts() {
    let (backend, _task) = h2_backend("grpc-1").await;
    let mut config = ProxyConfig::new("grpc");
    config.backend_http2 = true;
    let proxy = AppProxy::bind(config, 0).await.unwrap();
    proxy.set_backends(vec![backend]);

    let stream = TcpStream::connect(("127.0.0.1", proxy.port())).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request = |path: &str| {
        Request::post(format!("http://grpc.local{path}"))
            .header("te", "trailers")
            .header("content-type", "application/grpc")
            .body(Full::new(Bytes::from_static(b"\0\0\0\0\0")))
            .unwrap()
    };
    let response = sender.send_request(request("/stream")).await.unwrap();
    let mut body = response.into_body();
    let mut messages = Vec::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        match frame.into_data() {
            Ok(data) => messages.push(String::from_utf8(data.to_vec()).unwrap()),
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    assert_eq!(messages, ["grpc-1 0 te=trailers\n", "grpc-1 1 te=trailers\n", "grpc-1 2 te=trailers\n"]);
    assert_eq!(trailers.unwrap()["grpc-status"], "0");

    let response = sender.send_request(request("/unavailable")).await.unwrap();
    assert_eq!(response.headers()["grpc-status"], "14");
    let _ = response.into_body().collect().await;

    // An HTTP/1.1 client reaches the HTTP/2 backend too.
    let answer = send(&client(), "POST", proxy.port(), "/ok", "").await;
    assert_eq!(answer.body, "grpc-1 0 te=-\n");

    eventually(|| proxy.metrics().app.traffic.grpc_status.values().sum::<u64>() == 3).await;
    let grpc = proxy.metrics().app.traffic.grpc_status;
    assert_eq!((grpc.get(&0), grpc.get(&14)), (Some(&2), Some(&1)), "{grpc:?}");
    assert_eq!(proxy.metrics().backends[0].traffic.grpc_status.get(&14), Some(&1));
}

#[tokio::test]
async fn a_sticky_cookie_keeps_a_client_on_its_instance_until_it_leaves() {
    let backends = [start_backend("web-1").await, start_backend("web-2").await, start_backend("web-3").await];
    let mut config = ProxyConfig::new("web");
    config.sticky = true;
    let proxy = AppProxy::bind(config, 0).await.unwrap();
    proxy.set_backends(backends[..2].iter().map(|b| b.backend.clone()).collect());
    let client = client();

    let first = get(&client, proxy.port(), "/").await;
    let set_cookie = first.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.starts_with("crane-sticky-web=id-web-1;") && set_cookie.contains("HttpOnly"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let with_cookie = |path: &str| {
        Request::get(format!("http://127.0.0.1:{}{path}", proxy.port()))
            .header("cookie", format!("theme=dark; {cookie}"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    // A scale-up does not move the client.
    proxy.set_backends(backends.iter().map(|b| b.backend.clone()).collect());
    for _ in 0..20 {
        let answer = read(client.request(with_cookie("/")).await.unwrap()).await;
        assert_eq!(answer.body, "web-1");
        assert!(answer.headers.get("set-cookie").is_none());
    }
    // Its instance leaves: the client moves, and its new cookie keeps it on the new instance.
    proxy.set_backends(backends[1..].iter().map(|b| b.backend.clone()).collect());
    let moved = read(client.request(with_cookie("/")).await.unwrap()).await;
    assert_ne!(moved.body, "web-1");
    let new_cookie = moved.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    for _ in 0..5 {
        let request = Request::get(format!("http://127.0.0.1:{}/", proxy.port()))
            .header("cookie", new_cookie.clone())
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(read(client.request(request).await.unwrap()).await.body, moved.body);
    }
}

/// A raw TCP echo backend: each line comes back prefixed with its name.
async fn tcp_echo(name: &str) -> (Backend, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let prefix = name.to_string();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let prefix = prefix.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if write.write_all(format!("{prefix}: {line}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (Backend { id: format!("id-{name}"), name: name.to_string(), addr }, task)
}

async fn tcp_line(port: u16, text: &str) -> std::io::Result<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut conn = BufReader::new(stream);
    conn.get_mut().write_all(format!("{text}\n").as_bytes()).await?;
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_line(&mut line)).await??;
    Ok(line.trim_end().to_string())
}

#[tokio::test]
async fn tcp_connections_spread_retry_around_a_dead_backend_and_are_counted() {
    let echoes = [tcp_echo("db-1").await, tcp_echo("db-2").await, tcp_echo("db-3").await];
    let proxy = TcpProxy::bind(ProxyConfig::new("db"), 0).await.unwrap();
    proxy.set_backends(echoes.iter().map(|(b, _)| b.clone()).collect());
    let mut seen = Vec::new();
    for i in 0..6 {
        seen.push(tcp_line(proxy.port(), &format!("ping {i}")).await.unwrap());
    }
    assert_eq!(seen, ["db-1: ping 0", "db-2: ping 1", "db-3: ping 2", "db-1: ping 3", "db-2: ping 4", "db-3: ping 5"]);

    // A backend that refuses connections costs no client a failure: the connect is retried on another one.
    let dead = dead_backend("db-dead").await;
    proxy.set_backends(vec![dead.backend.clone(), echoes[1].0.clone()]);
    for i in 0..4 {
        assert_eq!(tcp_line(proxy.port(), &format!("x{i}")).await.unwrap(), format!("db-2: x{i}"));
    }
    eventually(|| proxy.metrics().app.traffic.open_connections == 0).await;
    let metrics = proxy.metrics();
    assert_eq!(metrics.app.traffic.connections_total, 10);
    assert!(metrics.app.retries >= 1, "{metrics:?}");
    assert_eq!(metrics.backends[0].connect_failures, 1, "the dead backend is avoided after one failure");
    assert_eq!(metrics.app.traffic.bytes_in, (6 * 7 + 4 * 3) as u64);
    assert!(metrics.app.traffic.connections_per_second > 0.0);
}

#[tokio::test]
async fn least_connections_counts_open_tcp_connections_and_removal_drains() {
    let echoes = [tcp_echo("db-1").await, tcp_echo("db-2").await];
    let mut config = ProxyConfig::new("db");
    config.strategy = Strategy::LeastConnections;
    config.drain_timeout = Duration::from_millis(300);
    let proxy = TcpProxy::bind(config, 0).await.unwrap();
    proxy.set_backends(echoes.iter().map(|(b, _)| b.clone()).collect());
    let mut held = BufReader::new(TcpStream::connect(("127.0.0.1", proxy.port())).await.unwrap());
    held.get_mut().write_all(b"hold\n").await.unwrap();
    let mut line = String::new();
    held.read_line(&mut line).await.unwrap();
    assert_eq!(line, "db-1: hold\n");
    // db-1 has an open connection: every short one goes to db-2.
    for _ in 0..3 {
        assert!(tcp_line(proxy.port(), "p").await.unwrap().starts_with("db-2"));
        eventually(|| proxy.metrics().backends[1].traffic.open_connections == 0).await;
    }
    // Removing db-1 leaves the open connection working until the drain timeout, then closes it.
    proxy.set_backends(vec![echoes[1].0.clone()]);
    held.get_mut().write_all(b"still\n").await.unwrap();
    line.clear();
    held.read_line(&mut line).await.unwrap();
    assert_eq!(line, "db-1: still\n");
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), held.read_to_end(&mut rest)).await.unwrap().unwrap();
    // With no backend at all, a client is closed at once.
    proxy.set_backends(vec![]);
    assert!(tcp_line(proxy.port(), "none").await.is_err());
    let _: SocketAddr = echoes[0].0.addr;
}
