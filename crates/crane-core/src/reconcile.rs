//! The reconciler's brain: a pure function from a [`Snapshot`] of desired and observed state to a [`Plan`].
//!
//! It is level-triggered: it is never told why it runs, only what is wanted and what is there, so a missed event
//! or a restart of Crane cannot leave things wrong for long. It is idempotent: once the engine has applied a plan,
//! reconciling the new state plans nothing more for the same reasons.
//!
//! Every instance lives in a *slot* `(app, index)` with `index` in `1..=replicas`; its container is `<app>-<index>`.
//! For each slot the planner keeps the best live container, removes everything else with a [`RemoveCause`], and
//! starts a container when the slot is empty and its CrashLoop backoff allows it. Each entry carries a plain-language
//! reason that the event log shows as is.
//!
//! **Rolling updates** (start-first, health-gated, as Swarm's `start-first` and Kubernetes' RollingUpdate). While a
//! live container in a wanted slot runs a revision other than the app's, an update is under way, steered by the
//! spec's `update` section (`maxSurge` S, `maxUnavailable` U, `deadline`). During it a slot may hold two containers,
//! one *old* (another revision) and one *new* (the app's revision); only two of the *same* revision are duplicates.
//! Each pass:
//! - *health gate*: a slot whose new instance is ready loses its old one ([`RemoveCause::Replaced`]);
//! - *surge*: while the app runs fewer than `replicas + S` containers, the lowest slots holding only an old instance
//!   get a new one beside it;
//! - *maxUnavailable*: with no room left to surge, old instances of such slots are removed first
//!   ([`RemoveCause::Outdated`]) as long as at least `replicas - U` slots stay ready; the next pass refills them;
//! - *failure*: a new instance that is not ready `deadline` after it started, or that crashed, fails the rollout: it
//!   stands still until the engine rolls back or pauses (see [`RolloutState::Failed`]);
//! - the status of every rollout under way is reported in [`Plan::rollouts`].
//!
//! Empty slots are filled at the app's revision at once, rollout or not, and crashes are healed as usual.
//!
//! The engine applies a plan in this order: record `crashed`, apply `reset`, run `remove`, then `start`. Removals
//! come before starts because they free names and slots. A start in a slot whose old revision still runs under the
//! slot's name says so in [`Start::displace`]: the engine renames the old container (`<app>-<index>-r<revision>`)
//! before creating the new one, so the old one keeps serving. A crashed container that holds the name of the slot
//! it is replaced in is displaced too (`<app>-<index>-x<id>`), and is also in `remove`: the engine removes it after
//! the rename, beside the new start, so healing does not wait for Docker to remove the dead container.

use std::collections::{BTreeMap, BTreeSet};

use crate::backoff::BackoffPolicy;
use crate::model::{
    ContainerState, DesiredApp, Millis, ObservedInstance, RestartHistories, RestartHistory, StartFailures,
};
use crate::units::format_millis;

/// Everything the planner looks at.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Apps that should exist, with their revisions.
    pub desired: Vec<DesiredApp>,
    /// Containers that exist (those with this engine's owner label), in any state.
    pub observed: Vec<ObservedInstance>,
    /// Crash histories per slot, as recorded from earlier plans.
    pub histories: RestartHistories,
    /// The current time.
    pub now: Millis,
    /// How long crashed slots wait before a restart (and failed starts before a retry).
    pub backoff: BackoffPolicy,
    /// Slots whose last starts failed, with how often and why (the engine records them from its outcomes).
    pub start_failures: StartFailures,
    /// Apps that have a network or a named volume of this engine, when the engine looked this pass (empty when it
    /// did not): those of apps that are not desired and have no container left are orphans too (an engine killed
    /// between deleting an app and removing its network leaves them).
    pub resource_apps: BTreeSet<String>,
    /// Paused standbys (`heal.standby`) and standbys being created, apart from the instances.
    pub standbys: Vec<ObservedInstance>,
    /// Slots whose standby the engine is creating right now.
    pub standby_in_flight: BTreeSet<(String, u32)>,
    /// Slots whose last standby creations failed (retried after [`standby::retry_after`]).
    pub standby_failures: StartFailures,
}

