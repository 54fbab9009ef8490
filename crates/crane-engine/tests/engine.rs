//! The engine loop against the fake runtime and the in-memory store, on tokio's paused clock: deterministic and
//! without Docker. Each test drives the engine through its handle (as the doors do) and checks what the runtime was
//! asked to do and what the event log says.

mod support;

use crane_api::{ApplyAction, RolloutState};
use crane_core::model::ContainerState;
use crane_core::ports::{RuntimeError, Store};
use crane_engine::fakes::{Call, FakeContainer};
use crane_engine::EngineError;
use support::{spec, Rig};

#[tokio::test(start_paused = true)]
async fn a_new_app_starts_and_a_crashed_instance_is_replaced() {
    let rig = Rig::new().await;
    let result = rig.apply(&spec("web", "demo:1", 2, "")).await;
    assert_eq!(result.action, ApplyAction::Created);
    assert_eq!(rig.running("web"), "web-1@1 web-2@1");
    assert!(rig.fake.networks().contains("crane-web"));

    let before = rig.fake.running("web")[0].id.clone();
    assert!(rig.fake.crash("web-1", 137));
    rig.until(5, "web-1 replaced", |r| r.fake.running("web").len() == 2 && r.fake.running("web")[0].id != before).await;
    let replaced = rig.events(&["instance.replaced"]);
    assert_eq!(replaced.len(), 1, "{}", rig.log());
    assert!(replaced[0].reason.contains("exited with code 137"), "{}", replaced[0].reason);
    assert_eq!(rig.events(&["instance.died"]).len(), 1, "one die event, one entry: {}", rig.log());
    // The dead container moved aside (so the replacement did not wait for its removal), then went.
    let aside = format!("web-1-x{}", &before[..before.len().min(12)]);
    let calls = rig.fake.calls();
    let rename = calls.iter().position(|c| c == &Call::Rename(before.clone(), aside.clone()));
    let removed = calls.iter().position(|c| c == &Call::Remove(aside.clone()));
    assert!(rename.is_some() && removed > rename, "renamed aside, then removed: {calls:?}");
    assert!(rig.fake.containers().iter().all(|c| c.id != before), "the crashed container is gone");
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn scaling_up_and_down() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 1, "")).await;
    let view = rig.engine.scale("web", 4).await.unwrap();
    assert_eq!(view.replicas, 4);
    assert_eq!(rig.running("web"), "web-1@1 web-2@1 web-3@1 web-4@1");
    rig.engine.scale("web", 1).await.unwrap();
    assert_eq!(rig.running("web"), "web-1@1");
    assert_eq!(rig.events(&["instance.scaled_down"]).len(), 3);
    // Scaling is not a new revision.
    assert_eq!(rig.engine.get_app("web").await.unwrap().revision, 1);
    let err = rig.engine.scale("web", 10_000).await.unwrap_err();
    assert!(matches!(err, EngineError::BadRequest(_)), "{err}");
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_restarted_engine_adopts_what_runs() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 3, "")).await;
    let ids: Vec<String> = rig.fake.running("web").iter().map(|c| c.id.clone()).collect();
    let starts = rig.fake.calls().iter().filter(|c| matches!(c, Call::Start { .. })).count();

    let rig = rig.restart().await;
    rig.idle(5).await;
    let after: Vec<String> = rig.fake.running("web").iter().map(|c| c.id.clone()).collect();
    assert_eq!(after, ids, "the same containers keep running");
    let starts_after = rig.fake.calls().iter().filter(|c| matches!(c, Call::Start { .. })).count();
    assert_eq!(starts_after, starts, "nothing was started again: {:?}", rig.fake.calls());
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn duplicates_orphans_and_other_engines_containers() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 1, "")).await;
    let owner = rig.engine.owner().to_string();
    let leftover = |id: &str, name: &str, app: &str, index: u32, owner: &str| FakeContainer {
        id: id.into(),
        name: name.into(),
        app: app.into(),
        index,
        revision: 1,
        owner: owner.into(),
        image: "demo:1".into(),
        state: ContainerState::Running,
        exit_code: None,
        created_at: 0,
        started_at: Some(0),
    };
    // A second container in web's slot 1 (e.g. an interrupted create), an app nobody wants any more, and a
    // container of another engine sharing the Docker engine.
    rig.fake.insert(leftover("dup", "web-1-copy", "web", 1, &owner));
    rig.fake.insert(leftover("ghost", "ghost-1", "ghost", 1, &owner));
    rig.fake.insert(leftover("theirs", "other-1", "other", 1, "someone-else"));
    rig.engine.scale("web", 1).await.unwrap();
    rig.until(5, "duplicate and orphan removed", |r| {
        let ids: Vec<String> = r.fake.containers().iter().map(|c| c.id.clone()).collect();
        !ids.contains(&"dup".to_string()) && !ids.contains(&"ghost".to_string())
    })
    .await;
    assert_eq!(rig.running("web").split(' ').count(), 1);
    assert!(rig.fake.containers().iter().any(|c| c.id == "theirs"), "another engine's container is never touched");
    assert_eq!(rig.events(&["instance.duplicate_removed"]).len(), 1, "{}", rig.log());
    assert_eq!(rig.events(&["instance.orphan_removed"]).len(), 1, "{}", rig.log());
    assert!(rig.fake.calls().contains(&Call::RemoveAppResources("ghost".into())));
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_crash_loop_backs_off_and_a_stable_run_resets_it() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 1, "")).await;
    rig.fake.crash_on_start("web", 1);
    rig.fake.crash("web-1", 1);
    rig.idle(40).await;
    let starts: Vec<u64> = rig.events(&["instance.started"]).iter().skip(1).map(|e| e.at).collect();
    // First crash: replaced at once; then 1 s, 2 s, 4 s, 8 s, 16 s… between attempts.
    let gaps: Vec<u64> = starts.windows(2).map(|w| (w[1] - w[0]) / 1000).collect();
    assert!(starts.len() >= 4 && starts.len() <= 8, "{} restarts in 40 s: {gaps:?}\n{}", starts.len(), rig.log());
    assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "gaps grow: {gaps:?}");
    assert!(gaps.last().copied().unwrap_or(0) >= 4, "gaps grow to several seconds: {gaps:?}");
    let backoffs = rig.events(&["instance.backoff"]);
    assert!(!backoffs.is_empty() && backoffs.len() < starts.len() + 1, "one backoff event per wait: {}", rig.log());

    // The image is fixed: the next start runs, and 30 s of stable running clear the history, so a later crash is
    // replaced at once again.
    rig.fake.stop_crashing("web", 1);
    rig.until(60, "web-1 runs again", |r| r.fake.running("web").len() == 1).await;
    rig.idle(35).await;
    let before = rig.events(&["instance.started"]).len();
    let crashed_at = tokio::time::Instant::now();
    rig.fake.crash("web-1", 1);
    rig.until(5, "replaced at once after the reset", |r| r.events(&["instance.started"]).len() > before).await;
    assert!(crashed_at.elapsed() < std::time::Duration::from_secs(1), "no backoff after a stable run");
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_start_that_keeps_failing_is_retried_with_backoff_and_logged_once() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 1, "")).await;
    rig.fake.fail_starts("web", RuntimeError::Other("no space left on device".into()));
    // Scale up: web-2 cannot start. The scale itself succeeds and names the problem.
    rig.engine.scale("web", 2).await.unwrap();
    rig.idle(120).await;
    let attempts = rig.fake.calls().iter().filter(|c| matches!(c, Call::Start { index: 2, ok: false, .. })).count();
    // Every pass (500 ms tick) would be 240 attempts; with 1, 2, 4… 30 s between them it is about 9.
    assert!((5..=12).contains(&attempts), "{attempts} attempts in 120 s");
    assert_eq!(rig.events(&["instance.start_failed"]).len(), 1, "one event for one state: {}", rig.log());
    let view = rig.engine.get_app("web").await.unwrap();
    let slot = view.instances.iter().find(|i| i.name == "web-2").expect("the slot is shown");
    assert!(slot.message.contains("no space left on device"), "the window says why: {slot:?}");

    // A different error is a new state: one more event.
    rig.fake.fail_starts("web", RuntimeError::Other("still broken".into()));
    rig.idle(40).await;
    assert_eq!(rig.events(&["instance.start_failed"]).len(), 2, "{}", rig.log());

    // Fixed: a person's change retries at once, and recovery is logged.
    rig.fake.heal_starts("web");
    rig.engine.scale("web", 2).await.unwrap();
    rig.until(3, "web-2 runs", |r| r.fake.running("web").len() == 2).await;
    assert_eq!(rig.events(&["instance.start_recovered"]).len(), 1, "{}", rig.log());
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_new_app_that_cannot_start_is_not_half_created() {
    let rig = Rig::new().await;
    rig.fake.fail_starts("web", RuntimeError::PortInUse(8080));
    let err = rig.engine.apply(&spec("web", "demo:1", 2, ""), false).await.unwrap_err();
    assert!(matches!(err, EngineError::PortInUse(_)), "{err}");
    assert!(rig.store.get_app("web").await.unwrap().is_none());
    assert!(rig.store.list_revisions("web").await.unwrap().is_empty());
    assert!(rig.fake.containers().is_empty());
    assert!(!rig.fake.networks().contains("crane-web"), "its network is removed too");
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_rolling_update_replaces_every_instance() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 3, "")).await;
    let result = rig.apply(&spec("web", "demo:2", 3, "")).await;
    assert_eq!(result.action, ApplyAction::Updated);
    rig.until(30, "all on revision 2", |r| r.running("web") == "web-1@2 web-2@2 web-3@2").await;
    rig.until(5, "rollout complete", |_| true).await;
    let view = rig.engine.get_app("web").await.unwrap();
    assert_eq!(view.revision, 2);
    assert_eq!(view.rollout.map(|r| r.state), Some(RolloutState::Complete));
    assert_eq!(rig.events(&["instance.updated"]).len(), 3, "{}", rig.log());
    // Scaling during nothing: the same spec again is unchanged.
    assert_eq!(rig.apply(&spec("web", "demo:2", 3, "")).await.action, ApplyAction::Unchanged);
    assert_eq!(rig.apply(&spec("web", "demo:2", 4, "")).await.action, ApplyAction::Scaled);
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_update_rolls_back() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 2, "")).await;
    rig.fake.crash_on_start("web", 2);
    rig.apply(&spec("web", "demo:2", 2, "")).await;
    rig.until(20, "rolled back to revision 1", |r| {
        !r.events(&["rollout.rolled_back"]).is_empty() && r.running("web") == "web-1@1 web-2@1"
    })
    .await;
    let app = rig.store.get_app("web").await.unwrap().unwrap();
    assert_eq!((app.revision, app.spec.image.as_str(), app.paused), (1, "demo:1", false));
    let view = rig.engine.get_app("web").await.unwrap();
    assert_eq!(view.rollout.as_ref().map(|r| r.state), Some(RolloutState::RolledBack), "{view:?}");
    // The decision is logged once, with why.
    let decided = rig.events(&["rollout.rolled_back"]);
    assert_eq!(decided.len(), 1, "{}", rig.log());
    assert!(decided[0].reason.contains("returning to revision 1"), "{}", decided[0].reason);
    // The next update numbers past the failed one.
    rig.fake.stop_crashing("web", 2);
    assert_eq!(rig.apply(&spec("web", "demo:3", 2, "")).await.app.revision, 3);
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_update_with_failure_action_pause_pauses() {
    let rig = Rig::new().await;
    let pause = "update:\n  failureAction: pause\n";
    rig.apply(&spec("web", "demo:1", 2, pause)).await;
    rig.fake.crash_on_start("web", 2);
    rig.apply(&spec("web", "demo:2", 2, pause)).await;
    rig.until(20, "paused", |r| !r.events(&["rollout.paused"]).is_empty()).await;
    rig.idle(5).await;
    let app = rig.store.get_app("web").await.unwrap().unwrap();
    assert!(app.paused && app.revision == 2, "{app:?}");
    let view = rig.engine.get_app("web").await.unwrap();
    assert_eq!(view.rollout.as_ref().map(|r| r.state), Some(RolloutState::Paused), "{view:?}");
    // The old revision keeps serving every slot.
    assert!(rig.fake.running("web").iter().filter(|c| c.revision == 1).count() >= 1, "{}", rig.running("web"));
    assert_eq!(rig.events(&["rollout.paused"]).len(), 1, "decided once: {}", rig.log());
    // An undo returns to revision 1 and resumes.
    let view = rig.engine.rollout_undo("web", None).await.unwrap();
    assert_eq!(view.revision, 1);
    rig.until(20, "back on revision 1", |r| r.running("web") == "web-1@1 web-2@1").await;
    rig.engine.shutdown().await;
}

