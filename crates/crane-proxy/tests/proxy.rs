//! The proxy against real sockets: small hyper backends on 127.0.0.1 that answer their own name.

mod support;

use std::time::Duration;

use bytes::Bytes;
use crane_proxy::{AppProxy, ProxyConfig, ProxyError, Strategy};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use support::*;

#[tokio::test]
async fn round_robin_spreads_requests_of_one_keep_alive_connection() {
    let backends = [start_backend("web-1").await, start_backend("web-2").await, start_backend("web-3").await];
    let proxy = proxy(Strategy::RoundRobin).await;
    proxy.set_backends(backends.iter().map(|b| b.backend.clone()).collect());

    // One TCP connection, six requests on it.
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", proxy.port())).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let mut names = Vec::new();
    for _ in 0..6 {
        sender.ready().await.unwrap();
        let request = Request::get("/").header("host", "web.local").body(Empty::<Bytes>::new()).unwrap();
        names.push(read(sender.send_request(request).await.unwrap()).await.body);
    }
    assert_eq!(names, ["web-1", "web-2", "web-3", "web-1", "web-2", "web-3"]);
}

#[tokio::test]
async fn least_connections_avoids_the_backend_with_a_slow_request() {
    let backends = [start_backend("web-1").await, start_backend("web-2").await, start_backend("web-3").await];
    let proxy = proxy(Strategy::LeastConnections).await;
    proxy.set_backends(backends.iter().map(|b| b.backend.clone()).collect());
    let client = client();

    // The first request goes to web-1 (the tie is broken by turn) and stays there for a while.
    let slow = {
        let client = client.clone();
        let port = proxy.port();
        tokio::spawn(async move { get(&client, port, "/slow?ms=800").await })
    };
    eventually(|| proxy.metrics().backends[0].traffic.in_flight == 1).await;
    for _ in 0..6 {
        let answer = get(&client, proxy.port(), "/").await;
        assert_ne!(answer.body, "web-1");
    }
    assert_eq!(slow.await.unwrap().body, "web-1");
    assert_eq!(backends[0].hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn only_backends_in_the_set_get_traffic_and_an_empty_set_answers_503() {
    let backends = [start_backend("web-1").await, start_backend("web-2").await, start_backend("web-3").await];
    let proxy = proxy(Strategy::RoundRobin).await;
    let client = client();

    // Before any set_backends the app has no ready instance.
    let answer = get(&client, proxy.port(), "/").await;
    assert_eq!(answer.status, 503);

    proxy.set_backends(vec![backends[0].backend.clone(), backends[2].backend.clone()]);
    for _ in 0..6 {
        let answer = get(&client, proxy.port(), "/").await;
        assert!(answer.body == "web-1" || answer.body == "web-3", "{answer:?}");
    }
    assert_eq!(backends[1].hits.load(std::sync::atomic::Ordering::SeqCst), 0);

    proxy.set_backends(vec![]);
    let answer = get(&client, proxy.port(), "/").await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.headers["retry-after"], "1");
    assert!(answer.body.contains("No instance of app 'web' is ready"), "{}", answer.body);
    assert!(answer.body.contains("cranectl get instances web"), "{}", answer.body);
    let metrics = proxy.metrics();
    assert_eq!((metrics.app.traffic.status_5xx, metrics.app.traffic.errors), (2, 2));
}

#[tokio::test]
async fn failed_connects_are_retried_for_idempotent_requests_only() {
    let dead = dead_backend("web-1").await;
    let good = start_backend("web-2").await;
    let client = client();

    // Round-robin starts at the first backend: the POST goes to the dead one and must not be retried.
    let proxy = proxy(Strategy::RoundRobin).await;
    proxy.set_backends(vec![dead.backend.clone(), good.backend.clone()]);
    let answer = send(&client, "POST", proxy.port(), "/", "payload").await;
    assert_eq!(answer.status, 502, "{answer:?}");
    assert!(answer.body.contains("instance 'web-1' of app 'web'"), "{}", answer.body);
    assert!(answer.body.contains("refused"), "{}", answer.body);
    assert_eq!(good.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(proxy.metrics().app.retries, 0);

    // On a fresh proxy the first GET goes to the dead backend too, and is retried on the good one; after that the
    // dead one is avoided, so every GET (and a PUT with a small body) succeeds without another failed connect.
    let proxy = proxy_with_backends(vec![dead.backend.clone(), good.backend.clone()]).await;
    for _ in 0..5 {
        let answer = get(&client, proxy.port(), "/").await;
        assert_eq!((answer.status, answer.body.as_str()), (200, "web-2"));
    }
    let answer = send(&client, "PUT", proxy.port(), "/", "small body").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "web-2"));
    let metrics = proxy.metrics();
    assert_eq!((metrics.app.retries, metrics.app.traffic.errors), (1, 0));
    assert_eq!(metrics.backends[0].connect_failures, 1);
    assert!(metrics.backends[0].avoided);

    // A PUT aimed at the dead backend is retried too.
    let proxy = proxy_with_backends(vec![dead.backend.clone(), good.backend.clone()]).await;
    let answer = send(&client, "PUT", proxy.port(), "/count", "small body").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "10"));
    assert_eq!(proxy.metrics().app.retries, 1);
}