/// What to do, in named buckets. An empty plan (see [`Plan::is_empty`]) means the world matches the wish.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Containers to create and start.
    pub start: Vec<Start>,
    /// Containers to stop and remove.
    pub remove: Vec<Remove>,
    /// Slots whose crash the engine must record in their history (call [`RestartHistory::record_crash`] with `now`).
    pub crashed: Vec<(String, u32)>,
    /// Slots whose history must be cleared: they ran for `stable_after`, or the slot no longer exists.
    pub reset: Vec<(String, u32)>,
    /// Empty slots held back by CrashLoop backoff or by the retry delay of failed starts.
    pub waiting: Vec<Waiting>,
    /// Apps that are no longer desired but still have containers, a network or volumes: the engine removes their
    /// network and volumes (and `remove` holds their containers).
    pub orphan_apps: Vec<String>,
    /// Status of every rolling update under way (an app has one while some live container in a wanted slot runs
    /// another revision), including the one this plan completes.
    pub rollouts: Vec<RolloutStatus>,
    /// What to do about each rolling update reported [`RolloutState::Failed`], as its `failureAction` says.
    pub rollout_actions: Vec<RolloutAction>,
    /// When to reconcile again even if no event arrives: the earliest backoff expiry, stability check or rollout
    /// deadline, as an
    /// absolute time on the same clock as [`Snapshot::now`] (not a delay); `None` when nothing is pending.
    pub requeue_after: Option<Millis>,
    /// Standbys to create (`heal.standby`).
    pub standby_create: Vec<standby::CreateStandby>,
    /// Standbys to remove.
    pub standby_remove: Vec<standby::RemoveStandby>,
}

impl Plan {
    /// Whether the plan starts and removes nothing.
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
            && self.remove.is_empty()
            && self.standby_create.is_empty()
            && self.standby_remove.is_empty()
    }
}

/// A container to create and start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// App name.
    pub app: String,
    /// Slot index (1-based); the container is named `<app>-<index>`.
    pub index: u32,
    /// Revision to create it from.
    pub revision: u64,
    /// Why, in plain words.
    pub reason: String,
    /// A container that holds the name `<app>-<index>`: a live one of another revision that must keep serving until
    /// the new one is ready (start-first update), or the crashed one this start replaces (also in [`Plan::remove`]:
    /// removed after the rename, beside the start). The engine renames it to `to` before starting the new one.
    pub displace: Option<Displace>,
    /// A paused standby of this slot and revision that takes it over (renamed and unpaused) instead of a new
    /// container being created and started.
    pub standby: Option<standby::Promote>,
}

/// A container moved aside under another name so a new one can take its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Displace {
    /// Its runtime id.
    pub id: String,
    /// Its name now (`<app>-<index>`).
    pub name: String,
    /// Its new name (`<app>-<index>-r<revision>` for a serving old revision, `<app>-<index>-x<id>` for a crashed one).
    pub to: String,
}

/// A container to stop and remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remove {
    /// Runtime id.
    pub id: String,
    /// Container name.
    pub name: String,
    /// App label.
    pub app: String,
    /// Slot index label.
    pub index: u32,
    /// Why, in plain words.
    pub reason: String,
    /// Why, as a value the engine can match on.
    pub cause: RemoveCause,
}

/// Why a container is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RemoveCause {
    /// It exited or is dead. Crane removes the containers it stops itself, so any stopped container is a crash.
    Crashed,
    /// Its index is above the desired replica count.
    ScaledDown,
    /// Its app is no longer desired.
    Orphan,
    /// Another container of the same revision serves the same slot better.
    Duplicate,
    /// It runs an older (or newer) revision than the app's and serves no traffic worth draining: it is not ready, it
    /// stopped, or a rolling update removes it before its replacement starts (`maxUnavailable`, stop-first).
    Outdated,
    /// A rolling update replaced it: the new revision's instance of the same slot is ready. It still serves traffic,
    /// so the engine takes it out of the load balancer and lets in-flight requests finish before stopping it.
    Replaced,
    /// It was created but never started (the engine was interrupted mid-create), or its labels make no sense.
    Stale,
}

/// An empty slot held back by backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// App name.
    pub app: String,
    /// Slot index.
    pub index: u32,
    /// When it may start.
    pub until: Millis,
    /// Why, in plain words.
    pub reason: String,
    /// Why, as a value.
    pub cause: WaitCause,
}

/// Why an empty slot waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCause {
    /// Its instance crashed repeatedly (CrashLoop backoff).
    CrashLoop,
    /// Starting its instance failed; the start is retried after a growing delay.
    StartFailed,
}

/// The decision about a failed rolling update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutAction {
    /// App name.
    pub app: String,
    /// The revision whose rollout failed.
    pub failed: u64,
    /// What to do.
    pub decision: RolloutDecision,
    /// Why, in plain words (the failure, then the decision).
    pub reason: String,
}

/// What the engine does after a rolling update failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutDecision {
    /// Return the app to this earlier revision (its stored spec, under its old number), unpaused.
    RollbackTo(u64),
    /// Pause the app: no rollout progress until a new apply or an undo.
    Pause,
}

