//! Preset labs: a folder (or one tar archive of it) an instructor writes, which Crane loads, checks and resets.
//!
//! A lab is a manifest, `lab.yaml` (id, title, summary, level, the resources it needs and its steps), Markdown files
//! for the steps, and the files its resources name: app specs (multi-document YAML), policy Rego and data, an alert
//! rule file. The users' reference is `docs/labs.md`.
//!
//! Everything here is pure: [`parse`] reads the files (given as a map of relative path to text; [`archive`] reads a
//! tar or tar.gz into that map with its bounds) through the same tree and schema walk as specs
//! ([`crate::validate`]), so a malformed lab is refused with file, line, column and fix, every problem at once, and
//! the engine creates nothing. The spec files are validated with [`crate::validate::parse_specs`] and the rule file
//! with [`crate::alerts::parse_rule_file`], their diagnostics naming their file. [`check::evaluate`] decides each
//! check from a [`check::Snapshot`] of Crane's state; [`check::progress`] gives every step's outcome.

pub mod archive;
pub mod check;
mod shipped;

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Diagnostic;
use crate::policy::PolicyName;
use crate::units::Duration;
use crate::validate::schema::{self, dflt, opt, req, Parsed, Shape};
use crate::validate::tree::{self, Kind, Node, Path, Target};

pub use check::{Check, CheckOutcome, Snapshot, StepProgress};
pub use shipped::shipped;

/// The manifest's file name, at the root of the lab's folder.
pub const MANIFEST: &str = "lab.yaml";
/// Most files a lab may hold.
pub const MAX_FILES: usize = 200;
/// Largest file of a lab, in bytes (a spec's cap).
pub const MAX_FILE_BYTES: usize = 256 * 1024;
/// Largest lab, all files together, in bytes.
pub const MAX_LAB_BYTES: usize = 4 * 1024 * 1024;
/// Longest relative path of a file in a lab, in bytes.
pub const MAX_PATH_BYTES: usize = 256;
/// Most steps of a lab.
pub const MAX_STEPS: usize = 50;
/// Most checks of one step.
pub const MAX_CHECKS: usize = 20;
/// Longest value in the manifest, in bytes.
const MAX_SCALAR_BYTES: usize = 4 * 1024;

/// How hard a lab is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// For people new to containers.
    Beginner,
    /// For people who have deployed an app before.
    Intermediate,
    /// For people who know the basics of orchestration.
    Advanced,
}

impl Level {
    /// The spellings of the manifest, in order.
    pub const NAMES: &'static [&'static str] = &["beginner", "intermediate", "advanced"];

    /// The manifest's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Beginner => "beginner",
            Level::Intermediate => "intermediate",
            Level::Advanced => "advanced",
        }
    }

    fn from_name(name: &str) -> Option<Level> {
        [Level::Beginner, Level::Intermediate, Level::Advanced].into_iter().find(|l| l.as_str() == name)
    }
}

/// The files of a lab: relative path (with `/`) → text. Every insertion is checked against the bounds, so a lab in
/// memory is always within them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabFiles {
    files: BTreeMap<String, String>,
    bytes: usize,
}

impl LabFiles {
    /// An empty set of files.
    pub fn new() -> LabFiles {
        LabFiles::default()
    }

