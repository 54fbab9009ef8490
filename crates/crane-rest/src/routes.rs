//! The route table and the handlers. [`ROUTES`] is the one list of what the API serves: [`router`] mounts it and
//! [`crate::openapi::document`] describes it, so the router and the OpenAPI document cannot disagree.
//!
//! Handlers are thin: parse the request strictly (unknown JSON fields and query parameters are 400 with the accepted
//! names), call one [`EngineHandle`] method, and map its error with [`ApiFailure::from`].

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::{Json, Router};
use crane_api::{AppView, ApplyResult, ChangeView, EventView, LoadRequest, LoadView, RevisionView, StatusView};
use crane_engine::EngineHandle;
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use crate::error::ApiFailure;

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The engine.
    pub handle: EngineHandle,
    /// The OpenAPI document, built once at start.
    pub openapi: Arc<serde_json::Value>,
    /// Becomes `true` when the server shuts down; endless streams (watch, followed logs) end then, so graceful
    /// shutdown does not wait for clients that never hang up.
    pub shutdown: watch::Receiver<bool>,
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

/// HTTP method of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
}

impl Verb {
    /// Lowercase name, as OpenAPI spells it.
    pub fn as_lower(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Delete => "delete",
        }
    }

    /// The `http` method.
    pub fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Delete => Method::DELETE,
        }
    }
}

/// Where a parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamIn {
    /// A `{name}` path segment.
    Path,
    /// A query-string parameter.
    Query,
}

/// One documented parameter.
#[derive(Debug)]
pub struct Param {
    /// Name.
    pub name: &'static str,
    /// Path or query.
    pub location: ParamIn,
    /// JSON-schema type: `string`, `integer` or `boolean`.
    pub kind: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// What it means.
    pub description: &'static str,
}

