//! The route table and the handlers. Each handler's `#[utoipa::path]` is the one definition of its method, path,
//! parameters, bodies and answers: [`table`] lists the handlers (with `utoipa_axum::routes!`), and [`mount`] turns
//! that one list into both the axum router and the OpenAPI document, so the two cannot disagree.
//!
//! Handlers are thin: parse the request strictly (unknown JSON fields and query parameters are 400 with the accepted
//! names), call one [`EngineHandle`] method, and map its error with [`ApiFailure::from`]. Error answers are listed
//! bare in `responses` (`(status = 404)`); [`crate::openapi::document`] gives each the `ApiError` body and names the
//! codes of that status.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use crane_api::{
    AlertRulesRequest, AlertRulesView, AlertTransitionView, AlertView, AppView, ApplyRequest, ApplyResult, AuditView,
    ChangeView, CreateTokenRequest, CreateUserRequest, ErrorCode, EventView, IssuedToken, LoadRequest, LoadView,
    LogLineView, PolicyEvalRequest, PolicyEvalResult, PolicyTestReport, PolicyUpdate, PolicyValidation, PolicyView,
    RevisionView, ScaleRequest, SdTargetGroup, SettingsUpdate, SettingsView, StatusView, TokenRotated, TokenView,
    UndoRequest, UserCreated, UserView,
};
use crane_engine::{Caller, EngineHandle};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::error::ApiFailure;

mod experiments;
mod labs;
mod scan;
mod window;

pub use experiments::export_file_name;
pub use labs::{APPLY_ALL_BODY_LIMIT, LAB_BODY_LIMIT};

/// What every handler can reach.
/// The engine acting for the request's caller: the guard ([`crate::auth::guard`]) puts the caller it authenticated
/// in the request's extensions. A request without one (a public route) acts as an anonymous viewer.
pub(crate) struct Engine(pub EngineHandle);

impl axum::extract::FromRequestParts<AppState> for Engine {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Engine, Infallible> {
        let caller = parts.extensions.get::<Caller>().cloned().unwrap_or_else(|| Caller {
            user: "anonymous".to_string(),
            role: crane_api::Role::Viewer,
            door: crane_api::Door::Rest,
        });
        Ok(Engine(state.handle.as_caller(caller)))
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    /// The engine.
    pub handle: EngineHandle,
    /// The OpenAPI document as JSON, built once at start.
    pub openapi: Arc<serde_json::Value>,
    /// Becomes `true` when the server shuts down; endless streams (watch, followed logs) end then, so graceful
    /// shutdown does not wait for clients that never hang up.
    pub shutdown: watch::Receiver<bool>,
    /// The bearer token, for the hello proof and rotation.
    pub token: Arc<crate::Token>,
    /// The token Alertmanager sends to the webhook receiver.
    pub webhook: crate::WebhookAccess,
    /// The port the server listens on, part of the hello proof.
    pub port: u16,
}

impl AppState {
    /// Resolves when the server begins shutting down.
    fn shutdown_signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.clone();
        async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
        }
    }
}

/// Every route the server has: one entry per path, naming the handlers of that path (their `#[utoipa::path]` says
/// the method). [`mount`] mounts exactly these and documents exactly these.
pub(crate) fn table() -> Vec<UtoipaMethodRouter<AppState>> {
    vec![
        routes!(healthz),
        routes!(hello),
        routes!(rotate_token),
        routes!(openapi),
        routes!(status),
        routes!(get_settings, put_settings),
        // The spec's own cap (`MAX_SPEC_BYTES`) is checked by the engine with a diagnostic; this bounds what the
        // server buffers before that, with room for JSON escaping of a spec at the cap.
        routes!(list_apps, apply).layer(DefaultBodyLimit::max(APPLY_BODY_LIMIT)),
        routes!(get_app, delete_app),
        routes!(scale),
        routes!(logs),
        routes!(rollout_history),
        routes!(rollout_undo),
        routes!(rollout_restart),
        routes!(export_nginx, manage_nginx, unmanage_nginx),
        routes!(chart),
        routes!(start_load, load_status, stop_load),
        routes!(events),
        routes!(demo_image, demo_image_status),
        routes!(send_requests),
        routes!(sd_targets),
        routes!(metrics),
        routes!(watch),
        routes!(list_users, create_user),
        routes!(remove_user),
        routes!(list_tokens, create_token),
        routes!(revoke_token),
        routes!(audit),
        routes!(list_policies),
        routes!(get_policy, set_policy),
        routes!(reset_policy),
        routes!(validate_policy),
        routes!(eval_policy),
        routes!(test_policies),
        routes!(alert_rules, set_alert_rules).layer(DefaultBodyLimit::max(ALERT_RULES_BODY_LIMIT)),
        routes!(reset_alert_rules),
        routes!(export_alert_rules),
        routes!(active_alerts),
        routes!(alert_history),
        routes!(alertmanager_webhook).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)),
        routes!(webhook_info),
        routes!(scan::scan_image),
        routes!(scan::scan_sbom),
        routes!(scan::start_scan),
        routes!(scan::scan_job, scan::cancel_scan),
        routes!(scan::advisory_db),
        routes!(scan::import_advisories),
        routes!(scan::vulnerable_demo_image),
        routes!(rotate_webhook_token),
        routes!(labs::apply_all).layer(DefaultBodyLimit::max(APPLY_ALL_BODY_LIMIT)),
        routes!(labs::list_labs, labs::load_lab).layer(DefaultBodyLimit::max(LAB_BODY_LIMIT)),
        routes!(labs::lab_status),
        routes!(labs::reset_lab),
        routes!(experiments::list_experiments, experiments::record_experiment),
        routes!(experiments::compare_experiments),
        routes!(experiments::overlay_experiments),
        routes!(experiments::export_experiments),
        routes!(experiments::get_experiment, experiments::delete_experiment),
        routes!(experiments::stop_experiment),
        routes!(window::check_specs).layer(DefaultBodyLimit::max(APPLY_ALL_BODY_LIMIT)),
        routes!(window::list_images),
    ]
}

/// Largest body `POST /api/v1/alerts/webhook` reads: room for [`crane_engine::MAX_WEBHOOK_ALERTS`] alerts.
pub const WEBHOOK_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Largest body `PUT /api/v1/alerts/rules` reads: four times the largest rule file (JSON escaping).
pub const ALERT_RULES_BODY_LIMIT: usize = 4 * crane_core::alerts::MAX_RULE_FILE_BYTES;

/// Largest body `POST /api/v1/apps` reads: four times the largest spec (JSON escaping of a spec at the cap).
pub const APPLY_BODY_LIMIT: usize = 4 * crane_core::validate::MAX_SPEC_BYTES;

/// Largest body every other route reads: their JSON bodies are a few fields (the longest, a settings allow-list of
/// 32 paths, fits many times over).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The router of every route in [`table`] (with JSON answers for unknown paths and methods) and the paths part of
/// the OpenAPI document, from the same entries.
pub(crate) fn mount(table: Vec<UtoipaMethodRouter<AppState>>) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, document) = table
        .into_iter()
        .fold(OpenApiRouter::with_openapi(crate::openapi::base()), OpenApiRouter::routes)
        .split_for_parts();
    // The route layer of `POST /apps` runs inside this one, so its own limit wins there.
    let router = router
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT));
    (router, document)
}

/// Reads a request body: one above the route's `limit` is 413 `payload_too_large` naming the limit, one that broke
/// off is 400.
fn read_body(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiFailure> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiFailure::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "the request body is larger than {limit} bytes ({} KiB), the most this route reads",
                    limit / 1024
                ),
            )
        } else {
            ApiFailure::bad_request(format!("the request body could not be read: {}", rejection.body_text()))
        }
    })
}

/// The `{name}` segment of the app routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct AppPath {
    /// App name (lowercase letters, digits, '-').
    name: String,
}