#[tokio::test]
async fn a_slow_backend_gets_a_504() {
    let backend = start_backend("web-1").await;
    let mut config = ProxyConfig::new("web");
    config.request_timeout = Duration::from_millis(200);
    let proxy = AppProxy::bind(config, 0).await.unwrap();
    proxy.set_backends(vec![backend.backend.clone()]);
    let answer = get(&client(), proxy.port(), "/slow?ms=2000").await;
    assert_eq!(answer.status, 504, "{answer:?}");
    assert!(answer.body.contains("did not answer within"), "{}", answer.body);
    eventually(|| proxy.metrics().backends[0].traffic.errors == 1).await;
}

#[tokio::test]
async fn removing_a_backend_lets_its_slow_request_finish() {
    let backends = [start_backend("web-1").await, start_backend("web-2").await];
    let proxy = proxy(Strategy::RoundRobin).await;
    proxy.set_backends(backends.iter().map(|b| b.backend.clone()).collect());
    let client = client();

    let slow = {
        let client = client.clone();
        let port = proxy.port();
        tokio::spawn(async move { get(&client, port, "/slow?ms=500").await })
    };
    eventually(|| proxy.metrics().backends[0].traffic.in_flight == 1).await;
    proxy.set_backends(vec![backends[1].backend.clone()]);

    // While it drains, web-1 is listed as draining and gets nothing new.
    let metrics = proxy.metrics();
    assert_eq!(metrics.backends.len(), 2);
    assert!(metrics.backends[1].draining && metrics.backends[1].name == "web-1");
    assert_eq!(get(&client, proxy.port(), "/").await.body, "web-2");

    let answer = slow.await.unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, "web-1"));
    eventually(|| proxy.metrics().backends.len() == 1).await;
}

#[tokio::test]
async fn a_removed_backend_is_cut_off_after_the_drain_timeout() {
    let backend = start_backend("web-1").await;
    let mut config = ProxyConfig::new("web");
    config.drain_timeout = Duration::from_millis(200);
    let proxy = AppProxy::bind(config, 0).await.unwrap();
    proxy.set_backends(vec![backend.backend.clone()]);
    let client = client();

    let slow = {
        let client = client.clone();
        let port = proxy.port();
        tokio::spawn(async move { get(&client, port, "/slow?ms=5000").await })
    };
    eventually(|| proxy.metrics().app.traffic.in_flight == 1).await;
    let removed = std::time::Instant::now();
    proxy.set_backends(vec![]);
    let answer = slow.await.unwrap();
    assert_eq!(answer.status, 502, "{answer:?}");
    assert!(removed.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    let backend = start_backend("web-1").await;
    let proxy = proxy(Strategy::RoundRobin).await;
    proxy.set_backends(vec![backend.backend.clone()]);
    let client = client();

    // The first chunk reaches the client while the backend is still holding back the rest.
    let request = Request::get(format!("http://127.0.0.1:{}/stream", proxy.port()))
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let mut body = client.request(request).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "first\n");
    backend.release.notify_one();
    assert_eq!(body.collect().await.unwrap().to_bytes(), "last\n");

    // A large upload is forwarded whole and counted.
    let upload = "x".repeat(1 << 20);
    assert_eq!(send(&client, "POST", proxy.port(), "/count", &upload).await.body, (1 << 20).to_string());
    eventually(|| proxy.metrics().app.traffic.bytes_in == 1 << 20).await;
    eventually(|| proxy.metrics().app.traffic.bytes_out == "first\nlast\n".len() as u64 + 7).await;
}

