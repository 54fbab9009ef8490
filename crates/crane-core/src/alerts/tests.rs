//! Table-driven tests of rule files, the PromQL subset, the evaluator and the alert state machine. No I/O: series
//! come from an in-memory [`SeriesSource`].

use super::eval::extrapolated_rate;
use super::*;
use crate::units::Duration;

/// An expected diagnostic: line, column, path, start of the message, part of the fix.
type Expected<'a> = (u32, u32, &'a str, &'a str, &'a str);
/// A rate case: samples as (seconds, value), range in s, evaluation time in s, increase, rate.
type RateCase<'a> = (&'a [(u64, f64)], u64, u64, f64, f64);
/// Per step: the transitions as (from, to), and the state of the one alert afterwards.
type Steps = Vec<(Vec<(AlertState, AlertState)>, Option<AlertState>)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Rule files and their diagnostics

const GOOD: &str = r#"groups:
  - name: apps
    interval: 30s
    rules:
      - alert: HighRequestRate
        expr: sum by (app) (rate(crane_lb_requests_total[1m])) > 50
        for: 1m30s
        keep_firing_for: 2m
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.app }}: {{ $value }} req/s"
        firing_action: scale_up
        resolved_action: scale_down
        action_cooldown: 5m
      - alert: Down
        expr: crane_app_ready_replicas == 0
"#;

#[test]
fn a_good_file_parses_into_typed_rules() {
    let file = parse_rule_file(GOOD).unwrap_or_else(|d| panic!("{}", crate::error::render(&d)));
    assert_eq!(file.groups.len(), 1);
    let group = &file.groups[0];
    assert_eq!((group.name.as_str(), group.interval), ("apps", Some(Duration::from_secs(30))));
    let [rate, down] = group.rules.as_slice() else { panic!("two rules") };
    assert_eq!(rate.alert, "HighRequestRate");
    assert_eq!(rate.for_, Duration::from_secs(90));
    assert_eq!(rate.keep_firing_for, Duration::from_secs(120));
    assert_eq!(rate.labels, labels(&[("severity", "warning")]).into_iter().collect());
    assert_eq!(rate.firing_action, Some(AlertAction::ScaleUp));
    assert_eq!(rate.resolved_action, Some(AlertAction::ScaleDown));
    assert_eq!((rate.action_cooldown, down.action_cooldown), (Some(Duration::from_secs(300)), None));
    assert!(matches!(rate.query, Expr::Binary(_)));
    assert_eq!((down.for_, down.firing_action, down.resolved_action), (Duration::ZERO, None, None));
}

/// Parses `yaml` and checks its diagnostics: (line, column, path, start of the message, part of the fix).
fn check_diagnostics(yaml: &str, expected: &[Expected]) {
    let got = parse_rule_file(yaml).expect_err("the file should be refused");
    let shown = crate::error::render(&got);
    assert_eq!(got.len(), expected.len(), "diagnostics of\n{yaml}\n{shown}");
    for (d, (line, column, path, message, fix)) in got.iter().zip(expected) {
        assert_eq!((d.line, d.column, d.path.as_str()), (*line, *column, *path), "position of {d}");
        assert!(d.message.starts_with(message), "message of {d}\nexpected to start with: {message}");
        assert!(d.fix.contains(fix), "fix of {d}\nexpected to contain: {fix}");
    }
}

