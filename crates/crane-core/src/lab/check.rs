//! A lab's checks and how they are decided: a pure function of a [`Snapshot`] of Crane's state (apps with their
//! ready and desired counts, events and alerts since the lab was loaded).
//!
//! A step is done when all its checks hold at the same time; once done it stays done (a student who healed an app
//! keeps the tick when the app later changes), which [`progress`] decides from the steps already done.

use super::Step;

/// One check of a step. The manifest writes it as a mapping with one key, the kind (`app_ready: {app: web, min: 3}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The app has at least `min` ready instances (in its load balancer).
    AppReady {
        /// The app.
        app: String,
        /// Fewest ready instances.
        min: u32,
    },
    /// The app asks for at least `min` replicas (a scale, the autoscaler or an alert action raised it).
    ReplicasAtLeast {
        /// The app.
        app: String,
        /// Fewest desired replicas.
        min: u32,
    },
    /// The app asks for at most `max` replicas.
    ReplicasAtMost {
        /// The app.
        app: String,
        /// Most desired replicas.
        max: u32,
    },
    /// The app's current revision is at least `min` (an update rolled out, or a rollback made a new one).
    RevisionAtLeast {
        /// The app.
        app: String,
        /// Lowest revision.
        min: u32,
    },
    /// The app exists.
    AppPresent {
        /// The app.
        app: String,
    },
    /// The app does not exist (it was never created, was refused, or was deleted).
    AppAbsent {
        /// The app.
        app: String,
    },
    /// At least `count` events of `kind` (of `app`, when named) were recorded since the lab was loaded.
    Event {
        /// The event kind (`instance.died`).
        kind: String,
        /// Only events of this app.
        app: Option<String>,
        /// How many, at least.
        count: u32,
    },
    /// The alert rule fired (for `app`, when named) since the lab was loaded.
    AlertFired {
        /// The rule's alert name.
        rule: String,
        /// Only alerts whose `app` label is this.
        app: Option<String>,
    },
    /// The alert rule is firing now.
    AlertFiring {
        /// The rule's alert name.
        rule: String,
        /// Only alerts whose `app` label is this.
        app: Option<String>,
    },
    /// The app was rolled back since the lab was loaded: a failed rollout returned to the previous revision
    /// (`rollout.rolled_back`), or a person undid one (`rollout.undo`).
    Rollback {
        /// The app.
        app: String,
    },
    /// A policy refused a change (`policy.denied`) since the lab was loaded, of `app` when named.
    PolicyDenied {
        /// Only denials of this app.
        app: Option<String>,
    },
}

impl Check {
    /// The check's kind as the manifest writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            Check::AppReady { .. } => "app_ready",
            Check::ReplicasAtLeast { .. } => "replicas_at_least",
            Check::ReplicasAtMost { .. } => "replicas_at_most",
            Check::RevisionAtLeast { .. } => "revision_at_least",
            Check::AppPresent { .. } => "app_present",
            Check::AppAbsent { .. } => "app_absent",
            Check::Event { .. } => "event",
            Check::AlertFired { .. } => "alert_fired",
            Check::AlertFiring { .. } => "alert_firing",
            Check::Rollback { .. } => "rollback",
            Check::PolicyDenied { .. } => "policy_denied",
        }
    }

    /// The app the check is about, if one.
    pub fn app(&self) -> Option<&str> {
        match self {
            Check::AppReady { app, .. }
            | Check::ReplicasAtLeast { app, .. }
            | Check::ReplicasAtMost { app, .. }
            | Check::RevisionAtLeast { app, .. }
            | Check::AppPresent { app }
            | Check::AppAbsent { app }
            | Check::Rollback { app } => Some(app),
            Check::Event { app, .. }
            | Check::AlertFired { app, .. }
            | Check::AlertFiring { app, .. }
            | Check::PolicyDenied { app } => app.as_deref(),
        }
    }

    /// What must hold, as a sentence for the steps panel.
    pub fn describe(&self) -> String {
        let of = |app: &Option<String>| app.as_ref().map(|a| format!(" of app {a}")).unwrap_or_default();
        let for_app = |app: &Option<String>| app.as_ref().map(|a| format!(" for app {a}")).unwrap_or_default();
        match self {
            Check::AppReady { app, min } => format!("app {app} has at least {min} ready instance{}", plural(*min)),
            Check::ReplicasAtLeast { app, min } => format!("app {app} asks for at least {min} replica{}", plural(*min)),
            Check::ReplicasAtMost { app, max } => format!("app {app} asks for at most {max} replica{}", plural(*max)),
            Check::RevisionAtLeast { app, min } => format!("app {app} runs revision {min} or later"),
            Check::AppPresent { app } => format!("app {app} exists"),
            Check::AppAbsent { app } => format!("app {app} does not exist"),
            Check::Event { kind, app, count: 1 } => format!("`{kind}` was recorded{}", for_app(app)),
            Check::Event { kind, app, count } => format!("`{kind}` was recorded {count} times{}", for_app(app)),
            Check::AlertFired { rule, app } => format!("alert {rule} fired{}", for_app(app)),
            Check::AlertFiring { rule, app } => format!("alert {rule} is firing{}", for_app(app)),
            Check::Rollback { app } => format!("app {app} was rolled back"),
            Check::PolicyDenied { app } => format!("a policy refused a change{}", of(app)),
        }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// One app as the checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppFact {
    /// Name.
    pub name: String,
    /// Replicas asked for.
    pub desired: u32,
    /// Instances ready (in the load balancer).
    pub ready: u32,
    /// Current revision.
    pub revision: u64,
}

