//! Table-driven tests of the planner, plus a property test of its invariants.
//!
//! Cases are written in a tiny notation so each fits on a line:
//! - desired: `web:3@2` is app `web` with 3 replicas at revision 2 (`@1` when omitted); comma-separated options
//!   follow: `web:3@2,surge=2,unavail=1,deadline=30s,paused` sets `update.maxSurge`, `update.maxUnavailable`,
//!   `update.deadline` and [`DesiredApp::paused`];
//! - observed: `web-2:exit(137)@1^5000+4000` is container `web-2` (id and name `web-2`; `web-2#b` is container
//!   `web-2#b` in the same slot), state `ready|run|exit(code)|exit|dead|created|restarting|paused|removing` where
//!   `ready` is running and ready and `run` is running but not ready, revision after `@` (1 when omitted), started at
//!   `^` (its creation time when omitted), created at `+` (0 when omitted). In rolling-update cases the old
//!   revision's container is `web-2` and the new one `web-2#2`;
//! - histories: `web-2=3@99000` is slot `web-2` with 3 consecutive crashes, the last at 99 000 ms.
//!
//! The plan is rendered one entry per line, in bucket order, so the expectation reads like the event log.

use super::*;
use crate::model::ContainerState as S;
use crate::validate::parse_spec;

const NOW: Millis = 100_000;

fn desired(text: &str) -> Vec<DesiredApp> {
    text.split_whitespace()
        .map(|token| {
            let (name, rest) = token.split_once(':').expect("desired token is name:replicas[@revision][,option…]");
            let mut options = rest.split(',');
            let head = options.next().unwrap();
            let (replicas, revision) = head.split_once('@').unwrap_or((head, "1"));
            let mut update = Vec::new();
            let mut paused = false;
            let mut history = Vec::new();
            let mut rolled_back_to = None;
            let mut standby = false;
            for option in options {
                match option.split_once('=') {
                    Some(("hist", list)) => history = list.split('.').map(|r| r.parse().unwrap()).collect(),
                    Some(("rolledback", r)) => rolled_back_to = Some(r.parse().unwrap()),
                    Some(("failure", a)) => update.push(format!("failureAction: {a}")),
                    Some(("surge", n)) => update.push(format!("maxSurge: {n}")),
                    Some(("unavail", n)) => update.push(format!("maxUnavailable: {n}")),
                    Some(("deadline", d)) => update.push(format!("deadline: {d}")),
                    None if option == "paused" => paused = true,
                    None if option == "standby" => standby = true,
                    _ => panic!("unknown desired option {option}"),
                }
            }
            let mut yaml = format!("name: {name}\nimage: x\nreplicas: {replicas}\n");
            if !update.is_empty() {
                yaml.push_str(&format!("update: {{ {} }}\n", update.join(", ")));
            }
            if standby {
                yaml.push_str("heal: { standby: true }\n");
            }
            let spec = parse_spec(&yaml).expect("valid spec");
            DesiredApp { spec, revision: revision.parse().unwrap(), paused, history, rolled_back_to }
        })
        .collect()
}

fn observed(text: &str) -> Vec<ObservedInstance> {
    text.split_whitespace()
        .map(|token| {
            let (id, mut rest) = token.split_once(':').expect("observed token is id:state…");
            let mut take = |marker: char| -> Option<u64> {
                let (head, value) = rest.rsplit_once(marker)?;
                rest = head;
                Some(value.parse().unwrap())
            };
            let created_at = take('+').unwrap_or(0);
            let started_at = take('^').unwrap_or(created_at);
            let revision = take('@').unwrap_or(1);
            let (state, exit_code) = match rest {
                "run" | "ready" => (S::Running, None),
                "exit" => (S::Exited, None),
                "dead" => (S::Dead, None),
                "created" => (S::Created, None),
                "restarting" => (S::Restarting, None),
                "paused" => (S::Paused, None),
                "removing" => (S::Removing, None),
                other => {
                    let code = other.strip_prefix("exit(").and_then(|c| c.strip_suffix(')')).expect("state");
                    (S::Exited, Some(code.parse().unwrap()))
                }
            };
            let slot = id.split('#').next().unwrap();
            let (app, index) = slot.rsplit_once('-').unwrap();
            ObservedInstance {
                id: id.to_string(),
                name: id.to_string(),
                app: app.to_string(),
                index: index.parse().unwrap(),
                revision,
                state,
                exit_code,
                created_at,
                started_at: (state != S::Created).then_some(started_at),
                ready: rest == "ready",
                standby: false,
            }
        })
        .collect()
}

fn histories(text: &str) -> RestartHistories {
    text.split_whitespace()
        .map(|token| {
            let (slot, rest) = token.split_once('=').unwrap();
            let (crashes, at) = rest.split_once('@').unwrap();
            let (app, index) = slot.rsplit_once('-').unwrap();
            let history = RestartHistory {
                consecutive_crashes: crashes.parse().unwrap(),
                last_crash_at: Some(at.parse().unwrap()),
            };
            ((app.to_string(), index.parse().unwrap()), history)
        })
        .collect()
}

fn render(plan: &Plan) -> String {
    let mut lines = Vec::new();
    for r in &plan.remove {
        lines.push(format!("remove {} ({:?}): {}", r.id, r.cause, r.reason));
    }
    for s in &plan.start {
        lines.push(format!("start {}-{} r{}: {}", s.app, s.index, s.revision, s.reason));
    }
    for w in &plan.waiting {
        lines.push(format!("wait {}-{} until {}: {}", w.app, w.index, w.until, w.reason));
    }
    let slots = |v: &[(String, u32)]| v.iter().map(|(a, i)| format!("{a}-{i}")).collect::<Vec<_>>().join(" ");
    if !plan.crashed.is_empty() {
        lines.push(format!("crashed {}", slots(&plan.crashed)));
    }
    if !plan.reset.is_empty() {
        lines.push(format!("reset {}", slots(&plan.reset)));
    }
    if !plan.orphan_apps.is_empty() {
        lines.push(format!("orphan apps {}", plan.orphan_apps.join(" ")));
    }
    for r in &plan.rollouts {
        let from = r.from.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let state = match &r.state {
            RolloutState::Progressing => "progressing".to_string(),
            RolloutState::Complete => "complete".to_string(),
            RolloutState::Paused => "paused".to_string(),
            RolloutState::Failed(why) => format!("failed: {why}"),
        };
        lines.push(format!("rollout {} [{from}]→{} {}/{} ready: {state}", r.app, r.to, r.ready_new, r.total));
    }
    for a in &plan.rollout_actions {
        lines.push(format!("decide {} r{}: {:?}", a.app, a.failed, a.decision));
    }
    if let Some(at) = plan.requeue_after {
        lines.push(format!("requeue at {at}"));
    }
    lines.join("\n")
}

