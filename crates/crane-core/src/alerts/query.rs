//! The PromQL subset Crane's built-in evaluator runs, as Crane's own small AST.
//!
//! An expression is parsed with `promql-parser` (so what is valid PromQL is decided by a maintained parser, not by a
//! copy of the grammar here) and then translated into [`Expr`]. Whatever is valid PromQL but outside the subset is
//! refused here, with the reason, a fix and (where it can be found in the text) the byte offset of the construct, so
//! a rule is refused when it is saved rather than failing at every evaluation.

use std::fmt;

use promql_parser::label::MatchOp as PromMatchOp;
use promql_parser::parser::{self as prom, token, Expr as PromExpr, LabelModifier, VectorMatchCardinality};
use regex::Regex;

/// Longest expression accepted, in bytes. A real alert expression is a line or two.
pub const MAX_EXPR_BYTES: usize = 4096;
/// Deepest nesting of operators and functions accepted.
pub const MAX_EXPR_DEPTH: usize = 32;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// An expression of the supported subset.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number literal (a scalar).
    Number(f64),
    /// An instant vector selector: the latest sample of each matching series within the lookback window.
    Selector(Selector),
    /// A function over a range selector: `rate(x[1m])`.
    Range {
        /// The function.
        func: RangeFunc,
        /// The series.
        selector: Selector,
        /// The range, in milliseconds.
        range_ms: u64,
    },
    /// An aggregation: `sum by (app) (x)`.
    Aggregate {
        /// The operator.
        op: AggOp,
        /// Which labels form the groups.
        grouping: Grouping,
        /// What is aggregated.
        expr: Box<Expr>,
    },
    /// An arithmetic or comparison operator between two expressions.
    Binary(Box<Binary>),
    /// Unary minus.
    Negate(Box<Expr>),
}

/// A binary operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Binary {
    /// The operator.
    pub op: BinOp,
    /// Left operand.
    pub lhs: Expr,
    /// Right operand.
    pub rhs: Expr,
    /// `bool`: a comparison gives 1 or 0 instead of filtering.
    pub return_bool: bool,
    /// How elements of two vectors are paired (one-to-one).
    pub matching: Matching,
}

/// How the elements of two vectors are paired: on the listed labels only, or on all labels but the listed ones (and
/// the metric name). Without a modifier it is `Ignoring(vec![])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matching {
    /// `on(a, b)`.
    On(Vec<String>),
    /// `ignoring(a, b)`, or no modifier.
    Ignoring(Vec<String>),
}

/// The groups of an aggregation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// `by (a, b)`; `By(vec![])` (and no clause at all) is one group of everything.
    By(Vec<String>),
    /// `without (a, b)`: all labels but these and the metric name.
    Without(Vec<String>),
}

/// Aggregation operators of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    /// `sum`.
    Sum,
    /// `avg`.
    Avg,
    /// `max`.
    Max,
    /// `min`.
    Min,
    /// `count`.
    Count,
}

/// Functions over a range of samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFunc {
    /// `rate`: per-second increase of a counter, extrapolated to the range.
    Rate,
    /// `irate`: per-second increase between the last two samples.
    Irate,
    /// `increase`: increase of a counter, extrapolated to the range.
    Increase,
    /// `avg_over_time`.
    AvgOverTime,
    /// `max_over_time`.
    MaxOverTime,
    /// `min_over_time`.
    MinOverTime,
}

impl RangeFunc {
    /// The PromQL names, in the order of the variants.
    pub const NAMES: &'static [&'static str] =
        &["rate", "irate", "increase", "avg_over_time", "max_over_time", "min_over_time"];

    fn from_name(name: &str) -> Option<RangeFunc> {
        use RangeFunc::*;
        let all = [Rate, Irate, Increase, AvgOverTime, MaxOverTime, MinOverTime];
        Self::NAMES.iter().position(|n| *n == name).map(|i| all[i])
    }
}

/// Binary operators of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `^`.
    Pow,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `>`.
    Gt,
    /// `<`.
    Lt,
    /// `>=`.
    Ge,
    /// `<=`.
    Le,
}

impl BinOp {
    /// Whether this is a comparison (which filters, or gives 1/0 with `bool`).
    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le)
    }
}

