// The window's read model: what the engine last said (apps, status, events, active alerts, the demo image), and the
// one place that fetches it. Engine changes arrive as `crane://change` events; they only mark what is stale, and
// one coalesced refresh runs at most every REFRESH_MIN_MS, fetching only what was marked (one app by name when the
// change names it). Subscribers hear which parts changed (compared with what they had), so views redraw only
// what changed.
import { commands } from "../bindings.js";
import { errText } from "./dom.js";
import { showGlobalError } from "./toast.js";

/** At most this many refreshes a second: 4. */
export const REFRESH_MIN_MS = 250;
/** Events kept for the side panel. */
const EVENT_LIMIT = 60;

/** Everything the window shows, as last fetched. */
export const state = {
  /** @type {import("../bindings.js").AppView[]} sorted by name */
  apps: [],
  /** @type {import("../bindings.js").StatusView | null} */
  status: null,
  /** Why `status` could not be fetched, if so. */
  statusError: null,
  /** @type {import("../bindings.js").EventView[]} */
  events: [],
  /** Which app's events `events` are (null: all apps). */
  eventsApp: null,
  /** @type {import("../bindings.js").AlertView[]} */
  alerts: [],
  /** @type {import("../bindings.js").DemoImageView | null} */
  demo: null,
  /** When `apps` was fetched (uptimes are relative to it). */
  fetchedAt: Date.now(),
  /** The app a view shows (from the route), kept when another view is open. */
  selected: null,
};

/** The window's own measure of its work: coalesced refreshes run, change events handled by the store, progress
 * changes received (a running load or build reports several a second) and chart-set redraws (each fetches its
 * charts' SVGs). */
export const stats = { refreshes: 0, changes: 0, progress: 0, charts: 0, since: Date.now() };
window.__craneStats = stats;

const listeners = new Set();
/** Calls `fn(changed)` after every refresh that changed something: `changed` has `apps` (a Set of names, with
 * "*" when the list itself changed), and booleans `status`, `events`, `alerts`, `demo`. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** The app of this name as last fetched. */
export function appNamed(name) {
  return state.apps.find((a) => a.name === name) ?? null;
}

// What the next refresh fetches.
const pending = { list: false, apps: new Set(), status: false, events: false, alerts: false, demo: false };
let timer = 0;
let running = false;
let lastRun = 0;

/** Marks parts stale and schedules one refresh (coalesced; `now` skips the wait but not the in-flight one). */
export function invalidate(parts, now = false) {
  if (parts.list) pending.list = true;
  for (const a of parts.apps ?? []) pending.apps.add(a);
  if (parts.status) pending.status = true;
  if (parts.events) pending.events = true;
  if (parts.alerts) pending.alerts = true;
  if (parts.demo) pending.demo = true;
  schedule(now);
}

/** Everything, now (start, window focus, "Check again"). */
export function refreshAll() {
  invalidate({ list: true, status: true, events: true, alerts: true, demo: true }, true);
}

function schedule(now) {
  if (running) return; // the run in flight schedules again when it ends
  clearTimeout(timer);
  const wait = now ? 0 : Math.max(0, lastRun + REFRESH_MIN_MS - Date.now());
  timer = setTimeout(run, wait);
}

function hasPending() {
  return pending.list || pending.apps.size || pending.status || pending.events || pending.alerts || pending.demo;
}

