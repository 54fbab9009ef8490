//! The built-in safety floor: what a spec may never ask of the host, and the limits every container gets.
//!
//! Crane runs specs that people paste from tutorials, so a spec must not be a path to root on the host. Validation
//! ([`crate::validate::parse_spec_with`]) applies a [`Floor`]: it refuses privileged containers, bind mounts of the
//! Docker socket, of system paths and of the engine's data directory, host paths outside an allow-list, and
//! capabilities outside [`ALLOWED_CAPABILITIES`]; allowed host paths are mounted read-only. Because every door (window,
//! REST, CLI) applies through validation, every door gets the floor. An engine setting (`allow_unsafe`) turns the floor
//! off for people who know what they are doing.
//!
//! Some rules are not part of the floor and hold even with `allow_unsafe`, because breaking them breaks Crane itself
//! rather than the host: label keys under `io.crane.` or `traefik.` (Crane's ownership labels and its routing) and a
//! CPU limit below [`MIN_CPU`] (which Docker would round to "unlimited").
//!
//! The default limits ([`DEFAULT_MEMORY_BYTES`], [`DEFAULT_CPU`], [`DEFAULT_PIDS`], log rotation) apply whatever the
//! floor says: a container without them could exhaust the host's memory, CPU, process table or disk.

use std::path::{Component, Path, PathBuf};

use crate::spec::AppSpec;

/// Memory limit of an instance whose spec sets no `resources.memory`: 512 MiB.
pub const DEFAULT_MEMORY_BYTES: u64 = 512 * 1024 * 1024;
/// CPU limit, in cores, of an instance whose spec sets no `resources.cpu`.
pub const DEFAULT_CPU: f64 = 1.0;
/// Most processes (and threads) one instance may run; the spec has no field for it, so it always applies. Enough for
/// a web server with a worker pool, too few for a fork bomb to take the host down.
pub const DEFAULT_PIDS: i64 = 512;
/// The log driver every container uses, with rotation so logs cannot fill the host's disk.
pub const LOG_DRIVER: &str = "json-file";
/// Size at which a container's log file is rotated (Docker's `max-size` syntax).
pub const LOG_MAX_SIZE: &str = "10m";
/// Rotated log files kept per container (Docker's `max-file`): at most 30 MB of logs per instance.
pub const LOG_MAX_FILE: u32 = 3;
/// Smallest CPU limit a spec may ask for; anything smaller would round to Docker's "no limit".
pub const MIN_CPU: f64 = 0.01;

/// Capabilities a spec may add back with `security.addCapabilities` while the floor is on: the ones a web app may
/// legitimately need (bind a low port, change file owners, drop to another user, signal its children). None of them
/// reaches beyond the container; `ALL`, `SYS_*`, `NET_ADMIN`, `NET_RAW`, `DAC_READ_SEARCH` and the rest are refused.
pub const ALLOWED_CAPABILITIES: &[&str] =
    &["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETGID", "SETUID"];

/// Host paths never mounted while the floor is on: neither these, nor anything under them, nor any directory that
/// contains one of them (mounting `/var` would expose `/var/run/docker.sock`).
pub const PROTECTED_HOST_PATHS: &[&str] = &[
    "/proc",
    "/sys",
    "/dev",
    "/etc",
    "/boot",
    "/root",
    "/home",
    "/run",
    "/var/run",
    "/var/lib/docker",
    "/var/run/docker.sock",
    "/run/docker.sock",
];

/// Label key prefixes a spec may not use: Crane's own labels (ownership, instance identity) and Traefik's routing.
pub const RESERVED_LABEL_PREFIXES: &[&str] = &["io.crane.", "traefik."];

/// What validation lets a spec ask of the host. [`Floor::default`] is the strict floor with no allowed host path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Floor {
    /// Turns the floor off: privileged containers, any host path (read-write) and any capability are accepted. The
    /// engine reads it from its `allow_unsafe` setting.
    pub allow_unsafe: bool,
    /// Host directories a spec may bind-mount (read-only), with everything under them. Empty by default, so only
    /// named volumes are accepted.
    pub host_path_allow: Vec<PathBuf>,
    /// The engine's data directory (its database, API token): never mounted.
    pub data_dir: Option<PathBuf>,
}

