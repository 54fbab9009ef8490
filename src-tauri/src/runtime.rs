//! What runs behind the window: the engine, the REST server beside it, the task that forwards engine changes to the
//! window, and the log streams the window has open.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use crane_api::{ApiError, ChangeView, ErrorCode};
use crane_engine::{EngineConfig, EngineHandle};
use tauri::{AppHandle, Emitter};
use tokio::sync::broadcast;

/// Name of the Tauri event that carries every [`ChangeView`] to the window.
pub const CHANGE_EVENT: &str = "crane://change";

/// Where the REST API listens unless `CRANE_API_LISTEN` says otherwise: loopback, a free port.
const DEFAULT_API_LISTEN: &str = "127.0.0.1:0";

/// Everything started in `setup`, managed as Tauri state.
pub struct Running {
    /// The engine, or why it could not start (shown in the window's header).
    engine: Result<EngineHandle, ApiError>,
    /// The REST server, while it runs.
    api: Mutex<Option<crane_rest::ApiServer>>,
    /// Why the REST server could not start, when it could not.
    api_error: Option<ApiError>,
    /// Open log-follow streams by id, so the window can close them.
    log_streams: Mutex<HashMap<u32, tauri::async_runtime::JoinHandle<()>>>,
    /// Next log stream id.
    next_stream: AtomicU32,
}

impl Running {
    /// Starts the engine and the REST server. Never fails: a part that cannot start is recorded with its reason.
    pub async fn start() -> Running {
        // `CRANE_DATA_DIR` when set (GUI tests use a temporary one), else the platform data directory + `crane`;
        // `cranectl` uses the same rule, so it finds this engine's REST API through `<data_dir>/api.json`.
        let data_dir = crane_engine::default_data_dir();
        tracing::info!(data_dir = %data_dir.display(), "starting the engine");
        let engine = EngineHandle::start(EngineConfig::new(data_dir)).await.map_err(|e| e.to_api());
        let (api, api_error) = match &engine {
            Ok(engine) => match start_api(engine.clone()).await {
                Ok(server) => (Some(server), None),
                Err(e) => (None, Some(e)),
            },
            Err(e) => (None, Some(e.clone())),
        };
        if let Err(e) = &engine {
            tracing::error!(message = %e.message, "the engine did not start");
        }
        // The window acts as the engine's admin (it runs as the user who owns the data directory).
        let engine = engine.map(|e| e.as_caller(crane_engine::Caller::admin(crane_api::Door::Window)));
        Running {
            engine,
            api: Mutex::new(api),
            api_error,
            log_streams: Mutex::new(HashMap::new()),
            next_stream: AtomicU32::new(1),
        }
    }

    /// The engine, when it started.
    pub fn engine(&self) -> Option<&EngineHandle> {
        self.engine.as_ref().ok()
    }

    /// The engine, or the reason it did not start as the error every command returns.
    pub fn engine_or_err(&self) -> Result<&EngineHandle, ApiError> {
        self.engine.as_ref().map_err(Clone::clone)
    }

    /// The REST API token as it is now (after any rotation), or why the REST server is not running.
    pub fn api_token(&self) -> Result<String, ApiError> {
        match self.api.lock().expect("api slot poisoned").as_ref() {
            Some(server) => Ok(server.current_token()),
            None => Err(self.api_not_running()),
        }
    }

    /// Replaces the REST API token the way `POST /api/v1/token/rotate` does, as the window's admin; the answer names
    /// the file that holds the new token.
    pub async fn rotate_token(&self) -> Result<crane_api::TokenRotated, ApiError> {
        let engine = self.engine_or_err()?.clone();
        let rotator = self.api.lock().expect("api slot poisoned").as_ref().map(crane_rest::ApiServer::token_rotator);
        rotator.ok_or_else(|| self.api_not_running())?.rotate(&engine).await
    }