    /// Adds a file. Refused (with a diagnostic naming the file and the fix) when its path is not a plain relative
    /// path (`..`, absolute, empty parts, a backslash), it is not UTF-8, or a bound is exceeded.
    pub fn insert(&mut self, path: &str, bytes: Vec<u8>) -> Result<(), Diagnostic> {
        let problem = |message: String, fix: &str| Diagnostic::new(0, 0, "", message, fix).in_file(path_shown(path));
        let refuse = |message: String, fix: &str| Err(problem(message, fix));
        if let Some(why) = path_problem(path) {
            return refuse(format!("the path `{}` {why}", path_shown(path)), "keep every file inside the lab's folder");
        }
        if self.files.contains_key(path) {
            return refuse(format!("`{path}` is in the lab twice"), "keep one copy of the file");
        }
        if self.files.len() >= MAX_FILES {
            return refuse(
                format!("the lab has more than {MAX_FILES} files"),
                "remove files the lab does not need (build output, editor backups)",
            );
        }
        if bytes.len() > MAX_FILE_BYTES {
            return refuse(
                format!(
                    "the file is {} bytes; a lab file may be at most {MAX_FILE_BYTES} bytes (256 KiB)",
                    bytes.len()
                ),
                "split it, or remove what the lab does not need",
            );
        }
        if self.bytes + bytes.len() > MAX_LAB_BYTES {
            return refuse(
                format!("the lab is over {MAX_LAB_BYTES} bytes (4 MiB) with this file"),
                "remove files the lab does not need; a lab is text (specs, Markdown, Rego)",
            );
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            problem("the file is not UTF-8 text".to_string(), "save it as UTF-8; a lab holds only text files")
        })?;
        self.bytes += text.len();
        self.files.insert(path.to_string(), text);
        Ok(())
    }

    /// The text of a file.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// Every file, by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(p, t)| (p.as_str(), t.as_str()))
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there is no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Total bytes of text.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// A path as shown in messages: at most 100 bytes, cut on a character boundary.
fn path_shown(path: &str) -> String {
    let cut = crate::text::floor_char_boundary(path, 100);
    if cut < path.len() {
        format!("{}…", &path[..cut])
    } else {
        path.to_string()
    }
}

/// Why `path` is not a plain relative path inside a lab, if it is not.
pub fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        Some("is empty")
    } else if path.len() > MAX_PATH_BYTES {
        Some("is longer than 256 bytes")
    } else if path.starts_with('/') {
        Some("is absolute")
    } else if path.contains('\\') || path.contains('\0') {
        Some("contains a backslash or a NUL byte")
    } else if path.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        Some("has an empty, `.` or `..` part (it would leave the lab's folder)")
    } else {
        None
    }
}

/// A parsed, valid lab.
#[derive(Debug, Clone, PartialEq)]
pub struct Lab {
    /// Its id (the app name rule): what `cranectl lab status ID` takes.
    pub id: String,
    /// Its title.
    pub title: String,
    /// One or two sentences about it.
    pub summary: String,
    /// How hard it is.
    pub level: Level,
    /// What loading it creates.
    pub resources: Resources,
    /// Its steps, in order.
    pub steps: Vec<Step>,
}

impl Lab {
    /// The names of the apps the lab creates, in file order.
    pub fn app_names(&self) -> Vec<String> {
        self.resources.apps.iter().flat_map(|a| a.names.iter().cloned()).collect()
    }
}

/// What a lab creates when it is loaded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// Files of app specs, applied in order.
    pub apps: Vec<AppsFile>,
    /// Policies set while the lab is loaded (restored by its reset).
    pub policies: Vec<LabPolicy>,
    /// An alert rule file in force while the lab is loaded (the previous rules return with its reset).
    pub alerts: Option<String>,
    /// A load run started once the apps are up.
    pub load: Option<LoadScenario>,
}

/// One file of app specs.
#[derive(Debug, Clone, PartialEq)]
pub struct AppsFile {
    /// Its path in the lab.
    pub file: String,
    /// Its text (one or more `---` separated specs).
    pub yaml: String,
    /// The apps it defines.
    pub names: Vec<String>,
}

/// A policy the lab sets.
#[derive(Debug, Clone, PartialEq)]
pub struct LabPolicy {
    /// Which policy.
    pub name: PolicyName,
    /// The Rego that replaces the running policy's; `None` keeps it.
    pub rego: Option<String>,
    /// The data document (`data.crane.config.<name>`) that replaces the running one; `None` keeps it.
    pub data: Option<serde_json::Value>,
    /// The file the Rego came from.
    pub rego_file: Option<String>,
    /// The file the data came from.
    pub data_file: Option<String>,
}

/// A run of the load generator the lab starts.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadScenario {
    /// The app (one of the lab's).
    pub app: String,
    /// Requests per second (the start rate of a ramp).
    pub rate: f64,
    /// How long it runs.
    pub duration: Duration,
    /// With a ramp: the rate reached at the end.
    pub ramp_to: Option<f64>,
    /// The path requested (`/` when `None`).
    pub path: Option<String>,
}