/// Reconciles at [`NOW`] with the default backoff and compares the rendered plan with `expected`.
fn check(want: &str, have: &str, history: &str, expected: &str) {
    let snapshot = Snapshot {
        desired: desired(want),
        observed: observed(have),
        histories: histories(history),
        now: NOW,
        backoff: BackoffPolicy::default(),
        start_failures: Default::default(),
        resource_apps: Default::default(),
        ..Snapshot::default()
    };
    let plan = reconcile(&snapshot);
    let expected: Vec<&str> = expected.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(render(&plan), expected.join("\n"), "\nwant: {want}\nhave: {have}\nhistory: {history}");
    assert_eq!(reconcile(&snapshot), plan, "the same snapshot gives the same plan");
    assert_eq!(double_booked_slots(&snapshot.observed, &plan), vec![], "no slot gets two containers");
}

#[test]
fn fresh_app_and_scaling() {
    check(
        "web:3",
        "",
        "",
        "
        start web-1 r1: web-1 is missing: starting it (3 wanted)
        start web-2 r1: web-2 is missing: starting it (3 wanted)
        start web-3 r1: web-3 is missing: starting it (3 wanted)",
    );
    check(
        "web:3",
        "web-1:run",
        "",
        "
        start web-2 r1: web-2 is missing: starting it (3 wanted)
        start web-3 r1: web-3 is missing: starting it (3 wanted)",
    );
    check(
        "web:1",
        "web-1:run web-2:run web-3:run",
        "",
        "
        remove web-3 (ScaledDown): scaled down 3→1: removing web-3
        remove web-2 (ScaledDown): scaled down 3→1: removing web-2",
    );
    check(
        "web:0",
        "web-1:run web-2:exit(1)",
        "web-2=2@99000",
        "
        remove web-2 (ScaledDown): scaled down 2→0: removing web-2
        remove web-1 (ScaledDown): scaled down 2→0: removing web-1
        reset web-2",
    );
    check("web:0", "", "", "");
}

#[test]
fn adoption_leaves_everything_alone() {
    check("web:2@3", "web-1:run@3 web-2:run@3", "", "");
    check("web:2 api:1", "api-1:run web-1:paused web-2:restarting", "", "");
}

#[test]
fn crashes_back_off() {
    // First crash: replaced at once, in the same plan.
    check(
        "web:2",
        "web-1:run web-2:exit(137)",
        "",
        "
        remove web-2 (Crashed): web-2 exited with code 137; replacing it
        start web-2 r1: web-2 exited with code 137; replacing it
        crashed web-2",
    );
    // Second crash: wait 1 s. Third: wait 2 s.
    check(
        "web:1",
        "web-1:exit(1)^99000",
        "web-1=1@90000",
        "
        remove web-1 (Crashed): web-1 exited with code 1; it restarts after backoff
        wait web-1 until 101000: web-1 crashed 2 times in a row: waiting 1s before restarting (CrashLoop backoff)
        crashed web-1
        requeue at 101000",
    );
    check(
        "web:1",
        "web-1:exit(1)^99000",
        "web-1=2@90000",
        "
        remove web-1 (Crashed): web-1 exited with code 1; it restarts after backoff
        wait web-1 until 102000: web-1 crashed 3 times in a row: waiting 2s before restarting (CrashLoop backoff)
        crashed web-1
        requeue at 102000",
    );
    // Capped at 30 s.
    check(
        "web:1",
        "web-1:dead^99000",
        "web-1=9@90000",
        "
        remove web-1 (Crashed): web-1 is dead; it restarts after backoff
        wait web-1 until 130000: web-1 crashed 10 times in a row: waiting 30s before restarting (CrashLoop backoff)
        crashed web-1
        requeue at 130000",
    );
    // The crash was recorded by an earlier plan: still waiting, then restarting once the delay is over.
    check(
        "web:1",
        "",
        "web-1=3@99000",
        "
        wait web-1 until 101000: web-1 crashed 3 times in a row: waiting 1s before restarting (CrashLoop backoff)
        requeue at 101000",
    );
    check("web:1", "", "web-1=3@96000", "start web-1 r1: web-1: backoff after 3 crashes is over; restarting it");
    // A container that ran for 30 s before crashing was not crash-looping: its crash counts as a first one.
    check(
        "web:1",
        "web-1:exit^50000",
        "web-1=5@20000",
        "
        remove web-1 (Crashed): web-1 exited; replacing it
        start web-1 r1: web-1 exited; replacing it
        crashed web-1",
    );
}

#[test]
fn stable_runs_reset_the_history() {
    check(
        "web:1",
        "web-1:run^60000",
        "web-1=3@59000",
        "
        reset web-1",
    );
    check(
        "web:1",
        "web-1:run^90000",
        "web-1=3@89000",
        "
        requeue at 120000",
    );
    // Histories of slots that no longer exist are forgotten.
    check(
        "web:1",
        "web-1:run",
        "web-4=1@5000 gone-1=2@5000",
        "
        reset gone-1 web-4",
    );
}

#[test]
fn orphans_duplicates_and_stale_leftovers() {
    check(
        "web:1",
        "web-1:run old-1:run old-2:exit(0)",
        "",
        "
        remove old-1 (Orphan): app 'old' no longer exists: removing orphan old-1
        remove old-2 (Orphan): app 'old' no longer exists: removing orphan old-2
        orphan apps old",
    );
    check(
        "web:1",
        "web-1#a:run+10 web-1#b:run+20 web-1#c:restarting+30",
        "",
        "
        remove web-1#a (Duplicate): slot web-1 has more than one container: keeping web-1#b, removing duplicate web-1#a
        remove web-1#c (Duplicate): slot web-1 has more than one container: keeping web-1#b, removing duplicate web-1#c",
    );
    check(
        "web:1",
        "web-1:created",
        "",
        "
        remove web-1 (Stale): web-1 was created but never started: removing it
        start web-1 r1: web-1 was created but never started; replacing it",
    );
    check(
        "web:1",
        "web-1:run web-0:run",
        "",
        "
        remove web-0 (Stale): web-0 has no valid instance index: removing it",
    );
    // A container being removed holds its name: nothing starts in its slot until it is gone.
    check("web:1", "web-1:removing", "", "");
}

