//! `cranectl serve`: an engine and its REST API in this process, for machines without the desktop app (servers,
//! CI, tests). Runs until Ctrl-C or SIGTERM, then stops cleanly; containers keep running and the next engine on the
//! same data directory adopts them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crane_engine::{EngineConfig, EngineHandle};

use crate::error::{CliError, Result};

/// Runs the engine and the API until a stop signal.
pub async fn serve(data_dir: PathBuf, listen: SocketAddr, allow_remote: bool) -> Result<()> {
    init_tracing();
    refuse_second_engine(&data_dir).await?;
    let handle = EngineHandle::start(EngineConfig::new(data_dir.clone()))
        .await
        .map_err(|e| CliError::Serve(format!("cannot start the engine for data dir {}: {e}", data_dir.display())))?;
    let server = match crane_rest::start_with(handle.clone(), listen, allow_remote).await {
        Ok(server) => server,
        Err(err) => {
            handle.shutdown().await;
            return Err(CliError::Serve(err.to_string()));
        }
    };
    crate::emit(&format!(
        "Crane API listening on {} (token in {})\n",
        server.url,
        data_dir.join(crane_rest::TOKEN_FILE).display()
    ))?;
    let signal = stop_signal().await;
    tracing::info!("{signal}: stopping; containers keep running and are adopted by the next engine");
    server.shutdown().await;
    handle.shutdown().await;
    Ok(())
}

/// Two engines on one data directory would fight over the same apps: refuse when one already answers there.
async fn refuse_second_engine(data_dir: &Path) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(data_dir.join(crane_rest::API_FILE)) else {
        return Ok(());
    };
    let Some(url) =
        serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["url"].as_str().map(str::to_owned))
    else {
        return Ok(());
    };
    let Ok(http) = reqwest::Client::builder().timeout(Duration::from_secs(2)).build() else {
        return Ok(());
    };
    // A stale api.json (the engine was killed) names an address where nothing answers; that is fine.
    if http.get(format!("{url}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
        return Err(CliError::Serve(format!(
            "a Crane engine is already running for data dir {} at {url}; use it (cranectl talks to it), stop it, \
             or pass another --data-dir",
            data_dir.display()
        )));
    }
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM; returns which.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupted",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "interrupted"
}

/// Logs go to stderr (stdout carries the listening line); `RUST_LOG` overrides the level.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,crane_engine=info,crane_rest=info,crane_docker=info,cranectl=info")
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}
