// The Scaling view, the students' screen: the load generator, the live topology (click an instance for its logs
// and probes), the autoscaler with its decisions, and one chart set — replicas, req/s per replica against the
// target, latency p95, CPU — with the time axis fitted to the app's age. A manual scale on an autoscaled app says
// what the autoscaler will do. Below, the Experiments panel (`experiments.js`) records runs and compares them.
import { commands } from "../bindings.js";
import { $, el, num, errText, setText, setAttr, withCode } from "../lib/dom.js";
import { toast } from "../lib/toast.js";
import { state, appNamed, invalidate } from "../lib/store.js";
import { href } from "../lib/router.js";
import { ChartSet } from "./charts.js";
import { renderTopology } from "./topology.js";
import { renderAutoscalerCard, loadAutoscaleEvents, scaleNote } from "./autoscaler-card.js";
import { scaleApp } from "./app.js";
import { initExperiments, enterExperiments } from "./experiments.js";

/** The chart set on one screen, in reading order. */
export const MAIN_CHARTS = ["replicas", "rps", "latency", "cpu"];
/** The other charts, drawn only when their section is open. */
export const MORE_CHARTS = ["memory", "errors", "connections", "bytes"];

const charts = { main: null, more: null, range: "fit" };
let picked = null;
let scaleEdited = false;

function current() {
  return state.selected ? appNamed(state.selected) : null;
}

/** Redraws the view from the store; `entering` when the view was just opened. */
export function renderScaling(entering = false) {
  const app = current();
  $("scaling-empty").hidden = !!app;
  $("scaling-body").hidden = !app;
  if (!app) return;
  if (entering || charts.main.app !== app.name) enterScaling(app.name);
  setText($("scaling-app"), app.name);
  setText($("scaling-replicas"), `${app.ready}/${app.replicas} ready`);
  setAttr($("scaling-app-link"), "href", href("app", app.name));
  const input = $("scaling-scale-input");
  if (!scaleEdited && document.activeElement !== input) input.value = String(app.replicas);
  renderNote(app);
  renderLoad(app);
  renderTopology($("topology"), app, picked, pick);
  renderAutoscalerCard($("autoscaler-slot"), app);
  if (picked) renderPicked(app);
}

function renderNote(app) {
  const input = $("scaling-scale-input");
  const note = scaleNote(app, scaleEdited ? Number(input.value) : null);
  $("scaling-note").hidden = !note;
  setText($("scaling-note"), note);
}

/** When the view opens on `name` (or another app). */
function enterScaling(name) {
  if (charts.main.app !== name) {
    picked = null;
    $("topo-detail").hidden = true;
    $("topology").replaceChildren();
    $("load-error").textContent = "";
    scaleEdited = false;
  }
  charts.main.show(name, charts.range);
  charts.main.schedule(true);
  if ($("more-charts").open) charts.more.show(name, charts.range);
  loadAutoscaleEvents(name, () => renderAutoscalerCard($("autoscaler-slot"), current()));
  enterExperiments();
}

/** Engine changes while the view is open: charts follow (throttled), the autoscaler's events when it decided. */
export function scalingChanged(change) {
  if (!state.selected) return;
  charts.main.schedule();
  if ($("more-charts").open) charts.more.schedule();
  if (change.type === "event" && change.event.app === state.selected && change.event.kind.startsWith("autoscale.")) {
    loadAutoscaleEvents(state.selected, () => renderAutoscalerCard($("autoscaler-slot"), current()));
  }
}

// ---------------------------------------------------------------- the picked instance

function pick(name) {
  picked = picked === name ? null : name;
  const app = current();
  if (app) {
    renderTopology($("topology"), app, picked, pick);
    renderPicked(app, true);
  }
}

