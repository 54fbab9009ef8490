//! Turning a user's YAML (or JSON) into a validated [`AppSpec`], with every problem reported at once.
//!
//! Validation runs in three stages, and stops after the first stage that finds anything, because later stages
//! would only repeat the same mistake in other words:
//! 1. **Syntax**: the YAML parser's error, with its position.
//! 2. **Structure**: the source tree is checked against the static schema in `schema`: unknown fields (with a
//!    "did you mean"), keys written twice, missing required fields, and type errors, all of them.
//! 3. **Meaning**: values the typed spec parses (durations, memory, closed sets of words) are read with the one parser
//!    of each ([`crate::units`], the spec's enums) while walking the tree; then the typed spec is checked (name format,
//!    ranges, probes, autoscaling…). Both kinds are reported together; each diagnostic points at the line and column
//!    of the offending value, found through the tree. A value that did not parse gets a stand-in so the rest of the
//!    spec can still be checked, and the checks of its own field are skipped.
//!
//! [`validate`] runs stage 3 alone on a spec built in code (a form, an import), with 0/0 positions.
//!
//! Stage 3 includes the safety floor ([`crate::safety`]): [`parse_spec`] and [`validate`] apply the strict
//! [`Floor::default`], so a caller that does not choose is safe; the engine calls [`parse_spec_with`] with its data
//! directory and its `allow_unsafe` setting.

pub mod documents;
pub(crate) mod schema;
pub(crate) mod tree;

use std::collections::BTreeMap;

pub use crate::units::{parse_duration, parse_quantity};
pub use documents::{parse_specs, parse_specs_with, split_documents};

use crate::error::Diagnostic;
pub use crate::safety::Floor;
use crate::safety::{Refusal, MIN_CPU};
use crate::spec::{AppProtocol, AppSpec, FailureAction, Metric, PortMode, PortSpec, Probe, ProbeType, Protocol};
use crate::units::Duration;
use tree::{Node, Path, Target};

/// Docker refuses memory limits below 6 MiB.
pub const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;
/// Most instances one app may ask for; also the ceiling of `autoscaling.max`.
pub const MAX_REPLICAS: u32 = 100;
/// Most CPU cores one instance may ask for.
pub const MAX_CPU: f64 = 64.0;
/// Longest app name, so `<name>-<index>` container and network names stay short and readable.
pub const MAX_NAME_LEN: usize = 40;
/// Largest spec accepted, in bytes of YAML (256 KiB; a real spec is a few KiB). Checked before anything is parsed,
/// here and at every door (REST body, Tauri command, `cranectl apply`), so parsing costs bounded time and memory.
pub const MAX_SPEC_BYTES: usize = 256 * 1024;
/// Longest mapping key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Longest scalar value accepted, in bytes (64 KiB: room for a long command line or an env value).
pub const MAX_SCALAR_BYTES: usize = 64 * 1024;

/// The message of a spec larger than [`MAX_SPEC_BYTES`], the same at every door.
pub fn spec_too_large(bytes: usize) -> String {
    format!("the spec is {bytes} bytes; a spec may be at most {MAX_SPEC_BYTES} bytes (256 KiB)")
}
/// The fix shown with [`spec_too_large`].
pub const SPEC_TOO_LARGE_FIX: &str = "a spec describes one app in a few KiB; remove what does not belong to it";

/// The app name rule in words, for doors that check a name before the engine does.
pub const APP_NAME_RULE: &str = "lowercase letters, digits and '-', starting with a letter";

/// The app name rule as a regular expression (ECMAScript and Rust `regex` syntax agree on it), built from
/// [`MAX_NAME_LEN`] and the same character classes as the validator, so a door never keeps its own copy.
pub fn app_name_pattern() -> String {
    format!("^[a-z][a-z0-9-]{{0,{}}}$", MAX_NAME_LEN - 1)
}
/// Metrics autoscaling understands.
pub const AUTOSCALING_METRICS: &[&str] = Metric::NAMES;
/// What a rolling update may do when a new instance fails.
pub const FAILURE_ACTIONS: &[&str] = FailureAction::NAMES;

/// Parses and validates a spec written in YAML (JSON is YAML too) under the strict safety floor
/// ([`Floor::default`]: no host paths, no privileged containers, a short list of capabilities). Returns every
/// problem found, in source order.
pub fn parse_spec(yaml: &str) -> Result<AppSpec, Vec<Diagnostic>> {
    parse_spec_with(yaml, &Floor::default())
}

