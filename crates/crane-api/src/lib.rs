//! Wire types: what the REST API returns, what Tauri commands return and what `cranectl` prints. One definition for
//! all three doors; specta generates the UI's JSDoc bindings from them and utoipa the schemas of the REST API's
//! OpenAPI document (`ToSchema`), so the bindings, the document and the wire cannot disagree.
//!
//! **Architecture Invariant:** only data types; the derives are the only behaviour.

use serde::{Deserialize, Serialize};
use specta::Type;
use utoipa::ToSchema;

pub mod experiment;
pub mod lab;
pub mod scan;
pub use experiment::*;
pub use lab::*;
pub use scan::*;
pub mod window;
pub use window::*;

/// Version of the REST API path prefix.
pub const API_PREFIX: &str = "/api/v1";

/// One problem found in a spec, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct Diagnostic {
    /// 1-based line in the submitted YAML (0 when not tied to a line).
    pub line: u32,
    /// 1-based column (0 when not tied to a line).
    pub column: u32,
    /// Dotted path of the field, e.g. `resources.memory`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// The file the problem is in, when the source is several files (a lab: `lab.yaml`, `apps/web.yaml`).
    pub file: Option<String>,
    /// The 1-based document of a multi-document YAML file (`---` separated); `line` still counts from the start of
    /// the file.
    pub document: Option<u32>,
}

/// The door a request came through (recorded in the audit log and given to policies as `door`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Door {
    /// The desktop window.
    Window,
    /// The REST API (a script, curl, another program).
    Rest,
    /// `cranectl` (it talks to the REST API and says so with the `X-Crane-Client: cranectl` header).
    Cli,
    /// A lab step carried out by Crane for a student.
    Lab,
    /// The engine itself (the autoscaler, an alert action, a rollout decision).
    Engine,
}

/// What a user may do. Each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read everything (apps, events, metrics, policies); change nothing.
    Viewer,
    /// Manage their own apps: apply, scale, delete, rollouts, load, alerts.
    Operator,
    /// Everything: every app, users and tokens, policies, unsafe settings.
    Admin,
}

/// What went wrong, for programs: every door sends one of these codes, and the REST API maps each to one HTTP status.
/// Clients match on the variant, never on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The spec has problems; `diagnostics` lists each with line, column and fix.
    InvalidSpec,
    /// The request is malformed (body, query, path) or a value is out of range.
    BadRequest,
    /// The bearer token is missing or wrong.
    Unauthorized,
    /// The Host or Origin of the request is not allowed, or the caller's role or ownership does not allow the
    /// operation (the message names the rule and the fix).
    Forbidden,
    /// No such app, load run or route.
    NotFound,
    /// The route does not accept this method.
    MethodNotAllowed,
    /// The request body is larger than the route reads (the message names the limit).
    PayloadTooLarge,
    /// The app exists already (create only), a name is taken, or a load run is already running.
    Conflict,
    /// A host port is taken.
    PortInUse,
    /// The image cannot be pulled or built.
    ImageUnavailable,
    /// The Docker engine cannot be reached.
    DockerUnreachable,
    /// The engine loop stopped, or failed during the request and was restarted (the message says which).
    EngineStopped,
    /// Anything else (store, runtime).
    Internal,
    /// A policy refused the change (admission `deny`, or a scaling policy that does not allow it); the message and
    /// `diagnostics` carry the policy's messages. Nothing was changed.
    PolicyDenied,
    /// A policy cannot be saved: it does not compile, breaks the conventions or fails its own tests; `diagnostics`
    /// lists each problem with line and column.
    InvalidPolicy,
    /// A policy failed while deciding (a runtime error, the time limit, or an answer of the wrong type or with an
    /// unknown action). Nothing was changed; fix or reset the policy.
    PolicyFailed,
}

impl ErrorCode {
    /// Every code, in declaration order (a test checks it against the derived schema).
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::InvalidSpec,
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Conflict,
        ErrorCode::PortInUse,
        ErrorCode::ImageUnavailable,
        ErrorCode::DockerUnreachable,
        ErrorCode::EngineStopped,
        ErrorCode::Internal,
        ErrorCode::PolicyDenied,
        ErrorCode::InvalidPolicy,
        ErrorCode::PolicyFailed,
    ];
}

/// An error as every door reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ApiError {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// One sentence for a human, naming the fix.
    pub message: String,
    /// Spec problems for `invalid_spec`, policy problems for `invalid_policy`, the policy's messages for
    /// `policy_denied` (line 0, `path` naming the policy).
    pub diagnostics: Vec<Diagnostic>,
}

/// Lifecycle state of one instance, as shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InstanceState {
    /// Created or started, not yet known to be up.
    Starting,
    /// Process running (no readiness probe configured, or not yet passed).
    Running,
    /// Running and ready to receive traffic.
    Ready,
    /// Exited unexpectedly; waiting for its restart (backoff).
    Crashed,
    /// Being replaced by a new container.
    Restarting,
    /// Being stopped and removed.
    Stopping,
}

/// One instance of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct InstanceView {
    /// Container name, `<app>-<index>`.
    pub name: String,
    /// 1-based index.
    pub index: u32,
    /// Container id (short), empty while not created.
    pub id: String,
    /// State.
    pub state: InstanceState,
    /// Revision the instance runs.
    pub revision: u32,
    /// Restarts of this slot since it last ran stably.
    pub restarts: u32,
    /// Human-readable detail ("exited with code 1; next restart in 4s").
    pub message: String,
    /// IP address on the app network, when running.
    pub address: Option<String>,
    /// Milliseconds since the instance started, when running.
    pub uptime_ms: Option<f64>,
    /// Probe state in a few words ("startup passed · liveness ok · ready"), when the app has probes.
    pub probe: Option<String>,
    /// The last probe failure ("readiness: GET /ready returned 503"), if any.
    pub probe_failure: Option<String>,
    /// Requests the load balancer sent to this instance (since it joined), when the app has a port.
    pub traffic: Option<TrafficView>,
    /// CPU in percent of one core (200 = two cores busy), from the latest Docker stats sample when it is under
    /// 10 s old; null otherwise.
    pub cpu_percent: Option<f64>,
}

/// Request metrics of the built-in load balancer (counted since the engine started).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct TrafficView {
    /// Requests answered.
    pub requests: f64,
    /// Requests per second over the last 10 s.
    pub rps: f64,
    /// Latency percentiles in milliseconds.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Answers by status class.
    pub status_2xx: f64,
    /// 3xx answers.
    pub status_3xx: f64,
    /// 4xx answers.
    pub status_4xx: f64,
    /// 5xx answers (including the load balancer's own 502/503/504).
    pub status_5xx: f64,
    /// Answers the load balancer made itself because no instance could (502/503/504).
    pub errors: f64,
    /// Requests in flight now.
    pub in_flight: f64,
    /// Bytes received from clients.
    pub bytes_in: f64,
    /// Bytes sent to clients.
    pub bytes_out: f64,
    /// Long-lived connections open now: WebSockets (upgraded connections) of an http port, client connections of a
    /// tcp port.
    pub open_connections: f64,
    /// Long-lived connections opened since the engine started.
    pub connections: f64,
    /// Long-lived connections opened per second over the last 10 s.
    pub connections_per_second: f64,
    /// gRPC answers by status code (only codes seen), next to the HTTP status classes.
    pub grpc: Vec<GrpcStatusCount>,
}

/// How many answers carried one gRPC status code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct GrpcStatusCount {
    /// The code (0 = OK … 16 = UNAUTHENTICATED).
    pub code: u8,
    /// Its name, such as `UNAVAILABLE`.
    pub name: String,
    /// Answers with this code.
    pub count: f64,
}

/// How the load balancer carries a port's traffic (`ports[].mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PortModeView {
    /// A reverse proxy per HTTP request (HTTP/1.1, h2c, WebSockets).
    Http,
    /// A layer-4 balancer per TCP connection.
    Tcp,
}

/// What an app speaks on a port (`ports[].appProtocol`, `http` when omitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppProtocolView {
    /// HTTP/1.1.
    Http,
    /// HTTP/2 without TLS.
    Http2,
    /// gRPC.
    Grpc,
    /// Any TCP protocol.
    Tcp,
}

/// How the load balancer chooses an instance (`ports[].balance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum BalanceView {
    /// In turn.
    RoundRobin,
    /// The instance with the fewest requests in flight and connections open.
    LeastConnections,
}