/// Where a rolling update stands after its plan is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutStatus {
    /// App name.
    pub app: String,
    /// Old revisions that still run after this plan, ascending; empty once the last old instance is removed.
    pub from: Vec<u64>,
    /// The revision rolled out (the app's revision).
    pub to: u64,
    /// Wanted slots whose instance of revision `to` is ready.
    pub ready_new: u32,
    /// Wanted slots (`replicas`).
    pub total: u32,
    /// Progressing, complete, failed or paused.
    pub state: RolloutState,
}

/// State of a rolling update. The planner is level-triggered: it reports the state of every pass, and the engine
/// acts on (and logs) the transitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutState {
    /// New instances are starting or becoming ready; old ones are removed as their replacements become ready.
    Progressing,
    /// Every wanted slot has a ready instance of revision `to` and no old instance remains once the plan is applied.
    /// Reported by the pass that removes the last old instance; later passes report no rollout for the app.
    Complete,
    /// A new instance did not become ready within the deadline, or crashed; the text says which and by how much
    /// ("web-3 revision 2 not ready 30s after start (deadline 30s): running, readiness not passed"). The rollout
    /// stands still: nothing new starts beside an old instance, no old instance is removed for the update, and the
    /// failed new instances stay in place (a crashed one too, as evidence) so every pass reports the failure until
    /// the engine acts. The engine must act on the pass that reports it, as `failureAction` says:
    /// - `rollback` (default): set the app's revision back to the revision it replaced (the stored previous spec,
    ///   under its old revision number, not a new one) with `paused = false`. The old instances then match and the
    ///   failed ones are outdated: the planner removes the ones that are not ready ([`RemoveCause::Outdated`]), and
    ///   slots already switched to the failed revision are rolled back start-first like any update. Should the
    ///   rollback itself report `Failed`, pause instead of rolling back again.
    /// - `pause`: set [`crate::model::DesiredApp::paused`]; the rollout then reports [`RolloutState::Paused`].
    ///
    /// A crashed new instance in a slot without an old one is replaced at once (a slot is never left empty), so that
    /// evidence may be gone by the next pass.
    Failed(String),
    /// The app is paused ([`crate::model::DesiredApp::paused`]): no rollout progress; crashes are still healed (at the
    /// app's revision) and scaling still works. A new apply or an undo clears it.
    Paused,
}

/// Plans what to start and remove so the observed containers match the desired apps.
pub fn reconcile(snapshot: &Snapshot) -> Plan {
    let mut plan = Plan::default();
    let mut wake_at: Option<Millis> = None;

    let mut desired: BTreeMap<&str, &DesiredApp> = BTreeMap::new();
    for app in &snapshot.desired {
        // A name appears once in a valid store; should it not, the first entry wins so plans stay deterministic.
        desired.entry(app.spec.name.as_str()).or_insert(app);
    }

    // app -> index -> containers, in a stable order so plans do not depend on the runtime's listing order.
    let mut by_slot: BTreeMap<&str, BTreeMap<u32, Vec<&ObservedInstance>>> = BTreeMap::new();
    for instance in &snapshot.observed {
        by_slot.entry(instance.app.as_str()).or_default().entry(instance.index).or_default().push(instance);
    }
    for slots in by_slot.values_mut() {
        for containers in slots.values_mut() {
            containers.sort_by(|a, b| a.id.cmp(&b.id));
        }
    }

    for (&app, slots) in &by_slot {
        if desired.contains_key(app) {
            continue;
        }
        plan.orphan_apps.push(app.to_string());
        for instance in slots.values().flatten() {
            if instance.state == ContainerState::Removing {
                continue;
            }
            plan.remove.push(remove(
                instance,
                RemoveCause::Orphan,
                format!("app '{app}' no longer exists: removing orphan {}", instance.name),
            ));
        }
    }
    // Networks and volumes of apps that are gone and have no container left.
    for app in &snapshot.resource_apps {
        if !desired.contains_key(app.as_str()) && !by_slot.contains_key(app.as_str()) {
            plan.orphan_apps.push(app.clone());
        }
    }

    let empty = BTreeMap::new();
    for (&app, desired_app) in &desired {
        let slots = by_slot.get(app).unwrap_or(&empty);
        plan_app(snapshot, desired_app, slots, &mut plan, &mut wake_at);
    }

    // Histories of slots that no longer exist are forgotten, so a later scale-up does not inherit old crashes.
    for ((app, index), history) in &snapshot.histories {
        let exists = desired.get(app.as_str()).is_some_and(|d| (1..=d.spec.replicas).contains(index));
        if !exists && *history != RestartHistory::default() {
            plan.reset.push((app.clone(), *index));
        }
    }

    standby::plan(snapshot, &desired, &mut plan);
    if let Some(at) = plan
        .standby_create
        .is_empty()
        .then(|| {
            snapshot
                .standby_failures
                .iter()
                .filter(|((app, _), _)| desired.get(app.as_str()).is_some_and(|d| d.spec.heal_standby()))
                .map(|(_, f)| f.last_at.saturating_add(standby::retry_after(f.attempts)))
                .filter(|at| *at > snapshot.now)
                .min()
        })
        .flatten()
    {
        wake(&mut wake_at, at);
    }
    plan.requeue_after = wake_at;
    plan
}