/// A rolling restart: the same spec as a new revision replaces every instance, the history says why, the next
/// apply of the same spec changes nothing, and an app at zero replicas is refused.
#[tokio::test(start_paused = true)]
async fn a_restart_replaces_every_instance_with_the_same_spec() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 2, "")).await;
    rig.until(10, "revision 1 runs", |r| r.running("web") == "web-1@1 web-2@1").await;
    let view = rig.engine.rollout_restart("web", None).await.unwrap();
    assert_eq!(view.revision, 2);
    rig.until(20, "every instance replaced", |r| r.running("web") == "web-1@2 web-2@2").await;
    let app = rig.store.get_app("web").await.unwrap().unwrap();
    assert_eq!((app.revision, app.spec.image.as_str(), app.spec.replicas), (2, "demo:1", 2));
    let history = rig.engine.rollout_history("web").await.unwrap();
    let last = history.last().unwrap();
    assert!(last.cause.starts_with("restart: restart requested by"), "{}", last.cause);
    let restarted = rig.events(&["rollout.restart"]);
    assert_eq!(restarted.len(), 1, "{}", rig.log());
    assert!(restarted[0].reason.contains("revision 1 → 2 with the same spec"), "{}", restarted[0].reason);
    // The same spec again is no change.
    assert_eq!(rig.apply(&spec("web", "demo:1", 2, "")).await.app.revision, 2);
    // Undo returns to revision 1 (same containers' spec, older number).
    assert_eq!(rig.engine.rollout_undo("web", None).await.unwrap().revision, 1);
    rig.engine.scale("web", 0).await.unwrap();
    let err = rig.engine.rollout_restart("web", None).await.unwrap_err();
    assert!(err.to_string().contains("nothing to restart"), "{err}");
    assert!(rig.engine.rollout_restart("ghost", None).await.is_err());
    rig.engine.shutdown().await;
}

