//! The commands the window calls. Each is a thin wrapper over one [`crane_engine::EngineHandle`] method and
//! returns the `crane-api` wire types; errors are [`ApiError`]s with the engine's message and diagnostics.
//!
//! The generated bindings (`ui/bindings.js`) come from [`specta_builder`]; `bindings_are_fresh` below fails when
//! the committed file is stale (regenerate with `UPDATE_BINDINGS=1 cargo test -p crane-app bindings`).

use std::time::Duration;

use crane_api::{
    ApiError, AppView, ApplyResult, AuditView, ChangeView, ErrorCode, EventView, LoadRequest, LoadView, LogLineView,
    PolicyEvalRequest, PolicyEvalResult, PolicyName, PolicyTestReport, PolicyUpdate, PolicyValidation, PolicyView,
    RevisionView, Role, SettingsUpdate, SettingsView, StatusView, UserCreated, UserView,
};
use futures_util::StreamExt;
use tauri::ipc::Channel;
use tauri::State;

use crate::runtime::Running;

/// How long a non-following log read may take before the window gets what arrived so far.
const LOG_TAIL_TIMEOUT: Duration = Duration::from_secs(10);

/// Validates and applies a YAML spec: creates the app, or updates or scales an existing one.
#[tauri::command]
#[specta::specta]
pub async fn apply(state: State<'_, Running>, yaml: String) -> Result<ApplyResult, ApiError> {
    crane_engine::error::check_spec_size(&yaml).map_err(|e| e.to_api())?;
    state.engine_or_err()?.apply(&yaml, false).await.map_err(|e| e.to_api())
}

/// Creates a new app from a YAML spec; fails with `conflict` when an app of that name exists (the *New app* form).
#[tauri::command]
#[specta::specta]
pub async fn create(state: State<'_, Running>, yaml: String) -> Result<ApplyResult, ApiError> {
    crane_engine::error::check_spec_size(&yaml).map_err(|e| e.to_api())?;
    state.engine_or_err()?.apply(&yaml, true).await.map_err(|e| e.to_api())
}

/// All apps with their instances.
#[tauri::command]
#[specta::specta]
pub async fn list_apps(state: State<'_, Running>) -> Result<Vec<AppView>, ApiError> {
    state.engine_or_err()?.list_apps().await.map_err(|e| e.to_api())
}

/// One app with its instances.
#[tauri::command]
#[specta::specta]
pub async fn get_app(state: State<'_, Running>, name: String) -> Result<AppView, ApiError> {
    state.engine_or_err()?.get_app(&name).await.map_err(|e| e.to_api())
}

/// Changes an app's replica count.
#[tauri::command]
#[specta::specta]
pub async fn scale(state: State<'_, Running>, name: String, replicas: u32) -> Result<AppView, ApiError> {
    state.engine_or_err()?.scale(&name, replicas).await.map_err(|e| e.to_api())
}

/// Deletes an app and everything it owns.
#[tauri::command]
#[specta::specta]
pub async fn delete(state: State<'_, Running>, name: String) -> Result<(), ApiError> {
    state.engine_or_err()?.delete(&name).await.map_err(|e| e.to_api())
}

/// Revision history of an app, oldest first; `current` marks the revision it runs.
#[tauri::command]
#[specta::specta]
pub async fn rollout_history(state: State<'_, Running>, name: String) -> Result<Vec<RevisionView>, ApiError> {
    state.engine_or_err()?.rollout_history(&name).await.map_err(|e| e.to_api())
}

/// Rolls an app back to revision `to` (the previous one when null) with a rolling update.
#[tauri::command]
#[specta::specta]
pub async fn rollout_undo(state: State<'_, Running>, name: String, to: Option<u32>) -> Result<AppView, ApiError> {
    state.engine_or_err()?.rollout_undo(&name, to.map(u64::from)).await.map_err(|e| e.to_api())
}

/// Restarts an app: the same spec as a new revision, every instance replaced one at a time.
#[tauri::command]
#[specta::specta]
pub async fn rollout_restart(state: State<'_, Running>, name: String) -> Result<AppView, ApiError> {
    state.engine_or_err()?.rollout_restart(&name, None).await.map_err(|e| e.to_api())
}