#[test]
fn rolling_update_starts_first_and_waits_for_readiness() {
    // 3 replicas at revision 1, all ready; revision 2 applied with the defaults (maxSurge 1, maxUnavailable 0).
    check(
        "web:3@2",
        "web-1:ready web-2:ready web-3:ready",
        "",
        "
        start web-1 r2: rolling update 1→2: starting web-1 (revision 2) beside the old one (maxSurge 1)
        rollout web [1]→2 0/3 ready: progressing",
    );
    // The new instance is not ready yet: nothing more, but look again at its deadline (60 s after its start).
    check(
        "web:3@2",
        "web-1:ready web-1#2:run@2+90000 web-2:ready web-3:ready",
        "",
        "
        rollout web [1]→2 0/3 ready: progressing
        requeue at 150000",
    );
    // Ready: the old one of its slot is drained and removed, and the freed surge budget starts the next slot.
    check(
        "web:3@2",
        "web-1:ready web-1#2:ready@2+90000 web-2:ready web-3:ready",
        "",
        "
        remove web-1 (Replaced): web-1 revision 2 is ready: draining and removing revision 1
        start web-2 r2: rolling update 1→2: starting web-2 (revision 2) beside the old one (maxSurge 1)
        rollout web [1]→2 1/3 ready: progressing",
    );
    check(
        "web:3@2",
        "web-1#2:ready@2 web-2:ready web-2#2:ready@2+95000 web-3:ready",
        "",
        "
        remove web-2 (Replaced): web-2 revision 2 is ready: draining and removing revision 1
        start web-3 r2: rolling update 1→2: starting web-3 (revision 2) beside the old one (maxSurge 1)
        rollout web [1]→2 2/3 ready: progressing",
    );
    // The pass that removes the last old instance reports the rollout complete; the next one reports nothing.
    check(
        "web:3@2",
        "web-1#2:ready@2 web-2#2:ready@2 web-3:ready web-3#2:ready@2+99000",
        "",
        "
        remove web-3 (Replaced): web-3 revision 2 is ready: draining and removing revision 1
        rollout web []→2 3/3 ready: complete",
    );
    check("web:3@2", "web-1#2:ready@2 web-2#2:ready@2 web-3#2:ready@2", "", "");
}

#[test]
fn rolling_update_budgets() {
    // maxSurge 2: two new instances start at once.
    check(
        "web:3@2,surge=2",
        "web-1:ready web-2:ready web-3:ready",
        "",
        "
        start web-1 r2: rolling update 1→2: starting web-1 (revision 2) beside the old one (maxSurge 2)
        start web-2 r2: rolling update 1→2: starting web-2 (revision 2) beside the old one (maxSurge 2)
        rollout web [1]→2 0/3 ready: progressing",
    );
    // maxSurge 0, maxUnavailable 1: stop-first, one slot at a time.
    check(
        "web:3@2,surge=0,unavail=1",
        "web-1:ready web-2:ready web-3:ready",
        "",
        "
        remove web-1 (Outdated): rolling update 1→2: no room to start web-1 revision 2 beside the old one (maxSurge 0): removing revision 1 first, 2/3 stay ready (maxUnavailable 1)
        rollout web [1]→2 0/3 ready: progressing",
    );
    check(
        "web:3@2,surge=0,unavail=1",
        "web-2:ready web-3:ready",
        "",
        "
        start web-1 r2: web-1 is missing: starting it (3 wanted)
        rollout web [1]→2 0/3 ready: progressing",
    );
    check(
        "web:3@2,surge=0,unavail=1",
        "web-1#2:run@2+90000 web-2:ready web-3:ready",
        "",
        "
        rollout web [1]→2 0/3 ready: progressing
        requeue at 150000",
    );
    check(
        "web:3@2,surge=0,unavail=1",
        "web-1#2:ready@2+90000 web-2:ready web-3:ready",
        "",
        "
        remove web-2 (Outdated): rolling update 1→2: no room to start web-2 revision 2 beside the old one (maxSurge 0): removing revision 1 first, 2/3 stay ready (maxUnavailable 1)
        rollout web [1]→2 1/3 ready: progressing",
    );
    // With the surge budget spent, an old instance that is not ready serves nothing and goes first.
    check(
        "web:3@2",
        "web-1:ready web-1#2:run@2+90000 web-2:run web-3:ready",
        "",
        "
        remove web-2 (Outdated): rolling update 1→2: web-2 revision 1 is not ready: removing it first to make room for revision 2
        rollout web [1]→2 0/3 ready: progressing
        requeue at 150000",
    );
}

#[test]
fn rolling_update_failures() {
    // A new instance not ready by its deadline fails the rollout: nothing more starts, the old ones keep serving.
    // The decision follows `failureAction`: back to the revision still running (default rollback)…
    check(
        "web:3@2,deadline=30s,hist=1.2",
        "web-1#2:ready@2 web-2:ready web-2#2:run@2+60000 web-3:ready",
        "",
        "
        rollout web [1]→2 1/3 ready: failed: web-2 revision 2 not ready 40s after start (deadline 30s): running, readiness not passed
        decide web r2: RollbackTo(1)",
    );
    // …a pause when asked for…
    check(
        "web:3@2,deadline=30s,hist=1.2,failure=pause",
        "web-1#2:ready@2 web-2:ready web-2#2:run@2+60000 web-3:ready",
        "",
        "
        rollout web [1]→2 1/3 ready: failed: web-2 revision 2 not ready 40s after start (deadline 30s): running, readiness not passed
        decide web r2: Pause",
    );
    // …a pause when the failing rollout is itself an automatic rollback (no bouncing between revisions)…
    check(
        "web:3@2,deadline=30s,hist=1.2.3,rolledback=2",
        "web-1#2:ready@2 web-2:ready web-2#2:run@2+60000 web-3:ready",
        "",
        "
        rollout web [1]→2 1/3 ready: failed: web-2 revision 2 not ready 40s after start (deadline 30s): running, readiness not passed
        decide web r2: Pause",
    );
    // …and a pause when the revision to return to is not in the history.
    check(
        "web:3@2,deadline=30s",
        "web-1#2:ready@2 web-2:ready web-2#2:run@2+60000 web-3:ready",
        "",
        "
        rollout web [1]→2 1/3 ready: failed: web-2 revision 2 not ready 40s after start (deadline 30s): running, readiness not passed
        decide web r2: Pause",
    );
    // Its deadline counts from its start when that is later than its creation.
    check(
        "web:3@2,deadline=30s",
        "web-1:ready web-1#2:run@2^80000+60000 web-2:ready web-3:ready",
        "",
        "
        rollout web [1]→2 0/3 ready: progressing
        requeue at 110000",
    );
    // A new instance that crashed fails it too, and stays as evidence until the engine rolls back or pauses.
    check(
        "web:3@2",
        "web-1:ready web-1#2:exit(1)@2+90000 web-2:ready web-3:ready",
        "",
        "
        rollout web [1]→2 0/3 ready: failed: web-1 revision 2 exited with code 1 during the rolling update
        decide web r2: Pause",
    );
    // A crashed new instance alone in its slot is replaced (a slot is never left empty), and the rollout fails.
    check(
        "web:2@2",
        "web-1#2:exit(1)@2 web-2:ready",
        "",
        "
        remove web-1#2 (Crashed): web-1#2 exited with code 1; replacing it
        start web-1 r2: web-1#2 exited with code 1; replacing it
        crashed web-1
        rollout web [1]→2 0/2 ready: failed: web-1 revision 2 exited with code 1 during the rolling update
        decide web r2: Pause",
    );
    // Rolled back: the engine set the app back to revision 1, so the old instances match again and the failed ones
    // are outdated. They are removed without starting anything, and the rollback is complete at once.
    check(
        "web:3@1",
        "web-1:ready web-1#2:run@2+10000 web-2:ready web-2#2:exit(1)@2 web-3:ready",
        "",
        "
        remove web-2#2 (Outdated): web-2#2 exited with code 1 (revision 2); revision 1 serves the slot: removing it
        remove web-1#2 (Outdated): web-1 revision 1 is ready and revision 2 is not: removing revision 2
        rollout web []→1 3/3 ready: complete",
    );
    // Slots already switched to the failed revision are rolled back start-first like any update.
    check(
        "web:2@1",
        "web-1#2:ready@2 web-2:ready web-2#2:run@2+10000",
        "",
        "
        remove web-2#2 (Outdated): web-2 revision 1 is ready and revision 2 is not: removing revision 2
        start web-1 r1: rolling update 2→1: starting web-1 (revision 1) beside the old one (maxSurge 1)
        rollout web [2]→1 1/2 ready: progressing",
    );
}