/// The lost write of issue 7: the loop decided from the app as it read it at the start of its pass and wrote it
/// back whole, so a `scale` made during that pass was silently undone. Here the pass that decides the rollback is
/// held after reading the app; a door scales meanwhile; the decision must not undo the scale.
#[tokio::test(start_paused = true)]
async fn a_scale_during_a_pass_is_not_lost() {
    let rig = Rig::new().await;
    let probe = "health:\n  readiness: { type: exec, command: [check], period: 1s }\n";
    rig.apply(&spec("web", "demo:1", 2, probe)).await;
    rig.until(10, "revision 1 ready", |r| r.events(&["instance.ready"]).len() == 2).await;
    // Revision 2 never becomes ready: its rollout stays under way (the deadline is a minute).
    rig.fake.fail_exec("web", 2);
    rig.apply(&spec("web", "demo:2", 2, probe)).await;
    rig.idle(3).await;
    assert_eq!(rig.running("web"), "web-1@1 web-1@2 web-2@1", "one new instance beside the old ones");
    // The next pass reads the app, then is held while observing.
    rig.fake.block_next_list();
    rig.idle(1).await;
    // A door scales the app; then the new instance crashes, so the held pass (with what it read before the scale)
    // sees a failed rollout and decides to roll back.
    let engine = rig.engine.clone();
    let scale = tokio::spawn(async move { engine.scale("web", 5).await });
    rig.idle(1).await;
    let new = rig.fake.running("web").into_iter().find(|c| c.revision == 2).expect("the new instance");
    assert!(rig.fake.crash(&new.name, 1));
    rig.fake.release();
    scale.await.unwrap().unwrap();
    rig.until(20, "rolled back", |r| !r.events(&["rollout.rolled_back"]).is_empty()).await;
    rig.until(20, "five on revision 1", |r| r.running("web") == "web-1@1 web-2@1 web-3@1 web-4@1 web-5@1").await;
    let app = rig.store.get_app("web").await.unwrap().unwrap();
    assert_eq!((app.spec.replicas, app.revision), (5, 1), "the scale survives the rollback decision\n{}", rig.log());
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_loop_is_reported_and_the_loop_restarts() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 1, "")).await;
    rig.idle(2).await;
    rig.fake.panic_next_lists(1);
    // The request waiting for the failed pass gets an error, not a success.
    let err = rig.engine.scale("web", 2).await.unwrap_err();
    assert!(matches!(err, EngineError::LoopStopped(_)), "{err}");
    assert!(err.to_string().contains("panicked on purpose"), "{err}");
    assert_eq!(rig.events(&["engine.loop_restarted"]).len(), 1, "{}", rig.log());
    // The scale was stored; the restarted loop carries it out, and later requests work.
    rig.until(10, "two instances", |r| r.fake.running("web").len() == 2).await;
    rig.engine.scale("web", 3).await.unwrap();
    assert_eq!(rig.fake.running("web").len(), 3);
    assert_eq!(rig.engine.loop_restarts().0, 1);
    assert_eq!(rig.engine.loop_error(), None);
    rig.engine.shutdown().await;
    assert!(rig.engine.loop_error().is_some(), "a stopped loop is reported");
    let err = rig.engine.scale("web", 1).await.unwrap_err();
    assert!(matches!(err, EngineError::LoopStopped(_)), "every door reports a stopped loop: {err}");
}

