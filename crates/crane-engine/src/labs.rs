//! Preset labs in the engine: listing the shipped ones, loading one (creating its resources with progress and
//! recording exactly what was created and replaced), evaluating its checks live against the engine's state, and
//! resetting it (removing what it created, restoring what it replaced, nothing else). Also multi-document applies,
//! which labs use for their spec files.
//!
//! The format and the checks are pure (`crane_core::lab`); this module reads folders and archives (bounded), gathers
//! the snapshot the checks are decided from, and carries out loads and resets through the same `EngineHandle`
//! methods every door uses, so each creation is authorized, admitted by the policies and audited as the caller's.
//!
//! One lab is loaded at a time: a classroom runs one exercise, and two labs could not both restore the policy they
//! replaced.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Weak};

use crane_api::{
    ApplyAllResult, AuditAction, ChangeView, EventKind, LabCheckKind, LabCheckView, LabCreatedView, LabLevel,
    LabOrigin, LabResetView, LabSource, LabStepView, LabSummaryView, LabView, PolicyUpdate, ProgressView,
};
use crane_core::lab::{self, check, Check, Lab, LabFiles};
use crane_core::ports::StoredLab;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::clock::LockExt;
use crate::error::wire_diagnostic;
use crate::policies::{core_name, wire_name};
use crate::{internal, EngineError, EngineHandle, Inner, Permission, Result};

/// Most events read to decide `event`, `rollback` and `policy_denied` checks (the newest since the lab was loaded).
const EVENTS_READ: u32 = 5_000;
/// Deepest folder nesting read from a lab's folder.
const MAX_DEPTH: usize = 8;

/// The engine's lab state: the loaded lab (also in the store), and the lock that keeps loads and resets apart.
#[derive(Default)]
pub(crate) struct Labs {
    /// Held for a whole load, reset or evaluation, so they never interleave.
    pub work: tokio::sync::Mutex<()>,
    /// The evaluation task.
    pub task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the engine remembers of a loaded lab (stored as JSON in the `labs` table).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    /// Shipped or loaded.
    shipped: bool,
    /// The lab's files as loaded.
    files: BTreeMap<String, String>,
    /// Apps the lab created, in order.
    apps: Vec<String>,
    /// Policies it replaced, with what was in force before (`None`: the shipped policy).
    policies: Vec<PolicyBefore>,
    /// The alert rules before the lab replaced them; `None` when it did not replace them.
    alert_rules_before: Option<RulesBefore>,
    /// The app of the load run it started.
    load: Option<String>,
    /// Events with a larger id happened while the lab was loaded.
    first_event: i64,
    /// Steps done so far.
    steps_done: Vec<bool>,
    /// Who loaded it.
    loaded_by: String,
}

/// The alert rules in force before a lab replaced them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RulesBefore {
    /// Crane's shipped rules.
    Shipped,
    /// A rule file someone saved.
    Saved(String),
}

/// A policy a lab replaced and what it was before.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PolicyBefore {
    name: crane_api::PolicyName,
    /// The edit in force before (Rego, data), or `None` when the shipped policy ran.
    before: Option<(String, serde_json::Value)>,
}

impl Record {
    fn lab_files(&self) -> LabFiles {
        let mut files = LabFiles::new();
        for (path, text) in &self.files {
            // The files were within bounds when loaded; a damaged row shows up as a parse error below.
            let _ = files.insert(path, text.as_bytes().to_vec());
        }
        files
    }
}

fn event_kinds() -> Vec<&'static str> {
    EventKind::ALL.iter().map(|k| k.as_str()).collect()
}

/// Parses a lab's files with the engine's event kinds.
fn parse(files: &LabFiles) -> Result<Lab> {
    let kinds = event_kinds();
    lab::parse(files, &lab::Context { event_kinds: &kinds })
        .map_err(|d| EngineError::InvalidLab(d.into_iter().map(wire_diagnostic).collect()))
}

fn level(level: lab::Level) -> LabLevel {
    match level {
        lab::Level::Beginner => LabLevel::Beginner,
        lab::Level::Intermediate => LabLevel::Intermediate,
        lab::Level::Advanced => LabLevel::Advanced,
    }
}

