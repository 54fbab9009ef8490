//! Wire types of preset labs (`/api/v1/labs…`, `cranectl lab …`, the window's Labs view). The format of a lab itself
//! is described in `docs/labs.md`.

use serde::{Deserialize, Serialize};
use specta::Type;
use utoipa::ToSchema;

use crate::PolicyName;

/// How hard a lab is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LabLevel {
    /// For people new to containers.
    Beginner,
    /// For people who have deployed an app before.
    Intermediate,
    /// For people who know the basics of orchestration.
    Advanced,
}

/// Where a listed lab comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LabOrigin {
    /// Shipped with Crane (`assets/labs/`); loaded by its id.
    Shipped,
    /// Loaded from a folder or an archive.
    Loaded,
}

/// One lab of `lab list`: the shipped ones and the one loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct LabSummaryView {
    /// Id (what `lab status ID`, `lab reset ID` and a shipped load take).
    pub id: String,
    /// Title.
    pub title: String,
    /// One or two sentences.
    pub summary: String,
    /// How hard it is.
    pub level: LabLevel,
    /// Number of steps.
    pub steps: u32,
    /// Where it comes from.
    pub origin: LabOrigin,
    /// Whether it is loaded now (its resources exist).
    pub loaded: bool,
}

/// What to load (Tauri `lab_load`). The REST door takes a shipped id as JSON or an archive as the body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LabSource {
    /// A shipped lab, by id.
    Shipped {
        /// The lab's id (`self-healing`).
        id: String,
    },
    /// A lab's folder on this machine (the one holding `lab.yaml`).
    Folder {
        /// Absolute path.
        path: String,
    },
    /// A tar or tar.gz archive of a lab's folder on this machine.
    Archive {
        /// Absolute path.
        path: String,
    },
}

/// Body of `POST /api/v1/labs` as JSON: a shipped lab by id. (An archive is sent as the body itself, with
/// `Content-Type: application/gzip` or `application/x-tar`.) Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabLoadRequest {
    /// The shipped lab's id.
    pub shipped: String,
}

/// The kind of a check, as the manifest writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LabCheckKind {
    /// At least `min` instances of an app are ready.
    AppReady,
    /// An app asks for at least `min` replicas.
    ReplicasAtLeast,
    /// An app asks for at most `max` replicas.
    ReplicasAtMost,
    /// An app's revision is at least `min`.
    RevisionAtLeast,
    /// An app exists.
    AppPresent,
    /// An app does not exist.
    AppAbsent,
    /// Events of a kind were recorded since the lab was loaded.
    Event,
    /// An alert fired since the lab was loaded.
    AlertFired,
    /// An alert is firing now.
    AlertFiring,
    /// An app was rolled back since the lab was loaded.
    Rollback,
    /// A policy refused a change since the lab was loaded.
    PolicyDenied,
}

/// One check of a step, decided now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct LabCheckView {
    /// Its kind.
    pub kind: LabCheckKind,
    /// What must hold ("app heal-web has at least 3 ready instances").
    pub description: String,
    /// The app it is about, if one.
    pub app: Option<String>,
    /// Whether it holds now.
    pub passed: bool,
    /// What was seen ("2 of 3 ready").
    pub observed: String,
}

/// One step of a loaded lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct LabStepView {
    /// 1-based number.
    pub number: u32,
    /// Title.
    pub title: String,
    /// Instructions, Markdown.
    pub markdown: String,
    /// A hint to show on demand.
    pub hint: Option<String>,
    /// Whether every check held at once, now or earlier (a done step stays done).
    pub done: bool,
    /// Whether every check holds now.
    pub passed_now: bool,
    /// Its checks, in order.
    pub checks: Vec<LabCheckView>,
}

/// What loading a lab created or changed, which its reset undoes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct LabCreatedView {
    /// Apps it created.
    pub apps: Vec<String>,
    /// Policies it set (restored by the reset to what they were).
    pub policies: Vec<PolicyName>,
    /// Whether it replaced the alert rules (restored by the reset).
    pub alert_rules: bool,
    /// The app its load run targets, if it started one.
    pub load: Option<String>,
}

/// A loaded lab and each step's checks, evaluated live against the engine's state (`lab status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct LabView {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// One or two sentences.
    pub summary: String,
    /// How hard it is.
    pub level: LabLevel,
    /// Where it comes from.
    pub origin: LabOrigin,
    /// When it was loaded, RFC 3339.
    pub loaded_at: String,
    /// Who loaded it.
    pub loaded_by: String,
    /// Steps done.
    pub done: u32,
    /// Its steps.
    pub steps: Vec<LabStepView>,
    /// What it created.
    pub created: LabCreatedView,
}

/// What a reset did (`lab reset`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct LabResetView {
    /// The lab.
    pub id: String,
    /// Apps removed (those the lab created that still existed).
    pub removed_apps: Vec<String>,
    /// Policies returned to what they were before the lab.
    pub restored_policies: Vec<PolicyName>,
    /// Whether the alert rules in force before the lab were restored.
    pub alert_rules_restored: bool,
    /// Whether a load run of the lab was stopped.
    pub load_stopped: bool,
    /// What was done, for people.
    pub message: String,
}
