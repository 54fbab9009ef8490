//! Crane's desktop window: a Tauri 2 shell over the engine.
//!
//! On start the app opens the engine on the data directory (`CRANE_DATA_DIR`, else the platform data directory
//! plus `crane`), starts the REST API on `CRANE_API_LISTEN` (default `127.0.0.1:0`, recorded in
//! `<data_dir>/api.json` so `cranectl` finds it), and forwards every engine change to the window as the Tauri event
//! `crane://change`. The window (plain ES modules in `ui/`, no build step) calls the commands in [`commands`]
//! through the generated bindings in `ui/bindings.js`.
//!
//! **Architecture Invariant:** this crate is a shell. Every command is a thin wrapper over one
//! [`crane_engine::EngineHandle`] method and returns the shared wire types of `crane-api`; no behaviour lives here
//! that the REST API and `cranectl` do not also get from the engine.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod bench_marks;
mod commands;
mod experiment_commands;
mod lab_commands;
mod runtime;
mod scan_commands;

use tauri::{Manager, RunEvent};

/// What `crane --help` prints.
const HELP: &str = "\
crane: Crane's desktop window (run apps on the local Docker engine)

Usage: crane [--version | --help]

Started without arguments, it opens the window (a display is needed; without one, try `xvfb-run -a crane`).

Environment:
  CRANE_DATA_DIR     the engine's data directory (default ~/.local/share/crane)
  CRANE_API_LISTEN   where the REST API listens (default 127.0.0.1:0; cranectl finds it through api.json)
";

/// Answers `--version` and `--help` before anything else starts: they need no display, no engine and no Docker
/// (the package test runs the installed binary this way). Other arguments are left to Tauri.
fn answer_info_flags() -> bool {
    match std::env::args().nth(1).as_deref() {
        Some("--version" | "-V") => {
            println!("crane {}", env!("CARGO_PKG_VERSION"));
            true
        }
        Some("--help" | "-h") => {
            print!("{HELP}");
            true
        }
        _ => false,
    }
}

fn main() {
    if answer_info_flags() {
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tao=warn,wry=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let specta = commands::specta_builder();
    let app = tauri::Builder::default()
        .invoke_handler(specta.invoke_handler())
        .setup(|app| {
            // The engine and the REST server run on Tauri's async runtime; `setup` waits for them so every
            // command finds them in place. A failure does not stop the window: it shows the error instead.
            let state = tauri::async_runtime::block_on(runtime::Running::start());
            if let Some(engine) = state.engine() {
                runtime::forward_changes(app.handle().clone(), engine.subscribe());
            }
            app.manage(state);
            // Off unless `CRANE_BENCH_MARKS` is set (see `bench_marks`).
            app.manage(bench_marks::BenchMarks::from_env());
            runtime::exit_on_signal(app.handle().clone());
            Ok(())
        })
        .build(tauri::generate_context!())
        .expect("Crane could not build its window; is a display available (run under xvfb-run -a without one)?");

    app.run(|handle, event| {
        if let RunEvent::Exit = event {
            // Stop the REST server first so no request reaches an engine that is shutting down; containers keep
            // running and are adopted on the next start.
            let state = handle.state::<runtime::Running>();
            tauri::async_runtime::block_on(state.shutdown());
        }
    });
}
