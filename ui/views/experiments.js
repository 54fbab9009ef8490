// The Scaling view's Experiments panel: record a run of the app shown (its settings now, optionally the load
// generator's profile from the card above, its series copied when it ends), list the runs, tick two to four and see
// them on the same axes — the engine's SVG charts, time since each run's start, the legend naming what differs — and
// export them as SVG, PNG or CSV to a file on this machine. Reads are this view's own, on demand: the run list when
// the view opens and when an `experiment:` progress event says a run started, ended or was deleted.
import { commands } from "../bindings.js";
import { $, el, errText, keyed, num, part, setText, withCode } from "../lib/dom.js";
import { toast, confirmDialog } from "../lib/toast.js";
import { state } from "../lib/store.js";

/** The overlay charts, in the Scaling view's order. */
const OVERLAY_METRICS = ["replicas", "rps_per_replica", "latency_p95_ms", "cpu_percent"];
/** An overlay compares at most this many runs (the engine's bound). */
const MAX_OVERLAY = 4;

const exp = {
  /** @type {import("../bindings.js").ExperimentView[]} */
  runs: [],
  /** Names ticked for the overlay, in the order ticked. */
  picked: [],
  /** The runs of the overlay shown. */
  shown: [],
  /** The recording this window started or saw, by name. */
  recording: null,
  fetching: false,
  again: false,
};

/** Settings of a run in a few words. */
function settingsText(r) {
  const s = r.settings;
  const a = s.autoscaling;
  const scaling = a
    ? `${a.metric} ${num(a.target, a.target % 1 ? 1 : 0)}${a.metric === "cpu" || a.metric === "memory" ? "%" : ""}, ${a.min}–${a.max}, stab. ${num(a.scale_down_stabilization_ms / 1000, 0)}s`
    : "no autoscaling";
  return `${scaling} · ${s.replicas} at start · cpu ${s.cpus}`;
}

/** The load of a run in a few words. */
function loadText(r) {
  const l = r.load;
  if (!l) return r.planned_s ? `none, ${num(r.planned_s, 0)}s` : "none";
  const rate = l.ramp_to != null ? `${num(l.rate, 0)}→${num(l.ramp_to, 0)} req/s` : `${num(l.rate, l.rate % 1 ? 1 : 0)} req/s`;
  return `${rate} × ${num(l.duration_s, 0)}s${r.after_s > 0 ? ` + ${num(r.after_s, 0)}s` : ""} ${l.path ?? "/"}`;
}

/** Fetches the runs and redraws the list (coalesced: one fetch at a time, one more if asked meanwhile). */
export async function refreshExperiments() {
  if (exp.fetching) {
    exp.again = true;
    return;
  }
  exp.fetching = true;
  try {
    exp.runs = await commands.experimentList();
    renderRuns();
  } catch (e) {
    setText($("exp-error"), `Runs unavailable: ${errText(e)}`);
  } finally {
    exp.fetching = false;
    if (exp.again) {
      exp.again = false;
      refreshExperiments();
    }
  }
}

function renderRuns() {
  const done = new Set(exp.runs.filter((r) => r.state === "done").map((r) => r.name));
  exp.picked = exp.picked.filter((n) => done.has(n));
  // The newest first: the run just recorded is at the top.
  const runs = [...exp.runs].reverse();
  keyed(
    $("exp-list"),
    runs,
    (r) => r.name,
    (r) => {
      const box = el("input", { type: "checkbox", "data-part": "pick", "data-testid": `exp-pick-${r.name}`, "aria-label": `Compare ${r.name}` });
      box.addEventListener("change", () => pick(r.name, box.checked));
      const del = el("button", { type: "button", class: "btn btn-sm btn-ghost", "data-part": "delete", "data-testid": `exp-delete-${r.name}`, text: "Delete", "aria-label": `Delete run ${r.name}` });
      del.addEventListener("click", () => deleteRun(r.name));
      return el(
        "tr",
        { "data-testid": "exp-run", "data-name": r.name },
        el("td", {}, box),
        el("td", { class: "exp-name" }, el("span", { "data-part": "name", text: r.name }), el("div", { class: "sub muted", "data-part": "app" })),
        el("td", { class: "exp-settings", "data-part": "settings" }),
        el("td", { class: "exp-load", "data-part": "load" }),
        el("td", { class: "num", "data-part": "length" }),
        el("td", { class: "exp-actions" }, del),
      );
    },
    (row, r) => {
      const recording = r.state === "recording";
      row.classList.toggle("recording", recording);
      row.dataset.state = r.state;
      setText(part(row, "app"), r.app);
      setText(part(row, "settings"), settingsText(r));
      setText(part(row, "load"), loadText(r));
      setText(part(row, "length"), recording ? `${num(r.elapsed_s, 0)}s…` : `${num(r.elapsed_s, 0)}s · ${r.point_count} pts`);
      const box = part(row, "pick");
      box.disabled = recording;
      box.checked = exp.picked.includes(r.name);
      part(row, "delete").disabled = recording;
    },
  );
  $("exp-empty").hidden = exp.runs.length > 0;
  const mine = exp.runs.find((r) => r.state === "recording" && r.app === state.selected);
  exp.recording = mine ? mine.name : null;
  renderControls();
}