#[test]
fn paused_rollouts_heal_but_make_no_progress() {
    // The crashed new instance is removed (and counted) but not restarted: the old one serves its slot.
    check(
        "web:3@2,paused",
        "web-1:ready web-1#2:exit(1)@2+90000 web-2:ready web-3:ready",
        "",
        "
        remove web-1#2 (Crashed): web-1#2 exited with code 1; web-1 still serves the slot
        crashed web-1
        reset web-1
        rollout web [1]→2 0/3 ready: paused",
    );
    // A crashed old instance is replaced at the app's revision; nothing starts beside the other old ones, and a
    // ready new instance does not retire its old one.
    check(
        "web:3@2,paused",
        "web-1:ready web-1#2:ready@2 web-2:exit(137) web-3:ready",
        "",
        "
        remove web-2 (Crashed): web-2 exited with code 137; replacing it
        start web-2 r2: web-2 exited with code 137; replacing it
        crashed web-2
        rollout web [1]→2 1/3 ready: paused",
    );
}

#[test]
fn rolling_update_with_scaling_crashes_and_duplicates() {
    // Scaling down mid-rollout removes the highest slots, the old revision first within a slot.
    check(
        "web:2@2",
        "web-1#2:ready@2 web-2:ready web-2#2:run@2+90000 web-3#a:run@2+90000 web-3#b:ready",
        "",
        "
        remove web-3#b (ScaledDown): scaled down 3→2: removing web-3#b
        remove web-3#a (ScaledDown): scaled down 3→2: removing web-3#a
        rollout web [1]→2 1/2 ready: progressing
        requeue at 150000",
    );
    // Scaling up mid-rollout starts the new slot at the new revision; it counts against the surge budget.
    check(
        "web:4@2",
        "web-1:ready web-2:ready web-3:ready",
        "",
        "
        start web-4 r2: web-4 is missing: starting it (4 wanted)
        start web-1 r2: rolling update 1→2: starting web-1 (revision 2) beside the old one (maxSurge 1)
        rollout web [1]→2 0/4 ready: progressing",
    );
    // A crashed old instance is replaced at the new revision, and the surge goes on beside the others.
    check(
        "web:2@2",
        "web-1:ready web-2:exit(1)",
        "",
        "
        remove web-2 (Crashed): web-2 exited with code 1; replacing it
        start web-2 r2: web-2 exited with code 1; replacing it
        start web-1 r2: rolling update 1→2: starting web-1 (revision 2) beside the old one (maxSurge 1)
        crashed web-2
        rollout web [1]→2 0/2 ready: progressing",
    );
    // Two containers of the same revision in a slot are still duplicates (the ready one is kept); one old and one
    // new are not.
    check(
        "web:2@2",
        "web-1#a:ready+10 web-1#b:run+20 web-2:ready web-2#a:ready@2 web-2#b:ready@2+5",
        "",
        "
        remove web-1#b (Duplicate): slot web-1 has more than one container: keeping web-1#a, removing duplicate web-1#b
        remove web-2#a (Duplicate): slot web-2 has more than one container: keeping web-2#b, removing duplicate web-2#a
        remove web-2 (Replaced): web-2 revision 2 is ready: draining and removing revision 1
        start web-1 r2: rolling update 1→2: starting web-1 (revision 2) beside the old one (maxSurge 1)
        rollout web [1]→2 1/2 ready: progressing",
    );
    // Two old revisions in a slot (an update applied during another): the better one stays until replaced.
    check(
        "web:1@3",
        "web-1:ready web-1#2:run@2+90000",
        "",
        "
        remove web-1#2 (Outdated): slot web-1 runs revisions 1 and 2, both outdated (the app is at revision 3): keeping web-1 (revision 1), removing web-1#2
        start web-1 r3: rolling update 1,2→3: starting web-1 (revision 3) beside the old one (maxSurge 1)
        rollout web [1]→3 0/1 ready: progressing",
    );
}

use crate::test_rng::{tape, Rng};
use proptest::prelude::*;