/// `maxSurge` when the spec does not set it.
pub const DEFAULT_MAX_SURGE: u32 = 1;
/// `maxUnavailable` when the spec does not set it.
pub const DEFAULT_MAX_UNAVAILABLE: u32 = 0;
/// `deadline` when the spec does not set it: how long a new instance may take to become ready.
pub const DEFAULT_DEADLINE: Millis = 60_000;

/// An app's rolling-update settings with defaults applied, clamped to what its replica count makes possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UpdateSettings {
    /// Instances allowed above `replicas` (at most `replicas`; 1 when both limits are 0, so an update can proceed).
    surge: u32,
    /// Instances allowed below `replicas` (at most `replicas`).
    unavailable: u32,
    /// How long a new instance may stay unready after it started.
    deadline: Millis,
}

impl UpdateSettings {
    fn of(desired: &DesiredApp) -> UpdateSettings {
        let replicas = desired.spec.replicas;
        let policy = desired.spec.update.as_ref();
        let mut surge = policy.and_then(|u| u.max_surge).unwrap_or(DEFAULT_MAX_SURGE).min(replicas);
        let unavailable = policy.and_then(|u| u.max_unavailable).unwrap_or(DEFAULT_MAX_UNAVAILABLE).min(replicas);
        // Validation rejects both being 0; should such a spec reach the planner anyway, start-first one at a time is
        // the safe reading.
        if surge == 0 && unavailable == 0 {
            surge = 1;
        }
        let deadline = policy.and_then(|u| u.deadline).map_or(DEFAULT_DEADLINE, |d| d.as_millis());
        UpdateSettings { surge, unavailable, deadline }
    }
}

/// A wanted slot that is served, as the rollout step sees it: at most one live container of the desired revision
/// and at most one of an older (or newer) one.
struct ServedSlot<'a> {
    index: u32,
    /// The live container of the desired revision.
    new: Option<&'a ObservedInstance>,
    /// The live container of another revision, until the update replaces it.
    old: Option<&'a ObservedInstance>,
    /// A container of the slot is being removed; nothing new starts there until it is gone.
    being_removed: bool,
}