/// A vector selector: a metric name and label matchers.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// The metric name (`__name__`).
    pub name: String,
    /// The other matchers, as written.
    pub matchers: Vec<LabelMatcher>,
}

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`.
    Equal,
    /// `!=`.
    NotEqual,
    /// `=~` (fully anchored regular expression).
    Regex,
    /// `!~`.
    NotRegex,
}

/// One label matcher. A label a series does not have matches as the empty value, as in Prometheus.
#[derive(Debug, Clone)]
pub struct LabelMatcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value or regular expression as written.
    pub value: String,
    /// The anchored regular expression, for `=~` and `!~`.
    regex: Option<Regex>,
}

impl PartialEq for LabelMatcher {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, self.op, &self.value) == (&other.name, other.op, &other.value)
    }
}

impl LabelMatcher {
    /// An `=` or `!=` matcher.
    pub fn equal(name: &str, value: &str, negate: bool) -> LabelMatcher {
        let op = if negate { MatchOp::NotEqual } else { MatchOp::Equal };
        LabelMatcher { name: name.to_string(), op, value: value.to_string(), regex: None }
    }

    /// A `=~` or `!~` matcher; the expression is anchored at both ends, as PromQL's are.
    pub fn regex(name: &str, pattern: &str, negate: bool) -> Result<LabelMatcher, String> {
        let regex = Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("`{pattern}` is not a valid regular expression: {e}"))?;
        let op = if negate { MatchOp::NotRegex } else { MatchOp::Regex };
        Ok(LabelMatcher { name: name.to_string(), op, value: pattern.to_string(), regex: Some(regex) })
    }

    /// Whether a label value (the empty text when the series lacks the label) satisfies this matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }
}

impl fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value)
    }
}

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// Byte offset in the expression text of the offending construct, when it can be found.
    pub offset: Option<usize>,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(o) = self.offset {
            write!(f, " (at character {})", o + 1)?;
        }
        write!(f, " (fix: {})", self.fix)
    }
}

const USE_PROMETHEUS: &str =
    "use a real Prometheus for it, or rewrite the expression within Crane's subset (see docs/alerts.md)";

/// Parses PromQL and translates it into the subset, or says why it cannot.
pub fn parse_query(text: &str) -> Result<Expr, QueryError> {
    if text.len() > MAX_EXPR_BYTES {
        return Err(QueryError {
            message: format!("the expression is {} bytes; at most {MAX_EXPR_BYTES} are accepted", text.len()),
            fix: "shorten it; an alert expression is usually one line".into(),
            offset: None,
        });
    }
    if text.trim().is_empty() {
        return Err(QueryError {
            message: "the expression is empty".into(),
            fix: "write a PromQL expression, e.g. `crane_app_ready_replicas < 1`".into(),
            offset: None,
        });
    }
    let parsed = prom::parse(text).map_err(|e| QueryError {
        // The parser's generic answer says nothing more than that; its specific ones name the problem.
        message: if e == "invalid promql query" {
            "invalid PromQL: the expression could not be read".to_string()
        } else {
            format!("invalid PromQL: {e}")
        },
        fix: "check the expression's syntax: names, brackets, quotes and operators".into(),
        offset: None,
    })?;
    let t = Translator { text };
    t.expr(&parsed, 0)
}

struct Translator<'a> {
    text: &'a str,
}

impl Translator<'_> {
    fn refuse(&self, what: &str, find: Option<&str>) -> QueryError {
        QueryError {
            message: format!("{what} is not supported by Crane's built-in evaluator"),
            fix: USE_PROMETHEUS.into(),
            offset: find.and_then(|w| find_token(self.text, w)),
        }
    }

    fn expr(&self, e: &PromExpr, depth: usize) -> Result<Expr, QueryError> {
        if depth > MAX_EXPR_DEPTH {
            return Err(QueryError {
                message: format!("the expression is nested more than {MAX_EXPR_DEPTH} levels deep"),
                fix: "simplify it".into(),
                offset: None,
            });
        }
        match e {
            PromExpr::NumberLiteral(n) => Ok(Expr::Number(n.val)),
            PromExpr::Paren(p) => self.expr(&p.expr, depth + 1),
            PromExpr::Unary(u) => Ok(Expr::Negate(Box::new(self.expr(&u.expr, depth + 1)?))),
            PromExpr::VectorSelector(vs) => Ok(Expr::Selector(self.selector(vs)?)),
            PromExpr::StringLiteral(_) => Err(QueryError {
                message: "a string is not a value an alert can compare".into(),
                fix: "use a number or a vector selector".into(),
                offset: self.text.find(['"', '\'', '`']),
            }),
            PromExpr::MatrixSelector(_) => Err(QueryError {
                message: "a range selector (`x[5m]`) gives a range of samples, not one value per series".into(),
                fix: "wrap it in a function: rate, irate, increase, avg_over_time, max_over_time or min_over_time"
                    .into(),
                offset: self.text.find('['),
            }),
            PromExpr::Subquery(_) => Err(self.refuse("a subquery (`expr[5m:1m]`)", Some(":"))),
            PromExpr::Extension(_) => Err(self.refuse("this expression", None)),
            PromExpr::Call(call) => self.call(call),
            PromExpr::Aggregate(agg) => self.aggregate(agg, depth),
            PromExpr::Binary(b) => self.binary(b, depth),
        }
    }

    fn selector(&self, vs: &prom::VectorSelector) -> Result<Selector, QueryError> {
        if vs.offset.is_some() {
            return Err(self.refuse("`offset`", Some("offset")));
        }
        if vs.at.is_some() {
            return Err(self.refuse("the `@` modifier", Some("@")));
        }
        if !vs.matchers.or_matchers.is_empty() {
            return Err(self.refuse("`or` between label matchers", Some("or")));
        }
        let mut name = vs.name.clone();
        let mut matchers = Vec::new();
        for m in &vs.matchers.matchers {
            if m.name == METRIC_NAME {
                match (&m.op, &name) {
                    (PromMatchOp::Equal, None) => name = Some(m.value.clone()),
                    (PromMatchOp::Equal, Some(n)) if *n == m.value => {}
                    _ => {
                        return Err(QueryError {
                            message: "selecting series by a pattern of metric names (`__name__`) is not supported by Crane's built-in evaluator".into(),
                            fix: "name one metric: `metric_name{label=\"value\"}`".into(),
                            offset: find_token(self.text, METRIC_NAME),
                        })
                    }
                }
                continue;
            }
            matchers.push(match &m.op {
                PromMatchOp::Equal => LabelMatcher::equal(&m.name, &m.value, false),
                PromMatchOp::NotEqual => LabelMatcher::equal(&m.name, &m.value, true),
                PromMatchOp::Re(_) => {
                    LabelMatcher::regex(&m.name, &m.value, false).map_err(|message| self.bad_regex(message))?
                }
                PromMatchOp::NotRe(_) => {
                    LabelMatcher::regex(&m.name, &m.value, true).map_err(|message| self.bad_regex(message))?
                }
            });
        }
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(QueryError {
                message: "a selector without a metric name is not supported by Crane's built-in evaluator".into(),
                fix: "name the metric: `metric_name{label=\"value\"}`".into(),
                offset: self.text.find('{'),
            });
        };
        Ok(Selector { name, matchers })
    }

    fn bad_regex(&self, message: String) -> QueryError {
        QueryError {
            message,
            fix: "write the regular expression in RE2 syntax".into(),
            offset: self.text.find("=~").or(self.text.find("!~")),
        }
    }

    fn call(&self, call: &prom::Call) -> Result<Expr, QueryError> {
        let name = call.func.name;
        let Some(func) = RangeFunc::from_name(name) else {
            return Err(QueryError {
                message: format!("the function `{name}` is not supported by Crane's built-in evaluator"),
                fix: format!("use one of {}, or {USE_PROMETHEUS}", RangeFunc::NAMES.join(", ")),
                offset: find_call(self.text, name),
            });
        };
        let [arg] = call.args.args.as_slice() else {
            return Err(QueryError {
                message: format!("`{name}` takes one range selector"),
                fix: format!("write `{name}(metric[5m])`"),
                offset: find_call(self.text, name),
            });
        };
        let PromExpr::MatrixSelector(ms) = arg.as_ref() else {
            let what = if matches!(arg.as_ref(), PromExpr::Subquery(_)) { "a subquery" } else { "this argument" };
            return Err(QueryError {
                message: format!(
                    "`{name}` over {what} is not supported by Crane's built-in evaluator; it takes a range selector"
                ),
                fix: format!("write `{name}(metric{{label=\"value\"}}[5m])`, or {USE_PROMETHEUS}"),
                offset: find_call(self.text, name),
            });
        };
        let selector = self.selector(&ms.vs)?;
        let range_ms = u64::try_from(ms.range.as_millis()).unwrap_or(u64::MAX);
        if range_ms == 0 {
            return Err(QueryError {
                message: "a range of zero selects nothing".into(),
                fix: "write a positive range, e.g. `[5m]`".into(),
                offset: self.text.find('['),
            });
        }
        Ok(Expr::Range { func, selector, range_ms })
    }

    fn aggregate(&self, agg: &prom::AggregateExpr, depth: usize) -> Result<Expr, QueryError> {
        let op_name = agg.op.to_string();
        let op = match agg.op.id() {
            token::T_SUM => AggOp::Sum,
            token::T_AVG => AggOp::Avg,
            token::T_MAX => AggOp::Max,
            token::T_MIN => AggOp::Min,
            token::T_COUNT => AggOp::Count,
            _ => {
                return Err(QueryError {
                    message: format!("the aggregation `{op_name}` is not supported by Crane's built-in evaluator"),
                    fix: format!("use sum, avg, max, min or count, or {USE_PROMETHEUS}"),
                    offset: find_call(self.text, &op_name).or_else(|| find_token(self.text, &op_name)),
                })
            }
        };
        let grouping = match &agg.modifier {
            None => Grouping::By(Vec::new()),
            Some(LabelModifier::Include(l)) => Grouping::By(l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => Grouping::Without(l.labels.clone()),
        };
        Ok(Expr::Aggregate { op, grouping, expr: Box::new(self.expr(&agg.expr, depth + 1)?) })
    }

    fn binary(&self, b: &prom::BinaryExpr, depth: usize) -> Result<Expr, QueryError> {
        let name = b.op.to_string();
        let op = match b.op.id() {
            token::T_ADD => BinOp::Add,
            token::T_SUB => BinOp::Sub,
            token::T_MUL => BinOp::Mul,
            token::T_DIV => BinOp::Div,
            token::T_MOD => BinOp::Mod,
            token::T_POW => BinOp::Pow,
            token::T_EQLC => BinOp::Eq,
            token::T_NEQ => BinOp::Ne,
            token::T_GTR => BinOp::Gt,
            token::T_LSS => BinOp::Lt,
            token::T_GTE => BinOp::Ge,
            token::T_LTE => BinOp::Le,
            _ => {
                let fix = if b.op.is_set_operator() {
                    format!("write one rule per condition instead of `{name}`, or {USE_PROMETHEUS}")
                } else {
                    USE_PROMETHEUS.to_string()
                };
                return Err(QueryError {
                    message: format!("the operator `{name}` is not supported by Crane's built-in evaluator"),
                    fix,
                    offset: find_token(self.text, &name),
                });
            }
        };
        let (return_bool, matching) = match &b.modifier {
            None => (false, Matching::Ignoring(Vec::new())),
            Some(m) => {
                match &m.card {
                    VectorMatchCardinality::OneToOne => {}
                    VectorMatchCardinality::ManyToOne(_) => return Err(self.refuse("`group_left`", Some("group_left"))),
                    VectorMatchCardinality::OneToMany(_) => {
                        return Err(self.refuse("`group_right`", Some("group_right")))
                    }
                    VectorMatchCardinality::ManyToMany => return Err(self.refuse("many-to-many matching", None)),
                }
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    return Err(self.refuse("`fill`", Some("fill")));
                }
                let matching = match &m.matching {
                    None => Matching::Ignoring(Vec::new()),
                    Some(LabelModifier::Include(l)) => Matching::On(l.labels.clone()),
                    Some(LabelModifier::Exclude(l)) => Matching::Ignoring(l.labels.clone()),
                };
                (m.return_bool, matching)
            }
        };
        let lhs = self.expr(&b.lhs, depth + 1)?;
        let rhs = self.expr(&b.rhs, depth + 1)?;
        Ok(Expr::Binary(Box::new(Binary { op, lhs, rhs, return_bool, matching })))
    }
}

