//! Errors of the REST server: [`RestError`] for starting it, [`ApiFailure`] for one request. Only this edge turns
//! engine errors into HTTP status codes; the JSON body is always a [`crane_api::ApiError`].

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use crane_api::{ApiError, ErrorCode};
use crane_engine::EngineError;

/// Result of starting or stopping the server.
pub type Result<T, E = RestError> = std::result::Result<T, E>;

/// Everything that can keep the REST server from starting.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The listen address is not loopback and the caller did not opt in to remote access.
    #[error(
        "refusing to listen on {0}: it is not a loopback address; use 127.0.0.1:PORT, or opt in to remote access \
         (`cranectl serve --allow-remote`) knowing that anyone who has the token controls your Docker engine"
    )]
    NotLoopback(SocketAddr),
    /// The listen address cannot be bound (port taken, no permission).
    #[error("cannot listen on {addr}: {source}; pick another port or stop the program that uses it")]
    Bind {
        /// Address we tried.
        addr: SocketAddr,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The OpenAPI document cannot be written as JSON (a bug in a schema).
    #[error("cannot build the OpenAPI document: {0}")]
    Document(serde_json::Error),
    /// A file in the data directory (token, api.json) cannot be read or written.
    #[error("cannot use {path}: {source}; check that the data directory exists and is writable")]
    DataFile {
        /// The file.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// A failed request: an HTTP status and the [`ApiError`] body.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    /// HTTP status, always [`status_for`] of the body's code.
    pub status: StatusCode,
    /// JSON body.
    pub error: ApiError,
}

impl ApiFailure {
    /// A failure with no diagnostics; the status follows from the code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiFailure {
            status: status_for(code),
            error: ApiError { code, message: message.into(), diagnostics: Vec::new() },
        }
    }

    /// `400 bad_request`: the request itself is malformed (body, query, path).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
}

/// The HTTP status of every [`ErrorCode`]; the OpenAPI document lists the codes of each error status from it.
pub fn status_for(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidSpec | ErrorCode::BadRequest | ErrorCode::InvalidPolicy => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        // A policy's denial is a refusal of this request by the engine's rules, as Kubernetes' admission answers 403.
        ErrorCode::Forbidden | ErrorCode::PolicyDenied => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Conflict | ErrorCode::PortInUse => StatusCode::CONFLICT,
        // A policy that cannot decide leaves a well-formed request unprocessable until an admin fixes the policy (only
        // `internal` is a 500: a bug).
        ErrorCode::ImageUnavailable | ErrorCode::PolicyFailed => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::DockerUnreachable | ErrorCode::EngineStopped => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<EngineError> for ApiFailure {
    fn from(err: EngineError) -> Self {
        let error = err.to_api();
        ApiFailure { status: status_for(error.code), error }
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (self.status, Json(self.error)).into_response()
    }
}

/// The answer to a request whose handler panicked (a bug: nothing should panic on input): 500 `internal` with the
/// usual [`ApiError`] body, so the client reads the same shape as every other error and the server keeps serving.
pub fn panic_answer(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    tracing::error!(panic = what, "a request handler panicked");
    ApiFailure::new(
        ErrorCode::Internal,
        "the server failed while handling this request (a bug in Crane); it keeps running",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// A panicking handler answers 500 with the `ApiError` body, through the same layer `start` installs.
    #[tokio::test]
    async fn a_panic_is_a_500_with_the_error_body() {
        async fn boom() -> &'static str {
            panic!("boom")
        }
        let router = axum::Router::new()
            .route("/", axum::routing::get(boom))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_answer));
        let request = axum::http::Request::get("/").body(axum::body::Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let error: ApiError = serde_json::from_slice(&body).unwrap();
        assert_eq!(error.code, ErrorCode::Internal);
        assert!(error.message.contains("keeps running"), "{}", error.message);
    }
}
