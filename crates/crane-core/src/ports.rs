//! Narrow traits the engine needs from the outside world. Adapters (`crane-docker`, `crane-store`) implement them;
//! in-memory fakes implement them in tests.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::model::{Millis, ObservedInstance};
use crate::spec::AppSpec;

/// Everything needed to create one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRequest {
    /// App name.
    pub app: String,
    /// 1-based index; the container is named `<app>-<index>`.
    pub index: u32,
    /// Revision the instance belongs to.
    pub revision: u64,
    /// The app's spec.
    pub spec: AppSpec,
    /// Owner label value (see [`crate::model::labels::OWNER`]).
    pub owner: String,
}

/// What [`Runtime::inspect_instance`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceDetails {
    /// IP address on the app network, when running.
    pub ip: Option<std::net::IpAddr>,
    /// When the container last started.
    pub started_at: Option<Millis>,
}

/// One resource sample of a container, as its runtime's stats stream reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSample {
    /// When it was taken.
    pub at: Millis,
    /// CPU used since the previous sample, in percent of one core (200 = two cores busy).
    pub cpu_percent: f64,
    /// Memory in use (without page cache), bytes.
    pub memory_bytes: u64,
    /// The memory limit the runtime enforces, bytes (the host's memory when unlimited).
    pub memory_limit_bytes: u64,
    /// Bytes received on all interfaces since the container started.
    pub net_rx_bytes: u64,
    /// Bytes sent on all interfaces since the container started.
    pub net_tx_bytes: u64,
}

/// Result of [`Runtime::exec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit code of the command.
    pub exit_code: i64,
    /// Its stdout and stderr, truncated.
    pub output: String,
}

/// A change reported by the runtime's event stream.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeEvent {
    /// Container id.
    pub id: String,
    /// Action (`start`, `die`, `kill`, `oom`, `destroy`, `health_status`…).
    pub action: String,
    /// App label of the container.
    pub app: Option<String>,
    /// Exit code, for `die`.
    pub exit_code: Option<i64>,
    /// Event time.
    pub at: Millis,
}

/// One line of container output.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Container name.
    pub instance: String,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// Timestamp reported by the runtime (RFC 3339), if any.
    pub timestamp: Option<String>,
    /// The text, without trailing newline.
    pub line: String,
}

/// Failure of a runtime call, in words a user can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError {
    /// The container engine cannot be reached.
    #[error("the Docker engine is not reachable ({0}); start Docker (or Podman's socket) and try again")]
    Unreachable(String),
    /// The image is not present locally and could not be pulled.
    #[error("image '{image}' is not available: {reason}")]
    ImageUnavailable {
        /// The image reference.
        image: String,
        /// Why (pull error or "no registry").
        reason: String,
    },
    /// A container or network name is already used by something Crane does not manage.
    #[error("the name '{0}' is already used by a container or network that this Crane engine does not manage; remove it or choose another app name")]
    NameConflict(String),
    /// A host port is already in use.
    #[error("port {0} is already in use on this machine; choose another public port or omit it to pick a free one")]
    PortInUse(u16),
    /// Any other runtime failure.
    #[error("{0}")]
    Other(String),
}