/// An NGINX config (upstream of the ready instances + server on `127.0.0.1:listen`) for an app.
#[tauri::command]
#[specta::specta]
pub async fn export_nginx(state: State<'_, Running>, name: String, listen: u16) -> Result<String, ApiError> {
    if listen == 0 {
        // As the REST door answers: port 0 would make NGINX listen on a port nobody knows.
        let message = "listen must be a port from 1 to 65535, e.g. 8080".to_string();
        return Err(ApiError { code: ErrorCode::BadRequest, message, diagnostics: Vec::new() });
    }
    state.engine_or_err()?.export_nginx(&name, listen).await.map_err(|e| e.to_api())
}

/// One chart of an app as an SVG document drawn by Crane: `metric` is one of `cpu`, `memory`, `rps`, `latency`,
/// `errors`, `replicas`; `range` is `fit` (the app's age, 20 s..1 h), `5m`, `1h` or `24h`.
#[tauri::command]
#[specta::specta]
pub async fn chart(state: State<'_, Running>, name: String, metric: String, range: String) -> Result<String, ApiError> {
    state.engine_or_err()?.chart(&name, &metric, &range).await.map_err(|e| e.to_api())
}

/// Starts the built-in load generator against the app's load-balancer address; progress arrives as
/// `crane://change` `progress` changes with operation `load:<app>`.
#[tauri::command]
#[specta::specta]
pub async fn start_load(state: State<'_, Running>, name: String, request: LoadRequest) -> Result<LoadView, ApiError> {
    state.engine_or_err()?.start_load(&name, &request).await.map_err(|e| e.to_api())
}

/// Stops the app's load run and returns its view.
#[tauri::command]
#[specta::specta]
pub async fn stop_load(state: State<'_, Running>, name: String) -> Result<LoadView, ApiError> {
    state.engine_or_err()?.stop_load(&name).await.map_err(|e| e.to_api())
}

/// The app's load run (running, or the last one), if any.
#[tauri::command]
#[specta::specta]
pub async fn load_status(state: State<'_, Running>, name: String) -> Result<Option<LoadView>, ApiError> {
    state.engine_or_err()?.load_status(&name).await.map_err(|e| e.to_api())
}

/// Newest-first event log, of one app or all.
#[tauri::command]
#[specta::specta]
pub async fn events(state: State<'_, Running>, app: Option<String>, limit: u32) -> Result<Vec<EventView>, ApiError> {
    state.engine_or_err()?.events(app.as_deref(), limit).await.map_err(|e| e.to_api())
}

/// Engine status for the header: Docker reachability (with the reason when not), API URL, data directory.
#[tauri::command]
#[specta::specta]
pub async fn status(state: State<'_, Running>) -> Result<StatusView, ApiError> {
    Ok(state.engine_or_err()?.status().await)
}

/// The engine's settings (`allowUnsafe`, `hostPathAllow`).
#[tauri::command]
#[specta::specta]
pub async fn settings(state: State<'_, Running>) -> Result<SettingsView, ApiError> {
    state.engine_or_err()?.settings().await.map_err(|e| e.to_api())
}

/// Changes the settings `update` names (the window acts as the admin); each change is a `settings.changed` event.
#[tauri::command]
#[specta::specta]
pub async fn set_settings(state: State<'_, Running>, update: SettingsUpdate) -> Result<SettingsView, ApiError> {
    state.engine_or_err()?.set_settings(&update).await.map_err(|e| e.to_api())
}

/// Builds the demo image and returns its tag; progress arrives as `crane://change` `progress` changes.
#[tauri::command]
#[specta::specta]
pub async fn build_demo_image(state: State<'_, Running>) -> Result<String, ApiError> {
    state.engine_or_err()?.build_demo_image().await.map_err(|e| e.to_api())
}

/// Every user with their role and number of tokens (the window acts as the built-in admin).
#[tauri::command]
#[specta::specta]
pub async fn list_users(state: State<'_, Running>) -> Result<Vec<UserView>, ApiError> {
    state.engine_or_err()?.list_users().await.map_err(|e| e.to_api())
}