fn check_kind(check: &Check) -> LabCheckKind {
    match check {
        Check::AppReady { .. } => LabCheckKind::AppReady,
        Check::ReplicasAtLeast { .. } => LabCheckKind::ReplicasAtLeast,
        Check::ReplicasAtMost { .. } => LabCheckKind::ReplicasAtMost,
        Check::RevisionAtLeast { .. } => LabCheckKind::RevisionAtLeast,
        Check::AppPresent { .. } => LabCheckKind::AppPresent,
        Check::AppAbsent { .. } => LabCheckKind::AppAbsent,
        Check::Event { .. } => LabCheckKind::Event,
        Check::AlertFired { .. } => LabCheckKind::AlertFired,
        Check::AlertFiring { .. } => LabCheckKind::AlertFiring,
        Check::Rollback { .. } => LabCheckKind::Rollback,
        Check::PolicyDenied { .. } => LabCheckKind::PolicyDenied,
    }
}

/// Reads a lab's folder: regular files only (a link is refused, so nothing outside the folder is read), within the
/// lab's bounds, on a blocking thread.
async fn read_folder(path: &Path) -> Result<LabFiles> {
    let root = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut files = LabFiles::new();
        let mut problems = Vec::new();
        let mut stack = vec![(root.clone(), 0usize)];
        let meta = std::fs::symlink_metadata(&root)
            .map_err(|e| EngineError::BadRequest(format!("cannot read the lab folder {}: {e}", root.display())))?;
        if !meta.is_dir() {
            return Err(EngineError::BadRequest(format!(
                "{} is not a folder; load a lab's folder (the one holding lab.yaml) or its archive",
                root.display()
            )));
        }
        while let Some((dir, depth)) = stack.pop() {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| EngineError::BadRequest(format!("cannot read {}: {e}", dir.display())))?;
            for entry in entries {
                let entry =
                    entry.map_err(|e| EngineError::BadRequest(format!("cannot read {}: {e}", dir.display())))?;
                let full = entry.path();
                let relative = full.strip_prefix(&root).unwrap_or(&full).to_string_lossy().replace('\\', "/");
                let meta = std::fs::symlink_metadata(&full)
                    .map_err(|e| EngineError::BadRequest(format!("cannot read {}: {e}", full.display())))?;
                let refuse = |message: &str, fix: &str| {
                    wire_diagnostic(crane_core::Diagnostic::new(0, 0, "", message, fix).in_file(relative.clone()))
                };
                if meta.file_type().is_symlink() {
                    problems.push(refuse(
                        "a lab may not hold links (they could point outside it)",
                        "replace the link with a copy of the file",
                    ));
                } else if meta.is_dir() {
                    if depth + 1 > MAX_DEPTH {
                        problems.push(refuse("the folder is nested too deeply", "keep a lab's folders shallow"));
                    } else {
                        stack.push((full, depth + 1));
                    }
                } else if meta.is_file() {
                    if meta.len() > lab::MAX_FILE_BYTES as u64 {
                        problems.push(refuse(
                            &format!(
                                "the file is {} bytes; a lab file may be at most {} bytes",
                                meta.len(),
                                lab::MAX_FILE_BYTES
                            ),
                            "remove what the lab does not need",
                        ));
                        continue;
                    }
                    let bytes = std::fs::read(&full)
                        .map_err(|e| EngineError::BadRequest(format!("cannot read {}: {e}", full.display())))?;
                    if let Err(d) = files.insert(&relative, bytes) {
                        problems.push(wire_diagnostic(d));
                    }
                } else {
                    problems.push(refuse("only files and folders are accepted in a lab", "remove it"));
                }
                if problems.len() > 20 {
                    break;
                }
            }
        }
        if problems.is_empty() {
            Ok(files)
        } else {
            Err(EngineError::InvalidLab(problems))
        }
    })
    .await
    .map_err(|e| EngineError::Internal(format!("reading the lab folder failed: {e}")))?
}

/// Reads a lab archive's bytes (tar or tar.gz) on a blocking thread.
async fn read_archive(bytes: Vec<u8>) -> Result<LabFiles> {
    tokio::task::spawn_blocking(move || lab::archive::read(&bytes))
        .await
        .map_err(|e| EngineError::Internal(format!("reading the lab archive failed: {e}")))?
        .map_err(|d| EngineError::InvalidLab(d.into_iter().map(wire_diagnostic).collect()))
}