impl Floor {
    /// The floor turned off (the engine setting `allow_unsafe`).
    pub fn unsafe_allowed() -> Floor {
        Floor { allow_unsafe: true, ..Floor::default() }
    }
}

/// Why the floor refuses something: the message and the fix of a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What is refused and why.
    pub message: String,
    /// What to write instead.
    pub fix: String,
}

impl Refusal {
    fn new(message: impl Into<String>, fix: impl Into<String>) -> Refusal {
        Refusal { message: message.into(), fix: fix.into() }
    }
}

/// The fix of every refused host path.
const HOST_PATH_FIX: &str = "use a named volume such as `data`, or ask an admin to allow the path";

impl Floor {
    /// Checks a bind mount's host path (a volume `source` starting with `/`). `None` means it may be mounted
    /// (read-only, see [`crate::validate::parse_spec_with`]).
    pub fn host_path(&self, source: &str) -> Option<Refusal> {
        if self.allow_unsafe {
            return None;
        }
        let path = normalize(source);
        if path == Path::new("/") {
            return Some(Refusal::new(
                "the host's root directory `/` cannot be mounted: it would give the container the whole host",
                HOST_PATH_FIX,
            ));
        }
        let is_socket = path.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".sock"));
        let touches = |protected: &Path| path.starts_with(protected) || protected.starts_with(&path);
        if is_socket
            || PROTECTED_HOST_PATHS.iter().any(|p| Path::new(p).ends_with("docker.sock") && touches(Path::new(p)))
        {
            return Some(Refusal::new(
                format!(
                    "`{source}` is or holds a socket such as the Docker socket; a container that can reach it controls \
                     the host"
                ),
                HOST_PATH_FIX,
            ));
        }
        if let Some(protected) = PROTECTED_HOST_PATHS.iter().map(Path::new).find(|p| touches(p)) {
            return Some(Refusal::new(
                format!("`{source}` is a protected host path (it is or contains `{}`)", protected.display()),
                HOST_PATH_FIX,
            ));
        }
        if let Some(data_dir) = &self.data_dir {
            let data_dir = normalize(&data_dir.to_string_lossy());
            if touches(&data_dir) {
                return Some(Refusal::new(
                    format!("`{source}` is or contains Crane's data directory `{}`", data_dir.display()),
                    HOST_PATH_FIX,
                ));
            }
        }
        if !self.host_path_allow.iter().any(|allowed| path.starts_with(normalize(&allowed.to_string_lossy()))) {
            return Some(Refusal::new(
                format!("host path `{source}` is not on this engine's allow-list"),
                HOST_PATH_FIX,
            ));
        }
        None
    }

    /// Checks `security.privileged`.
    pub fn privileged(&self, privileged: bool) -> Option<Refusal> {
        (privileged && !self.allow_unsafe).then(|| {
            Refusal::new(
                "privileged containers are refused: they get every capability and every host device, which is root on \
                 the host",
                format!(
                    "remove `privileged: true`; if the app needs one capability, add it with `addCapabilities` (allowed: \
                     {})",
                    ALLOWED_CAPABILITIES.join(", ")
                ),
            )
        })
    }

    /// Checks one capability of `security.addCapabilities`, written in canonical form (uppercase, no `CAP_`).
    pub fn capability(&self, capability: &str) -> Option<Refusal> {
        if self.allow_unsafe || ALLOWED_CAPABILITIES.contains(&capability) {
            return None;
        }
        let why = if capability == "ALL" || capability.starts_with("SYS_") {
            "it gives the container control over the host"
        } else {
            "it is not on the list of capabilities a spec may add"
        };
        Some(Refusal::new(
            format!("capability `{capability}` is refused: {why}"),
            format!("remove it; the capabilities a spec may add are {}", ALLOWED_CAPABILITIES.join(", ")),
        ))
    }
}

