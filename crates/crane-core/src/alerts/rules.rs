//! Alert rule files in Prometheus' format, with Crane's two extension fields, parsed with every problem reported at
//! once (line, column, field, message, fix), the same way specs are ([`crate::validate`]: bounded size, no YAML
//! aliases, a static schema, then meaning).

use std::collections::BTreeMap;

use super::query::{self, Expr, QueryError};
use super::template::{Template, TEMPLATE_FIX};
use crate::error::Diagnostic;
use crate::units::{self, Duration};
use crate::validate::schema::{self, opt, req, Parsed, Shape};
use crate::validate::tree::{self, Kind, Node, Path, Target};

/// Largest rule file accepted, in bytes (256 KiB, like a spec).
pub const MAX_RULE_FILE_BYTES: usize = 256 * 1024;
/// Most alerting rules one file may hold (all groups together).
pub const MAX_RULES: usize = 500;
/// Longest key accepted, in bytes.
const MAX_KEY_BYTES: usize = 256;
/// Longest value accepted, in bytes (an expression has its own, smaller limit).
const MAX_SCALAR_BYTES: usize = 16 * 1024;

/// The annotation an exported rule carries its `firing_action` in (see [`super::to_prometheus_rule_file`]).
pub const FIRING_ACTION_ANNOTATION: &str = "crane_firing_action";
/// The annotation an exported rule carries its `resolved_action` in.
pub const RESOLVED_ACTION_ANNOTATION: &str = "crane_resolved_action";
/// The annotation an exported rule carries its `action_cooldown` in.
pub const ACTION_COOLDOWN_ANNOTATION: &str = "crane_action_cooldown";
/// The longest `action_cooldown`.
pub const MAX_ACTION_COOLDOWN: Duration = Duration::from_secs(24 * 3600);

/// What Crane does when an alert fires or resolves (Crane's extension of the rule format): the one action type the
/// `alerts` policy answers too. A rule that names none leaves the choice to the policy.
pub use crate::policy::AlertAction;

/// A whole rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    /// The groups, in file order.
    pub groups: Vec<RuleGroup>,
}

impl RuleFile {
    /// Every rule of every group, in file order.
    pub fn rules(&self) -> impl Iterator<Item = &AlertRule> {
        self.groups.iter().flat_map(|g| g.rules.iter())
    }
}

/// A group of rules evaluated together.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroup {
    /// The group's name, unique in the file.
    pub name: String,
    /// How often its rules are evaluated; `None` leaves it to the evaluator's default.
    pub interval: Option<Duration>,
    /// Its alerting rules.
    pub rules: Vec<AlertRule>,
}

/// One alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// The alert's name (`alertname`).
    pub alert: String,
    /// The PromQL expression as written.
    pub expr: String,
    /// The expression in Crane's subset.
    pub query: Expr,
    /// How long an alert is pending before it fires (`for`; zero fires at once).
    pub for_: Duration,
    /// How long a firing alert keeps firing after the expression stops returning it (`keep_firing_for`).
    pub keep_firing_for: Duration,
    /// Labels added to every alert (templates, as written).
    pub labels: BTreeMap<String, String>,
    /// Annotations of every alert (templates, as written).
    pub annotations: BTreeMap<String, String>,
    /// What Crane does when an alert fires; `None` asks the `alerts` policy.
    pub firing_action: Option<AlertAction>,
    /// What Crane does when a firing alert resolves; `None` asks the `alerts` policy.
    pub resolved_action: Option<AlertAction>,
    /// How long after an action of this rule on an app the rule leaves that app alone (`action_cooldown`); `None`:
    /// the `alerts` policy's cooldown, else Crane's default.
    pub action_cooldown: Option<Duration>,
    label_templates: BTreeMap<String, Template>,
    annotation_templates: BTreeMap<String, Template>,
}

impl AlertRule {
    /// The parsed templates of the rule's labels.
    pub(crate) fn label_templates(&self) -> impl Iterator<Item = (&String, &Template)> {
        self.label_templates.iter()
    }

    /// The parsed templates of the rule's annotations.
    pub(crate) fn annotation_templates(&self) -> impl Iterator<Item = (&String, &Template)> {
        self.annotation_templates.iter()
    }
}

