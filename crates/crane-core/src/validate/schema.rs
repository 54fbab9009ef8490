//! The shape of a spec as a static table, and the walk that checks a YAML tree against it.
//!
//! The table mirrors the serde types in [`crate::spec`]; a test deserializes a spec that sets every field so the two
//! cannot drift apart silently. The walk reports every unknown field (with a "did you mean" suggestion), every
//! duplicate key, every missing required field and every type error, each at its own line and column, where serde
//! would report only the first one.
//!
//! Values the typed spec parses (durations, memory quantities, closed sets of words) are read here with the same
//! parser serde uses; what does not parse becomes a diagnostic of the *meaning* stage (so it is reported together
//! with the semantic checks, not instead of them), and [`to_json`] gives serde a stand-in for it.

use super::tree::{Kind, Node, Path};
use crate::error::Diagnostic;
use crate::spec::{FailureAction, Metric, Protocol};
use crate::units;

/// Whether a field may be left out or set to null, matching how serde treats the Rust type behind it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// Must be present and not null (a plain Rust field without `#[serde(default)]`).
    Required,
    /// May be absent or null (`Option<T>`).
    Optional,
    /// May be absent, but not null (a field with `#[serde(default)]` that is not an `Option`).
    Defaulted,
}

/// One field of a mapping.
pub(crate) struct Field {
    /// The key as written in YAML.
    pub name: &'static str,
    /// The shape of its value.
    pub shape: &'static Shape,
    /// Whether it may be omitted or null.
    pub presence: Presence,
    /// An example line shown in the fix when the field is missing.
    pub example: &'static str,
}

/// The shape of a value.
pub(crate) enum Shape {
    /// A mapping with known fields.
    Struct(&'static [Field]),
    /// A list of values of one shape.
    SeqOf(&'static Shape),
    /// A mapping of names to text values (env, labels).
    TextMap,
    /// Any scalar, read as text.
    Text,
    /// `true` or `false`.
    Bool,
    /// A whole number from `min` to `max`.
    Whole {
        /// Smallest value.
        min: u64,
        /// Largest value.
        max: u64,
    },
    /// Any number.
    Number,
    /// One of a few words.
    OneOf(&'static [&'static str]),
    /// A scalar the typed spec parses; see [`Parsed`].
    Parsed(Parsed),
}

/// A value the typed spec parses when it is read, checked here with the same parser.
#[derive(Clone, Copy)]
pub(crate) enum Parsed {
    /// A duration ([`units::Duration`]).
    Duration,
    /// A duration in Prometheus' syntax ([`units::parse_prometheus_duration`]), for alert rule files.
    PromDuration,
    /// A memory quantity ([`units::Bytes`]).
    Quantity,
    /// One of a closed set of words (an enum of [`crate::spec`]).
    Word {
        /// The field's name in messages: "unknown {field} `x`".
        field: &'static str,
        /// The spellings allowed.
        words: &'static [&'static str],
        /// The fix shown for an unknown word; `None` suggests the closest word or lists them all.
        fix: Option<&'static str>,
    },
}

impl Parsed {
    /// `Err((message, fix))` when `text` does not parse.
    fn check(self, text: &str) -> Result<(), (String, String)> {
        match self {
            Parsed::Duration => units::parse_duration(text).map(drop).map_err(|why| {
                (format!("`{text}` is not a duration: {why}"), "write e.g. `500ms`, `5s`, `1m` or `1m30s`".to_string())
            }),
            Parsed::PromDuration => units::parse_prometheus_duration(text).map(drop).map_err(|why| {
                (format!("`{text}` is not a duration: {why}"), "write e.g. `30s`, `5m` or `1h30m`".to_string())
            }),
            Parsed::Quantity => units::parse_quantity(text).map(drop).map_err(|why| {
                (
                    format!("`{text}` is not a memory quantity: {why}"),
                    "write a Kubernetes quantity such as `128Mi`, `1Gi` or `500M`".to_string(),
                )
            }),
            Parsed::Word { field, words, fix } => {
                if words.contains(&text) {
                    return Ok(());
                }
                let fix = match fix {
                    Some(fix) => fix.to_string(),
                    None => match suggest(text, words) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("use one of: {}", words.join(", ")),
                    },
                };
                Err((format!("unknown {field} `{text}`"), fix))
            }
        }
    }

    /// A value serde accepts in place of one that did not parse, so the rest of the spec can still be checked.
    /// Checks of the meaning stage skip the paths that hold a stand-in.
    fn stand_in(self) -> &'static str {
        match self {
            Parsed::Duration | Parsed::PromDuration | Parsed::Quantity => "0",
            Parsed::Word { words, .. } => words[0],
        }
    }
}