#[tokio::test(start_paused = true)]
async fn a_loop_that_keeps_panicking_stops_and_says_so() {
    let rig = Rig::new().await;
    rig.fake.panic_next_lists(1000);
    rig.idle(600).await;
    let why = rig.engine.loop_error().expect("the supervisor gave up");
    assert!(why.contains("failed 9 times in a row"), "{why}");
    assert_eq!(rig.events(&["engine.loop_stopped"]).len(), 1);
    assert_eq!(rig.engine.status().await.engine_error.as_deref(), Some(why.as_str()), "status says so too");
    let err = rig.engine.apply(&spec("web", "demo:1", 1, ""), false).await.unwrap_err();
    assert!(matches!(err, EngineError::LoopStopped(_)), "{err}");
}

#[tokio::test(start_paused = true)]
async fn delete_then_apply_the_same_name_starts_afresh() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 2, "")).await;
    rig.apply(&spec("web", "demo:2", 2, "")).await;
    rig.until(30, "revision 2", |r| r.running("web") == "web-1@2 web-2@2").await;
    rig.engine.delete("web").await.unwrap();
    assert!(rig.fake.containers().is_empty());
    assert!(!rig.fake.networks().contains("crane-web"));
    assert!(matches!(rig.engine.get_app("web").await, Err(EngineError::NotFound(_))));
    assert!(matches!(rig.engine.delete("web").await, Err(EngineError::NotFound(_))));

    let again = rig.apply(&spec("web", "demo:1", 1, "")).await;
    assert_eq!((again.action, again.app.revision), (ApplyAction::Created, 1), "no history is inherited");
    assert_eq!(rig.engine.rollout_history("web").await.unwrap().len(), 1);
    assert_eq!(rig.running("web"), "web-1@1");
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn events_delivered_twice_or_late_change_nothing() {
    let rig = Rig::new().await;
    rig.fake.events_twice(true);
    rig.fake.delay_events(Some(std::time::Duration::from_millis(700)));
    rig.apply(&spec("web", "demo:1", 3, "")).await;
    rig.fake.crash("web-2", 1);
    rig.until(10, "web-2 replaced", |r| r.events(&["instance.replaced"]).len() == 1).await;
    rig.idle(10).await;
    assert_eq!(rig.fake.running("web").len(), 3);
    assert_eq!(rig.events(&["instance.replaced"]).len(), 1, "one crash, one replacement: {}", rig.log());
    let names: Vec<String> = rig.fake.containers().iter().map(|c| c.name.clone()).collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names.len(), unique.len(), "no duplicate: {names:?}");
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_runtime_is_reported_and_the_engine_recovers() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 1, "")).await;
    rig.fake.set_unreachable(true);
    let err = rig.engine.scale("web", 2).await;
    assert!(err.is_ok(), "the scale is stored: {err:?}");
    assert!(!rig.engine.status().await.docker_ok);
    rig.fake.set_unreachable(false);
    rig.until(10, "two instances after Docker came back", |r| r.fake.running("web").len() == 2).await;
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_missing_image_is_refused_before_anything_is_created() {
    let rig = Rig::new().await;
    rig.fake.only_images(&["demo:1"]);
    let err = rig.engine.apply(&spec("web", "demo:9", 1, ""), false).await.unwrap_err();
    assert!(matches!(err, EngineError::ImageUnavailable(_)), "{err}");
    assert!(rig.store.get_app("web").await.unwrap().is_none());
    assert!(rig.fake.calls().is_empty(), "nothing was asked of the runtime: {:?}", rig.fake.calls());
    // An update to a missing image is refused too, and the app keeps running what it runs.
    rig.apply(&spec("web", "demo:1", 1, "")).await;
    let err = rig.engine.apply(&spec("web", "demo:9", 1, ""), false).await.unwrap_err();
    assert!(matches!(err, EngineError::ImageUnavailable(_)), "{err}");
    assert_eq!(rig.engine.get_app("web").await.unwrap().revision, 1);
    // Without a Docker client there is no demo image to build, and the door is told why.
    let err = rig.engine.build_demo_image().await.unwrap_err();
    assert!(matches!(err, EngineError::DockerUnreachable(_)), "{err}");
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_app_row_is_left_alone_and_stops_nothing_else() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 2, "")).await;
    rig.store.damage("web", "stored spec is unreadable: unknown field `from`");
    rig.apply(&spec("api", "demo:1", 1, "")).await;
    rig.idle(10).await;
    assert_eq!(rig.running("web"), "web-1@1 web-2@1", "its containers are not orphans: {}", rig.log());
    assert_eq!(rig.running("api"), "api-1@1", "other apps are reconciled");
    assert_eq!(rig.events(&["app.unreadable"]).len(), 1, "said once: {}", rig.log());
    assert!(rig.events(&["instance.orphan_removed"]).is_empty(), "{}", rig.log());
    rig.engine.shutdown().await;
}