/// One step of a lab.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its title.
    pub title: String,
    /// Its instructions, Markdown (the file's text).
    pub markdown: String,
    /// The file the instructions came from.
    pub file: String,
    /// A hint shown on demand.
    pub hint: Option<String>,
    /// What must hold, all at once, for the step to be done.
    pub checks: Vec<Check>,
}

/// The most requests per second a lab's load scenario may ask for (the load generator's own bound).
pub const MAX_LOAD_RATE: f64 = 10_000.0;

const TEXT: Shape = Shape::Text;
const COUNT: Shape = Shape::Whole { min: 0, max: crate::validate::MAX_REPLICAS as u64 };
const EVENTS: Shape = Shape::Whole { min: 1, max: 10_000 };
const LEVEL: Shape = Shape::Parsed(Parsed::Word { field: "level", words: Level::NAMES, fix: None });
const POLICY: Shape = Shape::Parsed(Parsed::Word { field: "policy", words: PolicyName::NAMES, fix: None });
const APP_MIN: Shape = Shape::Struct(&[req("app", &TEXT, "app: web"), req("min", &COUNT, "min: 3")]);
const APP_MAX: Shape = Shape::Struct(&[req("app", &TEXT, "app: web"), req("max", &COUNT, "max: 1")]);
const APP_ONLY: Shape = Shape::Struct(&[req("app", &TEXT, "app: web")]);
const EVENT: Shape =
    Shape::Struct(&[req("kind", &TEXT, "kind: instance.died"), opt("app", &TEXT), opt("count", &EVENTS)]);
const ALERT: Shape = Shape::Struct(&[req("rule", &TEXT, "rule: HighRequestRate"), opt("app", &TEXT)]);
const DENIED: Shape = Shape::Struct(&[opt("app", &TEXT)]);
/// Every check kind: a check is a mapping with exactly one of these keys.
const CHECK: Shape = Shape::Struct(&[
    opt("app_ready", &APP_MIN),
    opt("replicas_at_least", &APP_MIN),
    opt("replicas_at_most", &APP_MAX),
    opt("revision_at_least", &APP_MIN),
    opt("app_present", &APP_ONLY),
    opt("app_absent", &APP_ONLY),
    opt("event", &EVENT),
    opt("alert_fired", &ALERT),
    opt("alert_firing", &ALERT),
    opt("rollback", &APP_ONLY),
    opt("policy_denied", &DENIED),
]);
const STEP: Shape = Shape::Struct(&[
    req("title", &TEXT, "title: Kill an instance"),
    req("text", &TEXT, "text: steps/01-kill.md"),
    opt("hint", &TEXT),
    req("checks", &Shape::SeqOf(&CHECK), "checks: [{app_ready: {app: web, min: 3}}]"),
]);
const LAB_POLICY: Shape =
    Shape::Struct(&[req("name", &POLICY, "name: admission"), opt("rego", &TEXT), opt("data", &TEXT)]);
const LOAD: Shape = Shape::Struct(&[
    req("app", &TEXT, "app: web"),
    req("rate", &Shape::Number, "rate: 50"),
    req("duration", &Shape::Parsed(Parsed::Duration), "duration: 2m"),
    opt("rampTo", &Shape::Number),
    opt("path", &TEXT),
]);
const RESOURCES: Shape = Shape::Struct(&[
    dflt("apps", &Shape::SeqOf(&TEXT)),
    dflt("policies", &Shape::SeqOf(&LAB_POLICY)),
    opt("alerts", &TEXT),
    opt("load", &LOAD),
]);
const MANIFEST_SHAPE: Shape = Shape::Struct(&[
    req("id", &TEXT, "id: self-healing"),
    req("title", &TEXT, "title: Self-healing"),
    req("summary", &TEXT, "summary: Kill an instance and watch Crane replace it."),
    req("level", &LEVEL, "level: beginner"),
    opt("resources", &RESOURCES),
    req("steps", &Shape::SeqOf(&STEP), "steps: [{title: …, text: steps/01.md, checks: […]}]"),
]);

/// What the lab's checks may name that only the engine knows.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The event kinds Crane records (`instance.died`, `policy.denied`…): an `event` check naming another is refused.
    pub event_kinds: &'a [&'a str],
}