/// What the walk found.
#[derive(Default)]
pub(crate) struct Findings {
    /// Problems with the shape of the document: unknown fields, type errors, missing fields.
    pub structure: Vec<Diagnostic>,
    /// Values of the right shape that do not parse (`5x` as a duration), with their paths.
    pub unparsed: Vec<(Path, Diagnostic)>,
}

/// A required field, with an example value for its fix.
pub(crate) const fn req(name: &'static str, shape: &'static Shape, example: &'static str) -> Field {
    Field { name, shape, presence: Presence::Required, example }
}
/// An optional field.
pub(crate) const fn opt(name: &'static str, shape: &'static Shape) -> Field {
    Field { name, shape, presence: Presence::Optional, example: "" }
}
/// A field with a default.
pub(crate) const fn dflt(name: &'static str, shape: &'static Shape) -> Field {
    Field { name, shape, presence: Presence::Defaulted, example: "" }
}

const TEXT: Shape = Shape::Text;
const BOOL: Shape = Shape::Bool;
const PORT_NUMBER: Shape = Shape::Whole { min: 1, max: u16::MAX as u64 };
const U32: Shape = Shape::Whole { min: 0, max: u32::MAX as u64 };
const NUMBER: Shape = Shape::Number;
const TEXT_LIST: Shape = Shape::SeqOf(&TEXT);
const TEXT_MAP: Shape = Shape::TextMap;

const DURATION: Shape = Shape::Parsed(Parsed::Duration);
const PORT: Shape = Shape::Struct(&[
    req("container", &PORT_NUMBER, "container: 8080"),
    opt("public", &PORT_NUMBER),
    opt(
        "protocol",
        &Shape::Parsed(Parsed::Word {
            field: "protocol",
            words: Protocol::NAMES,
            fix: Some("use `tcp` (the default) or `udp`"),
        }),
    ),
    opt("balance", &Shape::OneOf(crate::spec::Balance::NAMES)),
    opt(
        "mode",
        &Shape::Parsed(Parsed::Word {
            field: "mode",
            words: crate::spec::PortMode::NAMES,
            fix: Some("use `http` (the default: balanced per request) or `tcp` (balanced per connection)"),
        }),
    ),
    opt(
        "appProtocol",
        &Shape::Parsed(Parsed::Word { field: "appProtocol", words: crate::spec::AppProtocol::NAMES, fix: None }),
    ),
    opt(
        "sticky",
        &Shape::Parsed(Parsed::Word {
            field: "sticky",
            words: crate::spec::Sticky::NAMES,
            fix: Some("use `cookie`, or remove `sticky`"),
        }),
    ),
]);
const RESOURCES: Shape = Shape::Struct(&[opt("cpu", &NUMBER), opt("memory", &Shape::Parsed(Parsed::Quantity))]);
const PROBE_TYPE: Shape = Shape::OneOf(&["http", "tcp", "exec"]);
const PROBE: Shape = Shape::Struct(&[
    req("type", &PROBE_TYPE, "type: http"),
    opt("path", &TEXT),
    opt("port", &PORT_NUMBER),
    opt("command", &TEXT_LIST),
    opt("period", &DURATION),
    opt("timeout", &DURATION),
    opt("initialDelay", &DURATION),
    opt("failureThreshold", &U32),
    opt("successThreshold", &U32),
]);
const HEALTH: Shape = Shape::Struct(&[opt("liveness", &PROBE), opt("readiness", &PROBE), opt("startup", &PROBE)]);
const AUTOSCALING: Shape = Shape::Struct(&[
    req("min", &U32, "min: 1"),
    req("max", &U32, "max: 5"),
    req("metric", &Shape::Parsed(Parsed::Word { field: "metric", words: Metric::NAMES, fix: None }), "metric: cpu"),
    req("target", &NUMBER, "target: 70"),
    opt("query", &TEXT),
    opt("scaleDownStabilization", &DURATION),
    opt("maxScaleUpStep", &U32),
    opt("maxScaleDownStep", &U32),
    opt("idleAfter", &DURATION),
]);
const UPDATE: Shape = Shape::Struct(&[
    opt("maxSurge", &U32),
    opt("maxUnavailable", &U32),
    opt(
        "failureAction",
        &Shape::Parsed(Parsed::Word {
            field: "failureAction",
            words: FailureAction::NAMES,
            fix: Some("use `rollback` (the default) or `pause`"),
        }),
    ),
    opt("deadline", &DURATION),
]);
const PLACEMENT: Shape =
    Shape::Struct(&[opt("strategy", &TEXT), dflt("constraints", &TEXT_LIST), dflt("labels", &TEXT_MAP)]);