function renderControls() {
  const recording = !!exp.recording;
  $("exp-record").disabled = recording || !state.selected;
  $("exp-stop").disabled = !recording;
  $("exp-progress").hidden = !recording && !$("exp-progress").dataset.done;
  const n = exp.picked.length;
  $("exp-compare").disabled = n < 1 || n > MAX_OVERLAY;
  setText($("exp-pick-hint"), n === 0 ? "Tick 2 to 4 finished runs." : `${n} ticked${n > MAX_OVERLAY ? ` — at most ${MAX_OVERLAY}` : ""}.`);
}

function pick(name, on) {
  exp.picked = exp.picked.filter((n) => n !== name);
  if (on) exp.picked.push(name);
  renderControls();
}

async function deleteRun(name) {
  if (!(await confirmDialog(`Delete run ${name}?`, "Its settings and recorded series are removed; the app is not touched.", "Delete run"))) return;
  try {
    await commands.experimentDelete(name);
    toast(`Run ${name} deleted`);
    if (exp.shown.includes(name)) $("exp-overlay").hidden = true;
  } catch (e) {
    toast(errText(e), true);
  }
  refreshExperiments();
}

async function record(ev) {
  ev.preventDefault();
  const app = state.selected;
  const error = $("exp-error");
  if (!app) return;
  const name = $("exp-name").value.trim() || null;
  const withLoad = $("exp-with-load").checked;
  let request;
  if (withLoad) {
    const rate = Number($("load-rate").value);
    const duration = Number($("load-duration").value);
    const rampText = $("load-ramp").value.trim();
    const after = Number($("exp-after").value || "0");
    let problem = "";
    if (!(rate > 0)) problem = "Rate (load generator): a number of requests per second above 0, e.g. 20.";
    else if (!(duration >= 1 && duration <= 3600)) problem = "Duration (load generator): seconds from 1 to 3600, e.g. 30.";
    else if (!(after >= 0 && after <= 3600)) problem = "After the load: seconds from 0 to 3600 (0: stop with the load).";
    setText(error, problem);
    if (problem) return;
    const load = { rate, duration_s: duration, ramp_to: rampText === "" ? null : Number(rampText), concurrency: null, path: $("load-path").value.trim() || "/" };
    request = { app, name, load, after_s: after, duration_s: null };
  } else {
    const text = $("exp-duration").value.trim();
    const duration = text === "" ? null : Number(text);
    if (duration != null && !(duration > 0 && duration <= 3600)) {
      setText(error, "Record for: seconds from 1 to 3600, or empty to record until stopped.");
      return;
    }
    request = { app, name, load: null, after_s: null, duration_s: duration };
  }
  setText(error, "");
  $("exp-record").disabled = true;
  try {
    const run = await commands.experimentRecord(request);
    exp.recording = run.name;
    delete $("exp-progress").dataset.done;
    showProgress(`Recording ${run.name}…`, 0);
    $("exp-name").value = "";
    toast(`Recording ${run.name}`);
  } catch (e) {
    error.replaceChildren(withCode(errText(e)));
  }
  refreshExperiments();
}

async function stop() {
  const name = exp.recording;
  if (!name) return;
  $("exp-stop").disabled = true;
  try {
    const run = await commands.experimentStop(name);
    toast(`Run ${run.name} stopped: ${run.point_count} points`);
  } catch (e) {
    setText($("exp-error"), errText(e));
  }
  refreshExperiments();
}