/// Checks a label key against [`RESERVED_LABEL_PREFIXES`] (case-insensitively, as Traefik reads its labels). This is
/// a rule of the spec, not of the floor: it holds with `allow_unsafe` too.
pub fn reserved_label(key: &str) -> Option<Refusal> {
    let lower = key.to_ascii_lowercase();
    let prefix = RESERVED_LABEL_PREFIXES.iter().find(|p| lower.starts_with(**p))?;
    Some(Refusal::new(
        format!("label `{key}` uses the reserved prefix `{prefix}`, which belongs to Crane's own labels and routing"),
        "rename the label, e.g. `tier: web`; Crane sets its own and Traefik labels itself",
    ))
}

/// Most entries the host-path allow-list may hold.
pub const MAX_HOST_PATH_ALLOW: usize = 32;
/// Longest allowed host path, in bytes (Linux's `PATH_MAX`).
pub const MAX_HOST_PATH_BYTES: usize = 4096;

/// Checks an admin's host-path allow-list (the engine setting `hostPathAllow`) against the floor's rules and returns
/// it without duplicates, in the order given. Every entry must be an absolute path written in normal form (no `.`,
/// `..`, repeated or trailing `/`), must not be `/`, a socket, a protected system path ([`PROTECTED_HOST_PATHS`],
/// or a directory containing one) or touch the engine's data directory: an allowed entry is exactly a path that the
/// strict floor would mount once it is on the list. On failure, a sentence per bad entry, joined by `; `.
pub fn check_host_path_allow(entries: &[String], data_dir: Option<&Path>) -> Result<Vec<String>, String> {
    if entries.len() > MAX_HOST_PATH_ALLOW {
        return Err(format!(
            "the allow-list has {} entries; at most {MAX_HOST_PATH_ALLOW} are allowed (allow a common parent directory \
             instead)",
            entries.len()
        ));
    }
    let mut problems = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for entry in entries {
        let shown = &entry[..crate::text::floor_char_boundary(entry, 120)];
        if entry.len() > MAX_HOST_PATH_BYTES {
            problems.push(format!("`{shown}…` is longer than {MAX_HOST_PATH_BYTES} bytes"));
            continue;
        }
        if entry.chars().any(char::is_control) {
            problems.push(format!("`{}` contains a control character", entry.escape_debug()));
            continue;
        }
        if !entry.starts_with('/') {
            problems.push(format!("`{shown}` is not an absolute path; write it from the root, e.g. `/srv/data`"));
            continue;
        }
        let normal = normalize(entry);
        if normal.as_os_str() != std::ffi::OsStr::new(entry) {
            problems.push(format!("`{shown}` is not in normal form; write it as `{}`", normal.display()));
            continue;
        }
        let floor =
            Floor { allow_unsafe: false, host_path_allow: vec![normal], data_dir: data_dir.map(Path::to_path_buf) };
        if let Some(refusal) = floor.host_path(entry) {
            problems.push(format!("{}; it cannot be allowed", refusal.message));
            continue;
        }
        if !out.contains(entry) {
            out.push(entry.clone());
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.join("; "))
    }
}