/// One port of an app as the load balancer serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct PortView {
    /// The container port.
    pub container: u16,
    /// The loopback port the load balancer listens on, when it listens.
    pub public: Option<u16>,
    /// Per request (`http`) or per connection (`tcp`).
    pub mode: PortModeView,
    /// The protocol spoken to the instances.
    pub app_protocol: AppProtocolView,
    /// Whether clients are kept on one instance by a cookie.
    pub sticky: bool,
    /// How instances are chosen.
    pub balance: BalanceView,
    /// Where to connect: `http://127.0.0.1:PORT` for http ports, `tcp://127.0.0.1:PORT` for tcp ports.
    pub address: Option<String>,
    /// The port's traffic since the engine started.
    pub traffic: Option<TrafficView>,
}

/// One app with its instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct AppView {
    /// App name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Desired replicas.
    pub replicas: u32,
    /// Instances currently ready (or running when no readiness probe).
    pub ready: u32,
    /// Paused standbys ready to take over a dead instance's slot (`heal.standby`); 0 without the setting.
    pub standbys: u32,
    /// Current revision.
    pub revision: u32,
    /// Container ports.
    pub ports: Vec<u16>,
    /// Load balancer address (`http://127.0.0.1:PORT`), when the app has a port.
    pub url: Option<String>,
    /// Every port as the load balancer serves it (mode, protocol, address and traffic), in spec order.
    pub listeners: Vec<PortView>,
    /// Spec sections that are parsed and stored but not active yet in this version, with a sentence each.
    pub inactive: Vec<String>,
    /// The YAML the app was applied from.
    pub spec_yaml: String,
    /// Instances, by index.
    pub instances: Vec<InstanceView>,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// The user who created the app; operators manage only their own apps.
    pub owner: String,
    /// The rolling update in progress (or the last one that failed or paused), if any.
    pub rollout: Option<RolloutView>,
    /// Traffic through the app's load balancer, when it has a port.
    pub traffic: Option<TrafficView>,
    /// The load generator's run against this app (running or the last one), if any.
    pub load: Option<LoadView>,
    /// The app's autoscaling policy with Crane's defaults applied, and the autoscaler's latest decision; null
    /// when the spec has no `autoscaling`.
    pub autoscaling: Option<AutoscalingView>,
}

/// What the autoscaler measures, as the spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AutoscaleMetric {
    /// CPU use in percent of the instance's CPU limit (Crane's default, 1 CPU, without one), per instance.
    Cpu,
    /// Memory use in percent of the instance's memory limit, per instance.
    Memory,
    /// Requests per second per replica.
    Rps,
    /// The app's 95th percentile latency, ms.
    LatencyP95,
    /// The value of the spec's Prometheus query.
    Custom,
}

/// Which way an autoscaler decision went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScaleChange {
    /// More replicas.
    Up,
    /// Fewer replicas.
    Down,
    /// The same count (a hold).
    None,
}

/// An app's autoscaling policy as the autoscaler applies it: the spec's values, and Crane's defaults where the spec
/// leaves a field out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct AutoscalingView {
    /// Lowest replica count.
    pub min: u32,
    /// Highest replica count.
    pub max: u32,
    /// What is measured.
    pub metric: AutoscaleMetric,
    /// Target value: percent for cpu and memory, requests/s per replica for rps, ms for latency p95.
    pub target: f64,
    /// The Prometheus query, for `custom`.
    pub query: Option<String>,
    /// How far `usage / target` may stray from 1 before anything changes (0.1 = 10 %).
    pub tolerance: f64,
    /// How far back recommendations hold a scale down, ms (the effective value: the spec's, or Crane's default).
    pub scale_down_stabilization_ms: f64,
    /// Most instances added by one decision; `None` for no limit.
    pub max_scale_up_step: Option<u32>,
    /// Most instances removed by one decision; `None` for no limit.
    pub max_scale_down_step: Option<u32>,
    /// With `min: 0`: how long without a request before the app scales to zero, ms (the spec's, or the 5 min
    /// default); null when the app never scales to zero.
    pub idle_after_ms: Option<f64>,
    /// Where scale to zero stands (phase, held requests, the last cold start); null without `min: 0`.
    pub scale_to_zero: Option<ScaleToZeroView>,
    /// The autoscaler's latest decision, once it made one.
    pub last_decision: Option<AutoscaleDecisionView>,
}

/// Where an app that scales to zero stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ZeroPhase {
    /// One or more replicas wanted.
    Serving,
    /// Zero replicas: the load balancer listens and the next request wakes the app.
    Zero,
    /// A request arrived at zero; an instance is starting and requests are held.
    Waking,
}

/// Scale to zero as the app's load balancer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ScaleToZeroView {
    /// The phase.
    pub phase: ZeroPhase,
    /// Requests held now, waiting for an instance.
    pub held: u32,
    /// Most requests held at once; more get 503 with `Retry-After`.
    pub max_held: u32,
    /// Longest a request is held, ms.
    pub hold_timeout_ms: f64,
    /// Requests refused (queue full or held too long) since the load balancer started.
    pub refused: f64,
    /// The last cold start (first held request → an instance ready), ms; null before the first wake.
    pub last_cold_start_ms: Option<f64>,
    /// When the app last woke, RFC 3339.
    pub last_woke_at: Option<String>,
}

/// A rule of the autoscaler that changed or held a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AutoscaleRule {
    /// `ratio` within `tolerance` of 1.
    Tolerance,
    /// Recounted with unready instances and those without a sample, the ratio fell within tolerance or on the
    /// other side of the target (`ratio` is the recomputed one).
    SetAside,
    /// The formula's count (`wanted`) moved against the metric.
    Direction,
    /// No sample, value or ready instance yet.
    NoData,
    /// The metric asked for more than `bound` (max).
    Max,
    /// The metric asked for less than `bound` (min, at least 1).
    Min,
    /// The count was outside [min, max] and was brought back.
    OutOfRange,
    /// Scale-down stabilization: no lower than `highest` of `recommendations` in `window_ms`.
    Stabilization,
    /// At most `step` added per decision.
    StepUp,
    /// At most `step` removed per decision.
    StepDown,
    /// At zero: the next request wakes the app.
    AtZero,
}

/// One recommendation in a stabilization window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct AutoscaleRecommendationView {
    /// When it was made, RFC 3339.
    pub at: String,
    /// Replicas it recommended.
    pub replicas: u32,
}

/// A rule that changed or held a decision, with its numbers (fields that do not apply to the rule are null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct AutoscaleLimitView {
    /// Which rule.
    pub rule: AutoscaleRule,
    /// The ratio the rule looked at (`tolerance`, `set_aside`).
    pub ratio: Option<f64>,
    /// The tolerance band's half-width (`tolerance`).
    pub tolerance: Option<f64>,
    /// What the metric or the previous rule asked for (`direction`, `max`, `min`, `step_up`, `step_down`).
    pub wanted: Option<u32>,
    /// The bound that applied (`max`, `min`; for `out_of_range` the min, with `bound_max`).
    pub bound: Option<u32>,
    /// The max, for `out_of_range`.
    pub bound_max: Option<u32>,
    /// The step limit (`step_up`, `step_down`).
    pub step: Option<u32>,
    /// The stabilization window, ms.
    pub window_ms: Option<f64>,
    /// The recommendations in the window, oldest first, this decision's last (`stabilization`).
    pub recommendations: Vec<AutoscaleRecommendationView>,
    /// The highest recommendation in the window (`stabilization`).
    pub highest: Option<u32>,
}

/// One autoscaler decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct AutoscaleDecisionView {
    /// When it was made, RFC 3339.
    pub at: String,
    /// Replicas before it.
    pub from: u32,
    /// Replicas after it (equal to `from` for a hold).
    pub to: u32,
    /// Which way it went.
    pub change: ScaleChange,
    /// The measured value it compared with the target, when it looked at the metric.
    pub value: Option<f64>,
    /// `value / target`, which the tolerance band is about (within `1 ± tolerance` nothing changes).
    pub ratio: Option<f64>,
    /// What the metric recommended, after min/max, before stabilization and step limits.
    pub recommendation: u32,
    /// Every rule that changed or held the outcome, in the order applied (empty when the formula's count applied).
    pub limits: Vec<AutoscaleLimitView>,
    /// The sentence with the formula ("cpu 93% over 2 ready > target 70% → ceil(2×93/70)=3 → scale 2→3").
    pub reason: String,
}