/// Reads a lab archive from a file, at most the archive cap.
async fn read_archive_file(path: &Path) -> Result<LabFiles> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| EngineError::BadRequest(format!("cannot open the lab archive {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(lab::archive::MAX_ARCHIVE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| EngineError::BadRequest(format!("cannot read the lab archive {}: {e}", path.display())))?;
    read_archive(bytes).await
}

impl EngineHandle {
    /// Applies every app of a multi-document YAML file (`---` separated), in order. Every document is validated
    /// first, each with its own problems (document number, line and column of the file); if any is invalid,
    /// nothing is applied. Each app then goes through [`EngineHandle::apply`] (roles, policies, audit); when one
    /// fails, the apps this call created before it are removed again, so a failed file creates nothing.
    pub async fn apply_all(&self, yaml: &str, create_only: bool) -> Result<ApplyAllResult> {
        self.authorize(Permission::ManageApp, None).await?;
        let floor = self.safety_floor().await?;
        let source = yaml.to_string();
        let parsed = tokio::task::spawn_blocking(move || {
            crane_core::validate::parse_specs_with(&source, &floor)
                .map(|specs| (specs, crane_core::validate::split_documents(&source)))
        })
        .await
        .map_err(|e| EngineError::Internal(format!("parsing the file failed: {e}")))?;
        let (specs, documents) =
            parsed.map_err(|d| EngineError::InvalidSpec(d.into_iter().map(wire_diagnostic).collect()))?;
        if create_only {
            let mut taken = Vec::new();
            for spec in &specs {
                if self.inner.store.get_app(&spec.name).await.map_err(internal)?.is_some() {
                    taken.push(spec.name.clone());
                }
            }
            if !taken.is_empty() {
                return Err(EngineError::Conflict(format!(
                    "app{} {} already exist{}; nothing was created. Choose other names, or use `cranectl apply` to \
                     change them",
                    if taken.len() == 1 { "" } else { "s" },
                    taken.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", "),
                    if taken.len() == 1 { "s" } else { "" }
                )));
            }
        }
        let mut results = Vec::new();
        let mut created: Vec<String> = Vec::new();
        for (doc, spec) in documents.iter().zip(&specs) {
            // The blanked `---` line is not part of what the user wrote for this app.
            let text = doc.text.strip_prefix("   \n").unwrap_or(&doc.text);
            match self.apply(text, create_only).await {
                Ok(result) => {
                    if result.action == crane_api::ApplyAction::Created {
                        created.push(spec.name.clone());
                    }
                    results.push(result);
                }
                Err(error) => {
                    for name in created.iter().rev() {
                        if let Err(e) = self.delete(name).await {
                            tracing::warn!(app = %name, %e, "cannot remove an app of a failed multi-app apply");
                        }
                    }
                    if documents.len() == 1 {
                        return Err(error);
                    }
                    let undone = if created.is_empty() {
                        String::new()
                    } else {
                        format!(" (removed again: {})", created.join(", "))
                    };
                    return match error {
                        EngineError::InvalidSpec(mut d) => {
                            d.iter_mut().for_each(|d| d.document = Some(doc.index));
                            Err(EngineError::InvalidSpec(d))
                        }
                        EngineError::PolicyDenied { policy, messages } => Err(EngineError::PolicyDenied {
                            policy,
                            messages: messages
                                .into_iter()
                                .map(|m| format!("document {} (app '{}'): {m}{undone}", doc.index, spec.name))
                                .collect(),
                        }),
                        other => {
                            Err(prefixed(other, &format!("document {} (app '{}'): ", doc.index, spec.name), &undone))
                        }
                    };
                }
            }
        }
        Ok(ApplyAllResult { results })
    }

    /// The shipped labs and the loaded one (open to every role).
    pub async fn lab_list(&self) -> Result<Vec<LabSummaryView>> {
        self.authorize(Permission::ReadAll, None).await?;
        let loaded = self.loaded().await?;
        let mut out = Vec::new();
        for (_, files) in lab::shipped() {
            let lab = parse(&files)?;
            let is_loaded = loaded.as_ref().is_some_and(|(id, _)| *id == lab.id);
            out.push(summary(&lab, LabOrigin::Shipped, is_loaded));
        }
        if let Some((id, record)) = loaded.filter(|(_, r)| !r.shipped) {
            if let Ok(lab) = parse(&record.lab_files()) {
                out.push(summary(&lab, LabOrigin::Loaded, true));
            } else {
                tracing::warn!(lab = %id, "the stored lab no longer parses");
            }
        }
        Ok(out)
    }

    /// Loads a lab (admins: a lab sets policies and rules): checks it whole, then creates its resources in order
    /// (policies, alert rules, apps, load run), with progress as [`ChangeView::Progress`] (operation `lab:<id>`),
    /// recording each creation as it happens. A lab with any problem is refused with every problem and nothing is
    /// created; when a creation fails, what was created is removed again and what was replaced restored. Audited
    /// (`lab.load`); a `lab.loaded` event.
    pub async fn lab_load(&self, source: &LabSource) -> Result<LabView> {
        let target = match source {
            LabSource::Shipped { id } => id.clone(),
            LabSource::Folder { path } | LabSource::Archive { path } => path.clone(),
        };
        self.audited(AuditAction::LabLoad, None, Some(&target), async {
            self.authorize(Permission::ManageSettings, None).await?;
            let (files, shipped) = match source {
                LabSource::Shipped { id } => {
                    let files =
                        lab::shipped().into_iter().find(|(dir, _)| *dir == id.as_str()).map(|(_, f)| f).ok_or_else(
                            || {
                                let ids: Vec<&str> = lab::shipped().iter().map(|(d, _)| *d).collect();
                                EngineError::Missing(format!(
                                    "no shipped lab '{id}'; the shipped labs are: {}",
                                    ids.join(", ")
                                ))
                            },
                        )?;
                    (files, true)
                }
                LabSource::Folder { path } => (read_folder(Path::new(path)).await?, false),
                LabSource::Archive { path } => (read_archive_file(Path::new(path)).await?, false),
            };
            self.load_files(files, shipped).await
        })
        .await
    }

    /// Loads a lab sent as a tar or tar.gz archive (the REST door and `cranectl lab load PATH`). As
    /// [`EngineHandle::lab_load`].
    pub async fn lab_load_archive(&self, bytes: Vec<u8>) -> Result<LabView> {
        self.audited(AuditAction::LabLoad, None, Some("archive"), async {
            self.authorize(Permission::ManageSettings, None).await?;
            let files = read_archive(bytes).await?;
            self.load_files(files, false).await
        })
        .await
    }

    async fn load_files(&self, files: LabFiles, shipped: bool) -> Result<LabView> {
        let lab = parse(&files)?;
        let _work = self.inner.labs.work.lock().await;
        if let Some((id, _)) = self.loaded().await? {
            return Err(EngineError::Conflict(format!(
                "lab '{id}' is loaded; reset it first (`cranectl lab reset {id}`), then load '{}'",
                lab.id
            )));
        }
        // Everything that can be checked before a change is checked first, so a lab that cannot load changes nothing.
        let mut taken = Vec::new();
        for name in lab.app_names() {
            if self.inner.store.get_app(&name).await.map_err(internal)?.is_some() {
                taken.push(name);
            }
        }
        if !taken.is_empty() {
            return Err(EngineError::Conflict(format!(
                "lab '{}' creates app{} {} that already exist{}; delete {} or load the lab on another engine",
                lab.id,
                if taken.len() == 1 { "" } else { "s" },
                taken.join(", "),
                if taken.len() == 1 { "s" } else { "" },
                if taken.len() == 1 { "it" } else { "them" }
            )));
        }
        for policy in &lab.resources.policies {
            let update = PolicyUpdate { rego: policy.rego.clone(), data: policy.data.clone() };
            let validation = self.validate_policy(wire_name(policy.name), update).await?;
            if !validation.valid {
                let file = policy.rego_file.clone().or_else(|| policy.data_file.clone());
                let diagnostics = validation
                    .diagnostics
                    .into_iter()
                    .map(|mut d| {
                        d.message = format!("the lab's {} policy: {}", policy.name, d.message);
                        d.file = d.file.or_else(|| file.clone());
                        d
                    })
                    .collect();
                return Err(EngineError::InvalidLab(diagnostics));
            }
        }
        let first_event =
            self.inner.store.list_events(None, 1, None).await.map_err(internal)?.first().map_or(0, |e| e.id);
        let mut record = Record {
            shipped,
            files: files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect(),
            apps: Vec::new(),
            policies: Vec::new(),
            alert_rules_before: None,
            load: None,
            first_event,
            steps_done: vec![false; lab.steps.len()],
            loaded_by: self.caller().user.clone(),
        };
        let loaded_at = self.inner.now();
        // Stored before the first change, and after each: a crash in the middle still leaves a record the reset uses.
        self.save(&lab.id, &record, loaded_at).await?;
        let total = (lab.resources.policies.len()
            + usize::from(lab.resources.alerts.is_some())
            + lab.resources.apps.len()
            + usize::from(lab.resources.load.is_some()))
        .max(1);
        let mut step = 0usize;
        let outcome: Result<()> = async {
            for policy in &lab.resources.policies {
                self.lab_progress(&lab.id, &format!("setting the {} policy", policy.name), step, total);
                let current = self.get_policy(wire_name(policy.name)).await?;
                let before = (!current.shipped).then(|| (current.rego.clone(), current.data.clone()));
                record.policies.push(PolicyBefore { name: wire_name(policy.name), before });
                self.save(&lab.id, &record, loaded_at).await?;
                let update = PolicyUpdate { rego: policy.rego.clone(), data: policy.data.clone() };
                self.set_policy(wire_name(policy.name), update).await?;
                step += 1;
            }
            if let Some(rules) = &lab.resources.alerts {
                self.lab_progress(&lab.id, "installing the lab's alert rules", step, total);
                let current = self.alert_rules().await?;
                record.alert_rules_before =
                    Some(if current.is_default { RulesBefore::Shipped } else { RulesBefore::Saved(current.yaml) });
                self.save(&lab.id, &record, loaded_at).await?;
                self.set_alert_rules(rules).await?;
                step += 1;
            }
            for apps in &lab.resources.apps {
                self.lab_progress(&lab.id, &format!("creating {}", apps.names.join(", ")), step, total);
                // Recorded before they exist: a reset removes only those that do.
                record.apps.extend(apps.names.iter().cloned());
                self.save(&lab.id, &record, loaded_at).await?;
                self.apply_all(&apps.yaml, true).await?;
                step += 1;
            }
            if let Some(load) = &lab.resources.load {
                self.lab_progress(&lab.id, &format!("starting the load run against {}", load.app), step, total);
                let request = crane_api::LoadRequest {
                    rate: load.rate,
                    duration_s: load.duration.as_millis() as f64 / 1000.0,
                    ramp_to: load.ramp_to,
                    concurrency: None,
                    path: load.path.clone(),
                };
                record.load = Some(load.app.clone());
                self.save(&lab.id, &record, loaded_at).await?;
                self.start_load(&load.app, &request).await?;
            }
            Ok(())
        }
        .await;
        if let Err(error) = outcome {
            let undo = self.undo(&lab.id, &record).await;
            let message = match &undo {
                Ok(_) => "nothing of it is left".to_string(),
                Err(e) => format!("undoing it failed too: {e}"),
            };
            self.finish_lab_progress(&lab.id, Some(format!("{error}; {message}")));
            if undo.is_ok() {
                self.inner.store.delete_lab(&lab.id).await.map_err(internal)?;
            }
            return Err(error);
        }
        self.finish_lab_progress(&lab.id, None);
        self.record(
            None,
            None,
            EventKind::LabLoaded,
            format!(
                "lab '{}' ({}) loaded by {}: {} step{}",
                lab.id,
                lab.title,
                self.caller().user,
                lab.steps.len(),
                if lab.steps.len() == 1 { "" } else { "s" }
            ),
            serde_json::json!({"lab": lab.id, "shipped": shipped, "created": created_json(&record), "user": self.caller().user,
                               "door": self.caller().door, "files": record.files.len()}),
        )
        .await;
        self.ensure_evaluator();
        let view = self.evaluate(&lab, &mut record, loaded_at).await?;
        Ok(view)
    }

    /// The loaded lab with each step's checks decided now (`id`, when given, must be the loaded lab's). Steps that
    /// become done are recorded (`lab.check_passed`).
    pub async fn lab_status(&self, id: Option<&str>) -> Result<LabView> {
        self.authorize(Permission::ReadAll, None).await?;
        let _work = self.inner.labs.work.lock().await;
        let (lab_id, mut record, loaded_at) = self.loaded_row(id).await?;
        let lab = parse(&record.lab_files())?;
        debug_assert_eq!(lab.id, lab_id);
        self.evaluate(&lab, &mut record, loaded_at).await
    }

    /// Resets the loaded lab (admins): stops its load run, removes the apps it created that still exist, restores
    /// the policies and alert rules it replaced to what they were, and forgets it. Nothing else is touched: apps
    /// the student created stay. Audited (`lab.reset`); a `lab.reset` event.
    pub async fn lab_reset(&self, id: Option<&str>) -> Result<LabResetView> {
        self.audited(AuditAction::LabReset, None, id, async {
            self.authorize(Permission::ManageSettings, None).await?;
            let _work = self.inner.labs.work.lock().await;
            let (lab_id, record, _) = self.loaded_row(id).await?;
            let view = self.undo(&lab_id, &record).await?;
            self.inner.store.delete_lab(&lab_id).await.map_err(internal)?;
            self.record(
                None,
                None,
                EventKind::LabReset,
                format!("lab '{lab_id}' reset by {}: {}", self.caller().user, view.message),
                serde_json::json!({"lab": lab_id, "removedApps": view.removed_apps, "restoredPolicies": view.restored_policies,
                                   "alertRulesRestored": view.alert_rules_restored, "loadStopped": view.load_stopped,
                                   "user": self.caller().user, "door": self.caller().door}),
            )
            .await;
            Ok(view)
        })
        .await
    }

    /// Removes what a lab created and restores what it replaced, newest first. Every part is tried; the first
    /// failure is returned after the rest was done.
    async fn undo(&self, id: &str, record: &Record) -> Result<LabResetView> {
        let mut first_error = None;
        let mut load_stopped = false;
        if let Some(app) = &record.load {
            if self.inner.loads.view(app).is_some_and(|v| v.running) {
                load_stopped = self.stop_load(app).await.is_ok();
            }
        }
        let mut removed_apps = Vec::new();
        for app in record.apps.iter().rev() {
            match self.delete(app).await {
                Ok(()) => removed_apps.push(app.clone()),
                Err(EngineError::NotFound(_)) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        removed_apps.reverse();
        let mut alert_rules_restored = false;
        if let Some(before) = &record.alert_rules_before {
            let restored = match before {
                RulesBefore::Shipped => self.reset_alert_rules().await,
                RulesBefore::Saved(yaml) => self.set_alert_rules(yaml).await,
            };
            match restored {
                Ok(_) => alert_rules_restored = true,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let mut restored_policies = Vec::new();
        for policy in record.policies.iter().rev() {
            let restored = match &policy.before {
                None => self.reset_policy(policy.name).await,
                Some((rego, data)) => {
                    self.set_policy(policy.name, PolicyUpdate { rego: Some(rego.clone()), data: Some(data.clone()) })
                        .await
                }
            };
            match restored {
                Ok(_) => restored_policies.push(policy.name),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let mut parts = Vec::new();
        if !removed_apps.is_empty() {
            parts.push(format!("removed {}", removed_apps.join(", ")));
        }
        if !restored_policies.is_empty() {
            let names: Vec<&str> = restored_policies.iter().map(|p| core_name(*p).as_str()).collect();
            parts.push(format!(
                "restored the {} polic{}",
                names.join(" and "),
                if names.len() == 1 { "y" } else { "ies" }
            ));
        }
        if alert_rules_restored {
            parts.push("restored the alert rules".to_string());
        }
        if load_stopped {
            parts.push("stopped its load run".to_string());
        }
        let message = if parts.is_empty() { "nothing of it was left".to_string() } else { parts.join("; ") };
        Ok(LabResetView {
            id: id.to_string(),
            removed_apps,
            restored_policies,
            alert_rules_restored,
            load_stopped,
            message,
        })
    }

    /// The loaded lab's id and record, if one is loaded.
    async fn loaded(&self) -> Result<Option<(String, Record)>> {
        let rows = self.inner.store.list_labs().await.map_err(internal)?;
        let Some(row) = rows.into_iter().next() else { return Ok(None) };
        let record: Record = serde_json::from_str(&row.record)
            .map_err(|e| EngineError::Internal(format!("the stored record of lab '{}' cannot be read: {e}", row.id)))?;
        Ok(Some((row.id, record)))
    }

    async fn loaded_row(&self, id: Option<&str>) -> Result<(String, Record, u64)> {
        let rows = self.inner.store.list_labs().await.map_err(internal)?;
        let row = match (rows.into_iter().next(), id) {
            (None, _) => {
                return Err(EngineError::Missing(
                    "no lab is loaded; list the labs with `cranectl lab list` and load one with `cranectl lab load ID`"
                        .to_string(),
                ))
            }
            (Some(row), Some(id)) if row.id != id => {
                return Err(EngineError::Missing(format!("lab '{id}' is not loaded; the loaded lab is '{}'", row.id)))
            }
            (Some(row), _) => row,
        };
        let record: Record = serde_json::from_str(&row.record)
            .map_err(|e| EngineError::Internal(format!("the stored record of lab '{}' cannot be read: {e}", row.id)))?;
        Ok((row.id, record, row.loaded_at))
    }

    async fn save(&self, id: &str, record: &Record, loaded_at: u64) -> Result<()> {
        let text = serde_json::to_string(record).map_err(internal)?;
        self.inner.store.put_lab(&StoredLab { id: id.to_string(), record: text, loaded_at }).await.map_err(internal)
    }

    /// Decides every check against the engine's state now, records steps that became done, and gives the view.
    async fn evaluate(&self, lab: &Lab, record: &mut Record, loaded_at: u64) -> Result<LabView> {
        let snapshot = self.lab_snapshot(record.first_event).await?;
        let progress = check::progress(&lab.steps, &snapshot, &record.steps_done);
        let newly: Vec<usize> = progress.iter().enumerate().filter(|(_, p)| p.newly_done).map(|(i, _)| i).collect();
        if !newly.is_empty() {
            record.steps_done = progress.iter().map(|p| p.done).collect();
            self.save(&lab.id, record, loaded_at).await?;
            for i in newly {
                let step = &lab.steps[i];
                let checks: Vec<serde_json::Value> = step
                    .checks
                    .iter()
                    .zip(&progress[i].checks)
                    .map(|(c, o)| serde_json::json!({"kind": c.kind(), "check": c.describe(), "observed": o.observed}))
                    .collect();
                self.record(
                    None,
                    None,
                    EventKind::LabCheckPassed,
                    format!("lab '{}': step {} ({}) is done: every check held", lab.id, i + 1, step.title),
                    serde_json::json!({"lab": lab.id, "step": i + 1, "title": step.title, "checks": checks}),
                )
                .await;
            }
        }
        let steps: Vec<LabStepView> = lab
            .steps
            .iter()
            .zip(&progress)
            .enumerate()
            .map(|(i, (step, p))| LabStepView {
                number: i as u32 + 1,
                title: step.title.clone(),
                markdown: step.markdown.clone(),
                hint: step.hint.clone(),
                done: p.done,
                passed_now: p.passed_now,
                checks: step
                    .checks
                    .iter()
                    .zip(&p.checks)
                    .map(|(c, o)| LabCheckView {
                        kind: check_kind(c),
                        description: c.describe(),
                        app: c.app().map(str::to_string),
                        passed: o.passed,
                        observed: o.observed.clone(),
                    })
                    .collect(),
            })
            .collect();
        Ok(LabView {
            id: lab.id.clone(),
            title: lab.title.clone(),
            summary: lab.summary.clone(),
            level: level(lab.level),
            origin: if record.shipped { LabOrigin::Shipped } else { LabOrigin::Loaded },
            loaded_at: crate::views::rfc3339(loaded_at),
            loaded_by: record.loaded_by.clone(),
            done: steps.iter().filter(|s| s.done).count() as u32,
            steps,
            created: created_view(record),
        })
    }

    /// What the checks see: apps now, events and alerts since the lab was loaded.
    async fn lab_snapshot(&self, first_event: i64) -> Result<check::Snapshot> {
        let apps = self
            .list_apps()
            .await?
            .into_iter()
            .map(|a| check::AppFact {
                name: a.name,
                desired: a.replicas,
                ready: a.ready,
                revision: u64::from(a.revision),
            })
            .collect();
        let mut rows = self.inner.store.list_events(None, EVENTS_READ, None).await.map_err(internal)?;
        rows.retain(|e| e.id > first_event);
        rows.reverse();
        let fired = rows
            .iter()
            .filter(|e| e.kind == EventKind::AlertFiring.as_str())
            .map(|e| check::AlertFact {
                rule: e.details.get("rule").and_then(|r| r.as_str()).unwrap_or_default().to_string(),
                app: e.app.clone(),
            })
            .collect();
        let events = rows.into_iter().map(|e| check::EventFact { kind: e.kind, app: e.app }).collect();
        let firing = self
            .active_alerts()
            .await?
            .into_iter()
            .filter(|a| a.state == crane_api::AlertStateView::Firing)
            .map(|a| check::AlertFact { rule: a.rule, app: a.app })
            .collect();
        Ok(check::Snapshot { apps, events, firing, fired })
    }

    fn lab_progress(&self, id: &str, message: &str, step: usize, total: usize) {
        let _ = self.inner.changes.send(ChangeView::Progress {
            progress: ProgressView {
                operation: format!("lab:{id}"),
                message: message.to_string(),
                fraction: Some(step as f64 / total as f64),
                done: false,
                error: None,
            },
        });
    }

    fn finish_lab_progress(&self, id: &str, error: Option<String>) {
        let message = if error.is_some() { "the lab was not loaded" } else { "the lab is loaded" };
        let _ = self.inner.changes.send(ChangeView::Progress {
            progress: ProgressView {
                operation: format!("lab:{id}"),
                message: message.to_string(),
                fraction: Some(1.0),
                done: true,
                error,
            },
        });
    }

    /// Starts the task that decides the loaded lab's checks after engine changes (at most every 500 ms), so
    /// `lab.check_passed` is recorded when a step becomes done even when no door is asking.
    fn ensure_evaluator(&self) {
        let mut task = self.inner.labs.task.locked();
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let mut changes = self.inner.changes.subscribe();
        *task = Some(tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                // Everything that arrived meanwhile is covered by one evaluation.
                loop {
                    match changes.try_recv() {
                        Ok(_) | Err(TryRecvError::Lagged(_)) => continue,
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Closed) => return,
                    }
                }
                let Some(inner) = weak.upgrade() else { return };
                let handle = EngineHandle::engine_side(inner);
                match handle.lab_status(None).await {
                    Ok(_) => {}
                    // The lab was reset: the task ends until the next load starts it again.
                    Err(EngineError::Missing(_)) => return,
                    Err(e) => tracing::warn!(%e, "deciding the lab's checks failed"),
                }
            }
        }));
    }

    /// Starts the evaluator when a lab is loaded at engine start (the engine was restarted during a lab).
    pub(crate) async fn resume_lab(&self) {
        if matches!(self.loaded().await, Ok(Some(_))) {
            self.ensure_evaluator();
        }
    }
}

fn summary(lab: &Lab, origin: LabOrigin, loaded: bool) -> LabSummaryView {
    LabSummaryView {
        id: lab.id.clone(),
        title: lab.title.clone(),
        summary: lab.summary.clone(),
        level: level(lab.level),
        steps: lab.steps.len() as u32,
        origin,
        loaded,
    }
}

fn created_view(record: &Record) -> LabCreatedView {
    LabCreatedView {
        apps: record.apps.clone(),
        policies: record.policies.iter().map(|p| p.name).collect(),
        alert_rules: record.alert_rules_before.is_some(),
        load: record.load.clone(),
    }
}

fn created_json(record: &Record) -> serde_json::Value {
    serde_json::to_value(created_view(record)).unwrap_or(serde_json::Value::Null)
}

/// The same error with its message prefixed (which document failed) and suffixed (what was undone).
fn prefixed(error: EngineError, prefix: &str, suffix: &str) -> EngineError {
    let text = |m: String| format!("{prefix}{m}{suffix}");
    match error {
        EngineError::NotFound(m) => EngineError::NotFound(m),
        EngineError::Missing(m) => EngineError::Missing(text(m)),
        EngineError::Forbidden(m) => EngineError::Forbidden(text(m)),
        EngineError::Conflict(m) => EngineError::Conflict(text(m)),
        EngineError::Stale(m) => EngineError::Stale(text(m)),
        EngineError::BadRequest(m) => EngineError::BadRequest(text(m)),
        EngineError::ImageUnavailable(m) => EngineError::ImageUnavailable(text(m)),
        EngineError::PortInUse(m) => EngineError::PortInUse(text(m)),
        EngineError::DockerUnreachable(m) => EngineError::DockerUnreachable(text(m)),
        EngineError::PolicyFailed(m) => EngineError::PolicyFailed(text(m)),
        other => other,
    }
}
