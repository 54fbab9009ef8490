//! How Docker Engine API failures become [`RuntimeError`]s.
//!
//! The adapter speaks crane-core's error type so the engine never sees bollard. Connection failures (no socket,
//! refused, timed out) become [`RuntimeError::Unreachable`]; an HTTP error from the engine keeps the engine's own
//! message, prefixed with what Crane was doing.

pub use crane_core::ports::RuntimeError;

/// Result of an adapter call.
pub type Result<T> = std::result::Result<T, RuntimeError>;

/// The HTTP status of an engine reply, when the failure is one.
pub(crate) fn status_of(err: &bollard::errors::Error) -> Option<u16> {
    match err {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Whether the engine answered "no such object".
pub(crate) fn is_not_found(err: &bollard::errors::Error) -> bool {
    status_of(err) == Some(404)
}

/// Whether the failure means the engine could not be talked to at all.
pub(crate) fn is_connection_failure(err: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as E;
    matches!(
        err,
        E::SocketNotFoundError(_)
            | E::RequestTimeoutError
            | E::IOError { .. }
            | E::HyperLegacyError { .. }
            | E::HyperResponseError { .. }
            | E::UnsupportedURISchemeError { .. }
            | E::APIVersionParseError {}
    )
}

/// Maps a bollard error to a [`RuntimeError`], saying what Crane was doing (`doing` reads like "creating container
/// web-1").
pub(crate) fn map(doing: &str, err: bollard::errors::Error) -> RuntimeError {
    if is_connection_failure(&err) {
        return RuntimeError::Unreachable(format!("{doing}: {}", describe(&err)));
    }
    RuntimeError::Other(format!("{doing}: {}", describe(&err)))
}

/// The most useful one-line text of a bollard error (the engine's message for HTTP errors, the root cause for
/// connection errors, which bollard otherwise words as "error in the hyper legacy client").
pub(crate) fn describe(err: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    match err {
        E::DockerResponseServerError { status_code, message } => {
            format!("{} (HTTP {status_code})", message.trim())
        }
        E::RequestTimeoutError => "the engine did not answer in time".to_string(),
        E::SocketNotFoundError(path) => format!("no socket at {path}"),
        other => {
            // Walk to the innermost cause: "Connection refused (os error 111)" says more than the wrapper.
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                text = s.to_string();
                source = s.source();
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_errors_keep_the_engine_message() {
        let err = bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message: "Conflict. The container name is already in use".into(),
        };
        assert_eq!(status_of(&err), Some(409));
        assert!(!is_not_found(&err));
        assert_eq!(
            map("creating container web-1", err),
            RuntimeError::Other(
                "creating container web-1: Conflict. The container name is already in use (HTTP 409)".into()
            )
        );
    }

    #[test]
    fn connection_errors_are_unreachable() {
        let err = bollard::errors::Error::SocketNotFoundError("/var/run/docker.sock".into());
        assert!(matches!(map("listing containers", err), RuntimeError::Unreachable(m) if m.contains("no socket")));
        assert!(matches!(map("pinging", bollard::errors::Error::RequestTimeoutError), RuntimeError::Unreachable(_)));
    }
}
