//! End-to-end: traffic beyond request/response through the built-in load balancer, against the real engine and the
//! demo image — WebSockets (and their drain in a rolling update), HTTP/2 prior knowledge with a streaming answer,
//! plain TCP ports balanced per connection while a replica is killed, sticky cookies, and the refusals of specs the
//! load balancer cannot serve.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crane_e2e::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const GENEROUS: Duration = Duration::from_secs(90);

/// The demo with a WebSocket/HTTP port 8080 and a tcp echo port 9000, ready when `/ready` answers.
fn spec(name: &str, replicas: u32, greeting: &str, port_extra: &str) -> String {
    format!(
        "name: {name}\nimage: {DEMO_IMAGE}\nreplicas: {replicas}\n\
         command: [\"/demo\", \"--port\", \"8080\", \"--tcp-echo\", \"9000\"]\nenv: {{ GREETING: {greeting} }}\n\
         ports:\n  - {{ container: 8080{port_extra} }}\n  - {{ container: 9000, mode: tcp }}\n\
         health:\n  readiness: {{ type: http, path: /ready, period: 300ms, failureThreshold: 1 }}\n\
         update: {{ maxSurge: 1, maxUnavailable: 0 }}\nresources: {{ cpu: 0.2, memory: 32Mi }}\n"
    )
}

fn port_of(address: &str) -> u16 {
    address.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in {address}"))
}

/// A WebSocket client connection: the handshake's `X-Crane-Instance` and the stream.
struct WebSocket {
    instance: String,
    stream: BufReader<TcpStream>,
}