/// The container runtime, as the engine sees it.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Lists every container managed by the engine with this owner label, in any state.
    async fn list_instances(&self, owner: &str) -> Result<Vec<ObservedInstance>, RuntimeError>;
    /// Whether `image` is present locally; tries to pull it when not (bounded in time).
    async fn ensure_image(&self, image: &str) -> Result<(), RuntimeError>;
    /// Creates the app's private network if missing; returns its name.
    async fn ensure_network(&self, app: &str, owner: &str) -> Result<String, RuntimeError>;
    /// Removes the app's network and named volumes. Returns the volumes labelled for the app that it kept because
    /// an older Crane named them (their data may be shared by accident; they are reported, never deleted silently).
    async fn remove_app_resources(&self, app: &str, owner: &str) -> Result<Vec<String>, RuntimeError>;
    /// The apps that have a network or a named volume with this owner label.
    async fn list_app_resources(&self, owner: &str) -> Result<std::collections::BTreeSet<String>, RuntimeError>;
    /// Creates and starts one instance; returns the container id.
    async fn start_instance(&self, req: &InstanceRequest) -> Result<String, RuntimeError>;
    /// Renames a container of ours (a start-first update moves the old revision aside: [`crate::reconcile::Displace`]).
    async fn rename_instance(&self, id: &str, name: &str) -> Result<(), RuntimeError>;
    /// Stops (with a short grace period) and removes a container. Missing containers are not an error.
    async fn remove_instance(&self, id: &str) -> Result<(), RuntimeError>;
    /// Address on the app network and start time of a container; `None` when it does not exist.
    async fn inspect_instance(&self, id: &str) -> Result<Option<InstanceDetails>, RuntimeError>;
    /// Subscribes to container events of this owner. The stream ends when the connection drops.
    async fn events(
        &self,
        owner: &str,
    ) -> Result<futures_core::stream::BoxStream<'static, Result<RuntimeEvent, RuntimeError>>, RuntimeError>;
    /// Streams a container's logs (`tail` last lines, then new ones when `follow`).
    async fn logs(
        &self,
        id: &str,
        name: &str,
        follow: bool,
        tail: Option<u32>,
    ) -> Result<futures_core::stream::BoxStream<'static, Result<LogLine, RuntimeError>>, RuntimeError>;
    /// Runs `command` inside a running container (exec probes) and returns its exit code and the first few KiB of
    /// its output. A command still running after `timeout` is an `Other` error naming the timeout.
    async fn exec(
        &self,
        id: &str,
        command: &[String],
        timeout: std::time::Duration,
    ) -> Result<ExecOutput, RuntimeError>;
    /// Streams resource samples of a running container (about one a second). The stream ends with the container.
    async fn stats(
        &self,
        id: &str,
    ) -> Result<futures_core::stream::BoxStream<'static, Result<ResourceSample, RuntimeError>>, RuntimeError>;
    /// Engine version string, for status displays.
    async fn version(&self) -> Result<String, RuntimeError>;
    /// Creates a standby of `req`'s slot (`heal.standby`) named
    /// [`standby_name`](crate::reconcile::standby::standby_name): starts it, waits up to `warm` for its first tcp
    /// port to accept connections (so it resumes serving), then pauses it. Nothing stays behind on failure.
    async fn create_standby(&self, req: &InstanceRequest, warm: std::time::Duration) -> Result<String, RuntimeError> {
        let _ = (req, warm);
        Err(RuntimeError::Other("this runtime cannot keep standbys".to_string()))
    }
    /// Puts a paused standby in its slot: renames it to `name` and unpauses it.
    async fn promote_standby(&self, id: &str, name: &str) -> Result<(), RuntimeError> {
        let _ = (id, name);
        Err(RuntimeError::Other("this runtime cannot keep standbys".to_string()))
    }
    /// Removes a standby at once (it never served: no graceful stop). Missing containers are not an error.
    async fn remove_standby(&self, id: &str) -> Result<(), RuntimeError> {
        self.remove_instance(id).await
    }
}

/// A stored app.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredApp {
    /// The spec as validated.
    pub spec: AppSpec,
    /// The YAML the user submitted (kept for display and export).
    pub source_yaml: String,
    /// Current revision.
    pub revision: u64,
    /// Host port chosen for the load balancer, if any.
    pub public_port: Option<u16>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change time.
    pub updated_at: Millis,
    /// A rolling update failed with `failureAction: pause`: no rollout progress until the next apply.
    pub paused: bool,
    /// Bumped by the store on every write; 0 for an app not stored yet. A write succeeds only when the stored
    /// generation still is this one (optimistic concurrency: see [`Store::put_app`]).
    pub generation: u64,
    /// The user who created the app (operators manage only their own apps). Set when the app is first written;
    /// later writes keep the stored owner.
    pub owner: String,
}

/// Revisions kept per app (the newest ones, and always the one it runs): history stays bounded.
pub const MAX_REVISIONS: usize = 20;

/// What [`Store::scan_apps`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppScan {
    /// The apps that could be read.
    pub apps: Vec<StoredApp>,
    /// Rows that could not: the app's name and why.
    pub unreadable: Vec<(String, String)>,
}

/// What [`Store::put_app`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The row was written; it now has this generation.
    Written {
        /// The new generation.
        generation: u64,
    },
    /// Nothing was written: the row changed (or was created or deleted) since the writer read it. The writer reads
    /// again and decides again.
    Stale,
}