/// Plans one desired app's slots, then the next step of its rolling update when one is under way.
fn plan_app(
    snapshot: &Snapshot,
    desired: &DesiredApp,
    slots: &BTreeMap<u32, Vec<&ObservedInstance>>,
    plan: &mut Plan,
    wake_at: &mut Option<Millis>,
) {
    let app = desired.spec.name.as_str();
    let replicas = desired.spec.replicas;
    let revision = desired.revision;
    let now = snapshot.now;
    let policy = &snapshot.backoff;
    let update = UpdateSettings::of(desired);

    // A rolling update is under way while a live container in a wanted slot runs another revision. Slots above the
    // replica count do not count: they are scaled down whatever their revision.
    let old_revisions: BTreeSet<u64> = slots
        .iter()
        .filter(|(index, _)| (1..=replicas).contains(*index))
        .flat_map(|(_, containers)| containers.iter())
        .filter(|c| is_live(c.state) && c.revision != revision)
        .map(|c| c.revision)
        .collect();
    let rolling = !old_revisions.is_empty();
    let label = format!("{}→{revision}", join(&old_revisions));
    // The first sign that the new revision does not work, as a sentence; it fails the rollout.
    let mut failure: Option<String> = None;
    let mut served: Vec<ServedSlot> = Vec::new();
    // Slots refilled in this plan: they count against the surge budget like running containers.
    let mut refilled = 0u32;

    for index in 1..=replicas {
        let slot_name = format!("{app}-{index}");
        let containers = slots.get(&index).map(Vec::as_slice).unwrap_or(&[]);

        let live = |new: bool| -> Vec<&ObservedInstance> {
            containers.iter().copied().filter(|c| is_live(c.state) && (c.revision == revision) == new).collect()
        };
        let (live_new, live_old) = (live(true), live(false));
        let crashed: Vec<&ObservedInstance> = containers.iter().copied().filter(|c| is_crashed(c.state)).collect();
        let being_removed = containers.iter().any(|c| c.state == ContainerState::Removing);

        // Two containers may share a slot during a rolling update, one per side; within a side the best one serves.
        let new = best(&live_new);
        let old = best(&live_old);
        for (side, kept) in [(&live_new, new), (&live_old, old)] {
            let Some(kept) = kept else { continue };
            for extra in side.iter().filter(|c| c.id != kept.id) {
                let entry = if extra.revision == kept.revision {
                    remove(
                        extra,
                        RemoveCause::Duplicate,
                        format!(
                            "slot {slot_name} has more than one container: keeping {}, removing duplicate {}",
                            short_id(&kept.id),
                            short_id(&extra.id)
                        ),
                    )
                } else {
                    remove(
                        extra,
                        RemoveCause::Outdated,
                        format!(
                            "slot {slot_name} runs revisions {} and {}, both outdated (the app is at revision \
                             {revision}): keeping {} (revision {}), removing {}",
                            kept.revision,
                            extra.revision,
                            short_id(&kept.id),
                            kept.revision,
                            short_id(&extra.id)
                        ),
                    )
                };
                plan.remove.push(entry);
            }
        }
        for stale in containers.iter().filter(|c| c.state == ContainerState::Created) {
            plan.remove.push(remove(
                stale,
                RemoveCause::Stale,
                format!("{} was created but never started: removing it", stale.name),
            ));
        }

        // Which stopped containers are crashes of this slot. An old revision's container that stopped beside a
        // new one is simply outdated. A new one that crashed while the old one serves is the evidence that fails
        // the rollout: it stays until the engine rolls back or pauses (then it is removed and counted).
        let mut slot_crashes: Vec<&ObservedInstance> = Vec::new();
        let mut outdated_crashes: Vec<&ObservedInstance> = Vec::new();
        let mut evidence_kept = false;
        for &c in &crashed {
            if rolling && c.revision == revision {
                failure.get_or_insert_with(|| {
                    format!("{slot_name} revision {revision} {} during the rolling update", crash_text(c))
                });
            }
            if c.revision != revision && new.is_some() {
                outdated_crashes.push(c);
            } else if c.revision == revision && new.is_none() && old.is_some() && !desired.paused && !evidence_kept {
                // Left in place as evidence (one is enough: a second crashed container of the same revision in the
                // slot is a duplicate, recorded and removed like any crash).
                evidence_kept = true;
            } else {
                slot_crashes.push(c);
            }
        }

        // The history as it will be once this snapshot's crash is recorded, so the first crash restarts at once
        // and later ones wait, within this very plan.
        let mut history = snapshot.histories.get(&(app.to_string(), index)).cloned().unwrap_or_default();
        if !slot_crashes.is_empty() {
            // A container that ran for `stable_after` before crashing starts a fresh count: it was not looping.
            let last_start = slot_crashes.iter().filter_map(|c| c.started_at).max();
            if last_start.is_some_and(|s| policy.is_stable(s, now)) {
                history.reset();
            }
            history.record_crash(now);
            plan.crashed.push((app.to_string(), index));
        }
        let crash_reason = slot_crashes.first().map(|c| describe_crash(c));

        if let Some(serving) = new.or(old) {
            for gone in &slot_crashes {
                plan.remove.push(remove(
                    gone,
                    RemoveCause::Crashed,
                    format!("{}; {} still serves the slot", describe_crash(gone), serving.name),
                ));
            }
            for gone in &outdated_crashes {
                plan.remove.push(remove(
                    gone,
                    RemoveCause::Outdated,
                    format!(
                        "{} (revision {}); revision {revision} serves the slot: removing it",
                        describe_crash(gone),
                        gone.revision
                    ),
                ));
            }
            if serving.state == ContainerState::Running && history.consecutive_crashes > 0 {
                if let Some(started) = serving.started_at {
                    if policy.is_stable(started, now) {
                        plan.reset.push((app.to_string(), index));
                    } else {
                        wake(wake_at, started.saturating_add(policy.stable_after));
                    }
                }
            }
            // A new instance must become ready within the deadline while the old revision still runs somewhere.
            if let Some(new) = new.filter(|n| rolling && !desired.paused && !is_ready(n)) {
                let since = new.started_at.unwrap_or(0).max(new.created_at);
                let due = since.saturating_add(update.deadline);
                if now >= due {
                    failure.get_or_insert_with(|| {
                        format!(
                            "{slot_name} revision {revision} not ready {} after start (deadline {}): {}",
                            format_millis(now - since),
                            format_millis(update.deadline),
                            unready_text(new)
                        )
                    });
                } else {
                    wake(wake_at, due);
                }
            }
            served.push(ServedSlot { index, new, old, being_removed });
            continue;
        }

        if being_removed {
            // The old container still holds the name; the `destroy` event will trigger the next pass.
            for gone in &slot_crashes {
                plan.remove.push(remove(gone, RemoveCause::Crashed, describe_crash(gone)));
            }
            continue;
        }

        // An empty slot is filled at the desired revision right away (subject to backoff), rollout or not: a
        // missing instance is never kept missing for the sake of an update.
        let until = history.next_start_at(policy);
        let start_failure = snapshot.start_failures.get(&(app.to_string(), index));
        let retry_at = start_failure.map_or(0, |f| f.last_at.saturating_add(policy.retry_delay(f.attempts)));
        if until <= now && retry_at > now {
            let failure = start_failure.expect("a retry time comes from a failure");
            let reason = format!(
                "{slot_name} could not be started {} time(s) in a row ({}): retrying in {}",
                failure.attempts,
                failure.message,
                format_millis(retry_at - now)
            );
            for gone in &slot_crashes {
                plan.remove.push(remove(gone, RemoveCause::Crashed, format!("{}; replacing it", describe_crash(gone))));
            }
            plan.waiting.push(Waiting {
                app: app.to_string(),
                index,
                until: retry_at,
                reason,
                cause: WaitCause::StartFailed,
            });
            wake(wake_at, retry_at);
        } else if until <= now {
            let reason = match (&crash_reason, history.consecutive_crashes) {
                _ if start_failure.is_some() => format!(
                    "{slot_name}: retrying the start that failed {} time(s)",
                    start_failure.map_or(0, |f| f.attempts)
                ),
                (Some(text), _) => format!("{text}; replacing it"),
                (None, n) if n > 0 => {
                    format!("{slot_name}: backoff after {n} crashes is over; restarting it")
                }
                (None, _) if containers.iter().any(|c| c.state == ContainerState::Created) => {
                    format!("{slot_name} was created but never started; replacing it")
                }
                (None, _) => format!("{slot_name} is missing: starting it ({replicas} wanted)"),
            };
            for gone in &slot_crashes {
                plan.remove.push(remove(gone, RemoveCause::Crashed, format!("{}; replacing it", describe_crash(gone))));
            }
            // The crashed container that holds the slot's name moves aside, so the replacement is created without
            // waiting for its removal (which the engine runs beside the start).
            let displace = slot_crashes.iter().find(|c| c.name == slot_name).map(|c| Displace {
                id: c.id.clone(),
                name: c.name.clone(),
                to: format!("{slot_name}-x{}", crate::text::truncate(&c.id, 12)),
            });
            plan.start.push(Start { app: app.to_string(), index, revision, reason, displace, standby: None });
            refilled += 1;
        } else {
            let reason = format!(
                "{slot_name} crashed {} times in a row: waiting {} before restarting (CrashLoop backoff)",
                history.consecutive_crashes,
                format_millis(until - now)
            );
            for gone in &slot_crashes {
                plan.remove.push(remove(
                    gone,
                    RemoveCause::Crashed,
                    format!("{}; it restarts after backoff", describe_crash(gone)),
                ));
            }
            plan.waiting.push(Waiting { app: app.to_string(), index, until, reason, cause: WaitCause::CrashLoop });
            wake(wake_at, until);
        }
    }

    // Containers above the wanted count, highest index first so the app shrinks from the top, and within a slot the
    // old revision first.
    let highest = slots.keys().copied().max().unwrap_or(0);
    for (&index, containers) in slots.iter().rev() {
        if index != 0 && index <= replicas {
            continue;
        }
        let mut going: Vec<&ObservedInstance> =
            containers.iter().copied().filter(|c| c.state != ContainerState::Removing).collect();
        // A stable sort keeps the id order within each side.
        going.sort_by_key(|c| c.revision == revision);
        for instance in going {
            let (cause, reason) = if index == 0 {
                (RemoveCause::Stale, format!("{} has no valid instance index: removing it", instance.name))
            } else {
                (RemoveCause::ScaledDown, format!("scaled down {highest}→{replicas}: removing {}", instance.name))
            };
            plan.remove.push(remove(instance, cause, reason));
        }
    }

    if rolling {
        step_rollout(desired, &update, &label, failure, refilled, &mut served, plan);
    }
}

