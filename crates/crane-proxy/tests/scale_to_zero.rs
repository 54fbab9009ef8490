//! The activator against real sockets: with scale to zero on and no ready instance, requests are held, the owner
//! is asked to wake the app, and the held requests are answered once a backend is set; past the queue or the wait,
//! `503` with `Retry-After`.

mod support;

use std::time::Duration;

use crane_core::scale_to_zero::{Config, Phase};
use crane_proxy::{Strategy, ZeroSignal};
use support::*;

fn config(max_held: usize, hold_timeout: u64) -> Config {
    Config { idle_after: 60_000, max_held, hold_timeout }
}

#[tokio::test]
async fn held_requests_wake_the_app_and_are_answered_once_an_instance_is_ready() {
    let backend = start_backend("web-1").await;
    let proxy = proxy(Strategy::RoundRobin).await;
    let (tx, mut signals) = tokio::sync::mpsc::unbounded_channel();
    proxy.set_scale_to_zero(Some(config(100, 10_000)), &tx);
    proxy.set_replicas(0);
    assert_eq!(proxy.scale_to_zero_status().unwrap().phase, Phase::Zero);

    let client = client();
    let port = proxy.port();
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { get(&client, port, "/").await })
        })
        .collect();
    // One wake for the whole burst.
    let signal = tokio::time::timeout(Duration::from_secs(5), signals.recv()).await.unwrap().unwrap();
    assert_eq!(signal, ZeroSignal::Wake { app: "web".into() });
    eventually(|| proxy.scale_to_zero_status().unwrap().held == 20).await;
    assert!(matches!(proxy.scale_to_zero_status().unwrap().phase, Phase::Waking { .. }));

    tokio::time::sleep(Duration::from_millis(100)).await;
    proxy.set_replicas(1);
    proxy.set_backends(vec![backend.backend.clone()]);
    for request in requests {
        let answer = request.await.unwrap();
        assert_eq!((answer.status, answer.body.as_str()), (200, "web-1"));
    }
    match signals.recv().await.unwrap() {
        ZeroSignal::Woke { app, cold_start_ms, released } => {
            assert_eq!((app.as_str(), released), ("web", 20));
            assert!(cold_start_ms >= 100, "{cold_start_ms}");
        }
        other => panic!("expected Woke, got {other:?}"),
    }
    let status = proxy.scale_to_zero_status().unwrap();
    assert_eq!((status.phase, status.held, status.refused), (Phase::Serving, 0, 0));
    assert!(status.last_cold_start.is_some());
}

#[tokio::test]
async fn past_the_queue_or_the_wait_a_request_gets_503_with_retry_after() {
    let proxy = proxy(Strategy::RoundRobin).await;
    let (tx, mut signals) = tokio::sync::mpsc::unbounded_channel();
    proxy.set_scale_to_zero(Some(config(2, 400)), &tx);
    proxy.set_replicas(0);
    let client = client();
    let port = proxy.port();
    let held: Vec<_> = (0..2)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { get(&client, port, "/").await })
        })
        .collect();
    eventually(|| proxy.scale_to_zero_status().unwrap().held == 2).await;
    let full = get(&client, port, "/").await;
    assert_eq!((full.status, full.headers["retry-after"].to_str().unwrap()), (503, "1"));
    assert!(full.body.contains("waking from zero"), "{}", full.body);
    // Nobody starts an instance: the held ones time out.
    for request in held {
        let answer = request.await.unwrap();
        assert_eq!(answer.status, 503);
        assert!(answer.body.contains("did not wake from zero in time"), "{}", answer.body);
    }
    assert_eq!(proxy.scale_to_zero_status().unwrap().refused, 3);
    assert_eq!(signals.recv().await, Some(ZeroSignal::Wake { app: "web".into() }));
}

#[tokio::test]
async fn without_scale_to_zero_an_empty_set_still_answers_503_at_once() {
    let proxy = proxy(Strategy::RoundRobin).await;
    let (tx, _signals) = tokio::sync::mpsc::unbounded_channel();
    proxy.set_scale_to_zero(Some(config(10, 10_000)), &tx);
    proxy.set_scale_to_zero(None, &tx);
    let answer = get(&client(), proxy.port(), "/").await;
    assert_eq!(answer.status, 503);
    assert!(proxy.scale_to_zero_status().is_none());
}
