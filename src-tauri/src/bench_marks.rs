//! Marks for `crane-bench window` (`crates/crane-bench/src/window.rs`): with `CRANE_BENCH_MARKS=<file>` the window
//! appends one JSON line to that file when it becomes interactive, and one line of its own counters
//! (`window.__craneStats`) every second after; without the variable nothing is written and the window's one call
//! ([`bench_mark`]) answers null, after which the window stops calling.
//!
//! Why marks and not WebDriver (as `tests/gui.rs` drives the window): the bench times the `crane` process it
//! spawned itself, from `spawn` to the mark. Under tauri-driver the app is started by WebKitWebDriver after a
//! session handshake, in automation mode, with the driver's processes beside it, so the measured start and the
//! process tree whose memory is summed would not be the app a user starts. The window already counts its own work
//! (`lib/store.js` `stats`); a line a second gives the bench those counters without a driver.
//!
//! "Interactive" is the window's own `document.body.dataset.ready = "true"` (what the GUI tests wait for): every
//! input handler attached, the engine's change events subscribed, the first fetch of live data done (apps, status,
//! events, alerts, demo image) and the routed view rendered from it; the window then waits two animation frames (the
//! view painted) and calls [`bench_mark`]. The mark's time is when the backend received that call.
//!
//! `CRANE_BENCH_ROUTE` (a hash route such as `#/scaling/web`) makes the window go there right after the interactive
//! mark, so the bench can watch a view's work without driving the window; the startup is measured on the view the
//! window opens by itself (Home).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crane_api::{ApiError, ErrorCode};
use crane_core::text::truncate;
use serde::{Deserialize, Serialize};
use tauri::State;

/// The variable naming the marks file.
pub const MARKS_ENV: &str = "CRANE_BENCH_MARKS";
/// The variable naming the route the window goes to after its interactive mark.
pub const ROUTE_ENV: &str = "CRANE_BENCH_ROUTE";
/// Longest route taken from [`ROUTE_ENV`]; longer ones are ignored.
const MAX_ROUTE_LEN: usize = 200;
/// Longest text field of a mark that is written (longer ones are cut).
const MAX_TEXT_LEN: usize = 100;

/// Which mark the window sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum BenchMarkKind {
    /// Once: the first view rendered from live data, input handlers attached, painted.
    Interactive,
    /// Every second after: the window's counters.
    Stats,
}

impl BenchMarkKind {
    /// The word in the marks file.
    fn word(self) -> &'static str {
        match self {
            BenchMarkKind::Interactive => "interactive",
            BenchMarkKind::Stats => "stats",
        }
    }
}

/// What the window reports: its counters (`window.__craneStats`) and what it shows.
#[derive(Debug, Clone, Deserialize, specta::Type)]
pub struct BenchMark {
    /// Which mark.
    pub kind: BenchMarkKind,
    /// The window's clock (`Date.now()`, ms since the Unix epoch) when the mark was taken.
    pub window_ms: f64,
    /// Coalesced refreshes run so far (`stats.refreshes` of `ui/lib/store.js`).
    pub refreshes: u32,
    /// Engine change events received so far (`stats.changes`).
    pub changes: u32,
    /// Progress changes received so far (`stats.progress`: a load run's or a build's).
    pub progress: u32,
    /// Chart-set redraws so far (`stats.charts`).
    pub charts: u32,
    /// The view shown (`home`, `scaling`, …).
    pub view: String,
    /// The app the App or Scaling view shows, if one.
    pub shown_app: Option<String>,
}

/// The answer to a mark while marks are recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct BenchSession {
    /// Where the window goes now (only in the answer to the interactive mark, when `CRANE_BENCH_ROUTE` is set).
    pub route: Option<String>,
}

/// One line of the marks file: the mark and when the backend received it (what `crane-bench window` reads).
#[derive(Serialize)]
struct Line<'a> {
    /// Milliseconds since the Unix epoch when the backend received the mark.
    unix_ms: u64,
    /// `interactive` or `stats`.
    kind: &'static str,
    /// The mark's fields, text cut to [`MAX_TEXT_LEN`].
    window_ms: f64,
    refreshes: u32,
    changes: u32,
    progress: u32,
    charts: u32,
    view: &'a str,
    shown_app: Option<&'a str>,
}

/// The marks recorder, managed as Tauri state.
#[derive(Debug)]
pub struct BenchMarks {
    /// The marks file; `None`: marks are off.
    file: Option<PathBuf>,
    /// The route for the window after its interactive mark.
    route: Option<String>,
    /// Whether the interactive mark was written (it is written once).
    interactive_written: AtomicBool,
    /// Serializes appends so lines never interleave.
    write: Mutex<()>,
}

impl BenchMarks {
    /// From `CRANE_BENCH_MARKS` and `CRANE_BENCH_ROUTE`.
    pub fn from_env() -> BenchMarks {
        BenchMarks::new(std::env::var_os(MARKS_ENV).map(PathBuf::from), std::env::var(ROUTE_ENV).ok())
    }

    /// Marks to `file` (`None` or an empty path: off); `route` is kept only when it is a hash route (`#/…`) of at
    /// most 200 characters.
    pub fn new(file: Option<PathBuf>, route: Option<String>) -> BenchMarks {
        let file = file.filter(|f| !f.as_os_str().is_empty());
        let route = route.filter(|r| {
            let ok = r.starts_with("#/") && r.len() <= MAX_ROUTE_LEN;
            if !ok && file.is_some() {
                tracing::warn!(route = %r, "{ROUTE_ENV} is not a hash route like #/scaling/web; ignored");
            }
            ok
        });
        BenchMarks { file, route, interactive_written: AtomicBool::new(false), write: Mutex::new(()) }
    }