async function renderPicked(app, fetchLogs = false) {
  const box = $("topo-detail");
  const inst = app.instances.find((i) => i.name === picked);
  if (!picked || !inst) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.dataset.instance = inst.name;
  let head = box.querySelector(".topo-detail-head");
  if (!head || fetchLogs) {
    box.replaceChildren(
      el("div", { class: "topo-detail-head" }, el("strong", { class: "mono", text: inst.name }), el("span", { class: `badge state-${inst.state}`, "data-part": "state", text: inst.state }), el("button", { type: "button", class: "btn btn-ghost btn-sm", text: "Close", onclick: () => pick(inst.name) })),
      el("div", { class: "topo-facts", "data-part": "facts" }),
      el("pre", { class: "logs topo-logs", "data-testid": "topo-logs", "data-part": "logs", tabindex: "0", text: "loading logs…" }),
    );
    head = box.querySelector(".topo-detail-head");
  }
  const badge = box.querySelector('[data-part="state"]');
  badge.className = `badge state-${inst.state}`;
  badge.textContent = inst.state;
  const facts = [
    el("span", { text: inst.message || "" }),
    inst.probe ? el("span", { class: "probe", "data-testid": "topo-probe", text: `probes: ${inst.probe}` }) : el("span", { class: "muted", text: "no probes" }),
    inst.probe_failure ? el("span", { class: "probe-failure", text: inst.probe_failure }) : null,
    el("span", { class: "muted", text: `restarts ${inst.restarts} · ${inst.traffic ? `${num(inst.traffic.rps, 1)} req/s` : "no traffic"} · CPU ${inst.cpu_percent == null ? "—" : `${num(inst.cpu_percent, 0)}%`}` }),
  ];
  box.querySelector('[data-part="facts"]').replaceChildren(...facts.filter(Boolean));
  if (fetchLogs) {
    const pre = box.querySelector('[data-part="logs"]');
    try {
      const lines = (await commands.logsTail(app.name, 200)).filter((l) => l.instance === inst.name).slice(-40);
      if (picked !== inst.name) return;
      pre.replaceChildren(...lines.map((l) => el("div", { class: l.stream === "stderr" ? "err" : null, text: l.line })));
      if (!lines.length) pre.textContent = "no output from this instance yet";
      pre.scrollTop = pre.scrollHeight;
    } catch (e) {
      pre.textContent = `logs unavailable: ${errText(e)}`;
    }
  }
}

// ---------------------------------------------------------------- load generator

/** The load run shown, per app: the freshest view (from `load_status` after a progress event, or the app view). */
const loads = { views: new Map(), fetching: new Set(), again: new Set() };

function loadView(app) {
  return loads.views.get(app.name) ?? app.load ?? null;
}

/** The app views carry the load run as of their fetch; progress events refine it until the next one. */
export function appsFetched(names) {
  for (const n of names) loads.views.delete(n);
}

/** A progress event of a load run. */
export async function onLoadProgress(name, progress) {
  if (name === state.selected) {
    const bar = $("load-bar");
    if (progress.fraction != null) bar.style.width = `${Math.round(Math.max(0, Math.min(1, progress.fraction)) * 100)}%`;
    charts.main?.schedule();
  }
  if (loads.fetching.has(name)) {
    loads.again.add(name);
    return;
  }
  loads.fetching.add(name);
  try {
    const view = await commands.loadStatus(name);
    if (view) loads.views.set(name, view);
    if (name === state.selected && current()) renderLoad(current());
  } catch {
    // The app may be gone; the next refresh says so.
  } finally {
    loads.fetching.delete(name);
    if (loads.again.delete(name)) onLoadProgress(name, { fraction: null });
  }
  if (progress.done) invalidate({ apps: [name] }, true);
}

function renderLoad(app) {
  const card = $("load");
  const noUrl = !app.url;
  $("load-disabled").hidden = !noUrl;
  const v = loadView(app);
  const running = !!v?.running;
  card.dataset.state = running ? "running" : v ? "done" : "idle";
  $("load-live").hidden = !running;
  $("load-form").hidden = noUrl;
  for (const input of $("load-form").querySelectorAll("input")) input.disabled = noUrl || running;
  $("load-start").disabled = noUrl || running;
  $("load-start").title = noUrl ? "The app has no address: add a container port to its spec" : "";
  $("load-stop").disabled = !running;
  $("load-stop").hidden = !running;
  const run = $("load-run");
  run.hidden = !v;
  if (!v) return;
  run.classList.toggle("done", !running);
  const path = v.url.replace(/^https?:\/\/[^/]+/, "") || "/";
  $("load-summary").replaceChildren(
    running ? "Sending " : v.stopped_early ? "Stopped early: " : "Finished: ",
    el("strong", { text: `${num(v.target_rate, v.target_rate < 10 ? 1 : 0)} req/s` }),
    " to ",
    el("code", { text: path }),
  );
  setText($("load-time"), `${num(v.elapsed_s, 0)} / ${num(v.duration_s, 0)} s`);
  const fraction = v.duration_s > 0 ? Math.min(1, v.elapsed_s / v.duration_s) : 0;
  $("load-bar").style.width = `${Math.round((running ? fraction : 1) * 100)}%`;
  const stat = (label, value, cls, testid) =>
    el("div", { class: `stat${cls ? ` ${cls}` : ""}`, "data-testid": testid }, el("span", { class: "stat-value", text: value }), el("span", { class: "stat-label", text: label }));
  const figures = [
    stat(running ? "req/s" : "achieved req/s", running ? `${num(v.achieved_rate, 1)} / ${num(v.target_rate, 0)}` : num(v.achieved_rate, 1), null, "load-rate-achieved"),
    stat("p95", `${num(v.p95_ms, 1)} ms`, null, "load-p95"),
    stat("errors", num(v.errors), v.errors ? "bad" : null, "load-errors"),
  ];
  if (!running) {
    figures.splice(1, 0, stat("p50", `${num(v.p50_ms, 1)} ms`));
    figures.splice(3, 0, stat("p99", `${num(v.p99_ms, 1)} ms`));
    figures.push(stat("sent", num(v.sent)));
  }
  $("load-numbers").replaceChildren(...figures);
  const kinds = $("load-kinds");
  kinds.hidden = running || v.error_kinds.length === 0;
  kinds.replaceChildren(...(running ? [] : v.error_kinds.map((k) => el("li", { text: k }))));
}