/// The path with `.`, `..` and repeated or trailing `/` resolved lexically (`/var/run/../../etc` is `/etc`). Symbolic
/// links on the host cannot be resolved here (no I/O); an admin allows only paths whose links they trust.
fn normalize(source: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in Path::new(source).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

impl AppSpec {
    /// The memory limit every instance gets: the spec's, or [`DEFAULT_MEMORY_BYTES`].
    pub fn effective_memory_bytes(&self) -> u64 {
        self.memory_bytes().unwrap_or(DEFAULT_MEMORY_BYTES)
    }

    /// The CPU limit every instance gets, in billionths of a core: the spec's, or [`DEFAULT_CPU`].
    pub fn effective_nano_cpus(&self) -> i64 {
        self.nano_cpus().or_else(|| crate::units::nano_cpus(DEFAULT_CPU)).unwrap_or(1_000_000_000)
    }

    /// One sentence per default the spec leaves in force, for the warnings of an apply: limits it does not set, and
    /// host paths mounted read-only.
    pub fn applied_defaults(&self) -> Vec<String> {
        let memory = crate::units::Bytes::new(DEFAULT_MEMORY_BYTES);
        let mut out = Vec::new();
        match &self.resources {
            None => out
                .push(format!("no resources set: {memory} memory, {DEFAULT_CPU} CPU, {DEFAULT_PIDS} processes apply")),
            Some(resources) => {
                if resources.memory.is_none() {
                    out.push(format!("resources.memory not set: {memory} memory applies"));
                }
                if resources.cpu.is_none() {
                    out.push(format!("resources.cpu not set: {DEFAULT_CPU} CPU applies"));
                }
            }
        }
        for (i, volume) in self.volumes.iter().enumerate() {
            if volume.source.starts_with('/') && volume.read_only {
                out.push(format!("volumes[{i}]: host path `{}` is mounted read-only", volume.source));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths() {
        let floor = Floor {
            host_path_allow: vec!["/srv".into(), "/var".into()],
            data_dir: Some("/srv/crane".into()),
            ..Floor::default()
        };
        let refused = |p: &str| floor.host_path(p).map(|r| r.message);
        assert_eq!(refused("/srv/data"), None);
        assert_eq!(refused("/srv/data/../www/"), None);
        for path in [
            "/",
            "//",
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/tmp/x.sock",
            "/var/run",
            "/var",
            "/etc",
            "/etc/passwd",
            "/srv/../etc",
            "/proc/1",
            "/home/me",
            "/srv/crane",
            "/srv/crane/crane.db",
            "/opt/x",
        ] {
            assert!(refused(path).is_some(), "{path} should be refused");
        }
        assert!(refused("/srv").unwrap().contains("data directory"), "/srv holds the data dir");
        assert!(Floor::unsafe_allowed().host_path("/var/run/docker.sock").is_none());
    }

    #[test]
    fn allow_list_entries() {
        let data = Path::new("/srv/crane");
        let check = |entries: &[&str]| {
            check_host_path_allow(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>(), Some(data))
        };
        assert_eq!(check(&[]), Ok(vec![]));
        assert_eq!(check(&["/srv/data", "/opt/x", "/srv/data"]), Ok(vec!["/srv/data".into(), "/opt/x".into()]));
        for (entry, says) in [
            ("srv/data", "not an absolute path"),
            ("", "not an absolute path"),
            ("/srv/data/", "write it as `/srv/data`"),
            ("/srv//data", "write it as `/srv/data`"),
            ("/srv/../etc", "write it as `/etc`"),
            ("/", "root directory"),
            ("/etc", "protected host path"),
            ("/var", "socket"),
            ("/home/me", "protected host path"),
            ("/srv", "data directory"),
            ("/srv/crane/x", "data directory"),
            ("/tmp/docker.sock", "socket"),
            ("/srv/a\nb", "control character"),
        ] {
            let err = check(&[entry]).unwrap_err();
            assert!(err.contains(says), "{entry:?}: {err}");
        }
        let err = check(&["/etc", "relative"]).unwrap_err();
        assert!(err.contains("`/etc`") && err.contains("`relative`"), "every bad entry is named at once: {err}");
        let long = format!("/srv/{}", "é".repeat(MAX_HOST_PATH_BYTES));
        assert!(check(&[&long]).unwrap_err().contains("longer than 4096 bytes"));
        let many: Vec<String> = (0..=MAX_HOST_PATH_ALLOW).map(|i| format!("/srv/d{i}")).collect();
        assert!(check_host_path_allow(&many, None).unwrap_err().contains("at most 32"));
        // An accepted entry is what the strict floor then mounts.
        let floor = Floor { host_path_allow: vec!["/opt/x".into()], data_dir: Some(data.into()), ..Floor::default() };
        assert_eq!(floor.host_path("/opt/x/y"), None);
    }

    #[test]
    fn defaults_as_sentences() {
        let spec: AppSpec = serde_norway::from_str("name: w\nimage: x\n").unwrap();
        assert_eq!(spec.applied_defaults(), ["no resources set: 512Mi memory, 1 CPU, 512 processes apply"]);
        assert_eq!(spec.effective_memory_bytes(), 512 * 1024 * 1024);
        assert_eq!(spec.effective_nano_cpus(), 1_000_000_000);
        let spec: AppSpec = serde_norway::from_str("name: w\nimage: x\nresources: { cpu: 0.5 }\n").unwrap();
        assert_eq!(spec.applied_defaults(), ["resources.memory not set: 512Mi memory applies"]);
        assert_eq!(spec.effective_nano_cpus(), 500_000_000);
    }
}