#[test]
fn every_problem_is_reported_with_its_position() {
    let cases: &[(&str, &[Expected])] = &[
        // YAML syntax.
        (
            "groups:\n  - name: a\n    rules: [\n",
            &[(4, 1, "", "invalid YAML:", "check the indentation")],
        ),
        ("groups:\n\t- name: a\n", &[(2, 2, "", "invalid YAML:", "indent with spaces")]),
        (
            "groups: &g []\nother: *g\n",
            &[(2, 8, "", "invalid YAML: aliases (*name) are not supported in rule files", "write the value out")],
        ),
        ("", &[(0, 0, "", "the rule file is empty", "groups:")]),
        (
            "groups: []\n---\ngroups: []\n",
            &[(2, 1, "", "invalid YAML: a rule file is one YAML document", "remove the `---`")],
        ),
        // Structure: unknown fields with a suggestion, a missing field, a wrong type.
        (
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        exrp: up == 0\n",
            &[
                (4, 9, "groups[0].rules[0].expr", "required field `expr` is missing", "add `expr:"),
                (5, 9, "groups[0].rules[0].exrp", "unknown field `exrp`", "did you mean `expr`?"),
            ],
        ),
        ("grops: []\n", &[(1, 1, "grops", "unknown field `grops`", "did you mean `groups`?"), (1, 1, "groups", "required field `groups` is missing", "add `groups: []`")]),
        (
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: crane_apps > 1\n        labels: [a]\n",
            &[(6, 17, "groups[0].rules[0].labels", "expected a mapping of names to values", "NAME: value")],
        ),
        // Meaning: durations, actions, PromQL outside the subset, recording rules, templates, names — all at once.
        (
            r#"groups:
  - name: a
    rules:
      - alert: X
        expr: crane_apps > 1
        for: 1.5m
        firing_action: scale-up
      - record: job:up:sum
        expr: sum(up)
      - alert: Y
        expr: rate(crane_lb_requests_total[5m] offset 1m) > 1
      - alert: Z
        expr: histogram_quantile(0.9, rate(x[5m])) > 1
        labels:
          1bad: x
        annotations:
          summary: "{{ $value | humanize }}"
  - name: a
    limit: 10
    rules: []
"#,
            &[
                (6, 14, "groups[0].rules[0].for", "`1.5m` is not a duration: `1.5m` has a fraction", "`30s`, `5m`"),
                (7, 24, "groups[0].rules[0].firing_action", "unknown action `scale-up`", "did you mean `scale_up`?"),
                (8, 9, "groups[0].rules[1].record", "recording rules (`record:`) are not supported", "real Prometheus"),
                (11, 48, "groups[0].rules[2].expr", "`offset` is not supported by Crane's built-in evaluator", "real Prometheus"),
                (13, 15, "groups[0].rules[3].expr", "the function `histogram_quantile` is not supported", "rate, irate"),
                (15, 11, "groups[0].rules[3].labels.1bad", "`1bad` is not a valid label name", "letters, digits"),
                (17, 20, "groups[0].rules[3].annotations.summary", "the template action `{{ $value | humanize }}` is not supported", "{{ $value }}"),
                (18, 11, "groups[1].name", "the group name `a` is used twice (first on line 2)", "its own name"),
                (19, 5, "groups[1].limit", "`limit` (a limit on the number of alerts) is not supported", "remove `limit`"),
            ],
        ),
        // A rule without a name, an empty group name, a multi-line expression (position in the message).
        (
            "groups:\n  - name: ''\n    rules:\n      - expr: up == 0\n      - alert: A\n        expr: |\n          sum(x)\n            and y\n",
            &[
                (2, 11, "groups[0].name", "the group name is empty", "name the group"),
                (4, 9, "groups[0].rules[0]", "the rule has no `alert` name", "add `alert:"),
                (7, 11, "groups[0].rules[1].expr", "the operator `and` is not supported by Crane's built-in evaluator (at character 10 of the expression)", "one rule per condition"),
            ],
        ),
        // Invalid PromQL.
        (
            "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: sum(rate(x[5m])\n",
            &[(5, 15, "groups[0].rules[0].expr", "invalid PromQL:", "syntax")],
        ),
    ];
    for (yaml, expected) in cases {
        check_diagnostics(yaml, expected);
    }
}

#[test]
fn inputs_are_bounded() {
    let huge = format!("groups: []\n# {}\n", "x".repeat(MAX_RULE_FILE_BYTES));
    check_diagnostics(&huge, &[(0, 0, "", "the rule file is", "split")]);
    let long_expr = format!(
        "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: crane_apps > {}\n",
        "1 + ".repeat(1100) + "1"
    );
    check_diagnostics(&long_expr, &[(5, 15, "groups[0].rules[0].expr", "the expression is 4", "shorten")]);
    let mut many = String::from("groups:\n  - name: a\n    rules:\n");
    for i in 0..=MAX_RULES {
        many.push_str(&format!("      - alert: A{i}\n        expr: crane_apps > 1\n"));
    }
    check_diagnostics(&many, &[(0, 0, "groups", "the file holds 501 rules; at most 500", "split")]);
    let deep = format!(
        "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: {}crane_apps{}\n",
        "(".repeat(40),
        ")".repeat(40)
    );
    check_diagnostics(
        &deep,
        &[(5, 15, "groups[0].rules[0].expr", "the expression is nested more than 32 levels deep", "simplify")],
    );
}

// ---------------------------------------------------------------------------------------------------------------
// The PromQL subset

#[test]
fn the_subset_is_accepted() {
    for expr in [
        "1",
        "-1",
        "(1 + 2) * 3",
        "crane_apps",
        r#"crane_lb_requests_total{app="web", code!="2xx", instance=~"web-.*", revision!~"1|2"}"#,
        r#"{__name__="crane_apps"}"#,
        "rate(crane_lb_requests_total[1m])",
        "irate(x[30s])",
        "increase(x[1h])",
        "avg_over_time(x[5m]) + max_over_time(x[5m]) - min_over_time(x[5m])",
        "sum by (app) (x)",
        "sum(x) by (app)",
        "avg without (instance) (x)",
        "max(x)",
        "min by (app, code) (x)",
        "count(x)",
        "x > 5",
        "5 < x",
        "x >= bool 5",
        "1 == bool 1",
        "a / b",
        "a / on(app) b",
        "a - ignoring(instance) b",
        "a != bool on(app) b",
        "x % 2 ^ 2",
    ] {
        assert!(parse_query(expr).is_ok(), "{expr}: {:?}", parse_query(expr));
    }
}

