//! The workload spec: the YAML document a user writes to declare an app.
//!
//! Field names follow `shared/product.md`. Every struct denies unknown fields so a typo is an error with a line and
//! column instead of a silent ignore. The spec is typed: memory is [`Bytes`], durations are [`Duration`], closed sets of
//! words are enums, each parsed once (by [`crate::units`] or serde) when the spec is read, so no caller parses a field
//! again. [`crate::validate`] reports what would not parse, with its line and column, before serde sees it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::units::{Bytes, Duration};

/// Declares a closed set of words a spec may write: the enum, its serde spellings, and the list of spellings that
/// validation shows, all from one table so they cannot disagree.
macro_rules! words {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant,)+
        }

        impl $name {
            /// Every spelling a spec may use, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($word),+];

            /// The spelling a spec uses.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }

            /// The value a spec spells `word`, if any.
            pub fn from_name(word: &str) -> Option<$name> {
                match word {
                    $($word => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A declared application: what the user wants running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppSpec {
    /// Unique name: lowercase letters, digits and '-', starting with a letter, at most 40 characters.
    pub name: String,
    /// Image reference, e.g. `crane-demo:0.1.0` or `node:18`.
    pub image: String,
    /// Desired number of instances (0..=100).
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    /// Overrides the image's command (entrypoint + args as one argv).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Environment variables passed to every instance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Ports the app listens on inside the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSpec>,
    /// CPU and memory limits per instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Probes (liveness, readiness, startup). Parsed and stored; activated by the probes feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Horizontal autoscaling. Parsed and stored; activated by the autoscaling feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// Rolling update behaviour. Parsed and stored; activated by the rollout feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdatePolicy>,
    /// Scheduling strategy and constraints. Parsed and stored; activated by the scheduler feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// Volumes mounted into every instance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeSpec>,
    /// Secrets exposed to the instances as files. Parsed and stored; not active yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileRef>,
    /// Configs exposed to the instances as files. Parsed and stored; not active yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<FileRef>,
    /// Security settings; hardened defaults apply when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    /// How a dead instance is replaced (by default: a new container, created and started after the death).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal: Option<Heal>,
}

impl AppSpec {
    /// Whether each instance keeps a paused standby (see [`Heal::standby`]).
    pub fn heal_standby(&self) -> bool {
        self.heal.as_ref().is_some_and(|h| h.standby)
    }
}

/// Healing settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Heal {
    /// Keep, for every running instance, a started-then-paused copy of it (same slot, same revision): a death is
    /// healed by unpausing the copy instead of creating and starting a container (which costs the runtime hundreds
    /// of milliseconds). Costs the paused copies' memory; off by default.
    #[serde(default)]
    pub standby: bool,
}

fn default_replicas() -> u32 {
    1
}

/// One port of the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PortSpec {
    /// Port inside the container (1..=65535).
    pub container: u16,
    /// Host port of the app's load balancer; picked free when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<u16>,
    /// `tcp` (default) or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// How the load balancer picks an instance: `roundRobin` (default) or `leastConnections`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
    /// `http` (default: balanced per request) or `tcp` (balanced per connection, bytes passed through unread).
    /// Inferred as `tcp` from `appProtocol: tcp` when omitted; see [`PortSpec::effective_mode`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<PortMode>,
    /// What the app speaks on the port: `http` (HTTP/1.1, the default), `http2` or `grpc` (the load balancer
    /// talks HTTP/2 to the instances), or `tcp` (anything else; implies `mode: tcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<AppProtocol>,
    /// Session affinity: `cookie` keeps a client on one instance with a cookie the load balancer sets (http ports
    /// only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
}

impl PortSpec {
    /// How the load balancer carries the port: the written `mode`, else `tcp` for `appProtocol: tcp`, else `http`.
    pub fn effective_mode(&self) -> PortMode {
        match (self.mode, self.app_protocol) {
            (Some(mode), _) => mode,
            (None, Some(AppProtocol::Tcp)) => PortMode::Tcp,
            (None, _) => PortMode::Http,
        }
    }

    /// True when the load balancer speaks HTTP/2 to the instances on this port (`appProtocol: http2|grpc`).
    pub fn backend_http2(&self) -> bool {
        matches!(self.app_protocol, Some(AppProtocol::Http2 | AppProtocol::Grpc))
    }
}

words! {
    /// How the load balancer carries a port's traffic.
    #[derive(Default)]
    pub enum PortMode {
        /// A reverse proxy: each HTTP request (or WebSocket) goes to one ready instance (the default).
        #[default]
        Http = "http",
        /// A layer-4 balancer: each TCP connection goes to one ready instance and its bytes pass through unread.
        Tcp = "tcp",
    }
}

words! {
    /// The application protocol a port speaks.
    pub enum AppProtocol {
        /// HTTP/1.1 (and WebSocket upgrades).
        Http = "http",
        /// HTTP/2 without TLS (h2c).
        Http2 = "http2",
        /// gRPC, which is HTTP/2 with trailers.
        Grpc = "grpc",
        /// Any protocol over TCP (databases, caches); the port is balanced per connection.
        Tcp = "tcp",
    }
}

words! {
    /// Session affinity of an http port.
    pub enum Sticky {
        /// A cookie set by the load balancer names the instance.
        Cookie = "cookie",
    }
}

words! {
    /// Transport protocol of a port.
    #[derive(Default)]
    pub enum Protocol {
        /// TCP (the default).
        #[default]
        Tcp = "tcp",
        /// UDP.
        Udp = "udp",
    }
}

words! {
    /// How the load balancer picks an instance for a request.
    #[derive(Default)]
    pub enum Balance {
        /// In turn (the default).
        #[default]
        RoundRobin = "roundRobin",
        /// The instance with the fewest requests in flight.
        LeastConnections = "leastConnections",
    }
}

/// Per-instance resource limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    /// CPU limit in cores, e.g. `0.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    /// Memory limit, written as a Kubernetes quantity, e.g. `128Mi`, `1Gi`, `500M`, `1e8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Bytes>,
}

/// Probes of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Health {
    /// Restarts the instance when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<Probe>,
    /// Takes the instance out of the load balancer when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Probe>,
    /// Holds the other probes until it passes once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Probe>,
}