async function run() {
  if (!hasPending()) return;
  running = true;
  lastRun = Date.now();
  stats.refreshes += 1;
  const todo = { ...pending, apps: new Set(pending.apps) };
  pending.list = pending.status = pending.events = pending.alerts = pending.demo = false;
  pending.apps.clear();
  const changed = { apps: new Set(), status: false, events: false, alerts: false, demo: false };
  try {
    await Promise.all([
      todo.list ? fetchList(changed) : fetchApps([...todo.apps], changed),
      todo.status ? fetchStatus(changed) : null,
      todo.events ? fetchEvents(changed) : null,
      todo.alerts ? fetchAlerts(changed) : null,
      todo.demo ? fetchDemo(changed) : null,
    ]);
  } finally {
    running = false;
    if (changed.apps.size || changed.status || changed.events || changed.alerts || changed.demo) {
      for (const fn of listeners) {
        try {
          fn(changed);
        } catch (e) {
          console.error(e);
        }
      }
    }
    if (hasPending()) schedule(false);
  }
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function fetchList(changed) {
  try {
    const apps = await commands.listApps();
    apps.sort((a, b) => a.name.localeCompare(b.name));
    const before = new Map(state.apps.map((a) => [a.name, a]));
    if (apps.length !== state.apps.length || apps.some((a, i) => state.apps[i]?.name !== a.name)) changed.apps.add("*");
    for (const a of apps) if (!same(before.get(a.name), a)) changed.apps.add(a.name);
    state.apps = apps;
    state.fetchedAt = Date.now();
    showGlobalError("");
  } catch (e) {
    showGlobalError(`Could not list apps: ${errText(e)}`);
  }
}

async function fetchApps(names, changed) {
  for (const name of names) {
    try {
      const app = await commands.getApp(name);
      const i = state.apps.findIndex((a) => a.name === name);
      if (i < 0) {
        state.apps = [...state.apps, app].sort((a, b) => a.name.localeCompare(b.name));
        changed.apps.add("*");
        changed.apps.add(name);
      } else if (!same(state.apps[i], app)) {
        state.apps = state.apps.map((a) => (a.name === name ? app : a));
        changed.apps.add(name);
      }
      state.fetchedAt = Date.now();
    } catch (e) {
      if (e && e.code === "not_found" && appNamed(name)) {
        state.apps = state.apps.filter((a) => a.name !== name);
        changed.apps.add("*");
        changed.apps.add(name);
      }
    }
  }
}

async function fetchStatus(changed) {
  try {
    const s = await commands.status();
    if (!same(s, state.status) || state.statusError) changed.status = true;
    state.status = s;
    state.statusError = null;
  } catch (e) {
    state.statusError = errText(e);
    changed.status = true;
  }
}

async function fetchEvents(changed) {
  const app = state.eventsApp;
  try {
    const events = await commands.events(app, EVENT_LIMIT);
    if (state.eventsApp !== app) return;
    if (!same(events, state.events)) {
      state.events = events;
      changed.events = true;
    }
  } catch {
    // The panel keeps what it showed; the next change tries again.
  }
}

async function fetchAlerts(changed) {
  try {
    const alerts = await commands.activeAlerts();
    if (!same(alerts, state.alerts)) {
      state.alerts = alerts;
      changed.alerts = true;
    }
  } catch {
    // Alerts need the evaluator; without it the count stays as it was.
  }
}

async function fetchDemo(changed) {
  try {
    const demo = await commands.demoImage();
    if (!same(demo, state.demo)) {
      state.demo = demo;
      changed.demo = true;
    }
  } catch {
    // The engine is not running: the status banner says so.
  }
}

/** Turns one `crane://change` into what is stale (progress changes are handled by their views). */
export function onChange(change) {
  stats.changes += 1;
  if (change.type === "apps") {
    invalidate({ list: true, status: true });
    return;
  }
  if (change.type !== "event") return;
  const ev = change.event;
  const parts = { events: state.eventsApp == null || state.eventsApp === ev.app };
  if (ev.app) {
    if (ev.kind === "app.created" || ev.kind === "app.deleted" || !appNamed(ev.app)) {
      parts.list = true;
      parts.status = true;
    } else parts.apps = [ev.app];
  }
  if (ev.kind.startsWith("alert.")) parts.alerts = true;
  if (ev.kind.startsWith("image.")) parts.demo = true;
  invalidate(parts);
}

/** Shows another app's events in the side panel (null: all apps). */
export function setEventsApp(app) {
  if (state.eventsApp === app) return;
  state.eventsApp = app;
  invalidate({ events: true }, true);
}

/** Everything, awaited (the window's first fetch: it is "ready" once this returns). */
export async function refreshAllNow() {
  invalidate({ list: true, status: true, events: true, alerts: true, demo: true }, false);
  clearTimeout(timer);
  while (running) await new Promise((r) => setTimeout(r, 20));
  await run();
}