/// Body of `POST /apps/{name}/load`: start the built-in load generator against the app's address. Unknown fields are
/// rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadRequest {
    /// Requests per second (the start rate of a ramp).
    pub rate: f64,
    /// How long, in seconds (1..=3600).
    pub duration_s: f64,
    /// With a ramp: the rate reached at the end.
    #[serde(default)]
    pub ramp_to: Option<f64>,
    /// Most requests in flight at once (default 64).
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Path requested (default `/`), e.g. `/work?ms=20` to burn CPU in the demo app.
    #[serde(default)]
    pub path: Option<String>,
}

/// A run of the load generator: live progress while it runs, the report when done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct LoadView {
    /// Whether it is still running.
    pub running: bool,
    /// Where it sends requests.
    pub url: String,
    /// Requests per second asked for now.
    pub target_rate: f64,
    /// Answers per second achieved (last second while running, overall when done).
    pub achieved_rate: f64,
    /// Requests sent.
    pub sent: f64,
    /// Answers with 2xx/3xx.
    pub ok: f64,
    /// Failed requests (non-2xx/3xx, transport errors, concurrency limit).
    pub errors: f64,
    /// Latency percentiles in ms.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Seconds since it started.
    pub elapsed_s: f64,
    /// Planned duration in seconds.
    pub duration_s: f64,
    /// Whether it was stopped before its end.
    pub stopped_early: bool,
    /// Errors by kind ("HTTP 503: 12"), when done.
    pub error_kinds: Vec<String>,
}

/// Progress of a rolling update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct RolloutView {
    /// Revisions being replaced.
    pub from: Vec<u32>,
    /// Revision being rolled out.
    pub to: u32,
    /// New instances ready so far.
    pub ready: u32,
    /// Instances wanted.
    pub total: u32,
    /// Where the update stands.
    pub state: RolloutState,
    /// One sentence ("2/3 instances of revision 2 ready", or why it failed).
    pub message: String,
}

/// Where a rolling update stands, as the window and `cranectl rollout status` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    /// New instances are starting or becoming ready.
    Progressing,
    /// Every instance runs the new revision.
    Complete,
    /// The update failed; the engine is rolling back or pausing (see the message).
    Failed,
    /// The update is paused: no progress until a new apply or an undo.
    Paused,
    /// The update failed and the engine returned to the previous revision (or is returning to it).
    RolledBack,
}

impl RolloutState {
    /// The word used on the wire and in event kinds (`rollout.progressing`…).
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Progressing => "progressing",
            RolloutState::Complete => "complete",
            RolloutState::Failed => "failed",
            RolloutState::Paused => "paused",
            RolloutState::RolledBack => "rolled_back",
        }
    }

    /// Whether the update needs a person's attention (failed, paused, or rolled back).
    pub fn needs_attention(self) -> bool {
        matches!(self, RolloutState::Failed | RolloutState::Paused | RolloutState::RolledBack)
    }
}

/// What an apply did to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplyAction {
    /// The app was created.
    Created,
    /// Container settings changed: a new revision is rolled out.
    Updated,
    /// Only the replica count or a policy changed: no new containers.
    Scaled,
    /// Nothing changed.
    Unchanged,
}

/// One revision of an app (`cranectl rollout history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct RevisionView {
    /// Revision number.
    pub revision: u32,
    /// When it was made, RFC 3339.
    pub created_at: String,
    /// Image of that revision.
    pub image: String,
    /// Why it was made.
    pub cause: String,
    /// Whether it is the current revision.
    pub current: bool,
    /// The spec of that revision, as YAML.
    pub spec_yaml: String,
}

/// Body of `POST /apps/{name}/rollout/undo`; `{}` returns to the previous revision. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UndoRequest {
    /// Revision to return to; the previous one when omitted.
    #[serde(default)]
    pub to: Option<u32>,
}

/// Result of `apply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ApplyResult {
    /// The app after the change.
    pub app: AppView,
    /// What the apply did.
    pub action: ApplyAction,
    /// Non-fatal remarks (inactive spec sections, hardened defaults applied).
    pub warnings: Vec<String>,
    /// What the admission policy's `warn` rule said about this change (and a scaling policy that changed the
    /// replica count asked for); each is also in the event log as `policy.warned`.
    pub policy_warnings: Vec<String>,
}

/// Body of `POST /apps` (apply). Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// The spec as YAML (JSON is YAML too).
    pub yaml: String,
    /// When true, fail with `conflict` if the app already exists (the window's *New app* form).
    #[serde(default)]
    pub create_only: bool,
}

/// Result of applying a multi-document file (`---` separated apps): one result per app, in file order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ApplyAllResult {
    /// Each app's result, in the file's order.
    pub results: Vec<ApplyResult>,
}

/// Body of `POST /apps/{name}/scale`. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleRequest {
    /// New replica count.
    pub replicas: u32,
}

/// The engine's settings (`GET /api/v1/settings`, `cranectl settings`, the window's Settings panel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct SettingsView {
    /// `allowUnsafe`: when true the safety floor is off, and specs may ask for privileged containers, any host path
    /// (read-write) and any capability, which is root on the host. Off by default.
    pub allow_unsafe: bool,
    /// `hostPathAllow`: host directories specs may bind-mount (read-only), with everything under them. Absolute
    /// paths in normal form; never `/`, a system directory or the data directory. Empty by default.
    pub host_path_allow: Vec<String>,
    /// `alertmanager_url`: an Alertmanager (e.g. `http://127.0.0.1:9093`) Crane sends the built-in evaluator's
    /// firing and resolved alerts to (its API v2, `POST /api/v2/alerts`), as Prometheus does; `null`: none.
    #[serde(default)]
    pub alertmanager_url: Option<String>,
    /// `opa_url`: an OPA server (e.g. `http://127.0.0.1:8181`) that decides the policies named in `opa_policies`
    /// over OPA's REST Data API (`POST /v1/data/crane/<policy>`) instead of the embedded Rego; `null`: none.
    #[serde(default)]
    pub opa_url: Option<String>,
    /// `opa_policies`: the policies the OPA server decides. When it cannot be reached, admission fails closed (the
    /// change is refused) and scaling or alert actions hold.
    #[serde(default)]
    pub opa_policies: Vec<PolicyName>,
}

/// Body of `PUT /api/v1/settings` (admin only): the settings to change; a field left out keeps its value. Unknown
/// fields are rejected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    /// New value of `allowUnsafe`.
    #[serde(default)]
    pub allow_unsafe: Option<bool>,
    /// New host-path allow-list (replaces the whole list; `[]` empties it).
    #[serde(default)]
    pub host_path_allow: Option<Vec<String>>,
    /// New `alertmanager_url` (an `http://` or `https://` URL; `""` turns sending off).
    #[serde(default)]
    pub alertmanager_url: Option<String>,
    /// New `opa_url` (an `http://` or `https://` URL; `""` removes it, which needs `opa_policies` empty).
    #[serde(default)]
    pub opa_url: Option<String>,
    /// New `opa_policies` (replaces the list; `[]`: every policy runs embedded).
    #[serde(default)]
    pub opa_policies: Option<Vec<PolicyName>>,
}

/// The answer of a token rotation (`POST /api/v1/token/rotate`, `cranectl token rotate`, the window's *Rotate
/// token*). The new token is never in it: it names the file that holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct TokenRotated {
    /// The file that holds the new token.
    pub token_file: String,
    /// What happened, for people.
    pub message: String,
}

