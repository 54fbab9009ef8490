//! `cranectl load`: starts the engine's load generator against an app, follows the run (a progress line about every
//! second on stderr, from `GET /apps/{name}/load`) and prints its report on stdout. Ctrl-C stops the run in the
//! engine before `cranectl` exits, so an interrupted command never leaves load running behind the user's back.

use std::time::{Duration, Instant};

use crane_api::{LoadRequest, LoadView};

use crate::client::Client;
use crate::error::{CliError, Result};
use crate::output::{self, Format};

/// How often the run is polled; progress is printed at most once per [`PRINT_EVERY`].
const POLL: Duration = Duration::from_millis(250);
/// Time between two progress lines.
const PRINT_EVERY: Duration = Duration::from_secs(1);
/// How long to wait for a stopped run to end (the engine cancels in-flight requests quickly).
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Parses `--duration` (`60s`, `2m`, `1m30s`, `1.5h`, `500ms`) with Crane's one duration parser, so the CLI accepts
/// exactly what a spec does.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    crane_core::units::parse_duration(text).map(|d| d.to_std())
}

/// Starts a run; with `detach` returns at once, else follows it to its end and prints the report.
pub async fn start(client: &Client, app: &str, request: &LoadRequest, detach: bool, format: Format) -> Result<()> {
    // Listen for Ctrl-C before the run exists, so no interrupt can leave it running unnoticed.
    let mut interrupt = Interrupt::listen();
    let started = client.start_load(app, request).await?;
    let shape = match request.ramp_to {
        Some(to) => format!("ramp {}→{to} req/s", request.rate),
        None => format!("{} req/s", request.rate),
    };
    let headline = format!("load/{app} started: {shape} for {}s against {}", request.duration_s, started.url);
    if detach {
        return crate::emit(&output::render(format, &started, || {
            format!(
                "{headline}\nfollow it with `cranectl describe app {app}`; stop it with `cranectl load {app} --stop`\n"
            )
        })?);
    }
    eprintln!("{headline} (Ctrl-C stops it)");
    let mut last_print = Instant::now();
    loop {
        tokio::select! {
            () = interrupt.wait() => {
                eprintln!("interrupted: stopping the load run against '{app}'");
                client.stop_load(app).await?;
                return report(app, &wait_for_end(client, app).await?, format);
            }
            () = tokio::time::sleep(POLL) => {
                let view = client.load_status(app).await?.ok_or_else(|| CliError::Serve(format!(
                    "the load run against '{app}' is gone (was the engine restarted?); see `cranectl get events --app {app}`"
                )))?;
                if !view.running {
                    return report(app, &view, format);
                }
                if last_print.elapsed() >= PRINT_EVERY {
                    eprintln!("{}", output::load_progress(&view));
                    last_print = Instant::now();
                }
            }
        }
    }
}

/// `load APP --stop`: stops the app's run and prints its report.
pub async fn stop(client: &Client, app: &str, format: Format) -> Result<()> {
    client.stop_load(app).await?;
    report(app, &wait_for_end(client, app).await?, format)
}

/// Polls until the run has ended (its report is then final).
async fn wait_for_end(client: &Client, app: &str) -> Result<LoadView> {
    let deadline = Instant::now() + STOP_GRACE;
    loop {
        let view = client
            .load_status(app)
            .await?
            .ok_or_else(|| CliError::Serve(format!("no load run against '{app}'; nothing to stop")))?;
        if !view.running {
            return Ok(view);
        }
        if Instant::now() >= deadline {
            return Err(CliError::Serve(format!(
                "the load run against '{app}' was asked to stop but still runs after {}s; try `cranectl load {app} \
                 --stop` again",
                STOP_GRACE.as_secs()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn report(app: &str, view: &LoadView, format: Format) -> Result<()> {
    crate::emit(&output::render(format, view, || output::load_report(app, view))?)
}

/// Ctrl-C, listened to from the moment [`Interrupt::listen`] is called (a signal that arrives before anyone waits is
/// kept, not lost).
pub(crate) struct Interrupt {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    pub(crate) fn listen() -> Interrupt {
        #[cfg(unix)]
        {
            Interrupt { signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok() }
        }
        #[cfg(not(unix))]
        {
            Interrupt {}
        }
    }

    /// Resolves on Ctrl-C; never when the signal cannot be listened to.
    pub(crate) async fn wait(&mut self) {
        #[cfg(unix)]
        match &mut self.signal {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let check =
            |text: &str, secs: f64| assert_eq!(parse_duration(text), Ok(Duration::from_secs_f64(secs)), "{text}");
        check("60s", 60.0);
        check("2m", 120.0);
        check("1m30s", 90.0);
        check("1.5h", 5400.0);
        check("500ms", 0.5);
        check(" 3s ", 3.0);
        let fails = |text: &str, why: &str| {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        };
        fails("60", "`60` in `60` has no unit; add one: ms, s, m or h");
        fails("1d", "`d` in `1d` is not a time unit");
        fails("", "the duration is empty");
        fails("s", "`s` does not start with a number");
        fails("1..2s", "`1..2` in `1..2s` is not a number");
    }
}
