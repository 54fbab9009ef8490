//! Crane's REST API: `/api/v1` over axum, for scripts, `cranectl` and anything else that speaks HTTP.
//!
//! [`start`] loads or creates the bearer token (`<data_dir>/token`), binds a loopback address, announces itself in
//! `<data_dir>/api.json` (how `cranectl` finds it) and serves the routes of [`routes::table`] behind the guard of
//! [`auth`] until [`ApiServer::shutdown`]. The OpenAPI document ([`openapi`]) is generated from the same table.
//!
//! The server loop is ours (not `axum::serve`) so it can bound what a client holds: at most [`MAX_CONNECTIONS`]
//! connections at once, and [`HEADER_READ_TIMEOUT`] to send a request's headers (which is also how long a
//! kept-alive connection may sit idle).
//!
//! **Architecture Invariant:** this crate is a shell: every handler calls one `EngineHandle` method; no state of
//! its own besides the token.

mod auth;
pub use auth::CLIENT_HEADER;
pub mod error;
pub mod hello;
pub mod openapi;
pub mod routes;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crane_engine::EngineHandle;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crane_api::ApiError;
pub use error::{ApiFailure, RestError, Result};

/// File in the data directory that holds the bearer token.
pub const TOKEN_FILE: &str = "token";
/// The file (in the data directory) holding the token Alertmanager sends to `POST /api/v1/alerts/webhook`: a token
/// of its own, so a Prometheus/Alertmanager config never holds the API's token.
pub const WEBHOOK_TOKEN_FILE: &str = "webhook-token";
/// File in the data directory that tells clients where the API listens: `{"url": ..., "pid": ...}`.
pub const API_FILE: &str = "api.json";

/// How long [`ApiServer::shutdown`] waits for in-flight requests before cutting them.
const GRACE: Duration = Duration::from_secs(5);

/// Most connections served at once; further clients wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a client may take to send a request's headers; also how long a kept-alive connection may stay idle.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// The bearer token of a running server: the guard checks requests against it, and `POST /api/v1/token/rotate`
/// replaces it (file first, then memory, so a failed write keeps the old token valid).
pub(crate) struct Token {
    /// The token clients must send now.
    current: RwLock<String>,
    /// Where it is stored (`<data dir>/token`).
    pub path: PathBuf,
}

impl Token {
    /// A token read from (or just written to) `path`.
    pub fn new(token: String, path: PathBuf) -> Token {
        Token { current: RwLock::new(token), path }
    }

    /// The token clients must send now.
    pub fn current(&self) -> String {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Rotates the token for a door (the REST route and the window call this one function) and records it in the
    /// event log as `caller`'s act. The answer names the file, never the token.
    pub(crate) async fn rotate_for(&self, caller: &EngineHandle) -> Result<crane_api::TokenRotated, ApiFailure> {
        let path = self.path.display().to_string();
        caller
            .audited(crane_api::AuditAction::TokenRotate, None, None, async {
                caller.authorize(crane_engine::Permission::ManageUsers, None).await?;
                self.rotate().map_err(|e| {
                    crane_engine::EngineError::Internal(format!(
                        "cannot write a new token to {path}: {e}; the old token still works"
                    ))
                })
            })
            .await?;
        tracing::info!(file = %path, "bearer token rotated");
        caller.token_rotated(&path).await;
        Ok(crane_api::TokenRotated {
            message: format!("the token was replaced; the old one no longer works; the new one is in {path}"),
            token_file: path,
        })
    }

    /// Writes a new token to the token file and makes it the only one accepted.
    pub fn rotate(&self) -> std::io::Result<()> {
        let token = new_token();
        let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        write_atomically(&self.path, token.as_bytes())?;
        *current = token;
        Ok(())
    }
}

/// Replaces a running server's token (see [`ApiServer::token_rotator`]).
#[derive(Clone)]
pub struct TokenRotator(Arc<Token>);

impl TokenRotator {
    /// Replaces the token as `caller`'s act (recorded in the event log): the old token stops working at once; the
    /// answer names the file that holds the new one, never the token.
    pub async fn rotate(&self, caller: &EngineHandle) -> std::result::Result<crane_api::TokenRotated, ApiError> {
        self.0.rotate_for(caller).await.map_err(|failure| failure.error)
    }
}

/// The Alertmanager webhook receiver's address and token (`<data dir>/webhook-token`), shared by the REST routes
/// and the window: reading it and replacing the token are admin acts (`ManageSettings`), the replacement audited.
#[derive(Clone)]
pub struct WebhookAccess {
    token: Arc<Token>,
    port: u16,
}

impl WebhookAccess {
    /// The webhook of a server on `port` with this token.
    pub(crate) fn new(token: Arc<Token>, port: u16) -> WebhookAccess {
        WebhookAccess { token, port }
    }

