//! Standbys (`heal.standby`): for every instance of an app that asks for them, a started-then-paused copy of it
//! (same slot, same revision), so a death is healed by renaming and unpausing the copy instead of creating and
//! starting a container. This pass runs after the main plan and only decides about standbys: it turns a planned
//! start into a promotion when the slot has a usable standby, asks for missing standbys, and removes the ones that
//! no longer fit (app gone, setting off, slot scaled away, other revision, not paused, duplicate).
//!
//! A standby is not an instance: the engine keeps standbys out of [`Snapshot::observed`] (they arrive in
//! [`Snapshot::standbys`]), so nothing that counts, serves, probes or charts instances sees them.

use std::collections::{BTreeMap, BTreeSet};

use super::{Plan, Snapshot};
use crate::model::DesiredApp;
use crate::model::{ContainerState, Millis, ObservedInstance};

/// Standbys created at the same time per app (each costs the runtime a container start).
pub const CREATES_PER_APP: usize = 2;

/// A standby to create (create, start, let it listen, pause).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateStandby {
    /// App name.
    pub app: String,
    /// Slot it stands by for.
    pub index: u32,
    /// Revision it is created from (the app's current one).
    pub revision: u64,
    /// Its name while it waits: `<app>-<index>-s<revision>`.
    pub name: String,
}

/// A standby to remove (it never served: removed without a graceful stop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveStandby {
    /// Runtime id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// App label.
    pub app: String,
    /// Why, in plain words.
    pub reason: String,
}

/// A standby that takes over a slot: the engine renames it to `<app>-<index>` (after the dead container was moved
/// aside) and unpauses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promote {
    /// Runtime id of the standby.
    pub id: String,
    /// Its name while it waited.
    pub name: String,
}

/// The name a standby of `app`'s slot `index` at `revision` waits under.
pub fn standby_name(app: &str, index: u32, revision: u64) -> String {
    format!("{app}-{index}-s{revision}")
}

/// Whether a container with these labels and this name is a standby (the name, which a promotion changes, decides:
/// a promoted standby is an instance like any other).
pub fn is_standby_name(name: &str, app: &str, index: u32, revision: u64) -> bool {
    name == standby_name(app, index, revision)
}

/// How long after a failed standby creation the slot is tried again.
pub fn retry_after(attempts: u32) -> Millis {
    // 5 s, 10 s, 20 s … capped at 5 min: a standby is an optimisation, never worth hammering the runtime for.
    5_000u64.saturating_mul(1u64 << attempts.saturating_sub(1).min(6)).min(300_000)
}