/// Parses and validates a spec written in YAML under `floor`. Returns every problem found, in source order.
///
/// While the floor is on, the spec returned mounts every host path read-only (an allowed path is for reading data
/// the host provides, not a way out of the container); [`AppSpec::applied_defaults`] says so in the apply's warnings.
pub fn parse_spec_with(yaml: &str, floor: &Floor) -> Result<AppSpec, Vec<Diagnostic>> {
    if yaml.len() > MAX_SPEC_BYTES {
        return Err(vec![Diagnostic::new(0, 0, "", spec_too_large(yaml.len()), SPEC_TOO_LARGE_FIX)]);
    }
    let parsed = tree::parse(yaml).map_err(|e| vec![syntax_diagnostic(&e)])?;
    let Some(root) = parsed else {
        let fix = "write at least `name:` and `image:`, e.g. `name: web` and `image: crane-demo:0.1.0`";
        return Err(vec![Diagnostic::new(0, 0, "", "the spec is empty", fix)]);
    };

    let mut too_long = Vec::new();
    lengths(&root, &Path::root(), &mut too_long);
    if !too_long.is_empty() {
        return Err(too_long);
    }

    let mut findings = schema::Findings::default();
    schema::check(&root, &schema::APP, &Path::root(), &mut findings);
    if !findings.structure.is_empty() {
        return Err(sorted(findings.structure));
    }
    let (unparsed, mut out): (Vec<Path>, Vec<Diagnostic>) = findings.unparsed.into_iter().unzip();

    // The schema walk mirrors the serde types, so this should not fail; if the two ever disagree, serde's own error
    // (with its position) is still better than a panic.
    let spec: AppSpec = if unparsed.is_empty() {
        serde_norway::from_str(yaml).map_err(|e| vec![serde_diagnostic(&e)])?
    } else {
        // Serde would stop at the first value that does not parse; the tree with stand-ins lets the checks below
        // still report every other problem.
        let json = schema::to_json(&root, &schema::APP, &Path::root(), &unparsed);
        serde_json::from_value(json).map_err(|e| {
            out.push(Diagnostic::new(0, 0, "", e.to_string(), "correct the value's type; see the spec reference"));
            sorted(std::mem::take(&mut out))
        })?
    };

    let mut checker = Checker { root: Some(&root), unparsed: &unparsed, floor, out };
    checker.spec(&spec);
    if checker.out.is_empty() {
        Ok(floor_mounts(spec, floor))
    } else {
        Err(sorted(checker.out))
    }
}

/// The spec as the floor lets it run: host paths read-only unless the floor is off.
fn floor_mounts(mut spec: AppSpec, floor: &Floor) -> AppSpec {
    if !floor.allow_unsafe {
        for volume in spec.volumes.iter_mut().filter(|v| is_absolute_path(&v.source)) {
            volume.read_only = true;
        }
    }
    spec
}

/// Runs the semantic checks on a spec that did not come from YAML, under the strict floor. Diagnostics have no
/// position (0/0).
pub fn validate(spec: &AppSpec) -> Result<(), Vec<Diagnostic>> {
    validate_with(spec, &Floor::default())
}

/// Runs the semantic checks on a spec that did not come from YAML, under `floor`. A writable host path that the
/// floor allows is not an error here; the engine runs what [`parse_spec_with`] returns, which mounts it read-only.
pub fn validate_with(spec: &AppSpec, floor: &Floor) -> Result<(), Vec<Diagnostic>> {
    let mut checker = Checker { root: None, unparsed: &[], floor, out: Vec::new() };
    checker.spec(spec);
    if checker.out.is_empty() {
        Ok(())
    } else {
        Err(checker.out)
    }
}

/// Whether going from `old` to `new` changes what runs inside the containers, so instances must be replaced and the
/// revision bumped. Changing only `replicas`, `autoscaling`, `update` or `heal` does not: those steer how many
/// instances run and how they are replaced, not what they are.
pub fn needs_new_revision(old: &AppSpec, new: &AppSpec) -> bool {
    let scale_free =
        |spec: &AppSpec| AppSpec { replicas: 0, autoscaling: None, update: None, heal: None, ..spec.clone() };
    scale_free(old) != scale_free(new)
}