/// The safety floor holds at the engine's door: a spec that asks for the host (privileged, the Docker socket, the
/// host's root, `SYS_ADMIN`, the engine's own data directory) is refused with every diagnostic and nothing is stored or
/// created; with the store setting `allow_unsafe` the floor lets it through to the admission policy, which refuses it
/// too until an admin allows it in the policy's data; then defaults are named in the warnings.
#[tokio::test(start_paused = true)]
async fn a_spec_below_the_safety_floor_is_refused_and_nothing_is_created() {
    let rig = Rig::new().await;
    let data_dir = rig.dir.path().display().to_string();
    let escape = spec(
        "web",
        "demo:1",
        1,
        &format!(
            "security: {{ privileged: true, addCapabilities: [SYS_ADMIN] }}\nvolumes:\n  - {{ source: /var/run/docker.sock, \
             target: /var/run/docker.sock }}\n  - {{ source: /, target: /host }}\n  - {{ source: '{data_dir}', target: /crane }}\n"
        ),
    );
    let err = rig.engine.apply(&escape, false).await.unwrap_err();
    let EngineError::InvalidSpec(diagnostics) = &err else { panic!("not a spec error: {err}") };
    let paths: Vec<&str> = diagnostics.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "security.privileged",
            "security.addCapabilities[0]",
            "volumes[0].source",
            "volumes[1].source",
            "volumes[2].source"
        ],
        "{diagnostics:#?}"
    );
    assert!(diagnostics.iter().all(|d| d.line > 0 && !d.fix.is_empty()), "{diagnostics:#?}");
    assert!(diagnostics[4].message.contains("data directory"), "{:?}", diagnostics[4]);
    assert!(rig.store.get_app("web").await.unwrap().is_none());
    assert!(rig.fake.calls().is_empty(), "nothing was asked of the runtime: {:?}", rig.fake.calls());

    // Reserved labels are refused even with the floor off; the escapes themselves then pass.
    rig.store.put_setting("allow_unsafe", "true").await.unwrap();
    let labelled = format!("{escape}placement: {{ labels: {{ traefik.enable: 'true' }} }}\n");
    let err = rig.engine.apply(&labelled, false).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::InvalidSpec(d) if d.len() == 1 && d[0].path == "placement.labels.traefik.enable"),
        "{err}"
    );
    // The floor is off, but the shipped admission policy sits on top of it and still refuses the escapes; an admin
    // who means it says so in the policy's data too.
    let err = rig.engine.apply(&escape, false).await.unwrap_err();
    let EngineError::PolicyDenied { messages, .. } = &err else { panic!("not a policy denial: {err}") };
    assert_eq!(messages.len(), 5, "privileged, SYS_ADMIN and three host paths: {messages:#?}");
    assert!(rig.store.get_app("web").await.unwrap().is_none());
    let permissive =
        serde_json::json!({"allow_privileged": true, "host_path_allow": ["/"], "allowed_capabilities": ["SYS_ADMIN"]});
    rig.engine
        .set_policy(crane_api::PolicyName::Admission, crane_api::PolicyUpdate { rego: None, data: Some(permissive) })
        .await
        .unwrap();
    let applied = rig.apply(&escape).await;
    assert!(
        applied.warnings.contains(&"no resources set: 512Mi memory, 1 CPU, 512 processes apply".to_string()),
        "{:?}",
        applied.warnings
    );
    rig.engine.shutdown().await;
}