const VOLUME: Shape = Shape::Struct(&[
    req("source", &TEXT, "source: data"),
    req("target", &TEXT, "target: /data"),
    dflt("readOnly", &BOOL),
]);
const FILE_REF: Shape = Shape::Struct(&[req("name", &TEXT, "name: db-password"), opt("target", &TEXT)]);
const SECURITY: Shape = Shape::Struct(&[
    dflt("privileged", &BOOL),
    opt("user", &TEXT),
    dflt("readOnlyRootFs", &BOOL),
    dflt("addCapabilities", &TEXT_LIST),
    dflt("keepDefaultCapabilities", &BOOL),
]);

const HEAL: Shape = Shape::Struct(&[dflt("standby", &BOOL)]);

/// The whole spec.
pub(crate) const APP: Shape = Shape::Struct(&[
    req("name", &TEXT, "name: web"),
    req("image", &TEXT, "image: crane-demo:0.1.0"),
    dflt("replicas", &U32),
    opt("command", &TEXT_LIST),
    dflt("env", &TEXT_MAP),
    dflt("ports", &Shape::SeqOf(&PORT)),
    opt("resources", &RESOURCES),
    opt("health", &HEALTH),
    opt("autoscaling", &AUTOSCALING),
    opt("update", &UPDATE),
    opt("placement", &PLACEMENT),
    dflt("volumes", &Shape::SeqOf(&VOLUME)),
    dflt("secrets", &Shape::SeqOf(&FILE_REF)),
    dflt("configs", &Shape::SeqOf(&FILE_REF)),
    opt("security", &SECURITY),
    opt("heal", &HEAL),
]);