/// Adds a user with a role; the answer carries their first token, which is shown this once.
#[tauri::command]
#[specta::specta]
pub async fn create_user(state: State<'_, Running>, name: String, role: Role) -> Result<UserCreated, ApiError> {
    state.engine_or_err()?.create_user(&name, role).await.map_err(|e| e.to_api())
}

/// Removes a user and revokes their tokens; their apps stay.
#[tauri::command]
#[specta::specta]
pub async fn remove_user(state: State<'_, Running>, name: String) -> Result<(), ApiError> {
    state.engine_or_err()?.remove_user(&name).await.map_err(|e| e.to_api())
}

/// The audit log, newest first, optionally of one user and/or app.
#[tauri::command]
#[specta::specta]
pub async fn audit_log(
    state: State<'_, Running>,
    user: Option<String>,
    app: Option<String>,
    limit: u32,
) -> Result<Vec<AuditView>, ApiError> {
    state.engine_or_err()?.audit_log(user.as_deref(), app.as_deref(), limit).await.map_err(|e| e.to_api())
}

/// The alert rules in force: the rule file and each rule with its state.
#[tauri::command]
#[specta::specta]
pub async fn alert_rules(state: State<'_, Running>) -> Result<crane_api::AlertRulesView, ApiError> {
    state.engine_or_err()?.alert_rules().await.map_err(|e| e.to_api())
}

/// Checks a rule file without saving it: the number of rules, or `invalid_spec` with every diagnostic.
#[tauri::command]
#[specta::specta]
pub async fn validate_alert_rules(state: State<'_, Running>, yaml: String) -> Result<u32, ApiError> {
    state.engine_or_err()?.validate_alert_rules(&yaml).await.map_err(|e| e.to_api())
}

/// Replaces the alert rules; an invalid file is refused with every diagnostic and nothing is saved.
#[tauri::command]
#[specta::specta]
pub async fn set_alert_rules(state: State<'_, Running>, yaml: String) -> Result<crane_api::AlertRulesView, ApiError> {
    state.engine_or_err()?.set_alert_rules(&yaml).await.map_err(|e| e.to_api())
}

/// Returns to Crane's shipped alert rules.
#[tauri::command]
#[specta::specta]
pub async fn reset_alert_rules(state: State<'_, Running>) -> Result<crane_api::AlertRulesView, ApiError> {
    state.engine_or_err()?.reset_alert_rules().await.map_err(|e| e.to_api())
}

/// Pending and firing alerts, firing first.
#[tauri::command]
#[specta::specta]
pub async fn active_alerts(state: State<'_, Running>) -> Result<Vec<crane_api::AlertView>, ApiError> {
    state.engine_or_err()?.active_alerts().await.map_err(|e| e.to_api())
}

/// The latest alert transitions, newest first.
#[tauri::command]
#[specta::specta]
pub async fn alert_history(
    state: State<'_, Running>,
    limit: u32,
) -> Result<Vec<crane_api::AlertTransitionView>, ApiError> {
    state.engine_or_err()?.alert_history(limit).await.map_err(|e| e.to_api())
}

/// The REST API's bearer token, so the window can show it to paste into `cranectl` or curl.
#[tauri::command]
#[specta::specta]
pub fn api_token(state: State<'_, Running>) -> Result<String, ApiError> {
    state.api_token()
}

/// Replaces the REST API token (as `POST /api/v1/token/rotate` does): the old one stops working at once. The answer
/// names the file that holds the new token; the token itself is shown only by [`api_token`], on request.
#[tauri::command]
#[specta::specta]
pub async fn rotate_token(state: State<'_, Running>) -> Result<crane_api::TokenRotated, ApiError> {
    state.rotate_token().await
}

/// The Alertmanager webhook receiver: its URL and bearer token (admins). With `rotate`, the token is replaced first
/// (the old one is refused at once) and the answer has the new one.
#[tauri::command]
#[specta::specta]
pub async fn webhook_info(state: State<'_, Running>, rotate: bool) -> Result<crane_api::WebhookInfo, ApiError> {
    state.webhook_info(rotate).await
}