/// Reading logs never asks the runtime for a container's whole history: no tail means the default, a huge tail is
/// capped; without follow the merged answer is the last `tail` lines of all instances.
#[tokio::test(start_paused = true)]
async fn logs_are_read_with_a_bounded_tail() {
    use futures_util::StreamExt;
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 2, "")).await;
    rig.fake.write_logs(5);
    let lines: Vec<_> = rig.engine.logs("web", false, None).await.unwrap().collect().await;
    assert_eq!(lines.len(), 10);
    let lines: Vec<_> = rig.engine.logs("web", false, Some(3)).await.unwrap().collect().await;
    assert_eq!(lines.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(), ["line 3", "line 4", "line 4"]);
    let _ = rig.engine.logs("web", false, Some(u32::MAX)).await.unwrap();
    let _ = rig.engine.logs("web", true, None).await.unwrap();
    let tails = rig.fake.log_tails();
    let expected = [crane_engine::DEFAULT_LOG_TAIL, 3, crane_engine::MAX_LOG_TAIL, crane_engine::DEFAULT_LOG_TAIL];
    let expected: Vec<_> = expected.iter().flat_map(|t| [Some(*t), Some(*t)]).collect();
    assert_eq!(tails, expected);
    rig.engine.shutdown().await;
}

/// Every door refuses an oversized spec with the error `apply` itself gives, before the text is copied on.
#[tokio::test(start_paused = true)]
async fn an_oversized_spec_is_refused_alike_at_every_door() {
    let rig = Rig::new().await;
    let yaml = format!("name: web\nimage: x\n# {}\n", "x".repeat(crane_core::validate::MAX_SPEC_BYTES));
    let at_door = crane_engine::error::check_spec_size(&yaml).unwrap_err().to_api();
    let in_engine = rig.engine.apply(&yaml, false).await.unwrap_err().to_api();
    assert_eq!(at_door, in_engine);
    assert!(in_engine.diagnostics[0].message.contains("at most 262144 bytes"), "{:?}", in_engine.diagnostics);
    assert!(crane_engine::error::check_spec_size("name: web\n").is_ok());
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_network_left_by_an_engine_killed_during_a_delete_is_removed_after_a_restart() {
    use crane_core::ports::Runtime;
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 1, "")).await;
    rig.apply(&spec("api", "demo:1", 1, "")).await;
    let Rig { engine, fake, store, .. } = rig;
    engine.shutdown().await;
    // What an engine killed in the middle of deleting `web` leaves: the app and its container gone, its network not.
    assert!(store.delete_app("web").await.unwrap());
    for c in fake.containers().iter().filter(|c| c.app == "web") {
        fake.remove_instance(&c.id).await.unwrap();
    }
    assert!(fake.networks().contains("crane-web"));

    let rig = Rig::on(fake, store, crane_engine::Clock::tokio()).await;
    rig.until(5, "the network of the deleted app removed", |r| !r.fake.networks().contains("crane-web")).await;
    let removed = rig.events(&["app.resources_removed"]);
    assert_eq!(removed.len(), 1, "{}", rig.log());
    assert_eq!(removed[0].app.as_deref(), Some("web"));
    assert!(rig.fake.networks().contains("crane-api"), "a stored app keeps its network");
    rig.engine.shutdown().await;
}