/// The segments of `GET /apps/{name}/charts/{metric}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct ChartPath {
    /// App name (lowercase letters, digits, '-').
    name: String,
    /// One of cpu, memory, rps, latency, errors, replicas.
    metric: String,
}

/// Reads the path segments, or answers 400.
fn path<T>(segments: Result<Path<T>, PathRejection>) -> Result<T, ApiFailure> {
    segments.map(|Path(value)| value).map_err(|e| ApiFailure::bad_request(e.body_text()))
}

/// Media type of the Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";

async fn unknown_route(method: Method, uri: Uri) -> ApiFailure {
    ApiFailure::new(
        ErrorCode::NotFound,
        format!("no route {method} {}; the routes are listed in /api/v1/openapi.json", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiFailure {
    ApiFailure::new(
        ErrorCode::MethodNotAllowed,
        format!("{} does not accept {method}; the routes are listed in /api/v1/openapi.json", uri.path()),
    )
}

/// The answer of `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always true.
    pub ok: bool,
}

/// Liveness of the API server
///
/// Answers `{"ok": true}` without a token, for scripts that wait for the server.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    security(()),
    responses((status = 200, description = "The server is up.", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health { ok: true })
}

/// Query of `GET /api/v1/hello`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HelloQuery {
    /// A random nonce: 32 to 128 hex characters, new for every call.
    nonce: String,
    /// For a client holding a user token (`crane_<id>_…`): its id. The proof is then keyed with the SHA-256 (hex)
    /// of that token instead of the engine's own token.
    token_id: Option<String>,
}

/// The answer of `GET /api/v1/hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Hello {
    /// HMAC-SHA256 (hex) of `"crane-hello-v1\n<port>\n<nonce>"` keyed with the bearer token.
    pub proof: String,
}

/// Proof that this server owns the token
///
/// Served without a token. Answers HMAC-SHA256(token, "crane-hello-v1\n" + port + "\n" + nonce), so a client that
/// knows the token can check it reached its engine (and not a program that took the port of a crashed one) before
/// it sends the token. With `token_id`, the key is the SHA-256 (lowercase hex) of that user token, which only its
/// holder and this engine know; an unknown id is 401. The answer does not reveal the token.
#[utoipa::path(
    get,
    path = "/api/v1/hello",
    operation_id = "hello",
    security(()),
    params(HelloQuery),
    responses((status = 200, description = "The proof.", body = Hello), (status = 400), (status = 500))
)]
async fn hello(
    State(state): State<AppState>,
    query: Result<Query<HelloQuery>, QueryRejection>,
) -> Result<Json<Hello>, ApiFailure> {
    let Query(query) = query.map_err(query_error)?;
    if !crate::hello::nonce_ok(&query.nonce) {
        return Err(ApiFailure::bad_request(format!(
            "nonce must be {} to {} hex characters",
            crate::hello::MIN_NONCE_LEN,
            crate::hello::MAX_NONCE_LEN
        )));
    }
    let key = match &query.token_id {
        None => state.token.current(),
        Some(id) => {
            let known = if crate::hello::token_id_ok(id) { state.handle.hello_key(id).await? } else { None };
            known.ok_or_else(|| {
                ApiFailure::new(
                    ErrorCode::Unauthorized,
                    "this engine has no token with that id (revoked, or its user removed); ask an admin for a new one",
                )
            })?
        }
    };
    Ok(Json(Hello { proof: crate::hello::proof(&key, state.port, &query.nonce) }))
}

/// Replace the engine's bearer token
///
/// Writes a new random token to the token file and accepts only it from now on: the data directory's token sent with
/// this request stops working at once (user tokens are not affected). The new token is not in the answer; read it
/// from `token_file`. Admins only; audited.
#[utoipa::path(
    post,
    path = "/api/v1/token/rotate",
    operation_id = "rotateToken",
    responses((status = 200, description = "The token was replaced.", body = TokenRotated), (status = 500))
)]
async fn rotate_token(State(state): State<AppState>, Engine(engine): Engine) -> Result<Json<TokenRotated>, ApiFailure> {
    Ok(Json(state.token.rotate_for(&engine).await?))
}

/// This OpenAPI document
///
/// Served without a token.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi",
    security(()),
    responses((status = 200, description = "OpenAPI 3.1 document.", body = Object))
)]
async fn openapi(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json((*state.openapi).clone())
}

/// Engine status
///
/// Version, Docker reachability, API URL, data directory and number of apps.
#[utoipa::path(
    get,
    path = "/api/v1/status",
    operation_id = "getStatus",
    responses((status = 200, description = "Status.", body = StatusView))
)]
async fn status(Engine(engine): Engine) -> Json<StatusView> {
    Json(engine.status().await)
}

/// Example body of `PUT /api/v1/settings`, shown when the body is wrong.
const SETTINGS_EXAMPLE: &str = r#"{"allow_unsafe": false, "host_path_allow": ["/srv/data"]}"#;

/// The engine's settings
///
/// `allow_unsafe` (the safety floor off: privileged containers, any host path read-write, any capability) and
/// `host_path_allow` (host directories specs may bind-mount, read-only).
#[utoipa::path(
    get,
    path = "/api/v1/settings",
    operation_id = "getSettings",
    responses((status = 200, description = "The settings.", body = SettingsView), (status = 500))
)]
async fn get_settings(Engine(engine): Engine) -> Result<Json<SettingsView>, ApiFailure> {
    Ok(Json(engine.settings().await?))
}

/// Change engine settings (admin only)
///
/// Body: a `SettingsUpdate`, e.g. `{"allow_unsafe": true}` or `{"host_path_allow": ["/srv/data"]}`; a field left
/// out keeps its value, and the list replaces the whole allow-list. Every path must be absolute, in normal form, and
/// not `/`, a system directory or the data directory (400 `bad_request` naming each bad entry). Each change is a
/// `settings.changed` event. Answers all settings after the change.
#[utoipa::path(
    put,
    path = "/api/v1/settings",
    operation_id = "putSettings",
    request_body = SettingsUpdate,
    responses(
        (status = 200, description = "The settings after the change.", body = SettingsView),
        (status = 400), (status = 413), (status = 500),
    )
)]
async fn put_settings(
    Engine(engine): Engine,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SettingsView>, ApiFailure> {
    let body = read_body(body, DEFAULT_BODY_LIMIT)?;
    let update: SettingsUpdate = parse_json(media_type(&headers).as_deref(), &body, SETTINGS_EXAMPLE)?;
    Ok(Json(engine.set_settings(&update).await?))
}

/// List apps
///
/// Every app with its instances.
#[utoipa::path(
    get,
    path = "/api/v1/apps",
    operation_id = "listApps",
    responses((status = 200, description = "Apps.", body = Vec<AppView>), (status = 500))
)]
async fn list_apps(Engine(engine): Engine) -> Result<Json<Vec<AppView>>, ApiFailure> {
    Ok(Json(engine.list_apps().await?))
}

/// Apply a spec (create, update or scale an app)
///
/// Body: an `ApplyRequest` as JSON, or the YAML spec itself with `Content-Type: application/yaml` (or `text/yaml`;
/// create_only is then false). An invalid spec is 400 `invalid_spec` with one diagnostic per problem, each naming its
/// line and column.
#[utoipa::path(
    post,
    path = "/api/v1/apps",
    operation_id = "applyApp",
    request_body(content(
        (ApplyRequest = "application/json"),
        (String = "application/yaml"),
        (String = "text/yaml"),
    )),
    responses(
        (status = 201, description = "The app was created.", body = ApplyResult),
        (status = 200, description = "The app was updated, scaled or left unchanged.", body = ApplyResult),
        (status = 400), (status = 403), (status = 409), (status = 413), (status = 422), (status = 500), (status = 503),
    )
)]
async fn apply(
    Engine(engine): Engine,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ApplyResult>), ApiFailure> {
    let body = read_body(body, APPLY_BODY_LIMIT).map_err(|mut failure| {
        failure
            .error
            .message
            .push_str(&format!("; a spec may be at most {} bytes (256 KiB)", crane_core::validate::MAX_SPEC_BYTES));
        failure
    })?;
    let (yaml, create_only) = apply_body(&headers, &body, r#"{"yaml": "name: web\n...", "create_only": false}"#)?;
    let result = engine.apply(&yaml, create_only).await?;
    let status = if result.action == crane_api::ApplyAction::Created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(result)))
}

