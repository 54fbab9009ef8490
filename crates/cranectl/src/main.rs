//! `cranectl`: Crane from the command line. Client commands talk to a running engine (the desktop app or
//! `cranectl serve`) over its REST API, found through `<data_dir>/api.json` and `<data_dir>/token`; `serve` runs an
//! engine in this process.
//!
//! Exit codes: 0 success, 1 failure (the reason on stderr), 2 usage error.

mod client;
mod error;
mod output;
mod serve;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use crane_api::{ChangeView, LogLineView};
use futures_util::StreamExt;

use crate::client::Client;
use crate::error::{CliError, Result};
use crate::output::Format;

const ABOUT: &str = "Run apps on the local Docker engine through Crane";

const EXAMPLES: &str = "\
Examples:
  cranectl serve                      # run an engine here (or start the desktop app)
  cranectl demo-image                 # build the offline demo image
  cranectl apply -f web.yaml          # create or update the app described in web.yaml
  cranectl get apps                   # list apps
  cranectl describe app web           # one app, its instances and recent events
  cranectl scale web 3
  cranectl logs web -f
  cranectl delete web";

/// Command line.
#[derive(Debug, Parser)]
#[command(name = "cranectl", version, about = ABOUT, after_help = EXAMPLES, propagate_version = true)]
struct Cli {
    /// Crane data directory: where the running engine keeps api.json and token.
    #[arg(long, global = true, env = "CRANE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Output format of commands that print resources (get, describe, status, apply, scale).
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value = "table", value_name = "FORMAT")]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an app from a spec, or update it to match the spec.
    #[command(after_help = "Examples:\n  cranectl apply -f web.yaml\n  cat web.yaml | cranectl apply -f -")]
    Apply(SpecArgs),
    /// Create an app from a spec; fails if it exists already.
    #[command(after_help = "Example:\n  cranectl create -f web.yaml")]
    Create(SpecArgs),
    /// List apps, one app, instances or events.
    #[command(
        after_help = "Examples:\n  cranectl get apps\n  cranectl get app web -o yaml\n  cranectl get instances web\n  \
                      cranectl get events --app web --limit 20"
    )]
    Get {
        #[command(subcommand)]
        what: GetWhat,
    },
    /// Show one app in detail: settings, instances and its latest events.
    #[command(after_help = "Example:\n  cranectl describe app web")]
    Describe {
        #[command(subcommand)]
        what: DescribeWhat,
    },
    /// Change the number of replicas of an app.
    #[command(after_help = "Example:\n  cranectl scale web 3")]
    Scale {
        /// App name.
        app: String,
        /// New replica count.
        replicas: u32,
    },
    /// Delete an app with its containers, network and volumes.
    #[command(after_help = "Example:\n  cranectl delete web")]
    Delete {
        /// App name.
        app: String,
    },
    /// Print the logs of every instance of an app.
    #[command(after_help = "Examples:\n  cranectl logs web --tail 20\n  cranectl logs web -f")]
    Logs {
        /// App name.
        app: String,
        /// Keep printing new lines until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines (of all instances together).
        #[arg(long, value_name = "N")]
        tail: Option<u32>,
        /// Print only the text, without the `instance |` prefix.
        #[arg(long)]
        no_prefix: bool,
    },
    /// Build the offline demo image (crane-demo), showing progress.
    #[command(after_help = "Example:\n  cranectl demo-image")]
    DemoImage,
    /// Show the engine's status: version, Docker, API address, data directory.
    #[command(after_help = "Example:\n  cranectl status")]
    Status,
    /// Run a Crane engine and its REST API in this process until Ctrl-C or SIGTERM.
    #[command(
        after_help = "Examples:\n  cranectl serve\n  cranectl serve --listen 127.0.0.1:7600 --data-dir /tmp/crane\n\n\
                      Stopping leaves the apps' containers running; the next engine on the same data dir adopts them."
    )]
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR:PORT")]
        listen: SocketAddr,
        /// Accept a non-loopback --listen address (anyone with the token then controls your Docker engine).
        #[arg(long)]
        allow_remote: bool,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  cranectl completion bash > ~/.local/share/bash-completion/completions/cranectl\n  \
                      cranectl completion zsh > \"${fpath[1]}/_cranectl\""
    )]
    Completion {
        /// Shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, clap::Args)]
struct SpecArgs {
    /// Spec file (YAML or JSON); `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, Subcommand)]
enum GetWhat {
    /// All apps.
    Apps,
    /// One app.
    App {
        /// App name.
        name: String,
    },
    /// The instances of an app.
    Instances {
        /// App name.
        app: String,
    },
    /// The event log, newest first.
    Events {
        /// Only events of this app.
        #[arg(long)]
        app: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
enum DescribeWhat {
    /// One app with its instances and last events.
    App {
        /// App name.
        name: String,
    },
}

fn main() -> ExitCode {
    // Usage errors exit 2 and --help/--version exit 0, both inside clap.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) | Err(CliError::OutputClosed) => ExitCode::SUCCESS,
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            for line in err.report() {
                let _ = writeln!(stderr, "{line}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let data_dir = cli.data_dir.clone().unwrap_or_else(crane_engine::default_data_dir);
    let format = cli.output;
    let now = chrono::Utc::now();
    match cli.command {
        Command::Completion { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "cranectl", &mut script);
            emit(&String::from_utf8_lossy(&script))
        }
        Command::Serve { listen, allow_remote } => serve::serve(data_dir, listen, allow_remote).await,
        Command::Apply(spec) => apply(&Client::discover(&data_dir)?, &spec, false, format).await,
        Command::Create(spec) => apply(&Client::discover(&data_dir)?, &spec, true, format).await,
        Command::Get { what } => {
            let client = Client::discover(&data_dir)?;
            let text = match what {
                GetWhat::Apps => {
                    let apps = client.list_apps().await?;
                    output::render(format, &apps, || output::apps_table(&apps, now))?
                }
                GetWhat::App { name } => {
                    let app = client.get_app(&name).await?;
                    output::render(format, &app, || output::apps_table(std::slice::from_ref(&app), now))?
                }
                GetWhat::Instances { app } => {
                    let app = client.get_app(&app).await?;
                    output::render(format, &app.instances, || output::instances_table(&app.instances))?
                }
                GetWhat::Events { app, limit } => {
                    let events = client.events(app.as_deref(), limit).await?;
                    output::render(format, &events, || output::events_table(&events, now))?
                }
            };
            emit(&text)
        }
        Command::Describe { what: DescribeWhat::App { name } } => {
            let client = Client::discover(&data_dir)?;
            let app = client.get_app(&name).await?;
            let events = client.events(Some(&name), 10).await?;
            let value = serde_json::json!({ "app": app, "events": events });
            emit(&output::render(format, &value, || output::describe_app(&app, &events, now))?)
        }
        Command::Scale { app, replicas } => {
            let view = Client::discover(&data_dir)?.scale(&app, replicas).await?;
            emit(&output::render(format, &view, || format!("app/{} scaled to {replicas}\n", view.name))?)
        }
        Command::Delete { app } => {
            Client::discover(&data_dir)?.delete(&app).await?;
            emit(&format!("app/{app} deleted\n"))
        }
        Command::Logs { app, follow, tail, no_prefix } => {
            logs(&Client::discover(&data_dir)?, &app, follow, tail, !no_prefix).await
        }
        Command::DemoImage => demo_image(&Client::discover(&data_dir)?, format).await,
        Command::Status => {
            let status = Client::discover(&data_dir)?.status().await?;
            emit(&output::render(format, &status, || output::status_text(&status))?)
        }
    }
}

/// Writes to stdout; a closed pipe ends the command quietly instead of panicking like `print!`.
pub(crate) fn emit(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::OutputClosed),
        Err(err) => Err(CliError::Serve(format!("cannot write to standard output: {err}"))),
    }
}

async fn apply(client: &Client, spec: &SpecArgs, create_only: bool, format: Format) -> Result<()> {
    let (name, yaml) = read_spec(&spec.file)?;
    let result = client.apply(yaml, create_only).await.map_err(|err| match err {
        CliError::Api { error, .. } => CliError::Api { error, source_name: Some(name.clone()) },
        other => other,
    })?;
    let mut stderr = std::io::stderr().lock();
    for warning in &result.warnings {
        let _ = writeln!(stderr, "Warning: {warning}");
    }
    drop(stderr);
    let verb = match result.action.as_str() {
        "created" => "created",
        "unchanged" => "unchanged",
        _ => "configured",
    };
    emit(&output::render(format, &result, || format!("app/{} {verb}\n", result.app.name))?)
}

/// The spec text and the name diagnostics should use for it.
fn read_spec(file: &PathBuf) -> Result<(String, String)> {
    if file.as_os_str() == "-" {
        let mut yaml = String::new();
        std::io::stdin()
            .read_to_string(&mut yaml)
            .map_err(|source| CliError::Input { name: "<stdin>".into(), source })?;
        return Ok(("<stdin>".into(), yaml));
    }
    let name = file.display().to_string();
    let yaml = std::fs::read_to_string(file).map_err(|source| CliError::Input { name: name.clone(), source })?;
    Ok((name, yaml))
}

async fn logs(client: &Client, app: &str, follow: bool, tail: Option<u32>, prefix: bool) -> Result<()> {
    let response = client.logs(app, follow, tail).await?;
    let mut body = response.bytes_stream();
    let mut pending: Vec<u8> = Vec::new();
    let print = |raw: &[u8]| -> Result<()> {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        match serde_json::from_slice::<LogLineView>(raw) {
            Ok(line) if prefix => emit(&format!("{} | {}\n", line.instance, line.line.trim_end_matches('\n'))),
            Ok(line) => emit(&format!("{}\n", line.line.trim_end_matches('\n'))),
            // Not ours to judge: show what came.
            Err(_) => emit(&format!("{}\n", String::from_utf8_lossy(raw))),
        }
    };
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| client.stream_error(e))?;
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            print(&line[..end])?;
        }
    }
    print(&pending)
}