/// One revision of an app's container settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRevision {
    /// App name.
    pub app: String,
    /// Revision number.
    pub revision: u64,
    /// The spec of that revision.
    pub spec: AppSpec,
    /// The YAML it was applied from.
    pub source_yaml: String,
    /// Why it was made ("apply: image crane-demo:0.1.0 → crane-demo:0.2.0", "rollback to 1").
    pub cause: String,
    /// When.
    pub created_at: Millis,
}

/// One event-log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// Row id (0 before insertion).
    pub id: i64,
    /// When it happened.
    pub at: Millis,
    /// App concerned, if any.
    pub app: Option<String>,
    /// Instance concerned, if any.
    pub instance: Option<String>,
    /// Short machine-readable kind (`instance.started`, `instance.replaced`, `app.applied`, `backoff`…).
    pub kind: String,
    /// Plain-language reason ("instance web-2 exited with code 137; replacing it").
    pub reason: String,
    /// Inputs of the decision, as JSON.
    pub details: serde_json::Value,
}

/// A user of the engine. The built-in `admin` (the holder of the data directory's token) is one too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUser {
    /// Name (the app name rule: lowercase letters, digits, '-').
    pub name: String,
    /// What the user may do.
    pub role: crate::access::Role,
    /// When the user was added.
    pub created_at: Millis,
}

/// A bearer token of a user. Only its SHA-256 is stored, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// Public id (part of the token, so the token is found without comparing it to every hash).
    pub id: String,
    /// The user it acts for.
    pub user: String,
    /// The role it gives (never more than its user's: see [`crate::access::Role::effective`]).
    pub role: crate::access::Role,
    /// SHA-256 of the whole token, lowercase hex.
    pub hash: String,
    /// When it was made.
    pub created_at: Millis,
    /// What it is for ("grading script"), if its maker said.
    pub label: Option<String>,
}

/// One row of the audit log: a request that changed (or tried to change) something.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Row id (0 before insertion).
    pub id: i64,
    /// When.
    pub at: Millis,
    /// Who (user name).
    pub user: String,
    /// With which role.
    pub role: crate::access::Role,
    /// Through which door (`window`, `rest`, `cli`, `lab`, `engine`).
    pub door: String,
    /// What (`app.scale`, `user.create`…).
    pub action: String,
    /// The app concerned, if any.
    pub app: Option<String>,
    /// Another target (a user name, a token id), if any.
    pub target: Option<String>,
    /// `ok`, or the error code the request failed with (`forbidden`, `not_found`…).
    pub outcome: String,
}

/// What a metric sample measures: the series Crane records, or a metric an app exposes itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SampleMetric {
    /// CPU use of an instance, in percent of its CPU limit (Crane's default limit when the spec sets none).
    Cpu,
    /// Memory use of an instance, in percent of its memory limit.
    Memory,
    /// Memory in use by an instance, MiB.
    MemoryMib,
    /// Requests per second: per instance, or the app's total through its load balancer.
    Rps,
    /// The app's 95th percentile latency over the last interval, ms.
    LatencyP95Ms,
    /// Answers with a 5xx status per second, for the app.
    ErrorsPerS,
    /// The app's desired replica count.
    Replicas,
    /// The app's ready instances.
    Ready,
    /// Long-lived connections (WebSockets, tcp-port connections) open through the app's load balancer, all ports.
    OpenConnections,
    /// Long-lived connections opened per second through the app's load balancer, all ports.
    ConnectionsPerS,
    /// Bytes per second through the app's load balancer (both directions, all ports).
    BytesPerS,
    /// Any other metric, by its name (an app's own metric). Names of the variants above are reserved.
    Custom(String),
}

impl SampleMetric {
    /// The name stored in the `metric` column.
    pub fn as_str(&self) -> &str {
        match self {
            SampleMetric::Cpu => "cpu",
            SampleMetric::Memory => "memory",
            SampleMetric::MemoryMib => "memory_mib",
            SampleMetric::Rps => "rps",
            SampleMetric::LatencyP95Ms => "latency_p95_ms",
            SampleMetric::ErrorsPerS => "errors_per_s",
            SampleMetric::Replicas => "replicas",
            SampleMetric::Ready => "ready",
            SampleMetric::OpenConnections => "open_connections",
            SampleMetric::ConnectionsPerS => "connections_per_s",
            SampleMetric::BytesPerS => "bytes_per_s",
            SampleMetric::Custom(name) => name,
        }
    }