    /// The Alertmanager webhook receiver's URL and token (admins), as `GET /api/v1/alerts/webhook/info` answers.
    pub async fn webhook_info(&self, rotate: bool) -> Result<crane_api::WebhookInfo, ApiError> {
        let engine = self.engine_or_err()?.clone();
        let webhook = self.api.lock().expect("api slot poisoned").as_ref().map(crane_rest::ApiServer::webhook);
        let webhook = webhook.ok_or_else(|| self.api_not_running())?;
        if rotate {
            webhook.rotate(&engine).await
        } else {
            webhook.info(&engine).await
        }
    }

    /// Why there is no REST server.
    fn api_not_running(&self) -> ApiError {
        self.api_error.clone().unwrap_or_else(|| ApiError {
            code: ErrorCode::EngineStopped,
            message: "the REST API is not running (Crane is shutting down)".to_string(),
            diagnostics: Vec::new(),
        })
    }

    /// Registers a running log stream and returns its id.
    pub fn add_log_stream(&self, task: tauri::async_runtime::JoinHandle<()>) -> u32 {
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        self.log_streams.lock().expect("log stream table poisoned").insert(id, task);
        id
    }

    /// Stops a log stream (no-op when it already ended).
    pub fn stop_log_stream(&self, id: u32) {
        if let Some(task) = self.log_streams.lock().expect("log stream table poisoned").remove(&id) {
            task.abort();
        }
    }

    /// Stops log streams, the REST server and the engine, in that order.
    pub async fn shutdown(&self) {
        for (_, task) in self.log_streams.lock().expect("log stream table poisoned").drain() {
            task.abort();
        }
        let api = self.api.lock().expect("api slot poisoned").take();
        if let Some(api) = api {
            api.shutdown().await;
        }
        if let Ok(engine) = &self.engine {
            engine.shutdown().await;
        }
    }
}

/// Starts the REST server on `CRANE_API_LISTEN` (default loopback, free port) and tells the engine its URL.
async fn start_api(engine: EngineHandle) -> Result<crane_rest::ApiServer, ApiError> {
    let listen = std::env::var("CRANE_API_LISTEN").unwrap_or_else(|_| DEFAULT_API_LISTEN.to_string());
    let listen: SocketAddr = listen.parse().map_err(|e| ApiError {
        code: ErrorCode::BadRequest,
        message: format!("CRANE_API_LISTEN={listen:?} is not an address ({e}); use e.g. 127.0.0.1:7070"),
        diagnostics: Vec::new(),
    })?;
    match crane_rest::start(engine.clone(), listen).await {
        Ok(server) => {
            engine.set_api_url(server.url.clone());
            Ok(server)
        }
        Err(e) => {
            tracing::error!(error = %e, "the REST API did not start");
            Err(ApiError {
                code: ErrorCode::Internal,
                message: format!(
                    "the REST API could not listen on {listen}: {e}; set CRANE_API_LISTEN to a free address"
                ),
                diagnostics: Vec::new(),
            })
        }
    }
}

/// Forwards every engine change to the window as [`CHANGE_EVENT`]. When the window falls behind, it is told that
/// apps changed, which makes it refetch everything it shows.
pub fn forward_changes(app: AppHandle, mut changes: broadcast::Receiver<ChangeView>) {
    tauri::async_runtime::spawn(async move {
        loop {
            let change = match changes.recv().await {
                Ok(change) => change,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "window lagged behind engine changes");
                    ChangeView::Apps
                }
                Err(broadcast::error::RecvError::Closed) => break,
            };
            if let Err(e) = app.emit(CHANGE_EVENT, &change) {
                tracing::warn!(error = %e, "could not send a change to the window");
            }
        }
    });
}

/// Ends the app the normal way (running the `Exit` shutdown) on SIGTERM or SIGINT, e.g. from a session manager or
/// Ctrl-C in the terminal that started it.
pub fn exit_on_signal(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
                tracing::warn!("cannot listen for SIGTERM/SIGINT; they will end Crane without a clean shutdown");
                return;
            };
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
        }
        app.exit(0);
    });
}
