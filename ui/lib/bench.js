// Marks for `crane-bench window` (src-tauri/src/bench_marks.rs). Once the window is interactive — input handlers
// attached, the first live data fetched and the routed view rendered from it (main.js sets body[data-ready]) — it
// waits two animation frames (the view painted) and tells the backend once. The backend records the mark only when
// Crane was started with CRANE_BENCH_MARKS; otherwise it answers null and nothing more happens here. While marks are
// recorded, the window's own counters (`stats` of lib/store.js) are reported every second, and the window goes to
// the route the bench asked for (CRANE_BENCH_ROUTE), so the bench reads a view's work under load without WebDriver.
import { commands } from "../bindings.js";
import { state, stats, appNamed } from "./store.js";

/** How often the counters are reported while marks are recorded. */
const STATS_EVERY_MS = 1000;

/** The app the App or Scaling view shows, if one. */
function shownApp() {
  const view = document.body.dataset.view;
  if (view !== "app" && view !== "scaling") return null;
  return state.selected && appNamed(state.selected) ? state.selected : null;
}

/** A mark of `kind` ("interactive" or "stats") with the counters as they are now. */
function mark(kind) {
  return {
    kind,
    window_ms: Date.now(),
    refreshes: stats.refreshes,
    changes: stats.changes,
    progress: stats.progress,
    charts: stats.charts,
    view: document.body.dataset.view ?? "",
    shown_app: shownApp(),
  };
}

const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

/** Reports the interactive mark once (call it right after the window became ready). */
export async function markInteractive() {
  await frame();
  await frame();
  let session;
  try {
    session = await commands.benchMark(mark("interactive"));
  } catch (e) {
    console.error("bench mark", e);
    return;
  }
  if (!session) return;
  if (session.route) location.hash = session.route;
  setInterval(() => {
    commands.benchMark(mark("stats")).catch((e) => console.error("bench mark", e));
  }, STATS_EVERY_MS);
}