/// Plans the next step of a rolling update and reports its status. `served` holds every wanted slot that has a
/// live container; the slots' other containers are already dealt with. Old containers this step removes are taken
/// out of `served`.
fn step_rollout(
    desired: &DesiredApp,
    update: &UpdateSettings,
    label: &str,
    failure: Option<String>,
    refilled: u32,
    served: &mut [ServedSlot],
    plan: &mut Plan,
) {
    let app = desired.spec.name.as_str();
    let replicas = desired.spec.replicas;
    let revision = desired.revision;

    // A failed or paused rollout stands still: the old instances keep serving, nothing new starts beside them.
    if !desired.paused && failure.is_none() {
        // Health gate: an old instance goes once the new one of its slot is ready.
        for slot in served.iter_mut() {
            let (Some(new), Some(old)) = (slot.new, slot.old) else { continue };
            if !is_ready(new) {
                continue;
            }
            let name = format!("{app}-{}", slot.index);
            plan.remove.push(if is_ready(old) {
                remove(
                    old,
                    RemoveCause::Replaced,
                    format!("{name} revision {revision} is ready: draining and removing revision {}", old.revision),
                )
            } else {
                remove(
                    old,
                    RemoveCause::Outdated,
                    format!(
                        "{name} revision {revision} is ready and revision {} is not: removing revision {}",
                        old.revision, old.revision
                    ),
                )
            });
            slot.old = None;
        }

        // Surge: new instances start beside old ones, lowest slot first, while the app stays within
        // `replicas + maxSurge` containers.
        let budget = replicas.saturating_add(update.surge);
        let mut running: u32 = served.iter().map(|s| u32::from(s.new.is_some()) + u32::from(s.old.is_some())).sum();
        running += refilled;
        let mut surged = BTreeSet::new();
        for slot in served.iter().filter(|s| s.new.is_none() && s.old.is_some() && !s.being_removed) {
            if running >= budget {
                break;
            }
            let canonical = format!("{app}-{}", slot.index);
            let displace = slot.old.filter(|old| old.name == canonical).map(|old| Displace {
                id: old.id.clone(),
                name: old.name.clone(),
                to: format!("{canonical}-r{}", old.revision),
            });
            plan.start.push(Start {
                app: app.to_string(),
                index: slot.index,
                revision,
                reason: format!(
                    "rolling update {label}: starting {app}-{} (revision {revision}) beside the old one (maxSurge {})",
                    slot.index, update.surge
                ),
                displace,
                standby: None,
            });
            running += 1;
            surged.insert(slot.index);
        }

        // maxUnavailable: without room to start beside them, old instances go first (stop-first) while enough
        // slots stay ready; an old instance that is not ready serves nothing and may always go. The emptied slot
        // is refilled at the new revision by the next pass.
        if running >= budget {
            let is_served = |s: &ServedSlot| s.new.is_some_and(is_ready) || s.old.is_some_and(is_ready);
            let mut ready = served.iter().filter(|s| is_served(s)).count() as u32;
            let floor = replicas - update.unavailable;
            for slot in served.iter_mut() {
                let Some(old) = slot.old else { continue };
                if slot.new.is_some() || slot.being_removed || surged.contains(&slot.index) {
                    continue;
                }
                let name = format!("{app}-{}", slot.index);
                let reason = if is_ready(old) {
                    if ready <= floor {
                        continue;
                    }
                    ready -= 1;
                    format!(
                        "rolling update {label}: no room to start {name} revision {revision} beside the old one \
                         (maxSurge {}): removing revision {} first, {ready}/{replicas} stay ready (maxUnavailable {})",
                        update.surge, old.revision, update.unavailable
                    )
                } else {
                    format!(
                        "rolling update {label}: {name} revision {} is not ready: removing it first to make room for \
                         revision {revision}",
                        old.revision
                    )
                };
                plan.remove.push(remove(old, RemoveCause::Outdated, reason));
                slot.old = None;
            }
        }
    }

    let from: BTreeSet<u64> = served.iter().filter_map(|s| s.old).map(|o| o.revision).collect();
    let ready_new = served.iter().filter(|s| s.new.is_some_and(is_ready)).count() as u32;
    let state = if from.is_empty() && ready_new == replicas {
        RolloutState::Complete
    } else if desired.paused {
        RolloutState::Paused
    } else if let Some(reason) = failure {
        RolloutState::Failed(reason)
    } else {
        RolloutState::Progressing
    };
    if let RolloutState::Failed(why) = &state {
        plan.rollout_actions.push(decide_failed_rollout(desired, from.iter().copied().max(), why));
    }
    plan.rollouts.push(RolloutStatus {
        app: app.to_string(),
        from: from.into_iter().collect(),
        to: revision,
        ready_new,
        total: replicas,
        state,
    });
}