    /// The metric a stored name stands for; names Crane does not record itself are [`SampleMetric::Custom`].
    pub fn from_name(name: &str) -> SampleMetric {
        match name {
            "cpu" => SampleMetric::Cpu,
            "memory" => SampleMetric::Memory,
            "memory_mib" => SampleMetric::MemoryMib,
            "rps" => SampleMetric::Rps,
            "latency_p95_ms" => SampleMetric::LatencyP95Ms,
            "errors_per_s" => SampleMetric::ErrorsPerS,
            "replicas" => SampleMetric::Replicas,
            "ready" => SampleMetric::Ready,
            "open_connections" => SampleMetric::OpenConnections,
            "connections_per_s" => SampleMetric::ConnectionsPerS,
            "bytes_per_s" => SampleMetric::BytesPerS,
            other => SampleMetric::Custom(other.to_string()),
        }
    }
}

/// One point of a metric time series. A series is identified by its app, its instance (none for app-level series)
/// and its metric, each a value of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// App name.
    pub app: String,
    /// Instance (container) name for per-instance series (`web-2`); `None` for the app's own series.
    pub instance: Option<String>,
    /// What is measured.
    pub metric: SampleMetric,
    /// Time.
    pub at: Millis,
    /// Value.
    pub value: f64,
}

/// Which instances' series [`Store::query_samples`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceFilter<'a> {
    /// The app-level series and every instance's.
    Any,
    /// Only the app-level series (no instance).
    App,
    /// Only this instance's series.
    Instance(&'a str),
}

/// A policy an admin edited (the shipped versions are not stored: no row means the shipped policy runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    /// The policy's name (`admission`; see [`crate::policy::PolicyName`]).
    pub name: String,
    /// Its Rego source.
    pub rego: String,
    /// Its data document, as JSON text.
    pub data: String,
    /// When it was saved.
    pub updated_at: Millis,
    /// Who saved it.
    pub updated_by: String,
}

/// Failure of a store call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("state store error: {0}")]
pub struct StoreError(pub String);

