//! What the engine observes and desires, as plain values. Time is a [`Millis`] timestamp so planners stay pure and
//! tests can use any clock.

use std::collections::BTreeMap;

/// Milliseconds since the Unix epoch (or any fixed origin, in tests).
pub type Millis = u64;

/// Label keys put on everything Crane creates.
pub mod labels {
    /// App name.
    pub const APP: &str = "io.crane.app";
    /// Instance index (1-based) within the app.
    pub const INSTANCE: &str = "io.crane.instance";
    /// Spec revision the instance was created from.
    pub const REVISION: &str = "io.crane.revision";
    /// Node the instance was placed on.
    pub const NODE: &str = "io.crane.node";
    /// Marks objects managed by Crane (`true`).
    pub const MANAGED: &str = "io.crane.managed";
    /// Identifies the Crane engine (a random id stored in its data directory) that owns the object, so several
    /// engines can share a Docker engine (tests, classrooms) without adopting or deleting each other's containers.
    pub const OWNER: &str = "io.crane.owner";
    /// Marks the demo image built by Crane (`true`).
    pub const DEMO: &str = "io.crane.demo";
}

/// An app as the engine wants it: the stored spec plus its revision.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredApp {
    /// The validated spec. `spec.replicas` is the desired instance count.
    pub spec: crate::spec::AppSpec,
    /// Revision number, bumped whenever a container setting changes (not on scale).
    pub revision: u64,
    /// Whether the app's rolling update is paused (after a failure with `failureAction: pause`, or by request): the
    /// planner makes no rollout progress (no new-revision instance beside an old one, no old instance removed for
    /// the update) but still heals crashes and scales. A new apply clears it.
    pub paused: bool,
    /// Revision numbers in the app's history (oldest first): a failed rollout can only roll back to one of them.
    pub history: Vec<u64>,
    /// The revision the engine last returned to by an automatic rollback, while that rollback runs: should it fail
    /// too, the planner pauses instead of bouncing between revisions.
    pub rolled_back_to: Option<u64>,
}

/// Runtime state of a container, as the runtime reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    /// Created but not started.
    Created,
    /// Running.
    Running,
    /// Being restarted by the runtime itself.
    Restarting,
    /// Paused.
    Paused,
    /// Stopped; `exit_code` tells how.
    Exited,
    /// Being removed.
    Removing,
    /// Dead (failed removal).
    Dead,
}

/// A container Crane created (found by its labels).
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedInstance {
    /// Runtime id of the container.
    pub id: String,
    /// Container name, `<app>-<index>` (an old revision's container moved aside by a rolling update is
    /// `<app>-<index>-r<revision>`).
    pub name: String,
    /// App label.
    pub app: String,
    /// Instance index label (1-based).
    pub index: u32,
    /// Revision label.
    pub revision: u64,
    /// Runtime state.
    pub state: ContainerState,
    /// Exit code when exited.
    pub exit_code: Option<i64>,
    /// When the container was created.
    pub created_at: Millis,
    /// When it last started, if known.
    pub started_at: Option<Millis>,
    /// Whether it receives traffic: running and passing its readiness probe, or running without one. The runtime
    /// adapter cannot know this and reports `false`; the engine fills it from its probe state before reconciling.
    /// Rolling updates remove an old instance only once its replacement is ready.
    pub ready: bool,
    /// A paused standby kept for the slot (`heal.standby`), named `<app>-<index>-s<revision>`: not an instance
    /// (it serves nothing) until a death promotes it. The engine keeps standbys out of every view of instances.
    pub standby: bool,
}

/// Crash history of one instance slot (app + index), used for CrashLoop-style backoff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestartHistory {
    /// Consecutive crashes without a stable run in between.
    pub consecutive_crashes: u32,
    /// When the last crash was noticed.
    pub last_crash_at: Option<Millis>,
}

/// Restart histories keyed by (app, index).
pub type RestartHistories = BTreeMap<(String, u32), RestartHistory>;

/// Failed attempts to start one instance slot (app + index): the error policy of starts. A start that keeps failing
/// (image gone, port taken, name held by a foreign container) is retried with a growing delay instead of every pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartFailure {
    /// Consecutive failed starts.
    pub attempts: u32,
    /// When the last one failed.
    pub last_at: Millis,
    /// What the runtime said, the last time.
    pub message: String,
}

/// Start failures keyed by (app, index).
pub type StartFailures = BTreeMap<(String, u32), StartFailure>;