/// The last `tail` log lines of every instance of an app, merged chronologically (does not follow).
#[tauri::command]
#[specta::specta]
pub async fn logs_tail(state: State<'_, Running>, app: String, tail: u32) -> Result<Vec<LogLineView>, ApiError> {
    let stream = state.engine_or_err()?.logs(&app, false, Some(tail)).await.map_err(|e| e.to_api())?;
    // A non-following stream ends by itself; the timeout only guards the window against a stuck Docker engine.
    let mut lines = Vec::new();
    let collect = stream.for_each(|line| {
        lines.push(line);
        std::future::ready(())
    });
    let _ = tokio::time::timeout(LOG_TAIL_TIMEOUT, collect).await;
    Ok(lines)
}

/// Streams an app's logs (the last `tail` lines, then new ones) into `on_line` until [`logs_stop`] is called or the
/// window drops the channel. Returns the stream id for [`logs_stop`].
#[tauri::command]
#[specta::specta]
pub async fn logs_follow(
    state: State<'_, Running>,
    app: String,
    tail: u32,
    on_line: Channel<LogLineView>,
) -> Result<u32, ApiError> {
    let mut stream = state.engine_or_err()?.logs(&app, true, Some(tail)).await.map_err(|e| e.to_api())?;
    let task = tauri::async_runtime::spawn(async move {
        while let Some(line) = stream.next().await {
            if on_line.send(line).is_err() {
                break;
            }
        }
    });
    Ok(state.add_log_stream(task))
}

/// Stops a log stream started by [`logs_follow`].
#[tauri::command]
#[specta::specta]
pub fn logs_stop(state: State<'_, Running>, id: u32) {
    state.stop_log_stream(id);
}

/// The three policies as they run (admission, scaling, alerts).
#[tauri::command]
#[specta::specta]
pub async fn list_policies(state: State<'_, Running>) -> Result<Vec<PolicyView>, ApiError> {
    state.engine_or_err()?.list_policies().await.map_err(|e| e.to_api())
}

/// Checks a policy edit like saving does (compile, its own tests, the sample inputs), without saving it.
#[tauri::command]
#[specta::specta]
pub async fn validate_policy(
    state: State<'_, Running>,
    name: PolicyName,
    update: PolicyUpdate,
) -> Result<PolicyValidation, ApiError> {
    state.engine_or_err()?.validate_policy(name, update).await.map_err(|e| e.to_api())
}

/// Saves a policy edit; `invalid_policy` with each problem's line and column when it would break the running set.
#[tauri::command]
#[specta::specta]
pub async fn set_policy(
    state: State<'_, Running>,
    name: PolicyName,
    update: PolicyUpdate,
) -> Result<PolicyView, ApiError> {
    state.engine_or_err()?.set_policy(name, update).await.map_err(|e| e.to_api())
}

/// Returns a policy to the version Crane ships.
#[tauri::command]
#[specta::specta]
pub async fn reset_policy(state: State<'_, Running>, name: PolicyName) -> Result<PolicyView, ApiError> {
    state.engine_or_err()?.reset_policy(name).await.map_err(|e| e.to_api())
}

/// Evaluates a policy (or a draft of it) against an input document.
#[tauri::command]
#[specta::specta]
pub async fn eval_policy(
    state: State<'_, Running>,
    name: PolicyName,
    request: PolicyEvalRequest,
) -> Result<PolicyEvalResult, ApiError> {
    state.engine_or_err()?.eval_policy(name, request).await.map_err(|e| e.to_api())
}

/// Runs every policy's Rego unit tests.
#[tauri::command]
#[specta::specta]
pub async fn test_policies(state: State<'_, Running>) -> Result<PolicyTestReport, ApiError> {
    state.engine_or_err()?.test_policies().await.map_err(|e| e.to_api())
}