/// Shape of a documented body.
#[derive(Debug, Clone, Copy)]
pub enum Schema {
    /// A schema of `components.schemas`, by name.
    Named(&'static str),
    /// An array of a named schema.
    ListOf(&'static str),
    /// Free text.
    Text,
}

/// One media type a body can have.
#[derive(Debug)]
pub struct Content {
    /// Media type.
    pub media_type: &'static str,
    /// Its shape.
    pub schema: Schema,
}

/// One documented response.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// When it is returned.
    pub description: &'static str,
    /// Body media types (empty for no body).
    pub content: &'static [Content],
}

/// One route: how it is mounted and how it is documented.
pub struct Route {
    /// Method.
    pub verb: Verb,
    /// Path, with `{name}` segments (axum 0.8 and OpenAPI share the syntax).
    pub path: &'static str,
    /// OpenAPI operationId.
    pub operation_id: &'static str,
    /// One line.
    pub summary: &'static str,
    /// More detail.
    pub description: &'static str,
    /// Served without the bearer token.
    pub public: bool,
    /// Path and query parameters.
    pub params: &'static [Param],
    /// Accepted request bodies (empty when the route takes none).
    pub request: &'static [Content],
    /// Success responses.
    pub replies: &'static [Reply],
    /// Error statuses this route can answer besides 401/403 (bodies are `ApiError`).
    pub errors: &'static [u16],
    /// Builds the axum method router of the handler.
    pub(crate) mount: fn() -> MethodRouter<AppState>,
}

const JSON: &str = "application/json";
/// Media type of the Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";

const NAME: Param = Param {
    name: "name",
    location: ParamIn::Path,
    kind: "string",
    required: true,
    description: "App name (lowercase letters, digits, '-').",
};

/// Every route the server has. The router is mounted from this table and the OpenAPI document is generated from it.
pub static ROUTES: &[Route] = &[
    Route {
        verb: Verb::Get,
        path: "/healthz",
        operation_id: "healthz",
        summary: "Liveness of the API server",
        description: "Answers `{\"ok\": true}` without a token, for scripts that wait for the server.",
        public: true,
        params: &[],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "The server is up.",
            content: &[Content { media_type: JSON, schema: Schema::Named("Health") }],
        }],
        errors: &[],
        mount: || get(healthz),
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/openapi.json",
        operation_id: "openapi",
        summary: "This OpenAPI document",
        description: "Served without a token.",
        public: true,
        params: &[],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "OpenAPI 3.0 document.",
            content: &[Content { media_type: JSON, schema: Schema::Text }],
        }],
        errors: &[],
        mount: || get(openapi),
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/status",
        operation_id: "getStatus",
        summary: "Engine status",
        description: "Version, Docker reachability, API URL, data directory and number of apps.",
        public: false,
        params: &[],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "Status.",
            content: &[Content { media_type: JSON, schema: Schema::Named("StatusView") }],
        }],
        errors: &[],
        mount: || get(status),
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/apps",
        operation_id: "listApps",
        summary: "List apps",
        description: "Every app with its instances.",
        public: false,
        params: &[],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "Apps.",
            content: &[Content { media_type: JSON, schema: Schema::ListOf("AppView") }],
        }],
        errors: &[500],
        mount: || get(list_apps),
    },
    Route {
        verb: Verb::Post,
        path: "/api/v1/apps",
        operation_id: "applyApp",
        summary: "Apply a spec (create, update or scale an app)",
        description: "Body: an `ApplyRequest` as JSON, or the YAML spec itself with `Content-Type: application/yaml` \
                      (or `text/yaml`; create_only is then false). An invalid spec is 400 `invalid_spec` with one \
                      diagnostic per problem, each naming its line and column.",
        public: false,
        params: &[],
        request: &[
            Content { media_type: JSON, schema: Schema::Named("ApplyRequest") },
            Content { media_type: "application/yaml", schema: Schema::Text },
            Content { media_type: "text/yaml", schema: Schema::Text },
        ],
        replies: &[
            Reply {
                status: 201,
                description: "The app was created.",
                content: &[Content { media_type: JSON, schema: Schema::Named("ApplyResult") }],
            },
            Reply {
                status: 200,
                description: "The app was updated, scaled or left unchanged.",
                content: &[Content { media_type: JSON, schema: Schema::Named("ApplyResult") }],
            },
        ],
        errors: &[400, 409, 422, 500, 503],
        mount: || post(apply),
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/apps/{name}",
        operation_id: "getApp",
        summary: "Get one app",
        description: "The app with its instances and the YAML it was applied from.",
        public: false,
        params: &[NAME],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "The app.",
            content: &[Content { media_type: JSON, schema: Schema::Named("AppView") }],
        }],
        errors: &[404, 500],
        mount: || get(get_app),
    },
    Route {
        verb: Verb::Delete,
        path: "/api/v1/apps/{name}",
        operation_id: "deleteApp",
        summary: "Delete an app",
        description: "Removes the app and every container, network and volume it owns.",
        public: false,
        params: &[NAME],
        request: &[],
        replies: &[Reply { status: 204, description: "Deleted.", content: &[] }],
        errors: &[404, 500, 503],
        mount: || delete(delete_app),
    },
    Route {
        verb: Verb::Post,
        path: "/api/v1/apps/{name}/scale",
        operation_id: "scaleApp",
        summary: "Change the replica count",
        description: "Body: `{\"replicas\": N}`.",
        public: false,
        params: &[NAME],
        request: &[Content { media_type: JSON, schema: Schema::Named("ScaleRequest") }],
        replies: &[Reply {
            status: 200,
            description: "The app after the change.",
            content: &[Content { media_type: JSON, schema: Schema::Named("AppView") }],
        }],
        errors: &[400, 404, 500, 503],
        mount: || post(scale),
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/apps/{name}/logs",
        operation_id: "appLogs",
        summary: "Logs of every instance of an app",
        description: "Streams newline-delimited JSON (`application/x-ndjson`): one `LogLineView` object per line, \
                      oldest first. Without `follow` the response ends after the existing lines (the last `tail` \
                      lines when given); with `follow=true` it stays open and new lines arrive as they are written.",
        public: false,
        params: &[
            NAME,
            Param {
                name: "follow",
                location: ParamIn::Query,
                kind: "boolean",
                required: false,
                description: "Keep streaming new lines (default false).",
            },
            Param {
                name: "tail",
                location: ParamIn::Query,
                kind: "integer",
                required: false,
                description: "Only the last N existing lines.",
            },
        ],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "Log lines, one JSON object per line.",
            content: &[Content { media_type: "application/x-ndjson", schema: Schema::Named("LogLineView") }],
        }],
        errors: &[400, 404, 500, 503],
        mount: || get(logs),
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/apps/{name}/rollout/history",
        operation_id: "rolloutHistory",
        summary: "Revision history of an app",
        description: "Every revision of the app, oldest first: number, time, image, cause and the spec of that \
                      revision as YAML. `current` marks the revision the app runs (after an undo it is not the \
                      newest one). A new revision is made when an apply changes the containers (image, command, env, \
                      ports, probes…); a replica change is not a revision.",
        public: false,
        params: &[NAME],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "Revisions, oldest first.",
            content: &[Content { media_type: JSON, schema: Schema::ListOf("RevisionView") }],
        }],
        errors: &[404, 500],
        mount: || get(rollout_history),
    },
    Route {
        verb: Verb::Post,
        path: "/api/v1/apps/{name}/rollout/undo",
        operation_id: "rolloutUndo",
        summary: "Roll an app back to an earlier revision",
        description: "Body: `{}` for the revision before the current one, or `{\"to\": N}` for revision N (see \
                      `rollout/history`). The container settings return to that revision's, the replica count \
                      stays, and a rolling update replaces the instances (follow it in the app's `rollout`). An \
                      unknown revision, or the current one, is 400 `bad_request` naming the revisions there are.",
        public: false,
        params: &[NAME],
        request: &[Content { media_type: JSON, schema: Schema::Named("UndoRequest") }],
        replies: &[Reply {
            status: 200,
            description: "The app after the change; `revision` is the revision rolled back to.",
            content: &[Content { media_type: JSON, schema: Schema::Named("AppView") }],
        }],
        errors: &[400, 404, 422, 500, 503],
        mount: || post(rollout_undo),
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/apps/{name}/nginx",
        operation_id: "exportNginx",
        summary: "NGINX config for an app",
        description: "`text/plain`: an NGINX `upstream` of the app's ready instances (their addresses on the app \
                      network) and a `server` listening on `127.0.0.1:<listen>` that proxies to it. Include it from \
                      your nginx.conf (e.g. `conf.d/`). The file lists the instances ready now; to keep it current, \
                      let Crane manage it (`PUT` on this path). An app without a port is 400 `bad_request`.",
        public: false,
        params: &[
            NAME,
            Param {
                name: "listen",
                location: ParamIn::Query,
                kind: "integer",
                required: false,
                description: "Port the generated `server` listens on, 1-65535 (default 8080).",
            },
        ],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "The NGINX config.",
            content: &[Content { media_type: "text/plain", schema: Schema::Text }],
        }],
        errors: &[400, 404, 500],
        mount: || get(export_nginx),
    },
    Route {
        verb: Verb::Put,
        path: "/api/v1/apps/{name}/nginx",
        operation_id: "manageNginx",
        summary: "Let Crane manage an NGINX for an app",
        description: "Body: `{\"config_path\": \"/etc/nginx/conf.d/web.conf\", \"pid_file\": \"/run/nginx.pid\", \
                      \"listen\": 8081}` (absolute paths on the engine's machine; `listen` defaults to 8080). Crane \
                      writes the app's config to `config_path` now and whenever its set of ready instances changes, \
                      and reloads NGINX each time (SIGHUP to the pid in `pid_file`). A second `PUT` replaces the \
                      settings. A file that cannot be written or an NGINX that cannot be signalled is 400 \
                      `bad_request` saying which.",
        public: false,
        params: &[NAME],
        request: &[Content { media_type: JSON, schema: Schema::Named("ManageNginxRequest") }],
        replies: &[Reply {
            status: 200,
            description: "What was done (\"wrote … and reloaded NGINX (pid …)\").",
            content: &[Content { media_type: JSON, schema: Schema::Named("Message") }],
        }],
        errors: &[400, 404, 500],
        mount: || put(manage_nginx),
    },
    Route {
        verb: Verb::Delete,
        path: "/api/v1/apps/{name}/nginx",
        operation_id: "unmanageNginx",
        summary: "Stop managing NGINX for an app",
        description: "Crane stops rewriting the config file; the file and NGINX are left as they are.",
        public: false,
        params: &[NAME],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "Confirmation.",
            content: &[Content { media_type: JSON, schema: Schema::Named("Message") }],
        }],
        errors: &[404, 500],
        mount: || delete(unmanage_nginx),
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/apps/{name}/charts/{metric}",
        operation_id: "appChart",
        summary: "One chart of an app as SVG",
        description: "`image/svg+xml`, rendered from the stored metrics of the last `range`: `cpu` and `memory` \
                      (per instance), `rps`, `latency` (p95), `errors` (5xx per second) and `replicas` (desired and \
                      ready). The autoscaler's target is drawn as a line and its scale events as markers. An unknown \
                      metric or range is 400 `bad_request` naming the field and the accepted values.",
        public: false,
        params: &[
            NAME,
            Param {
                name: "metric",
                location: ParamIn::Path,
                kind: "string",
                required: true,
                description: "One of cpu, memory, rps, latency, errors, replicas.",
            },
            Param {
                name: "range",
                location: ParamIn::Query,
                kind: "string",
                required: false,
                description: "How far back, e.g. 5m, 1h, 24h (10s..7d; default 5m).",
            },
        ],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "The chart.",
            content: &[Content { media_type: "image/svg+xml", schema: Schema::Text }],
        }],
        errors: &[400, 404, 500],
        mount: || get(chart),
    },
    Route {
        verb: Verb::Post,
        path: "/api/v1/apps/{name}/load",
        operation_id: "startLoad",
        summary: "Start the load generator against an app",
        description: "Body: a `LoadRequest`, e.g. `{\"rate\": 50, \"duration_s\": 60, \"path\": \"/work?ms=20\"}` \
                      (`ramp_to` for a ramp, `concurrency` for the most requests in flight). Requests go to the \
                      app's load-balancer address, so the app needs a port. Answers at once with the run; progress \
                      is streamed on `GET /api/v1/watch` as `progress` changes with operation `load:<app>` (also \
                      `GET` on this path), and the final report is the event `load.finished`. A second run while \
                      one is running is 409 `conflict`.",
        public: false,
        params: &[NAME],
        request: &[Content { media_type: JSON, schema: Schema::Named("LoadRequest") }],
        replies: &[Reply {
            status: 202,
            description: "The run has started.",
            content: &[Content { media_type: JSON, schema: Schema::Named("LoadView") }],
        }],
        errors: &[400, 404, 409, 500],
        mount: || post(start_load),
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/apps/{name}/load",
        operation_id: "getLoad",
        summary: "The app's load run",
        description: "The run in progress (live figures) or the last one (its report). 404 `not_found` when no run \
                      was started against the app since the engine started.",
        public: false,
        params: &[NAME],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "The run.",
            content: &[Content { media_type: JSON, schema: Schema::Named("LoadView") }],
        }],
        errors: &[404, 500],
        mount: || get(load_status),
    },
    Route {
        verb: Verb::Delete,
        path: "/api/v1/apps/{name}/load",
        operation_id: "stopLoad",
        summary: "Stop the app's load run",
        description: "Asks the run to stop; it ends within moments and its report (with `stopped_early`) is then \
                      on `GET` of this path. Stopping a run that already ended changes nothing. 400 \
                      `bad_request` when no run was started against the app.",
        public: false,
        params: &[NAME],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "The run as it was when asked to stop.",
            content: &[Content { media_type: JSON, schema: Schema::Named("LoadView") }],
        }],
        errors: &[400, 404, 500],
        mount: || delete(stop_load),
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/events",
        operation_id: "listEvents",
        summary: "Event log, newest first",
        description: "Every decision Crane took, with its reason; optionally of one app.",
        public: false,
        params: &[
            Param {
                name: "app",
                location: ParamIn::Query,
                kind: "string",
                required: false,
                description: "Only events of this app.",
            },
            Param {
                name: "limit",
                location: ParamIn::Query,
                kind: "integer",
                required: false,
                description: "At most this many (default 100).",
            },
        ],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "Events.",
            content: &[Content { media_type: JSON, schema: Schema::ListOf("EventView") }],
        }],
        errors: &[400, 500],
        mount: || get(events),
    },
    Route {
        verb: Verb::Post,
        path: "/api/v1/demo-image",
        operation_id: "buildDemoImage",
        summary: "Build the offline demo image",
        description: "Builds `crane-demo:<version>` on the Docker engine and answers with its name when done. \
                      Progress is streamed on `GET /api/v1/watch` as `progress` changes with operation `demo-image`.",
        public: false,
        params: &[],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "The image is built.",
            content: &[Content { media_type: JSON, schema: Schema::Named("DemoImage") }],
        }],
        errors: &[422, 500, 503],
        mount: || post(demo_image),
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/sd",
        operation_id: "serviceDiscovery",
        summary: "Prometheus HTTP service discovery",
        description: "The target list of Prometheus' `http_sd_configs`: a group for Crane itself (label \
                      `job=crane`, scrape `/metrics`) and one per running instance of an app with a port (labels \
                      `job=crane-apps`, `app`, `instance_name`, `revision`, `ready`; the address is on the app's \
                      Docker network). Prometheus sends the token with `authorization: {credentials: <token>}` in \
                      its `http_sd_configs` entry.",
        public: false,
        params: &[],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "Target groups.",
            content: &[Content { media_type: JSON, schema: Schema::ListOf("SdTargetGroup") }],
        }],
        errors: &[500],
        mount: || get(sd_targets),
    },
    Route {
        verb: Verb::Get,
        path: "/metrics",
        operation_id: "metrics",
        summary: "Crane's metrics for Prometheus",
        description: "The Prometheus text exposition format (`text/plain; version=0.0.4`): engine, apps (desired \
                      and ready replicas, revision), instances (up, restarts, CPU, memory), load balancers \
                      (requests by status class, errors, retries, latency quantiles, bytes) and autoscaler \
                      decisions. Needs the bearer token like the API (Prometheus: `authorization: {credentials: \
                      <token>}` in the scrape config).",
        public: false,
        params: &[],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "Metrics in the text exposition format.",
            content: &[Content { media_type: PROMETHEUS_TEXT, schema: Schema::Text }],
        }],
        errors: &[500],
        mount: || get(metrics),
    },
    Route {
        verb: Verb::Get,
        path: "/api/v1/watch",
        operation_id: "watch",
        summary: "Stream of changes (server-sent events)",
        description: "`text/event-stream`: each change is an event named `change` whose data is a `ChangeView` JSON \
                      object (`apps`, `event` or `progress`). A client that falls behind receives an `apps` change \
                      and should refresh what it shows. Comments are sent every 15 s to keep the connection open.",
        public: false,
        params: &[],
        request: &[],
        replies: &[Reply {
            status: 200,
            description: "Server-sent events.",
            content: &[Content { media_type: "text/event-stream", schema: Schema::Named("ChangeView") }],
        }],
        errors: &[],
        mount: || get(watch),
    },
];