#[tokio::test]
async fn x_forwarded_headers_reach_the_backend() {
    let backend = start_backend("web-1").await;
    let proxy = proxy(Strategy::RoundRobin).await;
    proxy.set_backends(vec![backend.backend.clone()]);

    let request = Request::get(format!("http://127.0.0.1:{}/headers", proxy.port()))
        .header("x-forwarded-for", "203.0.113.7")
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let answer = read(client().request(request).await.unwrap()).await;
    let port = proxy.port();
    assert_eq!(
        answer.body,
        format!(
            "x-forwarded-for: 203.0.113.7, 127.0.0.1\nx-forwarded-proto: http\nx-forwarded-host: 127.0.0.1:{port}\n"
        )
    );
}

#[tokio::test]
async fn metrics_count_requests_per_backend_and_status_class() {
    let backends = [start_backend("web-1").await, start_backend("web-2").await];
    let proxy = proxy(Strategy::RoundRobin).await;
    proxy.set_backends(backends.iter().map(|b| b.backend.clone()).collect());
    let client = client();
    for _ in 0..10 {
        assert_eq!(get(&client, proxy.port(), "/").await.status, 200);
    }
    assert_eq!(send(&client, "POST", proxy.port(), "/", "12345").await.status, 200);

    eventually(|| proxy.metrics().app.traffic.requests_total == 11).await;
    eventually(|| proxy.metrics().app.traffic.in_flight == 0).await;
    let metrics = proxy.metrics();
    let app = &metrics.app.traffic;
    assert_eq!((app.status_2xx, app.status_5xx, app.errors), (11, 0, 0));
    assert_eq!(app.bytes_in, 5);
    assert_eq!(app.bytes_out, 11 * 5);
    assert!(app.latency_p50_ms > 0.0 && app.latency_p99_ms >= app.latency_p50_ms, "{app:?}");
    assert!(app.rps > 0.0);
    let per_backend: Vec<(String, u64, u64, u64)> = metrics
        .backends
        .iter()
        .map(|b| (b.name.clone(), b.traffic.requests_total, b.traffic.status_2xx, b.traffic.in_flight))
        .collect();
    assert_eq!(per_backend, [("web-1".into(), 6, 6, 0), ("web-2".into(), 5, 5, 0)]);
    assert!(metrics.backends.iter().all(|b| b.traffic.latency_p95_ms > 0.0));

    // The snapshot is what the engine serves as JSON.
    let json = serde_json::to_value(&metrics).unwrap();
    assert_eq!(json["app"]["requests_total"], 11);
    assert_eq!(json["backends"][0]["name"], "web-1");
}

#[tokio::test]
async fn a_port_in_use_is_reported_as_such() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    match AppProxy::bind(ProxyConfig::new("web"), port).await {
        Err(ProxyError::PortInUse(p)) => assert_eq!(p, port),
        other => panic!("expected PortInUse, got {other:?}"),
    }
}

#[tokio::test]
async fn dropping_the_proxy_frees_its_port() {
    let proxy = proxy(Strategy::RoundRobin).await;
    let port = proxy.port();
    drop(proxy);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let again = AppProxy::bind(ProxyConfig::new("web"), port).await.unwrap();
    assert_eq!(again.port(), port);
}
