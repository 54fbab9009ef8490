//! Turns regorus' error text into [`Diagnostic`]s. regorus reports a problem as
//! `\n--> file:line:col\n  |\nN | source line\n  |   ^\nerror: message`; the line and column are kept, the drawing
//! is dropped (doors show the position themselves).

use crane_core::Diagnostic;

/// The diagnostic of one regorus error. `default_file` names the file when the error carries no position.
pub fn diagnostic(error: &str, default_file: &str) -> Diagnostic {
    let (file, line, column) = position(error).unwrap_or((default_file.to_string(), 0, 0));
    let message =
        error.rsplit_once("\nerror: ").map(|(_, message)| message).unwrap_or_else(|| error.trim()).trim().to_string();
    let fix = if line > 0 {
        format!("correct the policy at line {line}, column {column}")
    } else {
        "correct the policy; policies/README.md lists the conventions".to_string()
    };
    Diagnostic::new(line, column, file, crane_core::text::truncate(&message, 1024), fix)
}

/// `(file, line, column)` of the first `--> file:line:col` marker.
fn position(error: &str) -> Option<(String, u32, u32)> {
    let start = error.find("--> ")? + 4;
    let marker = error[start..].lines().next()?;
    let (rest, column) = marker.rsplit_once(':')?;
    let (file, line) = rest.rsplit_once(':')?;
    Some((file.to_string(), line.trim().parse().ok()?, column.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_messages() {
        let text = "\n--> admission.rego:4:10\n  |\n4 |   msg := \n  |          ^\nerror: expecting expression";
        let d = diagnostic(text, "x.rego");
        assert_eq!((d.path.as_str(), d.line, d.column), ("admission.rego", 4, 10));
        assert_eq!(d.message, "expecting expression");
        assert_eq!(d.fix, "correct the policy at line 4, column 10");
        let d = diagnostic("something else went wrong", "scaling.rego");
        assert_eq!((d.path.as_str(), d.line, d.message.as_str()), ("scaling.rego", 0, "something else went wrong"));
    }
}