/// The settings an admin changes reach the floor of the next apply: without `allowUnsafe` a privileged spec is
/// refused, with it accepted; a host path on `hostPathAllow` is accepted and mounted read-only, one off the list
/// refused. Every change is one `settings.changed` event naming who and old → new; a bad list changes nothing, and a
/// caller who is not an admin changes nothing.
#[tokio::test(start_paused = true)]
async fn settings_move_the_safety_floor_and_are_admin_only() {
    use crane_api::{Door, Role, SettingsUpdate};
    use crane_engine::Caller;
    let rig = Rig::new().await;
    let settings = rig.engine.settings().await.unwrap();
    assert!(!settings.allow_unsafe && settings.host_path_allow.is_empty(), "{settings:?}");
    assert!(!rig.engine.status().await.allow_unsafe);
    let admin = rig.engine.as_caller(Caller::admin(Door::Rest));

    let privileged = spec("priv", "demo:1", 1, "security: { privileged: true }\n");
    let err = admin.apply(&privileged, false).await.unwrap_err();
    assert!(matches!(&err, EngineError::InvalidSpec(d) if d[0].path == "security.privileged"), "{err}");
    let on = SettingsUpdate { allow_unsafe: Some(true), ..SettingsUpdate::default() };
    assert!(admin.set_settings(&on).await.unwrap().allow_unsafe);
    assert!(rig.engine.status().await.allow_unsafe, "the header can warn");
    // The floor lets it through now; the admission policy (on top of the floor) still refuses it until its data
    // allows privileged containers too.
    let err = admin.apply(&privileged, false).await.unwrap_err();
    assert!(matches!(&err, EngineError::PolicyDenied { .. }), "the floor passed it, the policy refused it: {err}");
    let allow = crane_api::PolicyUpdate { rego: None, data: Some(serde_json::json!({"allow_privileged": true})) };
    admin.set_policy(crane_api::PolicyName::Admission, allow).await.unwrap();
    admin.apply(&privileged, false).await.expect("accepted with allowUnsafe and a policy that allows it");
    // The same value again is no change and no event.
    admin.set_settings(&on).await.unwrap();
    let off = SettingsUpdate { allow_unsafe: Some(false), ..SettingsUpdate::default() };
    admin.set_settings(&off).await.unwrap();
    let err = admin.apply(&spec("priv2", "demo:1", 1, "security: { privileged: true }\n"), false).await.unwrap_err();
    assert!(matches!(err, EngineError::InvalidSpec(_)), "refused again once the floor is back: {err}");

    let mounted = spec("files", "demo:1", 1, "volumes: [{ source: /srv/data/www, target: /www }]\n");
    let err = admin.apply(&mounted, false).await.unwrap_err();
    assert!(err.to_string().contains("not on this engine's allow-list"), "{err}");
    let bad = SettingsUpdate { host_path_allow: Some(vec!["/srv/data".into(), "/etc".into()]), ..Default::default() };
    let err = admin.set_settings(&bad).await.unwrap_err();
    assert!(matches!(&err, EngineError::BadRequest(m) if m.contains("/etc") && m.contains("host_path_allow")), "{err}");
    assert!(admin.settings().await.unwrap().host_path_allow.is_empty(), "a bad list changes nothing");
    let allow = SettingsUpdate { host_path_allow: Some(vec!["/srv/data".into()]), ..Default::default() };
    assert_eq!(admin.set_settings(&allow).await.unwrap().host_path_allow, ["/srv/data"]);
    let result = admin.apply(&mounted, false).await.expect("an allowed host path is accepted");
    assert!(result.warnings.iter().any(|w| w.contains("mounted read-only")), "{:?}", result.warnings);
    let stored = rig.store.get_app("files").await.unwrap().unwrap();
    assert!(stored.spec.volumes[0].read_only, "allowed host paths are mounted read-only");

    let changes = rig.events(&["settings.changed"]);
    assert_eq!(changes.len(), 3, "{}", rig.log());
    assert_eq!(changes[0].details["setting"], "allowUnsafe");
    assert_eq!((&changes[0].details["old"], &changes[0].details["new"]), (&false.into(), &true.into()));
    assert_eq!(changes[0].details["by"]["user"], "admin");
    assert_eq!(changes[0].details["by"]["door"], "rest");
    assert!(changes[0].reason.contains("root on the host"), "{}", changes[0].reason);
    assert_eq!(changes[2].details["new"], serde_json::json!(["/srv/data"]));

    for role in [Role::Viewer, Role::Operator] {
        let user = rig.engine.as_caller(Caller { user: "student".into(), role, door: Door::Rest });
        let err = user.set_settings(&on).await.unwrap_err();
        assert!(matches!(&err, EngineError::Forbidden(m) if m.contains("needs the admin role")), "{err}");
        assert_eq!(err.to_api().code, crane_api::ErrorCode::Forbidden);
        assert!(!user.settings().await.unwrap().allow_unsafe, "anyone may read them");
    }
    assert_eq!(rig.events(&["settings.changed"]).len(), 3, "refused changes leave no event");

    // A damaged stored list reads as empty: it can never widen the floor.
    rig.store.put_setting("host_path_allow", r#"["/", "/srv/data"]"#).await.unwrap();
    assert!(rig.engine.settings().await.unwrap().host_path_allow.is_empty());
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_standby_takes_over_a_crashed_slot_and_is_made_again() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 2, "heal: { standby: true }\n")).await;
    let paused = |r: &Rig, name: &str| {
        r.fake.containers().into_iter().find(|c| c.name == name && c.state == ContainerState::Paused)
    };
    rig.until(5, "two standbys", |r| paused(r, "web-1-s1").is_some() && paused(r, "web-2-s1").is_some()).await;
    // Standbys are not instances.
    assert_eq!(rig.engine.get_app("web").await.unwrap().instances.len(), 2);
    assert_eq!(rig.events(&["instance.standby_ready"]).len(), 2, "{}", rig.log());

    let standby = paused(&rig, "web-1-s1").unwrap();
    let starts = rig.fake.calls().iter().filter(|c| matches!(c, Call::Start { .. })).count();
    assert!(rig.fake.crash("web-1", 137));
    rig.until(5, "the standby serves web-1, and its start is recorded", |r| {
        r.fake.running("web").iter().any(|c| c.name == "web-1" && c.id == standby.id)
            && r.events(&["instance.started"]).iter().any(|e| e.details["standby"] == true)
    })
    .await;
    let calls = rig.fake.calls();
    assert!(calls.contains(&Call::Promote(standby.id.clone(), "web-1".into())), "{calls:?}");
    assert_eq!(calls.iter().filter(|c| matches!(c, Call::Start { .. })).count(), starts, "no container was started");
    let started = rig.events(&["instance.started"]);
    let promoted = started.iter().find(|e| e.details["standby"] == true).unwrap();
    assert!(promoted.reason.contains("its paused standby web-1-s1 takes over"), "{}", promoted.reason);
    assert_eq!(promoted.details["standby"], true, "{}", promoted.details);
    // The death is a crash of the slot like any other, and the slot gets a new standby.
    assert_eq!(rig.events(&["instance.replaced"]).len(), 1, "{}", rig.log());
    rig.until(5, "a new standby for web-1", |r| paused(r, "web-1-s1").is_some_and(|c| c.id != standby.id)).await;

    // Scaling down removes the standby of the slot that goes; turning the setting off removes the rest (and is
    // not a new revision: nothing is replaced).
    rig.engine.scale("web", 1).await.unwrap();
    rig.until(5, "web-2's standby removed", |r| r.fake.containers().iter().all(|c| !c.name.starts_with("web-2"))).await;
    let result = rig.apply(&spec("web", "demo:1", 1, "")).await;
    assert_eq!(rig.engine.get_app("web").await.unwrap().revision, 1, "{result:?}");
    rig.until(5, "no standby left", |r| r.fake.containers().iter().all(|c| c.state != ContainerState::Paused)).await;
    assert!(rig.events(&["instance.standby_removed"]).len() >= 2, "{}", rig.log());
    rig.engine.shutdown().await;
}
