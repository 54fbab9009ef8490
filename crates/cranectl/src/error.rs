//! Why a `cranectl` command failed. `main` prints the message on stderr and exits 1 (clap exits 2 for usage
//! errors); spec diagnostics are printed one per line as `FILE:LINE:COL: path: message — fix`.

use std::path::PathBuf;

use crane_api::ApiError;

/// Result of a command.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No `api.json` in the data directory: no engine serves it.
    #[error(
        "no Crane engine is running for data dir {} (no api.json); start the desktop app or `cranectl serve`",
        .data_dir.display()
    )]
    NoEngine {
        /// The data directory searched.
        data_dir: PathBuf,
    },
    /// `api.json` names an address where nothing answers (the engine died without removing it).
    #[error(
        "no Crane engine is running for data dir {} (nothing answers at {url}; api.json is stale); start the \
         desktop app or `cranectl serve`",
        .data_dir.display()
    )]
    Unreachable {
        /// The data directory.
        data_dir: PathBuf,
        /// The address api.json names.
        url: String,
    },
    /// What listens at the address `api.json` names could not prove it holds the token: not our engine (a stale
    /// api.json whose port another program took), so the token was not sent.
    #[error(
        "the program listening at {url} is not the Crane engine of data dir {} ({reason}); the token was not sent. \
         api.json is probably stale (the engine stopped without removing it) and another program now uses that port: \
         start the engine again (the desktop app or `cranectl serve`) so it rewrites api.json",
        .data_dir.display()
    )]
    NotTheEngine {
        /// The data directory.
        data_dir: PathBuf,
        /// The address api.json names.
        url: String,
        /// What went wrong with the proof.
        reason: String,
    },
    /// The engine does not know the user token of `CRANE_TOKEN` (revoked, or its user removed); it was not sent.
    #[error(
        "the engine at {url} does not know the token in CRANE_TOKEN (it was revoked, or its user removed); the token \
         was not sent. Ask an admin for a new one (`cranectl token create --user NAME --role ROLE`)"
    )]
    TokenUnknown {
        /// The engine's address.
        url: String,
    },
    /// A file of the data directory cannot be read or is damaged.
    #[error("cannot use {}: {reason}", .path.display())]
    DataFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the fix.
        reason: String,
    },
    /// The engine answered with an error.
    #[error("{}", .error.message)]
    Api {
        /// The error body.
        error: ApiError,
        /// The file the document came from, for diagnostics.
        source_name: Option<String>,
        /// What the document is (`spec`, `rule file`, `policy`), for the report's first line.
        document: &'static str,
    },
    /// The request failed on the way (timeout, connection reset) or the answer was not understood.
    #[error("talking to the Crane engine at {url} failed: {reason}")]
    Transport {
        /// Address.
        url: String,
        /// What happened.
        reason: String,
    },
    /// A local input (file, stdin) cannot be read.
    #[error("cannot read {name}: {source}")]
    Input {
        /// File name, or `<stdin>`.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// A spec file is larger than the engine accepts; it was not sent.
    #[error(
        "{name} is larger than {max} bytes, the most the engine accepts (one spec: 256 KiB; a file of `---` separated \
         apps: 1 MiB); it was not sent"
    )]
    SpecTooLarge {
        /// File name, or `<stdin>`.
        name: String,
        /// The cap: `MAX_SPEC_BYTES` for one spec, `documents::MAX_FILE_BYTES` for a file of apps.
        max: usize,
    },
    /// A lab cannot be sent (a link in its folder, over its bounds) or none is loaded; the message names the fix.
    #[error("{0}")]
    Lab(String),
    /// `serve` could not start or stop, or output could not be produced.
    #[error("{0}")]
    Serve(String),
    /// `rollout status`: the app's rolling update did not reach its revision (exit 1; the status is on stdout).
    #[error(
        "the rolling update of app '{app}' {state}; see `cranectl describe app {app}` and its events, then apply a \
         fixed spec or `cranectl rollout undo {app}`"
    )]
    RolloutFailed {
        /// App name.
        app: String,
        /// What happened: `failed`, `failed and was rolled back`, `failed and is paused`.
        state: String,
    },
    /// `check`: the file would be refused (problems, or the admission policy would deny an app); the report is on
    /// stdout.
    #[error("{name} would not apply: {reason}")]
    CheckFailed {
        /// File name, or `<stdin>`.
        name: String,
        /// What stands in the way, counted.
        reason: String,
    },
    /// Whoever read our output stopped reading (`cranectl logs APP | head`): not a failure.
    #[error("output closed")]
    OutputClosed,
}

impl CliError {
    /// The lines printed on stderr for this error.
    pub fn report(&self) -> Vec<String> {
        match self {
            CliError::Api { error, .. } if error.code == crane_api::ErrorCode::PolicyDenied => {
                let mut lines = vec!["error: denied by policy:".to_string()];
                lines.extend(error.diagnostics.iter().map(|d| format!("  {}: {}", d.path, d.message)));
                lines
            }
            CliError::Api { error, source_name, document } if !error.diagnostics.is_empty() => {
                let file = source_name.as_deref().unwrap_or(document);
                let mut lines = vec![format!(
                    "error: the {document} is invalid ({} problem{}):",
                    error.diagnostics.len(),
                    if error.diagnostics.len() == 1 { "" } else { "s" }
                )];
                lines.extend(error.diagnostics.iter().map(|d| diagnostic_line(d, file)));
                lines
            }
            other => vec![format!("error: {other}")],
        }
    }
}

/// One problem as `FILE:LINE:COL: document N: path: message — fix` (the parts it has).
pub fn diagnostic_line(d: &crane_api::Diagnostic, file: &str) -> String {
    // A lab's problems name their own file; a multi-app file's its document.
    let file = d.file.as_deref().unwrap_or(file);
    let place = if d.line > 0 { format!("{file}:{}:{}", d.line, d.column) } else { file.to_string() };
    let place = match d.document {
        Some(n) => format!("{place}: document {n}"),
        None => place,
    };
    let path = if d.path.is_empty() { String::new() } else { format!(" {}:", d.path) };
    let fix = if d.fix.is_empty() { String::new() } else { format!(" — {}", d.fix) };
    format!("{place}:{path} {}{fix}", d.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crane_api::Diagnostic;

    #[test]
    fn diagnostics_name_file_line_and_fix() {
        let err = CliError::Api {
            error: ApiError {
                code: crane_api::ErrorCode::InvalidSpec,
                message: "the spec is invalid".into(),
                diagnostics: vec![
                    Diagnostic {
                        line: 4,
                        column: 1,
                        path: "bogus".into(),
                        message: "unknown field".into(),
                        fix: "remove it".into(),
                        file: None,
                        document: None,
                    },
                    Diagnostic {
                        line: 0,
                        column: 0,
                        path: "".into(),
                        message: "no name".into(),
                        fix: "".into(),
                        file: None,
                        document: None,
                    },
                ],
            },
            source_name: Some("app.yaml".into()),
            document: "spec",
        };
        assert_eq!(
            err.report(),
            vec![
                "error: the spec is invalid (2 problems):".to_string(),
                "app.yaml:4:1: bogus: unknown field — remove it".to_string(),
                "app.yaml: no name".to_string(),
            ]
        );
    }
}