/// The YAML and `create_only` of an apply body: the YAML itself (`application/yaml`, `text/yaml`,
/// `application/x-yaml`; `create_only` false) or an `ApplyRequest` as JSON (`example` shows its shape).
pub(super) fn apply_body(headers: &HeaderMap, body: &[u8], example: &str) -> Result<(String, bool), ApiFailure> {
    if let Some(yaml) = yaml_body(headers, body)? {
        return Ok((yaml, false));
    }
    let body: ApplyRequest = parse_json(media_type(headers).as_deref(), body, example)?;
    Ok((body.yaml, body.create_only))
}

/// The body as YAML text when its Content-Type says it is YAML (`application/yaml`, `text/yaml`,
/// `application/x-yaml`); `None` for any other type.
pub(super) fn yaml_body(headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, ApiFailure> {
    if !matches!(media_type(headers).as_deref(), Some("application/yaml" | "text/yaml" | "application/x-yaml")) {
        return Ok(None);
    }
    String::from_utf8(body.to_vec())
        .map(Some)
        .map_err(|_| ApiFailure::bad_request("the YAML body is not valid UTF-8; save the file as UTF-8"))
}

/// Get one app
///
/// The app with its instances and the YAML it was applied from.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{name}",
    operation_id = "getApp",
    params(AppPath),
    responses((status = 200, description = "The app.", body = AppView), (status = 404), (status = 500))
)]
async fn get_app(
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
) -> Result<Json<AppView>, ApiFailure> {
    let AppPath { name } = path(segments)?;
    Ok(Json(engine.get_app(&name).await?))
}

/// Delete an app
///
/// Removes the app and every container, network and volume it owns.
#[utoipa::path(
    delete,
    path = "/api/v1/apps/{name}",
    operation_id = "deleteApp",
    params(AppPath),
    responses((status = 204, description = "Deleted."), (status = 404), (status = 500), (status = 503))
)]
async fn delete_app(
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
) -> Result<StatusCode, ApiFailure> {
    let AppPath { name } = path(segments)?;
    engine.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the replica count
///
/// Body: `{"replicas": N}`.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{name}/scale",
    operation_id = "scaleApp",
    params(AppPath),
    request_body = ScaleRequest,
    responses(
        (status = 200, description = "The app after the change.", body = AppView),
        (status = 400), (status = 403), (status = 404), (status = 413), (status = 422), (status = 500), (status = 503),
    )
)]
async fn scale(
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AppView>, ApiFailure> {
    let AppPath { name } = path(segments)?;
    let body = read_body(body, DEFAULT_BODY_LIMIT)?;
    let body: ScaleRequest = parse_json(media_type(&headers).as_deref(), &body, r#"{"replicas": 3}"#)?;
    Ok(Json(engine.scale(&name, body.replicas).await?))
}

/// Body of `PUT /apps/{name}/nginx`: where the managed NGINX reads the app's config and writes its pid. Unknown
/// fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManageNginxRequest {
    /// Absolute path of the config file Crane writes (included by the user's nginx.conf).
    pub config_path: String,
    /// Absolute path of NGINX's pid file; Crane sends SIGHUP to that process after each rewrite.
    pub pid_file: String,
    /// Port the generated `server` listens on (127.0.0.1), 1-65535.
    #[serde(default = "default_nginx_listen")]
    #[schema(default = 8080, minimum = 1)]
    pub listen: u16,
}

/// The answer of routes that only report what they did: `{"message": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// One sentence saying what was done.
    pub message: String,
}

/// Port of the generated NGINX `server` when the client does not name one.
pub const DEFAULT_NGINX_LISTEN: u16 = 8080;

fn default_nginx_listen() -> u16 {
    DEFAULT_NGINX_LISTEN
}

/// Revision history of an app
///
/// Every revision of the app, oldest first: number, time, image, cause and the spec of that revision as YAML.
/// `current` marks the revision the app runs (after an undo it is not the newest one). A new revision is made when an
/// apply changes the containers (image, command, env, ports, probes…); a replica change is not a revision.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{name}/rollout/history",
    operation_id = "rolloutHistory",
    params(AppPath),
    responses(
        (status = 200, description = "Revisions, oldest first.", body = Vec<RevisionView>),
        (status = 404), (status = 500),
    )
)]
async fn rollout_history(
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
) -> Result<Json<Vec<RevisionView>>, ApiFailure> {
    let AppPath { name } = path(segments)?;
    Ok(Json(engine.rollout_history(&name).await?))
}

/// Roll an app back to an earlier revision
///
/// Body: `{}` for the revision before the current one, or `{"to": N}` for revision N (see `rollout/history`). The
/// container settings return to that revision's, the replica count stays, and a rolling update replaces the instances
/// (follow it in the app's `rollout`). An unknown revision, or the current one, is 400 `bad_request` naming the
/// revisions there are.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{name}/rollout/undo",
    operation_id = "rolloutUndo",
    params(AppPath),
    request_body = UndoRequest,
    responses(
        (status = 200, description = "The app after the change; `revision` is the revision rolled back to.",
            body = AppView),
        (status = 400), (status = 403), (status = 404), (status = 413), (status = 422), (status = 500), (status = 503),
    )
)]
async fn rollout_undo(
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AppView>, ApiFailure> {
    let AppPath { name } = path(segments)?;
    let body = read_body(body, DEFAULT_BODY_LIMIT)?;
    let body: UndoRequest = parse_json(media_type(&headers).as_deref(), &body, r#"{} or {"to": 2}"#)?;
    Ok(Json(engine.rollout_undo(&name, body.to.map(u64::from)).await?))
}

/// Restart an app, one instance at a time
///
/// Like `kubectl rollout restart`: the app's spec, unchanged, becomes a new revision, and a rolling update replaces
/// every instance with a fresh container (each new one ready before its old one stops; follow it in the app's
/// `rollout`). No body. Admission sees it as an update. An app at 0 replicas is 400 `bad_request`.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{name}/rollout/restart",
    operation_id = "rolloutRestart",
    params(AppPath),
    responses(
        (status = 200, description = "The app after the change; `revision` is the new revision.", body = AppView),
        (status = 400), (status = 403), (status = 404), (status = 500), (status = 503),
    )
)]
async fn rollout_restart(
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
) -> Result<Json<AppView>, ApiFailure> {
    let AppPath { name } = path(segments)?;
    Ok(Json(engine.rollout_restart(&name, None).await?))
}

/// Query of `GET /apps/{name}/nginx`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct NginxQuery {
    /// Port the generated `server` listens on, 1-65535 (default 8080).
    #[param(minimum = 1)]
    listen: Option<u16>,
}

/// NGINX config for an app
///
/// `text/plain`: an NGINX `upstream` of the app's ready instances (their addresses on the app network) and a `server`
/// listening on `127.0.0.1:<listen>` that proxies to it. Include it from your nginx.conf (e.g. `conf.d/`). The file
/// lists the instances ready now; to keep it current, let Crane manage it (`PUT` on this path). An app without a port
/// is 400 `bad_request`.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{name}/nginx",
    operation_id = "exportNginx",
    params(AppPath, NginxQuery),
    responses(
        (status = 200, description = "The NGINX config.", body = String, content_type = "text/plain"),
        (status = 400), (status = 404), (status = 500),
    )
)]
async fn export_nginx(
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
    query: Result<Query<NginxQuery>, QueryRejection>,
) -> Result<Response, ApiFailure> {
    let AppPath { name } = path(segments)?;
    let Query(query) = query.map_err(query_error)?;
    let listen = check_listen(query.listen.unwrap_or(DEFAULT_NGINX_LISTEN))?;
    let text = engine.export_nginx(&name, listen).await?;
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(response)
}