/// Kind of probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeType {
    /// HTTP GET; 200..=399 passes.
    Http,
    /// TCP connect.
    Tcp,
    /// Command run inside the container; exit code 0 passes.
    Exec,
}

/// One probe. Durations are written like `5s`, `500ms`, `1m`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Probe {
    /// How the probe checks the instance.
    #[serde(rename = "type")]
    pub kind: ProbeType,
    /// HTTP path (http probes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Port probed (http/tcp); defaults to the first container port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Command (exec probes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Time between probes (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Duration>,
    /// Probe timeout (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Delay before the first probe (default 0s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<Duration>,
    /// Consecutive failures before the probe counts as failed (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
    /// Consecutive successes before the probe counts as passed (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<u32>,
}

/// Autoscaling settings (HPA-style).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Autoscaling {
    /// Lowest replica count.
    pub min: u32,
    /// Highest replica count.
    pub max: u32,
    /// What is measured: `cpu`, `memory`, `rps`, `latency_p95` or `custom`.
    pub metric: Metric,
    /// Target value of the metric (percent for cpu/memory, requests/s per replica for rps, ms for latency).
    pub target: f64,
    /// Prometheus query, when `metric: custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// How long a lower recommendation must hold before scaling down (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_stabilization: Option<Duration>,
    /// Largest number of replicas added in one step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_scale_up_step: Option<u32>,
    /// Largest number of replicas removed in one step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_scale_down_step: Option<u32>,
    /// With `min: 0`: how long without a request before the app scales to zero (default 5m); the load balancer
    /// then holds the next request and wakes the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_after: Option<Duration>,
}

words! {
    /// What the autoscaler measures.
    pub enum Metric {
        /// CPU use in percent of the instance's CPU limit (Crane's default limit without one), per instance.
        Cpu = "cpu",
        /// Memory use in percent of the instance's memory limit, per instance.
        Memory = "memory",
        /// Requests per second per replica: per-instance samples, or the app's total in
        /// [`crate::autoscale::Input::app_value`].
        Rps = "rps",
        /// 95th percentile latency in ms, one value for the app.
        LatencyP95 = "latency_p95",
        /// The value of the spec's Prometheus query, one value for the app.
        Custom = "custom",
    }
}

/// Rolling update settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdatePolicy {
    /// Extra instances allowed above `replicas` during an update (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<u32>,
    /// Instances allowed below `replicas` during an update (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<u32>,
    /// `rollback` (default) or `pause`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<FailureAction>,
    /// How long a new instance may take to become ready (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Duration>,
}

words! {
    /// What a rolling update does when a new instance fails.
    #[derive(Default)]
    pub enum FailureAction {
        /// Return to the previous revision (the default).
        #[default]
        Rollback = "rollback",
        /// Stop the update where it is.
        Pause = "pause",
    }
}

/// Placement settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Placement {
    /// `binpack`, `spread` or a policy name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Constraints such as `node.labels.zone == a`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// Labels attached to the instances.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A volume mount: a named volume (created per app) or a host path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VolumeSpec {
    /// Named volume (`data`) or absolute host path (`/srv/data`).
    pub source: String,
    /// Absolute path inside the container.
    pub target: String,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

/// A secret or config file reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileRef {
    /// Name of the secret or config.
    pub name: String,
    /// Path inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Security settings. Defaults are hardened: capabilities a web app does not need are dropped and
/// `no-new-privileges` is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Security {
    /// Run privileged (denied by the default policy).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// User (name or uid[:gid]) the process runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Mount the root filesystem read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only_root_fs: bool,
    /// Capabilities added back on top of the hardened default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_capabilities: Vec<String>,
    /// Keep Docker's default capability set instead of dropping the hardened list.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_default_capabilities: bool,
}

/// Capabilities dropped by default (the thesis' list). `NET_BIND_SERVICE` is dropped too unless a container port is
/// below 1024.
pub const DROPPED_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "SETGID",
    "SETUID",
    "NET_RAW",
    "SYS_CHROOT",
    "MKNOD",
    "AUDIT_WRITE",
    "SETFCAP",
];
