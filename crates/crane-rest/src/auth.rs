//! The security middleware in front of every route: Host check (DNS-rebinding defence), Origin check (any web page
//! but the Crane window: loopback pages included, since Crane's own load balancers serve container content there),
//! bearer token (every path — `/api/…`, `/metrics`, unknown ones — except the public routes of the route
//! table, as the OpenAPI document marks them), and the CORS answers that let the Crane window call the API.
//!
//! The bearer token names the caller: the data directory's token is the built-in `admin`; a user token
//! (`crane_<id>_<secret>`) is resolved by the engine ([`crane_engine::EngineHandle::authenticate`]) to its user and
//! role. The caller, with the door (`cli` when `cranectl` says so, else `rest`), goes into the request for the
//! handlers, whose engine calls check and audit it.
//!
//! **Architecture Invariant:** every request passes through [`guard`] before any handler runs; a route is public
//! only when its handler's `#[utoipa::path]` says `security(())`.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crane_api::ErrorCode;

use crate::error::ApiFailure;

/// What the guard checks requests against.
pub(crate) struct GuardConfig {
    /// The bearer token (hex) and where it is stored (named in the 401 message).
    pub token: Arc<crate::Token>,
    /// The engine, which knows the users' tokens.
    pub engine: crane_engine::EngineHandle,
    /// The port we listen on; the Host header must name it.
    pub port: u16,
    /// Remote access was opted in to: any Host is accepted (the token still is required).
    pub any_host: bool,
    /// Paths served without a token (the Host and Origin checks still apply): those whose operations the OpenAPI
    /// document marks public (`security: []`).
    pub public_paths: HashSet<String>,
}

/// Origins of the Tauri window on the platforms Tauri supports.
const TAURI_ORIGINS: [&str; 3] = ["tauri://localhost", "http://tauri.localhost", "https://tauri.localhost"];

/// The middleware: rejects requests with a foreign Host or Origin (403) or without the token (401), answers CORS
/// preflights from allowed origins, and marks responses to allowed origins as readable by them.
pub(crate) async fn guard(State(config): State<Arc<GuardConfig>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    if !config.any_host && !host.as_deref().is_some_and(|h| host_allowed(h, config.port)) {
        let port = config.port;
        return ApiFailure::new(
            ErrorCode::Forbidden,
            format!(
                "Host '{}' is not allowed: the API answers only to 127.0.0.1:{port}, localhost:{port} or [::1]:{port} \
                 (DNS-rebinding defence); call it by one of those addresses",
                host.as_deref().unwrap_or("")
            ),
        )
        .into_response();
    }

    let origin = match headers.get(header::ORIGIN) {
        None => None,
        Some(value) => match value.to_str().ok().filter(|o| origin_allowed(o)) {
            Some(o) => Some(o.to_owned()),
            None => {
                return ApiFailure::new(
                    ErrorCode::Forbidden,
                    format!(
                        "Origin '{}' is not allowed: only the Crane window ({}) may call the API from a browser; \
                         scripts and cranectl send no Origin",
                        String::from_utf8_lossy(value.as_bytes()),
                        TAURI_ORIGINS.join(", ")
                    ),
                )
                .into_response();
            }
        },
    };

    if let Some(origin) = &origin {
        if request.method() == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
            return preflight(origin);
        }
    }

    // Every path needs the token unless its handler is documented as public: `/api/…`, Crane's own `/metrics`, and
    // unknown paths alike (an unknown path must not tell a caller without the token what exists).
    let path = request.uri().path();
    let needs_token = !config.public_paths.contains(path);
    let caller = if needs_token {
        match authenticate(&config, headers).await {
            Ok(caller) => caller,
            Err(failure) => {
                let mut response = failure.into_response();
                allow_origin(&mut response, origin.as_deref());
                return response;
            }
        }
    } else {
        None
    };
    if needs_token && caller.is_none() {
        let mut response = ApiFailure::new(
            ErrorCode::Unauthorized,
            format!(
                "missing, wrong or revoked bearer token; the engine's own token is in {} (also shown in the window), \
                 a user's token comes from `cranectl user add` or `cranectl token create`",
                config.token.path.display()
            ),
        )
        .into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        allow_origin(&mut response, origin.as_deref());
        return response;
    }

    let mut request = request;
    if let Some(caller) = caller {
        request.extensions_mut().insert(caller);
    }
    let mut response = next.run(request).await;
    allow_origin(&mut response, origin.as_deref());
    response
}