#[test]
fn the_rest_is_refused_with_a_reason_and_a_position() {
    for (expr, message, offset) in [
        ("x offset 5m", "`offset` is not supported by Crane's built-in evaluator", Some(2)),
        ("x @ 100", "the `@` modifier is not supported by Crane's built-in evaluator", Some(2)),
        (
            "rate(x[5m:1m])",
            "`rate` over a subquery is not supported by Crane's built-in evaluator; it takes a range selector",
            Some(0),
        ),
        ("max_over_time(rate(x[1m])[5m:])", "`max_over_time` over a subquery is not supported", Some(0)),
        ("x and y", "the operator `and` is not supported by Crane's built-in evaluator", Some(2)),
        ("x or y", "the operator `or` is not supported by Crane's built-in evaluator", Some(2)),
        ("x unless y", "the operator `unless` is not supported by Crane's built-in evaluator", Some(2)),
        ("a / on(app) group_left b", "`group_left` is not supported by Crane's built-in evaluator", Some(12)),
        ("a / on(app) group_right(x) b", "`group_right` is not supported by Crane's built-in evaluator", Some(12)),
        ("topk(3, x)", "the aggregation `topk` is not supported by Crane's built-in evaluator", Some(0)),
        ("quantile(0.9, x)", "the aggregation `quantile` is not supported by Crane's built-in evaluator", Some(0)),
        ("abs(x)", "the function `abs` is not supported by Crane's built-in evaluator", Some(0)),
        ("time() - x", "the function `time` is not supported by Crane's built-in evaluator", Some(0)),
        ("x[5m]", "a range selector (`x[5m]`) gives a range of samples", Some(1)),
        ("\"text\"", "a string is not a value an alert can compare", Some(0)),
        (r#"{app="web"}"#, "a selector without a metric name is not supported", Some(0)),
        (r#"{__name__=~"crane_.*"}"#, "selecting series by a pattern of metric names", Some(1)),
        ("", "the expression is empty", None),
        ("sum(rate(x[5m])", "invalid PromQL: unclosed left parenthesis", None),
        ("x >", "invalid PromQL: the expression could not be read", None),
        ("rate(x)", "invalid PromQL: expected type matrix in call to function 'rate', got vector", None),
        ("1 > 2", "invalid PromQL: comparisons between scalars must use BOOL modifier", None),
    ] {
        let err = parse_query(expr).expect_err(expr);
        assert!(err.message.starts_with(message), "{expr}: {err}");
        assert_eq!(err.offset, offset, "{expr}: {err}");
        assert!(!err.fix.is_empty(), "{expr}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

/// Series in memory. `select` returns every series of the name with all its samples, unfiltered, so the tests also
/// check that the evaluator applies matchers and windows itself.
struct Mem(Vec<Series>);

impl SeriesSource for Mem {
    fn select(&self, name: &str, _: &[LabelMatcher], _: u64, _: u64) -> Result<Vec<Series>, String> {
        Ok(self.0.iter().filter(|s| s.labels.get("__name__").is_some_and(|n| n == name)).cloned().collect())
    }
}

fn series(name: &str, pairs: &[(&str, &str)], samples: &[(u64, f64)]) -> Series {
    let mut l = labels(pairs);
    l.insert("__name__".into(), name.into());
    Series { labels: l, samples: samples.to_vec() }
}

fn eval(source: &Mem, expr: &str, at: u64) -> Vec<(Labels, f64)> {
    let q = parse_query(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    evaluate(&q, at, source).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn assert_close(got: &[(Labels, f64)], expected: &[(Labels, f64)], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: {got:?}");
    for ((gl, gv), (el, ev)) in got.iter().zip(expected) {
        assert_eq!(gl, el, "{what}");
        assert!((gv - ev).abs() < 1e-9 || (gv.is_nan() && ev.is_nan()), "{what}: {gv} != {ev}");
    }
}

/// `extrapolatedRate` against values worked out by hand from Prometheus' algorithm (promql/functions.go).
#[test]
fn rate_and_increase_extrapolate_as_prometheus_does() {
    let cases: &[RateCase] = &[
        // Samples 5 s after the range's start and 10 s before its end, 15 s apart: both gaps are under 1.1 × 15 s,
        // so the 45 s of samples extrapolate to the whole 60 s: 45 × 60/45 = 60, rate 1/s.
        (&[(5, 10.0), (20, 25.0), (35, 40.0), (50, 55.0)], 60, 60, 60.0, 1.0),
        // A counter reset (110 → 5) adds the value before it back: 35 - 100 + 110 = 45 over exactly the range.
        (&[(0, 100.0), (15, 110.0), (30, 5.0), (45, 20.0), (60, 35.0)], 60, 60, 45.0, 0.75),
        // The counter would reach zero 1 s before the first sample (value 1, slope 1/s): extrapolation to the
        // start stops there: 30 × (30 + 1)/30 = 31.
        (&[(30, 1.0), (45, 16.0), (60, 31.0)], 60, 60, 31.0, 31.0 / 60.0),
        // The first sample is 40 s after the start, more than 1.1 × the 10 s interval: extrapolate only half an
        // interval there (5 s): 20 × 25/20 = 25.
        (&[(40, 100.0), (50, 110.0), (60, 120.0)], 60, 60, 25.0, 25.0 / 60.0),
        // Both ends far from the samples: half an interval on each side: 10 × (10 + 5 + 5)/10 = 20.
        (&[(20, 1000.0), (30, 1010.0)], 60, 60, 20.0, 20.0 / 60.0),
    ];
    for (samples, range_s, at_s, increase, rate) in cases {
        let ms: Vec<(u64, f64)> = samples.iter().map(|(t, v)| (t * 1000, *v)).collect();
        let (start, end, range) = ((at_s - range_s) * 1000, at_s * 1000, range_s * 1000);
        let got_increase = extrapolated_rate(&ms, start, end, range, true, false).unwrap();
        let got_rate = extrapolated_rate(&ms, start, end, range, true, true).unwrap();
        assert!((got_increase - increase).abs() < 1e-9, "increase of {samples:?}: {got_increase}");
        assert!((got_rate - rate).abs() < 1e-9, "rate of {samples:?}: {got_rate}");

        // The same through the evaluator, with the series' name dropped and its labels kept.
        let source = Mem(vec![series("c_total", &[("app", "web")], &ms)]);
        let r = format!("rate(c_total[{range_s}s])");
        assert_close(&eval(&source, &r, end), &[(labels(&[("app", "web")]), *rate)], &r);
        let i = format!("increase(c_total[{range_s}s])");
        assert_close(&eval(&source, &i, end), &[(labels(&[("app", "web")]), *increase)], &i);
    }
    // One sample gives no rate.
    assert_eq!(extrapolated_rate(&[(1000, 5.0)], 0, 60_000, 60_000, true, true), None);
}

#[test]
fn functions_over_time_and_irate() {
    let web = |samples: &[(u64, f64)]| Mem(vec![series("m", &[("app", "web")], samples)]);
    let app = labels(&[("app", "web")]);
    let at = 60_000;
    for (samples, expr, expected) in [
        (&[(0, 10.0), (15_000, 40.0), (30_000, 70.0)][..], "irate(m[1m])", Some(2.0)),
        (&[(0, 10.0), (15_000, 70.0), (30_000, 5.0)][..], "irate(m[1m])", Some(5.0 / 15.0)),
        (&[(30_000, 5.0)][..], "irate(m[1m])", None),
        (&[(10_000, 1.0), (20_000, 2.0), (30_000, 3.0), (40_000, 4.0)][..], "avg_over_time(m[1m])", Some(2.5)),
        (&[(10_000, 1.0), (20_000, 7.0), (30_000, 3.0)][..], "max_over_time(m[1m])", Some(7.0)),
        (&[(10_000, 1.0), (20_000, -7.0), (30_000, 3.0)][..], "min_over_time(m[1m])", Some(-7.0)),
        // The range is [at - 1m, at], both ends included: the sample at 0 is in, one before it is not.
        (&[(0, 4.0), (at, 8.0)][..], "avg_over_time(m[1m])", Some(6.0)),
        (&[(0, 100.0)][..], "max_over_time(m[59s])", None),
    ] {
        let expected: Vec<(Labels, f64)> = expected.map(|v| (app.clone(), v)).into_iter().collect();
        assert_close(&eval(&web(samples), expr, at), &expected, expr);
    }
}

#[test]
fn instant_selectors_look_back_five_minutes_and_match_labels() {
    let source = Mem(vec![
        series("up_gauge", &[("app", "web"), ("instance", "web-0")], &[(0, 1.0), (10_000, 0.0)]),
        series("up_gauge", &[("app", "web"), ("instance", "web-1")], &[(0, 1.0)]),
        series("up_gauge", &[("app", "db"), ("instance", "db-0")], &[(5_000, 1.0)]),
        series("other", &[("app", "web")], &[(0, 1.0)]),
    ]);
    let with_name = |pairs: &[(&str, &str)]| {
        let mut l = labels(pairs);
        l.insert("__name__".into(), "up_gauge".into());
        l
    };
    // The latest sample at or before the time, within 5 minutes (inclusive), with the metric name kept.
    assert_close(
        &eval(&source, r#"up_gauge{app="web"}"#, 300_000),
        &[
            (with_name(&[("app", "web"), ("instance", "web-0")]), 0.0),
            (with_name(&[("app", "web"), ("instance", "web-1")]), 1.0),
        ],
        "lookback",
    );
    assert_close(
        &eval(&source, r#"up_gauge{app="web"}"#, 300_001),
        &[(with_name(&[("app", "web"), ("instance", "web-0")]), 0.0)],
        "web-1 is stale",
    );
    // A sample after the evaluation time is not seen.
    assert!(eval(&source, r#"up_gauge{app="db"}"#, 4_999).is_empty());
    for (expr, instances) in [
        (r#"up_gauge{instance=~"web-.*"}"#, vec!["web-0", "web-1"]),
        (r#"up_gauge{instance!~"web-.*"}"#, vec!["db-0"]),
        (r#"up_gauge{app!="web"}"#, vec!["db-0"]),
        (r#"up_gauge{instance=~"web"}"#, vec![]),                    // anchored
        (r#"up_gauge{missing=""}"#, vec!["db-0", "web-0", "web-1"]), // a missing label is ""
        (r#"up_gauge{missing!=""}"#, vec![]),
    ] {
        let got: Vec<String> = eval(&source, expr, 10_000).into_iter().map(|(l, _)| l["instance"].clone()).collect();
        assert_eq!(got, instances, "{expr}");
    }
}

#[test]
fn aggregations_operators_and_matching() {
    let at = 10_000;
    let source = Mem(vec![
        series("req", &[("app", "web"), ("instance", "web-0")], &[(at, 10.0)]),
        series("req", &[("app", "web"), ("instance", "web-1")], &[(at, 30.0)]),
        series("req", &[("app", "db"), ("instance", "db-0")], &[(at, 5.0)]),
        series("want", &[("app", "web")], &[(at, 3.0)]),
        series("want", &[("app", "db")], &[(at, 1.0)]),
        series("have", &[("app", "web")], &[(at, 2.0)]),
        series("have", &[("app", "db")], &[(at, 1.0)]),
    ]);
    let l = labels;
    let named = |name: &str, pairs: &[(&str, &str)]| {
        let mut x = labels(pairs);
        x.insert("__name__".into(), name.into());
        x
    };
    let cases: Vec<(&str, Vec<(Labels, f64)>)> = vec![
        ("sum by (app) (req)", vec![(l(&[("app", "db")]), 5.0), (l(&[("app", "web")]), 40.0)]),
        ("sum(req)", vec![(l(&[]), 45.0)]),
        ("avg by (app) (req)", vec![(l(&[("app", "db")]), 5.0), (l(&[("app", "web")]), 20.0)]),
        ("max without (instance) (req)", vec![(l(&[("app", "db")]), 5.0), (l(&[("app", "web")]), 30.0)]),
        ("min by (app) (req)", vec![(l(&[("app", "db")]), 5.0), (l(&[("app", "web")]), 10.0)]),
        ("count(req)", vec![(l(&[]), 3.0)]),
        ("count by (app) (req)", vec![(l(&[("app", "db")]), 1.0), (l(&[("app", "web")]), 2.0)]),
        // A comparison filters and keeps the left value and the metric name.
        (
            "req > 9",
            vec![
                (named("req", &[("app", "web"), ("instance", "web-0")]), 10.0),
                (named("req", &[("app", "web"), ("instance", "web-1")]), 30.0),
            ],
        ),
        // With the scalar on the left, the vector's value is kept.
        ("20 < req", vec![(named("req", &[("app", "web"), ("instance", "web-1")]), 30.0)]),
        // `bool` gives 1 or 0 for every element and drops the metric name.
        (
            "req >= bool 10",
            vec![
                (l(&[("app", "db"), ("instance", "db-0")]), 0.0),
                (l(&[("app", "web"), ("instance", "web-0")]), 1.0),
                (l(&[("app", "web"), ("instance", "web-1")]), 1.0),
            ],
        ),
        // Arithmetic drops the metric name.
        ("req{app=\"db\"} * 2", vec![(l(&[("app", "db"), ("instance", "db-0")]), 10.0)]),
        ("-req{app=\"db\"}", vec![(l(&[("app", "db"), ("instance", "db-0")]), -5.0)]),
        ("2 ^ 3 + 7 % 4 - 1 / 2", vec![(l(&[]), 10.5)]),
        ("1 < bool 2", vec![(l(&[]), 1.0)]),
        // Vector against vector, one-to-one on all labels but the name.
        ("have < want", vec![(named("have", &[("app", "web")]), 2.0)]),
        ("have / want", vec![(l(&[("app", "db")]), 1.0), (l(&[("app", "web")]), 2.0 / 3.0)]),
        ("have == bool want", vec![(l(&[("app", "db")]), 1.0), (l(&[("app", "web")]), 0.0)]),
        // `on` keeps only the listed labels; `ignoring` matches without the listed ones.
        ("sum by (app, x) (req) / on(app) want", vec![(l(&[("app", "db")]), 5.0), (l(&[("app", "web")]), 40.0 / 3.0)]),
        (
            "max by (app) (req) - ignoring(instance) want",
            vec![(l(&[("app", "db")]), 4.0), (l(&[("app", "web")]), 27.0)],
        ),
        // Elements without a partner are dropped.
        ("req - want", vec![]),
        // The shipped pattern: fewer ready than wanted.
        ("min by (app) (have) < min by (app) (want)", vec![(l(&[("app", "web")]), 2.0)]),
    ];
    for (expr, expected) in cases {
        assert_close(&eval(&source, expr, at), &expected, expr);
    }
}

#[test]
fn ambiguous_results_and_limits_are_errors() {
    let at = 1000;
    let source = Mem(vec![
        series("req", &[("app", "web"), ("instance", "web-0")], &[(0, 1.0), (at, 10.0)]),
        series("req", &[("app", "web"), ("instance", "web-1")], &[(0, 1.0), (at, 30.0)]),
        series("want", &[("app", "web")], &[(at, 3.0)]),
        series("dup", &[("app", "web")], &[(at, 1.0)]),
        series("dup", &[("app", "web")], &[(at, 2.0)]),
    ]);
    let err = |expr: &str, limits: Limits| evaluate_with(&parse_query(expr).unwrap(), at, &source, limits).unwrap_err();
    let d = Limits::default();
    assert!(
        matches!(err("want / on(app) req", d), EvalError::Ambiguous(m) if m.starts_with("found duplicate series for the match group {app=\"web\"} on the right hand-side"))
    );
    assert!(
        matches!(err("req / on(app) want", d), EvalError::Ambiguous(m) if m.starts_with("multiple matches for labels"))
    );
    assert!(
        matches!(err("dup * 1", d), EvalError::Ambiguous(m) if m.starts_with("vector cannot contain metrics with the same labelset: {app=\"web\"}"))
    );
    assert_eq!(err("req", Limits { max_series: 1, max_samples: 100 }), EvalError::TooManySeries { limit: 1 });
    assert_eq!(err("rate(req[1m])", Limits { max_series: 10, max_samples: 3 }), EvalError::TooManySamples { limit: 3 });
    assert!(EvalError::TooManySeries { limit: 1 }.to_string().contains("narrow its selectors"));

    struct Broken;
    impl SeriesSource for Broken {
        fn select(&self, _: &str, _: &[LabelMatcher], _: u64, _: u64) -> Result<Vec<Series>, String> {
            Err("the store is closed".into())
        }
    }
    let e = evaluate(&parse_query("x").unwrap(), 0, &Broken).unwrap_err();
    assert_eq!(e.to_string(), "the stored series could not be read: the store is closed");
    // A scalar expression is one element without labels.
    assert_eq!(evaluate(&parse_query("1 + 1").unwrap(), 0, &Broken), Ok(vec![(Labels::new(), 2.0)]));
}

// ---------------------------------------------------------------------------------------------------------------
// Alert states

fn rule(for_: &str, keep_firing_for: &str) -> AlertRule {
    let yaml = format!(
        r#"groups:
  - name: g
    rules:
      - alert: Busy
        expr: req > 5
        for: {for_}
        keep_firing_for: {keep_firing_for}
        labels:
          severity: warning
          team: "{{{{ $labels.app }}}}-team"
        annotations:
          summary: "{{{{ $labels.app }}}} at {{{{ $value }}}}"
"#
    );
    let file = parse_rule_file(&yaml).unwrap_or_else(|d| panic!("{}", crate::error::render(&d)));
    file.groups[0].rules[0].clone()
}

fn web(value: f64) -> Vec<(Labels, f64)> {
    vec![(labels(&[("__name__", "req"), ("app", "web")]), value)]
}

/// Runs `rule` over `(time, results)` steps and returns, for each step, the transitions as (from, to) and the
/// state of the `web` alert afterwards.
fn run(rule: &AlertRule, steps: &[(u64, Vec<(Labels, f64)>)]) -> Steps {
    let mut state = RuleState::default();
    let mut out = Vec::new();
    for (at, results) in steps {
        let (next, transitions) = step(rule, &state, results, *at).unwrap();
        let alert = next.alerts.values().next().map(|a| a.state);
        out.push((transitions.iter().map(|t| (t.from, t.to)).collect(), alert));
        state = next;
    }
    out
}

#[test]
fn alerts_go_pending_firing_and_resolved() {
    use AlertState::*;
    let r = rule("1m", "0s");
    let none = Vec::new;
    let got = run(
        &r,
        &[
            (0, web(7.0)),                             // new: pending
            (30_000, web(8.0)),                        // still pending
            (60_000, web(9.0)),                        // returned for `for`: firing
            (90_000, web(9.0)),                        // still firing
            (120_000, none()),                         // gone: resolved, kept
            (120_000 + RESOLVED_RETENTION_MS, none()), // still kept for 15 minutes
            (120_001 + RESOLVED_RETENTION_MS, none()), // forgotten, without a transition
        ],
    );
    assert_eq!(
        got,
        vec![
            (vec![(Inactive, Pending)], Some(Pending)),
            (vec![], Some(Pending)),
            (vec![(Pending, Firing)], Some(Firing)),
            (vec![], Some(Firing)),
            (vec![(Firing, Inactive)], Some(Inactive)),
            (vec![], Some(Inactive)),
            (vec![], None),
        ]
    );
}

#[test]
fn flapping_for_zero_and_keep_firing_for() {
    use AlertState::*;
    let none = Vec::new;
    // Flapping before `for`: a pending alert that goes away is forgotten, and comes back with a new start.
    let r = rule("1m", "0s");
    assert_eq!(
        run(&r, &[(0, web(7.0)), (30_000, none()), (45_000, web(7.0)), (90_000, web(7.0)), (105_000, web(7.0))]),
        vec![
            (vec![(Inactive, Pending)], Some(Pending)),
            (vec![(Pending, Inactive)], None),
            (vec![(Inactive, Pending)], Some(Pending)),
            (vec![], Some(Pending)), // 45 s since it came back, not 90 s since it first appeared
            (vec![(Pending, Firing)], Some(Firing)),
        ]
    );
    // `for: 0` fires at once, in one transition; a resolved alert that returns within the retention starts over.
    let r = rule("0s", "0s");
    assert_eq!(
        run(&r, &[(0, web(7.0)), (15_000, none()), (30_000, web(7.0))]),
        vec![
            (vec![(Inactive, Firing)], Some(Firing)),
            (vec![(Firing, Inactive)], Some(Inactive)),
            (vec![(Inactive, Firing)], Some(Firing)),
        ]
    );
    // `keep_firing_for: 1m` keeps a firing alert firing for a minute after it is gone, and a return resets it.
    let r = rule("0s", "1m");
    assert_eq!(
        run(
            &r,
            &[
                (0, web(7.0)),
                (15_000, none()),
                (60_000, none()),
                (70_000, web(7.0)),
                (80_000, none()),
                (140_000, none())
            ]
        ),
        vec![
            (vec![(Inactive, Firing)], Some(Firing)),
            (vec![], Some(Firing)),
            (vec![], Some(Firing)),
            (vec![], Some(Firing)),
            (vec![], Some(Firing)),
            (vec![(Firing, Inactive)], Some(Inactive)),
        ]
    );
}

#[test]
fn alerts_carry_labels_annotations_fingerprint_and_start() {
    let r = rule("0s", "0s");
    let (state, transitions) = step(&r, &RuleState::default(), &web(7.5), 42_000).unwrap();
    let [t] = transitions.as_slice() else { panic!("one transition") };
    let expected_labels =
        labels(&[("alertname", "Busy"), ("app", "web"), ("severity", "warning"), ("team", "web-team")]);
    assert_eq!(t.labels, expected_labels);
    assert_eq!(t.annotations, labels(&[("summary", "web at 7.5")]));
    assert_eq!((t.rule.as_str(), t.value, t.at, t.starts_at), ("Busy", 7.5, 42_000, Some(42_000)));
    assert!(t.fired() && !t.resolved());
    assert_eq!(t.fingerprint, fingerprint(&expected_labels));
    let alert = state.firing().next().unwrap();
    assert_eq!(alert.fingerprint_hex(), format!("{:016x}", t.fingerprint));
    assert_eq!(alert.active_at, 42_000);
    // The value and annotations follow the latest evaluation; the start does not move.
    let (state, transitions) = step(&r, &state, &web(9.0), 57_000).unwrap();
    assert!(transitions.is_empty());
    let alert = state.firing().next().unwrap();
    assert_eq!((alert.value, alert.fired_at), (9.0, Some(42_000)));
    assert_eq!(alert.annotations["summary"], "web at 9");
    // Resolution names the start and the end.
    let (state, transitions) = step(&r, &state, &[], 72_000).unwrap();
    assert!(transitions[0].resolved());
    assert_eq!(transitions[0].starts_at, Some(42_000));
    assert_eq!(state.alerts.values().next().unwrap().resolved_at, Some(72_000));
    // Two results that become the same alert are an error, and the state is left as it was.
    let twice =
        vec![(labels(&[("__name__", "a"), ("app", "web")]), 1.0), (labels(&[("__name__", "b"), ("app", "web")]), 2.0)];
    assert!(step(&r, &state, &twice, 90_000).unwrap_err().0.contains("same labelset"));
}

#[test]
fn fingerprints_are_alertmanagers() {
    // prometheus/common model/signature_test.go: the same FNV-1a over name, 0xff, value, 0xff in name order.
    assert_eq!(
        fingerprint(&labels(&[("name", "garland, briggs"), ("fear", "love is not enough")])),
        5_799_056_148_416_392_346
    );
    assert_eq!(fingerprint(&Labels::new()), 14_695_981_039_346_656_037);
}

// ---------------------------------------------------------------------------------------------------------------
// Export and the shipped rules

#[test]
fn export_round_trips_and_carries_the_actions_as_annotations() {
    let file = parse_rule_file(GOOD).unwrap();
    let exported = to_prometheus_rule_file(&file);
    let field = |name: &str| exported.lines().any(|l| l.trim_start().starts_with(name));
    assert!(!field("firing_action:") && !field("resolved_action:"), "{exported}");
    assert!(exported.contains("crane_firing_action: scale_up"), "{exported}");
    assert!(exported.contains("for: 1m30s"), "{exported}");
    assert!(exported.contains("crane_action_cooldown: 5m"), "{exported}");
    let back = parse_rule_file(&exported).unwrap_or_else(|d| panic!("{}\n{exported}", crate::error::render(&d)));
    assert_eq!(back, file);
    assert_eq!(to_prometheus_rule_file(&back), exported);
    // An annotation that contradicts the field is refused.
    let conflict = GOOD.replace("summary:", "crane_firing_action: stop\n          summary:");
    check_diagnostics(
        &conflict,
        &[(
            12,
            32,
            "groups[0].rules[0].annotations.crane_firing_action",
            "the annotation `crane_firing_action` says `stop` but `firing_action` says `scale_up`",
            "keep only",
        )],
    );
}

#[test]
fn an_action_cooldown_is_a_duration_of_at_most_a_day() {
    check_diagnostics(
        &GOOD.replace("action_cooldown: 5m", "action_cooldown: 2d"),
        &[(15, 26, "groups[0].rules[0].action_cooldown", "the action cooldown is longer than a day", "at most `1d`")],
    );
    let exported = to_prometheus_rule_file(&parse_rule_file(GOOD).unwrap());
    let conflict = exported.replace("crane_action_cooldown: 5m", "crane_action_cooldown: 1m");
    let got = parse_rule_file(&GOOD.replace("summary:", "crane_action_cooldown: 1m\n          summary:"));
    assert!(got.is_err() && parse_rule_file(&conflict).is_ok(), "{exported}");
}

#[test]
fn the_shipped_rules_parse_and_stay_in_the_subset() {
    let file = parse_rule_file(DEFAULT_RULES).unwrap_or_else(|d| panic!("{}", crate::error::render(&d)));
    let names: Vec<&str> = file.rules().map(|r| r.alert.as_str()).collect();
    assert_eq!(
        names,
        ["HighRequestRate", "HighErrorRate", "HighLatency", "AppDegraded", "InstanceRestarting", "DockerDown"]
    );
    // Only metric names Crane exposes on /metrics (crane-engine's exposition.rs is the contract).
    const EXPOSED: &[&str] = &[
        "crane_lb_requests_total",
        "crane_lb_request_duration_seconds",
        "crane_app_ready_replicas",
        "crane_app_replicas",
        "crane_instance_restarts_total",
        "crane_docker_up",
    ];
    fn names_in(e: &Expr, out: &mut Vec<String>) {
        match e {
            Expr::Number(_) => {}
            Expr::Selector(s) | Expr::Range { selector: s, .. } => out.push(s.name.clone()),
            Expr::Aggregate { expr, .. } | Expr::Negate(expr) => names_in(expr, out),
            Expr::Binary(b) => {
                names_in(&b.lhs, out);
                names_in(&b.rhs, out);
            }
        }
    }
    for r in file.rules() {
        let mut used = Vec::new();
        names_in(&r.query, &mut used);
        assert!(!used.is_empty(), "{}", r.alert);
        for name in used {
            assert!(EXPOSED.contains(&name.as_str()), "{} uses {name}", r.alert);
        }
    }
}
