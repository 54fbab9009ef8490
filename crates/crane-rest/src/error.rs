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
        ErrorCode::InvalidSpec | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Conflict | ErrorCode::PortInUse => StatusCode::CONFLICT,
        ErrorCode::ImageUnavailable => StatusCode::UNPROCESSABLE_ENTITY,
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