fn random_snapshot(rng: &mut Rng) -> Snapshot {
    let mut want = Vec::new();
    for app in ["a", "b", "c"] {
        if rng.below(4) > 0 {
            let mut token = format!("{app}:{}@{}", rng.below(5), 1 + rng.below(2));
            let surge = rng.below(4);
            let unavailable = rng.below(4);
            // Validation rejects both limits set to 0.
            if surge < 3 && !(surge == 0 && unavailable == 0) {
                token.push_str(&format!(",surge={surge}"));
            }
            if unavailable < 3 {
                token.push_str(&format!(",unavail={unavailable}"));
            }
            if rng.below(3) == 0 {
                token.push_str(",deadline=30s");
            }
            if rng.below(6) == 0 {
                token.push_str(",paused");
            }
            if rng.below(3) == 0 {
                token.push_str(",failure=pause");
            }
            // Every revision up to the app's is in its history, so a failed rollout can roll back.
            let revision: u64 = token.split('@').nth(1).and_then(|r| r.split(',').next()).unwrap().parse().unwrap();
            token.push_str(&format!(",hist={}", (1..=revision).map(|r| r.to_string()).collect::<Vec<_>>().join(".")));
            want.push(token);
        }
    }
    let states = [
        "ready",
        "ready",
        "ready",
        "run",
        "run",
        "exit(1)",
        "exit",
        "dead",
        "created",
        "restarting",
        "paused",
        "removing",
    ];
    let mut have = Vec::new();
    for n in 0..rng.below(9) {
        let app = rng.pick(&["a", "b", "c", "z"]);
        let created = rng.below(NOW);
        let started = created + rng.below(NOW - created + 1);
        have.push(format!("{app}-{}#{n}:{}@{}^{started}+{created}", rng.below(6), rng.pick(&states), 1 + rng.below(3)));
    }
    let mut history = Vec::new();
    for _ in 0..rng.below(4) {
        let app = rng.pick(&["a", "b", "c", "z"]);
        history.push(format!("{app}-{}={}@{}", rng.below(6), rng.below(8), NOW - rng.below(40_000)));
    }
    Snapshot {
        desired: desired(&want.join(" ")),
        observed: observed(&have.join(" ")),
        histories: histories(&history.join(" ")),
        now: NOW,
        backoff: BackoffPolicy::default(),
        start_failures: Default::default(),
        resource_apps: Default::default(),
        ..Snapshot::default()
    }
}

/// What the engine does with a plan: record crashes and resets, remove, then start (as running containers that are
/// not ready yet).
fn apply(snapshot: &Snapshot, plan: &Plan, round: usize) -> Snapshot {
    let mut next = snapshot.clone();
    for slot in &plan.crashed {
        next.histories.entry(slot.clone()).or_default().record_crash(snapshot.now);
    }
    for slot in &plan.reset {
        next.histories.remove(slot);
    }
    next.observed.retain(|o| !plan.remove.iter().any(|r| r.id == o.id));
    // Containers Docker is already removing finish going away.
    next.observed.retain(|o| o.state != S::Removing);
    for s in &plan.start {
        let id = format!("{}-{}#new{round}", s.app, s.index);
        next.observed.push(ObservedInstance {
            id: id.clone(),
            name: id,
            app: s.app.clone(),
            index: s.index,
            revision: s.revision,
            state: S::Running,
            exit_code: None,
            created_at: snapshot.now,
            started_at: Some(snapshot.now),
            ready: false,
            standby: false,
        });
    }
    next
}

/// The app's surge and unavailability limits as the planner reads them.
fn limits(app: &DesiredApp) -> (u32, u32) {
    let n = app.spec.replicas;
    let update = app.spec.update.as_ref();
    let surge = update.and_then(|u| u.max_surge).unwrap_or(DEFAULT_MAX_SURGE).min(n);
    let unavailable = update.and_then(|u| u.max_unavailable).unwrap_or(DEFAULT_MAX_UNAVAILABLE).min(n);
    (if surge == 0 && unavailable == 0 { 1 } else { surge }, unavailable)
}

/// Containers of `app` in wanted slots that still exist once `plan` is applied (not removed, not being removed).
fn remaining<'a>(observed: &'a [ObservedInstance], plan: &Plan, app: &DesiredApp) -> Vec<&'a ObservedInstance> {
    observed
        .iter()
        .filter(|o| o.app == app.spec.name && (1..=app.spec.replicas).contains(&o.index))
        .filter(|o| o.state != S::Removing && !plan.remove.iter().any(|r| r.id == o.id))
        .collect()
}

/// Wanted slots of `app` with a ready container among `containers`.
fn ready_slots(containers: &[&ObservedInstance]) -> BTreeSet<u32> {
    containers.iter().filter(|o| o.state == S::Running && o.ready).map(|o| o.index).collect()
}