/// What to do about a failed rolling update, as `update.failureAction` says: `rollback` (the default) returns to
/// `back_to`, the newest revision still running, when the history has it and the failing rollout is not itself an
/// automatic rollback (that would bounce between revisions); otherwise, and with `pause`, the app is paused.
fn decide_failed_rollout(desired: &DesiredApp, back_to: Option<u64>, why: &str) -> RolloutAction {
    let app = desired.spec.name.clone();
    let failed = desired.revision;
    let wants_pause = desired.spec.update.as_ref().and_then(|u| u.failure_action).unwrap_or_default()
        == crate::spec::FailureAction::Pause;
    let failure = format!("rolling update to revision {failed} failed: {why}");
    let target = back_to.filter(|r| desired.history.contains(r));
    let (decision, reason) = match target {
        _ if wants_pause => (
            RolloutDecision::Pause,
            format!("{failure} → pausing the update (failureAction pause); apply a fixed spec or `cranectl rollout undo {app}`"),
        ),
        _ if desired.rolled_back_to == Some(failed) => (
            RolloutDecision::Pause,
            format!(
                "{failure} → this was already an automatic rollback: pausing instead of rolling back again; apply a \
                 fixed spec or `cranectl rollout undo {app}`"
            ),
        ),
        Some(to) => {
            (RolloutDecision::RollbackTo(to), format!("{failure} → failureAction rollback: returning to revision {to}"))
        }
        None => (
            RolloutDecision::Pause,
            format!(
                "{failure} → no earlier revision to return to: pausing the update; apply a fixed spec or `cranectl \
                 rollout undo {app}`"
            ),
        ),
    };
    RolloutAction { app, failed, decision, reason }
}