function showProgress(text, fraction) {
  $("exp-progress").hidden = false;
  setText($("exp-progress-text"), text);
  if (fraction != null) $("exp-bar").style.width = `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
}

/** A progress event of a recording (operation `experiment:<name>`). */
export function onExperimentProgress(name, progress) {
  if (progress.done) {
    if (exp.recording === name) {
      $("exp-progress").dataset.done = "1";
      showProgress(progress.error ? `${progress.message} — ${progress.error}` : progress.message, 1);
    }
    refreshExperiments();
    return;
  }
  if (!exp.runs.some((r) => r.name === name)) refreshExperiments();
  if (exp.recording === name || exp.runs.some((r) => r.name === name && r.app === state.selected)) {
    showProgress(progress.message, progress.fraction);
  }
}

/** Sanitizes an engine SVG for the page (no active content) and makes it scale with its box. */
function chartNode(text, label) {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg" || doc.getElementsByTagName("parsererror").length) return el("figcaption", { text: `${label}: the chart could not be read` });
  for (const n of svg.querySelectorAll("script, foreignObject")) n.remove();
  for (const n of [svg, ...svg.querySelectorAll("*")]) for (const a of [...n.attributes]) if (/^on/i.test(a.name)) n.removeAttribute(a.name);
  const w = Number(svg.getAttribute("width")) || 720;
  const h = Number(svg.getAttribute("height")) || 230;
  if (!svg.hasAttribute("viewBox")) svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  return document.importNode(svg, true);
}

async function compare() {
  const runs = [...exp.picked];
  if (!runs.length) return;
  const box = $("exp-overlay");
  const diff = $("exp-diff");
  $("exp-compare").disabled = true;
  try {
    const [comparison, ...charts] = await Promise.all([commands.experimentCompare(runs), ...OVERLAY_METRICS.map((m) => commands.experimentOverlay(runs, m))]);
    exp.shown = runs;
    const items = comparison.runs.map((r) =>
      el(
        "li",
        { "data-testid": "exp-diff-run", "data-name": r.name },
        el("strong", { class: "mono", text: r.name }),
        `: ${r.differing.length ? r.differing.join(", ") : "same settings"} — peak ${num(r.peak_replicas)} replicas at ${num(r.peak_at_s, 0)}s, ${num(r.final_replicas)} at the end, p95 up to ${num(r.max_latency_p95_ms, 1)} ms`,
      ),
    );
    if (comparison.common.length) items.push(el("li", { class: "exp-common", text: `In common: ${comparison.common.join(", ")}` }));
    diff.replaceChildren(...items);
    $("exp-charts").replaceChildren(
      ...charts.map((text, i) => el("figure", { class: "chart", "data-metric": OVERLAY_METRICS[i], "data-testid": `exp-chart-${OVERLAY_METRICS[i]}` }, chartNode(text, `${OVERLAY_METRICS[i]} of ${runs.join(", ")}`))),
    );
    box.dataset.runs = runs.join(",");
    setText($("exp-exported"), "");
    box.hidden = false;
  } catch (e) {
    diff.replaceChildren(el("li", { class: "field-error", text: errText(e) }));
    $("exp-charts").replaceChildren();
    box.hidden = false;
  }
  renderControls();
}

async function exportAs(format) {
  if (!exp.shown.length) return;
  const out = $("exp-exported");
  const path = $("exp-path").value.trim() || null;
  setText(out, `Writing ${format.toUpperCase()}…`);
  try {
    const done = await commands.experimentExport(exp.shown, format, path);
    setText(out, `Wrote ${done.path} (${done.bytes} bytes)`);
    out.dataset.path = done.path;
  } catch (e) {
    out.replaceChildren(withCode(errText(e)));
  }
}

/** When the Scaling view opens (or shows another app). */
export function enterExperiments() {
  $("exp-progress").hidden = true;
  delete $("exp-progress").dataset.done;
  refreshExperiments();
}

export function initExperiments() {
  $("exp-form").addEventListener("submit", record);
  $("exp-stop").addEventListener("click", stop);
  $("exp-compare").addEventListener("click", compare);
  $("exp-with-load").addEventListener("change", () => {
    const withLoad = $("exp-with-load").checked;
    $("exp-duration-row").hidden = withLoad;
    $("exp-after").disabled = !withLoad;
  });
  for (const b of document.querySelectorAll("#exp-overlay [data-format]")) b.addEventListener("click", () => exportAs(b.dataset.format));
}