/// Let Crane manage an NGINX for an app
///
/// Body: `{"config_path": "/etc/nginx/conf.d/web.conf", "pid_file": "/run/nginx.pid", "listen": 8081}` (absolute
/// paths on the engine's machine; `listen` defaults to 8080). Crane writes the app's config to `config_path` now and
/// whenever its set of ready instances changes, and reloads NGINX each time (SIGHUP to the pid in `pid_file`). A
/// second `PUT` replaces the settings. A file that cannot be written or an NGINX that cannot be signalled is 400
/// `bad_request` saying which.
#[utoipa::path(
    put,
    path = "/api/v1/apps/{name}/nginx",
    operation_id = "manageNginx",
    params(AppPath),
    request_body = ManageNginxRequest,
    responses(
        (status = 200, description = "What was done (\"wrote … and reloaded NGINX (pid …)\").", body = Message),
        (status = 400), (status = 413), (status = 404), (status = 500),
    )
)]
async fn manage_nginx(
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Message>, ApiFailure> {
    let AppPath { name } = path(segments)?;
    let body = read_body(body, DEFAULT_BODY_LIMIT)?;
    let body: ManageNginxRequest = parse_json(
        media_type(&headers).as_deref(),
        &body,
        r#"{"config_path": "/etc/nginx/conf.d/web.conf", "pid_file": "/run/nginx.pid", "listen": 8081}"#,
    )?;
    let listen = check_listen(body.listen)?;
    // The engine resolves paths on its own machine and in its own working directory, which the client cannot see:
    // only absolute paths mean the same thing on both sides.
    for (field, path) in [("config_path", &body.config_path), ("pid_file", &body.pid_file)] {
        if !std::path::Path::new(path).is_absolute() {
            return Err(ApiFailure::bad_request(format!(
                "{field} must be an absolute path on the engine's machine; got '{path}'"
            )));
        }
    }
    let managed =
        crane_engine::ManagedNginx { config_path: body.config_path.into(), pid_file: body.pid_file.into(), listen };
    let message = engine.manage_nginx(&name, Some(managed)).await?;
    Ok(Json(Message { message }))
}

/// Stop managing NGINX for an app
///
/// Crane stops rewriting the config file; the file and NGINX are left as they are.
#[utoipa::path(
    delete,
    path = "/api/v1/apps/{name}/nginx",
    operation_id = "unmanageNginx",
    params(AppPath),
    responses((status = 200, description = "Confirmation.", body = Message), (status = 404), (status = 500))
)]
async fn unmanage_nginx(
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
) -> Result<Json<Message>, ApiFailure> {
    let AppPath { name } = path(segments)?;
    let message = engine.manage_nginx(&name, None).await?;
    Ok(Json(Message { message }))
}

/// Port 0 would make NGINX pick a port nobody knows.
fn check_listen(listen: u16) -> Result<u16, ApiFailure> {
    if listen == 0 {
        return Err(ApiFailure::bad_request("listen must be a port from 1 to 65535, e.g. 8080"));
    }
    Ok(listen)
}

/// Query of `GET /apps/{name}/charts/{metric}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ChartQuery {
    /// How far back, e.g. 5m, 1h, 24h (10s..7d; default 5m).
    range: Option<String>,
}

/// Range of a chart when the client does not name one.
const DEFAULT_CHART_RANGE: &str = "5m";

/// One chart of an app as SVG
///
/// `image/svg+xml`, rendered from the stored metrics of the last `range`: `cpu` and `memory` (per instance), `rps`,
/// `latency` (p95), `errors` (5xx per second) and `replicas` (desired and ready). The autoscaler's target is drawn as
/// a line and its scale events as markers. An unknown metric or range is 400 `bad_request` naming the field and the
/// accepted values.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{name}/charts/{metric}",
    operation_id = "appChart",
    params(ChartPath, ChartQuery),
    responses(
        (status = 200, description = "The chart.", body = String, content_type = "image/svg+xml"),
        (status = 400), (status = 404), (status = 500),
    )
)]
async fn chart(
    Engine(engine): Engine,
    segments: Result<Path<ChartPath>, PathRejection>,
    query: Result<Query<ChartQuery>, QueryRejection>,
) -> Result<Response, ApiFailure> {
    let ChartPath { name, metric } = path(segments)?;
    let Query(query) = query.map_err(query_error)?;
    let range = query.range.as_deref().filter(|r| !r.is_empty()).unwrap_or(DEFAULT_CHART_RANGE);
    let svg = engine.chart(&name, &metric, range).await?;
    let mut response = svg.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    // A chart is a snapshot of moving data: the window refreshes it, caches must not keep it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// How the 404 of `GET /apps/{name}/load` for an app without a run begins, so clients tell it from "no such app".
pub const NO_LOAD_RUN: &str = "no load run against app";

/// Example body of `POST /apps/{name}/load`, shown when the body is wrong.
const LOAD_EXAMPLE: &str =
    r#"{"rate": 50, "duration_s": 60, "ramp_to": 200, "concurrency": 64, "path": "/work?ms=20"}"#;

/// Start the load generator against an app
///
/// Body: a `LoadRequest`, e.g. `{"rate": 50, "duration_s": 60, "path": "/work?ms=20"}` (`ramp_to` for a ramp,
/// `concurrency` for the most requests in flight). Requests go to the app's load-balancer address, so the app needs a
/// port. Answers at once with the run; progress is streamed on `GET /api/v1/watch` as `progress` changes with
/// operation `load:<app>` (also `GET` on this path), and the final report is the event `load.finished`. A second run
/// while one is running is 409 `conflict`.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{name}/load",
    operation_id = "startLoad",
    params(AppPath),
    request_body = LoadRequest,
    responses(
        (status = 202, description = "The run has started.", body = LoadView),
        (status = 400), (status = 413), (status = 404), (status = 409), (status = 500),
    )
)]
async fn start_load(
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<LoadView>), ApiFailure> {
    let AppPath { name } = path(segments)?;
    let body = read_body(body, DEFAULT_BODY_LIMIT)?;
    let request: LoadRequest = parse_json(media_type(&headers).as_deref(), &body, LOAD_EXAMPLE)?;
    Ok((StatusCode::ACCEPTED, Json(engine.start_load(&name, &request).await?)))
}

/// The app's load run
///
/// The run in progress (live figures) or the last one (its report). 404 `not_found` when no run was started against
/// the app since the engine started.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{name}/load",
    operation_id = "getLoad",
    params(AppPath),
    responses((status = 200, description = "The run.", body = LoadView), (status = 404), (status = 500))
)]
async fn load_status(
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
) -> Result<Json<LoadView>, ApiFailure> {
    let AppPath { name } = path(segments)?;
    match engine.load_status(&name).await? {
        Some(view) => Ok(Json(view)),
        None => Err(ApiFailure::new(
            ErrorCode::NotFound,
            format!("{NO_LOAD_RUN} '{name}' yet; start one with `cranectl load {name} --rate 50 --duration 60s`"),
        )),
    }
}

/// Stop the app's load run
///
/// Asks the run to stop; it ends within moments and its report (with `stopped_early`) is then on `GET` of this path.
/// Stopping a run that already ended changes nothing. 400 `bad_request` when no run was started against the app.
#[utoipa::path(
    delete,
    path = "/api/v1/apps/{name}/load",
    operation_id = "stopLoad",
    params(AppPath),
    responses(
        (status = 200, description = "The run as it was when asked to stop.", body = LoadView),
        (status = 400), (status = 404), (status = 500),
    )
)]
async fn stop_load(
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
) -> Result<Json<LoadView>, ApiFailure> {
    let AppPath { name } = path(segments)?;
    Ok(Json(engine.stop_load(&name).await?))
}