/// Checks `node` against `shape`, adding one diagnostic per problem to `findings`.
pub(crate) fn check(node: &Node, shape: &Shape, path: &Path, findings: &mut Findings) {
    let here = |message: String, fix: String| Diagnostic::new(node.line, node.column, path.render(), message, fix);
    match shape {
        Shape::Struct(fields) => {
            let Kind::Map(entries) = &node.kind else {
                findings.structure.push(here(
                    format!("expected a mapping of fields, found {}", node.describe()),
                    format!("write the fields on indented lines, e.g. `{}`", example_of(fields)),
                ));
                return;
            };
            check_keys(entries, path, findings, |key, key_node, value, findings| {
                match fields.iter().find(|f| f.name == key) {
                    Some(field) => check_field(field, value, &path.key(key), findings),
                    None => {
                        let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                        let fix = match suggest(key, &names) {
                            Some(s) => format!("remove it, or did you mean `{s}`?"),
                            None => format!("remove it; the fields allowed here are: {}", names.join(", ")),
                        };
                        findings.structure.push(Diagnostic::new(
                            key_node.line,
                            key_node.column,
                            path.key(key).render(),
                            format!("unknown field `{key}`"),
                            fix,
                        ));
                    }
                }
            });
            for field in fields.iter().filter(|f| f.presence == Presence::Required) {
                if node.get(field.name).is_none() {
                    findings.structure.push(Diagnostic::new(
                        node.line,
                        node.column,
                        path.key(field.name).render(),
                        format!("required field `{}` is missing", field.name),
                        format!("add `{}`", field.example),
                    ));
                }
            }
        }
        Shape::TextMap => {
            let Kind::Map(entries) = &node.kind else {
                findings.structure.push(here(
                    format!("expected a mapping of names to values, found {}", node.describe()),
                    "write it as `NAME: value` lines, or `{ NAME: value }`".to_string(),
                ));
                return;
            };
            check_keys(entries, path, findings, |key, _, value, findings| {
                // serde would read `A: ~` as the text "~" and `A:` as "", neither of which the user meant to write.
                if value.is_null() {
                    findings.structure.push(Diagnostic::new(
                        value.line,
                        value.column,
                        path.key(key).render(),
                        format!("`{key}` has no value"),
                        format!("write `{key}: ''` for an empty value"),
                    ));
                } else if !matches!(value.kind, Kind::Scalar { .. }) {
                    findings.structure.push(Diagnostic::new(
                        value.line,
                        value.column,
                        path.render(),
                        format!("expected a text value, found {}", value.describe()),
                        "write the value on the same line; quote it if it contains `:` or `#`".to_string(),
                    ));
                }
            });
        }
        Shape::SeqOf(item) => {
            let Kind::Seq(items) = &node.kind else {
                let fix = if matches!(item, Shape::Text) {
                    "write it as a list, e.g. `[\"/demo\", \"--port\", \"8080\"]`".to_string()
                } else {
                    "write it as a list: one `- ` entry per item".to_string()
                };
                findings.structure.push(here(format!("expected a list, found {}", node.describe()), fix));
                return;
            };
            for (i, child) in items.iter().enumerate() {
                check(child, item, &path.index(i), findings);
            }
        }
        Shape::Parsed(parsed) => match node.as_scalar() {
            Some((text, _)) if !node.is_null() => {
                if let Err((message, fix)) = parsed.check(text) {
                    findings.unparsed.push((path.clone(), here(message, fix)));
                }
            }
            _ => findings.structure.push(here(
                format!("expected text, found {}", node.describe()),
                "write a single value; quote it if it contains `:` or `#`".to_string(),
            )),
        },
        Shape::Text => {
            // Null only reaches here as a list item (fields handle null first); serde would read it as "~".
            if node.is_null() || !matches!(node.kind, Kind::Scalar { .. }) {
                findings.structure.push(here(
                    format!("expected text, found {}", node.describe()),
                    "write a single value; quote it if it contains `:` or `#`".to_string(),
                ));
            }
        }
        Shape::Bool => {
            if !matches!(node.as_scalar(), Some(("true" | "True" | "TRUE" | "false" | "False" | "FALSE", true))) {
                findings.structure.push(here(
                    format!("expected `true` or `false`, found {}", node.describe()),
                    "write `true` or `false`, without quotes".to_string(),
                ));
            }
        }
        Shape::Whole { min, max } => {
            let ok = matches!(node.as_scalar(), Some((v, true)) if parse_whole(v).is_some_and(|n| (*min..=*max).contains(&n)));
            if !ok {
                let (expected, fix) = if *max == u64::from(u32::MAX) {
                    ("a whole number (0 or more)".to_string(), "write a whole number, e.g. `3`".to_string())
                } else {
                    (format!("a whole number from {min} to {max}"), format!("use a number from {min} to {max}"))
                };
                let fix = match node.as_scalar() {
                    Some((v, false)) if parse_number(v).is_some() => number_fix(node),
                    _ => fix,
                };
                findings.structure.push(here(format!("expected {expected}, found {}", node.describe()), fix));
            }
        }
        Shape::Number => {
            let ok = matches!(node.as_scalar(), Some((v, true)) if parse_number(v).is_some());
            if !ok {
                findings
                    .structure
                    .push(here(format!("expected a number, found {}", node.describe()), number_fix(node)));
            }
        }
        Shape::OneOf(words) => {
            let value = node.as_scalar().map(|(v, _)| v);
            if !value.is_some_and(|v| words.contains(&v)) {
                let fix = match value.and_then(|v| suggest(v, words)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("use one of: {}", words.join(", ")),
                };
                findings
                    .structure
                    .push(here(format!("expected one of {}, found {}", words.join(", "), node.describe()), fix));
            }
        }
    }
}

