//! A load-test rig: starts N tiny backends and one proxy in front of them on loopback, prints both addresses, and
//! serves until interrupted. Compare `wrk -t2 -c64 -d10s http://127.0.0.1:<proxy>/` with the direct backend port.
//!
//! Usage: `cargo run --release -p crane-proxy --example loopback -- [backends] [proxy-port] [least]`

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use crane_proxy::{AppProxy, Backend, ProxyConfig, Strategy};
use http_body_util::Full;
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let strategy =
        if args.next().as_deref() == Some("least") { Strategy::LeastConnections } else { Strategy::RoundRobin };

    let mut backends = Vec::new();
    for i in 1..=count {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind backend");
        let addr = listener.local_addr().expect("backend address");
        let name = format!("web-{i}");
        let body = Bytes::from(name.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                let body = body.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        let body = body.clone();
                        async move { Ok::<_, Infallible>(hyper::Response::new(Full::new(body))) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        println!("backend {name}: http://{addr}/");
        backends.push(Backend { id: name.clone(), name, addr });
    }

    let mut config = ProxyConfig::new("bench");
    config.strategy = strategy;
    let proxy = AppProxy::bind(config, port).await.expect("bind proxy");
    proxy.set_backends(backends);
    println!("proxy ({strategy:?}): http://127.0.0.1:{}/", proxy.port());

    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {
                let m = proxy.metrics().app.traffic;
                if m.requests_total > 0 {
                    eprintln!("rps {:.0}  p50 {:.2} ms  p99 {:.2} ms  total {}  errors {}",
                        m.rps, m.latency_p50_ms, m.latency_p99_ms, m.requests_total, m.errors);
                }
            }
        }
    }
}