/// Renders a spec as YAML for display and export, in the field order of [`AppSpec`].
pub fn to_yaml(spec: &AppSpec) -> String {
    // Serializing plain structs of strings, numbers and unit values cannot fail; the fallback only keeps this function
    // total. Units serialize to canonical text that parses back to the same value, so the output round-trips.
    serde_norway::to_string(spec).unwrap_or_else(|e| format!("# the spec could not be rendered: {e}\n"))
}

fn syntax_diagnostic(e: &tree::SyntaxError) -> Diagnostic {
    let fix = if e.message.contains("tab") {
        "indent with spaces: YAML does not allow tabs for indentation"
    } else if e.message.contains("second one") {
        "remove the `---` line and what follows, or put each app in its own spec"
    } else if e.message == tree::ALIAS_REFUSED {
        "write the value out in full where the alias (`*name`) stands"
    } else if e.message.contains("anchor") {
        "define the anchor (`&name`) before using it (`*name`)"
    } else {
        "check the indentation, the `key: value` syntax and matching quotes and brackets here"
    };
    let message = format!("invalid YAML: {}", e.message);
    Diagnostic::new(e.line, e.column, "", message, fix)
}

/// Reports every key longer than [`MAX_KEY_BYTES`] and every scalar longer than [`MAX_SCALAR_BYTES`], naming its
/// field. Runs before the schema walk, whose messages quote keys and values and whose "did you mean" compares them.
fn lengths(node: &Node, path: &Path, out: &mut Vec<Diagnostic>) {
    let fixes = LengthFixes {
        max_value: MAX_SCALAR_BYTES,
        max_key: MAX_KEY_BYTES,
        value: "shorten it; large content belongs in a config file or a volume, not in the spec",
        key: "use one of the field names of the spec reference",
    };
    lengths_with(node, path, &fixes, out);
}

/// The limits [`lengths_with`] checks and the fixes it names for a value and a key that are too long.
pub(crate) struct LengthFixes<'a> {
    /// The longest value, in bytes.
    pub max_value: usize,
    /// The longest key, in bytes.
    pub max_key: usize,
    /// For a value over `max_value`.
    pub value: &'a str,
    /// For a key over `max_key`.
    pub key: &'a str,
}

/// [`lengths`] for any YAML document Crane reads (specs, rule files), with that document's fixes.
pub(crate) fn lengths_with(node: &Node, path: &Path, fixes: &LengthFixes<'_>, out: &mut Vec<Diagnostic>) {
    match &node.kind {
        tree::Kind::Scalar { value, .. } if value.len() > fixes.max_value => out.push(Diagnostic::new(
            node.line,
            node.column,
            path.render(),
            format!(
                "the value of `{}` is {} bytes; a value may be at most {} bytes",
                path.render(),
                value.len(),
                fixes.max_value
            ),
            fixes.value,
        )),
        tree::Kind::Scalar { .. } => {}
        tree::Kind::Seq(items) => {
            items.iter().enumerate().for_each(|(i, item)| lengths_with(item, &path.index(i), fixes, out))
        }
        tree::Kind::Map(entries) => {
            for (key, value) in entries {
                let text = key.as_scalar().map(|(k, _)| k).unwrap_or_default();
                if text.len() > fixes.max_key {
                    let shown = path.key(&format!("{}…", &text[..crate::text::floor_char_boundary(text, 32)])).render();
                    out.push(Diagnostic::new(
                        key.line,
                        key.column,
                        shown.clone(),
                        format!(
                            "the key `{shown}` is {} bytes; a key may be at most {} bytes",
                            text.len(),
                            fixes.max_key
                        ),
                        fixes.key,
                    ));
                } else {
                    lengths_with(key, path, fixes, out);
                    lengths_with(value, &path.key(text), fixes, out);
                }
            }
        }
    }
}

fn sorted(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    // A stable sort keeps the walk's order for problems at the same position.
    diagnostics.sort_by_key(|d| (d.line, d.column));
    diagnostics
}

fn serde_diagnostic(e: &serde_norway::Error) -> Diagnostic {
    let (line, column) = e
        .location()
        .map(|l| (u32::try_from(l.line()).unwrap_or(0), u32::try_from(l.column()).unwrap_or(0)))
        .unwrap_or((0, 0));
    let text = e.to_string();
    // serde_norway appends " at line X column Y"; the position already has its own fields.
    let message = text.split(" at line ").next().unwrap_or(&text).to_string();
    Diagnostic::new(line, column, "", message, "correct the value's type; see the spec reference")
}

