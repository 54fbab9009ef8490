//! The small, safe subset of Prometheus' alert templates (Go `text/template`) that Crane expands in alert labels and
//! annotations: `{{ $labels.name }}` (or `{{ .Labels.name }}`) and `{{ $value }}` (or `{{ .Value }}`), with the
//! usual `{{-`/`-}}` whitespace trimming. Anything else inside `{{ }}` is refused when the rule is saved, so an
//! expansion can never fail or loop; the output is what Prometheus prints for the same template (a missing label is
//! `<no value>`, a value is formatted like Go's `%v`).

use super::eval::Labels;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Label(String),
    Value,
}

/// Why a template was refused: the message, and the byte offset of the action in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// What is wrong.
    pub message: String,
    /// Byte offset of the offending `{{`.
    pub offset: usize,
}

/// What to write instead of an unsupported action.
pub const TEMPLATE_FIX: &str =
    "Crane's built-in evaluator expands only `{{ $labels.name }}` and `{{ $value }}`; write the text out, or use a real Prometheus for other template functions";

impl Template {
    /// Parses a template.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut consumed = 0;
        let mut trim_next = false;
        while let Some(open) = rest.find("{{") {
            let mut literal = &rest[..open];
            if trim_next {
                literal = literal.trim_start();
            }
            let after_open = &rest[open + 2..];
            let (trim_before, inner_start) = match after_open.strip_prefix("- ") {
                Some(_) => (true, 2),
                None => (false, 0),
            };
            if trim_before {
                literal = literal.trim_end();
            }
            if !literal.is_empty() {
                parts.push(Part::Text(literal.to_string()));
            }
            let offset = consumed + open;
            let Some(close) = after_open.find("}}") else {
                return Err(TemplateError { message: "`{{` is not closed by `}}`".into(), offset });
            };
            let mut inner = &after_open[inner_start..close];
            trim_next = false;
            if let Some(stripped) = inner.strip_suffix(" -") {
                inner = stripped;
                trim_next = true;
            }
            parts.push(action(inner.trim()).ok_or_else(|| TemplateError {
                message: format!("the template action `{{{{{}}}}}` is not supported", &after_open[..close]),
                offset,
            })?);
            let advance = open + 2 + close + 2;
            consumed += advance;
            rest = &rest[advance..];
        }
        let literal = if trim_next { rest.trim_start() } else { rest };
        if !literal.is_empty() {
            parts.push(Part::Text(literal.to_string()));
        }
        Ok(Template { parts })
    }

    /// Expands the template for one alert.
    pub fn expand(&self, labels: &Labels, value: f64) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Label(name) => out.push_str(labels.get(name).map(String::as_str).unwrap_or("<no value>")),
                Part::Value => out.push_str(&go_float(value)),
            }
        }
        out
    }
}

fn action(inner: &str) -> Option<Part> {
    match inner {
        "$value" | ".Value" => return Some(Part::Value),
        _ => {}
    }
    let name = inner.strip_prefix("$labels.").or_else(|| inner.strip_prefix(".Labels."))?;
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| Part::Label(name.to_string()))
}

/// A float as Go's `fmt` prints it with `%v` (what `{{ $value }}` gives in Prometheus): the shortest digits that
/// read back exactly, in exponent form (`1e+06`, `1.5e-05`) when the exponent is below -4 or at least 6 (Go's `%g` with the
/// shortest precision), else plain.
pub fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `1.2345e6`.
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    // Plain notation with the same digits.
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
    };
    if negative {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_labels_and_value() {
        let labels: Labels = [("app".to_string(), "web".to_string())].into();
        for (text, expected) in [
            ("{{ $labels.app }} is slow", "web is slow"),
            ("{{$labels.app}}: {{ $value }} req/s", "web: 12.5 req/s"),
            ("{{ .Labels.app }}/{{ .Value }}", "web/12.5"),
            ("missing: {{ $labels.instance }}", "missing: <no value>"),
            ("a  {{- $labels.app -}}  b", "awebb"),
            ("no actions", "no actions"),
            ("", ""),
        ] {
            let t = Template::parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!(t.expand(&labels, 12.5), expected, "{text}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for (text, message, offset) in [
            ("x {{ $value | humanize }}", "the template action `{{ $value | humanize }}` is not supported", 2),
            ("{{ range . }}", "the template action `{{ range . }}` is not supported", 0),
            ("{{ $labels }}", "the template action `{{ $labels }}` is not supported", 0),
            ("{{ $labels.a-b }}", "the template action `{{ $labels.a-b }}` is not supported", 0),
            ("ok {{ $value", "`{{` is not closed by `}}`", 3),
        ] {
            assert_eq!(Template::parse(text), Err(TemplateError { message: message.into(), offset }), "{text}");
        }
    }

    #[test]
    fn floats_print_like_go() {
        for (v, text) in [
            (0.0, "0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (100.0, "100"),
            (0.1, "0.1"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.0 / 3.0, "0.3333333333333333"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(go_float(v), text, "{v}");
        }
    }
}