    /// The receiver's URL and current token, without a permission check (the routes' guard and callers check).
    pub(crate) fn unchecked(&self) -> crane_api::WebhookInfo {
        crane_api::WebhookInfo {
            url: format!("http://127.0.0.1:{}/api/v1/alerts/webhook", self.port),
            token: self.token.current(),
            token_file: self.token.path.display().to_string(),
        }
    }

    /// The token Alertmanager must send now.
    pub(crate) fn current(&self) -> String {
        self.token.current()
    }

    /// Where the token is stored.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.token.path
    }

    pub(crate) async fn info_for(&self, caller: &EngineHandle) -> Result<crane_api::WebhookInfo, ApiFailure> {
        caller.authorize(crane_engine::Permission::ManageSettings, None).await?;
        Ok(self.unchecked())
    }

    pub(crate) async fn rotate_for(&self, caller: &EngineHandle) -> Result<crane_api::WebhookInfo, ApiFailure> {
        let path = self.token.path.display().to_string();
        caller
            .audited(crane_api::AuditAction::TokenRotate, None, Some("webhook"), async {
                caller.authorize(crane_engine::Permission::ManageSettings, None).await?;
                self.token.rotate().map_err(|e| {
                    crane_engine::EngineError::Internal(format!(
                        "cannot write a new webhook token to {path}: {e}; the old one still works"
                    ))
                })
            })
            .await?;
        Ok(self.unchecked())
    }

    /// The receiver's URL and token, for `caller` (admins).
    pub async fn info(&self, caller: &EngineHandle) -> std::result::Result<crane_api::WebhookInfo, ApiError> {
        self.info_for(caller).await.map_err(|failure| failure.error)
    }

    /// Replaces the webhook token as `caller`'s act (admins; audited); the answer has the new token.
    pub async fn rotate(&self, caller: &EngineHandle) -> std::result::Result<crane_api::WebhookInfo, ApiError> {
        self.rotate_for(caller).await.map_err(|failure| failure.error)
    }
}

/// A running REST server.
pub struct ApiServer {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// Bound address.
    pub addr: SocketAddr,
    /// Bearer token clients had to send when the server started ([`ApiServer::current_token`] after a rotation).
    pub token: String,
    /// The token as it is now.
    current: Arc<Token>,
    /// The webhook receiver's token.
    webhook: WebhookAccess,
    /// The `api.json` this server wrote.
    api_file: PathBuf,
    /// Tells the serve task (and open streams) to stop.
    stop: watch::Sender<bool>,
    /// The serve task.
    task: JoinHandle<()>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("ApiServer").field("url", &self.url).field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// Starts the API on a loopback address (`127.0.0.1:0` picks a free port). Non-loopback addresses are refused; see
/// [`start_with`].
pub async fn start(handle: EngineHandle, listen: SocketAddr) -> Result<ApiServer> {
    start_with(handle, listen, false).await
}

/// Starts the API; with `allow_remote`, a non-loopback `listen` address is accepted and the Host check is lifted
/// (the token still is required).
pub async fn start_with(handle: EngineHandle, listen: SocketAddr, allow_remote: bool) -> Result<ApiServer> {
    if !allow_remote && !listen.ip().is_loopback() {
        return Err(RestError::NotLoopback(listen));
    }
    let data_dir = handle.data_dir();
    std::fs::create_dir_all(&data_dir).map_err(|source| RestError::DataFile { path: data_dir.clone(), source })?;
    let token_path = data_dir.join(TOKEN_FILE);
    let token = load_or_create_token(&token_path)?;

    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|source| RestError::Bind { addr: listen, source })?;
    let addr = listener.local_addr().map_err(|source| RestError::Bind { addr: listen, source })?;
    let url = if addr.ip().is_ipv6() && addr.ip().is_loopback() {
        format!("http://[::1]:{}", addr.port())
    } else {
        // A wildcard or remote bind is still reached from this machine by loopback.
        format!("http://127.0.0.1:{}", addr.port())
    };