/// What an event-log entry is about. On the wire, the dotted name (`instance.started`); an entry written by a newer
/// Crane with a kind this one does not know reads as `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Type, ToSchema)]
pub enum EventKind {
    /// The app was created.
    #[serde(rename = "app.created")]
    AppCreated,
    /// The app's container settings changed: a new revision rolls out.
    #[serde(rename = "app.updated")]
    AppUpdated,
    /// The app's replica count changed by request.
    #[serde(rename = "app.scaled")]
    AppScaled,
    /// The app was deleted by request.
    #[serde(rename = "app.deleted")]
    AppDeleted,
    /// A new app could not start and was removed again (nothing half-created).
    #[serde(rename = "app.rolled_back")]
    AppRolledBack,
    /// The app's network could not be created.
    #[serde(rename = "app.network_failed")]
    AppNetworkFailed,
    /// A deleted app's network and volumes were removed.
    #[serde(rename = "app.resources_removed")]
    AppResourcesRemoved,
    /// An app's stored row cannot be read (written by a newer Crane, or damaged); its containers are left alone.
    #[serde(rename = "app.unreadable")]
    AppUnreadable,
    /// An alert's condition holds; it fires once it has held for the rule's `for`.
    #[serde(rename = "alert.pending")]
    AlertPending,
    /// An alert fires.
    #[serde(rename = "alert.firing")]
    AlertFiring,
    /// An alert's condition no longer holds (a firing alert resolved, or a pending one cleared).
    #[serde(rename = "alert.resolved")]
    AlertResolved,
    /// The alert rules were replaced or reset.
    #[serde(rename = "alert.rules_changed")]
    AlertRulesChanged,
    /// A rule could not be evaluated (logged once per distinct error).
    #[serde(rename = "alert.eval_failed")]
    AlertEvalFailed,
    /// A rule that could not be evaluated can be again.
    #[serde(rename = "alert.eval_recovered")]
    AlertEvalRecovered,
    /// What Crane did about a firing or resolved alert (the rule's action or the alerts policy's), with the outcome:
    /// done, held by the cooldown, clamped by the scaling policy, or failed.
    #[serde(rename = "alert.action")]
    AlertAction,
    /// Sending alerts to the configured Alertmanager failed, or works again after failing (details: `ok`, `url`,
    /// `alerts`, `error`).
    #[serde(rename = "alert.sent")]
    AlertSent,
    /// The autoscaler kept the replica count (with why).
    #[serde(rename = "autoscale.hold")]
    AutoscaleHold,
    /// The autoscaler changed the replica count.
    #[serde(rename = "autoscale.scaled")]
    AutoscaleScaled,
    /// An app with `min: 0` went to zero replicas after `idleAfter` without a request (details: `idle_ms`).
    #[serde(rename = "autoscale.zero")]
    AutoscaleZero,
    /// A request arrived at zero replicas; the load balancer holds it and the engine starts an instance.
    #[serde(rename = "autoscale.wake")]
    AutoscaleWake,
    /// An app woke from zero: an instance is ready and the held requests go through (details: `cold_start_ms`,
    /// `released`).
    #[serde(rename = "autoscale.woke")]
    AutoscaleWoke,
    /// The engine loop failed and was restarted.
    #[serde(rename = "engine.loop_restarted")]
    EngineLoopRestarted,
    /// The engine loop failed too often and stopped.
    #[serde(rename = "engine.loop_stopped")]
    EngineLoopStopped,
    /// An image build started.
    #[serde(rename = "image.build")]
    ImageBuild,
    /// An image was built.
    #[serde(rename = "image.built")]
    ImageBuilt,
    /// An image build failed.
    #[serde(rename = "image.failed")]
    ImageFailed,
    /// An image was scanned (vulnerabilities and hygiene).
    #[serde(rename = "image.scanned")]
    ImageScanned,
    /// An image scan failed or was cancelled.
    #[serde(rename = "image.scan_failed")]
    ImageScanFailed,
    /// Advisories were imported into the scanner's database.
    #[serde(rename = "scan.db_imported")]
    ScanDbImported,
    /// A lab was loaded: its resources were created (details: the lab, what it created, the caller).
    #[serde(rename = "lab.loaded")]
    LabLoaded,
    /// Every check of a lab's step held (details: the lab, the step, each check with what was seen).
    #[serde(rename = "lab.check_passed")]
    LabCheckPassed,
    /// A lab was reset: what it created was removed and what it changed restored.
    #[serde(rename = "lab.reset")]
    LabReset,
    /// A crashing instance waits before its restart (CrashLoop backoff).
    #[serde(rename = "instance.backoff")]
    InstanceBackoff,
    /// An instance exited or ran out of memory.
    #[serde(rename = "instance.died")]
    InstanceDied,
    /// A second container of one slot was removed.
    #[serde(rename = "instance.duplicate_removed")]
    InstanceDuplicateRemoved,
    /// A container of an app that no longer exists was removed.
    #[serde(rename = "instance.orphan_removed")]
    InstanceOrphanRemoved,
    /// A container of another revision was removed.
    #[serde(rename = "instance.outdated")]
    InstanceOutdated,
    /// An instance passes its readiness probe and receives traffic.
    #[serde(rename = "instance.ready")]
    InstanceReady,
    /// A container could not be removed.
    #[serde(rename = "instance.remove_failed")]
    InstanceRemoveFailed,
    /// A crashed instance was removed to be replaced.
    #[serde(rename = "instance.replaced")]
    InstanceReplaced,
    /// An instance above the replica count was removed.
    #[serde(rename = "instance.scaled_down")]
    InstanceScaledDown,
    /// A paused standby (`heal.standby`) is ready to take over its slot.
    #[serde(rename = "instance.standby_ready")]
    InstanceStandbyReady,
    /// A standby could not be created (retried later; healing falls back to a new container).
    #[serde(rename = "instance.standby_failed")]
    InstanceStandbyFailed,
    /// A standby was removed (app gone, setting off, slot scaled away, other revision).
    #[serde(rename = "instance.standby_removed")]
    InstanceStandbyRemoved,
    /// A container that never started (or had bad labels) was removed.
    #[serde(rename = "instance.stale_removed")]
    InstanceStaleRemoved,
    /// An instance could not be started (logged once per distinct error).
    #[serde(rename = "instance.start_failed")]
    InstanceStartFailed,
    /// An instance started after failed attempts.
    #[serde(rename = "instance.start_recovered")]
    InstanceStartRecovered,
    /// A failed start waits before its next attempt.
    #[serde(rename = "instance.start_retry")]
    InstanceStartRetry,
    /// An instance was started.
    #[serde(rename = "instance.started")]
    InstanceStarted,
    /// An instance failed its liveness or startup probe and is restarted.
    #[serde(rename = "instance.unhealthy")]
    InstanceUnhealthy,
    /// An instance failed its readiness probe and left the load balancer.
    #[serde(rename = "instance.unready")]
    InstanceUnready,
    /// An old revision's instance was drained and removed by a rolling update.
    #[serde(rename = "instance.updated")]
    InstanceUpdated,
    /// An experiment run started recording (its app's settings and load profile in the details).
    #[serde(rename = "experiment.started")]
    ExperimentStarted,
    /// An experiment run ended; its points were copied (why it ended and how many points in the details).
    #[serde(rename = "experiment.finished")]
    ExperimentFinished,
    /// The load generator started.
    #[serde(rename = "load.started")]
    LoadStarted,
    /// The load generator finished.
    #[serde(rename = "load.finished")]
    LoadFinished,
    /// NGINX could not be updated.
    #[serde(rename = "nginx.failed")]
    NginxFailed,
    /// Crane now manages an NGINX for the app.
    #[serde(rename = "nginx.managed")]
    NginxManaged,
    /// NGINX was rewritten and reloaded.
    #[serde(rename = "nginx.reloaded")]
    NginxReloaded,
    /// A policy refused a change (admission `deny`, or the scaling policy).
    #[serde(rename = "policy.denied")]
    PolicyDenied,
    /// The admission policy admitted a change with warnings.
    #[serde(rename = "policy.warned")]
    PolicyWarned,
    /// The scaling policy changed a replica count that was asked for (manual, apply or autoscaler).
    #[serde(rename = "policy.clamped")]
    PolicyClamped,
    /// A policy was edited or reset to the shipped version.
    #[serde(rename = "policy.changed")]
    PolicyChanged,
    /// A policy failed while deciding, or a stored policy could not be loaded; the change it was asked about was not
    /// made (admission fails closed, actions hold).
    #[serde(rename = "policy.failed")]
    PolicyFailed,
    /// The startup probe passed.
    #[serde(rename = "probe.started")]
    ProbeStarted,
    /// A rolling update made progress.
    #[serde(rename = "rollout.progressing")]
    RolloutProgressing,
    /// A rolling update completed.
    #[serde(rename = "rollout.complete")]
    RolloutComplete,
    /// A rolling update failed.
    #[serde(rename = "rollout.failed")]
    RolloutFailed,
    /// A failed rolling update was paused.
    #[serde(rename = "rollout.paused")]
    RolloutPaused,
    /// An automatic rollback made progress.
    #[serde(rename = "rollout.rollback_progress")]
    RolloutRollbackProgress,
    /// A failed rolling update is rolled back to the previous revision.
    #[serde(rename = "rollout.rolled_back")]
    RolloutRolledBack,
    /// A person rolled the app back to an earlier revision.
    #[serde(rename = "rollout.undo")]
    RolloutUndo,
    /// A rolling restart replaced every instance with a fresh one of the same spec (a new revision).
    #[serde(rename = "rollout.restart")]
    RolloutRestart,
    /// An admin changed an engine setting (`allowUnsafe`, `hostPathAllow`).
    #[serde(rename = "settings.changed")]
    SettingsChanged,
    /// The REST API's bearer token was replaced; the old one no longer works.
    #[serde(rename = "token.rotated")]
    TokenRotated,
    /// A kind this version does not know.
    #[serde(rename = "unknown", other)]
    Unknown,
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with a dotted name, so `kind == "instance.started"` reads as it did when kinds were strings.
impl PartialEq<&str> for EventKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How an event reads at a glance (the window colours it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventTone {
    /// Something came up or recovered.
    Good,
    /// Something failed.
    Bad,
    /// Something is waiting or degraded.
    Warn,
    /// A change or a decision.
    Info,
}

impl EventKind {
    /// Every kind but `Unknown`.
    pub const ALL: &'static [EventKind] = &[
        EventKind::AppCreated,
        EventKind::AppUpdated,
        EventKind::AppScaled,
        EventKind::AppDeleted,
        EventKind::AppRolledBack,
        EventKind::AppNetworkFailed,
        EventKind::AppResourcesRemoved,
        EventKind::AppUnreadable,
        EventKind::AlertPending,
        EventKind::AlertFiring,
        EventKind::AlertResolved,
        EventKind::AlertRulesChanged,
        EventKind::AlertEvalFailed,
        EventKind::AlertEvalRecovered,
        EventKind::AlertAction,
        EventKind::AlertSent,
        EventKind::AutoscaleHold,
        EventKind::AutoscaleScaled,
        EventKind::AutoscaleZero,
        EventKind::AutoscaleWake,
        EventKind::AutoscaleWoke,
        EventKind::EngineLoopRestarted,
        EventKind::EngineLoopStopped,
        EventKind::ImageBuild,
        EventKind::ImageBuilt,
        EventKind::ImageFailed,
        EventKind::ImageScanned,
        EventKind::ImageScanFailed,
        EventKind::ScanDbImported,
        EventKind::LabLoaded,
        EventKind::LabCheckPassed,
        EventKind::LabReset,
        EventKind::InstanceBackoff,
        EventKind::InstanceDied,
        EventKind::InstanceDuplicateRemoved,
        EventKind::InstanceOrphanRemoved,
        EventKind::InstanceOutdated,
        EventKind::InstanceReady,
        EventKind::InstanceRemoveFailed,
        EventKind::InstanceReplaced,
        EventKind::InstanceScaledDown,
        EventKind::InstanceStandbyReady,
        EventKind::InstanceStandbyFailed,
        EventKind::InstanceStandbyRemoved,
        EventKind::InstanceStaleRemoved,
        EventKind::InstanceStartFailed,
        EventKind::InstanceStartRecovered,
        EventKind::InstanceStartRetry,
        EventKind::InstanceStarted,
        EventKind::InstanceUnhealthy,
        EventKind::InstanceUnready,
        EventKind::InstanceUpdated,
        EventKind::ExperimentStarted,
        EventKind::ExperimentFinished,
        EventKind::LoadStarted,
        EventKind::LoadFinished,
        EventKind::NginxFailed,
        EventKind::NginxManaged,
        EventKind::NginxReloaded,
        EventKind::PolicyDenied,
        EventKind::PolicyWarned,
        EventKind::PolicyClamped,
        EventKind::PolicyChanged,
        EventKind::PolicyFailed,
        EventKind::ProbeStarted,
        EventKind::RolloutProgressing,
        EventKind::RolloutComplete,
        EventKind::RolloutFailed,
        EventKind::RolloutPaused,
        EventKind::RolloutRollbackProgress,
        EventKind::RolloutRolledBack,
        EventKind::RolloutUndo,
        EventKind::RolloutRestart,
        EventKind::SettingsChanged,
        EventKind::TokenRotated,
    ];

    /// The dotted name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AppCreated => "app.created",
            EventKind::AppUpdated => "app.updated",
            EventKind::AppScaled => "app.scaled",
            EventKind::AppDeleted => "app.deleted",
            EventKind::AppRolledBack => "app.rolled_back",
            EventKind::AppNetworkFailed => "app.network_failed",
            EventKind::AppResourcesRemoved => "app.resources_removed",
            EventKind::AppUnreadable => "app.unreadable",
            EventKind::AlertPending => "alert.pending",
            EventKind::AlertFiring => "alert.firing",
            EventKind::AlertResolved => "alert.resolved",
            EventKind::AlertRulesChanged => "alert.rules_changed",
            EventKind::AlertEvalFailed => "alert.eval_failed",
            EventKind::AlertEvalRecovered => "alert.eval_recovered",
            EventKind::AlertAction => "alert.action",
            EventKind::AlertSent => "alert.sent",
            EventKind::AutoscaleHold => "autoscale.hold",
            EventKind::AutoscaleScaled => "autoscale.scaled",
            EventKind::AutoscaleZero => "autoscale.zero",
            EventKind::AutoscaleWake => "autoscale.wake",
            EventKind::AutoscaleWoke => "autoscale.woke",
            EventKind::EngineLoopRestarted => "engine.loop_restarted",
            EventKind::EngineLoopStopped => "engine.loop_stopped",
            EventKind::ImageBuild => "image.build",
            EventKind::ImageBuilt => "image.built",
            EventKind::ImageFailed => "image.failed",
            EventKind::ImageScanned => "image.scanned",
            EventKind::ImageScanFailed => "image.scan_failed",
            EventKind::ScanDbImported => "scan.db_imported",
            EventKind::LabLoaded => "lab.loaded",
            EventKind::LabCheckPassed => "lab.check_passed",
            EventKind::LabReset => "lab.reset",
            EventKind::InstanceBackoff => "instance.backoff",
            EventKind::InstanceDied => "instance.died",
            EventKind::InstanceDuplicateRemoved => "instance.duplicate_removed",
            EventKind::InstanceOrphanRemoved => "instance.orphan_removed",
            EventKind::InstanceOutdated => "instance.outdated",
            EventKind::InstanceReady => "instance.ready",
            EventKind::InstanceRemoveFailed => "instance.remove_failed",
            EventKind::InstanceReplaced => "instance.replaced",
            EventKind::InstanceScaledDown => "instance.scaled_down",
            EventKind::InstanceStandbyReady => "instance.standby_ready",
            EventKind::InstanceStandbyFailed => "instance.standby_failed",
            EventKind::InstanceStandbyRemoved => "instance.standby_removed",
            EventKind::InstanceStaleRemoved => "instance.stale_removed",
            EventKind::InstanceStartFailed => "instance.start_failed",
            EventKind::InstanceStartRecovered => "instance.start_recovered",
            EventKind::InstanceStartRetry => "instance.start_retry",
            EventKind::InstanceStarted => "instance.started",
            EventKind::InstanceUnhealthy => "instance.unhealthy",
            EventKind::InstanceUnready => "instance.unready",
            EventKind::InstanceUpdated => "instance.updated",
            EventKind::ExperimentStarted => "experiment.started",
            EventKind::ExperimentFinished => "experiment.finished",
            EventKind::LoadStarted => "load.started",
            EventKind::LoadFinished => "load.finished",
            EventKind::NginxFailed => "nginx.failed",
            EventKind::NginxManaged => "nginx.managed",
            EventKind::NginxReloaded => "nginx.reloaded",
            EventKind::PolicyDenied => "policy.denied",
            EventKind::PolicyWarned => "policy.warned",
            EventKind::PolicyClamped => "policy.clamped",
            EventKind::PolicyChanged => "policy.changed",
            EventKind::PolicyFailed => "policy.failed",
            EventKind::ProbeStarted => "probe.started",
            EventKind::RolloutProgressing => "rollout.progressing",
            EventKind::RolloutComplete => "rollout.complete",
            EventKind::RolloutFailed => "rollout.failed",
            EventKind::RolloutPaused => "rollout.paused",
            EventKind::RolloutRollbackProgress => "rollout.rollback_progress",
            EventKind::RolloutRolledBack => "rollout.rolled_back",
            EventKind::RolloutUndo => "rollout.undo",
            EventKind::RolloutRestart => "rollout.restart",
            EventKind::SettingsChanged => "settings.changed",
            EventKind::TokenRotated => "token.rotated",
            EventKind::Unknown => "unknown",
        }
    }

    /// The kind of a stored name (`Unknown` for a name this version does not know).
    pub fn parse(text: &str) -> EventKind {
        EventKind::ALL.iter().copied().find(|k| k.as_str() == text).unwrap_or(EventKind::Unknown)
    }

    /// How it reads at a glance.
    pub fn tone(self) -> EventTone {
        match self {
            EventKind::AppCreated
            | EventKind::AlertResolved
            | EventKind::AlertEvalRecovered
            | EventKind::ImageBuilt
            | EventKind::InstanceReady
            | EventKind::InstanceStartRecovered
            | EventKind::InstanceStarted
            | EventKind::ProbeStarted
            | EventKind::LabCheckPassed
            | EventKind::RolloutComplete => EventTone::Good,
            EventKind::AppRolledBack
            | EventKind::AlertFiring
            | EventKind::AppNetworkFailed
            | EventKind::AppUnreadable
            | EventKind::EngineLoopStopped
            | EventKind::ImageFailed
            | EventKind::ImageScanFailed
            | EventKind::InstanceDied
            | EventKind::InstanceRemoveFailed
            | EventKind::InstanceStartFailed
            | EventKind::InstanceUnhealthy
            | EventKind::NginxFailed
            | EventKind::PolicyDenied
            | EventKind::PolicyFailed
            | EventKind::RolloutFailed => EventTone::Bad,
            EventKind::EngineLoopRestarted
            | EventKind::AlertPending
            | EventKind::AlertEvalFailed
            | EventKind::AlertAction
            | EventKind::InstanceBackoff
            | EventKind::InstanceReplaced
            | EventKind::InstanceStartRetry
            | EventKind::InstanceStandbyFailed
            | EventKind::InstanceUnready
            | EventKind::PolicyWarned
            | EventKind::PolicyClamped
            | EventKind::RolloutPaused
            | EventKind::RolloutRollbackProgress
            | EventKind::RolloutRolledBack
            | EventKind::SettingsChanged => EventTone::Warn,
            _ => EventTone::Info,
        }
    }
}