/// Persistent state.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// All apps that can be read. A row that cannot (written by a newer Crane, or corrupted) is left out here and
    /// named by [`Store::scan_apps`], so one bad row never stops the others.
    async fn list_apps(&self) -> Result<Vec<StoredApp>, StoreError> {
        Ok(self.scan_apps().await?.apps)
    }
    /// The apps that can be read and the rows that cannot, with why, from one read of the table (the loop's pass).
    async fn scan_apps(&self) -> Result<AppScan, StoreError>;
    /// One app by name.
    async fn get_app(&self, name: &str) -> Result<Option<StoredApp>, StoreError>;
    /// Writes an app if its stored generation is still `app.generation` (0: only if no app has the name), together
    /// with `revision` when given, in one transaction: either both are written or neither.
    async fn put_app(&self, app: &StoredApp, revision: Option<&StoredRevision>) -> Result<PutOutcome, StoreError>;
    /// Deletes an app with its revision history, its metric samples and its settings (`nginx:<name>`) in one
    /// transaction; returns whether it existed.
    async fn delete_app(&self, name: &str) -> Result<bool, StoreError>;
    /// Appends an event and returns it with its id.
    async fn append_event(&self, event: EventRecord) -> Result<EventRecord, StoreError>;
    /// Newest-first events, optionally of one app, at most `limit`, older than `before` id when given.
    async fn list_events(
        &self,
        app: Option<&str>,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<EventRecord>, StoreError>;
    /// Revisions of an app, oldest first.
    async fn list_revisions(&self, app: &str) -> Result<Vec<StoredRevision>, StoreError>;
    /// Appends metric samples.
    async fn append_samples(&self, samples: &[Sample]) -> Result<(), StoreError>;
    /// Samples of `app`'s `metric` for the instances `instance` selects, between `from` and `to` (inclusive), oldest
    /// first: raw samples where they are kept, one-minute averages before that.
    async fn query_samples(
        &self,
        app: &str,
        instance: InstanceFilter<'_>,
        metric: &SampleMetric,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<Sample>, StoreError>;
    /// Rolls raw samples older than the raw retention up into one-minute averages and drops what is older than the
    /// rollup retention. Returns how many raw rows were rolled up.
    async fn compact_samples(&self, now: Millis) -> Result<u64, StoreError>;
    /// Deletes every series of an app.
    async fn delete_samples(&self, app: &str) -> Result<(), StoreError>;
    /// Key/value settings (token, engine id…).
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets a key/value setting.
    async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Every user, by name.
    async fn list_users(&self) -> Result<Vec<StoredUser>, StoreError>;
    /// Adds a user, with its first token when given, in one transaction. `false` (and nothing written) when a user
    /// of that name exists.
    async fn create_user(&self, user: &StoredUser, token: Option<&StoredToken>) -> Result<bool, StoreError>;
    /// Removes a user and every token of the user in one transaction; returns whether the user existed. The user's
    /// apps stay (owned by the name).
    async fn delete_user(&self, name: &str) -> Result<bool, StoreError>;
    /// Every token (with its hash), oldest first.
    async fn list_tokens(&self) -> Result<Vec<StoredToken>, StoreError>;
    /// Adds a token; `false` (and nothing written) when its user does not exist. An error when its id or hash is
    /// taken.
    async fn create_token(&self, token: &StoredToken) -> Result<bool, StoreError>;
    /// Removes a token; returns whether it existed.
    async fn delete_token(&self, id: &str) -> Result<bool, StoreError>;
    /// Appends an audit row and returns it with its id. The log is bounded (oldest rows are pruned).
    async fn append_audit(&self, record: AuditRecord) -> Result<AuditRecord, StoreError>;
    /// Newest-first audit rows, optionally of one user and/or one app, at most `limit`.
    async fn list_audit(
        &self,
        user: Option<&str>,
        app: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Every edited policy.
    async fn list_policies(&self) -> Result<Vec<StoredPolicy>, StoreError>;
    /// Writes an edited policy (replacing its previous edit).
    async fn put_policy(&self, policy: &StoredPolicy) -> Result<(), StoreError>;
    /// Removes a policy's edit, so the shipped version runs again; returns whether there was one.
    async fn delete_policy(&self, name: &str) -> Result<bool, StoreError>;
    /// Every loaded lab.
    async fn list_labs(&self) -> Result<Vec<StoredLab>, StoreError>;
    /// Writes a loaded lab (replacing the row of the same id).
    async fn put_lab(&self, lab: &StoredLab) -> Result<(), StoreError>;
    /// Removes a lab's row; returns whether there was one.
    async fn delete_lab(&self, id: &str) -> Result<bool, StoreError>;
    /// Every experiment run, oldest first, without its points (`points` is empty: lists stay small).
    async fn list_experiments(&self) -> Result<Vec<StoredExperiment>, StoreError>;
    /// One run by name, with its points.
    async fn get_experiment(&self, name: &str) -> Result<Option<StoredExperiment>, StoreError>;
    /// Writes a run (replacing the row of the same name).
    async fn put_experiment(&self, run: &StoredExperiment) -> Result<(), StoreError>;
    /// Removes a run; returns whether there was one.
    async fn delete_experiment(&self, name: &str) -> Result<bool, StoreError>;
}

/// An experiment run as stored: a few columns to list and find runs by, the engine's record and the points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredExperiment {
    /// The run's name (unique).
    pub name: String,
    /// The app recorded.
    pub app: String,
    /// When the recording started.
    pub started_at: Millis,
    /// When it ended; `None` while recording.
    pub ended_at: Option<Millis>,
    /// The run without its points ([`crate::experiment::Run`]) as JSON text; the engine owns its shape.
    pub record: String,
    /// The points as a JSON array (`[]` while recording); empty text in lists.
    pub points: String,
}

/// A loaded lab: what the engine needs to evaluate its checks and to reset it, also after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLab {
    /// The lab's id.
    pub id: String,
    /// The engine's record of the lab as JSON text: its files, what loading it created and replaced, the steps done.
    /// The engine owns its shape; the store keeps it whole.
    pub record: String,
    /// When it was loaded.
    pub loaded_at: Millis,
}

/// Labels as a map, for adapters.
pub type Labels = BTreeMap<String, String>;
