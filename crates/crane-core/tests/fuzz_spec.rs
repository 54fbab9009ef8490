//! Fuzzing the spec parser and validator on stable Rust: proptest-driven harnesses, so a failure shrinks to a small
//! input and is kept in `fuzz_spec.proptest-regressions` (committed; its cases run first on every run).
//!
//! Two inputs: arbitrary bytes (read as UTF-8 with replacement, as a door that receives bytes would), and
//! structure-aware mutations of valid specs (lines dropped, repeated, moved or truncated, values replaced with hostile
//! tokens: huge and negative numbers, aliases and anchors, tags, deep nesting, long and multibyte text). For every
//! input `parse_spec` must return (no panic) within a generous bound, an error must name at least one problem, and a
//! spec it accepts must pass `validate` and survive `to_yaml` → `parse_spec` unchanged.
//!
//! `CRANE_FUZZ_CASES` sets the number of cases of each harness (default 256, what `make test` runs); `make fuzz`
//! runs 200,000 in a release build.

use std::time::{Duration, Instant};

use crane_core::validate::{parse_spec, to_yaml, validate, MAX_SPEC_BYTES};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// A hang detector, not a timing goal: the largest input parses in milliseconds, so anything near this is a loop.
const HANG: Duration = Duration::from_secs(10);

fn config() -> Config {
    let cases = std::env::var("CRANE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..Config::default()
    }
}

/// Valid specs the mutations start from (the product's examples and a spec using every section).
const SEEDS: &[&str] = &[
    "name: api-service\nimage: node:18\nreplicas: 3\nresources: { cpu: 0.3, memory: 256Mi }\nhealth:\n  liveness:  { type: http, path: /health }\n  readiness: { type: http, path: /ready }\nautoscaling: { min: 2, max: 10, metric: cpu, target: 70 }\n",
    "name: web\nimage: crane-demo:0.1.0\nreplicas: 3\ncommand: [\"/demo\", \"--port\", \"8080\"]\nenv: { GREETING: hello }\nports:\n  - container: 8080\n    public: 18080\nresources: { cpu: 0.5, memory: 128Mi }\nhealth:\n  liveness:  { type: http, path: /health, port: 8080, period: 5s, timeout: 1s, failureThreshold: 3 }\n  readiness: { type: http, path: /ready, port: 8080 }\nautoscaling: { min: 1, max: 5, metric: rps, target: 50, scaleDownStabilization: 30s }\nupdate: { maxSurge: 1, maxUnavailable: 0, failureAction: rollback }\nsecurity: { privileged: false, user: \"1000\", readOnlyRootFs: true }\n",
    "name: w\nimage: x\nreplicas: 0\nvolumes:\n  - { source: data, target: /data }\nports:\n  - { container: 80, balance: leastConnections, protocol: tcp }\nhealth:\n  startup: { type: tcp, port: 80, initialDelay: 2s }\n  liveness: { type: exec, command: [/demo, check, '80', /health] }\nsecurity: { addCapabilities: [NET_BIND_SERVICE], keepDefaultCapabilities: false }\n",
];

/// Values a mutation puts where a scalar was.
const HOSTILE: &[&str] = &[
    "-1",
    "0",
    "1e308",
    "-1e308",
    "1e-10",
    ".nan",
    ".inf",
    "-.inf",
    "99999999999999999999999999",
    "0x7fffffff",
    "0o777",
    "~",
    "null",
    "[]",
    "{}",
    "''",
    "\"",
    "'",
    "*a",
    "&a x",
    "!!binary aGVsbG8=",
    "!custom x",
    "<<: *a",
    "yes",
    "1.5Mi",
    "10Ei",
    "1h1h1h",
    "-5s",
    "9999999999999999s",
    "é",
    "\u{1F600}",
    "a\tb",
    "|\n  block",
    ">-\n  folded",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "{a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: b}}}}}}}}}}}}}}}}}",
];