async function startLoad(ev) {
  ev.preventDefault();
  const app = current();
  if (!app || !app.url) return;
  const rate = Number($("load-rate").value);
  const duration = Number($("load-duration").value);
  const rampText = $("load-ramp").value.trim();
  const ramp = rampText === "" ? null : Number(rampText);
  const path = $("load-path").value.trim() || "/";
  const error = $("load-error");
  let problem = "";
  if (!(rate > 0)) problem = "Rate: a number of requests per second above 0, e.g. 20.";
  else if (!(duration >= 1 && duration <= 3600)) problem = "Duration: seconds from 1 to 3600, e.g. 30.";
  else if (ramp != null && !(ramp >= 0)) problem = "Ramp to: a rate in req/s, or empty for a constant rate.";
  else if (!path.startsWith("/")) problem = "Path: starts with “/”, e.g. /work?ms=20.";
  error.textContent = problem;
  if (problem) return;
  $("load-start").disabled = true;
  try {
    const view = await commands.startLoad(app.name, { rate, duration_s: duration, ramp_to: ramp, concurrency: null, path });
    loads.views.set(app.name, view);
    toast(`Load started against ${app.name}`);
  } catch (e) {
    error.replaceChildren(withCode(errText(e)));
  }
  if (current()) renderLoad(current());
}

async function stopLoad() {
  const app = current();
  if (!app) return;
  $("load-stop").disabled = true;
  try {
    loads.views.set(app.name, await commands.stopLoad(app.name));
  } catch (e) {
    $("load-error").replaceChildren(withCode(errText(e)));
  }
  if (current()) renderLoad(current());
}

function setRange(range) {
  if (charts.range === range) return;
  charts.range = range;
  for (const b of $("metrics-range").querySelectorAll("button")) {
    const on = b.dataset.range === range;
    b.classList.toggle("active", on);
    b.setAttribute("aria-pressed", on ? "true" : "false");
  }
  if (state.selected) {
    charts.main.show(state.selected, range);
    if ($("more-charts").open) charts.more.show(state.selected, range);
  }
}

/** Stops chart redraws while the view is hidden. */
export function pauseScaling(paused) {
  charts.main.enabled = !paused;
  charts.more.enabled = !paused;
}

export function initScaling() {
  initExperiments();
  charts.main = new ChartSet($("charts"), MAIN_CHARTS);
  charts.more = new ChartSet($("charts-more"), MORE_CHARTS);
  $("load-form").addEventListener("submit", startLoad);
  $("load-stop").addEventListener("click", stopLoad);
  for (const b of $("metrics-range").querySelectorAll("button")) b.addEventListener("click", () => setRange(b.dataset.range));
  $("more-charts").addEventListener("toggle", () => {
    if ($("more-charts").open && state.selected) charts.more.show(state.selected, charts.range);
  });
  const input = $("scaling-scale-input");
  input.addEventListener("input", () => {
    scaleEdited = true;
    const app = current();
    if (app) renderNote(app);
  });
  $("scaling-scale-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const app = current();
    if (!app) return;
    scaleEdited = false;
    const box = $("app-error");
    const ok = await scaleApp(app.name, Number(input.value), box);
    if (!ok) toast(box.textContent, true);
  });
}