/// Crane's metrics for Prometheus
///
/// The Prometheus text exposition format (`text/plain; version=0.0.4`): engine, apps (desired and ready replicas,
/// revision), instances (up, restarts, CPU, memory), load balancers (requests by status class, errors, retries,
/// latency quantiles, bytes) and autoscaler decisions. Needs the bearer token like the API (Prometheus:
/// `authorization: {credentials: <token>}` in the scrape config).
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    responses(
        (status = 200, description = "Metrics in the text exposition format.", body = String,
            content_type = "text/plain; version=0.0.4"),
        (status = 500),
    )
)]
async fn metrics(Engine(engine): Engine) -> Result<Response, ApiFailure> {
    let text = engine.prometheus_metrics().await?;
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT));
    Ok(response)
}

/// Prometheus HTTP service discovery
///
/// The target list of Prometheus' `http_sd_configs`: a group for Crane itself (label `job=crane`, scrape `/metrics`)
/// and one per running instance of an app with a port (labels `job=crane-apps`, `app`, `instance_name`, `revision`,
/// `ready`; the address is on the app's Docker network). Prometheus sends the token with `authorization:
/// {credentials: <token>}` in its `http_sd_configs` entry.
#[utoipa::path(
    get,
    path = "/api/v1/sd",
    operation_id = "serviceDiscovery",
    responses((status = 200, description = "Target groups.", body = Vec<SdTargetGroup>), (status = 500))
)]
async fn sd_targets(Engine(engine): Engine) -> Result<Json<Vec<SdTargetGroup>>, ApiFailure> {
    let groups = engine.sd_targets().await?;
    // The engine's group type carries the same two fields; the wire type is the one of `crane_api`.
    Ok(Json(groups.into_iter().map(|g| SdTargetGroup { targets: g.targets, labels: g.labels }).collect()))
}

/// Query of `GET /apps/{name}/logs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LogsQuery {
    /// Keep streaming new lines (default false).
    #[serde(default)]
    follow: bool,
    /// Only the last N existing lines.
    tail: Option<u32>,
}

/// Logs of every instance of an app
///
/// Streams newline-delimited JSON (`application/x-ndjson`): one `LogLineView` object per line, oldest first. Without
/// `follow` the response ends after the existing lines (the last `tail` lines when given); with `follow=true` it stays
/// open and new lines arrive as they are written.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{name}/logs",
    operation_id = "appLogs",
    params(AppPath, LogsQuery),
    responses(
        (status = 200, description = "Log lines, one JSON object per line.", body = LogLineView,
            content_type = "application/x-ndjson"),
        (status = 400), (status = 404), (status = 500), (status = 503),
    )
)]
async fn logs(
    State(state): State<AppState>,
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Response, ApiFailure> {
    let AppPath { name } = path(segments)?;
    let Query(query) = query.map_err(query_error)?;
    let lines = engine.logs(&name, query.follow, query.tail).await?;
    let body = lines
        .map(|line| {
            let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
            bytes.push(b'\n');
            Ok::<_, Infallible>(Bytes::from(bytes))
        })
        .take_until(state.shutdown_signal());
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// Query of `GET /events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Only events of this app.
    app: Option<String>,
    /// At most this many (1 to 10000, default 100).
    limit: Option<u32>,
}

/// Events returned when the client does not say how many.
const DEFAULT_EVENT_LIMIT: u32 = 100;
/// Most events one request may ask for (the engine's own cap).
const MAX_EVENT_LIMIT: u32 = 10_000;

/// Event log, newest first
///
/// Every decision Crane took, with its reason; optionally of one app.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    operation_id = "listEvents",
    params(EventsQuery),
    responses((status = 200, description = "Events.", body = Vec<EventView>), (status = 400), (status = 500))
)]
async fn events(
    Engine(engine): Engine,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<Vec<EventView>>, ApiFailure> {
    let Query(query) = query.map_err(query_error)?;
    let app = query.app.as_deref().filter(|a| !a.is_empty());
    let limit = query.limit.unwrap_or(DEFAULT_EVENT_LIMIT);
    if !(1..=MAX_EVENT_LIMIT).contains(&limit) {
        return Err(ApiFailure::bad_request(format!(
            "limit: {limit} is out of range; give a number from 1 to {MAX_EVENT_LIMIT}"
        )));
    }
    Ok(Json(engine.events(app, limit).await?))
}

/// The demo image that was built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DemoImage {
    /// Image name, e.g. `crane-demo:0.1.0`.
    pub image: String,
}

/// Build the offline demo image
///
/// Builds `crane-demo:<version>` on the Docker engine and answers with its name when done. Progress is streamed on
/// `GET /api/v1/watch` as `progress` changes with operation `demo-image`.
#[utoipa::path(
    post,
    path = "/api/v1/demo-image",
    operation_id = "buildDemoImage",
    responses(
        (status = 200, description = "The image is built.", body = DemoImage),
        (status = 422), (status = 500), (status = 503),
    )
)]
async fn demo_image(Engine(engine): Engine) -> Result<Json<DemoImage>, ApiFailure> {
    let image = engine.build_demo_image().await?;
    Ok(Json(DemoImage { image }))
}

/// Whether the demo image is present
///
/// The demo image's tag and whether the Docker engine has it (`present` is null when Docker cannot be asked): the
/// window's first-run checklist asks this before offering *Build demo image*.
#[utoipa::path(
    get,
    path = "/api/v1/demo-image",
    operation_id = "demoImageStatus",
    responses((status = 200, description = "The demo image's tag and presence.", body = crane_api::DemoImageView))
)]
async fn demo_image_status(Engine(engine): Engine) -> Json<crane_api::DemoImageView> {
    Json(engine.demo_image().await)
}

/// Query of `POST /apps/{name}/requests`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RequestsQuery {
    /// How many requests (1..50; default 10).
    count: Option<u32>,
    /// The path requested (default `/`).
    path: Option<String>,
}

/// Send a few requests through an app's load balancer
///
/// Sends `count` `GET path` requests one after the other to the app's address and answers with the instance that
/// answered each (the `X-Crane-Instance` header the demo image sends), the status and the time: the load balancer at
/// work, as a browser's refreshes would show it. Operators: their own apps.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{name}/requests",
    operation_id = "sendRequests",
    params(AppPath, RequestsQuery),
    responses(
        (status = 200, description = "Each request and who answered it.", body = crane_api::SendRequestsView),
        (status = 400), (status = 403), (status = 404),
    )
)]
async fn send_requests(
    Engine(engine): Engine,
    segments: Result<Path<AppPath>, PathRejection>,
    query: Result<Query<RequestsQuery>, QueryRejection>,
) -> Result<Json<crane_api::SendRequestsView>, ApiFailure> {
    let AppPath { name } = path(segments)?;
    let Query(query) = query.map_err(query_error)?;
    Ok(Json(engine.send_requests(&name, query.count.unwrap_or(10), query.path.as_deref()).await?))
}

/// Stream of changes (server-sent events)
///
/// `text/event-stream`: each change is an event named `change` whose data is a `ChangeView` JSON object (`apps`,
/// `event` or `progress`). A client that falls behind receives an `apps` change and should refresh what it shows.
/// Comments are sent every 15 s to keep the connection open.
#[utoipa::path(
    get,
    path = "/api/v1/watch",
    operation_id = "watch",
    responses((status = 200, description = "Server-sent events.", body = ChangeView, content_type = "text/event-stream"))
)]
async fn watch(
    State(state): State<AppState>,
    Engine(engine): Engine,
) -> Sse<impl Stream<Item = Result<Event, axum::Error>>> {
    // Subscribing before the response is returned means a client that has the response headers cannot miss a
    // change sent after that (cranectl relies on it to show build progress).
    let changes = BroadcastStream::new(engine.subscribe())
        .map(|item| {
            let change = match item {
                Ok(change) => change,
                // The client missed changes; "apps changed" makes it refresh everything it shows.
                Err(BroadcastStreamRecvError::Lagged(_)) => ChangeView::Apps,
            };
            Event::default().event("change").json_data(&change)
        })
        .take_until(state.shutdown_signal());
    Sse::new(changes).keep_alive(KeepAlive::default())
}