/// One event-log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct EventView {
    /// Id, increasing.
    pub id: f64,
    /// Time, RFC 3339 with milliseconds.
    pub at: String,
    /// App, if any.
    pub app: Option<String>,
    /// Instance, if any.
    pub instance: Option<String>,
    /// What it is about.
    pub kind: EventKind,
    /// How it reads at a glance.
    pub tone: EventTone,
    /// Plain-language reason.
    pub reason: String,
    /// Inputs of the decision (JSON text).
    pub details: String,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct LogLineView {
    /// Instance name.
    pub instance: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// Timestamp (RFC 3339) reported by the engine.
    pub timestamp: Option<String>,
    /// Text.
    pub line: String,
}

/// Engine status shown in the window's header and `cranectl status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct StatusView {
    /// Crane version.
    pub version: String,
    /// Whether the Docker engine is reachable.
    pub docker_ok: bool,
    /// Docker version, or the error that prevents reaching it.
    pub docker: String,
    /// REST API base URL.
    pub api_url: String,
    /// Data directory.
    pub data_dir: String,
    /// Number of apps.
    pub apps: u32,
    /// Why the engine loop is not running, when it is not (it stopped after repeated failures, or shut down): no
    /// change is carried out until Crane is restarted.
    pub engine_error: Option<String>,
    /// The engine's rules for what users type, so doors check input the same way the engine does.
    pub rules: RulesView,
    /// Whether the safety floor is off (the setting `allowUnsafe`): the window's header warns while it is.
    pub allow_unsafe: bool,
}