    let (stop, stop_rx) = watch::channel(false);
    let current = Arc::new(Token::new(token.clone(), token_path));
    let webhook = webhook_access(&handle, addr.port())?;
    let app =
        pipeline(handle.clone(), current.clone(), webhook.clone(), &url, addr.port(), allow_remote, stop_rx.clone())?;

    let api_file = data_dir.join(API_FILE);
    write_api_file(&api_file, &url)?;
    handle.set_api_url(url.clone());

    let task = tokio::spawn(serve(listener, app, stop_rx));
    tracing::info!(%url, "REST API listening");
    Ok(ApiServer { url, addr, token, current, webhook, api_file, stop, task })
}

/// The webhook token of the engine's data directory (made on first use).
fn webhook_access(handle: &EngineHandle, port: u16) -> Result<WebhookAccess> {
    let webhook_path = handle.data_dir().join(WEBHOOK_TOKEN_FILE);
    Ok(WebhookAccess::new(Arc::new(Token::new(load_or_create_token(&webhook_path)?, webhook_path)), port))
}

/// What serves every request: the routes of [`routes::table`] behind the guard of [`auth`] and the catch-panic
/// layer.
fn pipeline(
    handle: EngineHandle,
    token: Arc<Token>,
    webhook: WebhookAccess,
    url: &str,
    port: u16,
    allow_remote: bool,
    shutdown: watch::Receiver<bool>,
) -> Result<axum::Router> {
    let (router, paths) = routes::mount(routes::table());
    let document = openapi::document(paths, url);
    let public_paths = openapi::public_paths(&document);
    let document = serde_json::to_value(&document).map_err(RestError::Document)?;
    let guard = Arc::new(auth::GuardConfig {
        token: token.clone(),
        engine: handle.clone(),
        port,
        any_host: allow_remote,
        public_paths,
    });
    let state = routes::AppState { handle, openapi: Arc::new(document), shutdown, token, webhook, port };
    Ok(router
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(guard, auth::guard))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(error::panic_answer)))
}

/// The server's whole request pipeline (routes, guard, catch-panic) for `handle`, as [`start`] serves it but without
/// a listener, for in-process tests and fuzzing. Requests must carry `Host: 127.0.0.1:<port>` and `token` as the
/// bearer token; a rotation writes `<data dir>/token`.
pub fn in_process(handle: EngineHandle, token: &str, port: u16) -> Result<axum::Router> {
    let url = format!("http://127.0.0.1:{port}");
    let token = Arc::new(Token::new(token.to_string(), handle.data_dir().join(TOKEN_FILE)));
    // No server to stop: streams end when the sender is dropped, which is at once.
    let (_stop, shutdown) = watch::channel(false);
    let webhook = webhook_access(&handle, port)?;
    pipeline(handle, token, webhook, &url, port, false, shutdown)
}