/// Whether the expression's value is a scalar (numbers and operators between them) rather than a vector.
pub fn is_scalar(e: &Expr) -> bool {
    match e {
        Expr::Number(_) => true,
        Expr::Negate(inner) => is_scalar(inner),
        Expr::Binary(b) => is_scalar(&b.lhs) && is_scalar(&b.rhs),
        Expr::Selector(_) | Expr::Range { .. } | Expr::Aggregate { .. } => false,
    }
}

/// Byte offset of `word` in `text` as a whole token (not part of a longer name), outside quoted strings.
fn find_token(text: &str, word: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let word_is_name = word.bytes().all(is_name);
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if c == b'\\' && q != b'`' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == b'"' || c == b'\'' || c == b'`' => quote = Some(c),
            None if bytes[i..].starts_with(word.as_bytes()) => {
                let before_ok = !word_is_name || i == 0 || !is_name(bytes[i - 1]);
                let after = i + word.len();
                let after_ok = !word_is_name || after >= bytes.len() || !is_name(bytes[after]);
                if before_ok && after_ok {
                    return Some(i);
                }
            }
            None => {}
        }
        i += 1;
    }
    None
}

/// Byte offset of a call of `name` (the name followed by `(`, or by a `by`/`without` clause).
fn find_call(text: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(rel) = find_token(&text[from..], name) {
        let at = from + rel;
        let rest = text[at + name.len()..].trim_start();
        if rest.starts_with('(') || rest.starts_with("by") || rest.starts_with("without") {
            return Some(at);
        }
        from = at + name.len();
    }
    None
}