/// Parses and checks a lab. Every problem of the manifest and of every file it names is returned at once, each with
/// its file, line, column and fix; a lab with any problem gives no [`Lab`], so nothing is created from it.
pub fn parse(files: &LabFiles, context: &Context<'_>) -> Result<Lab, Vec<Diagnostic>> {
    let Some(source) = files.get(MANIFEST) else {
        let found = files.iter().find(|(p, _)| p.ends_with("/lab.yaml")).map(|(p, _)| p.to_string());
        let fix = match found {
            Some(p) => format!("load the folder that holds `{p}`, or pack the archive from inside it"),
            None => "write a `lab.yaml` at the root of the lab's folder; see docs/labs.md".to_string(),
        };
        return Err(vec![Diagnostic::new(0, 0, "", "the lab has no `lab.yaml`", fix).in_file(MANIFEST)]);
    };
    let in_manifest = |d: Vec<Diagnostic>| d.into_iter().map(|d| d.in_file(MANIFEST)).collect::<Vec<_>>();
    let root = match tree::parse(source) {
        Err(e) => {
            let d =
                Diagnostic::new(e.line, e.column, "", format!("invalid YAML: {}", e.message), syntax_fix(&e.message));
            return Err(in_manifest(vec![d]));
        }
        Ok(None) => {
            let d = Diagnostic::new(
                0,
                0,
                "",
                "the manifest is empty",
                "write `id`, `title`, `summary`, `level` and `steps`",
            );
            return Err(in_manifest(vec![d]));
        }
        Ok(Some(root)) => root,
    };
    let mut out = Vec::new();
    let fixes = crate::validate::LengthFixes {
        max_value: MAX_SCALAR_BYTES,
        max_key: 64,
        value: "shorten it; long instructions belong in the step's Markdown file",
        key: "use one of the manifest's field names (docs/labs.md)",
    };
    crate::validate::lengths_with(&root, &Path::root(), &fixes, &mut out);
    if !out.is_empty() {
        return Err(in_manifest(out));
    }
    let mut findings = schema::Findings::default();
    schema::check(&root, &MANIFEST_SHAPE, &Path::root(), &mut findings);
    if !findings.structure.is_empty() {
        return Err(in_manifest(sorted(findings.structure)));
    }
    let mut manifest_problems: Vec<Diagnostic> = findings.unparsed.into_iter().map(|(_, d)| d).collect();
    let mut other_files = Vec::new();
    let lab = Reader { root: &root, files, context, out: &mut manifest_problems, other: &mut other_files }.lab();
    let mut all = in_manifest(sorted(manifest_problems));
    all.extend(other_files);
    if all.is_empty() {
        Ok(lab)
    } else {
        Err(all)
    }
}

fn syntax_fix(message: &str) -> &'static str {
    if message.contains("second one") {
        "the manifest is one YAML document: remove the `---` line and what follows"
    } else if message == tree::ALIAS_REFUSED {
        "write the value out in full where the alias (`*name`) stands"
    } else if message.contains("tab") {
        "indent with spaces: YAML does not allow tabs for indentation"
    } else {
        "check the indentation, the `key: value` syntax and matching quotes and brackets here"
    }
}

fn sorted(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by_key(|d| (d.line, d.column));
    diagnostics
}

/// Builds the typed lab from a manifest that passed the schema walk, checking meaning and the files it names.
struct Reader<'a> {
    root: &'a Node,
    files: &'a LabFiles,
    context: &'a Context<'a>,
    /// Problems of the manifest.
    out: &'a mut Vec<Diagnostic>,
    /// Problems of the other files (already naming their file).
    other: &'a mut Vec<Diagnostic>,
}