const TEXT: Shape = Shape::Text;
const TEXT_MAP: Shape = Shape::TextMap;
const DURATION: Shape = Shape::Parsed(Parsed::PromDuration);
const ACTION: Shape = Shape::Parsed(Parsed::Word { field: "action", words: AlertAction::NAMES, fix: None });
const RULE: Shape = Shape::Struct(&[
    opt("alert", &TEXT),
    opt("record", &TEXT),
    req("expr", &TEXT, "expr: crane_app_ready_replicas < 1"),
    opt("for", &DURATION),
    opt("keep_firing_for", &DURATION),
    opt("labels", &TEXT_MAP),
    opt("annotations", &TEXT_MAP),
    opt("firing_action", &ACTION),
    opt("resolved_action", &ACTION),
    opt("action_cooldown", &DURATION),
]);
const GROUP: Shape = Shape::Struct(&[
    req("name", &TEXT, "name: crane"),
    opt("interval", &DURATION),
    opt("limit", &Shape::Whole { min: 0, max: u32::MAX as u64 }),
    opt("query_offset", &DURATION),
    opt("labels", &TEXT_MAP),
    req("rules", &Shape::SeqOf(&RULE), "rules: []"),
]);
const FILE: Shape = Shape::Struct(&[req("groups", &Shape::SeqOf(&GROUP), "groups: []")]);

/// Parses a rule file in Prometheus' format (plus `firing_action`/`resolved_action`) and checks every rule's
/// expression against Crane's PromQL subset. Returns every problem found, in source order.
pub fn parse_rule_file(yaml: &str) -> Result<RuleFile, Vec<Diagnostic>> {
    if yaml.len() > MAX_RULE_FILE_BYTES {
        return Err(vec![Diagnostic::new(
            0,
            0,
            "",
            format!(
                "the rule file is {} bytes; a rule file may be at most {MAX_RULE_FILE_BYTES} bytes (256 KiB)",
                yaml.len()
            ),
            "split the rules into several files",
        )]);
    }
    let root = match tree::parse(yaml) {
        Err(e) => return Err(vec![syntax_diagnostic(&e)]),
        Ok(None) => {
            return Err(vec![Diagnostic::new(
                0,
                0,
                "",
                "the rule file is empty",
                "write `groups:` with a list of groups, each with a `name` and `rules`",
            )])
        }
        Ok(Some(root)) => root,
    };
    let mut out = Vec::new();
    let fixes = crate::validate::LengthFixes {
        max_value: MAX_SCALAR_BYTES,
        max_key: MAX_KEY_BYTES,
        value: "shorten it",
        key: "use one of the rule file's field names",
    };
    crate::validate::lengths_with(&root, &Path::root(), &fixes, &mut out);
    if !out.is_empty() {
        return Err(out);
    }
    let mut findings = schema::Findings::default();
    schema::check(&root, &FILE, &Path::root(), &mut findings);
    if !findings.structure.is_empty() {
        return Err(sorted(findings.structure));
    }
    let mut out: Vec<Diagnostic> = findings.unparsed.into_iter().map(|(_, d)| d).collect();
    let file = Reader { root: &root, out: &mut out }.file();
    if out.is_empty() {
        Ok(file)
    } else {
        Err(sorted(out))
    }
}

/// Builds the typed file from a tree that passed the schema walk, checking meaning on the way.
struct Reader<'a> {
    root: &'a Node,
    out: &'a mut Vec<Diagnostic>,
}