/// One structure-aware change to a spec's text.
#[derive(Debug, Clone)]
enum Mutation {
    /// Remove line `n` (modulo the line count).
    DropLine(usize),
    /// Repeat line `n` `times` times.
    RepeatLine(usize, usize),
    /// Move line `from` before line `to`.
    MoveLine(usize, usize),
    /// Replace the value of line `n` (after its first `: `) with a hostile token.
    Value(usize, usize),
    /// Replace the value of line `n` with a long run of a character.
    LongValue(usize, char, usize),
    /// Insert `key: value` with `indent` spaces before line `n`.
    Insert(usize, usize, String, usize),
    /// Cut the text at a fraction (per mille) of its length.
    Truncate(u16),
    /// Insert text at a fraction (per mille) of the length.
    Splice(u16, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DropLine),
        (any::<usize>(), 1..2000usize).prop_map(|(n, t)| Mutation::RepeatLine(n, t)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::MoveLine(a, b)),
        (any::<usize>(), 0..HOSTILE.len()).prop_map(|(n, v)| Mutation::Value(n, v)),
        (any::<usize>(), prop_oneof![Just('a'), Just('é'), Just('-'), Just('['), Just(' ')], 1..80_000usize)
            .prop_map(|(n, c, len)| Mutation::LongValue(n, c, len)),
        (any::<usize>(), 0..12usize, "[a-zA-Z.]{1,12}", 0..HOSTILE.len())
            .prop_map(|(n, i, k, v)| Mutation::Insert(n, i, k, v)),
        (0..1000u16).prop_map(Mutation::Truncate),
        (0..1000u16, "\\PC{0,8}|[:&*!|>#%@`-]{1,4}").prop_map(|(at, text)| Mutation::Splice(at, text)),
    ]
}

/// The byte index at a per-mille fraction of `text`, on a character boundary.
fn at(text: &str, per_mille: u16) -> usize {
    let mut i = text.len() * usize::from(per_mille) / 1000;
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let n = lines.len();
    let replace_value = |line: &str, value: &str| match line.find(": ") {
        Some(i) => format!("{}: {value}", &line[..i]),
        None => format!("{line} {value}"),
    };
    match m {
        Mutation::DropLine(i) => {
            lines.remove(i % n);
        }
        Mutation::RepeatLine(i, times) => {
            let line = lines[i % n].clone();
            for _ in 0..*times {
                lines.insert(i % n, line.clone());
            }
        }
        Mutation::MoveLine(from, to) => {
            let line = lines.remove(from % n);
            lines.insert(to % n, line);
        }
        Mutation::Value(i, v) => lines[i % n] = replace_value(&lines[i % n], HOSTILE[*v]),
        Mutation::LongValue(i, c, len) => {
            lines[i % n] = replace_value(&lines[i % n], &std::iter::repeat_n(*c, *len).collect::<String>())
        }
        Mutation::Insert(i, indent, key, v) => {
            lines.insert(i % n, format!("{}{key}: {}", " ".repeat(*indent), HOSTILE[*v]));
        }
        Mutation::Truncate(p) => return text[..at(text, *p)].to_string(),
        Mutation::Splice(p, insert) => {
            let i = at(text, *p);
            return format!("{}{insert}{}", &text[..i], &text[i..]);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// What must hold for any input.
fn check(input: &str) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let parsed = parse_spec(input);
    let took = started.elapsed();
    prop_assert!(took < HANG, "parse_spec took {took:?} on {} bytes", input.len());
    match parsed {
        Err(diagnostics) => {
            prop_assert!(!diagnostics.is_empty(), "an error names at least one problem");
            if input.len() > MAX_SPEC_BYTES {
                prop_assert!(diagnostics[0].message.contains("at most"), "{:?}", diagnostics[0]);
            }
        }
        Ok(spec) => {
            prop_assert!(validate(&spec).is_ok(), "accepted by parse_spec, refused by validate: {:?}", validate(&spec));
            let yaml = to_yaml(&spec);
            let again = parse_spec(&yaml);
            prop_assert_eq!(again.as_ref().ok(), Some(&spec), "to_yaml does not round-trip:\n{}\n{:?}", yaml, again);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes, as a door receives them.
    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    /// Arbitrary text made of YAML's syntax characters and words, which reaches deeper than random bytes.
    #[test]
    fn yaml_like_text(text in "([a-z]{1,6}|[:\\-\\[\\]{},&*!|>'\"#%@` \\n]|\\n  |[0-9.e]{1,4}){0,400}") {
        check(&text)?;
    }

    /// Valid specs with one to six structure-aware mutations.
    #[test]
    fn mutated_specs(seed in 0..SEEDS.len(), mutations in prop::collection::vec(mutation(), 1..6)) {
        let mut text = SEEDS[seed].to_string();
        for m in &mutations {
            text = apply(&text, m);
        }
        check(&text)?;
    }
}

/// The seeds are valid and round-trip (otherwise the mutations start from nothing).
#[test]
fn seeds_are_valid() {
    for seed in SEEDS {
        let spec = parse_spec(seed).unwrap_or_else(|d| panic!("{seed}\n{d:#?}"));
        assert_eq!(parse_spec(&to_yaml(&spec)).unwrap(), spec);
    }
}
