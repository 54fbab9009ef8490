//! Engine errors. The doors map each variant to a status code / exit code and print its message.

use crane_api::{ApiError, Diagnostic, ErrorCode};

/// Refuses a spec above [`crane_core::validate::MAX_SPEC_BYTES`] before anything reads it, with the error
/// `EngineHandle::apply` gives for it (`parse_spec` checks the same cap first). Doors call it on the text they
/// received, so an oversized spec is not copied on.
pub fn check_spec_size(yaml: &str) -> Result<()> {
    use crane_core::validate::{spec_too_large, MAX_SPEC_BYTES, SPEC_TOO_LARGE_FIX};
    if yaml.len() <= MAX_SPEC_BYTES {
        return Ok(());
    }
    let message = spec_too_large(yaml.len());
    let fix = SPEC_TOO_LARGE_FIX.to_string();
    Err(EngineError::InvalidSpec(vec![plain_diagnostic("", message, fix)]))
}

/// The wire form of a core diagnostic, with its file and document.
pub fn wire_diagnostic(d: crane_core::Diagnostic) -> Diagnostic {
    Diagnostic {
        line: d.line,
        column: d.column,
        path: d.path,
        message: d.message,
        fix: d.fix,
        file: d.file,
        document: d.document,
    }
}

/// A wire diagnostic tied to no position, file or document.
pub fn plain_diagnostic(path: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Diagnostic {
    Diagnostic {
        line: 0,
        column: 0,
        path: path.into(),
        message: message.into(),
        fix: fix.into(),
        file: None,
        document: None,
    }
}

/// Result of engine operations.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Everything an engine operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The spec has problems; every one is listed.
    #[error("the spec is invalid: {}", summarize(.0))]
    InvalidSpec(Vec<Diagnostic>),
    /// The alert rule file has problems; every one is listed (`invalid_spec` on the wire).
    #[error("the rule file is invalid: {}", summarize(.0))]
    InvalidRules(Vec<Diagnostic>),
    /// The lab has problems (manifest or the files it names); every one is listed with its file, and nothing was
    /// created (`invalid_spec` on the wire).
    #[error("the lab is invalid: {}", summarize(.0))]
    InvalidLab(Vec<Diagnostic>),
    /// No app of that name.
    #[error("no app named '{0}'; list apps with `cranectl get apps`")]
    NotFound(String),
    /// No user, token or other named thing of that name (the message names it and how to list them).
    #[error("{0}")]
    Missing(String),
    /// The caller's role or ownership does not allow the request (the message names the rule and the fix).
    #[error("{0}")]
    Forbidden(String),
    /// The app exists already (create-only) or a name is taken.
    #[error("{0}")]
    Conflict(String),
    /// The app changed between a request's read and its write (the loop acted on a rollout, the autoscaler scaled
    /// it); the request may be prepared again from the fresh row. `conflict` on the wire.
    #[error("{0}")]
    Stale(String),
    /// A request value is out of range.
    #[error("{0}")]
    BadRequest(String),
    /// The image cannot be had.
    #[error("{0}")]
    ImageUnavailable(String),
    /// A host port is taken.
    #[error("{0}")]
    PortInUse(String),
    /// Docker is unreachable.
    #[error("{0}")]
    DockerUnreachable(String),
    /// The engine loop did not answer: it stopped, or failed during the request and was restarted.
    #[error("{0}")]
    LoopStopped(String),
    /// Anything else (store, runtime).
    #[error("{0}")]
    Internal(String),
    /// The data directory is unsafe (another user's, or writable by others) or another engine holds its lock.
    #[error("{0}")]
    DataDir(String),
    /// A policy refused the change; its messages name the fix. Nothing was changed.
    #[error("the {} policy denied this: {}", policy_word(*.policy), .messages.join("; "))]
    PolicyDenied {
        /// Which policy.
        policy: crane_api::PolicyName,
        /// Its messages (admission `deny`, or the scaling policy's reason).
        messages: Vec<String>,
    },
    /// A policy edit cannot be saved; every problem is listed with line and column.
    #[error("the policy is invalid: {}", summarize(.0))]
    InvalidPolicy(Vec<Diagnostic>),
    /// A policy could not decide (runtime error, time limit, wrong answer); nothing was changed.
    #[error("{0}")]
    PolicyFailed(String),
    /// No policy of that name.
    #[error("{0}")]
    PolicyNotFound(String),
}

/// The word of a policy name in messages.
fn policy_word(name: crane_api::PolicyName) -> &'static str {
    match name {
        crane_api::PolicyName::Admission => "admission",
        crane_api::PolicyName::Scaling => "scaling",
        crane_api::PolicyName::Alerts => "alerts",
    }
}

fn summarize(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| {
            let file = d.file.as_ref().map(|f| format!("{f}: ")).unwrap_or_default();
            let document = d.document.map(|n| format!("document {n}: ")).unwrap_or_default();
            if d.line > 0 {
                format!("{file}{document}line {} column {}: {}: {} ({})", d.line, d.column, d.path, d.message, d.fix)
            } else {
                format!("{file}{document}{}: {} ({})", d.path, d.message, d.fix)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl EngineError {
    /// The wire form of this error.
    pub fn to_api(&self) -> ApiError {
        let code = match self {
            EngineError::InvalidSpec(_) | EngineError::InvalidRules(_) | EngineError::InvalidLab(_) => {
                ErrorCode::InvalidSpec
            }
            EngineError::NotFound(_) | EngineError::Missing(_) => ErrorCode::NotFound,
            EngineError::Forbidden(_) => ErrorCode::Forbidden,
            EngineError::Conflict(_) | EngineError::Stale(_) => ErrorCode::Conflict,
            EngineError::BadRequest(_) => ErrorCode::BadRequest,
            EngineError::ImageUnavailable(_) => ErrorCode::ImageUnavailable,
            EngineError::PortInUse(_) => ErrorCode::PortInUse,
            EngineError::DockerUnreachable(_) => ErrorCode::DockerUnreachable,
            EngineError::LoopStopped(_) => ErrorCode::EngineStopped,
            EngineError::Internal(_) | EngineError::DataDir(_) => ErrorCode::Internal,
            EngineError::PolicyDenied { .. } => ErrorCode::PolicyDenied,
            EngineError::InvalidPolicy(_) => ErrorCode::InvalidPolicy,
            EngineError::PolicyFailed(_) => ErrorCode::PolicyFailed,
            EngineError::PolicyNotFound(_) => ErrorCode::NotFound,
        };
        let diagnostics = match self {
            EngineError::InvalidSpec(d)
            | EngineError::InvalidPolicy(d)
            | EngineError::InvalidRules(d)
            | EngineError::InvalidLab(d) => d.clone(),
            EngineError::PolicyDenied { policy, messages } => messages
                .iter()
                .map(|m| plain_diagnostic(format!("policy:{}", policy_word(*policy)), m.clone(), String::new()))
                .collect(),
            _ => Vec::new(),
        };
        ApiError { code, message: self.to_string(), diagnostics }
    }
}