impl Reader<'_> {
    fn at(&mut self, path: &Path, target: Target, message: impl Into<String>, fix: impl Into<String>) {
        let (line, column) = tree::locate(self.root, path, target);
        self.out.push(Diagnostic::new(line, column, path.render(), message, fix));
    }

    fn node(&self, path: &Path) -> Option<&Node> {
        tree::lookup(self.root, path)
    }

    fn text(&self, path: &Path) -> Option<String> {
        self.node(path).and_then(|n| n.as_scalar()).map(|(v, _)| v.to_string())
    }

    fn map(&self, path: &Path) -> BTreeMap<String, String> {
        let Some(Node { kind: Kind::Map(entries), .. }) = self.node(path) else { return BTreeMap::new() };
        entries.iter().filter_map(|(k, v)| Some((k.as_scalar()?.0.to_string(), v.as_scalar()?.0.to_string()))).collect()
    }

    fn duration(&self, path: &Path) -> Option<Duration> {
        self.text(path).and_then(|t| units::parse_prometheus_duration(&t).ok())
    }

    fn file(&mut self) -> RuleFile {
        let groups_path = Path::root().key("groups");
        let count = match self.node(&groups_path) {
            Some(Node { kind: Kind::Seq(items), .. }) => items.len(),
            _ => 0,
        };
        let mut groups = Vec::new();
        let mut names: BTreeMap<String, u32> = BTreeMap::new();
        let mut total_rules = 0;
        for i in 0..count {
            let path = groups_path.index(i);
            let group = self.group(&path);
            let line = tree::locate(self.root, &path.key("name"), Target::Value).0;
            if let Some(first) = names.get(&group.name) {
                self.at(
                    &path.key("name"),
                    Target::Value,
                    format!("the group name `{}` is used twice (first on line {first})", group.name),
                    "give each group its own name",
                );
            } else {
                names.insert(group.name.clone(), line);
            }
            total_rules += group.rules.len();
            groups.push(group);
        }
        if total_rules > MAX_RULES {
            self.out.push(Diagnostic::new(
                0,
                0,
                "groups",
                format!("the file holds {total_rules} rules; at most {MAX_RULES} are accepted"),
                "remove rules, or split them into several files",
            ));
        }
        RuleFile { groups }
    }

    fn group(&mut self, path: &Path) -> RuleGroup {
        let name = self.text(&path.key("name")).unwrap_or_default();
        if name.trim().is_empty() {
            self.at(&path.key("name"), Target::Value, "the group name is empty", "name the group, e.g. `name: crane`");
        }
        for (field, why) in [
            ("limit", "a limit on the number of alerts"),
            ("query_offset", "a query offset"),
            ("labels", "group labels"),
        ] {
            if self.node(&path.key(field)).is_some() {
                self.at(
                    &path.key(field),
                    Target::Key,
                    format!("`{field}` ({why}) is not supported by Crane's built-in evaluator"),
                    format!("remove `{field}`, or put the labels on each rule"),
                );
            }
        }
        let interval = self.duration(&path.key("interval"));
        if interval.is_some_and(|d| d.is_zero()) {
            self.at(
                &path.key("interval"),
                Target::Value,
                "the interval is zero",
                "write a positive interval, e.g. `30s`",
            );
        }
        let rules_path = path.key("rules");
        let count = match self.node(&rules_path) {
            Some(Node { kind: Kind::Seq(items), .. }) => items.len(),
            _ => 0,
        };
        let rules = (0..count).filter_map(|i| self.rule(&rules_path.index(i))).collect();
        RuleGroup { name, interval, rules }
    }

    fn rule(&mut self, path: &Path) -> Option<AlertRule> {
        if self.node(&path.key("record")).is_some() {
            self.at(
                &path.key("record"),
                Target::Key,
                "recording rules (`record:`) are not supported by Crane's built-in evaluator, which only runs alerting rules",
                "write the expression into the alerting rules that use it, or keep the recording rule in a real Prometheus",
            );
            return None;
        }
        let Some(alert) = self.text(&path.key("alert")) else {
            self.at(
                path,
                Target::Value,
                "the rule has no `alert` name",
                "add `alert: HighRequestRate` (a name for the alert)",
            );
            return None;
        };
        let mut ok = true;
        if alert.trim().is_empty() {
            self.at(
                &path.key("alert"),
                Target::Value,
                "the alert name is empty",
                "name the alert, e.g. `alert: HighRequestRate`",
            );
            ok = false;
        }
        let expr = self.text(&path.key("expr")).unwrap_or_default();
        let query = match query::parse_query(&expr) {
            Ok(q) => Some(q),
            Err(e) => {
                self.expr_error(&path.key("expr"), &expr, e);
                None
            }
        };
        let labels = self.map(&path.key("labels"));
        let mut annotations = self.map(&path.key("annotations"));
        let mut label_templates = BTreeMap::new();
        for (name, value) in &labels {
            let at = path.key("labels").key(name);
            if !is_label_name(name) {
                self.at(
                    &at,
                    Target::Key,
                    format!("`{name}` is not a valid label name"),
                    "use letters, digits and `_`, not starting with a digit",
                );
                ok = false;
            } else if name.starts_with("__") {
                self.at(
                    &at,
                    Target::Key,
                    format!("`{name}` is reserved (names starting with `__` are internal)"),
                    "choose another name",
                );
                ok = false;
            }
            match Template::parse(value) {
                Ok(t) => {
                    label_templates.insert(name.clone(), t);
                }
                Err(e) => {
                    self.at(&at, Target::Value, format!("{} (at character {})", e.message, e.offset + 1), TEMPLATE_FIX);
                    ok = false;
                }
            }
        }
        let mut firing_action = self.action(&path.key("firing_action"));
        let mut resolved_action = self.action(&path.key("resolved_action"));
        // An exported rule carries the extension fields as annotations; reading them back gives the same rule.
        for (annotation, field, action) in [
            (FIRING_ACTION_ANNOTATION, "firing_action", &mut firing_action),
            (RESOLVED_ACTION_ANNOTATION, "resolved_action", &mut resolved_action),
        ] {
            let Some(word) = annotations.remove(annotation) else { continue };
            let at = path.key("annotations").key(annotation);
            match AlertAction::from_name(&word) {
                None => {
                    self.at(
                        &at,
                        Target::Value,
                        format!("unknown action `{word}`"),
                        format!("use one of: {}", AlertAction::NAMES.join(", ")),
                    );
                    ok = false;
                }
                Some(a) if action.is_some_and(|b| b != a) => {
                    self.at(
                        &at,
                        Target::Value,
                        format!(
                            "the annotation `{annotation}` says `{word}` but `{field}` says `{}`",
                            action.map(AlertAction::as_str).unwrap_or_default()
                        ),
                        format!("keep only `{field}`"),
                    );
                    ok = false;
                }
                Some(a) => *action = Some(a),
            }
        }
        let mut action_cooldown = self.duration(&path.key("action_cooldown"));
        if let Some(text) = annotations.remove(ACTION_COOLDOWN_ANNOTATION) {
            let at = path.key("annotations").key(ACTION_COOLDOWN_ANNOTATION);
            match units::parse_prometheus_duration(&text) {
                Err(why) => {
                    self.at(&at, Target::Value, format!("`{text}` is not a duration: {why}"), "write e.g. `2m`");
                    ok = false;
                }
                Ok(d) if action_cooldown.is_some_and(|c| c != d) => {
                    self.at(
                        &at,
                        Target::Value,
                        format!(
                            "the annotation `{ACTION_COOLDOWN_ANNOTATION}` says `{text}` but `action_cooldown` differs"
                        ),
                        "keep only `action_cooldown`",
                    );
                    ok = false;
                }
                Ok(d) => action_cooldown = Some(d),
            }
        }
        if action_cooldown.is_some_and(|c| c > MAX_ACTION_COOLDOWN) {
            self.at(
                &path.key("action_cooldown"),
                Target::Value,
                "the action cooldown is longer than a day",
                "use at most `1d`",
            );
            ok = false;
        }
        let mut annotation_templates = BTreeMap::new();
        for (name, value) in &annotations {
            let at = path.key("annotations").key(name);
            if !is_label_name(name) {
                self.at(
                    &at,
                    Target::Key,
                    format!("`{name}` is not a valid annotation name"),
                    "use letters, digits and `_`, not starting with a digit",
                );
                ok = false;
            }
            match Template::parse(value) {
                Ok(t) => {
                    annotation_templates.insert(name.clone(), t);
                }
                Err(e) => {
                    self.at(&at, Target::Value, format!("{} (at character {})", e.message, e.offset + 1), TEMPLATE_FIX);
                    ok = false;
                }
            }
        }
        let query = query?;
        ok.then(|| AlertRule {
            alert,
            expr,
            query,
            for_: self.duration(&path.key("for")).unwrap_or(Duration::ZERO),
            keep_firing_for: self.duration(&path.key("keep_firing_for")).unwrap_or(Duration::ZERO),
            labels,
            annotations,
            firing_action,
            resolved_action,
            action_cooldown,
            label_templates,
            annotation_templates,
        })
    }

    fn action(&self, path: &Path) -> Option<AlertAction> {
        self.text(path).and_then(|t| AlertAction::from_name(&t))
    }

    /// Reports an expression error at the offending character when the expression is written on one line after its
    /// key (plain or quoted), else at the start of the expression's value.
    fn expr_error(&mut self, path: &Path, expr: &str, e: QueryError) {
        let (line, column) = tree::locate(self.root, path, Target::Value);
        let node = self.node(path);
        let on_one_line =
            node.is_some_and(|n| matches!(n.kind, Kind::Scalar { plain: true, .. })) && !expr.contains('\n');
        let message = match e.offset {
            Some(o) if !on_one_line => {
                format!("{} (at character {} of the expression)", e.message, expr[..o].chars().count() + 1)
            }
            _ => e.message,
        };
        let column = match e.offset {
            Some(o) if on_one_line => column + u32::try_from(expr[..o].chars().count()).unwrap_or(0),
            _ => column,
        };
        self.out.push(Diagnostic::new(line, column, path.render(), message, e.fix));
    }
}

/// Prometheus' label name rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn syntax_diagnostic(e: &tree::SyntaxError) -> Diagnostic {
    let (message, fix) = if e.message.contains("second one") {
        (
            "a rule file is one YAML document; a second one starts here".to_string(),
            "remove the `---` line and what follows, or put the groups of both into one `groups:` list",
        )
    } else if e.message == tree::ALIAS_REFUSED {
        (
            "aliases (*name) are not supported in rule files".to_string(),
            "write the value out in full where the alias (`*name`) stands",
        )
    } else if e.message.contains("tab") {
        (e.message.clone(), "indent with spaces: YAML does not allow tabs for indentation")
    } else {
        (e.message.clone(), "check the indentation, the `key: value` syntax and matching quotes and brackets here")
    };
    Diagnostic::new(e.line, e.column, "", format!("invalid YAML: {message}"), fix)
}

fn sorted(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by_key(|d| (d.line, d.column));
    diagnostics
}
