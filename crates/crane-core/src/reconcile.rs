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
//! The engine applies a plan in this order: record `crashed`, apply `reset`, run `remove`, then `start`. Removals
//! come before starts because a crashed container is replaced in the same plan under the same name.

use std::collections::{BTreeMap, BTreeSet};

use crate::backoff::BackoffPolicy;
use crate::model::{ContainerState, DesiredApp, Millis, ObservedInstance, RestartHistories, RestartHistory};
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
    /// How long crashed slots wait before a restart.
    pub backoff: BackoffPolicy,
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
    /// Empty slots held back by CrashLoop backoff.
    pub waiting: Vec<Waiting>,
    /// Names of live containers left as they are.
    pub keep: Vec<String>,
    /// Apps that still have containers but are no longer desired; the engine also removes their network and volumes.
    pub orphan_apps: Vec<String>,
    /// When to reconcile again even if no event arrives: the earliest backoff expiry or stability check, as an
    /// absolute time on the same clock as [`Snapshot::now`] (not a delay); `None` when nothing is pending.
    pub requeue_after: Option<Millis>,
}

impl Plan {
    /// Whether the plan starts and removes nothing.
    pub fn is_empty(&self) -> bool {
        self.start.is_empty() && self.remove.is_empty()
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
    /// Another container serves the same slot better.
    Duplicate,
    /// It runs an older (or newer) revision than the app's; replaced one slot at a time.
    Outdated,
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

    plan.requeue_after = wake_at;
    plan
}

/// Plans one desired app's slots.
fn plan_app(
    snapshot: &Snapshot,
    desired: &DesiredApp,
    slots: &BTreeMap<u32, Vec<&ObservedInstance>>,
    plan: &mut Plan,
    wake_at: &mut Option<Millis>,
) {
    let app = desired.spec.name.as_str();
    let replicas = desired.spec.replicas;
    let now = snapshot.now;
    let policy = &snapshot.backoff;
    // Whether every wanted slot is served right now; an outdated instance is only replaced then.
    let mut all_serving = true;
    // Kept containers whose revision differs, by index: candidates for a one-at-a-time replacement.
    let mut outdated: Vec<&ObservedInstance> = Vec::new();

    for index in 1..=replicas {
        let slot_name = format!("{app}-{index}");
        let containers = slots.get(&index).map(Vec::as_slice).unwrap_or(&[]);

        let live: Vec<&ObservedInstance> = containers.iter().copied().filter(|c| is_live(c.state)).collect();
        let crashed: Vec<&ObservedInstance> = containers.iter().copied().filter(|c| is_crashed(c.state)).collect();
        let being_removed = containers.iter().any(|c| c.state == ContainerState::Removing);

        // The best live container serves the slot: running first, then the newest.
        let kept = live.iter().copied().min_by(|a, b| {
            state_rank(a.state).cmp(&state_rank(b.state)).then(b.created_at.cmp(&a.created_at)).then(a.id.cmp(&b.id))
        });
        for extra in live.iter().filter(|c| Some(c.id.as_str()) != kept.map(|k| k.id.as_str())) {
            let kept = kept.map(|k| short_id(&k.id)).unwrap_or_default();
            plan.remove.push(remove(
                extra,
                RemoveCause::Duplicate,
                format!(
                    "slot {slot_name} has more than one container: keeping {kept}, removing duplicate {}",
                    short_id(&extra.id)
                ),
            ));
            all_serving = false;
        }
        for stale in containers.iter().filter(|c| c.state == ContainerState::Created) {
            plan.remove.push(remove(
                stale,
                RemoveCause::Stale,
                format!("{} was created but never started: removing it", stale.name),
            ));
        }

        // The history as it will be once this snapshot's crash is recorded, so the first crash restarts at once
        // and later ones wait, within this very plan.
        let mut history = snapshot.histories.get(&(app.to_string(), index)).cloned().unwrap_or_default();
        if !crashed.is_empty() {
            // A container that ran for `stable_after` before crashing starts a fresh count: it was not looping.
            let last_start = crashed.iter().filter_map(|c| c.started_at).max();
            if last_start.is_some_and(|s| policy.is_stable(s, now)) {
                history.reset();
            }
            history.record_crash(now);
            plan.crashed.push((app.to_string(), index));
        }
        let crash_text = crashed.first().map(|c| describe_crash(c));

        if let Some(kept) = kept {
            plan.keep.push(kept.name.clone());
            if kept.revision != desired.revision {
                outdated.push(kept);
            }
            for gone in &crashed {
                plan.remove.push(remove(
                    gone,
                    RemoveCause::Crashed,
                    format!("{}; {} still serves the slot", describe_crash(gone), kept.name),
                ));
            }
            if kept.state == ContainerState::Running && history.consecutive_crashes > 0 {
                if let Some(started) = kept.started_at {
                    if policy.is_stable(started, now) {
                        plan.reset.push((app.to_string(), index));
                    } else {
                        wake(wake_at, started.saturating_add(policy.stable_after));
                    }
                }
            }
            continue;
        }

        all_serving = false;
        if being_removed {
            // The old container still holds the name; the `destroy` event will trigger the next pass.
            for gone in &crashed {
                plan.remove.push(remove(gone, RemoveCause::Crashed, describe_crash(gone)));
            }
            continue;
        }

        let until = history.next_start_at(policy);
        if until <= now {
            let reason = match (&crash_text, history.consecutive_crashes) {
                (Some(text), _) => format!("{text}; replacing it"),
                (None, n) if n > 0 => {
                    format!("{slot_name}: backoff after {n} crashes is over; restarting it")
                }
                (None, _) if containers.iter().any(|c| c.state == ContainerState::Created) => {
                    format!("{slot_name} was created but never started; replacing it")
                }
                (None, _) => format!("{slot_name} is missing: starting it ({replicas} wanted)"),
            };
            for gone in &crashed {
                plan.remove.push(remove(gone, RemoveCause::Crashed, format!("{}; replacing it", describe_crash(gone))));
            }
            plan.start.push(Start { app: app.to_string(), index, revision: desired.revision, reason });
        } else {
            let reason = format!(
                "{slot_name} crashed {} times in a row: waiting {} before restarting (CrashLoop backoff)",
                history.consecutive_crashes,
                format_millis(until - now)
            );
            for gone in &crashed {
                plan.remove.push(remove(
                    gone,
                    RemoveCause::Crashed,
                    format!("{}; it restarts after backoff", describe_crash(gone)),
                ));
            }
            plan.waiting.push(Waiting { app: app.to_string(), index, until, reason });
            wake(wake_at, until);
        }
    }

    // Containers above the wanted count, highest index first so the app shrinks from the top.
    let highest = slots.keys().copied().max().unwrap_or(0);
    for (&index, containers) in slots.iter().rev() {
        if index != 0 && index <= replicas {
            continue;
        }
        for instance in containers.iter().filter(|c| c.state != ContainerState::Removing) {
            let (cause, reason) = if index == 0 {
                (RemoveCause::Stale, format!("{} has no valid instance index: removing it", instance.name))
            } else {
                (RemoveCause::ScaledDown, format!("scaled down {highest}→{replicas}: removing {}", instance.name))
            };
            plan.remove.push(remove(instance, cause, reason));
        }
    }

    // A changed spec replaces one instance per pass, and only while every other slot serves, so the app never loses
    // more than one instance to an update. The slot's new container is started by the next pass, once it is empty.
    if all_serving {
        if let Some(old) = outdated.first() {
            plan.keep.retain(|name| name != &old.name);
            plan.remove.push(remove(
                old,
                RemoveCause::Outdated,
                format!(
                    "{} runs revision {}, the app is at revision {}: replacing it (one instance at a time)",
                    old.name, old.revision, desired.revision
                ),
            ));
        }
    }
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
    match (instance.state, instance.exit_code) {
        (ContainerState::Dead, _) => format!("{} is dead", instance.name),
        (_, Some(code)) => format!("{} exited with code {code}", instance.name),
        (_, None) => format!("{} exited", instance.name),
    }
}

fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

fn wake(wake_at: &mut Option<Millis>, at: Millis) {
    *wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
}

/// Slots `(app, index)` with more than one container planned to exist after `plan` is applied to `observed`.
/// Always empty for plans made by [`reconcile`]; exposed so the engine's applier and tests can assert it.
pub fn double_booked_slots(observed: &[ObservedInstance], plan: &Plan) -> Vec<(String, u32)> {
    let removed: BTreeSet<&str> = plan.remove.iter().map(|r| r.id.as_str()).collect();
    let mut count: BTreeMap<(String, u32), usize> = BTreeMap::new();
    // Containers already being removed are on their way out and do not count.
    let remaining = observed.iter().filter(|i| i.state != ContainerState::Removing && !removed.contains(i.id.as_str()));
    for instance in remaining {
        *count.entry((instance.app.clone(), instance.index)).or_default() += 1;
    }
    for start in &plan.start {
        *count.entry((start.app.clone(), start.index)).or_default() += 1;
    }
    count.into_iter().filter(|(_, n)| *n > 1).map(|(slot, _)| slot).collect()
}

#[cfg(test)]
mod tests;