/// Adds the standby decisions to `plan` (see the module documentation).
pub(super) fn plan(snapshot: &Snapshot, desired: &BTreeMap<&str, &DesiredApp>, plan: &mut Plan) {
    // Standbys per slot, the usable ones first (paused, lowest id: deterministic).
    let mut by_slot: BTreeMap<(&str, u32), Vec<&ObservedInstance>> = BTreeMap::new();
    for s in &snapshot.standbys {
        by_slot.entry((s.app.as_str(), s.index)).or_default().push(s);
    }
    let usable = |s: &ObservedInstance| {
        desired
            .get(s.app.as_str())
            .is_some_and(|d| d.spec.heal_standby() && s.index <= d.spec.replicas && s.revision == d.revision)
            && s.state == ContainerState::Paused
    };
    let mut keep: BTreeMap<(&str, u32), &ObservedInstance> = BTreeMap::new();
    for (&slot, standbys) in &mut by_slot {
        standbys.sort_by(|a, b| a.id.cmp(&b.id));
        for s in standbys.iter() {
            let in_flight = snapshot.standby_in_flight.contains(&(s.app.clone(), s.index));
            let why = match desired.get(s.app.as_str()) {
                None => Some(format!("app '{}' no longer exists", s.app)),
                Some(d) if !d.spec.heal_standby() => Some("the app no longer asks for standbys".to_string()),
                Some(d) if s.index > d.spec.replicas => {
                    Some(format!("slot {} is above the {} replica(s) wanted", s.index, d.spec.replicas))
                }
                Some(d) if s.revision != d.revision => {
                    Some(format!("it is revision {}, the app is at revision {}", s.revision, d.revision))
                }
                // Being created (started, not paused yet): its creator pauses it or removes it.
                Some(_) if in_flight => None,
                Some(_) if s.state != ContainerState::Paused => {
                    Some(format!("it is {} instead of paused", format!("{:?}", s.state).to_lowercase()))
                }
                Some(_) if keep.contains_key(&slot) => Some("the slot has another standby".to_string()),
                Some(_) => {
                    keep.insert(slot, s);
                    None
                }
            };
            if let Some(why) = why {
                if !desired.contains_key(s.app.as_str()) && !plan.orphan_apps.contains(&s.app) {
                    // Its network goes with it.
                    plan.orphan_apps.push(s.app.clone());
                }
                plan.standby_remove.push(RemoveStandby {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    app: s.app.clone(),
                    reason: format!("removing standby {}: {why}", s.name),
                });
            }
        }
    }

    // A planned start of a slot with a usable standby of the same revision becomes its promotion.
    for start in &mut plan.start {
        if let Some(s) = keep.get(&(start.app.as_str(), start.index)) {
            if s.revision == start.revision && usable(s) {
                start.standby = Some(Promote { id: s.id.clone(), name: s.name.clone() });
                start.reason = format!("{} — its paused standby {} takes over", start.reason, s.name);
            }
        }
    }
    let promoted: BTreeSet<(&str, u32)> =
        plan.start.iter().filter(|s| s.standby.is_some()).map(|s| (s.app.as_str(), s.index)).collect();

    // A standby removed this pass is made again by a later one (its name is free only once it is gone).
    let replaced: BTreeSet<(&str, u32)> = snapshot
        .standbys
        .iter()
        .filter(|s| plan.standby_remove.iter().any(|r| r.id == s.id))
        .map(|s| (s.app.as_str(), s.index))
        .collect();
    // Missing standbys: a slot served by a ready instance of the current revision, in an app that is not rolling,
    // with nothing else planned for it.
    let busy: BTreeSet<(&str, u32)> = plan
        .start
        .iter()
        .map(|s| (s.app.as_str(), s.index))
        .chain(plan.remove.iter().map(|r| (r.app.as_str(), r.index)))
        .chain(plan.waiting.iter().map(|w| (w.app.as_str(), w.index)))
        .collect();
    for (&app, d) in desired {
        if !d.spec.heal_standby() || d.paused {
            continue;
        }
        let instances: Vec<&ObservedInstance> = snapshot.observed.iter().filter(|o| o.app == app).collect();
        if instances.iter().any(|o| o.revision != d.revision) {
            // A rolling update is under way: standbys wait for its end (they would be of a revision on its way out,
            // or compete with the update's starts).
            continue;
        }
        let in_flight = snapshot.standby_in_flight.iter().filter(|(a, _)| a == app).count();
        let mut budget = CREATES_PER_APP.saturating_sub(in_flight);
        for index in 1..=d.spec.replicas {
            if budget == 0 {
                break;
            }
            let slot = (app, index);
            let key = (app.to_string(), index);
            if busy.contains(&slot)
                || promoted.contains(&slot)
                || replaced.contains(&slot)
                || keep.contains_key(&slot)
                || snapshot.standby_in_flight.contains(&key)
            {
                continue;
            }
            if let Some(f) = snapshot.standby_failures.get(&key) {
                if snapshot.now < f.last_at.saturating_add(retry_after(f.attempts)) {
                    continue;
                }
            }
            let name = format!("{app}-{index}");
            let served = instances
                .iter()
                .any(|o| o.index == index && o.name == name && o.state == ContainerState::Running && o.ready);
            if !served {
                continue;
            }
            plan.standby_create.push(CreateStandby {
                app: app.to_string(),
                index,
                revision: d.revision,
                name: standby_name(app, index, d.revision),
            });
            budget -= 1;
        }
    }
}