/// Checks a spec without applying it: diagnostics with line and column, whether the app exists and the image is
/// present, and the admission policy's answer (the wizard's live review).
#[tauri::command]
#[specta::specta]
pub async fn check_spec(state: State<'_, Running>, yaml: String) -> Result<crane_api::SpecCheckView, ApiError> {
    state.engine_or_err()?.check_spec(&yaml).await.map_err(|e| e.to_api())
}

/// Checks a file of specs (`---` separated) without applying it: every problem with the file's line, column and
/// document, and each app's preview as [`check_spec`] gives it (an imported multi-app file's review).
#[tauri::command]
#[specta::specta]
pub async fn check_file(state: State<'_, Running>, yaml: String) -> Result<crane_api::SpecFileCheckView, ApiError> {
    state.engine_or_err()?.check_file(&yaml).await.map_err(|e| e.to_api())
}

/// The tagged images of the Docker engine (the wizard's image list).
#[tauri::command]
#[specta::specta]
pub async fn list_images(state: State<'_, Running>) -> Result<Vec<crane_api::ImageView>, ApiError> {
    state.engine_or_err()?.images().await.map_err(|e| e.to_api())
}

/// Whether the demo image is present (the first-run checklist).
#[tauri::command]
#[specta::specta]
pub async fn demo_image(state: State<'_, Running>) -> Result<crane_api::DemoImageView, ApiError> {
    Ok(state.engine_or_err()?.demo_image().await)
}

/// Sends `count` requests (1..50) through the app's load balancer and says which instance answered each.
#[tauri::command]
#[specta::specta]
pub async fn send_requests(
    state: State<'_, Running>,
    name: String,
    count: u32,
    path: Option<String>,
) -> Result<crane_api::SendRequestsView, ApiError> {
    state.engine_or_err()?.send_requests(&name, count, path.as_deref()).await.map_err(|e| e.to_api())
}

/// The command set and the exported types, shared by the invoke handler and the bindings export.
pub fn specta_builder() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        .commands(tauri_specta::collect_commands![
            apply,
            create,
            list_apps,
            get_app,
            scale,
            delete,
            rollout_history,
            rollout_undo,
            rollout_restart,
            export_nginx,
            events,
            chart,
            start_load,
            stop_load,
            load_status,
            status,
            settings,
            set_settings,
            build_demo_image,
            api_token,
            webhook_info,
            list_users,
            create_user,
            remove_user,
            audit_log,
            rotate_token,
            alert_rules,
            validate_alert_rules,
            set_alert_rules,
            reset_alert_rules,
            active_alerts,
            alert_history,
            logs_tail,
            logs_follow,
            logs_stop,
            list_policies,
            validate_policy,
            set_policy,
            reset_policy,
            eval_policy,
            test_policies,
            check_spec,
            check_file,
            list_images,
            demo_image,
            send_requests,
            crate::scan_commands::start_scan,
            crate::scan_commands::scan_job,
            crate::scan_commands::cancel_scan,
            crate::scan_commands::cached_scan,
            crate::scan_commands::scan_sbom,
            crate::scan_commands::advisory_db_status,
            crate::scan_commands::import_advisories,
            crate::scan_commands::build_vulnerable_demo_image,
            crate::lab_commands::apply_all,
            crate::lab_commands::lab_list,
            crate::lab_commands::lab_load,
            crate::lab_commands::lab_status,
            crate::lab_commands::lab_reset,
            crate::experiment_commands::experiment_record,
            crate::experiment_commands::experiment_stop,
            crate::experiment_commands::experiment_list,
            crate::experiment_commands::experiment_get,
            crate::experiment_commands::experiment_delete,
            crate::experiment_commands::experiment_compare,
            crate::experiment_commands::experiment_overlay,
            crate::experiment_commands::experiment_export,
            crate::bench_marks::bench_mark,
        ])
        // The payload of the `crane://change` event, which the window listens to directly.
        .typ::<ChangeView>()
        // Commands throw the `ApiError` (code, message, diagnostics); the window catches it.
        .error_handling(tauri_specta::ErrorHandlingMode::Throw)
        .constant("CHANGE_EVENT", crate::runtime::CHANGE_EVENT)
        // The charts an app has, in the order the window shows them.
        .constant("CHART_METRICS", crane_engine::charts::METRICS)
        // The chart range that fits the time axis to the app's age.
        .constant("FIT_RANGE", crane_engine::charts::FIT_RANGE)
}