    /// Appends `mark` (received at `unix_ms`) to the marks file. `Ok(None)` when marks are off (nothing written);
    /// a second interactive mark is not written again (and carries no route).
    pub fn record(&self, mark: &BenchMark, unix_ms: u64) -> std::io::Result<Option<BenchSession>> {
        let Some(file) = &self.file else { return Ok(None) };
        let first_interactive =
            mark.kind == BenchMarkKind::Interactive && !self.interactive_written.swap(true, Ordering::SeqCst);
        if mark.kind == BenchMarkKind::Interactive && !first_interactive {
            return Ok(Some(BenchSession { route: None }));
        }
        let line = Line {
            unix_ms,
            kind: mark.kind.word(),
            window_ms: mark.window_ms,
            refreshes: mark.refreshes,
            changes: mark.changes,
            progress: mark.progress,
            charts: mark.charts,
            view: truncate(&mark.view, MAX_TEXT_LEN),
            shown_app: mark.shown_app.as_deref().map(|a| truncate(a, MAX_TEXT_LEN)),
        };
        let mut line = serde_json::to_string(&line).map_err(std::io::Error::other)?;
        line.push('\n');
        let _one_writer = self.write.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // One write of the whole line on a file opened for appending: a reader never sees half a line.
        std::fs::OpenOptions::new().create(true).append(true).open(file)?.write_all(line.as_bytes())?;
        Ok(Some(BenchSession { route: if first_interactive { self.route.clone() } else { None } }))
    }
}

/// Milliseconds since the Unix epoch now.
fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Records a benchmark mark of the window (only when Crane was started with `CRANE_BENCH_MARKS`; otherwise answers
/// null and writes nothing). See `crane-bench window`.
#[tauri::command]
#[specta::specta]
pub async fn bench_mark(marks: State<'_, BenchMarks>, mark: BenchMark) -> Result<Option<BenchSession>, ApiError> {
    marks.record(&mark, unix_ms()).map_err(|e| ApiError {
        code: ErrorCode::Internal,
        message: format!("cannot append to the {MARKS_ENV} file: {e}"),
        diagnostics: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(kind: BenchMarkKind, refreshes: u32) -> BenchMark {
        BenchMark {
            kind,
            window_ms: 1.7e12,
            refreshes,
            changes: refreshes * 3,
            progress: refreshes * 5,
            charts: refreshes * 7,
            view: "home".into(),
            shown_app: None,
        }
    }

    fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn off_without_a_file_writes_nothing_and_answers_none() {
        for file in [None, Some(PathBuf::new())] {
            let marks = BenchMarks::new(file, Some("#/settings".into()));
            assert_eq!(marks.record(&mark(BenchMarkKind::Interactive, 1), 5).unwrap(), None);
            assert_eq!(marks.record(&mark(BenchMarkKind::Stats, 2), 6).unwrap(), None);
        }
    }

    #[test]
    fn the_interactive_mark_is_written_once_with_the_route_then_stats_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("marks.jsonl");
        let marks = BenchMarks::new(Some(file.clone()), Some("#/scaling/web".into()));
        let first = marks.record(&mark(BenchMarkKind::Interactive, 1), 1000).unwrap();
        assert_eq!(first, Some(BenchSession { route: Some("#/scaling/web".into()) }));
        let again = marks.record(&mark(BenchMarkKind::Interactive, 2), 1001).unwrap();
        assert_eq!(again, Some(BenchSession { route: None }), "a second interactive mark carries no route");
        let stats = marks.record(&mark(BenchMarkKind::Stats, 4), 2000).unwrap();
        assert_eq!(stats, Some(BenchSession { route: None }));
        let written = lines(&file);
        let kinds: Vec<&str> = written.iter().map(|l| l["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["interactive", "stats"]);
        assert_eq!(written[0]["unix_ms"], 1000);
        assert_eq!(written[0]["refreshes"], 1);
        assert_eq!(written[1]["changes"], 12);
        assert_eq!(written[1]["progress"], 20);
        assert_eq!(written[1]["charts"], 28);
        assert_eq!(written[1]["view"], "home");
        assert!(written[1]["shown_app"].is_null());
    }

    #[test]
    fn a_route_that_is_not_a_hash_route_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        for route in ["scaling/web", "javascript:alert(1)", &format!("#/{}", "a".repeat(300))] {
            let marks = BenchMarks::new(Some(dir.path().join("m.jsonl")), Some(route.to_string()));
            let session = marks.record(&mark(BenchMarkKind::Interactive, 1), 1).unwrap();
            assert_eq!(session, Some(BenchSession { route: None }), "{route}");
        }
    }

    #[test]
    fn long_text_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("marks.jsonl");
        let marks = BenchMarks::new(Some(file.clone()), None);
        let mut long = mark(BenchMarkKind::Stats, 1);
        long.view = "v".repeat(1000);
        long.shown_app = Some("é".repeat(1000));
        marks.record(&long, 1).unwrap();
        let line = &lines(&file)[0];
        assert!(line["view"].as_str().unwrap().len() <= MAX_TEXT_LEN);
        assert!(line["shown_app"].as_str().unwrap().len() <= MAX_TEXT_LEN);
    }

    #[test]
    fn an_unwritable_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let marks = BenchMarks::new(Some(dir.path().join("missing-dir").join("marks.jsonl")), None);
        assert!(marks.record(&mark(BenchMarkKind::Interactive, 1), 1).is_err());
    }
}