fn check_field(field: &Field, value: &Node, path: &Path, findings: &mut Findings) {
    if value.is_null() {
        match field.presence {
            Presence::Optional => {}
            Presence::Required | Presence::Defaulted => findings.structure.push(Diagnostic::new(
                value.line,
                value.column,
                path.render(),
                format!("`{}` has no value", field.name),
                "give it a value, or remove the line".to_string(),
            )),
        }
        return;
    }
    check(value, field.shape, path, findings);
}

/// Walks a mapping's entries, reporting keys that are not text and keys written twice, and hands every other entry
/// to `each(key, key_node, value, out)`.
fn check_keys(
    entries: &[(Node, Node)],
    path: &Path,
    findings: &mut Findings,
    mut each: impl FnMut(&str, &Node, &Node, &mut Findings),
) {
    for (i, (key_node, value)) in entries.iter().enumerate() {
        let Some((key, _)) = key_node.as_scalar() else {
            findings.structure.push(Diagnostic::new(
                key_node.line,
                key_node.column,
                path.render(),
                format!("a key must be a name, found {}", key_node.describe()),
                "use a plain name before the `:`".to_string(),
            ));
            continue;
        };
        let first = entries[..i].iter().find(|(k, _)| k.as_scalar().map(|(s, _)| s) == Some(key));
        if let Some((first, _)) = first {
            findings.structure.push(Diagnostic::new(
                key_node.line,
                key_node.column,
                path.key(key).render(),
                format!("`{key}` is set twice (first on line {})", first.line),
                "keep only one of them".to_string(),
            ));
            continue;
        }
        each(key, key_node, value, findings);
    }
}

/// The tree as the JSON value serde expects for `shape`, with a stand-in for every value at a path in `unparsed`.
///
/// Only used when some value did not parse (the YAML itself would not deserialize then); the tree must have passed
/// [`check`] without structural problems, so every scalar reads as its shape says.
pub(crate) fn to_json(node: &Node, shape: &Shape, path: &Path, unparsed: &[Path]) -> serde_json::Value {
    use serde_json::Value;
    let text = node.as_scalar().map(|(v, _)| v).unwrap_or_default();
    if node.is_null() && !matches!(shape, Shape::Text | Shape::TextMap) {
        return Value::Null;
    }
    match (shape, &node.kind) {
        (Shape::Struct(_) | Shape::TextMap, Kind::Map(entries)) => Value::Object(
            entries
                .iter()
                .filter_map(|(key, value)| {
                    let key = key.as_scalar()?.0;
                    let value = match shape {
                        Shape::Struct(fields) => {
                            to_json(value, fields.iter().find(|f| f.name == key)?.shape, &path.key(key), unparsed)
                        }
                        _ => to_json(value, &Shape::Text, &path.key(key), unparsed),
                    };
                    Some((key.to_string(), value))
                })
                .collect(),
        ),
        (Shape::SeqOf(item), Kind::Seq(items)) => {
            Value::Array(items.iter().enumerate().map(|(i, n)| to_json(n, item, &path.index(i), unparsed)).collect())
        }
        (Shape::Bool, _) => Value::Bool(text.eq_ignore_ascii_case("true")),
        (Shape::Whole { .. }, _) => parse_whole(text).map_or(Value::Null, Value::from),
        (Shape::Number, _) => parse_number(text).map_or(Value::Null, Value::from),
        (Shape::Parsed(parsed), _) if unparsed.contains(path) => Value::from(parsed.stand_in()),
        _ => Value::from(text),
    }
}

