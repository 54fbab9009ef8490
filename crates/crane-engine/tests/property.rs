//! Property: whatever the doors ask and whatever happens to the containers, in any order, the engine converges to
//! the last thing asked for: the wanted number of instances, all at the app's revision, never two containers of one
//! revision in one slot, and no request lost. Runs on the fake runtime with a paused clock; proptest shrinks a
//! failing sequence to a minimal one.

mod support;

use std::collections::BTreeSet;

use crane_core::ports::Store;
use proptest::prelude::*;
use support::{spec, Rig};

#[derive(Debug, Clone)]
enum Op {
    /// `apply` with this many replicas of image `demo:<image>`.
    Apply { replicas: u32, image: u8 },
    /// `scale`.
    Scale(u32),
    /// A container of this slot dies (if one runs).
    Crash(u32),
    /// `delete`.
    Delete,
    /// Time passes.
    Idle(u64),
    /// Events arrive twice from now on, or not.
    EventsTwice(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..4u32, 1..3u8).prop_map(|(replicas, image)| Op::Apply { replicas, image }),
        2 => (0..5u32).prop_map(Op::Scale),
        3 => (1..5u32).prop_map(Op::Crash),
        1 => Just(Op::Delete),
        3 => (0..3000u64).prop_map(Op::Idle),
        1 => any::<bool>().prop_map(Op::EventsTwice),
    ]
}

/// What the doors asked for last.
#[derive(Debug, Default)]
struct Wanted {
    app: Option<(u32, u8)>,
    /// How many events the log held when the last apply began: a crash during the rollout it started may make the
    /// engine roll back (its decision, logged as `rollout.rolled_back`), and then an earlier image is right. (Applying
    /// the same spec again while that rollback is pending is `unchanged`, as `kubectl apply` would be.)
    events_at_apply: usize,
}

fn no_double_booking(rig: &Rig) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for c in rig.fake.running("p") {
        if !seen.insert((c.index, c.revision)) {
            return Err(format!(
                "two running containers of revision {} in slot {}: {}",
                c.revision,
                c.index,
                rig.running("p")
            ));
        }
    }
    Ok(())
}

async fn run(ops: Vec<Op>) -> Result<(), String> {
    let rig = Rig::new().await;
    let mut wanted = Wanted::default();
    for op in &ops {
        match op {
            Op::Apply { replicas, image } => {
                // Counted before the call: a rollback decided while it runs happens after the request too.
                wanted.events_at_apply = rig.store.all_events().len();
                rig.engine
                    .apply(&spec("p", &format!("demo:{image}"), *replicas, ""), false)
                    .await
                    .map_err(|e| format!("apply: {e}"))?;
                wanted.app = Some((*replicas, *image));
            }
            Op::Scale(n) => match (rig.engine.scale("p", *n).await, &mut wanted.app) {
                (Ok(_), Some((replicas, _))) => *replicas = *n,
                (Err(crane_engine::EngineError::NotFound(_)), None) => {}
                (result, app) => return Err(format!("scale {n} with {app:?}: {result:?}")),
            },
            Op::Crash(index) => {
                if let Some(c) = rig.fake.running("p").into_iter().find(|c| c.index == *index) {
                    rig.fake.crash(&c.name, 137);
                }
            }
            Op::Delete => match (rig.engine.delete("p").await, wanted.app.is_some()) {
                (Ok(()), true) | (Err(crane_engine::EngineError::NotFound(_)), false) => wanted.app = None,
                (result, exists) => return Err(format!("delete (exists: {exists}): {result:?}")),
            },
            Op::Idle(ms) => tokio::time::sleep(std::time::Duration::from_millis(*ms)).await,
            Op::EventsTwice(twice) => rig.fake.events_twice(*twice),
        }
        no_double_booking(&rig)?;
    }
    // Converge: crash-loop backoff is at most 30 s per slot. A rollback the engine decides after the last apply (a
    // crash during the rollout it started) changes the image to converge to, and only the image.
    let requested = wanted.app;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        no_double_booking(&rig)?;
        let rolled_back =
            rig.store.all_events()[wanted.events_at_apply..].iter().any(|e| e.kind == "rollout.rolled_back");
        if let (true, Some((replicas, _))) = (rolled_back, requested) {
            let stored = rig.store.get_app("p").await.unwrap().ok_or("the app is gone after a rollback")?;
            let image = stored.spec.image.trim_start_matches("demo:").parse::<u8>().map_err(|e| e.to_string())?;
            wanted.app = Some((replicas, image));
        }
        let expected = match wanted.app {
            None => String::new(),
            Some((replicas, _)) => {
                let revision = rig.fake.running("p").iter().map(|c| c.revision).max().unwrap_or(0);
                (1..=replicas).map(|i| format!("p-{i}@{revision}")).collect::<Vec<_>>().join(" ")
            }
        };
        let images_ok = match wanted.app {
            None => true,
            Some((_, image)) => rig.fake.running("p").iter().all(|c| c.image == format!("demo:{image}")),
        };
        if images_ok && rig.running("p") == expected {
            break;
        }
        // A rolling update that failed and could not roll back (its automatic rollback failed too) pauses, as
        // `failureAction` documents: the slots keep what runs, without double booking, until the next apply. That
        // is an end state too; the store must still hold the last request (checked below).
        let paused = rig.store.get_app("p").await.unwrap().is_some_and(|a| a.paused);
        if paused && rig.store.all_events()[wanted.events_at_apply..].iter().any(|e| e.kind == "rollout.paused") {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "no convergence: running {:?}, wanted {:?}\n{}",
                rig.running("p"),
                wanted.app,
                rig.log()
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // No request lost: the store holds what was asked last.
    let stored = rig.store.get_app("p").await.unwrap();
    match (wanted.app, stored) {
        (None, None) => {}
        (Some((replicas, image)), Some(app))
            if app.spec.replicas == replicas && app.spec.image == format!("demo:{image}") => {}
        (wanted, stored) => return Err(format!("stored {stored:?}, wanted {wanted:?}")),
    }
    if wanted.app.is_none() && rig.fake.networks().contains("crane-p") {
        return Err("a deleted app's network is left".into());
    }
    rig.engine.shutdown().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_converges_to_the_last_request(ops in proptest::collection::vec(op(), 1..14)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        let result = runtime.block_on(run(ops));
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