impl Reader<'_> {
    fn at(&mut self, path: &Path, message: impl Into<String>, fix: impl Into<String>) {
        let (line, column) = tree::locate(self.root, path, Target::Value);
        self.out.push(Diagnostic::new(line, column, path.render(), message, fix));
    }

    fn node(&self, path: &Path) -> Option<&Node> {
        tree::lookup(self.root, path)
    }

    fn text(&self, path: &Path) -> Option<String> {
        self.node(path).and_then(|n| n.as_scalar()).map(|(v, _)| v.to_string())
    }

    fn number(&self, path: &Path) -> Option<f64> {
        self.text(path).and_then(|t| t.parse::<f64>().ok())
    }

    fn whole(&self, path: &Path) -> Option<u32> {
        self.text(path).and_then(|t| t.parse::<u32>().ok())
    }

    fn len(&self, path: &Path) -> usize {
        match self.node(path) {
            Some(Node { kind: Kind::Seq(items), .. }) => items.len(),
            _ => 0,
        }
    }

    /// Text that must not be blank.
    fn words(&mut self, path: &Path, example: &str) -> String {
        let text = self.text(path).unwrap_or_default();
        if text.trim().is_empty() {
            self.at(path, format!("`{}` is empty", path.render()), format!("write e.g. `{example}`"));
        }
        text
    }

    /// The text of a file the manifest names at `path`, or a diagnostic at that value.
    fn file(&mut self, path: &Path) -> Option<(String, String)> {
        let name = self.text(path)?;
        if let Some(why) = path_problem(&name) {
            self.at(
                path,
                format!("the path `{}` {why}", path_shown(&name)),
                "name a file inside the lab's folder, e.g. `apps/web.yaml`",
            );
            return None;
        }
        match self.files.get(&name) {
            Some(text) => Some((name, text.to_string())),
            None => {
                let known: Vec<&str> = self.files.iter().map(|(p, _)| p).collect();
                let fix = match schema::suggest(&name, &known) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => {
                        "add the file to the lab's folder, or correct the path (relative to `lab.yaml`)".to_string()
                    }
                };
                self.at(path, format!("the lab has no file `{}`", path_shown(&name)), fix);
                None
            }
        }
    }

    fn lab(&mut self) -> Lab {
        let id = self.words(&Path::root().key("id"), "id: self-healing");
        if !id.is_empty() && !crate::validate::is_app_name(&id) {
            self.at(
                &Path::root().key("id"),
                format!("the id `{id}` is not valid"),
                format!(
                    "use {} (at most {} characters)",
                    crate::validate::APP_NAME_RULE,
                    crate::validate::MAX_NAME_LEN
                ),
            );
        }
        let title = self.words(&Path::root().key("title"), "title: Self-healing");
        let summary = self.words(&Path::root().key("summary"), "summary: Kill an instance and watch it come back.");
        let level = self.text(&Path::root().key("level")).and_then(|l| Level::from_name(&l)).unwrap_or(Level::Beginner);
        let resources = self.resources(&Path::root().key("resources"));
        let steps_path = Path::root().key("steps");
        let count = self.len(&steps_path);
        if count == 0 {
            self.at(&steps_path, "the lab has no step", "add at least one step with a title, a text file and checks");
        } else if count > MAX_STEPS {
            self.at(
                &steps_path,
                format!("the lab has {count} steps; at most {MAX_STEPS}"),
                "split it into several labs",
            );
        }
        let steps = (0..count.min(MAX_STEPS)).map(|i| self.step(&steps_path.index(i))).collect();
        Lab { id, title, summary, level, resources, steps }
    }

    fn resources(&mut self, path: &Path) -> Resources {
        let mut resources = Resources::default();
        let apps_path = path.key("apps");
        let mut names: BTreeSet<String> = BTreeSet::new();
        for i in 0..self.len(&apps_path) {
            let Some((file, yaml)) = self.file(&apps_path.index(i)) else { continue };
            match crate::validate::parse_specs(&yaml) {
                Ok(specs) => {
                    let mut file_names = Vec::new();
                    for spec in specs {
                        if !names.insert(spec.name.clone()) {
                            self.at(
                                &apps_path.index(i),
                                format!("app '{}' of `{file}` is defined by an earlier file too", spec.name),
                                "define each app in one file",
                            );
                        }
                        file_names.push(spec.name);
                    }
                    resources.apps.push(AppsFile { file, yaml, names: file_names });
                }
                Err(diags) => self.other.extend(diags.into_iter().map(|d| d.in_file(file.clone()))),
            }
        }
        let policies_path = path.key("policies");
        let mut seen = BTreeSet::new();
        for i in 0..self.len(&policies_path) {
            let here = policies_path.index(i);
            let Some(name) = self.text(&here.key("name")).and_then(|n| PolicyName::from_name(&n)) else { continue };
            if !seen.insert(name) {
                self.at(&here.key("name"), format!("the {name} policy is set twice"), "set each policy once");
            }
            let has_rego = self.node(&here.key("rego")).is_some();
            let has_data = self.node(&here.key("data")).is_some();
            if !has_rego && !has_data {
                self.at(
                    &here,
                    format!("the {name} policy entry sets nothing"),
                    "add `rego: policies/admission.rego` or `data: policies/admission.json`",
                );
            }
            let rego_file = self.text(&here.key("rego"));
            let data_file = self.text(&here.key("data"));
            let rego = if has_rego { self.file(&here.key("rego")).map(|(_, t)| t) } else { None };
            let data = if has_data {
                self.file(&here.key("data")).and_then(|(file, text)| self.json_object(&file, &text))
            } else {
                None
            };
            resources.policies.push(LabPolicy { name, rego, data, rego_file, data_file });
        }
        if self.node(&path.key("alerts")).is_some() {
            if let Some((file, yaml)) = self.file(&path.key("alerts")) {
                match crate::alerts::parse_rule_file(&yaml) {
                    Ok(_) => resources.alerts = Some(yaml),
                    Err(diags) => self.other.extend(diags.into_iter().map(|d| d.in_file(file.clone()))),
                }
            }
        }
        let load_path = path.key("load");
        if self.node(&load_path).is_some() {
            let app = self.text(&load_path.key("app")).unwrap_or_default();
            if !names.contains(&app) {
                self.at(
                    &load_path.key("app"),
                    format!("the load scenario names app '{app}', which the lab does not create"),
                    format!("name one of the lab's apps: {}", names.iter().cloned().collect::<Vec<_>>().join(", ")),
                );
            }
            let rate = self.number(&load_path.key("rate")).unwrap_or(0.0);
            let ramp_to = self.number(&load_path.key("rampTo"));
            for (field, value) in [("rate", Some(rate)), ("rampTo", ramp_to)] {
                if value.is_some_and(|v| !(v > 0.0 && v <= MAX_LOAD_RATE)) {
                    self.at(
                        &load_path.key(field),
                        format!("`{field}` must be above 0 and at most {MAX_LOAD_RATE} requests per second"),
                        "write e.g. `50`",
                    );
                }
            }
            let duration = self
                .text(&load_path.key("duration"))
                .and_then(|t| crate::units::parse_duration(&t).ok())
                .unwrap_or(Duration::ZERO);
            if duration.as_millis() < 1000 || duration.as_millis() > 3_600_000 {
                self.at(&load_path.key("duration"), "the load runs from 1 second to 1 hour", "write e.g. `2m`");
            }
            let load_path_value = self.text(&load_path.key("path"));
            if load_path_value.as_ref().is_some_and(|p| !p.starts_with('/')) {
                self.at(&load_path.key("path"), "the request path must start with `/`", "write e.g. `/work?ms=20`");
            }
            resources.load = Some(LoadScenario { app, rate, duration, ramp_to, path: load_path_value });
        }
        resources
    }

    /// A JSON object from a data file; problems name the file and the position.
    fn json_object(&mut self, file: &str, text: &str) -> Option<serde_json::Value> {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value @ serde_json::Value::Object(_)) => Some(value),
            Ok(_) => {
                self.other.push(
                    Diagnostic::new(
                        1,
                        1,
                        "",
                        "a policy's data must be a JSON object",
                        "write `{\"allowed_images\": [\"crane-demo\"]}` or `{}`",
                    )
                    .in_file(file),
                );
                None
            }
            Err(e) => {
                let line = u32::try_from(e.line()).unwrap_or(0);
                let column = u32::try_from(e.column()).unwrap_or(0);
                self.other.push(
                    Diagnostic::new(line, column, "", format!("invalid JSON: {e}"), "correct the JSON here")
                        .in_file(file),
                );
                None
            }
        }
    }

    fn step(&mut self, path: &Path) -> Step {
        let title = self.words(&path.key("title"), "title: Kill an instance");
        let (file, markdown) = self.file(&path.key("text")).unwrap_or_default();
        if !file.is_empty() && markdown.trim().is_empty() {
            self.at(&path.key("text"), format!("`{file}` is empty"), "write the step's instructions in it (Markdown)");
        }
        let hint = self.text(&path.key("hint"));
        let checks_path = path.key("checks");
        let count = self.len(&checks_path);
        if count == 0 {
            self.at(&checks_path, "the step has no check", "add a check, e.g. `- app_ready: {app: web, min: 3}`");
        } else if count > MAX_CHECKS {
            self.at(&checks_path, format!("the step has {count} checks; at most {MAX_CHECKS}"), "split the step");
        }
        let checks = (0..count.min(MAX_CHECKS)).filter_map(|i| self.check(&checks_path.index(i))).collect();
        Step { title, markdown, file, hint, checks }
    }

    fn check(&mut self, path: &Path) -> Option<Check> {
        let Some(Node { kind: Kind::Map(entries), .. }) = self.node(path) else {
            self.at(path, "the check is empty", "write one check kind, e.g. `app_ready: {app: web, min: 3}`");
            return None;
        };
        let kinds: Vec<String> =
            entries.iter().filter_map(|(k, _)| k.as_scalar().map(|(s, _)| s.to_string())).collect();
        match kinds.as_slice() {
            [] => {
                self.at(path, "the check names no kind", "write one check kind, e.g. `app_ready: {app: web, min: 3}`");
                return None;
            }
            [_] => {}
            [_, second, ..] => {
                let (line, column) = tree::locate(self.root, &path.key(second), Target::Key);
                self.out.push(Diagnostic::new(
                    line,
                    column,
                    path.key(second).render(),
                    format!("a check has one kind; this one also has `{second}`"),
                    "make it a check of its own (a new `- ` item in `checks`)",
                ));
                return None;
            }
        }
        let kind = kinds[0].as_str();
        let here = path.key(kind);
        let app = self.app(&here.key("app"));
        let min = self.whole(&here.key("min")).unwrap_or(0);
        let check = match kind {
            "app_ready" => Check::AppReady { app: app?, min },
            "replicas_at_least" => Check::ReplicasAtLeast { app: app?, min },
            "replicas_at_most" => Check::ReplicasAtMost { app: app?, max: self.whole(&here.key("max")).unwrap_or(0) },
            "revision_at_least" => Check::RevisionAtLeast { app: app?, min },
            "app_present" => Check::AppPresent { app: app? },
            "app_absent" => Check::AppAbsent { app: app? },
            "rollback" => Check::Rollback { app: app? },
            "policy_denied" => Check::PolicyDenied { app },
            "event" => {
                let kind_path = here.key("kind");
                let event = self.text(&kind_path).unwrap_or_default();
                if !self.context.event_kinds.contains(&event.as_str()) {
                    let fix = match schema::suggest(&event, self.context.event_kinds) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "use an event kind Crane records (docs/labs.md lists them, e.g. `instance.died`)"
                            .to_string(),
                    };
                    self.at(&kind_path, format!("unknown event kind `{event}`"), fix);
                    return None;
                }
                Check::Event { kind: event, app, count: self.whole(&here.key("count")).unwrap_or(1) }
            }
            "alert_fired" | "alert_firing" => {
                let rule = self.words(&here.key("rule"), "rule: HighRequestRate");
                if rule.trim().is_empty() {
                    return None;
                }
                if kind == "alert_fired" {
                    Check::AlertFired { rule, app }
                } else {
                    Check::AlertFiring { rule, app }
                }
            }
            // The schema walk refused every other key.
            _ => return None,
        };
        Some(check)
    }

    /// The app a check names, when present and valid.
    fn app(&mut self, path: &Path) -> Option<String> {
        let name = self.text(path)?;
        if crate::validate::is_app_name(&name) {
            Some(name)
        } else {
            self.at(path, format!("`{name}` is not an app name"), format!("use {}", crate::validate::APP_NAME_RULE));
            None
        }
    }
}

#[cfg(test)]
mod tests;
