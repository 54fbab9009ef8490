//! Table-driven tests of the planner, plus a property test of its invariants.
//!
//! Cases are written in a tiny notation so each fits on a line:
//! - desired: `web:3@2` is app `web` with 3 replicas at revision 2 (`@1` when omitted);
//! - observed: `web-2:exit(137)@1^5000+4000` is container `web-2` (id `web-2`; `web-2#b` gives id `web-2#b` for the
//!   same slot), state `run|exit(code)|exit|dead|created|restarting|paused|removing`, revision after `@` (1 when
//!   omitted), started at `^` (its creation time when omitted), created at `+` (0 when omitted);
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
            let (name, rest) = token.split_once(':').expect("desired token is name:replicas[@revision]");
            let (replicas, revision) = rest.split_once('@').unwrap_or((rest, "1"));
            let spec = parse_spec(&format!("name: {name}\nimage: x\nreplicas: {replicas}\n")).expect("valid spec");
            DesiredApp { spec, revision: revision.parse().unwrap() }
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
                "run" => (S::Running, None),
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
            let name = id.split('#').next().unwrap().to_string();
            let (app, index) = name.rsplit_once('-').unwrap();
            ObservedInstance {
                id: id.to_string(),
                name: name.clone(),
                app: app.to_string(),
                index: index.parse().unwrap(),
                revision,
                state,
                exit_code,
                created_at,
                started_at: (state != S::Created).then_some(started_at),
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
    if !plan.keep.is_empty() {
        lines.push(format!("keep {}", plan.keep.join(" ")));
    }
    if !plan.orphan_apps.is_empty() {
        lines.push(format!("orphan apps {}", plan.orphan_apps.join(" ")));
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
        start web-3 r1: web-3 is missing: starting it (3 wanted)
        keep web-1",
    );
    check(
        "web:1",
        "web-1:run web-2:run web-3:run",
        "",
        "
        remove web-3 (ScaledDown): scaled down 3→1: removing web-3
        remove web-2 (ScaledDown): scaled down 3→1: removing web-2
        keep web-1",
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
    check("web:2@3", "web-1:run@3 web-2:run@3", "", "keep web-1 web-2");
    check("web:2 api:1", "api-1:run web-1:paused web-2:restarting", "", "keep api-1 web-1 web-2");
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
        crashed web-2
        keep web-1",
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
        reset web-1
        keep web-1",
    );
    check(
        "web:1",
        "web-1:run^90000",
        "web-1=3@89000",
        "
        keep web-1
        requeue at 120000",
    );
    // Histories of slots that no longer exist are forgotten.
    check(
        "web:1",
        "web-1:run",
        "web-4=1@5000 gone-1=2@5000",
        "
        reset gone-1 web-4
        keep web-1",
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
        keep web-1
        orphan apps old",
    );
    check(
        "web:1",
        "web-1#a:run+10 web-1#b:run+20 web-1#c:restarting+30",
        "",
        "
        remove web-1#a (Duplicate): slot web-1 has more than one container: keeping web-1#b, removing duplicate web-1#a
        remove web-1#c (Duplicate): slot web-1 has more than one container: keeping web-1#b, removing duplicate web-1#c
        keep web-1",
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
        remove web-0 (Stale): web-0 has no valid instance index: removing it
        keep web-1",
    );
    // A container being removed holds its name: nothing starts in its slot until it is gone.
    check("web:1", "web-1:removing", "", "");
}

#[test]
fn outdated_instances_are_replaced_one_at_a_time() {
    check(
        "web:3@2",
        "web-1:run@1 web-2:run@1 web-3:run@1",
        "",
        "
        remove web-1 (Outdated): web-1 runs revision 1, the app is at revision 2: replacing it (one instance at a time)
        keep web-2 web-3",
    );
    // Next pass: the empty slot is refilled at the new revision; no other instance goes while one is missing.
    check(
        "web:3@2",
        "web-2:run@1 web-3:run@1",
        "",
        "
        start web-1 r2: web-1 is missing: starting it (3 wanted)
        keep web-2 web-3",
    );
    check(
        "web:3@2",
        "web-1:run@2 web-2:run@1 web-3:run@1",
        "",
        "
        remove web-2 (Outdated): web-2 runs revision 1, the app is at revision 2: replacing it (one instance at a time)
        keep web-1 web-3",
    );
    // A crashed slot is restarted at the new revision, and the outdated ones wait for it.
    check(
        "web:2@2",
        "web-1:run@1 web-2:exit(1)@1",
        "",
        "
        remove web-2 (Crashed): web-2 exited with code 1; replacing it
        start web-2 r2: web-2 exited with code 1; replacing it
        crashed web-2
        keep web-1",
    );
}

