//! `cranectl serve`: an engine and its REST API in this process, for machines without the desktop app (servers,
//! CI, tests). Runs until Ctrl-C or SIGTERM, then stops cleanly; containers keep running and the next engine on the
//! same data directory adopts them.

use std::net::SocketAddr;
use std::path::PathBuf;

use crane_engine::{EngineConfig, EngineHandle};

use crate::error::{CliError, Result};

/// Runs the engine and the API until a stop signal.
pub async fn serve(data_dir: PathBuf, listen: SocketAddr, allow_remote: bool) -> Result<()> {
    init_tracing();
    // A second engine on this data directory is refused by the engine's own lock (its message names the pid).
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