/// Invariants of any plan, whatever the snapshot.
fn check_invariants(snapshot: &Snapshot, plan: &Plan, context: &dyn Fn() -> String) {
    // Never two containers of the same revision planned for one slot.
    assert_eq!(double_booked_slots(&snapshot.observed, plan), vec![], "{}", context());
    for start in &plan.start {
        // Never a start in a slot that is also waiting, only wanted slots, only the app's revision.
        assert!(!plan.waiting.iter().any(|w| (&w.app, w.index) == (&start.app, start.index)), "{}", context());
        let app = snapshot.desired.iter().find(|d| d.spec.name == start.app).expect("start of a desired app");
        assert!((1..=app.spec.replicas).contains(&start.index), "{}", context());
        assert_eq!(start.revision, app.revision, "{}", context());
    }
    for app in &snapshot.desired {
        let name = &app.spec.name;
        let (surge, unavailable) = limits(app);
        let before: Vec<&ObservedInstance> = remaining(&snapshot.observed, &Plan::default(), app);
        let after = remaining(&snapshot.observed, plan, app);
        let live_after: Vec<&&ObservedInstance> = after.iter().filter(|o| is_live(o.state)).collect();
        let starts: Vec<&Start> = plan.start.iter().filter(|s| &s.app == name).collect();
        // A start beside a live container is a surge: the app stays within replicas + maxSurge.
        let surges = starts.iter().filter(|s| live_after.iter().any(|o| o.index == s.index)).count();
        if surges > 0 {
            let total = live_after.len() + starts.len();
            assert!(total as u32 <= app.spec.replicas + surge, "{total} containers: {}", context());
        }
        // Availability: an update never takes the ready slots below replicas − maxUnavailable (nor below what was
        // there).
        let floor = ready_slots(&before).len().min((app.spec.replicas - unavailable) as usize);
        assert!(ready_slots(&after).len() >= floor, "{name} lost ready slots: {}", context());

        let statuses: Vec<&RolloutStatus> = plan.rollouts.iter().filter(|r| &r.app == name).collect();
        assert!(statuses.len() <= 1, "{}", context());
        if let Some(status) = statuses.first() {
            assert_eq!(status.to, app.revision, "{}", context());
            assert!(!status.from.contains(&app.revision), "{}", context());
            match status.state {
                RolloutState::Complete => {
                    assert!(status.from.is_empty() && status.ready_new == status.total, "{}", context())
                }
                RolloutState::Failed(_) | RolloutState::Paused => {
                    // A failed or paused rollout stands still.
                    assert_eq!(surges, 0, "{}", context());
                    let replaced = plan.remove.iter().any(|r| &r.app == name && r.cause == RemoveCause::Replaced);
                    assert!(!replaced, "{}", context());
                }
                RolloutState::Progressing => {}
            }
        }
    }
    for status in &plan.rollouts {
        assert!(snapshot.desired.iter().any(|d| d.spec.name == status.app), "{}", context());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

    #[test]
    fn property_plans_converge_without_double_booking(tape in tape()) {
        property_case(Rng::new(tape));
    }
}

fn property_case(mut rng: Rng) {
    let case = 0;
    {
        let initial = random_snapshot(&mut rng);
        let mut snapshot = initial.clone();
        let first = reconcile(&snapshot);
        // Built only when an assertion fails: formatting every case would dominate the test's run time.
        let context = || format!("case {case}: {initial:#?}\nfirst plan: {first:#?}");
        check_invariants(&snapshot, &first, &context);

        // One step: after applying, nothing is removed or started for the same reasons again. The only work left is
        // the next step of a rolling update, and refilling the slots it (or Docker) just emptied.
        let mut refillable: Vec<(String, u32)> = first
            .remove
            .iter()
            .filter(|r| r.cause == RemoveCause::Outdated)
            .map(|r| (r.app.clone(), r.index))
            .collect();
        refillable
            .extend(snapshot.observed.iter().filter(|o| o.state == S::Removing).map(|o| (o.app.clone(), o.index)));
        snapshot = apply(&snapshot, &first, 0);
        let second = reconcile(&snapshot);
        let context2 = || format!("{}\nsecond plan: {second:#?}", context());
        check_invariants(&snapshot, &second, &context2);
        assert!(
            second.remove.iter().all(|r| matches!(r.cause, RemoveCause::Outdated | RemoveCause::Replaced)),
            "{}",
            context2()
        );
        assert!(second.crashed.is_empty(), "{}", context2());
        for start in &second.start {
            let beside_old = snapshot.observed.iter().any(|o| {
                (&o.app, o.index) == (&start.app, start.index) && is_live(o.state) && o.revision != start.revision
            });
            assert!(beside_old || refillable.contains(&(start.app.clone(), start.index)), "{}", context2());
        }

        // Fixpoint: the engine applies plans at the same instant, instances become ready after each pass, and a
        // failed rollout is rolled back (or paused; a failed rollback is always paused). That reaches an empty plan
        // where the world matches the wish, except for slots held by backoff and paused rollouts.
        let mut plan = second;
        let mut rounds = 1;
        loop {
            let failed: Vec<&RolloutStatus> =
                plan.rollouts.iter().filter(|r| matches!(r.state, RolloutState::Failed(_))).collect();
            // The first round always runs: the instances the second plan waited for become ready in it.
            if rounds > 1 && plan.is_empty() && failed.is_empty() {
                break;
            }
            rounds += 1;
            assert!(rounds < 40, "no fixpoint: {}\nlast plan: {plan:#?}", context());
            assert_eq!(failed.len(), plan.rollout_actions.len(), "one decision per failed rollout: {}", context());
            snapshot = apply(&snapshot, &plan, rounds);
            // The engine carries out the planner's decisions.
            for action in &plan.rollout_actions {
                let app = snapshot.desired.iter_mut().find(|d| d.spec.name == action.app).unwrap();
                match action.decision {
                    RolloutDecision::RollbackTo(previous) => {
                        assert!(app.history.contains(&previous), "{}", context());
                        app.revision = previous;
                        app.rolled_back_to = Some(previous);
                    }
                    RolloutDecision::Pause => app.paused = true,
                }
            }
            // Restarting and paused containers settle, and every running container passes its readiness probe.
            for o in &mut snapshot.observed {
                if is_live(o.state) {
                    o.state = S::Running;
                    o.ready = true;
                }
            }
            plan = reconcile(&snapshot);
            check_invariants(&snapshot, &plan, &|| {
                format!("{}\nround {rounds}: {snapshot:#?}\nplan: {plan:#?}", context())
            });
        }
        for app in &snapshot.desired {
            let name = &app.spec.name;
            let app_waits = plan.waiting.iter().any(|w| &w.app == name);
            for index in 1..=app.spec.replicas {
                let here: Vec<_> = snapshot.observed.iter().filter(|o| &o.app == name && o.index == index).collect();
                let waiting = plan.waiting.iter().any(|w| &w.app == name && w.index == index);
                if here.is_empty() {
                    assert!(waiting, "slot {name}-{index} empty without backoff: {}", context());
                } else if app.paused {
                    // A paused rollout may leave one old and one new container in a slot, never more.
                    assert!(here.len() <= 2 && here.iter().all(|o| is_live(o.state)), "{}", context());
                } else {
                    // While a slot waits, a stop-first update may have to wait for it too.
                    assert_eq!(here.len(), 1, "slot {name}-{index} has several containers: {}", context());
                    assert!(app_waits || here[0].revision == app.revision, "{}", context());
                }
            }
            if !app.paused && !app_waits {
                assert!(!plan.rollouts.iter().any(|r| &r.app == name), "{name} still rolling: {}", context());
            }
        }
        for o in &snapshot.observed {
            let app = snapshot.desired.iter().find(|d| d.spec.name == o.app);
            assert!(app.is_some_and(|a| (1..=a.spec.replicas).contains(&o.index)), "{o:?} left over: {}", context());
        }

        // Once the backoff expires, the waiting slots start.
        if let Some(at) = plan.requeue_after {
            let mut later = snapshot.clone();
            later.now = at;
            let next = reconcile(&later);
            if !plan.waiting.is_empty() && plan.waiting.iter().all(|w| w.until == later.now) {
                let refills =
                    next.start.iter().filter(|s| plan.waiting.iter().any(|w| (&w.app, w.index) == (&s.app, s.index)));
                assert_eq!(refills.count(), plan.waiting.len(), "{}", context());
            }
        }
    }
}

/// Reconciles `want` with nothing running and one failed-start record per `(app, index, attempts, at)`.
fn check_start_failures(want: &str, failures: &[(&str, u32, u32, u64)], expected: &str) {
    let snapshot = Snapshot {
        desired: desired(want),
        now: NOW,
        start_failures: failures
            .iter()
            .map(|&(app, index, attempts, at)| {
                let failure =
                    crate::model::StartFailure { attempts, last_at: at, message: "image 'x' is not available".into() };
                ((app.to_string(), index), failure)
            })
            .collect(),
        ..Snapshot::default()
    };
    let plan = reconcile(&snapshot);
    let expected: Vec<&str> = expected.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(render(&plan), expected.join("\n"), "\nwant: {want}\nfailures: {failures:?}");
}

#[test]
fn failed_starts_are_retried_with_a_growing_delay() {
    // Never retried at once: the same call would fail the same way. 1 s after the first failure, then doubling.
    check_start_failures(
        "web:2",
        &[("web", 1, 1, NOW - 400)],
        "
        start web-2 r1: web-2 is missing: starting it (2 wanted)
        wait web-1 until 100600: web-1 could not be started 1 time(s) in a row (image 'x' is not available): retrying in 600ms
        requeue at 100600",
    );
    check_start_failures(
        "web:1",
        &[("web", 1, 3, NOW - 1000)],
        "
        wait web-1 until 103000: web-1 could not be started 3 time(s) in a row (image 'x' is not available): retrying in 3s
        requeue at 103000",
    );
    // Capped like CrashLoop backoff (30 s).
    check_start_failures(
        "web:1",
        &[("web", 1, 40, NOW - 1000)],
        "
        wait web-1 until 129000: web-1 could not be started 40 time(s) in a row (image 'x' is not available): retrying in 29s
        requeue at 129000",
    );
    // Once the delay is over the start is tried again.
    check_start_failures(
        "web:1",
        &[("web", 1, 2, NOW - 2000)],
        "start web-1 r1: web-1: retrying the start that failed 2 time(s)",
    );
}

/// Each start's move aside: "web-1: web-1 (id) → web-1-r1", or "nothing to move".
fn moves(plan: &Plan) -> Vec<String> {
    plan.start
        .iter()
        .map(|s| match &s.displace {
            Some(d) => format!("{}-{}: {} ({}) → {}", s.app, s.index, d.name, d.id, d.to),
            None => format!("{}-{}: nothing to move", s.app, s.index),
        })
        .collect()
}

#[test]
fn a_crashed_instance_moves_aside_so_its_replacement_need_not_wait_for_its_removal() {
    let snapshot = Snapshot {
        desired: desired("web:2"),
        observed: observed("web-1:exit(137) web-2:ready web-2#old:exit(1)"),
        now: NOW,
        ..Snapshot::default()
    };
    let plan = reconcile(&snapshot);
    let moves = moves(&plan);
    // The crash holding the name `web-1` moves aside and is removed too; `web-2#old` (another name) only goes.
    assert_eq!(moves, ["web-1: web-1 (web-1) → web-1-xweb-1"]);
    let removed: Vec<&str> = plan.remove.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(removed, ["web-1", "web-2#old"]);
    // A crash that waits for its backoff is removed, not displaced: nothing starts in its slot yet.
    let looping = Snapshot {
        observed: observed(&format!("web-1:exit(137)^{}+{} web-2:ready", NOW - 2_000, NOW - 2_000)),
        histories: histories(&format!("web-1=3@{}", NOW - 3_000)),
        ..snapshot
    };
    let plan = reconcile(&looping);
    assert_eq!(plan.waiting.len(), 1, "{plan:?}");
    assert!(plan.start.iter().all(|s| s.index != 1), "{plan:?}");
}

#[test]
fn a_start_first_update_moves_the_old_instance_aside() {
    let snapshot = Snapshot {
        desired: desired("web:2@2"),
        observed: observed("web-1:ready web-2:ready"),
        now: NOW,
        ..Snapshot::default()
    };
    let plan = reconcile(&snapshot);
    let moves = moves(&plan);
    assert_eq!(moves, ["web-1: web-1 (web-1) → web-1-r1"]);
    // An old instance already moved aside (after a rollback, say) is not moved again.
    let mut moved = observed("web-1:ready web-2:ready");
    moved[0].name = "web-1-r1".into();
    let snapshot = Snapshot { observed: moved, ..snapshot };
    let plan = reconcile(&snapshot);
    assert!(plan.start.iter().all(|s| s.displace.is_none()), "{plan:?}");
}

#[test]
fn networks_and_volumes_of_gone_apps_are_orphans_even_without_containers() {
    // `gone` still has a container, `empty` only a network or volume (an engine killed between deleting the app and
    // removing its network leaves that); `web` is desired, so its network is in use.
    let snapshot = Snapshot {
        desired: desired("web:1@1"),
        observed: observed("web-1:ready gone-1:run"),
        resource_apps: ["web", "gone", "empty"].into_iter().map(String::from).collect(),
        now: NOW,
        ..Snapshot::default()
    };
    let plan = reconcile(&snapshot);
    assert_eq!(plan.orphan_apps, vec!["gone".to_string(), "empty".to_string()]);
    assert_eq!(plan.remove.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["gone-1"]);

    // Not looked at this pass: no resource is an orphan by absence of knowledge.
    let plan = reconcile(&Snapshot { resource_apps: Default::default(), ..snapshot });
    assert_eq!(plan.orphan_apps, vec!["gone".to_string()]);
}

/// A standby case: desired, observed, standbys, slots in flight, expected standby lines.
type StandbyCase<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, u32)], &'a [&'a str]);