/// The container that serves a slot among live ones of one side: ready first, then running, then the newest.
fn best<'a>(live: &[&'a ObservedInstance]) -> Option<&'a ObservedInstance> {
    live.iter().copied().min_by(|a, b| {
        is_ready(b)
            .cmp(&is_ready(a))
            .then(state_rank(a.state).cmp(&state_rank(b.state)))
            .then(b.created_at.cmp(&a.created_at))
            .then(a.id.cmp(&b.id))
    })
}

/// Whether the instance receives traffic.
fn is_ready(instance: &ObservedInstance) -> bool {
    instance.state == ContainerState::Running && instance.ready
}

fn join(revisions: &BTreeSet<u64>) -> String {
    revisions.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

fn remove(instance: &ObservedInstance, cause: RemoveCause, reason: String) -> Remove {
    Remove {
        id: instance.id.clone(),
        name: instance.name.clone(),
        app: instance.app.clone(),
        index: instance.index,
        reason,
        cause,
    }
}

/// Containers that serve (or are about to serve) their slot.
fn is_live(state: ContainerState) -> bool {
    matches!(state, ContainerState::Running | ContainerState::Restarting | ContainerState::Paused)
}

fn is_crashed(state: ContainerState) -> bool {
    matches!(state, ContainerState::Exited | ContainerState::Dead)
}

fn state_rank(state: ContainerState) -> u8 {
    match state {
        ContainerState::Running => 0,
        ContainerState::Restarting => 1,
        _ => 2,
    }
}

fn describe_crash(instance: &ObservedInstance) -> String {
    format!("{} {}", instance.name, crash_text(instance))
}

/// How a container stopped, as a predicate: "exited with code 137", "is dead".
fn crash_text(instance: &ObservedInstance) -> String {
    match (instance.state, instance.exit_code) {
        (ContainerState::Dead, _) => "is dead".to_string(),
        (_, Some(code)) => format!("exited with code {code}"),
        (_, None) => "exited".to_string(),
    }
}

/// Why a live instance is not ready, as far as the planner can tell (the engine knows the probe's last failure).
fn unready_text(instance: &ObservedInstance) -> &'static str {
    match instance.state {
        ContainerState::Running => "running, readiness not passed",
        ContainerState::Restarting => "restarting",
        ContainerState::Paused => "paused",
        _ => "not running",
    }
}

fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

fn wake(wake_at: &mut Option<Millis>, at: Millis) {
    *wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
}

/// Slots `(app, index)` planned to hold more than one container of the same revision after `plan` is applied to
/// `observed`. (One old and one new container in a slot is a rolling update, not a double booking.)
/// Always empty for plans made by [`reconcile`]; exposed so the engine's applier and tests can assert it.
pub fn double_booked_slots(observed: &[ObservedInstance], plan: &Plan) -> Vec<(String, u32)> {
    let removed: BTreeSet<&str> = plan.remove.iter().map(|r| r.id.as_str()).collect();
    let mut count: BTreeMap<(String, u32, u64), usize> = BTreeMap::new();
    // Containers already being removed are on their way out and do not count.
    let remaining = observed.iter().filter(|i| i.state != ContainerState::Removing && !removed.contains(i.id.as_str()));
    for instance in remaining {
        *count.entry((instance.app.clone(), instance.index, instance.revision)).or_default() += 1;
    }
    for start in &plan.start {
        *count.entry((start.app.clone(), start.index, start.revision)).or_default() += 1;
    }
    let slots: BTreeSet<(String, u32)> =
        count.into_iter().filter(|(_, n)| *n > 1).map(|((app, index, _), _)| (app, index)).collect();
    slots.into_iter().collect()
}

pub mod standby;

#[cfg(test)]
mod tests;