/// The `{name}` segment of the user routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct UserPath {
    /// User name.
    name: String,
}

/// The `{id}` segment of the token routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct TokenPath {
    /// Token id (the part after `crane_`, as `GET /api/v1/tokens` lists it).
    id: String,
}

/// List users
///
/// Every user with their role and number of tokens; the built-in `admin` holds the data directory's token. Admins
/// only.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    operation_id = "listUsers",
    responses((status = 200, description = "Users.", body = Vec<UserView>), (status = 500))
)]
async fn list_users(Engine(engine): Engine) -> Result<Json<Vec<UserView>>, ApiFailure> {
    Ok(Json(engine.list_users().await?))
}

/// Add a user
///
/// Body: `{"name": "alice", "role": "operator"}` (roles: `viewer`, `operator`, `admin`). Answers with the user and
/// their first token, which is shown this once (Crane keeps only its SHA-256). A taken name is 409 `conflict`.
/// Admins only; audited.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    operation_id = "createUser",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "The user and their first token.", body = UserCreated),
        (status = 400), (status = 409), (status = 500),
    )
)]
async fn create_user(
    Engine(engine): Engine,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<UserCreated>), ApiFailure> {
    let body: CreateUserRequest =
        parse_json(media_type(&headers).as_deref(), &body, r#"{"name": "alice", "role": "operator"}"#)?;
    Ok((StatusCode::CREATED, Json(engine.create_user(&body.name, body.role).await?)))
}

/// Remove a user
///
/// Revokes every token of the user. Their apps stay, owned by the name; admins manage them. The built-in `admin`
/// cannot be removed. Admins only; audited.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{name}",
    operation_id = "removeUser",
    params(UserPath),
    responses((status = 204, description = "Removed."), (status = 400), (status = 404), (status = 500))
)]
async fn remove_user(
    Engine(engine): Engine,
    segments: Result<Path<UserPath>, PathRejection>,
) -> Result<StatusCode, ApiFailure> {
    let UserPath { name } = path(segments)?;
    engine.remove_user(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List tokens
///
/// Every user token: id, user, role, label, creation time (never the token itself). Admins only.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    operation_id = "listTokens",
    responses((status = 200, description = "Tokens.", body = Vec<TokenView>), (status = 500))
)]
async fn list_tokens(Engine(engine): Engine) -> Result<Json<Vec<TokenView>>, ApiFailure> {
    Ok(Json(engine.list_tokens().await?))
}

/// Make a token
///
/// Body: `{"role": "viewer", "user": "alice", "label": "grading script"}`; `user` defaults to the caller, and the
/// role may not exceed the user's. The token is in the answer this once (Crane keeps only its SHA-256). Admins only;
/// audited.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    operation_id = "createToken",
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "The token.", body = IssuedToken),
        (status = 400), (status = 404), (status = 500),
    )
)]
async fn create_token(
    Engine(engine): Engine,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<IssuedToken>), ApiFailure> {
    let body: CreateTokenRequest = parse_json(
        media_type(&headers).as_deref(),
        &body,
        r#"{"role": "viewer", "user": "alice", "label": "grading script"}"#,
    )?;
    let issued = engine.create_token(body.role, body.user.as_deref(), body.label.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Revoke a token
///
/// The token stops working at once. Admins only; audited.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    operation_id = "revokeToken",
    params(TokenPath),
    responses((status = 204, description = "Revoked."), (status = 404), (status = 500))
)]
async fn revoke_token(
    Engine(engine): Engine,
    segments: Result<Path<TokenPath>, PathRejection>,
) -> Result<StatusCode, ApiFailure> {
    let TokenPath { id } = path(segments)?;
    engine.revoke_token(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only requests of this user.
    user: Option<String>,
    /// Only requests about this app.
    app: Option<String>,
    /// At most this many (1 to 10000, default 100).
    limit: Option<u32>,
}

/// Audit log, newest first
///
/// Every request that changed (or tried to change) something: who, with which role, through which door (`window`,
/// `rest`, `cli`, `lab`, `engine`), what, on which app or target, when, and whether it was carried out (else the
/// error code). Admins only.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    operation_id = "listAudit",
    params(AuditQuery),
    responses((status = 200, description = "Audit rows.", body = Vec<AuditView>), (status = 400), (status = 500))
)]
async fn audit(
    Engine(engine): Engine,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditView>>, ApiFailure> {
    let Query(query) = query.map_err(query_error)?;
    let user = query.user.as_deref().filter(|u| !u.is_empty());
    let app = query.app.as_deref().filter(|a| !a.is_empty());
    Ok(Json(engine.audit_log(user, app, query.limit.unwrap_or(DEFAULT_EVENT_LIMIT)).await?))
}

/// The `{name}` segment of the policy routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct PolicyPath {
    /// Policy name: admission, scaling or alerts.
    name: String,
}

/// The policy a path names, or 404 naming the policies there are.
fn policy_name(segments: Result<Path<PolicyPath>, PathRejection>) -> Result<crane_api::PolicyName, ApiFailure> {
    let PolicyPath { name } = path(segments)?;
    Ok(crane_engine::policies::parse_name(&name)?)
}

/// List policies
///
/// The three policies as they run now (admission, scaling, alerts): Rego source, data document, whether it is the
/// shipped version, and a sample input. Conventions: `policies/README.md`.
#[utoipa::path(
    get,
    path = "/api/v1/policies",
    operation_id = "listPolicies",
    responses((status = 200, description = "Policies.", body = Vec<PolicyView>), (status = 500))
)]
async fn list_policies(Engine(engine): Engine) -> Result<Json<Vec<PolicyView>>, ApiFailure> {
    Ok(Json(engine.list_policies().await?))
}

/// Get one policy
#[utoipa::path(
    get,
    path = "/api/v1/policies/{name}",
    operation_id = "getPolicy",
    params(PolicyPath),
    responses((status = 200, description = "The policy.", body = PolicyView), (status = 404), (status = 500))
)]
async fn get_policy(
    Engine(engine): Engine,
    segments: Result<Path<PolicyPath>, PathRejection>,
) -> Result<Json<PolicyView>, ApiFailure> {
    Ok(Json(engine.get_policy(policy_name(segments)?).await?))
}

/// Change a policy (admin)
///
/// Body: a `PolicyUpdate`, `{"rego": "package crane.admission\n…", "data": {"allowed_images": ["crane-demo"]}}`
/// (either part may be left out and stays as it is). The policy is compiled, its own `test_` rules run, and each
/// shipped sample input must give a decision Crane can act on; otherwise 400 `invalid_policy` with each problem's
/// line and column, and the running policy stays. Saved, it decides the next change. 403 `forbidden` for a caller
/// who is not an admin.
#[utoipa::path(
    put,
    path = "/api/v1/policies/{name}",
    operation_id = "setPolicy",
    params(PolicyPath),
    request_body = PolicyUpdate,
    responses(
        (status = 200, description = "The policy as it runs now.", body = PolicyView),
        (status = 400), (status = 403), (status = 404), (status = 500),
    )
)]
async fn set_policy(
    Engine(engine): Engine,
    segments: Result<Path<PolicyPath>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PolicyView>, ApiFailure> {
    let name = policy_name(segments)?;
    let update: PolicyUpdate = parse_json(media_type(&headers).as_deref(), &body, POLICY_UPDATE_EXAMPLE)?;
    Ok(Json(engine.set_policy(name, update).await?))
}

/// Example body of the policy edit and validate routes, shown when the body is wrong.
const POLICY_UPDATE_EXAMPLE: &str = r#"{"rego": "package crane.scaling\n...", "data": {"max_replicas": 10}}"#;

/// Return a policy to the shipped version (admin)
#[utoipa::path(
    post,
    path = "/api/v1/policies/{name}/reset",
    operation_id = "resetPolicy",
    params(PolicyPath),
    responses(
        (status = 200, description = "The shipped policy, running again.", body = PolicyView),
        (status = 403), (status = 404), (status = 500),
    )
)]
async fn reset_policy(
    Engine(engine): Engine,
    segments: Result<Path<PolicyPath>, PathRejection>,
) -> Result<Json<PolicyView>, ApiFailure> {
    Ok(Json(engine.reset_policy(policy_name(segments)?).await?))
}