async fn demo_image(client: &Client, format: Format) -> Result<()> {
    // Subscribe first: once /watch has answered, no progress sent after that is missed.
    let watch = client.watch().await?;
    let progress = tokio::spawn(print_progress(watch));
    let built = client.build_demo_image().await;
    // The last progress messages may arrive just after the answer; give them a moment.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), progress).await;
    let image = built?;
    emit(&output::render(format, &serde_json::json!({ "image": image }), || format!("image {image} is ready\n"))?)
}

/// Prints `demo-image` progress from a `/watch` stream on stderr until the operation is done.
async fn print_progress(watch: reqwest::Response) {
    let mut body = watch.bytes_stream();
    let mut pending = String::new();
    while let Some(Ok(chunk)) = body.next().await {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            let Some(data) = line.trim_end().strip_prefix("data:") else { continue };
            let Ok(ChangeView::Progress { progress }) = serde_json::from_str::<ChangeView>(data.trim()) else {
                continue;
            };
            if progress.operation != "demo-image" {
                continue;
            }
            let percent = progress.fraction.map(|f| format!("[{:>3.0}%] ", f * 100.0)).unwrap_or_default();
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "{percent}{}", progress.message.trim_end());
            if let Some(error) = &progress.error {
                let _ = writeln!(stderr, "error: {error}");
            }
            if progress.done {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_kubectl_style() {
        let cli = Cli::try_parse_from(["cranectl", "get", "apps", "-o", "json"]).unwrap();
        assert_eq!(cli.output, Format::Json);
        assert!(matches!(cli.command, Command::Get { what: GetWhat::Apps }));
        let cli = Cli::try_parse_from(["cranectl", "logs", "web", "-f", "--tail", "5"]).unwrap();
        assert!(matches!(cli.command, Command::Logs { follow: true, tail: Some(5), .. }));
        assert!(Cli::try_parse_from(["cranectl", "scale", "web", "many"]).is_err());
    }
}