/// Standbys in the `observed` notation: `web-2:paused@1` is a standby of slot `web-2` at revision 1 (id
/// `sb-web-2@1`, or `sb-web-2@1#b` for a second one: `web-2#b:paused`).
fn standbys(text: &str) -> Vec<ObservedInstance> {
    observed(text)
        .into_iter()
        .map(|mut o| {
            o.id = format!("sb-{}", o.id);
            o.name = standby::standby_name(&o.app, o.index, o.revision);
            o.standby = true;
            o
        })
        .collect()
}

/// The standby buckets of a plan, one line each: `create web-1@1`, `remove <name>: <why>`, `promote web-2 <- id`.
fn standby_plan(
    want: &str,
    have: &str,
    waiting: &str,
    in_flight: &[(&str, u32)],
    failures: &[(&str, u32, u32, u64)],
) -> Vec<String> {
    let snapshot = Snapshot {
        desired: desired(want),
        observed: observed(have),
        standbys: standbys(waiting),
        now: NOW,
        standby_in_flight: in_flight.iter().map(|(a, i)| (a.to_string(), *i)).collect(),
        standby_failures: failures
            .iter()
            .map(|&(app, index, attempts, at)| {
                ((app.to_string(), index), crate::model::StartFailure { attempts, last_at: at, message: "x".into() })
            })
            .collect(),
        ..Snapshot::default()
    };
    let plan = reconcile(&snapshot);
    assert_eq!(reconcile(&snapshot), plan, "the same snapshot gives the same plan");
    let mut lines = Vec::new();
    for s in &plan.start {
        if let Some(p) = &s.standby {
            lines.push(format!("promote {}-{} <- {}", s.app, s.index, p.id));
        }
    }
    for c in &plan.standby_create {
        lines.push(format!("create {}-{}@{} as {}", c.app, c.index, c.revision, c.name));
    }
    for r in &plan.standby_remove {
        lines.push(format!("remove {}", r.reason));
    }
    if !plan.orphan_apps.is_empty() {
        lines.push(format!("orphan apps {}", plan.orphan_apps.join(",")));
    }
    lines
}