/// Rules the engine applies to user input, exposed so a door checks input before sending it without keeping its
/// own copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct RulesView {
    /// Longest app name.
    pub app_name_max_len: u32,
    /// The app name rule as a regular expression (ECMAScript syntax), length included.
    pub app_name_pattern: String,
    /// The app name rule in words ("lowercase letters, digits and '-', starting with a letter").
    pub app_name_rule: String,
}

/// Progress of a long operation (image build), streamed to the window and the CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ProgressView {
    /// Operation id (`demo-image`).
    pub operation: String,
    /// Step text ("Step 2/4 : COPY demo /demo").
    pub message: String,
    /// 0..=1 when known.
    pub fraction: Option<f64>,
    /// Whether the operation finished.
    pub done: bool,
    /// Error text when it failed.
    pub error: Option<String>,
}

/// A user of the engine (`cranectl user ls`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct UserView {
    /// Name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// When the user was added, RFC 3339 (the built-in `admin`: when the engine first started).
    pub created_at: String,
    /// Tokens the user has (the built-in `admin` also has the data directory's token, not counted here).
    pub tokens: u32,
    /// Whether this is the built-in `admin`, the holder of the data directory's token, which cannot be removed.
    pub builtin: bool,
}

/// A token of a user, without the token itself (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct TokenView {
    /// Public id, also the start of the token (`crane_<id>_…`); `cranectl token revoke ID` takes it.
    pub id: String,
    /// The user it acts for.
    pub user: String,
    /// The role it gives (never more than its user's).
    pub role: Role,
    /// What it is for, if its maker said.
    pub label: Option<String>,
    /// When it was made, RFC 3339.
    pub created_at: String,
}

/// A token just made: the only time the token is shown. Crane keeps only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct IssuedToken {
    /// The bearer token (`Authorization: Bearer …`, or `CRANE_TOKEN` for cranectl). Shown once.
    pub token: String,
    /// What the token is.
    pub info: TokenView,
}

/// A user just added, with the user's first token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct UserCreated {
    /// The user.
    pub user: UserView,
    /// The user's first token (with the user's role). Shown once.
    pub token: IssuedToken,
}

/// Body of `POST /users`. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// User name: lowercase letters, digits and '-', starting with a letter (as app names).
    pub name: String,
    /// What the user may do.
    pub role: Role,
}

/// Body of `POST /tokens`. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// The role the token gives; at most its user's.
    pub role: Role,
    /// The user it acts for; the caller when omitted.
    #[serde(default)]
    pub user: Option<String>,
    /// What it is for (at most 100 characters).
    #[serde(default)]
    pub label: Option<String>,
}

/// What an audited request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Type, ToSchema)]
pub enum AuditAction {
    /// Apply a spec (create, update or scale an app).
    #[serde(rename = "app.apply")]
    AppApply,
    /// Create an app (create only).
    #[serde(rename = "app.create")]
    AppCreate,
    /// Change the replica count.
    #[serde(rename = "app.scale")]
    AppScale,
    /// Delete an app.
    #[serde(rename = "app.delete")]
    AppDelete,
    /// Roll an app back to an earlier revision.
    #[serde(rename = "rollout.undo")]
    RolloutUndo,
    /// Replace every instance of an app with a fresh one, one at a time.
    #[serde(rename = "rollout.restart")]
    RolloutRestart,
    /// Let Crane manage an NGINX for an app.
    #[serde(rename = "nginx.manage")]
    NginxManage,
    /// Stop managing NGINX for an app.
    #[serde(rename = "nginx.unmanage")]
    NginxUnmanage,
    /// Start the load generator.
    #[serde(rename = "load.start")]
    LoadStart,
    /// Stop the load generator.
    #[serde(rename = "load.stop")]
    LoadStop,
    /// Build the demo image.
    #[serde(rename = "image.build_demo")]
    ImageBuildDemo,
    /// Add a user.
    #[serde(rename = "user.create")]
    UserCreate,
    /// Remove a user.
    #[serde(rename = "user.remove")]
    UserRemove,
    /// Make a token.
    #[serde(rename = "token.create")]
    TokenCreate,
    /// Revoke a token.
    #[serde(rename = "token.revoke")]
    TokenRevoke,
    /// Replace the data directory's token.
    #[serde(rename = "token.rotate")]
    TokenRotate,
    /// Change an engine setting.
    #[serde(rename = "settings.change")]
    SettingsChange,
    /// Change a policy.
    #[serde(rename = "policy.change")]
    PolicyChange,
    /// Return a policy to its shipped version.
    #[serde(rename = "policy.reset")]
    PolicyReset,
    /// Replace or reset the alert rules.
    #[serde(rename = "alerts.rules_change")]
    AlertRulesChange,
    /// Import advisories into the image scanner's database.
    #[serde(rename = "scan.db_import")]
    ScanDbImport,
    /// Load a lab (creates its apps, sets its policies and rules).
    #[serde(rename = "lab.load")]
    LabLoad,
    /// Reset a lab (removes what it created, restores what it changed).
    #[serde(rename = "lab.reset")]
    LabReset,
    /// Start recording an experiment run (and its load).
    #[serde(rename = "experiment.record")]
    ExperimentRecord,
    /// Stop recording an experiment run.
    #[serde(rename = "experiment.stop")]
    ExperimentStop,
    /// Delete an experiment run.
    #[serde(rename = "experiment.delete")]
    ExperimentDelete,
    /// An action this version does not know.
    #[serde(rename = "unknown", other)]
    Unknown,
}