/// Validate a policy without saving it
///
/// Body: a `PolicyUpdate` like `PUT`. Answers whether saving it would be accepted, every problem with line and
/// column, and the outcome of the policy's own `test_` rules.
#[utoipa::path(
    post,
    path = "/api/v1/policies/{name}/validate",
    operation_id = "validatePolicy",
    params(PolicyPath),
    request_body = PolicyUpdate,
    responses(
        (status = 200, description = "What validation found.", body = PolicyValidation),
        (status = 400), (status = 404), (status = 500),
    )
)]
async fn validate_policy(
    Engine(engine): Engine,
    segments: Result<Path<PolicyPath>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PolicyValidation>, ApiFailure> {
    let name = policy_name(segments)?;
    let update: PolicyUpdate = parse_json(media_type(&headers).as_deref(), &body, POLICY_UPDATE_EXAMPLE)?;
    Ok(Json(engine.validate_policy(name, update).await?))
}

/// Evaluate a policy against an input
///
/// Body: `{"input": {...}}` (the input document of the policy, see `policies/README.md` and the samples in
/// `policies/samples/`), optionally with `rego` and/or `data` to evaluate a draft instead of the running policy
/// (nothing is saved). Answers the rules' values and the decision Crane would read from them; `valid: false` with
/// `problem` when Crane could not act on the answer. A draft that does not compile is 400 `invalid_policy`; a policy
/// that fails on the input is 422 `policy_failed`.
#[utoipa::path(
    post,
    path = "/api/v1/policies/{name}/eval",
    operation_id = "evalPolicy",
    params(PolicyPath),
    request_body = PolicyEvalRequest,
    responses(
        (status = 200, description = "The policy's answer.", body = PolicyEvalResult),
        (status = 400), (status = 404), (status = 422), (status = 500),
    )
)]
async fn eval_policy(
    Engine(engine): Engine,
    segments: Result<Path<PolicyPath>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PolicyEvalResult>, ApiFailure> {
    let name = policy_name(segments)?;
    let request: PolicyEvalRequest =
        parse_json(media_type(&headers).as_deref(), &body, r#"{"input": {"action": "create", "spec": {...}}}"#)?;
    Ok(Json(engine.eval_policy(name, request).await?))
}

/// Run the policies' Rego unit tests
///
/// Runs every `test_` rule: the shipped tests of each shipped policy (`policies/<name>_test.rego`), an edited
/// policy's own `test_` rules. Answers each outcome and the counts (a failing test is an outcome, not an error).
#[utoipa::path(
    post,
    path = "/api/v1/policies/test",
    operation_id = "testPolicies",
    responses((status = 200, description = "The outcomes.", body = PolicyTestReport), (status = 500))
)]
async fn test_policies(Engine(engine): Engine) -> Result<Json<PolicyTestReport>, ApiFailure> {
    Ok(Json(engine.test_policies().await?))
}

/// The media type of the request body, lowercase and without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    (!media.is_empty()).then_some(media)
}

