//! Engine tests without Docker: an engine on the fake runtime and the in-memory store, on tokio's paused clock.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use crane_core::ports::EventRecord;
use crane_engine::fakes::{FakeRuntime, MemStore};
use crane_engine::{Clock, EngineConfig, EngineHandle};

/// An engine under test with its fakes.
pub struct Rig {
    /// The engine.
    pub engine: EngineHandle,
    /// Its runtime.
    pub fake: FakeRuntime,
    /// Its store.
    pub store: MemStore,
    /// Its data directory.
    pub dir: tempfile::TempDir,
    clock: Clock,
}

impl Rig {
    /// A fresh engine on empty fakes. Call inside a paused runtime (`#[tokio::test(start_paused = true)]`).
    pub async fn new() -> Rig {
        let clock = Clock::tokio();
        let fake = FakeRuntime::new(clock);
        Rig::on(fake, MemStore::new(), clock).await
    }

    /// An engine on the given fakes (an engine restart keeps them).
    pub async fn on(fake: FakeRuntime, store: MemStore, clock: Clock) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let config = EngineConfig::new(dir.path().to_path_buf())
            .with_clock(clock)
            .with_tick(Duration::from_millis(500))
            .with_metrics_interval(Duration::from_secs(5));
        let engine = EngineHandle::start_with(config, Arc::new(fake.clone()), Arc::new(store.clone())).await.unwrap();
        Rig { engine, fake, store, dir, clock }
    }

    /// Stops this engine and starts another on the same runtime and store (an engine restart).
    pub async fn restart(self) -> Rig {
        self.engine.shutdown().await;
        let Rig { fake, store, clock, .. } = self;
        Rig::on(fake, store, clock).await
    }

    /// Applies a spec, panicking on an error.
    pub async fn apply(&self, yaml: &str) -> crane_api::ApplyResult {
        self.engine.apply(yaml, false).await.unwrap_or_else(|e| panic!("apply failed: {e}\n{yaml}"))
    }

    /// Waits (virtual time, at most `secs`) until `done` holds; panics with `what` and the event log otherwise.
    pub async fn until(&self, secs: u64, what: &str, mut done: impl FnMut(&Rig) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !done(self) {
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "not within {secs}s (virtual): {what}\ncontainers: {:#?}\nevents:\n{}",
                    self.fake.containers(),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Lets `secs` of virtual time pass.
    pub async fn idle(&self, secs: u64) {
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }

    /// Slots and revisions of the running containers of `app`, like `web-1@1 web-2@1` (an old revision moved aside
    /// by a rolling update, `web-1-r1`, still shows as `web-1@1`).
    pub fn running(&self, app: &str) -> String {
        let mut slots: Vec<(u32, u64)> = self.fake.running(app).iter().map(|c| (c.index, c.revision)).collect();
        slots.sort();
        slots.iter().map(|(i, r)| format!("{app}-{i}@{r}")).collect::<Vec<_>>().join(" ")
    }

    /// Every event of these kinds, oldest first.
    pub fn events(&self, kinds: &[&str]) -> Vec<EventRecord> {
        self.store.all_events().into_iter().filter(|e| kinds.contains(&e.kind.as_str())).collect()
    }

    /// The event log as text, for failure messages.
    pub fn log(&self) -> String {
        self.store
            .all_events()
            .iter()
            .map(|e| format!("  {} {} {}: {}", e.at, e.kind, e.instance.as_deref().unwrap_or("-"), e.reason))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A spec of `replicas` instances of `image` named `name`, plus extra YAML lines.
pub fn spec(name: &str, image: &str, replicas: u32, extra: &str) -> String {
    format!("name: {name}\nimage: {image}\nreplicas: {replicas}\n{extra}")
}