/// Collects semantic diagnostics, positioned through the source tree when there is one.
struct Checker<'a> {
    root: Option<&'a Node>,
    /// Paths whose value did not parse (already reported) and hold a stand-in: checks of them are skipped.
    unparsed: &'a [Path],
    /// What the spec may ask of the host.
    floor: &'a Floor,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    /// Whether the value at `path` is the user's own (not a stand-in for one that did not parse).
    fn parsed(&self, path: &Path) -> bool {
        !self.unparsed.contains(path)
    }

    /// Reports a problem with the value at `path`.
    fn at(&mut self, path: &Path, message: impl Into<String>, fix: impl Into<String>) {
        self.push(path, Target::Value, message.into(), fix.into());
    }

    /// Reports a problem with the key that introduces `path` (an env name, a label name).
    fn at_key(&mut self, path: &Path, message: impl Into<String>, fix: impl Into<String>) {
        self.push(path, Target::Key, message.into(), fix.into());
    }

    /// Reports a refusal of the safety floor (or of a reserved name) at the value or key of `path`.
    fn refuse(&mut self, path: &Path, target: Target, refusal: Option<Refusal>) {
        if let Some(Refusal { message, fix }) = refusal {
            self.push(path, target, message, fix);
        }
    }

    fn push(&mut self, path: &Path, target: Target, message: String, fix: String) {
        let (line, column) = self.root.map(|r| tree::locate(r, path, target)).unwrap_or((0, 0));
        self.out.push(Diagnostic::new(line, column, path.render(), message, fix));
    }

    fn spec(&mut self, spec: &AppSpec) {
        let root = Path::root();
        self.name(&spec.name, &root.key("name"));
        self.image(&spec.image, &root.key("image"));
        if spec.replicas > MAX_REPLICAS {
            self.at(
                &root.key("replicas"),
                format!("replicas is {}; an app may have at most {MAX_REPLICAS} instances", spec.replicas),
                format!("use a number from 0 to {MAX_REPLICAS}"),
            );
        }
        if let Some(command) = &spec.command {
            if command.is_empty() {
                self.at(
                    &root.key("command"),
                    "command is an empty list",
                    "list the program and its arguments, or remove `command` to use the image's own",
                );
            }
        }
        self.env(&spec.env, &root.key("env"));
        self.ports(spec, &root.key("ports"));
        self.resources(spec, &root.key("resources"));
        if let Some(health) = &spec.health {
            let path = root.key("health");
            for (key, probe) in
                [("liveness", &health.liveness), ("readiness", &health.readiness), ("startup", &health.startup)]
            {
                if let Some(probe) = probe {
                    self.probe(key, probe, &path.key(key));
                }
            }
        }
        self.autoscaling(spec, &root.key("autoscaling"));
        self.update(spec, &root.key("update"));
        self.placement(spec, &root.key("placement"));
        self.volumes(spec, &root.key("volumes"));
        for (section, refs) in [("secrets", &spec.secrets), ("configs", &spec.configs)] {
            for (i, file) in refs.iter().enumerate() {
                let path = root.key(section).index(i);
                if file.name.trim().is_empty() {
                    self.at(&path.key("name"), "the name is empty", "give the secret or config a name");
                }
                if let Some(target) = &file.target {
                    if !target.starts_with('/') {
                        self.at(
                            &path.key("target"),
                            format!("target `{target}` is not an absolute path"),
                            "write a path inside the container starting with `/`",
                        );
                    }
                }
            }
        }
        self.security(spec, &root.key("security"));
    }

    fn name(&mut self, name: &str, path: &Path) {
        let fix =
            || format!("use lowercase letters, digits and '-', starting with a letter, e.g. `{}`", suggest_name(name));
        if name.is_empty() {
            self.at(path, "the name is empty", fix());
        } else if name.chars().count() > MAX_NAME_LEN {
            self.at(
                path,
                format!("the name is {} characters long; the limit is {MAX_NAME_LEN}", name.chars().count()),
                "use a shorter name",
            );
        } else if !is_app_name(name) {
            self.at(
                path,
                format!("`{name}` is not a valid name: only lowercase letters, digits and '-' are allowed, starting with a letter"),
                fix(),
            );
        }
    }

    fn image(&mut self, image: &str, path: &Path) {
        if image.trim().is_empty() {
            self.at(path, "the image is empty", "name an image, e.g. `crane-demo:0.1.0` or `node:18`");
        } else if image.chars().any(char::is_whitespace) {
            self.at(
                path,
                format!("the image `{image}` contains whitespace"),
                "write the image reference without spaces, e.g. `node:18`",
            );
        }
    }

    fn env(&mut self, env: &BTreeMap<String, String>, path: &Path) {
        for key in env.keys() {
            if key.is_empty() {
                self.at_key(
                    &path.key(key),
                    "an environment variable has an empty name",
                    "give it a name, e.g. `GREETING`",
                );
            } else if key.contains('=') || key.contains('\0') {
                self.at_key(
                    &path.key(key),
                    format!("the environment variable name `{key}` contains `=`"),
                    "write names without `=`; the value goes after the `:`",
                );
            }
        }
    }

    fn ports(&mut self, spec: &AppSpec, path: &Path) {
        // Earlier entries by (container port, protocol) and by public port, so repeats point back at the first one.
        let mut containers: BTreeMap<(u16, Protocol), usize> = BTreeMap::new();
        let mut publics: BTreeMap<u16, usize> = BTreeMap::new();
        for (i, port) in spec.ports.iter().enumerate() {
            let here = path.index(i);
            let protocol = port.protocol.unwrap_or_default();
            if port.container == 0 {
                self.at(&here.key("container"), "container port 0 is not a port", "use a port from 1 to 65535");
            } else if !self.parsed(&here.key("protocol")) {
                // Its protocol is unknown, so whether it repeats another entry is too.
            } else if let Some(first) = containers.insert((port.container, protocol), i) {
                self.at(
                    &here.key("container"),
                    format!("container port {} is already listed in ports[{first}]", port.container),
                    "list each container port once",
                );
            }
            self.port_traffic(spec, port, &here);
            if let Some(public) = port.public {
                if public < 1024 {
                    self.at(
                        &here.key("public"),
                        format!("public port {public} is below 1024, which needs root on the host"),
                        "use a port from 1024 to 65535, or omit it to let Crane pick a free one",
                    );
                } else if let Some(first) = publics.insert(public, i) {
                    self.at(
                        &here.key("public"),
                        format!("public port {public} is already used by ports[{first}]"),
                        "give each port its own public port, or omit it to let Crane pick a free one",
                    );
                }
            }
        }
    }

    /// How the load balancer can carry the port: UDP is refused (it would be accepted and then receive nothing),
    /// and a tcp port cannot have what only HTTP has (an HTTP protocol, cookies, an http readiness probe).
    fn port_traffic(&mut self, spec: &AppSpec, port: &PortSpec, here: &Path) {
        if port.protocol == Some(Protocol::Udp) {
            self.at(
                &here.key("protocol"),
                format!(
                    "udp port {} cannot be served: Crane's load balancer carries TCP only, so UDP datagrams would \
                     never reach the app",
                    port.container
                ),
                "remove `protocol: udp` (or the port); run a UDP service outside Crane for now",
            );
            return;
        }
        if port.effective_mode() != PortMode::Tcp {
            return;
        }
        let why = if port.mode == Some(PortMode::Tcp) { "`mode: tcp`" } else { "`appProtocol: tcp`" };
        if let Some(protocol @ (AppProtocol::Http | AppProtocol::Http2 | AppProtocol::Grpc)) = port.app_protocol {
            self.at(
                &here.key("appProtocol"),
                format!("`appProtocol: {protocol}` is HTTP, but the port has `mode: tcp`, which never reads HTTP"),
                "remove `mode: tcp` to balance per request, or use `appProtocol: tcp`",
            );
        }
        if port.sticky.is_some() {
            self.at(
                &here.key("sticky"),
                format!(
                    "`sticky: cookie` needs HTTP cookies, but port {} is balanced per TCP connection ({why})",
                    port.container
                ),
                "remove `sticky` (a TCP connection stays on its instance anyway), or make the port http",
            );
        }
        let probes = spec.health.as_ref().map(|h| [("readiness", &h.readiness), ("liveness", &h.liveness)]);
        for (which, probe) in probes.into_iter().flatten() {
            let Some(probe) = probe else { continue };
            let probed = probe.port.or(spec.ports.first().map(|p| p.container));
            if probe.kind == ProbeType::Http && probed == Some(port.container) {
                self.at(
                    &Path::root().key("health").key(which).key("type"),
                    format!(
                        "the {which} probe sends HTTP to port {}, which is a tcp port ({why}): \
                         a non-HTTP service would never pass it",
                        port.container
                    ),
                    format!("use `type: tcp` for the {which} probe, or probe an http port with `port:`"),
                );
            }
        }
    }

    fn resources(&mut self, spec: &AppSpec, path: &Path) {
        let Some(resources) = &spec.resources else {
            return;
        };
        if let Some(cpu) = resources.cpu {
            // Below MIN_CPU, Docker's NanoCpus would round to 0, which means no limit at all.
            if !(MIN_CPU..=MAX_CPU).contains(&cpu) {
                self.at(
                    &path.key("cpu"),
                    format!("cpu is {cpu}; it must be at least {MIN_CPU} and at most {MAX_CPU} cores"),
                    format!("use at least `{MIN_CPU}` cores, e.g. `0.5` for half a core"),
                );
            }
        }
        if let Some(memory) = resources.memory {
            if memory.get() < MIN_MEMORY_BYTES && self.parsed(&path.key("memory")) {
                let written = self.written(&path.key("memory")).unwrap_or_else(|| memory.to_string());
                self.at(
                    &path.key("memory"),
                    format!("memory `{written}` is below Docker's minimum of 6Mi"),
                    "use at least `6Mi`",
                );
            }
        }
    }

    fn probe(&mut self, which: &str, probe: &Probe, path: &Path) {
        match probe.kind {
            ProbeType::Http => match &probe.path {
                None => self.at(path, format!("the http {which} probe has no `path`"), "add e.g. `path: /health`"),
                Some(p) if !p.starts_with('/') => self.at(
                    &path.key("path"),
                    format!("the probe path `{p}` does not start with `/`"),
                    format!("write it as `/{}`", p.trim_start_matches('/')),
                ),
                Some(_) => {}
            },
            ProbeType::Exec => {
                if probe.command.as_ref().is_none_or(|c| c.is_empty() || c[0].trim().is_empty()) {
                    self.at(
                        path,
                        format!("the exec {which} probe has no `command`"),
                        "add e.g. `command: [\"cat\", \"/tmp/healthy\"]`",
                    );
                }
            }
            ProbeType::Tcp => {}
        }
        // A probe without `port` uses the app's first port. When the app declares none either (as in the
        // minimal-orchestrator example, which must be accepted as is), the port can still come from the image's
        // EXPOSE, which only the runtime knows; so only an explicit port 0 is an error here.
        if matches!(probe.kind, ProbeType::Http | ProbeType::Tcp) && probe.port == Some(0) {
            self.at(&path.key("port"), "probe port 0 is not a port", "use a port from 1 to 65535");
        }
        for (key, value, may_be_zero) in [
            ("period", &probe.period, false),
            ("timeout", &probe.timeout, false),
            ("initialDelay", &probe.initial_delay, true),
        ] {
            if let Some(duration) = value {
                self.duration(&path.key(key), *duration, may_be_zero);
            }
        }
        for (key, value) in
            [("failureThreshold", probe.failure_threshold), ("successThreshold", probe.success_threshold)]
        {
            if value == Some(0) {
                self.at(&path.key(key), format!("{key} is 0; it must be at least 1"), "use 1 or more");
            }
        }
        // Kubernetes rule: only readiness can ask for several successes; the others stop mattering after one.
        if which != "readiness" && probe.success_threshold.is_some_and(|n| n > 1) {
            self.at(
                &path.key("successThreshold"),
                format!("successThreshold must be 1 for a {which} probe"),
                "remove it, or set it to 1",
            );
        }
    }

    /// Checks a duration that parsed (the parse error itself comes from the schema walk).
    fn duration(&mut self, path: &Path, duration: Duration, may_be_zero: bool) {
        if duration.is_zero() && !may_be_zero && self.parsed(path) {
            let written = self.written(path).unwrap_or_else(|| duration.to_string());
            self.at(path, format!("`{written}` is zero; it must be longer"), "use e.g. `1s`");
        }
    }

    /// The text the user wrote at `path`, when the spec came from YAML, so messages quote it as written.
    fn written(&self, path: &Path) -> Option<String> {
        tree::scalar_at(self.root?, path).map(str::to_string)
    }

    fn autoscaling(&mut self, spec: &AppSpec, path: &Path) {
        let Some(a) = &spec.autoscaling else { return };
        if a.min == 0 {
            // Only the load balancer can wake an app at zero, and only an HTTP port can hold a request while it
            // does (a TCP connection has no request to hold).
            match spec.ports.first() {
                None => self.at(
                    &path.key("min"),
                    "autoscaling.min is 0 but the app has no port, so no request could wake it at zero",
                    "add a port (e.g. `ports: [{ container: 8080 }]`), or set `min: 1` or more",
                ),
                Some(port) if port.effective_mode() == PortMode::Tcp => self.at(
                    &path.key("min"),
                    "autoscaling.min is 0 but the app's first port is a tcp port, which cannot hold a request while \
                     the app wakes",
                    "make the first port an http port (remove `mode: tcp`), or set `min: 1` or more",
                ),
                Some(_) => {}
            }
            if a.max == 0 {
                self.at(&path.key("max"), "autoscaling.max is 0; the app could never serve", "set `max: 1` or more");
            }
        }
        if let Some(duration) = a.idle_after {
            self.duration(&path.key("idleAfter"), duration, false);
            if a.min > 0 && self.parsed(&path.key("idleAfter")) {
                self.at(
                    &path.key("idleAfter"),
                    format!("idleAfter only applies with `min: 0`, and min is {}", a.min),
                    "set `min: 0` to scale to zero when idle, or remove idleAfter",
                );
            }
        }
        if a.max < a.min {
            self.at(
                &path.key("max"),
                format!("autoscaling.max ({}) is below min ({})", a.max, a.min),
                format!("set `max` to {} or more", a.min),
            );
        } else if a.max > MAX_REPLICAS {
            self.at(
                &path.key("max"),
                format!("autoscaling.max is {}; an app may have at most {MAX_REPLICAS} instances", a.max),
                format!("use {MAX_REPLICAS} or less"),
            );
        }
        // An unknown metric was reported by the schema walk; it holds a stand-in here.
        if a.metric == Metric::Custom
            && self.parsed(&path.key("metric"))
            && a.query.as_deref().is_none_or(|q| q.trim().is_empty())
        {
            self.at(
                &path.key("query"),
                "a custom metric needs a `query`",
                "add a Prometheus query, e.g. `query: sum(rate(http_requests_total[1m]))`",
            );
        }
        if !(a.target > 0.0 && a.target.is_finite()) {
            self.at(
                &path.key("target"),
                format!("target is {}; it must be more than 0", a.target),
                "use e.g. `70` (percent for cpu and memory, requests/s per replica for rps, ms for latency_p95)",
            );
        }
        if let Some(duration) = a.scale_down_stabilization {
            self.duration(&path.key("scaleDownStabilization"), duration, true);
        }
        for (key, value) in [("maxScaleUpStep", a.max_scale_up_step), ("maxScaleDownStep", a.max_scale_down_step)] {
            if value == Some(0) {
                self.at(&path.key(key), format!("{key} is 0; scaling could never move"), "use 1 or more");
            }
        }
    }

    fn update(&mut self, spec: &AppSpec, path: &Path) {
        let Some(u) = &spec.update else { return };
        // An unknown failureAction was reported by the schema walk.
        if u.max_surge == Some(0) && u.max_unavailable == Some(0) {
            self.at(
                &path.key("maxUnavailable"),
                "maxSurge and maxUnavailable are both 0, so an update could never replace an instance",
                "set `maxSurge: 1` (start the new instance first) or `maxUnavailable: 1`",
            );
        }
        if let Some(duration) = u.deadline {
            self.duration(&path.key("deadline"), duration, false);
        }
    }

    fn placement(&mut self, spec: &AppSpec, path: &Path) {
        let Some(p) = &spec.placement else { return };
        if let Some(strategy) = &p.strategy {
            // Besides `binpack` and `spread`, any policy name is allowed, so only the form is checked here.
            if strategy.trim().is_empty() {
                self.at(
                    &path.key("strategy"),
                    "the strategy is empty",
                    "use `binpack`, `spread` or the name of a scheduling policy",
                );
            } else if strategy.chars().any(char::is_whitespace) {
                self.at(
                    &path.key("strategy"),
                    format!("`{strategy}` is not a strategy name"),
                    "use `binpack`, `spread` or the name of a scheduling policy",
                );
            }
        }
        for (i, constraint) in p.constraints.iter().enumerate() {
            if constraint.trim().is_empty() {
                self.at(
                    &path.key("constraints").index(i),
                    "the constraint is empty",
                    "write e.g. `node.labels.zone == a`",
                );
            }
        }
        for key in p.labels.keys() {
            if key.trim().is_empty() {
                self.at_key(&path.key("labels").key(key), "a label has an empty name", "give it a name, e.g. `tier`");
            }
            self.refuse(&path.key("labels").key(key), Target::Key, crate::safety::reserved_label(key));
        }
    }

    fn volumes(&mut self, spec: &AppSpec, path: &Path) {
        let mut targets: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, volume) in spec.volumes.iter().enumerate() {
            let here = path.index(i);
            let source = volume.source.as_str();
            if !(is_volume_name(source) || is_absolute_path(source)) {
                self.at(
                    &here.key("source"),
                    format!("`{source}` is neither a volume name nor an absolute host path"),
                    "use a name such as `data` (lowercase letters, digits, `_`, `.`, `-`) or a path such as `/srv/data`",
                );
            } else if is_absolute_path(source) {
                self.refuse(&here.key("source"), Target::Value, self.floor.host_path(source));
            }
            if !is_absolute_path(&volume.target) {
                self.at(
                    &here.key("target"),
                    format!("target `{}` is not an absolute path", volume.target),
                    "write the path inside the container starting with `/`, e.g. `/data`",
                );
            } else if let Some(first) = targets.insert(volume.target.as_str(), i) {
                self.at(
                    &here.key("target"),
                    format!("`{}` is already mounted by volumes[{first}]", volume.target),
                    "mount each path once",
                );
            }
        }
    }

    fn security(&mut self, spec: &AppSpec, path: &Path) {
        let Some(s) = &spec.security else { return };
        if self.parsed(&path.key("privileged")) {
            self.refuse(&path.key("privileged"), Target::Value, self.floor.privileged(s.privileged));
        }
        if let Some(user) = &s.user {
            if user.trim().is_empty() {
                self.at(
                    &path.key("user"),
                    "the user is empty",
                    "write a user name or uid, e.g. `\"1000\"`, or remove it",
                );
            }
        }
        for (i, cap) in s.add_capabilities.iter().enumerate() {
            let canonical = cap.trim().to_ascii_uppercase();
            let canonical = canonical.strip_prefix("CAP_").unwrap_or(&canonical);
            let well_formed = !cap.is_empty()
                && cap.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && !cap.starts_with("CAP_");
            if !well_formed {
                self.at(
                    &path.key("addCapabilities").index(i),
                    format!("`{cap}` is not written as a capability name"),
                    if canonical.is_empty() {
                        "write a capability in uppercase without `CAP_`, e.g. `NET_ADMIN`".to_string()
                    } else {
                        format!("write `{canonical}`: uppercase, without the `CAP_` prefix")
                    },
                );
            } else {
                self.refuse(&path.key("addCapabilities").index(i), Target::Value, self.floor.capability(cap));
            }
        }
    }
}