/// One event-log entry recorded since the lab was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFact {
    /// Its kind (`instance.died`).
    pub kind: String,
    /// Its app, if any.
    pub app: Option<String>,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertFact {
    /// The rule's alert name.
    pub rule: String,
    /// The alert's `app` label, if any.
    pub app: Option<String>,
}

/// What the checks are decided from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every app.
    pub apps: Vec<AppFact>,
    /// Events recorded since the lab was loaded, oldest first.
    pub events: Vec<EventFact>,
    /// Alerts firing now.
    pub firing: Vec<AlertFact>,
    /// Alerts that fired since the lab was loaded (firing now or resolved since).
    pub fired: Vec<AlertFact>,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// Whether it holds now.
    pub passed: bool,
    /// What was seen, for people ("2 of 3 ready", "no such app").
    pub observed: String,
}

fn matches_app(wanted: &Option<String>, app: &Option<String>) -> bool {
    wanted.is_none() || wanted == app
}

/// Decides one check.
pub fn evaluate(check: &Check, snapshot: &Snapshot) -> CheckOutcome {
    let app_of = |name: &str| snapshot.apps.iter().find(|a| a.name == name);
    let outcome = |passed: bool, observed: String| CheckOutcome { passed, observed };
    let count_events = |kinds: &[&str], app: &Option<String>| {
        snapshot.events.iter().filter(|e| kinds.contains(&e.kind.as_str()) && matches_app(app, &e.app)).count()
    };
    let missing = |app: &str| outcome(false, format!("app {app} does not exist"));
    match check {
        Check::AppReady { app, min } => match app_of(app) {
            Some(a) => outcome(a.ready >= *min, format!("{} of {} ready", a.ready, a.desired)),
            None => missing(app),
        },
        Check::ReplicasAtLeast { app, min } => match app_of(app) {
            Some(a) => outcome(a.desired >= *min, format!("{} replica{} asked for", a.desired, plural(a.desired))),
            None => missing(app),
        },
        Check::ReplicasAtMost { app, max } => match app_of(app) {
            Some(a) => outcome(a.desired <= *max, format!("{} replica{} asked for", a.desired, plural(a.desired))),
            None => missing(app),
        },
        Check::RevisionAtLeast { app, min } => match app_of(app) {
            Some(a) => outcome(a.revision >= u64::from(*min), format!("revision {}", a.revision)),
            None => missing(app),
        },
        Check::AppPresent { app } => match app_of(app) {
            Some(a) => outcome(true, format!("{} of {} ready", a.ready, a.desired)),
            None => missing(app),
        },
        Check::AppAbsent { app } => match app_of(app) {
            Some(_) => outcome(false, format!("app {app} exists")),
            None => outcome(true, format!("app {app} does not exist")),
        },
        Check::Event { kind, app, count } => {
            let seen = count_events(&[kind.as_str()], app);
            outcome(seen >= *count as usize, format!("{seen} recorded"))
        }
        Check::AlertFired { rule, app } => {
            let fired = snapshot.fired.iter().any(|a| &a.rule == rule && matches_app(app, &a.app));
            outcome(fired, if fired { "fired".to_string() } else { "not fired yet".to_string() })
        }
        Check::AlertFiring { rule, app } => {
            let firing = snapshot.firing.iter().any(|a| &a.rule == rule && matches_app(app, &a.app));
            outcome(firing, if firing { "firing".to_string() } else { "not firing".to_string() })
        }
        Check::Rollback { app } => {
            let seen = count_events(&["rollout.rolled_back", "rollout.undo"], &Some(app.clone()));
            outcome(seen > 0, format!("{seen} rollback{}", plural(seen as u32)))
        }
        Check::PolicyDenied { app } => {
            let seen = count_events(&["policy.denied"], app);
            outcome(seen > 0, format!("{seen} denial{}", plural(seen as u32)))
        }
    }
}

/// One step's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepProgress {
    /// Each check's outcome now, in the manifest's order.
    pub checks: Vec<CheckOutcome>,
    /// Whether every check holds now.
    pub passed_now: bool,
    /// Whether the step is done (it passed now or earlier).
    pub done: bool,
    /// Whether it became done with this evaluation (the engine records `lab.check_passed` for it).
    pub newly_done: bool,
}

/// Decides every step: `done[i]` says whether step `i` was done before (missing entries: not done).
pub fn progress(steps: &[Step], snapshot: &Snapshot, done: &[bool]) -> Vec<StepProgress> {
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let checks: Vec<CheckOutcome> = step.checks.iter().map(|c| evaluate(c, snapshot)).collect();
            let passed_now = !checks.is_empty() && checks.iter().all(|c| c.passed);
            let before = done.get(i).copied().unwrap_or(false);
            StepProgress { checks, passed_now, done: before || passed_now, newly_done: passed_now && !before }
        })
        .collect()
}