/// A tiny deterministic PRNG (xorshift64*), so the property test needs no extra crate and failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn random_snapshot(rng: &mut Rng) -> Snapshot {
    let mut want = Vec::new();
    for app in ["a", "b", "c"] {
        if rng.below(4) > 0 {
            want.push(format!("{app}:{}@{}", rng.below(5), 1 + rng.below(2)));
        }
    }
    let states = ["run", "run", "run", "exit(1)", "exit", "dead", "created", "restarting", "paused", "removing"];
    let mut have = Vec::new();
    for n in 0..rng.below(9) {
        let app = rng.pick(&["a", "b", "c", "z"]);
        let created = rng.below(NOW);
        let started = created + rng.below(NOW - created + 1);
        have.push(format!("{app}-{}#{n}:{}@{}^{started}+{created}", rng.below(6), rng.pick(&states), 1 + rng.below(2)));
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
    }
}

/// What the engine does with a plan: record crashes and resets, remove, then start (as running containers).
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
        next.observed.push(ObservedInstance {
            id: format!("{}-{}#new{round}", s.app, s.index),
            name: format!("{}-{}", s.app, s.index),
            app: s.app.clone(),
            index: s.index,
            revision: s.revision,
            state: S::Running,
            exit_code: None,
            created_at: snapshot.now,
            started_at: Some(snapshot.now),
        });
    }
    next
}

#[test]
fn property_plans_converge_without_double_booking() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for case in 0..2_000 {
        let initial = random_snapshot(&mut rng);
        let mut snapshot = initial.clone();
        let first = reconcile(&snapshot);
        // Built only when an assertion fails: formatting every case would dominate the test's run time.
        let context = || format!("case {case}: {initial:#?}\nfirst plan: {first:#?}");

        // Never two containers planned for one slot, never a start in a slot that is also waiting.
        assert_eq!(double_booked_slots(&snapshot.observed, &first), vec![], "{}", context());
        for start in &first.start {
            assert!(!first.waiting.iter().any(|w| (&w.app, w.index) == (&start.app, start.index)), "{}", context());
            let app = snapshot.desired.iter().find(|d| d.spec.name == start.app).expect("start of a desired app");
            assert!((1..=app.spec.replicas).contains(&start.index), "{}", context());
            assert_eq!(start.revision, app.revision, "{}", context());
        }

        // One step: after applying, nothing is removed or started for the same reasons again. The only work left is
        // the next step of an outdated replacement, and refilling the slot it just emptied.
        // Slots the first plan emptied of an outdated container, or that were held by a container Docker was
        // already removing, may be refilled by the second plan.
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

        assert!(
            second.remove.iter().all(|r| r.cause == RemoveCause::Outdated),
            "{}\nsecond plan: {second:#?}",
            context()
        );
        assert!(second.crashed.is_empty(), "{}\nsecond plan: {second:#?}", context());
        for start in &second.start {
            assert!(refillable.contains(&(start.app.clone(), start.index)), "{}\nsecond plan: {second:#?}", context());
        }
        assert_eq!(double_booked_slots(&snapshot.observed, &second), vec![], "{}\nsecond plan: {second:#?}", context());

        // Fixpoint: a few more rounds at the same instant reach an empty plan, and the world then matches the wish
        // except for slots held by backoff.
        let mut plan = second;
        let mut rounds = 1;
        while !plan.is_empty() {
            rounds += 1;
            assert!(rounds < 20, "no fixpoint: {}", context());
            snapshot = apply(&snapshot, &plan, rounds);
            plan = reconcile(&snapshot);
        }
        for app in &snapshot.desired {
            // While a slot waits, the others keep their revision: updates only proceed while every slot serves.
            let app_waits = plan.waiting.iter().any(|w| w.app == app.spec.name);
            for index in 1..=app.spec.replicas {
                let here: Vec<_> =
                    snapshot.observed.iter().filter(|o| o.app == app.spec.name && o.index == index).collect();
                let waiting = plan.waiting.iter().any(|w| w.app == app.spec.name && w.index == index);
                match here.as_slice() {
                    [] => assert!(waiting, "slot {}-{index} empty without backoff: {}", app.spec.name, context()),
                    [one] => assert!(app_waits || one.revision == app.revision, "{}", context()),
                    _ => panic!("slot {}-{index} has several containers: {}", app.spec.name, context()),
                }
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
                assert_eq!(next.start.len(), plan.waiting.len(), "{}", context());
            }
        }
    }
}