/// Whether `name` is a valid app name (the length is checked separately).
pub(crate) fn is_app_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A valid name close to what the user wrote, for the fix text: `My_App` → `my-app`.
fn suggest_name(name: &str) -> String {
    let mapped: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let trimmed = mapped.trim_start_matches(|c: char| !c.is_ascii_lowercase());
    let candidate: String = trimmed.chars().take(MAX_NAME_LEN).collect();
    if candidate.is_empty() {
        "web".to_string()
    } else {
        candidate
    }
}

/// Docker's rule for volume names, restricted to lowercase: `[a-z0-9][a-z0-9_.-]*`.
fn is_volume_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
}

fn is_absolute_path(s: &str) -> bool {
    s.starts_with('/')
}

impl AppSpec {
    /// The memory limit in bytes, when one is set.
    pub fn memory_bytes(&self) -> Option<u64> {
        self.resources.as_ref()?.memory.map(|m| m.get())
    }

    /// The CPU limit in billionths of a core (Docker's `NanoCpus`), when one is set and valid.
    pub fn nano_cpus(&self) -> Option<i64> {
        crate::units::nano_cpus(self.resources.as_ref()?.cpu?)
    }

    /// One sentence per section that is present in the spec but not active in this version of Crane, so the window,
    /// the API and the CLI can say plainly that it is stored but does nothing yet.
    pub fn inactive_sections(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.placement.is_some() {
            out.push("placement: stored but not active yet; every instance runs on the local engine".into());
        }
        if !self.secrets.is_empty() {
            out.push("secrets: stored but not active yet; no secret files are mounted".into());
        }
        if !self.configs.is_empty() {
            out.push("configs: stored but not active yet; no config files are mounted".into());
        }
        out
    }
}

#[cfg(test)]
mod tests;