impl AuditAction {
    /// Every action but `Unknown`.
    pub const ALL: &'static [AuditAction] = &[
        AuditAction::AppApply,
        AuditAction::AppCreate,
        AuditAction::AppScale,
        AuditAction::AppDelete,
        AuditAction::RolloutUndo,
        AuditAction::RolloutRestart,
        AuditAction::NginxManage,
        AuditAction::NginxUnmanage,
        AuditAction::LoadStart,
        AuditAction::LoadStop,
        AuditAction::ImageBuildDemo,
        AuditAction::UserCreate,
        AuditAction::UserRemove,
        AuditAction::TokenCreate,
        AuditAction::TokenRevoke,
        AuditAction::TokenRotate,
        AuditAction::SettingsChange,
        AuditAction::PolicyChange,
        AuditAction::PolicyReset,
        AuditAction::AlertRulesChange,
        AuditAction::ScanDbImport,
        AuditAction::LabLoad,
        AuditAction::LabReset,
        AuditAction::ExperimentRecord,
        AuditAction::ExperimentStop,
        AuditAction::ExperimentDelete,
    ];

    /// The dotted name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::AppApply => "app.apply",
            AuditAction::AppCreate => "app.create",
            AuditAction::AppScale => "app.scale",
            AuditAction::AppDelete => "app.delete",
            AuditAction::RolloutUndo => "rollout.undo",
            AuditAction::RolloutRestart => "rollout.restart",
            AuditAction::NginxManage => "nginx.manage",
            AuditAction::NginxUnmanage => "nginx.unmanage",
            AuditAction::LoadStart => "load.start",
            AuditAction::LoadStop => "load.stop",
            AuditAction::ImageBuildDemo => "image.build_demo",
            AuditAction::UserCreate => "user.create",
            AuditAction::UserRemove => "user.remove",
            AuditAction::TokenCreate => "token.create",
            AuditAction::TokenRevoke => "token.revoke",
            AuditAction::TokenRotate => "token.rotate",
            AuditAction::SettingsChange => "settings.change",
            AuditAction::PolicyChange => "policy.change",
            AuditAction::PolicyReset => "policy.reset",
            AuditAction::AlertRulesChange => "alerts.rules_change",
            AuditAction::ScanDbImport => "scan.db_import",
            AuditAction::LabLoad => "lab.load",
            AuditAction::LabReset => "lab.reset",
            AuditAction::ExperimentRecord => "experiment.record",
            AuditAction::ExperimentStop => "experiment.stop",
            AuditAction::ExperimentDelete => "experiment.delete",
            AuditAction::Unknown => "unknown",
        }
    }

    /// The action of a stored name (`Unknown` for a name this version does not know).
    pub fn parse(text: &str) -> AuditAction {
        AuditAction::ALL.iter().copied().find(|a| a.as_str() == text).unwrap_or(AuditAction::Unknown)
    }
}

/// One row of the audit log: who did what, when, through which door, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct AuditView {
    /// Id, increasing.
    pub id: f64,
    /// Time, RFC 3339 with milliseconds.
    pub at: String,
    /// The user who asked.
    pub user: String,
    /// The role the request was made with.
    pub role: Role,
    /// How the request arrived.
    pub door: Door,
    /// What was asked.
    pub action: AuditAction,
    /// The app concerned, if any.
    pub app: Option<String>,
    /// Another target (a user name, a token id), if any.
    pub target: Option<String>,
    /// Whether it was carried out.
    pub ok: bool,
    /// Why not, when it was not.
    pub error: Option<ErrorCode>,
}

/// Something changed; the window refreshes what it shows. Sent over the Tauri event `crane://change` and the REST
/// server-sent events stream `GET /api/v1/watch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChangeView {
    /// The set of apps or instances, or an instance state, changed.
    Apps,
    /// A new event-log entry.
    Event {
        /// The entry.
        event: EventView,
    },
    /// Progress of a long operation.
    Progress {
        /// The progress.
        progress: ProgressView,
    },
}

/// One target group of Prometheus' HTTP service discovery (`http_sd_configs`), as `GET /api/v1/sd` lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct SdTargetGroup {
    /// `host:port` addresses to scrape.
    pub targets: Vec<String>,
    /// Labels attached to every target of the group (`job`, and for app instances `app`, `instance_name`, `revision`,
    /// `ready`).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// One of Crane's policies (see `policies/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyName {
    /// `crane.admission`: `deny` and `warn` for every create, update, scale and undo.
    Admission,
    /// `crane.scaling`: `decision` bounding every replica change (manual, apply, autoscaler, alert actions).
    Scaling,
    /// `crane.alerts`: `decision` saying what an alert makes Crane do.
    Alerts,
}

/// A policy as it runs now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct PolicyView {
    /// Which policy.
    pub name: PolicyName,
    /// The Rego package it declares (`crane.admission`).
    pub package: String,
    /// The rules of the package Crane reads (`deny`, `warn`; `decision`).
    pub rules: Vec<String>,
    /// The Rego source.
    pub rego: String,
    /// The policy's data document: its settings, which it reads as `data.crane.config.<name>` (an object).
    #[schema(value_type = Object)]
    #[specta(type = specta_typescript::Unknown)]
    pub data: serde_json::Value,
    /// Whether this is the version Crane ships (never edited, or reset).
    pub shipped: bool,
    /// When it was last edited, RFC 3339; null for the shipped version.
    pub updated_at: Option<String>,
    /// Who edited it last; null for the shipped version.
    pub updated_by: Option<String>,
    /// A sample input document for `eval` (from `policies/samples/`).
    #[schema(value_type = Object)]
    #[specta(type = specta_typescript::Unknown)]
    pub sample_input: serde_json::Value,
    /// The OPA server that decides this policy instead of the Rego shown (the `opa_url` and `opa_policies`
    /// settings); null when the embedded Rego decides.
    #[serde(default)]
    pub opa_url: Option<String>,
}

/// Body of `PUT /policies/{name}` and `POST /policies/{name}/validate`: the new Rego and/or data document (what is
/// left out stays as it is). Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyUpdate {
    /// The Rego source (at most 128 KiB).
    #[serde(default)]
    pub rego: Option<String>,
    /// The data document, an object (at most 64 KiB as JSON).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[specta(type = Option<specta_typescript::Unknown>)]
    pub data: Option<serde_json::Value>,
}

/// What validating a policy found: whether it may be saved, its problems, and its own `test_` rules' outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct PolicyValidation {
    /// Whether the policy compiles, follows the conventions, passes its tests and gives a decision Crane can act on
    /// for the sample input.
    pub valid: bool,
    /// Each problem with line and column (path names the file: `admission.rego`).
    pub diagnostics: Vec<Diagnostic>,
    /// The policy's own `test_` rules (tests written in the policy's source), when it has some.
    pub tests: Vec<PolicyTestResult>,
}

/// Body of `POST /policies/{name}/eval`: the input document, and optionally a draft to evaluate instead of the
/// running policy. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyEvalRequest {
    /// The input document (see `policies/README.md`; samples in `policies/samples/`), at most 1 MiB.
    #[schema(value_type = Object)]
    #[specta(type = specta_typescript::Unknown)]
    pub input: serde_json::Value,
    /// A draft Rego source to evaluate instead of the running policy (nothing is saved).
    #[serde(default)]
    pub rego: Option<String>,
    /// A draft data document to use instead of the running one.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[specta(type = Option<specta_typescript::Unknown>)]
    pub data: Option<serde_json::Value>,
}