/// The header `cranectl` sends so that its requests are recorded as the CLI's rather than as plain REST calls. It
/// only names the door (for the audit log and policies); it grants nothing.
pub const CLIENT_HEADER: &str = "x-crane-client";

/// The door a request came through: `cranectl` says so with [`CLIENT_HEADER`]; anything else is the REST door.
fn caller_door(headers: &HeaderMap) -> crane_api::Door {
    match headers.get(CLIENT_HEADER).and_then(|v| v.to_str().ok()) {
        Some(client) if client.trim().eq_ignore_ascii_case("cranectl") => crane_api::Door::Cli,
        _ => crane_api::Door::Rest,
    }
}

/// Whether a Host header names this server by a loopback name and the right port.
pub(crate) fn host_allowed(host: &str, port: u16) -> bool {
    let host = host.to_ascii_lowercase();
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| host == format!("{name}:{port}"))
}

/// Whether an Origin is the Tauri window's. Loopback pages are not: Crane serves untrusted container content on
/// loopback ports (its load balancers), and such a page must not drive the API with the user's browser.
pub(crate) fn origin_allowed(origin: &str) -> bool {
    TAURI_ORIGINS.contains(&origin.to_ascii_lowercase().as_str())
}

/// The caller the request's bearer token names: the data directory's token is the built-in `admin`, a user token
/// its user with its role; `None` for a missing or unknown token.
async fn authenticate(config: &GuardConfig, headers: &HeaderMap) -> Result<Option<crane_engine::Caller>, ApiFailure> {
    let Some(presented) = bearer(headers) else {
        return Ok(None);
    };
    let door = caller_door(headers);
    if constant_time_eq(presented.as_bytes(), config.token.current().as_bytes()) {
        return Ok(Some(crane_engine::Caller::admin(door)));
    }
    Ok(config.engine.authenticate(presented, door).await?)
}

/// The token of `Authorization: Bearer <token>`, if the request carries one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, presented) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| presented.trim())
}

/// Compares two byte strings in time that depends only on their lengths, so the token cannot be guessed byte by
/// byte from response times.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The answer to a CORS preflight from an allowed origin.
fn preflight(origin: &str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, DELETE"));
    headers
        .insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type, accept"));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    allow_origin(&mut response, Some(origin));
    response
}

/// Lets an allowed origin read the response.
fn allow_origin(response: &mut Response, origin: Option<&str>) {
    if let Some(value) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        response.headers_mut().append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let check = |host: &str, expected: bool| assert_eq!(host_allowed(host, 8080), expected, "{host}");
        check("127.0.0.1:8080", true);
        check("localhost:8080", true);
        check("LOCALHOST:8080", true);
        check("[::1]:8080", true);
        check("127.0.0.1", false);
        check("127.0.0.1:8081", false);
        check("evil.example:8080", false);
        check("localhost.evil.example:8080", false);
    }

    #[test]
    fn origins() {
        let check = |origin: &str, expected: bool| assert_eq!(origin_allowed(origin), expected, "{origin}");
        check("tauri://localhost", true);
        check("http://tauri.localhost", true);
        check("https://tauri.localhost", true);
        check("http://127.0.0.1:5173", false);
        check("http://localhost", false);
        check("https://[::1]:443", false);
        check("http://tauri.localhost:8080", false);
        check("http://localhost.evil.example", false);
        check("http://127.0.0.1.evil.example", false);
        check("http://127.0.0.1:80/path", false);
        check("https://evil.example", false);
        check("null", false);
        check("file://", false);
    }

    #[test]
    fn token_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
