//! With no Docker engine at the configured address the engine still starts, and every door gets a clear error
//! naming the fix instead of a panic or a hang. This file is its own test process because it sets `DOCKER_HOST`.

use std::time::{Duration, Instant};

use crane_engine::{EngineConfig, EngineError, EngineHandle};

#[tokio::test]
async fn an_unreachable_docker_engine_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: set before any thread of this test process reads the environment.
    unsafe { std::env::set_var("DOCKER_HOST", format!("unix://{}/no-docker.sock", dir.path().display())) };
    let started = Instant::now();
    let engine = EngineHandle::start(EngineConfig::new(dir.path().to_path_buf()).with_tick(Duration::from_secs(1)))
        .await
        .expect("the engine starts without Docker");

    let status = engine.status().await;
    assert!(!status.docker_ok);
    assert!(status.docker.contains("not reachable"), "status names the problem: {}", status.docker);

    let err = engine.apply("name: web\nimage: crane-demo:0.1.0\n", false).await.expect_err("apply needs Docker");
    assert!(matches!(err, EngineError::DockerUnreachable(_)), "{err:?}");
    assert!(err.to_string().contains("start Docker"), "the message names the fix: {err}");
    assert!(matches!(engine.get_app("web").await, Err(EngineError::NotFound(_))), "nothing stored");
    assert!(engine.list_apps().await.unwrap().is_empty());
    assert!(started.elapsed() < Duration::from_secs(20), "no hang: {:?}", started.elapsed());
    engine.shutdown().await;
}