/// What a policy answered for an input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct PolicyEvalResult {
    /// Which policy.
    pub name: PolicyName,
    /// The rules' values, `{rule: value}` (a rule undefined for this input is left out).
    #[schema(value_type = Object)]
    #[specta(type = specta_typescript::Unknown)]
    pub output: serde_json::Value,
    /// Whether Crane can act on the output; when not, `problem` says why (the engine would refuse the change).
    pub valid: bool,
    /// The decision Crane reads from the output, in one sentence ("denied: …", "scale_up: …").
    pub summary: String,
    /// Why the output cannot be acted on, when it cannot.
    pub problem: Option<String>,
    /// How long the evaluation took, in microseconds.
    pub duration_us: f64,
}

/// One Rego unit test's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct PolicyTestResult {
    /// The policy it tests.
    pub policy: PolicyName,
    /// The rule (`data.crane.admission_test.test_privileged_is_denied`).
    pub name: String,
    /// Whether it was true.
    pub passed: bool,
    /// Why it failed, when evaluation itself failed (a false or undefined test has none).
    pub error: Option<String>,
}

/// The outcome of every policy's Rego unit tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct PolicyTestReport {
    /// One entry per `test_` rule.
    pub results: Vec<PolicyTestResult>,
    /// How many passed.
    pub passed: u32,
    /// How many failed.
    pub failed: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    /// `ErrorCode::ALL` lists every variant: the derived schema's enum (one value per variant) equals it.
    #[test]
    fn all_error_codes_are_listed() {
        let schema = serde_json::to_value(ErrorCode::schema()).unwrap();
        let derived: Vec<&str> =
            schema["enum"].as_array().expect("a string enum").iter().map(|v| v.as_str().unwrap()).collect();
        let listed: Vec<String> =
            ErrorCode::ALL.iter().map(|c| serde_json::to_value(c).unwrap().as_str().unwrap().to_string()).collect();
        assert_eq!(derived, listed);
    }

    /// Audit actions keep their dotted names on the wire, and every name parses back to its action.
    #[test]
    fn audit_actions_round_trip() {
        for action in AuditAction::ALL {
            assert_eq!(serde_json::to_value(action).unwrap(), serde_json::json!(action.as_str()));
            assert_eq!(AuditAction::parse(action.as_str()), *action);
        }
        assert_eq!(serde_json::from_str::<AuditAction>(r#""policy.edit""#).unwrap(), AuditAction::Unknown);
    }

    /// Event kinds keep their dotted names on the wire, and every name parses back to its kind.
    #[test]
    fn event_kinds_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(kind.as_str()));
            assert_eq!(EventKind::parse(kind.as_str()), *kind);
        }
        assert_eq!(serde_json::from_str::<EventKind>(r#""from.the_future""#).unwrap(), EventKind::Unknown);
        assert_eq!(EventKind::parse("from.the_future"), EventKind::Unknown);
    }

    /// The wire spelling stays what it was when codes were strings.
    #[test]
    fn error_codes_are_snake_case() {
        let json = serde_json::to_string(&ErrorCode::ALL).unwrap();
        assert_eq!(
            json,
            r#"["invalid_spec","bad_request","unauthorized","forbidden","not_found","method_not_allowed","payload_too_large","conflict","port_in_use","image_unavailable","docker_unreachable","engine_stopped","internal","policy_denied","invalid_policy","policy_failed"]"#
        );
    }
}

/// Where an alert is: `pending` (its condition holds, for less than the rule's `for`) or `firing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStateView {
    /// The condition no longer holds (in transitions only).
    Inactive,
    /// The condition holds, for less than `for`.
    Pending,
    /// The condition has held for `for`.
    Firing,
}

/// One alerting rule as the built-in evaluator runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct AlertRuleView {
    /// The rule group's name.
    pub group: String,
    /// The rule's name (`alertname`).
    pub alert: String,
    /// The PromQL expression.
    pub expr: String,
    /// How long the condition must hold before the alert fires, Prometheus style (`1m`); `0s` fires at once.
    #[serde(rename = "for")]
    pub for_: String,
    /// How often the group is evaluated (`15s`).
    pub interval: String,
    /// Labels added to every alert.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Annotations (templates, as written).
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The action the rule names when an alert fires (`scale_up`, `notify`…), if any.
    pub firing_action: Option<String>,
    /// The action the rule names when a firing alert resolves, if any.
    pub resolved_action: Option<String>,
    /// Why the latest evaluation failed, if it did.
    pub last_error: Option<String>,
    /// Pending and firing alerts of the rule now.
    pub active: u32,
}

/// The alert rules: the rule file and what the evaluator made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct AlertRulesView {
    /// The rule file (Prometheus' format plus `firing_action`/`resolved_action`).
    pub yaml: String,
    /// Whether these are the rules Crane ships (none were saved, or they were reset).
    pub is_default: bool,
    /// Every alerting rule, in file order.
    pub rules: Vec<AlertRuleView>,
}

/// Body of `PUT /alerts/rules`. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRulesRequest {
    /// The rule file as YAML.
    pub yaml: String,
}

/// One pending or firing alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct AlertView {
    /// The rule's name.
    pub rule: String,
    /// Pending or firing.
    pub state: AlertStateView,
    /// The app the alert is about (its `app` label), if any.
    pub app: Option<String>,
    /// The alert's labels (its identity), `alertname` included.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The rule's annotations, expanded.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The latest value of the expression for this alert.
    pub value: f64,
    /// When it became pending, RFC 3339.
    pub active_at: String,
    /// When it started firing (Alertmanager's `startsAt`), RFC 3339.
    pub starts_at: Option<String>,
    /// Alertmanager's fingerprint of the labels: 16 hex digits.
    pub fingerprint: String,
}

/// One change of an alert's state, newest first in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct AlertTransitionView {
    /// When, RFC 3339.
    pub at: String,
    /// The rule's name.
    pub rule: String,
    /// The app the alert is about, if any.
    pub app: Option<String>,
    /// The state before.
    pub from: AlertStateView,
    /// The state after.
    pub to: AlertStateView,
    /// The alert's latest value.
    pub value: f64,
    /// The alert's labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Alertmanager's fingerprint of the labels.
    pub fingerprint: String,
    /// When it started firing, if it has.
    pub starts_at: Option<String>,
    /// The action the rule names for this change (firing or resolving), if any.
    pub action: Option<String>,
}

/// The body Alertmanager sends to a webhook receiver (payload `version` "4"). Fields Crane does not use are
/// accepted and ignored, like any webhook receiver does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerPayload {
    /// The payload version; Crane reads "4".
    pub version: String,
    /// The group's key.
    #[serde(default)]
    pub group_key: String,
    /// How many alerts Alertmanager left out because of `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: u64,
    /// The group's status (`firing` or `resolved`); each alert's own status is what Crane acts on.
    #[serde(default)]
    pub status: String,
    /// The receiver's name.
    #[serde(default)]
    pub receiver: String,
    /// The alerts.
    pub alerts: Vec<AlertmanagerAlert>,
}

/// One alert of an Alertmanager webhook payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerAlert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Its labels (`alertname`, `app`, `severity`…).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its annotations (Crane's exported rules carry `crane_firing_action`, `crane_resolved_action`,
    /// `crane_action_cooldown`).
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// When it started firing (RFC 3339).
    #[serde(default)]
    pub starts_at: String,
    /// When it ended (RFC 3339; Alertmanager's zero time while firing).
    #[serde(default)]
    pub ends_at: String,
    /// Its fingerprint (hex).
    #[serde(default)]
    pub fingerprint: String,
}

/// What Crane did with a webhook payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct WebhookReceipt {
    /// Alerts in the payload.
    pub received: u32,
    /// Alerts acted on (each an `alert.action` event).
    pub handled: u32,
    /// Alerts already received with the same fingerprint, start and status (not acted on again).
    pub duplicates: u32,
    /// Alerts Alertmanager said it left out (`truncatedAlerts`).
    pub truncated: u64,
}

/// Where Alertmanager sends alerts to Crane, and the token it must send (admins only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct WebhookInfo {
    /// The receiver's URL (`POST`).
    pub url: String,
    /// The bearer token Alertmanager must send (`http_config.authorization.credentials`).
    pub token: String,
    /// The file that holds the token.
    pub token_file: String,
}