/// Removes the field comments that specta-typescript 0.0.13's JSDoc exporter nests inside `@typedef` comments.
///
/// A nested `/** … */` ends the enclosing comment early, which makes the whole file a syntax error in the browser.
/// Nothing is lost: the exporter repeats every field's documentation as an `@property … - text` line.
#[cfg(test)]
fn repair_nested_jsdoc(generated: &str) -> String {
    let mut out = String::with_capacity(generated.len());
    let mut skipping = false;
    for line in generated.split_inclusive('\n') {
        let body = line.trim_start();
        // Inside a block comment every line starts with `*`; a nested comment opens with `* /**`.
        let nested_open = body.strip_prefix('*').map(|rest| rest.trim_start().starts_with("/**")).unwrap_or(false);
        if skipping {
            if body.trim_end().ends_with("*/") {
                skipping = false;
            }
            continue;
        }
        if nested_open {
            let after_open = &body[body.find("/**").map_or(0, |i| i + 3)..];
            skipping = !after_open.contains("*/");
            continue;
        }
        out.push_str(line);
    }
    out
}

/// The bindings as the window loads them: tauri-specta's JSDoc export, repaired by [`repair_nested_jsdoc`].
#[cfg(test)]
fn generate_bindings() -> String {
    // One file per call: the tests that call this run in parallel.
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = std::env::temp_dir().join(format!("crane-bindings-{}-{call}.js", std::process::id()));
    specta_builder()
        .export(
            specta_typescript::JSDoc::default().header(
                "// Generated by `UPDATE_BINDINGS=1 cargo test -p crane-app bindings` from src-tauri/src/commands.rs \
                 and crates/crane-api. Do not edit.",
            ),
            &tmp,
        )
        .expect("bindings export");
    let generated = std::fs::read_to_string(&tmp).expect("read generated bindings");
    let _ = std::fs::remove_file(&tmp);
    repair_nested_jsdoc(&generated)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// The committed bindings must be what the current commands and wire types generate; the window loads the
    /// file as is (there is no build step), so a stale file is a broken window.
    #[test]
    fn bindings_are_fresh() {
        let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/bindings.js");
        let generated = super::generate_bindings();
        if std::env::var_os("UPDATE_BINDINGS").is_some_and(|v| v == "1") {
            std::fs::write(&committed, &generated).expect("write ui/bindings.js");
            return;
        }
        let current = std::fs::read_to_string(&committed).unwrap_or_default();
        assert!(
            current == generated,
            "ui/bindings.js is stale; regenerate it with `UPDATE_BINDINGS=1 cargo test -p crane-app bindings`"
        );
    }

    /// No block comment of the bindings contains another comment opener (its `*/` would end the outer one).
    #[test]
    fn bindings_have_no_nested_comments() {
        let js = super::generate_bindings();
        let mut rest = js.as_str();
        while let Some(start) = rest.find("/*") {
            let end = rest[start + 2..].find("*/").expect("unterminated comment") + start + 2;
            let comment = &rest[start + 2..end];
            assert!(!comment.contains("/*"), "nested comment in the bindings:\n{comment}");
            rest = &rest[end + 2..];
        }
    }

    #[test]
    fn repair_drops_nested_field_comments_only() {
        let input = "/**\n\t* @typedef {{\n\t*\t\t/**  One line. */\n\t*\t\ta: string,\n\t*\t\t/**\n\t*\t\t *  Two\n\t*\t\t *  lines.\n\t*\t\t */\n\t*\t\tb: string,\n\t* }} T\n\t*/\n\t/**\n\t *  Command doc.\n\t */\n";
        let expected = "/**\n\t* @typedef {{\n\t*\t\ta: string,\n\t*\t\tb: string,\n\t* }} T\n\t*/\n\t/**\n\t *  Command doc.\n\t */\n";
        assert_eq!(super::repair_nested_jsdoc(input), expected);
    }
}