#[test]
fn standbys_are_made_for_ready_instances_two_at_a_time() {
    let cases: &[StandbyCase] = &[
        // Nothing asked: nothing made.
        ("web:3", "web-1:ready web-2:ready web-3:ready", "", &[], &[]),
        // Two per app at a time, lowest slots first.
        (
            "web:3,standby",
            "web-1:ready web-2:ready web-3:ready",
            "",
            &[],
            &["create web-1@1 as web-1-s1", "create web-2@1 as web-2-s1"],
        ),
        // Slots already covered or being made are skipped; what is in flight counts against the two.
        (
            "web:3,standby",
            "web-1:ready web-2:ready web-3:ready",
            "web-1:paused",
            &[("web", 2)],
            &["create web-3@1 as web-3-s1"],
        ),
        ("web:3,standby", "web-1:ready web-2:ready web-3:ready", "", &[("web", 1), ("web", 2)], &[]),
        // Only a ready instance of the current revision under the slot's name earns a standby.
        ("web:2,standby", "web-1:run web-2:ready", "", &[], &["create web-2@1 as web-2-s1"]),
        // A paused app or a rolling update waits.
        ("web:2,standby,paused", "web-1:ready web-2:ready", "", &[], &[]),
        ("web:2@2,standby", "web-1:ready@1 web-2:ready@1", "", &[], &[]),
    ];
    for (want, have, waiting, in_flight, expected) in cases {
        assert_eq!(
            standby_plan(want, have, waiting, in_flight, &[]),
            *expected,
            "\nwant: {want}\nhave: {have}\nstandbys: {waiting}"
        );
    }
}

#[test]
fn a_death_is_healed_by_promoting_the_standby() {
    assert_eq!(
        standby_plan("web:2,standby", "web-1:ready web-2:exit(137)", "web-1:paused web-2:paused", &[], &[]),
        vec!["promote web-2 <- sb-web-2"]
    );
    // The crashed container still goes (renamed aside, removed beside the promotion), the slot's history records it.
    let snapshot = Snapshot {
        desired: desired("web:2,standby"),
        observed: observed("web-1:ready web-2:exit(137)"),
        standbys: standbys("web-2:paused"),
        now: NOW,
        ..Snapshot::default()
    };
    let plan = reconcile(&snapshot);
    assert_eq!(plan.start.len(), 1);
    let start = &plan.start[0];
    assert!(start.displace.is_some() && start.reason.contains("its paused standby web-2-s1 takes over"), "{start:?}");
    assert_eq!(plan.crashed, vec![("web".to_string(), 2)]);
    assert!(plan.remove.iter().any(|r| r.name == "web-2"));
    // A standby of another revision, or one not paused, does not take over: a new container starts.
    assert_eq!(
        standby_plan("web:2@2,standby", "web-1:ready@2 web-2:exit(1)@2", "web-2:paused@1", &[], &[]),
        vec![
            "create web-1@2 as web-1-s2",
            "remove removing standby web-2-s1: it is revision 1, the app is at revision 2"
        ]
    );
    // While the slot waits in CrashLoop backoff there is no start, hence no promotion.
    let backoff = Snapshot {
        desired: desired("web:1,standby"),
        observed: observed("web-1:exit(1)^99000"),
        standbys: standbys("web-1:paused"),
        histories: histories("web-1=1@90000"),
        now: NOW,
        ..Snapshot::default()
    };
    let plan = reconcile(&backoff);
    assert!(plan.start.is_empty() && !plan.waiting.is_empty(), "{plan:?}");
}

#[test]
fn standbys_that_no_longer_fit_are_removed() {
    let cases: &[StandbyCase] = &[
        (
            "web:2",
            "web-1:ready web-2:ready",
            "web-1:paused",
            &[],
            &["remove removing standby web-1-s1: the app no longer asks for standbys"],
        ),
        (
            "web:1,standby",
            "web-1:ready",
            "web-1:paused web-2:paused",
            &[],
            &["remove removing standby web-2-s1: slot 2 is above the 1 replica(s) wanted"],
        ),
        (
            "",
            "",
            "web-1:paused",
            &[],
            &["remove removing standby web-1-s1: app 'web' no longer exists", "orphan apps web"],
        ),
        // Not paused: broken, unless its creation is under way.
        (
            "web:1,standby",
            "web-1:ready",
            "web-1:exit(1)",
            &[],
            &["remove removing standby web-1-s1: it is exited instead of paused"],
        ),
        ("web:1,standby", "web-1:ready", "web-1:run", &[("web", 1)], &[]),
        // Two for one slot: the first (by id) stays.
        (
            "web:1,standby",
            "web-1:ready",
            "web-1:paused web-1#b:paused",
            &[],
            &["remove removing standby web-1-s1: the slot has another standby"],
        ),
    ];
    for (want, have, waiting, in_flight, expected) in cases {
        assert_eq!(
            standby_plan(want, have, waiting, in_flight, &[]),
            *expected,
            "\nwant: {want}\nhave: {have}\nstandbys: {waiting}"
        );
    }
}

#[test]
fn failed_standbys_are_retried_later() {
    // One failure 1 s ago: the next try is 5 s after it; the plan asks to be woken then.
    assert_eq!(
        standby_plan("web:1,standby", "web-1:ready", "", &[], &[("web", 1, 1, NOW - 1_000)]),
        Vec::<String>::new()
    );
    let snapshot = Snapshot {
        desired: desired("web:1,standby"),
        observed: observed("web-1:ready"),
        now: NOW,
        standby_failures: [(
            ("web".to_string(), 1),
            crate::model::StartFailure { attempts: 1, last_at: NOW - 1_000, message: "x".into() },
        )]
        .into_iter()
        .collect(),
        ..Snapshot::default()
    };
    assert_eq!(reconcile(&snapshot).requeue_after, Some(NOW + 4_000));
    assert_eq!(
        standby_plan("web:1,standby", "web-1:ready", "", &[], &[("web", 1, 1, NOW - 6_000)]),
        vec!["create web-1@1 as web-1-s1"]
    );
    assert_eq!(standby::retry_after(1), 5_000);
    assert_eq!(standby::retry_after(3), 20_000);
    assert_eq!(standby::retry_after(40), 300_000);
}