/// Paths served without a token.
pub(crate) fn public_paths() -> HashSet<&'static str> {
    ROUTES.iter().filter(|r| r.public).map(|r| r.path).collect()
}

/// The router of every route in [`ROUTES`], with JSON answers for unknown paths and methods.
pub(crate) fn router(state: AppState) -> Router {
    ROUTES
        .iter()
        .fold(Router::new(), |router, route| router.route(route.path, (route.mount)()))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn unknown_route(method: Method, uri: Uri) -> ApiFailure {
    ApiFailure::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route {method} {}; the routes are listed in /api/v1/openapi.json", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiFailure {
    ApiFailure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}; the routes are listed in /api/v1/openapi.json", uri.path()),
    )
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "ok": true }))
}

async fn openapi(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json((*state.openapi).clone())
}

async fn status(State(state): State<AppState>) -> Json<StatusView> {
    Json(state.handle.status().await)
}

async fn list_apps(State(state): State<AppState>) -> Result<Json<Vec<AppView>>, ApiFailure> {
    Ok(Json(state.handle.list_apps().await?))
}

/// `ApplyRequest` as the server reads it: strictly, so a misspelt field is an error instead of being ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyBody {
    yaml: String,
    #[serde(default)]
    create_only: bool,
}

/// `ScaleRequest` as the server reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleBody {
    replicas: u32,
}