/// Accepts connections until `stop` turns true, at most [`MAX_CONNECTIONS`] at once, each served by hyper's HTTP/1
/// with [`HEADER_READ_TIMEOUT`]; then lets every connection finish its request and waits for them all.
async fn serve(listener: tokio::net::TcpListener, app: axum::Router, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = async { stop.wait_for(|stopping| *stopping).await.is_ok() } => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = async { stop.wait_for(|stopping| *stopping).await.is_ok() } => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(%err, "REST accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut conn_stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                // The guard `wait_for` returns must not live across the await below (it is not `Send`).
                _ = async { conn_stop.wait_for(|stopping| *stopping).await.is_ok() } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%err, "REST connection ended");
            }
        });
    }
    drop(listener);
    // Every permit back means every connection has ended.
    let _ = permits.acquire_many(MAX_CONNECTIONS as u32).await;
}

impl ApiServer {
    /// The token clients must send now (it changes with `POST /api/v1/token/rotate`).
    pub fn current_token(&self) -> String {
        self.current.current()
    }

    /// What replaces this server's token the way `POST /api/v1/token/rotate` does (the window's *Rotate token*);
    /// cheap to clone, so no lock on the server is held while it runs.
    pub fn token_rotator(&self) -> TokenRotator {
        TokenRotator(self.current.clone())
    }

    /// The Alertmanager webhook receiver's address and token (the window's Alerts view shows them).
    pub fn webhook(&self) -> WebhookAccess {
        self.webhook.clone()
    }

    /// Stops accepting connections, ends open streams, waits up to 5 s for in-flight requests and removes
    /// `api.json` (when it still names this server).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(GRACE, &mut self.task).await.is_err() {
            tracing::warn!("REST requests still running after {GRACE:?}; cutting them");
            self.task.abort();
        }
        let ours = std::fs::read_to_string(&self.api_file)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|v| v["url"] == self.url.as_str() && v["pid"] == std::process::id());
        if ours {
            if let Err(err) = std::fs::remove_file(&self.api_file) {
                tracing::warn!(%err, file = %self.api_file.display(), "cannot remove api.json");
            }
        }
    }
}

/// Reads the token, or creates a new one (32 random bytes, hex) readable only by the user.
fn load_or_create_token(path: &Path) -> Result<String> {
    let data_err = |source| RestError::DataFile { path: path.to_path_buf(), source };
    match std::fs::read_to_string(path) {
        Ok(text) if is_token(text.trim()) => {
            restrict_permissions(path).map_err(data_err)?;
            return Ok(text.trim().to_string());
        }
        Ok(_) => {
            // A damaged token file: replace it, atomically so a concurrent reader never sees half a token.
            let token = new_token();
            write_atomically(path, token.as_bytes()).map_err(data_err)?;
            return Ok(token);
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(data_err(err)),
    }
    let token = new_token();
    match create_private(path) {
        Ok(mut file) => {
            file.write_all(token.as_bytes()).and_then(|()| file.sync_all()).map_err(data_err)?;
            Ok(token)
        }
        // Another process (the window and `cranectl serve` share the data dir) created it first: use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(data_err)?;
            Ok(text.trim().to_string())
        }
        Err(err) => Err(data_err(err)),
    }
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_token(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Creates a new file readable and writable only by its owner.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn restrict_permissions(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode != 0o600 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes a temporary file beside `path` (mode 0600) and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let result = create_private(&tmp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_api_file(path: &Path, url: &str) -> Result<()> {
    let body = serde_json::json!({ "url": url, "pid": std::process::id() });
    write_atomically(path, format!("{body:#}\n").as_bytes())
        .map_err(|source| RestError::DataFile { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKEN_FILE);
        let first = load_or_create_token(&path).unwrap();
        assert!(is_token(&first));
        assert_eq!(load_or_create_token(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").unwrap();
        let replaced = load_or_create_token(&path).unwrap();
        assert!(is_token(&replaced));
        assert_ne!(replaced, first);
    }

    #[test]
    fn api_file_is_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(API_FILE);
        write_api_file(&path, "http://127.0.0.1:1").unwrap();
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["url"], "http://127.0.0.1:1");
        assert_eq!(v["pid"], std::process::id());
    }
}