fn number_fix(node: &Node) -> String {
    match node.as_scalar() {
        Some((v, false)) if parse_number(v).is_some() => "remove the quotes: numbers are written without them".into(),
        _ => "write a number, e.g. `3`".to_string(),
    }
}

fn example_of(fields: &[Field]) -> String {
    fields
        .iter()
        .find(|f| f.presence == Presence::Required)
        .map(|f| f.example.to_string())
        .unwrap_or_else(|| format!("{}: …", fields.first().map(|f| f.name).unwrap_or("field")))
}

/// Reads a YAML integer the way serde_norway does (optional `+`, `0x`, `0o`, `0b` prefixes).
fn parse_whole(v: &str) -> Option<u64> {
    let v = v.strip_prefix('+').unwrap_or(v);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = v.strip_prefix(prefix) {
            return if rest.starts_with(['+', '-']) { None } else { u64::from_str_radix(rest, radix).ok() };
        }
    }
    if v.starts_with(['+', '-']) {
        return None;
    }
    v.parse().ok()
}

/// Reads a YAML number the way serde_norway does for `f64` fields (integers, decimals, exponents; no infinities).
fn parse_number(v: &str) -> Option<f64> {
    if let Some(n) = parse_whole(v) {
        return Some(n as f64);
    }
    let unsigned = v.strip_prefix('+').unwrap_or(v);
    if unsigned.starts_with('+') {
        return None;
    }
    // Words like `inf` or `nan` parse as f64 in Rust, but no field of a spec wants them.
    if !unsigned.trim_start_matches('-').starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    unsigned.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Longest word (in bytes) for which a "did you mean" is looked for.
const MAX_SUGGEST_LEN: usize = 64;

/// The closest allowed word to `word`, if one is close enough to be what the user meant.
///
/// Case and `_`/`-` separators are ignored first, so `read_only_root_fs` finds `readOnlyRootFs`; otherwise the
/// candidate with the smallest edit distance (transpositions count once) wins when it is within a third of the word.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // The edit distance costs the product of the two lengths; no field name or word is this long, so a longer word
    // is no typo of one and is answered at once.
    if word.len() > MAX_SUGGEST_LEN {
        return None;
    }
    let normalize =
        |s: &str| -> String { s.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect() };
    let word_n = normalize(word);
    if let Some(c) = candidates.iter().find(|c| normalize(c) == word_n) {
        return Some(c);
    }
    let limit = match word_n.chars().count() {
        0..=4 => 1,
        5..=9 => 2,
        _ => 3,
    };
    candidates
        .iter()
        .map(|c| (edit_distance(&word_n, &normalize(c)), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions cost 1.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_suggest(word: &str, expected: Option<&str>) {
        let names = ["name", "image", "replicas", "resources", "memory", "readOnlyRootFs", "cpu"];
        assert_eq!(suggest(word, &names), expected, "suggestion for {word}");
    }

    #[test]
    fn suggestions() {
        check_suggest("replica", Some("replicas"));
        check_suggest("imgae", Some("image"));
        check_suggest("memroy", Some("memory"));
        check_suggest("read_only_root_fs", Some("readOnlyRootFs"));
        check_suggest("Name", Some("name"));
        check_suggest("cpus", Some("cpu"));
        check_suggest("foo", None);
        check_suggest("volumes", None);
    }

    #[test]
    fn yaml_numbers() {
        assert_eq!(parse_whole("42"), Some(42));
        assert_eq!(parse_whole("+0x10"), Some(16));
        assert_eq!(parse_whole("-1"), None);
        assert_eq!(parse_whole("1.5"), None);
        assert_eq!(parse_number("0.3"), Some(0.3));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(parse_number(".5"), Some(0.5));
        assert_eq!(parse_number("-2"), Some(-2.0));
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("abc"), None);
    }
}