async fn apply(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<ApplyResult>), ApiFailure> {
    let media = media_type(&headers);
    let (yaml, create_only) =
        if matches!(media.as_deref(), Some("application/yaml" | "text/yaml" | "application/x-yaml")) {
            let yaml = String::from_utf8(body.to_vec())
                .map_err(|_| ApiFailure::bad_request("the YAML body is not valid UTF-8; save the file as UTF-8"))?;
            (yaml, false)
        } else {
            let body: ApplyBody =
                parse_json(media.as_deref(), &body, r#"{"yaml": "name: web\n...", "create_only": false}"#)?;
            (body.yaml, body.create_only)
        };
    let result = state.handle.apply(&yaml, create_only).await?;
    let status = if result.action == crane_api::ApplyAction::Created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(result)))
}

async fn get_app(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<AppView>, ApiFailure> {
    let Path(name) = name.map_err(|e| ApiFailure::bad_request(e.body_text()))?;
    Ok(Json(state.handle.get_app(&name).await?))
}

async fn delete_app(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiFailure> {
    let Path(name) = name.map_err(|e| ApiFailure::bad_request(e.body_text()))?;
    state.handle.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn scale(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AppView>, ApiFailure> {
    let Path(name) = name.map_err(|e| ApiFailure::bad_request(e.body_text()))?;
    let body: ScaleBody = parse_json(media_type(&headers).as_deref(), &body, r#"{"replicas": 3}"#)?;
    Ok(Json(state.handle.scale(&name, body.replicas).await?))
}

/// `UndoRequest` as the server reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UndoBody {
    #[serde(default)]
    to: Option<u32>,
}

/// Body of `PUT /apps/{name}/nginx`: where the managed NGINX reads the app's config and writes its pid. Also the
/// schema `ManageNginxRequest` of the OpenAPI document (a test checks that they agree).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManageNginxBody {
    /// Absolute path of the config file Crane writes (included by the user's nginx.conf).
    pub config_path: String,
    /// Absolute path of NGINX's pid file; Crane sends SIGHUP to that process after each rewrite.
    pub pid_file: String,
    /// Port the generated `server` listens on (127.0.0.1).
    #[serde(default = "default_nginx_listen")]
    pub listen: u16,
}

/// The answer of routes that only report what they did: `{"message": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageBody {
    /// One sentence saying what was done.
    pub message: String,
}

/// Port of the generated NGINX `server` when the client does not name one.
pub const DEFAULT_NGINX_LISTEN: u16 = 8080;

fn default_nginx_listen() -> u16 {
    DEFAULT_NGINX_LISTEN
}

async fn rollout_history(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<RevisionView>>, ApiFailure> {
    let Path(name) = name.map_err(|e| ApiFailure::bad_request(e.body_text()))?;
    Ok(Json(state.handle.rollout_history(&name).await?))
}

async fn rollout_undo(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AppView>, ApiFailure> {
    let Path(name) = name.map_err(|e| ApiFailure::bad_request(e.body_text()))?;
    let body: UndoBody = parse_json(media_type(&headers).as_deref(), &body, r#"{} or {"to": 2}"#)?;
    Ok(Json(state.handle.rollout_undo(&name, body.to.map(u64::from)).await?))
}

/// Query of `GET /apps/{name}/nginx`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NginxQuery {
    listen: Option<u16>,
}

async fn export_nginx(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    query: Result<Query<NginxQuery>, QueryRejection>,
) -> Result<Response, ApiFailure> {
    let Path(name) = name.map_err(|e| ApiFailure::bad_request(e.body_text()))?;
    let Query(query) = query.map_err(query_error)?;
    let listen = check_listen(query.listen.unwrap_or(DEFAULT_NGINX_LISTEN))?;
    let text = state.handle.export_nginx(&name, listen).await?;
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(response)
}

async fn manage_nginx(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<MessageBody>, ApiFailure> {
    let Path(name) = name.map_err(|e| ApiFailure::bad_request(e.body_text()))?;
    let body: ManageNginxBody = parse_json(
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
    let message = state.handle.manage_nginx(&name, Some(managed)).await?;
    Ok(Json(MessageBody { message }))
}

async fn unmanage_nginx(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<MessageBody>, ApiFailure> {
    let Path(name) = name.map_err(|e| ApiFailure::bad_request(e.body_text()))?;
    let message = state.handle.manage_nginx(&name, None).await?;
    Ok(Json(MessageBody { message }))
}

/// Port 0 would make NGINX pick a port nobody knows.
fn check_listen(listen: u16) -> Result<u16, ApiFailure> {
    if listen == 0 {
        return Err(ApiFailure::bad_request("listen must be a port from 1 to 65535, e.g. 8080"));
    }
    Ok(listen)
}

/// Query of `GET /apps/{name}/charts/{metric}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChartQuery {
    range: Option<String>,
}

/// Range of a chart when the client does not name one.
const DEFAULT_CHART_RANGE: &str = "5m";

async fn chart(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ChartQuery>, QueryRejection>,
) -> Result<Response, ApiFailure> {
    let Path((name, metric)) = path.map_err(|e| ApiFailure::bad_request(e.body_text()))?;
    let Query(query) = query.map_err(query_error)?;
    let range = query.range.as_deref().filter(|r| !r.is_empty()).unwrap_or(DEFAULT_CHART_RANGE);
    let svg = state.handle.chart(&name, &metric, range).await?;
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

async fn start_load(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<LoadView>), ApiFailure> {
    let Path(name) = name.map_err(|e| ApiFailure::bad_request(e.body_text()))?;
    // `LoadRequest` itself denies unknown fields, so it is parsed as is.
    let request: LoadRequest = parse_json(media_type(&headers).as_deref(), &body, LOAD_EXAMPLE)?;
    Ok((StatusCode::ACCEPTED, Json(state.handle.start_load(&name, &request).await?)))
}

async fn load_status(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<LoadView>, ApiFailure> {
    let Path(name) = name.map_err(|e| ApiFailure::bad_request(e.body_text()))?;
    match state.handle.load_status(&name).await? {
        Some(view) => Ok(Json(view)),
        None => Err(ApiFailure::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{NO_LOAD_RUN} '{name}' yet; start one with `cranectl load {name} --rate 50 --duration 60s`"),
        )),
    }
}

async fn stop_load(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<LoadView>, ApiFailure> {
    let Path(name) = name.map_err(|e| ApiFailure::bad_request(e.body_text()))?;
    Ok(Json(state.handle.stop_load(&name).await?))
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiFailure> {
    let text = state.handle.prometheus_metrics().await?;
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT));
    Ok(response)
}

async fn sd_targets(State(state): State<AppState>) -> Result<Json<Vec<crane_engine::SdTargetGroup>>, ApiFailure> {
    Ok(Json(state.handle.sd_targets().await?))
}

/// Query of `GET /apps/{name}/logs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    #[serde(default)]
    follow: bool,
    tail: Option<u32>,
}

async fn logs(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Response, ApiFailure> {
    let Path(name) = name.map_err(|e| ApiFailure::bad_request(e.body_text()))?;
    let Query(query) = query.map_err(query_error)?;
    let lines = state.handle.logs(&name, query.follow, query.tail).await?;
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    app: Option<String>,
    limit: Option<u32>,
}

/// Events returned when the client does not say how many.
const DEFAULT_EVENT_LIMIT: u32 = 100;

async fn events(
    State(state): State<AppState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<Vec<EventView>>, ApiFailure> {
    let Query(query) = query.map_err(query_error)?;
    let app = query.app.as_deref().filter(|a| !a.is_empty());
    Ok(Json(state.handle.events(app, query.limit.unwrap_or(DEFAULT_EVENT_LIMIT)).await?))
}

async fn demo_image(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiFailure> {
    let image = state.handle.build_demo_image().await?;
    Ok(Json(serde_json::json!({ "image": image })))
}

async fn watch(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<Event, axum::Error>>> {
    // Subscribing before the response is returned means a client that has the response headers cannot miss a
    // change sent after that (cranectl relies on it to show build progress).
    let changes = BroadcastStream::new(state.handle.subscribe())
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
    use crane_api::{ApplyRequest, ScaleRequest, UndoRequest};

    /// The strict mirrors accept exactly what the wire types serialize to.
    #[test]
    fn strict_bodies_accept_wire_types() {
        let apply = serde_json::to_vec(&ApplyRequest { yaml: "name: a".into(), create_only: true }).unwrap();
        let parsed: ApplyBody = parse_json(Some("application/json"), &apply, "").unwrap();
        assert_eq!((parsed.yaml.as_str(), parsed.create_only), ("name: a", true));
        let scale = serde_json::to_vec(&ScaleRequest { replicas: 4 }).unwrap();
        let parsed: ScaleBody = parse_json(None, &scale, "").unwrap();
        assert_eq!(parsed.replicas, 4);
        for to in [None, Some(2)] {
            let undo = serde_json::to_vec(&UndoRequest { to }).unwrap();
            let parsed: UndoBody = parse_json(None, &undo, "").unwrap();
            assert_eq!(parsed.to, to);
        }
        let parsed: UndoBody = parse_json(None, b"{}", "").unwrap();
        assert_eq!(parsed.to, None);
        let parsed: ManageNginxBody = parse_json(None, br#"{"config_path": "/a", "pid_file": "/b"}"#, "").unwrap();
        assert_eq!(parsed.listen, DEFAULT_NGINX_LISTEN);
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = parse_json::<ScaleBody>(None, br#"{"replica": 3}"#, "{}").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.error.message.contains("unknown field `replica`"), "{}", err.error.message);
        assert!(err.error.message.contains("`replicas`"), "{}", err.error.message);
    }

    #[test]
    fn undo_and_nginx_bodies_are_strict() {
        let err = parse_json::<UndoBody>(None, br#"{"revision": 2}"#, "{}").unwrap_err();
        assert!(err.error.message.contains("unknown field `revision`"), "{}", err.error.message);
        assert!(err.error.message.contains("`to`"), "{}", err.error.message);
        let err = parse_json::<ManageNginxBody>(None, br#"{"config": "/a", "pid_file": "/b"}"#, "{}").unwrap_err();
        assert!(err.error.message.contains("unknown field `config`"), "{}", err.error.message);
        assert_eq!(check_listen(0).unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn routes_are_unique() {
        let mut seen = HashSet::new();
        for route in ROUTES {
            assert!(seen.insert((route.verb, route.path)), "{:?} {} twice", route.verb, route.path);
        }
    }
}
