//! The data directory: created private, refused when others can write it, and used by one engine at a time.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use crane_engine::fakes::{FakeRuntime, MemStore};
use crane_engine::{Clock, EngineConfig, EngineHandle};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn start_fake(dir: &std::path::Path) -> crane_engine::Result<EngineHandle> {
    let clock = Clock::tokio();
    let config = EngineConfig::new(dir.to_path_buf()).with_clock(clock).with_tick(Duration::from_millis(500));
    EngineHandle::start_with(config, Arc::new(FakeRuntime::new(clock)), Arc::new(MemStore::new())).await
}

#[tokio::test(start_paused = true)]
async fn second_engine_on_one_data_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let first = start_fake(tmp.path()).await.unwrap();
    let err = start_fake(tmp.path()).await.err().expect("a second engine must not start").to_string();
    assert!(
        err.contains(&format!("another Crane engine (pid {}) uses this data directory", std::process::id())),
        "{err}"
    );
    // After a clean shutdown the directory is free again.
    first.shutdown().await;
    let again = start_fake(tmp.path()).await.unwrap();
    again.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn data_dir_writable_by_others_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = start_fake(tmp.path()).await.err().expect("an unsafe data dir is refused").to_string();
    assert!(err.contains(&tmp.path().display().to_string()) && err.contains("chmod 700"), "{err}");
}

/// The real store (SQLite) in a new data directory: the directory 0700, the database and its WAL files 0600.
#[tokio::test]
async fn new_data_dir_and_database_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let engine = EngineHandle::start(EngineConfig::new(dir.clone())).await.unwrap();
    assert_eq!(mode(&dir), 0o700);
    for name in ["crane.db", "crane.db-wal", "crane.db-shm", "engine.lock"] {
        let path = dir.join(name);
        if path.exists() || name == "crane.db" {
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    }
    let err = EngineHandle::start(EngineConfig::new(dir.clone())).await.err().expect("second engine").to_string();
    assert!(err.contains("another Crane engine"), "{err}");
    engine.shutdown().await;
}