/// Parses a JSON body strictly; every failure is a 400 that shows what to send.
fn parse_json<T: DeserializeOwned>(media: Option<&str>, body: &[u8], example: &str) -> Result<T, ApiFailure> {
    if let Some(media) = media {
        if media != "application/json" && !media.ends_with("+json") {
            return Err(ApiFailure::bad_request(format!(
                "unsupported Content-Type '{media}'; send application/json like {example}"
            )));
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiFailure::bad_request(format!("the request body is empty; send JSON like {example}")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiFailure::bad_request(format!("invalid JSON body: {e}; send JSON like {example}")))
}

fn query_error(rejection: QueryRejection) -> ApiFailure {
    ApiFailure::bad_request(format!("{}; see /api/v1/openapi.json for the accepted parameters", rejection.body_text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire types the client sends are read strictly: a misspelt field is an error naming the accepted ones.
    #[test]
    fn request_bodies_are_strict() {
        let parsed: ApplyRequest = parse_json(Some("application/json"), br#"{"yaml": "name: a"}"#, "").unwrap();
        assert_eq!((parsed.yaml.as_str(), parsed.create_only), ("name: a", false));
        let parsed: UndoRequest = parse_json(None, b"{}", "").unwrap();
        assert_eq!(parsed.to, None);
        let parsed: ManageNginxRequest = parse_json(None, br#"{"config_path": "/a", "pid_file": "/b"}"#, "").unwrap();
        assert_eq!(parsed.listen, DEFAULT_NGINX_LISTEN);

        let err = parse_json::<ScaleRequest>(None, br#"{"replica": 3}"#, "{}").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.error.message.contains("unknown field `replica`"), "{}", err.error.message);
        assert!(err.error.message.contains("`replicas`"), "{}", err.error.message);
        let err = parse_json::<UndoRequest>(None, br#"{"revision": 2}"#, "{}").unwrap_err();
        assert!(err.error.message.contains("unknown field `revision`"), "{}", err.error.message);
        assert!(err.error.message.contains("`to`"), "{}", err.error.message);
        let err = parse_json::<ApplyRequest>(None, br#"{"yaml": "", "createOnly": true}"#, "{}").unwrap_err();
        assert!(err.error.message.contains("unknown field `createOnly`"), "{}", err.error.message);
        let err = parse_json::<PolicyUpdate>(None, br#"{"source": "package x"}"#, "{}").unwrap_err();
        assert!(err.error.message.contains("unknown field `source`"), "{}", err.error.message);
        let err = parse_json::<PolicyEvalRequest>(None, br#"{"inputs": {}}"#, "{}").unwrap_err();
        assert!(err.error.message.contains("unknown field `inputs`"), "{}", err.error.message);
        let err = parse_json::<ManageNginxRequest>(None, br#"{"config": "/a", "pid_file": "/b"}"#, "{}").unwrap_err();
        assert!(err.error.message.contains("unknown field `config`"), "{}", err.error.message);
        assert_eq!(check_listen(0).unwrap_err().status, StatusCode::BAD_REQUEST);
    }
}

/// The alert rules
///
/// The rule file the built-in evaluator runs (Crane's shipped rules until others are saved) and each alerting rule:
/// group, name, expression, `for`, evaluation interval, labels, annotations, the actions it names, its latest
/// evaluation error and how many of its alerts are pending or firing.
#[utoipa::path(
    get,
    path = "/api/v1/alerts/rules",
    operation_id = "getAlertRules",
    responses((status = 200, description = "The rules.", body = AlertRulesView), (status = 500))
)]
async fn alert_rules(Engine(engine): Engine) -> Result<Json<AlertRulesView>, ApiFailure> {
    Ok(Json(engine.alert_rules().await?))
}

/// Replace the alert rules
///
/// Body: an `AlertRulesRequest` as JSON, or the rule file itself with `Content-Type: application/yaml` (or
/// `text/yaml`). The file is Prometheus' rule-file format plus Crane's `firing_action`/`resolved_action` (docs/alerts.md).
/// An invalid file is 400 `invalid_spec` with one diagnostic per problem, each naming its line and column, and nothing
/// is saved. Admins only.
#[utoipa::path(
    put,
    path = "/api/v1/alerts/rules",
    operation_id = "setAlertRules",
    request_body(content(
        (AlertRulesRequest = "application/json"),
        (String = "application/yaml"),
        (String = "text/yaml"),
    )),
    responses(
        (status = 200, description = "The rules now in force.", body = AlertRulesView),
        (status = 400), (status = 403), (status = 500),
    )
)]
async fn set_alert_rules(
    Engine(engine): Engine,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AlertRulesView>, ApiFailure> {
    let body = body.map_err(|rejection| {
        ApiFailure::bad_request(format!(
            "the request body could not be read ({}); a rule file may be at most {} bytes (256 KiB)",
            rejection.body_text(),
            crane_core::alerts::MAX_RULE_FILE_BYTES
        ))
    })?;
    let media = media_type(&headers);
    let yaml = if matches!(media.as_deref(), Some("application/yaml" | "text/yaml" | "application/x-yaml")) {
        String::from_utf8(body.to_vec())
            .map_err(|_| ApiFailure::bad_request("the YAML body is not valid UTF-8; save the file as UTF-8"))?
    } else {
        let body: AlertRulesRequest = parse_json(media.as_deref(), &body, r#"{"yaml": "groups:\n  - name: ..."}"#)?;
        body.yaml
    };
    Ok(Json(engine.set_alert_rules(&yaml).await?))
}

/// Reset the alert rules
///
/// Returns to the rules Crane ships (`assets/alerts/default.rules.yml`). Admins only.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/rules/reset",
    operation_id = "resetAlertRules",
    responses(
        (status = 200, description = "The shipped rules, now in force.", body = AlertRulesView),
        (status = 403), (status = 500),
    )
)]
async fn reset_alert_rules(Engine(engine): Engine) -> Result<Json<AlertRulesView>, ApiFailure> {
    Ok(Json(engine.reset_alert_rules().await?))
}

/// The alert rules for Prometheus
///
/// `text/yaml`: the rules in force as a Prometheus rule file that `promtool check rules` accepts (`firing_action` and
/// `resolved_action` travel as the annotations `crane_firing_action`/`crane_resolved_action`, and read back).
#[utoipa::path(
    get,
    path = "/api/v1/alerts/rules/export",
    operation_id = "exportAlertRules",
    responses(
        (status = 200, description = "The Prometheus rule file.", body = String, content_type = "text/yaml"),
        (status = 500),
    )
)]
async fn export_alert_rules(Engine(engine): Engine) -> Result<Response, ApiFailure> {
    let text = engine.export_alert_rules().await?;
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/yaml; charset=utf-8"));
    Ok(response)
}

/// Active alerts
///
/// Pending and firing alerts of the built-in evaluator, firing first: rule, state, app, labels, expanded annotations,
/// latest value, when it became pending (`active_at`) and when it fired (`starts_at`), and Alertmanager's fingerprint.
#[utoipa::path(
    get,
    path = "/api/v1/alerts/active",
    operation_id = "activeAlerts",
    responses((status = 200, description = "Alerts.", body = Vec<AlertView>), (status = 500))
)]
async fn active_alerts(Engine(engine): Engine) -> Result<Json<Vec<AlertView>>, ApiFailure> {
    Ok(Json(engine.active_alerts().await?))
}

/// Query of `GET /alerts/history`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AlertHistoryQuery {
    /// At most this many (1 to 1000, default 100).
    limit: Option<u32>,
}

/// Alert transitions, newest first
///
/// The latest changes of alert states (pending, firing, inactive) the engine keeps in memory (the last 1,000; the
/// event log keeps every one as an `alert.*` event).
#[utoipa::path(
    get,
    path = "/api/v1/alerts/history",
    operation_id = "alertHistory",
    params(AlertHistoryQuery),
    responses((status = 200, description = "Transitions.", body = Vec<AlertTransitionView>), (status = 400), (status = 500))
)]
async fn alert_history(
    Engine(engine): Engine,
    query: Result<Query<AlertHistoryQuery>, QueryRejection>,
) -> Result<Json<Vec<AlertTransitionView>>, ApiFailure> {
    let Query(query) = query.map_err(query_error)?;
    let limit = query.limit.unwrap_or(DEFAULT_EVENT_LIMIT);
    let max = crane_engine::MAX_ALERT_HISTORY as u32;
    if !(1..=max).contains(&limit) {
        return Err(ApiFailure::bad_request(format!("limit: {limit} is out of range; give a number from 1 to {max}")));
    }
    Ok(Json(engine.alert_history(limit).await?))
}

/// Receive alerts from Alertmanager
///
/// Alertmanager's webhook receiver (payload version 4). Authenticated by the webhook's own bearer token
/// (`<data dir>/webhook-token`, `cranectl alerts webhook`), not the API's. Each alert by its own status → the action
/// its rule names (the `crane_firing_action`/`crane_resolved_action` annotations of Crane's exported rules) or the
/// `alerts` policy's → carried out by the engine, bounded by the scaling policy, with a cooldown; repeats (same
/// fingerprint, start and status) are counted, not acted on again. Unknown alerts and apps are recorded, not errors.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/webhook",
    operation_id = "alertmanagerWebhook",
    security(("webhookToken" = [])),
    request_body = crane_api::AlertmanagerPayload,
    responses(
        (status = 200, description = "What Crane did with the alerts.", body = crane_api::WebhookReceipt),
        (status = 400), (status = 401), (status = 413), (status = 500),
    )
)]
async fn alertmanager_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<crane_api::WebhookReceipt>, ApiFailure> {
    let expected = state.webhook.current();
    if !crate::auth::bearer(&headers).is_some_and(|p| crate::auth::constant_time_eq(p.as_bytes(), expected.as_bytes()))
    {
        return Err(ApiFailure::new(
            ErrorCode::Unauthorized,
            format!(
                "missing or wrong webhook token: Alertmanager must send the token of {} as a bearer token \
                 (`http_config: {{authorization: {{credentials_file: ...}}}}`); `cranectl alerts webhook` shows it",
                state.webhook.path().display()
            ),
        ));
    }
    let body = body.map_err(|rejection| {
        ApiFailure::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "the payload could not be read ({}); a webhook payload may be at most {WEBHOOK_BODY_LIMIT} bytes: \
                 set `max_alerts` in the receiver's webhook_config",
                rejection.body_text()
            ),
        )
    })?;
    let payload: crane_api::AlertmanagerPayload = parse_json(
        media_type(&headers).as_deref(),
        &body,
        r#"{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "HighRequestRate", "app": "web"}}]}"#,
    )?;
    Ok(Json(state.handle.receive_alertmanager(&payload).await?))
}

/// The webhook receiver's address and token
///
/// Where Alertmanager sends alerts (`url`) and the bearer token it must send, for its `webhook_configs`. Admins only.
#[utoipa::path(
    get,
    path = "/api/v1/alerts/webhook/info",
    operation_id = "webhookInfo",
    responses((status = 200, description = "The receiver.", body = crane_api::WebhookInfo), (status = 403), (status = 500))
)]
async fn webhook_info(
    State(state): State<AppState>,
    Engine(engine): Engine,
) -> Result<Json<crane_api::WebhookInfo>, ApiFailure> {
    Ok(Json(state.webhook.info_for(&engine).await?))
}

/// Replace the webhook token
///
/// Writes a new webhook token; Alertmanager must be given it (the old one is refused at once). Admins only; audited.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/webhook/rotate",
    operation_id = "rotateWebhookToken",
    responses((status = 200, description = "The receiver with its new token.", body = crane_api::WebhookInfo), (status = 403), (status = 500))
)]
async fn rotate_webhook_token(
    State(state): State<AppState>,
    Engine(engine): Engine,
) -> Result<Json<crane_api::WebhookInfo>, ApiFailure> {
    Ok(Json(state.webhook.rotate_for(&engine).await?))
}