impl WebSocket {
    async fn open(port: u16) -> WebSocket {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        let head = "GET /ws HTTP/1.1\r\nHost: demo\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut stream = BufReader::new(stream);
        let mut response = String::new();
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            response.push_str(&line);
        }
        assert!(response.starts_with("HTTP/1.1 101"), "{response}");
        assert!(
            response.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "the accept value of RFC 6455's example: {response}"
        );
        let instance = response
            .lines()
            .find_map(|l| l.strip_prefix("X-Crane-Instance: ").or_else(|| l.strip_prefix("x-crane-instance: ")))
            .unwrap_or_default()
            .to_string();
        WebSocket { instance, stream }
    }

    /// Sends a masked text frame and reads the echoed frame; None when the connection is closed.
    async fn echo(&mut self, text: &str) -> Option<String> {
        let mask = [7u8, 1, 8, 2];
        let mut frame = vec![0x81, 0x80 | text.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.get_mut().write_all(&frame).await.ok()?;
        let mut head = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(5), self.stream.read_exact(&mut head)).await.ok()?.ok()?;
        let mut payload = vec![0u8; usize::from(head[1] & 0x7f)];
        self.stream.read_exact(&mut payload).await.ok()?;
        (head[0] == 0x81).then(|| String::from_utf8(payload).unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_through_the_balancer_and_a_rolling_update_drains_it() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-ws");
    engine.handle.apply(&spec(&app, 2, "one", ""), false).await.expect("apply");
    let view = app_until(&engine, &app, GENEROUS, "2 ready", |v| v.ready == 2).await;
    let port = port_of(view.url.as_deref().unwrap());
    assert_eq!(view.listeners.len(), 2, "{:?}", view.listeners);
    assert_eq!(view.listeners[0].mode, crane_api::PortModeView::Http);

    let mut ws = WebSocket::open(port).await;
    assert!(ws.instance.starts_with(&app), "{}", ws.instance);
    assert_eq!(ws.echo("hello").await.as_deref(), Some("hello"));
    app_until(&engine, &app, GENEROUS, "the WebSocket counted as an open connection", |v| {
        v.listeners[0].traffic.as_ref().is_some_and(|t| t.open_connections == 1.0 && t.connections >= 1.0)
    })
    .await;

    // A rolling update replaces the WebSocket's instance: the connection keeps working while it drains, and is
    // closed within the engine's drain limit (10 s) once its instance leaves the load balancer.
    let started = Instant::now();
    engine.handle.apply(&spec(&app, 2, "two", ""), false).await.expect("update");
    let mut closed_after = None;
    while started.elapsed() < Duration::from_secs(60) {
        match ws.echo("ping").await {
            Some(text) => assert_eq!(text, "ping"),
            None => {
                closed_after = Some(started.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let closed_after = closed_after.expect("the drained WebSocket was never closed");
    println!("WebSocket closed {closed_after:?} after the update started");
    assert!(closed_after < Duration::from_secs(40), "closed too late: {closed_after:?}");
    let view = app_until(&engine, &app, GENEROUS, "the rollout to complete", |v| {
        v.instances.len() == 2 && v.instances.iter().all(|i| i.revision == 2) && v.ready == 2
    })
    .await;
    // New WebSockets reach the new revision.
    let mut ws = WebSocket::open(port_of(view.url.as_deref().unwrap())).await;
    assert_eq!(ws.echo("again").await.as_deref(), Some("again"));
    engine.handle.delete(&app).await.expect("delete");
}

/// An h2c (prior knowledge) client connection.
async fn h2(port: u16) -> hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2c handshake");
    tokio::spawn(connection);
    sender
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_and_a_streaming_answer_through_the_balancer() {
    use http_body_util::BodyExt;
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    // One app spoken to in HTTP/1.1, one whose instances get HTTP/2 (`appProtocol: http2`).
    for (app, extra) in [(unique_name("t-h2a"), ""), (unique_name("t-h2b"), ", appProtocol: http2")] {
        engine.handle.apply(&spec(&app, 2, "h2", extra), false).await.expect("apply");
        let view = app_until(&engine, &app, GENEROUS, "2 ready", |v| v.ready == 2).await;
        let mut sender = h2(port_of(view.url.as_deref().unwrap())).await;
        let mut seen = BTreeMap::new();
        for _ in 0..4 {
            let request = hyper::Request::get("http://demo/").body(http_body_util::Empty::new()).unwrap();
            let response = sender.send_request(request).await.expect("h2 request");
            assert_eq!(response.version(), hyper::Version::HTTP_2);
            let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
            assert!(body.starts_with("hello from "), "{body}");
            *seen.entry(body).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), 2, "requests of one HTTP/2 connection spread over both instances: {seen:?}");

        // The streamed answer arrives line by line, 300 ms apart, not at the end.
        let request = hyper::Request::get("http://demo/stream?n=3&ms=300").body(http_body_util::Empty::new()).unwrap();
        let started = Instant::now();
        let mut body = sender.send_request(request).await.expect("stream request").into_body();
        let mut arrivals = Vec::new();
        let mut text = String::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                if !data.is_empty() {
                    arrivals.push(started.elapsed());
                    text.push_str(std::str::from_utf8(&data).unwrap());
                }
            }
        }
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.starts_with("chunk 1 of 3 from "), "{text}");
        assert!(arrivals[0] + Duration::from_millis(450) < *arrivals.last().unwrap(), "{arrivals:?} ({extra})");
        engine.handle.delete(&app).await.expect("delete");
    }
}

/// One TCP echo exchange: the instance that answered, or None when the connection gave no answer.
async fn tcp_echo(port: u16, text: &str) -> Option<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let mut stream = BufReader::new(stream);
    stream.get_mut().write_all(format!("{text}\n").as_bytes()).await.ok()?;
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_line(&mut line)).await.ok()?.ok()?;
    let (instance, echoed) = line.trim_end().split_once(": ")?;
    (echoed == text).then(|| instance.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_echo_spreads_over_three_replicas_and_a_killed_one_gets_no_new_connection() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-tcp");
    engine.handle.apply(&spec(&app, 3, "tcp", ""), false).await.expect("apply");
    let view = app_until(&engine, &app, GENEROUS, "3 ready", |v| v.ready == 3).await;
    let listener = &view.listeners[1];
    assert_eq!((listener.container, listener.mode), (9000, crane_api::PortModeView::Tcp));
    let address = listener.address.clone().expect("the tcp port listens");
    assert!(address.starts_with("tcp://127.0.0.1:"), "{address}");
    let port = port_of(&address);

    let mut spread = BTreeMap::new();
    for i in 0..30 {
        let who = tcp_echo(port, &format!("hello {i}")).await.expect("an echo");
        *spread.entry(who).or_insert(0) += 1;
    }
    assert_eq!(spread.len(), 3, "connections spread over the 3 replicas: {spread:?}");
    assert!(spread.values().all(|n| *n == 10), "round robin per connection: {spread:?}");

    // A loop of new connections while a replica is killed.
    let victim = format!("{app}-2");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let looping = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut answers: Vec<(chrono::DateTime<chrono::Utc>, Option<String>)> = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // When the connection was opened: one opened after the kill must not reach the killed replica.
                let opened = chrono::Utc::now();
                let who = tcp_echo(port, &format!("loop {i}")).await;
                answers.push((opened, who));
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            answers
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill(&victim).await;
    // `docker kill` has returned: the replica is dead from here on.
    let killed_at = chrono::Utc::now();
    // The replacement (same name, new container) runs and is ready again.
    let docker = docker().await;
    let old_id = view.instances.iter().find(|i| i.name == victim).unwrap().id.clone();
    let replacement = wait_for(GENEROUS, "the killed replica's replacement", || async {
        let c = docker.inspect_container(&victim, None).await.ok()?;
        (c.id.as_deref() != Some(old_id.as_str()) && c.state.as_ref()?.running == Some(true)).then_some(c)
    })
    .await;
    let replacement_started: chrono::DateTime<chrono::Utc> =
        replacement.state.unwrap().started_at.unwrap().parse().expect("StartedAt");
    app_until(&engine, &app, GENEROUS, "3 ready again", |v| v.ready == 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = looping.await.unwrap();

    let failed: Vec<_> = answers.iter().filter(|(_, who)| who.is_none()).collect();
    let to_victim_while_gone: Vec<_> = answers
        .iter()
        .filter(|(at, who)| *at > killed_at && *at < replacement_started && who.as_deref() == Some(victim.as_str()))
        .collect();
    println!(
        "tcp loop: {} connections, {} without an answer, killed at {killed_at}, replacement started {replacement_started}",
        answers.len(),
        failed.len()
    );
    assert!(answers.len() > 50, "the loop ran: {}", answers.len());
    assert!(to_victim_while_gone.is_empty(), "connections reached the killed replica: {to_victim_while_gone:?}");
    // A connect refused by the dead container is retried on another instance, so no client sees it; at most the one
    // exchange in progress at the moment of the kill is cut.
    assert!(failed.len() <= 1, "connections failed: {failed:?}");
    engine.handle.delete(&app).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sticky_cookie_keeps_a_client_on_one_instance_until_it_leaves() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-sticky");
    engine.handle.apply(&spec(&app, 3, "sticky", ", sticky: cookie"), false).await.expect("apply");
    let view = app_until(&engine, &app, GENEROUS, "3 ready", |v| v.ready == 3).await;
    assert!(view.listeners[0].sticky);
    let url = view.url.clone().unwrap();
    let client = reqwest::Client::new();
    let first = client.get(&url).send().await.unwrap();
    let cookie = first.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    assert!(cookie.starts_with(&format!("crane-sticky-{app}=")), "{cookie}");
    let who = |r: &reqwest::Response| r.headers()["x-crane-instance"].to_str().unwrap().to_string();
    let sticky = who(&first);
    for _ in 0..20 {
        let r = client.get(&url).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(who(&r), sticky);
    }
    // Kept across a scale-up.
    engine.handle.scale(&app, 4).await.expect("scale");
    app_until(&engine, &app, GENEROUS, "4 ready", |v| v.ready == 4).await;
    for _ in 0..10 {
        let r = client.get(&url).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(who(&r), sticky);
    }
    // The sticky instance leaves the load balancer (its readiness is switched off through the cookie itself).
    let off = client.post(format!("{url}/admin/ready/off")).header("cookie", &cookie).send().await.unwrap();
    assert!(off.status().is_success());
    app_until(&engine, &app, GENEROUS, "the sticky instance to leave", |v| v.ready == 3).await;
    let moved = client.get(&url).header("cookie", &cookie).send().await.unwrap();
    let now_on = who(&moved);
    assert_ne!(now_on, sticky);
    let new_cookie = moved.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    for _ in 0..20 {
        let r = client.get(&url).header("cookie", &new_cookie).send().await.unwrap();
        assert_eq!(who(&r), now_on);
    }
    engine.handle.delete(&app).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn specs_the_balancer_cannot_serve_are_refused_with_the_reason() {
    let engine = TestEngine::start().await;
    let cases = [
        (
            "name: t-bad-probe\nimage: x\nports: [{ container: 6379, mode: tcp }]\n\
             health: { readiness: { type: http, path: /ready } }\n",
            "health.readiness.type",
            "tcp port",
        ),
        (
            "name: t-bad-sticky\nimage: x\nports: [{ container: 6379, appProtocol: tcp, sticky: cookie }]\n",
            "ports[0].sticky",
            "cookies",
        ),
        ("name: t-bad-udp\nimage: x\nports: [{ container: 53, protocol: udp }]\n", "ports[0].protocol", "UDP"),
    ];
    for (yaml, path, words) in cases {
        let error = engine.handle.apply(yaml, false).await.expect_err("refused").to_api();
        assert_eq!(error.code, crane_api::ErrorCode::InvalidSpec, "{error:?}");
        let d = error.diagnostics.iter().find(|d| d.path == path).unwrap_or_else(|| panic!("{path}: {error:?}"));
        assert!(d.message.contains(words), "{d:?}");
    }
    assert!(engine.handle.list_apps().await.unwrap().is_empty(), "nothing was created");
}
