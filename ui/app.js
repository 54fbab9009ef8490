// Crane's window: plain ES module, no build step. It calls the engine through the generated bindings and redraws
// on the `crane://change` event; there is no polling loop (the 1 s timer only refreshes relative ages).

import { commands, CHANGE_EVENT, CHART_METRICS } from "./bindings.js";
import { initScan, onScanProgress, renderImageVerdict } from "./scan.js";
import { autoscalerDetails, scaleToZeroBanner } from "./autoscaler.js";

const { Channel } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const LOG_TAIL = 200;
const EVENT_LIMIT = 60;
const LOG_MAX_LINES = 2000;

const $ = (id) => document.getElementById(id);

/** Everything the window shows, as last fetched. */
const state = {
  /** @type {import("./bindings.js").AppView[]} */
  apps: [],
  /** @type {string | null} */
  selected: null,
  /** @type {import("./bindings.js").EventView[]} */
  events: [],
  /** @type {import("./bindings.js").StatusView | null} */
  status: null,
  /** When `apps` was fetched (uptimes are relative to it). */
  fetchedAt: Date.now(),
  /** Id of the open log-follow stream, if any. */
  logStream: null,
  /** App whose logs are shown. */
  logsApp: null,
  tokenShown: false,
  /** Revisions of the selected app, as last fetched, and which app:revision they belong to. */
  /** @type {import("./bindings.js").RevisionView[]} */
  revisions: [],
  revisionsKey: null,
};

/** Port of the generated NGINX `server` unless the user picks another (the REST API and cranectl default too). */
const NGINX_LISTEN = 8080;

// ---------------------------------------------------------------- helpers

/** Text of an error thrown by a command: an ApiError, or a framework string. */
function errText(e) {
  if (e == null) return "unknown error";
  if (typeof e === "string") return e;
  if (typeof e.message === "string") return e.message;
  return JSON.stringify(e);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function ago(ms) {
  if (ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

let toastTimer = 0;
function toast(text, isError = false) {
  const t = $("toast");
  t.textContent = text;
  t.className = isError ? "toast error" : "toast";
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), isError ? 8000 : 3500);
}

// Makes button `buttonId` copy the text of element `sourceId`, saying "<what> copied" (or how to copy `it` by hand
// when the clipboard is unavailable).
function copyOnClick(buttonId, sourceId, what, it) {
  $(buttonId).addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($(sourceId).textContent);
      toast(`${what} copied`);
    } catch {
      toast(`Select ${it} and copy it (clipboard unavailable).`, true);
    }
  });
}

function showGlobalError(text) {
  const b = $("global-error");
  b.textContent = text || "";
  b.hidden = !text;
}

// ---------------------------------------------------------------- fetching

let refreshTimer = 0;
/** Coalesces bursts of changes into one refetch. */
function scheduleRefresh(delay = 120) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, delay);
}

async function refresh() {
  await Promise.all([refreshStatus(), refreshApps(), refreshEvents()]);
}

async function refreshStatus() {
  try {
    state.status = await commands.status();
    renderStatus();
  } catch (e) {
    renderStatus(errText(e));
  }
}

async function refreshApps() {
  try {
    const apps = await commands.listApps();
    apps.sort((a, b) => a.name.localeCompare(b.name));
    state.apps = apps;
    state.fetchedAt = Date.now();
    // The app views carry the load runs as of now; progress events refine them until the next fetch.
    loads.views.clear();
    if (state.selected && !apps.some((a) => a.name === state.selected)) selectApp(null);
    showGlobalError("");
  } catch (e) {
    showGlobalError(`Could not list apps: ${errText(e)}`);
  }
  renderAppList();
  renderDetail();
}

async function refreshEvents() {
  const all = $("events-all").checked || !state.selected;
  try {
    state.events = await commands.events(all ? null : state.selected, EVENT_LIMIT);
  } catch (e) {
    state.events = [];
  }
  renderEvents();
}

// ---------------------------------------------------------------- header

function renderStatus(error) {
  const pill = $("docker-pill");
  const detail = $("docker-detail");
  const banner = $("docker-banner");
  const s = state.status;
  if (error || !s) {
    pill.className = "pill pill-bad";
    pill.textContent = "Engine not running";
    detail.textContent = "";
    $("docker-reason").textContent = error || "";
    banner.hidden = false;
    return;
  }
  if (s.engine_error) {
    // The loop stopped: nothing the window asks for is carried out until Crane restarts.
    pill.className = "pill pill-bad";
    pill.textContent = "Engine stopped";
    detail.textContent = "";
    $("docker-reason").textContent = s.engine_error;
    banner.hidden = false;
  } else if (s.docker_ok) {
    pill.className = "pill pill-ok";
    pill.textContent = "Docker OK";
    detail.textContent = `${s.docker} · ${s.apps} app${s.apps === 1 ? "" : "s"}`;
    banner.hidden = true;
  } else {
    pill.className = "pill pill-bad";
    pill.textContent = "Docker unreachable";
    detail.textContent = "";
    $("docker-reason").replaceChildren(withCode(s.docker));
    banner.hidden = false;
  }
  const rule = nameRule();
  if (rule) $("f-name-hint").textContent = `${rule.text[0].toUpperCase()}${rule.text.slice(1)}; at most ${rule.max} characters.`;
  const dockerDown = !s.docker_ok;
  $("empty-title").textContent = dockerDown ? "Start Docker to run apps" : "Run an app on your Docker engine";
  $("empty-text").textContent = dockerDown
    ? "Crane runs apps as containers on your local Docker engine (or Podman's Docker-compatible socket). Start it, then click Check again."
    : "Pick an app on the left, or create one. The demo image works offline: build it once with Build demo image.";
  $("unsafe-pill").hidden = !s.allow_unsafe;
  detail.title = `${detail.textContent}\nData directory: ${s.data_dir}`;
  detail.dataset.dataDir = s.data_dir;
  $("api-url").textContent = s.api_url || "not running";
}

async function toggleToken() {
  const pop = $("token-pop");
  if (state.tokenShown) {
    state.tokenShown = false;
    pop.hidden = true;
    $("token-toggle").textContent = "Show token";
    $("token-toggle").setAttribute("aria-expanded", "false");
    return;
  }
  try {
    $("api-token").textContent = await commands.apiToken();
    state.tokenShown = true;
    pop.hidden = false;
    $("token-toggle").textContent = "Hide token";
    $("token-toggle").setAttribute("aria-expanded", "true");
  } catch (e) {
    toast(`No token: ${errText(e)}`, true);
  }
}

// ---------------------------------------------------------------- settings

/** The settings as the dialog last loaded them, so Save sends only what changed. */
let loadedSettings = null;

/** The allow-list as typed: one path per line, blank lines dropped. */
function typedPaths() {
  return $("s-paths")
    .value.split("\n")
    .map((p) => p.trim())
    .filter((p) => p);
}

function renderUnsafeWarning() {
  $("s-unsafe-warning").hidden = !$("s-unsafe").checked;
}

async function openSettings() {
  $("s-error").textContent = "";
  try {
    loadedSettings = await commands.settings();
  } catch (e) {
    toast(`Could not read the settings: ${errText(e)}`, true);
    return;
  }
  $("s-unsafe").checked = loadedSettings.allow_unsafe;
  $("s-paths").value = loadedSettings.host_path_allow.join("\n");
  $("s-alertmanager").value = loadedSettings.alertmanager_url ?? "";
  $("s-opa").value = loadedSettings.opa_url ?? "";
  for (const name of OPA_POLICY_NAMES) $(`s-opa-${name}`).checked = loadedSettings.opa_policies.includes(name);
  renderUnsafeWarning();
  $("rotate-result").hidden = true;
  $("settings-dialog").showModal();
}

async function rotateToken() {
  const ok = await confirmDialog(
    "Rotate the API token?",
    "The current token stops working at once. cranectl picks up the new one by itself; scripts, curl commands and Prometheus configs that hold the old one must be given the new one.",
    "Rotate",
  );
  if (!ok) return;
  try {
    const rotated = await commands.rotateToken();
    // Where the new token is, never the token itself; "Show token" shows it on request.
    $("rotate-result").textContent = `Token replaced. The new one is in ${rotated.token_file}.`;
    $("rotate-result").hidden = false;
    if (state.tokenShown) $("api-token").textContent = await commands.apiToken();
  } catch (e) {
    $("s-error").textContent = `Could not rotate the token: ${errText(e)}`;
  }
}

const OPA_POLICY_NAMES = ["admission", "scaling", "alerts"];

async function saveSettings(ev) {
  ev.preventDefault();
  const update = { allow_unsafe: null, host_path_allow: null, alertmanager_url: null, opa_url: null, opa_policies: null };
  const unsafe = $("s-unsafe").checked;
  if (unsafe !== loadedSettings.allow_unsafe) update.allow_unsafe = unsafe;
  const paths = typedPaths();
  if (paths.join("\n") !== loadedSettings.host_path_allow.join("\n")) update.host_path_allow = paths;
  const am = $("s-alertmanager").value.trim();
  if (am !== (loadedSettings.alertmanager_url ?? "")) update.alertmanager_url = am;
  const opa = $("s-opa").value.trim();
  if (opa !== (loadedSettings.opa_url ?? "")) update.opa_url = opa;
  const opaPolicies = OPA_POLICY_NAMES.filter((name) => $(`s-opa-${name}`).checked);
  if (opaPolicies.join(",") !== loadedSettings.opa_policies.join(",")) update.opa_policies = opaPolicies;
  if (Object.values(update).every((v) => v === null)) {
    $("settings-dialog").close();
    return;
  }
  const save = $("s-save");
  save.disabled = true;
  try {
    loadedSettings = await commands.setSettings(update);
    $("settings-dialog").close();
    toast(loadedSettings.allow_unsafe ? "Settings saved: unsafe mode is ON" : "Settings saved");
    scheduleRefresh(0);
  } catch (e) {
    $("s-error").textContent = errText(e);
  } finally {
    save.disabled = false;
  }
}

// ---------------------------------------------------------------- demo image build

let buildHideTimer = 0;
function renderProgress(p) {
  const box = $("build");
  clearTimeout(buildHideTimer);
  box.hidden = false;
  const bar = $("build-bar");
  box.classList.toggle("failed", !!p.error);
  box.classList.toggle("done", p.done && !p.error);
  if (p.error) {
    $("build-title").textContent = "Demo image build failed";
    $("build-step").textContent = p.error;
    bar.classList.remove("indeterminate");
    bar.style.width = "100%";
  } else if (p.done) {
    $("build-title").textContent = "Demo image ready";
    $("build-step").textContent = p.message;
    bar.classList.remove("indeterminate");
    bar.style.width = "100%";
  } else {
    $("build-title").textContent = "Building the demo image";
    $("build-step").textContent = p.message;
    if (p.fraction == null) {
      bar.classList.add("indeterminate");
    } else {
      bar.classList.remove("indeterminate");
      bar.style.width = `${Math.round(Math.max(0, Math.min(1, p.fraction)) * 100)}%`;
    }
  }
  if (p.done) {
    $("build-demo").disabled = false;
    box.dataset.state = p.error ? "failed" : "done";
    if (!p.error) buildHideTimer = setTimeout(() => (box.hidden = true), 8000);
  } else {
    box.dataset.state = "running";
  }
}

async function buildDemo() {
  $("build-demo").disabled = true;
  renderProgress({ operation: "demo-image", message: "Starting…", fraction: null, done: false, error: null });
  try {
    const tag = await commands.buildDemoImage();
    renderProgress({ operation: "demo-image", message: `Built ${tag}`, fraction: 1, done: true, error: null });
    toast(`Built ${tag}`);
  } catch (e) {
    renderProgress({ operation: "demo-image", message: "", fraction: null, done: true, error: errText(e) });
  }
}

// ---------------------------------------------------------------- app list

function readyClass(app) {
  if (app.replicas > 0 && app.ready >= app.replicas) return "all";
  if (app.ready > 0) return "some";
  return app.replicas === 0 ? "all" : "none";
}

function renderAppList() {
  const list = $("app-list");
  list.replaceChildren(
    ...state.apps.map((app) =>
      el(
        "li",
        {
          class: `app-item${app.name === state.selected ? " selected" : ""}`,
          "data-testid": `app-item-${app.name}`,
          "data-app": app.name,
          onclick: () => selectApp(app.name),
        },
        el("span", { class: "name", text: app.name }),
        el("span", { class: `ready-chip ${readyClass(app)}`, text: `${app.ready}/${app.replicas}`, title: "ready / desired" }),
        el("span", { class: "image", text: app.image }),
      ),
    ),
  );
  $("app-count").textContent = String(state.apps.length);
  $("app-list-empty").hidden = state.apps.length > 0;
}

function selectApp(name) {
  if (state.selected === name) return;
  state.selected = name;
  $("app-error").hidden = true;
  state.revisions = [];
  state.revisionsKey = null;
  $("load-error").textContent = "";
  renderRevisions();
  renderAppList();
  renderDetail();
  refreshEvents();
  startLogs();
  if (name) {
    scheduleCharts(true);
    loadAutoscaleEvents();
  } else {
    charts.app = null;
  }
}

// ---------------------------------------------------------------- detail

function currentApp() {
  return state.apps.find((a) => a.name === state.selected) || null;
}

let lastScaleApp = null;
// Whether the user typed a replica count that is not submitted yet.
let scaleEdited = false;
function renderDetail() {
  const app = currentApp();
  $("detail-empty").hidden = !!app;
  $("app-view").hidden = !app;
  $("events-title").textContent = app && !$("events-all").checked ? `Events · ${app.name}` : "Events · all apps";
  if (!app) return;

  $("app-name").textContent = app.name;
  $("app-image").textContent = app.image;
  $("app-revision").textContent = `revision ${app.revision}`;
  $("app-created").textContent = `created ${new Date(app.created_at).toLocaleString()}`;
  $("app-owner").textContent = `owner ${app.owner}`;
  renderImageVerdict(app.image);
  const url = $("app-url");
  url.hidden = !app.url;
  $("app-nourl").hidden = !!app.url;
  $("export-nginx").hidden = app.ports.length === 0;
  if (app.url) {
    url.href = app.url;
    url.textContent = app.url;
  }
  $("app-ready").textContent = `${app.ready}/${app.replicas}`;
  // Keep what the user typed until it is submitted (a refresh must not undo it, even once the box lost focus);
  // reset the replica box when another app is shown or nothing was typed.
  const input = $("scale-input");
  if (lastScaleApp !== app.name) scaleEdited = false;
  if (!scaleEdited && document.activeElement !== input) input.value = String(app.replicas);
  lastScaleApp = app.name;

  renderTraffic(app.traffic);
  renderPorts(app.listeners);
  renderRollout(app.rollout);
  renderLoad(app);
  renderAutoscaler(app);
  $("zero-banner").replaceChildren(...scaleToZeroBanner(app));
  $("autoscaler-details").replaceChildren(...autoscalerDetails(app));

  $("inactive").hidden = app.inactive.length === 0;
  $("inactive-list").replaceChildren(...app.inactive.map((s) => el("li", { text: s })));

  const rows = app.instances.map((inst) =>
    el(
      "tr",
      { "data-testid": `instance-${inst.name}`, "data-state": inst.state },
      el(
        "td",
        { class: "inst", title: inst.id ? `container ${inst.id}` : "not created yet" },
        el("div", { class: "mono", text: inst.name }),
        el("div", { class: "sub", text: `${inst.address || "no address"} · rev ${inst.revision}` }),
      ),
      el("td", {}, el("span", { class: `badge state-${inst.state}`, "data-testid": "instance-state", text: inst.state })),
      el("td", { class: "num", text: String(inst.restarts) }),
      el("td", {
        class: "num",
        "data-uptime": inst.uptime_ms == null ? null : String(inst.uptime_ms),
        text: inst.uptime_ms == null ? "—" : ago(inst.uptime_ms),
      }),
      el("td", { class: "num", text: inst.traffic?.requests == null ? "—" : String(inst.traffic.requests) }),
      el(
        "td",
        { class: "msg" },
        el("div", { text: inst.message || "" }),
        inst.probe ? el("div", { class: "probe", "data-testid": "instance-probe", text: inst.probe }) : null,
        inst.probe_failure ? el("div", { class: "probe-failure", text: inst.probe_failure }) : null,
      ),
    ),
  );
  $("instances-body").replaceChildren(...rows);
  $("instances-empty").hidden = rows.length > 0;
  $("app-spec").textContent = app.spec_yaml;
  if ($("revisions").open) loadRevisions();
}

const num = (v, digits = 0) => (v == null ? "—" : Number(v).toFixed(digits));

/** The load balancer's numbers for the app, as a row of small figures. */
function renderTraffic(t) {
  const box = $("traffic");
  $("traffic-wrap").hidden = !t;
  if (!t) return;
  // Traffic changes without engine change events: the figures say how old they are and refresh on demand.
  $("traffic-age").dataset.at = new Date(state.fetchedAt).toISOString();
  $("traffic-age").textContent = "0s ago";
  const stat = (label, value, cls) =>
    el("div", { class: `stat${cls ? ` ${cls}` : ""}` }, el("span", { class: "stat-value", text: value }), el("span", { class: "stat-label", text: label }));
  box.replaceChildren(
    stat("req/s", num(t.rps, 1)),
    stat("p50", t.p50_ms == null ? "—" : `${num(t.p50_ms, 1)} ms`),
    stat("p95", t.p95_ms == null ? "—" : `${num(t.p95_ms, 1)} ms`),
    stat("requests", num(t.requests)),
    stat("in flight", num(t.in_flight)),
    stat("5xx", num(t.status_5xx), t.status_5xx ? "bad" : null),
  );
}

const BALANCE_TEXT = { roundRobin: "round robin", leastConnections: "least connections" };
const PROTOCOL_TEXT = { http: "HTTP/1.1", http2: "HTTP/2", grpc: "gRPC", tcp: "TCP" };

/** Bytes in a few characters: 512 B, 4.2 KiB, 1.3 MiB. */
function bytesText(b) {
  if (b == null) return "—";
  if (b < 1024) return `${b} B`;
  if (b < 1048576) return `${(b / 1024).toFixed(1)} KiB`;
  return `${(b / 1048576).toFixed(1)} MiB`;
}

/** Each port as the load balancer serves it: its mode (per request or per TCP connection), where it listens, its
 * long-lived connections (WebSockets, TCP) and its traffic. */
function renderPorts(listeners) {
  $("ports-card").hidden = !listeners || listeners.length === 0;
  if (!listeners) return;
  const rows = listeners.map((p) => {
    const t = p.traffic;
    const mode = [
      p.mode === "tcp" ? "tcp · per connection" : `http · per request (${PROTOCOL_TEXT[p.app_protocol]} to instances)`,
      BALANCE_TEXT[p.balance],
      p.sticky ? "sticky cookie" : null,
    ].filter(Boolean).join(" · ");
    const traffic = !t
      ? "—"
      : [
          p.mode === "http" ? `${num(t.rps, 1)} req/s` : null,
          `${num(t.connections_per_second, 1)} conn/s`,
          `${bytesText(t.bytes_in)} in`,
          `${bytesText(t.bytes_out)} out`,
          t.grpc.length ? `gRPC ${t.grpc.map((g) => `${g.name} ${g.count}`).join(", ")}` : null,
        ].filter(Boolean).join(" · ");
    return el(
      "tr",
      { "data-testid": `port-${p.container}`, "data-mode": p.mode },
      el("td", { class: "mono", text: String(p.container) }),
      el("td", { class: "mono", text: p.address || "not listening" }),
      el("td", { text: mode }),
      el("td", { class: "num", "data-testid": "port-open", title: "WebSockets and TCP connections open now", text: t ? num(t.open_connections) : "—" }),
      el("td", { text: traffic }),
    );
  });
  $("ports-body").replaceChildren(...rows);
}

/** Banner titles of the rollout states; the engine's message follows. */
const ROLLOUT_TITLES = {
  failed: "Update failed.",
  rolled_back: "Update failed and was rolled back.",
  paused: "Update paused.",
};

/** A rolling update in progress, or the last one that failed, was rolled back or paused (red, amber, amber). */
function renderRollout(r) {
  const box = $("rollout");
  box.hidden = !r || r.state === "complete";
  if (box.hidden) return;
  box.className = `banner rollout rollout-${r.state}`;
  box.dataset.state = r.state;
  $("rollout-title").textContent = ROLLOUT_TITLES[r.state] || `Updating to revision ${r.to}:`;
  $("rollout-message").replaceChildren(withCode(r.message));
  $("rollout-bar").style.width = `${r.total ? Math.round((100 * r.ready) / r.total) : 0}%`;
}

// ---------------------------------------------------------------- metrics charts

/** Charts are redrawn on change events, but at most this often. */
const CHART_MIN_INTERVAL_MS = 2000;
/** Autoscaler decisions listed in its card (runs of holds count as one). */
const AUTOSCALE_ITEMS = 6;

const charts = {
  /** App whose charts are shown. */
  app: null,
  range: "5m",
  /** When the last redraw started (ms). */
  last: 0,
  timer: 0,
  busy: false,
  /** A redraw was asked for while one ran; `urgent` when it must not wait for the throttle. */
  again: false,
  urgent: false,
  /** SVG text shown per metric, to skip redrawing an unchanged chart. */
  texts: new Map(),
};

/** Redraws the selected app's charts now (`immediate`) or within the throttle (at most once per 2 s). */
function scheduleCharts(immediate = false) {
  const app = state.selected;
  if (!app) return;
  if (charts.app !== app) {
    charts.app = app;
    charts.texts.clear();
    $("charts").replaceChildren();
    immediate = true;
  }
  if (immediate) {
    clearTimeout(charts.timer);
    charts.timer = 0;
    renderCharts(true);
    return;
  }
  if (charts.timer) return;
  const wait = Math.max(0, charts.last + CHART_MIN_INTERVAL_MS - Date.now());
  charts.timer = setTimeout(() => {
    charts.timer = 0;
    renderCharts(false);
  }, wait);
}

async function renderCharts(urgent) {
  if (charts.busy) {
    charts.again = true;
    charts.urgent ||= urgent;
    return;
  }
  const app = state.selected;
  if (!app || !currentApp()) return;
  charts.busy = true;
  charts.last = Date.now();
  const range = charts.range;
  try {
    const results = await Promise.allSettled(CHART_METRICS.map((m) => commands.chart(app, m, range)));
    if (state.selected !== app || charts.range !== range) return;
    results.forEach((r, i) => setChart(CHART_METRICS[i], r));
    const box = $("charts");
    box.dataset.app = app;
    box.dataset.range = range;
    box.dataset.renderedAt = String(Date.now());
  } finally {
    charts.busy = false;
    if (charts.again) {
      const u = charts.urgent;
      charts.again = false;
      charts.urgent = false;
      scheduleCharts(u);
    }
  }
}

/** The chart box of `metric`, created in CHART_METRICS order. */
function chartBox(metric) {
  let box = document.querySelector(`#charts [data-metric="${metric}"]`);
  if (!box) {
    box = el("figure", { class: "chart", "data-metric": metric, "data-testid": `chart-${metric}` });
    $("charts").append(box);
  }
  return box;
}

/** Puts one chart's SVG (Crane's own output) into its box; an error is said in the box. */
function setChart(metric, result) {
  const box = chartBox(metric);
  if (result.status === "rejected") {
    charts.texts.delete(metric);
    box.classList.add("chart-error");
    box.replaceChildren(el("figcaption", { text: `${metric}: ${errText(result.reason)}` }));
    return;
  }
  const text = result.value;
  if (charts.texts.get(metric) === text && box.querySelector("svg")) return;
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg" || doc.getElementsByTagName("parsererror").length) {
    box.classList.add("chart-error");
    box.replaceChildren(el("figcaption", { text: `${metric}: the chart could not be read` }));
    return;
  }
  // Crane draws these; still, nothing active goes into the window.
  for (const n of svg.querySelectorAll("script, foreignObject")) n.remove();
  for (const n of [svg, ...svg.querySelectorAll("*")]) {
    for (const a of [...n.attributes]) if (/^on/i.test(a.name)) n.removeAttribute(a.name);
  }
  const w = Number(svg.getAttribute("width")) || 640;
  const h = Number(svg.getAttribute("height")) || 220;
  if (!svg.hasAttribute("viewBox")) svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  box.style.aspectRatio = `${w} / ${h}`;
  box.classList.remove("chart-error");
  charts.texts.set(metric, text);
  box.replaceChildren(document.importNode(svg, true));
}

function setRange(range) {
  if (charts.range === range) return;
  charts.range = range;
  for (const b of $("metrics-range").querySelectorAll("button")) {
    const on = b.dataset.range === range;
    b.classList.toggle("active", on);
    b.setAttribute("aria-pressed", on ? "true" : "false");
  }
  scheduleCharts(true);
}

// ---------------------------------------------------------------- autoscaler

/** "5 req/s per replica", "70% CPU", … from the app view's `autoscaling` policy. */
function targetText(a) {
  switch (a.metric) {
    case "cpu":
      return `${a.target}% CPU`;
    case "memory":
      return `${a.target}% memory`;
    case "rps":
      return `${a.target} req/s per replica`;
    case "latency_p95":
      return `p95 ${a.target} ms`;
    default:
      return `${a.metric} ${a.target}`;
  }
}

/** A duration in ms as the spec writes it: "60s", "5m", "1m 30s". */
function durationText(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s % 60 === 0 && s < 3600) return `${s / 60}m`;
  return ago(ms);
}

/** Events of the autoscaler for the shown app, as last fetched, and for which app. */
const scaler = { app: null, events: [], busy: false, again: false };

async function loadAutoscaleEvents() {
  const app = state.selected;
  if (!app) return;
  if (scaler.busy) {
    scaler.again = true;
    return;
  }
  scaler.busy = true;
  try {
    const events = await commands.events(app, 300);
    if (state.selected !== app) return;
    scaler.app = app;
    scaler.events = events.filter((e) => e.kind.startsWith("autoscale."));
    renderAutoscaler(currentApp());
  } catch {
    // The card keeps what it showed; the next change event tries again.
  } finally {
    scaler.busy = false;
    if (scaler.again) {
      scaler.again = false;
      loadAutoscaleEvents();
    }
  }
}

function renderAutoscaler(app) {
  const card = $("autoscaler");
  // The engine sends the policy as it applies it, defaults included: nothing here reads the spec's YAML.
  const policy = app ? app.autoscaling : null;
  card.hidden = !policy;
  if (!policy) return;
  $("autoscaler-replicas").textContent = `${app.replicas} replica${app.replicas === 1 ? "" : "s"} · ${app.ready} ready`;
  $("autoscaler-replicas").dataset.replicas = String(app.replicas);
  const chip = (field, label, value) =>
    el("span", { class: "chip", "data-field": field }, el("span", { class: "chip-label", text: label }), el("span", { class: "chip-value", text: String(value) }));
  const chips = [
    chip("target", "target", targetText(policy)),
    chip("min", "min", policy.min),
    chip("max", "max", policy.max),
    chip("scale-down-stabilization", "scale down after", durationText(policy.scale_down_stabilization_ms)),
  ];
  // Step limits only when the spec sets them (no limit otherwise).
  if (policy.max_scale_up_step != null) chips.push(chip("max-scale-up-step", "at most added", policy.max_scale_up_step));
  if (policy.max_scale_down_step != null) chips.push(chip("max-scale-down-step", "at most removed", policy.max_scale_down_step));
  $("autoscaler-policy").replaceChildren(...chips);
  const last = policy.last_decision;
  const decision = $("autoscaler-decision");
  decision.textContent = last ? last.reason : "Waiting for the first metrics round…";
  decision.classList.toggle("muted", !last);
  decision.dataset.change = last ? last.change : "";
  decision.dataset.from = last ? String(last.from) : "";
  decision.dataset.to = last ? String(last.to) : "";
  const age = $("autoscaler-decision-age");
  if (last) {
    age.dataset.at = last.at;
    age.dataset.suffix = " ago";
    age.textContent = `${ago(Date.now() - Date.parse(last.at))} ago`;
  } else {
    delete age.dataset.at;
    age.textContent = "";
  }
  const events = scaler.app === app.name ? scaler.events : [];
  // Newest first; a run of holds in a row is one item (its newest reason, and how many), so scalings stay in view.
  const items = [];
  for (const ev of events) {
    const last = items[items.length - 1];
    if (ev.kind === "autoscale.hold" && last && last.ev.kind === "autoscale.hold") last.count += 1;
    else if (items.length < AUTOSCALE_ITEMS) items.push({ ev, count: 1 });
    else break;
  }
  $("autoscaler-events").replaceChildren(
    ...items.map(({ ev, count }) =>
      el(
        "li",
        {
          class: `decision-item ${ev.kind === "autoscale.scaled" ? "scaled" : "hold"}`,
          "data-testid": "autoscale-event",
          "data-kind": ev.kind,
          title: count > 1 ? `${count} holds in a row; the newest is shown` : null,
          onclick: () => showEvent(ev),
        },
        el("span", { class: `kind ${ev.kind === "autoscale.hold" ? "" : "k-info"}`, text: ev.kind === "autoscale.hold" ? (count > 1 ? `hold ×${count}` : "hold") : ev.kind.slice("autoscale.".length) }),
        // UTC, as the charts' time axis, so a decision is found under its marker.
        el("span", { class: "decision-time", title: new Date(ev.at).toLocaleString(), text: `${new Date(ev.at).toISOString().slice(11, 19)} UTC` }),
        el("span", { class: "decision-reason", text: ev.reason }),
      ),
    ),
  );
  $("autoscaler-events-empty").hidden = events.length > 0;
}

// ---------------------------------------------------------------- load generator

/** The load run shown, per app: the freshest view (from `load_status` after a progress event, or the app view). */
const loads = { views: new Map(), fetching: new Set(), again: new Set() };

function loadView(app) {
  return loads.views.get(app.name) ?? app.load ?? null;
}

/** A progress event of a load run: fetch its numbers (one request in flight per app) and redraw. */
async function onLoadProgress(name, progress) {
  if (name === state.selected) {
    const bar = $("load-bar");
    if (progress.fraction != null) bar.style.width = `${Math.round(Math.max(0, Math.min(1, progress.fraction)) * 100)}%`;
    scheduleCharts();
  }
  if (loads.fetching.has(name)) {
    loads.again.add(name);
    return;
  }
  loads.fetching.add(name);
  try {
    const view = await commands.loadStatus(name);
    if (view) loads.views.set(name, view);
    if (name === state.selected) renderLoad(currentApp());
  } catch {
    // The app may be gone; the next refresh says so.
  } finally {
    loads.fetching.delete(name);
    if (loads.again.delete(name)) onLoadProgress(name, { fraction: null });
  }
  if (progress.done) scheduleRefresh(0);
}

function renderLoad(app) {
  const card = $("load");
  if (!app) return;
  const noUrl = !app.url;
  $("load-disabled").hidden = !noUrl;
  const v = loadView(app);
  const running = !!v?.running;
  card.dataset.state = running ? "running" : v ? "done" : "idle";
  $("load-live").hidden = !running;
  $("load-form").hidden = noUrl;
  // While a run goes, the form shows what was asked for; it is edited again once the run is over.
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
  $("load-time").textContent = `${num(v.elapsed_s, 0)} / ${num(v.duration_s, 0)} s`;
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
  const app = currentApp();
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
  renderLoad(currentApp());
}

async function stopLoad() {
  const app = currentApp();
  if (!app) return;
  $("load-stop").disabled = true;
  try {
    loads.views.set(app.name, await commands.stopLoad(app.name));
  } catch (e) {
    $("load-error").replaceChildren(withCode(errText(e)));
  }
  renderLoad(currentApp());
}

// ---------------------------------------------------------------- revisions

/** Fetches the selected app's revisions when the section is open and they may have changed (another revision). */
async function loadRevisions(force = false) {
  const app = currentApp();
  if (!app) return;
  const key = `${app.name}:${app.revision}`;
  if (!force && state.revisionsKey === key) return;
  state.revisionsKey = key;
  try {
    const revisions = await commands.rolloutHistory(app.name);
    if (state.revisionsKey !== key) return;
    state.revisions = revisions;
    renderRevisions();
  } catch (e) {
    if (state.revisionsKey !== key) return;
    state.revisionsKey = null;
    state.revisions = [];
    renderRevisions(`Could not load the revisions: ${errText(e)}`);
  }
}

function renderRevisions(error) {
  const app = currentApp();
  const revisions = state.revisions;
  $("revisions-count").textContent = error ? "" : String(revisions.length);
  // Newest first, as a history reads.
  const rows = [...revisions].reverse().map((r) =>
    el(
      "tr",
      { "data-testid": `revision-${r.revision}`, "data-current": r.current ? "true" : "false" },
      el(
        "td",
        { class: "num" },
        el("strong", { text: String(r.revision) }),
        r.current ? el("span", { class: "current-badge", "data-testid": "revision-current", text: "current" }) : null,
      ),
      el("td", { class: "mono image", text: r.image }),
      el("td", { class: "cause", title: r.spec_yaml }, withCode(r.cause)),
      el("td", { class: "num", title: new Date(r.created_at).toLocaleString() }, el("span", { "data-at": r.created_at, "data-suffix": " ago", text: `${ago(Date.now() - Date.parse(r.created_at))} ago` })),
      el(
        "td",
        { class: "rev-actions" },
        r.current || !app
          ? null
          : el("button", {
              class: "btn btn-sm",
              type: "button",
              "data-testid": `revision-undo-${r.revision}`,
              text: "Undo to this revision",
              onclick: (ev) => undoTo(app.name, r, ev.currentTarget),
            }),
      ),
    ),
  );
  $("revisions-body").replaceChildren(...rows);
  const note = $("revisions-note");
  note.textContent = error || (revisions.length === 1 ? "One revision so far: a new one is made when an apply changes the containers (image, command, env, ports, probes…)." : "");
  note.classList.toggle("field-error", !!error);
  note.hidden = !note.textContent;
}

async function undoTo(name, revision, button) {
  const app = currentApp();
  const ok = await confirmDialog(
    `Undo ${name} to revision ${revision.revision}?`,
    `Its instances are replaced one at a time by instances of revision ${revision.revision} (${revision.image}; ${revision.cause}). ` +
      `The replica count stays${app ? ` at ${app.replicas}` : ""}, and the current revision stays in the history.`,
    "Undo",
  );
  if (!ok) return;
  button.disabled = true;
  try {
    const view = await commands.rolloutUndo(name, revision.revision);
    $("app-error").hidden = true;
    toast(`Rolling ${name} back to revision ${view.revision}`);
    scheduleRefresh(0);
  } catch (e) {
    $("app-error").replaceChildren(withCode(`Undo failed: ${errText(e)}`));
    $("app-error").hidden = false;
  } finally {
    button.disabled = false;
    loadRevisions(true);
  }
}

// ---------------------------------------------------------------- NGINX export

async function showNginx() {
  const app = currentApp();
  if (!app) return;
  $("nginx-app").textContent = app.name;
  $("nginx-manage-hint").textContent = `cranectl nginx manage ${app.name} --config PATH --pid-file PATH`;
  $("nginx-config").textContent = "";
  $("nginx-error").textContent = "";
  const dlg = $("nginx-dialog");
  dlg.dataset.app = app.name;
  if (!dlg.open) dlg.showModal();
  await loadNginx();
}

async function loadNginx() {
  const dlg = $("nginx-dialog");
  const name = dlg.dataset.app;
  const listen = Number($("nginx-listen").value);
  if (!Number.isInteger(listen) || listen < 1 || listen > 65535) {
    $("nginx-error").textContent = "A port from 1 to 65535.";
    $("nginx-listen").classList.add("invalid");
    return;
  }
  $("nginx-error").textContent = "";
  $("nginx-listen").classList.remove("invalid");
  dlg.dataset.state = "loading";
  try {
    const text = await commands.exportNginx(name, listen);
    if (dlg.dataset.app !== name) return;
    $("nginx-config").textContent = text;
    dlg.dataset.state = "ready";
  } catch (e) {
    $("nginx-config").textContent = "";
    $("nginx-error").textContent = errText(e);
    dlg.dataset.state = "failed";
  }
}

async function scaleTo(replicas) {
  const app = currentApp();
  if (!app) return;
  if (!Number.isInteger(replicas) || replicas < 0) {
    toast("Replicas must be a whole number, 0 or more.", true);
    return;
  }
  try {
    await commands.scale(app.name, replicas);
    $("app-error").hidden = true;
    toast(`Scaling ${app.name} to ${replicas}`);
    scheduleRefresh(0);
  } catch (e) {
    $("app-error").textContent = `Scale failed: ${errText(e)}`;
    $("app-error").hidden = false;
  }
}

/** In-page confirm (a native confirm() blocks WebDriver and looks foreign). Resolves true on OK. */
function confirmDialog(title, text, okLabel) {
  const dlg = $("confirm-dialog");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  dlg.returnValue = "";
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
  });
}

async function restartApp() {
  const app = currentApp();
  if (!app) return;
  const ok = await confirmDialog(
    `Restart ${app.name}?`,
    `Every instance is replaced by a fresh container, one at a time: each new one is ready before its old one stops, so the app keeps serving. ` +
      `The spec does not change; the restart is a new revision in the history.`,
    "Restart",
  );
  if (!ok) return;
  $("restart-app").disabled = true;
  try {
    const view = await commands.rolloutRestart(app.name);
    $("app-error").hidden = true;
    toast(`Restarting ${app.name}: revision ${view.revision} replaces every instance`);
    scheduleRefresh(0);
  } catch (e) {
    $("app-error").replaceChildren(withCode(`Restart failed: ${errText(e)}`));
    $("app-error").hidden = false;
  } finally {
    $("restart-app").disabled = false;
  }
}

async function deleteApp() {
  const app = currentApp();
  if (!app) return;
  const n = app.instances.length;
  const ok = await confirmDialog(
    `Delete ${app.name}?`,
    `This stops and removes ${n} container${n === 1 ? "" : "s"}, the app's network and its load balancer port. The event log is kept.`,
    "Delete",
  );
  if (!ok) return;
  $("delete-app").disabled = true;
  try {
    await commands.delete(app.name);
    toast(`Deleted ${app.name}`);
    selectApp(null);
    scheduleRefresh(0);
  } catch (e) {
    $("app-error").textContent = `Delete failed: ${errText(e)}`;
    $("app-error").hidden = false;
  } finally {
    $("delete-app").disabled = false;
  }
}

// ---------------------------------------------------------------- logs

const instColors = ["#93c5fd", "#86efac", "#fcd34d", "#f9a8d4", "#c4b5fd", "#5eead4", "#fdba74"];
function instColor(name) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return instColors[h % instColors.length];
}

function appendLog(line) {
  const box = $("logs");
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
  const row = el(
    "div",
    { class: line.stream === "stderr" ? "err" : null },
    el("span", { class: "inst", style: `color:${instColor(line.instance)}`, text: line.instance }),
    line.line,
  );
  box.append(row);
  while (box.childElementCount > LOG_MAX_LINES) box.firstElementChild.remove();
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function logNote(text) {
  $("logs").append(el("div", { class: "note", text }));
}

async function stopLogStream() {
  $("logs-live").hidden = true;
  if (state.logStream != null) {
    const id = state.logStream;
    state.logStream = null;
    try {
      await commands.logsStop(id);
    } catch {
      // The stream may have ended by itself.
    }
  }
}

/** (Re)loads the selected app's logs: the tail, then new lines while Follow is on. */
async function startLogs() {
  await stopLogStream();
  const app = state.selected;
  state.logsApp = app;
  $("logs").replaceChildren();
  if (!app) return;
  try {
    if ($("logs-follow").checked) {
      const channel = new Channel();
      channel.onmessage = (line) => {
        if (state.logsApp === app) appendLog(line);
      };
      const id = await commands.logsFollow(app, LOG_TAIL, channel);
      if (state.logsApp !== app) {
        commands.logsStop(id).catch(() => {});
        return;
      }
      state.logStream = id;
      $("logs-live").hidden = false;
    } else {
      const lines = await commands.logsTail(app, LOG_TAIL);
      if (state.logsApp !== app) return;
      lines.forEach(appendLog);
      if (lines.length === 0) logNote("no output yet");
    }
  } catch (e) {
    logNote(`logs unavailable: ${errText(e)}`);
  }
}

// ---------------------------------------------------------------- events

/** CSS class of an event's tone (the engine classifies each kind; the window does not guess from its name). */
function toneClass(tone) {
  return { good: "k-good", bad: "k-bad", warn: "k-warn", info: "k-info" }[tone] || "";
}

function renderEvents() {
  const list = $("event-list");
  list.replaceChildren(
    ...state.events.map((ev) =>
      el(
        "li",
        { class: "event", "data-testid": "event", onclick: () => showEvent(ev) },
        el(
          "div",
          { class: "event-head" },
          el("span", { class: `kind ${toneClass(ev.tone)}`, text: ev.kind }),
          el("span", { class: "event-age", "data-at": ev.at, text: ago(Date.now() - Date.parse(ev.at)), title: ev.at }),
        ),
        el("div", { class: "event-reason", text: ev.reason }),
        ev.instance || ev.app ? el("div", { class: "event-where", text: ev.instance || ev.app }) : null,
      ),
    ),
  );
  $("event-empty").hidden = state.events.length > 0;
  $("events-title").textContent =
    state.selected && !$("events-all").checked ? `Events · ${state.selected}` : "Events · all apps";
}

function showEvent(ev) {
  $("event-dialog-title").textContent = ev.kind;
  $("event-dialog-reason").textContent = `${new Date(ev.at).toLocaleString()} — ${ev.reason}`;
  let details = ev.details;
  try {
    details = JSON.stringify({ app: ev.app, instance: ev.instance, ...JSON.parse(ev.details || "{}") }, null, 2);
  } catch {
    // Not JSON: show as is.
  }
  $("event-dialog-details").textContent = details;
  $("event-dialog").showModal();
}

// ---------------------------------------------------------------- new app form

const FIELDS = ["name", "image", "replicas", "port", "command", "memory"];

function formValues() {
  return {
    name: $("f-name").value.trim(),
    image: $("f-image").value.trim(),
    replicas: $("f-replicas").value.trim(),
    port: $("f-port").value.trim(),
    command: $("f-command").value.trim(),
    memory: $("f-memory").value.trim(),
    health: $("f-health").checked,
  };
}

/** The YAML the form submits. Strings are JSON-quoted, which is valid YAML and safe for any input. */
function specYaml(v) {
  const q = (s) => JSON.stringify(s);
  const lines = [`name: ${q(v.name)}`, `image: ${q(v.image)}`, `replicas: ${v.replicas === "" ? 1 : v.replicas}`];
  if (v.command) lines.push(`command: [${v.command.split(/\s+/).map(q).join(", ")}]`);
  if (v.port) lines.push("ports:", `  - container: ${v.port}`);
  if (v.memory) lines.push(`resources: { memory: ${q(v.memory)} }`);
  if (v.health && v.port) {
    lines.push(
      "health:",
      `  liveness:  { type: http, path: /health, port: ${v.port} }`,
      `  readiness: { type: http, path: /ready, port: ${v.port} }`,
    );
  }
  return lines.join("\n") + "\n";
}

/** The engine's app name rule (from `status`), or null before the first status answer. */
function nameRule() {
  const rules = state.status && state.status.rules;
  return rules ? { re: new RegExp(rules.app_name_pattern), max: rules.app_name_max_len, text: rules.app_name_rule } : null;
}

/** The obvious mistakes, caught before the engine sees them (the engine checks everything again). */
function clientErrors(v) {
  const errs = {};
  const rule = nameRule();
  if (!v.name) errs.name = "Give the app a name, e.g. web.";
  else if (rule && v.name.length > rule.max)
    errs.name = `The name is ${v.name.length} characters long; the limit is ${rule.max}.`;
  else if (rule && !rule.re.test(v.name))
    errs.name = `“${v.name}” is not a valid name: use ${rule.text} (e.g. ${
      v.name.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^[^a-z]+/, "").replace(/-+$/, "").slice(0, rule.max) || "web"
    }).`;
  if (!v.image) errs.image = "Pick an image; crane-demo:0.1.0 works offline after Build demo image.";
  const r = Number(v.replicas);
  if (v.replicas !== "" && (!Number.isInteger(r) || r < 0 || r > 100)) errs.replicas = "Replicas: a whole number from 0 to 100.";
  const p = Number(v.port);
  if (v.port !== "" && (!Number.isInteger(p) || p < 1 || p > 65535)) errs.port = "Port: a whole number from 1 to 65535.";
  if (v.health && !v.port) errs.port = "Health checks need the container port.";
  return errs;
}

function setFieldErrors(errs) {
  for (const f of FIELDS) {
    const msg = errs[f] || "";
    document.querySelector(`.field-error[data-for="${f}"]`).textContent = msg;
    $(`f-${f}`).classList.toggle("invalid", !!msg);
  }
}

/** Maps a diagnostic's dotted path to the form field it is about. */
function fieldOfPath(path) {
  if (path === "name" || path === "image" || path === "replicas" || path === "command") return path;
  if (path.startsWith("command")) return "command";
  if (path.startsWith("ports")) return "port";
  if (path.startsWith("resources")) return "memory";
  return null;
}

/** Text with `backtick` spans rendered as <code>, as the engine writes field names and examples. */
function withCode(text) {
  const frag = document.createDocumentFragment();
  String(text).split("`").forEach((part, i) => frag.append(i % 2 ? el("code", { text: part }) : part));
  return frag;
}

function showDiagnostics(err) {
  const box = $("f-diagnostics");
  if (!err) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const items = (err.diagnostics || []).map((d) =>
    el(
      "li",
      { "data-testid": "diagnostic" },
      el("div", { class: "where", text: `${d.path}${d.line > 0 ? ` · line ${d.line}, column ${d.column}` : ""}` }),
      el("div", { class: "what" }, withCode(d.message)),
      d.fix ? el("div", { class: "fix" }, el("strong", { text: "Fix: " }), withCode(d.fix)) : null,
    ),
  );
  box.replaceChildren(
    el("strong", {
      text:
        err.code === "invalid_spec"
          ? "The engine rejected the spec"
          : err.code === "policy_denied"
            ? "A policy denied this app"
            : "Could not create the app",
    }),
    items.length ? el("ul", {}, ...items) : el("div", {}, withCode(errText(err))),
  );
  box.hidden = false;
  const errs = {};
  for (const d of err.diagnostics || []) {
    const f = fieldOfPath(d.path);
    if (f && !errs[f]) errs[f] = "See below.";
  }
  setFieldErrors(errs);
}

function updatePreview() {
  $("f-preview").textContent = specYaml(formValues());
}

function openNewApp() {
  const form = $("new-app-form");
  form.reset();
  setFieldErrors({});
  showDiagnostics(null);
  updatePreview();
  $("new-app-dialog").showModal();
  $("f-name").focus();
}

async function submitNewApp(ev) {
  ev.preventDefault();
  const v = formValues();
  const errs = clientErrors(v);
  setFieldErrors(errs);
  showDiagnostics(null);
  if (Object.keys(errs).length) {
    $("new-app-form").dataset.state = "invalid";
    return;
  }
  const submit = $("f-submit");
  submit.disabled = true;
  submit.textContent = "Creating…";
  try {
    const result = await commands.create(specYaml(v));
    $("new-app-dialog").close();
    const remarks = [...result.warnings, ...result.policy_warnings.map((w) => `Policy: ${w}`)];
    toast(remarks.length ? `Created ${v.name} — ${remarks.join(" ")}` : `Created ${v.name}`);
    state.apps = [...state.apps.filter((a) => a.name !== result.app.name), result.app].sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    selectApp(result.app.name);
    scheduleRefresh(0);
  } catch (e) {
    $("new-app-form").dataset.state = "rejected";
    showDiagnostics(typeof e === "object" && e ? e : { code: "internal", message: errText(e), diagnostics: [] });
  } finally {
    submit.disabled = false;
    submit.textContent = "Create app";
  }
}

// ---------------------------------------------------------------- policies

const policies = {
  /** @type {import("./bindings.js").PolicyView[]} */
  list: [],
  /** @type {import("./bindings.js").PolicyName} */
  selected: "admission",
};

async function openPolicies() {
  $("policies-dialog").showModal();
  await loadPolicies(true);
}

/** Fetches the policies; `fill` puts the selected one in the editors (not done on a background refresh, so an edit
 * in progress is kept). */
async function loadPolicies(fill) {
  try {
    policies.list = await commands.listPolicies();
  } catch (e) {
    setPolicyStatus(`Could not list the policies: ${errText(e)}`, false);
    return;
  }
  renderPolicyTabs();
  if (fill) fillPolicy();
}

function currentPolicy() {
  return policies.list.find((p) => p.name === policies.selected) ?? policies.list[0];
}

function renderPolicyTabs() {
  const tabs = policies.list.map((p) =>
    el(
      "button",
      {
        type: "button",
        class: "btn btn-sm",
        role: "tab",
        "aria-selected": String(p.name === policies.selected),
        "data-testid": `policy-tab-${p.name}`,
        onclick: () => {
          policies.selected = p.name;
          renderPolicyTabs();
          fillPolicy();
        },
      },
      p.name,
      el("span", { class: "badge", text: p.shipped ? "shipped" : "edited" }),
    ),
  );
  $("policy-tabs").replaceChildren(...tabs);
  const p = currentPolicy();
  if (!p) return;
  const changed = p.shipped ? "the shipped version" : `edited by ${p.updated_by} at ${p.updated_at}`;
  $("policy-meta").textContent = `package ${p.package} · rules Crane reads: ${p.rules.join(", ")} · ${changed}`;
}

function fillPolicy() {
  const p = currentPolicy();
  if (!p) return;
  $("policy-rego").value = p.rego;
  $("policy-data").value = JSON.stringify(p.data, null, 2);
  $("policy-data-name").textContent = p.name;
  $("policy-input").value = JSON.stringify(p.sample_input, null, 2);
  $("policy-summary").hidden = true;
  $("policy-output").hidden = true;
  showPolicyDiagnostics([]);
  setPolicyStatus("", true);
}

function setPolicyStatus(text, ok) {
  const s = $("policy-status");
  s.textContent = text;
  s.className = `policy-status ${ok ? "ok" : "bad"}`;
}

function showPolicyDiagnostics(diagnostics, title = "The policy has problems") {
  const box = $("policy-diagnostics");
  if (!diagnostics.length) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const items = diagnostics.map((d) =>
    el(
      "li",
      { "data-testid": "policy-diagnostic" },
      el("div", { class: "where", text: `${d.path}${d.line > 0 ? ` · line ${d.line}, column ${d.column}` : ""}` }),
      el("div", { class: "what" }, withCode(d.message)),
      d.fix ? el("div", { class: "fix" }, el("strong", { text: "Fix: " }), withCode(d.fix)) : null,
    ),
  );
  box.replaceChildren(el("strong", { text: title }), el("ul", {}, ...items));
  box.hidden = false;
}

/** The editors' content as an update; `null` (with the problem shown) when the data is not a JSON object. */
function policyUpdate() {
  let data;
  try {
    data = JSON.parse($("policy-data").value || "{}");
  } catch (e) {
    showPolicyDiagnostics([{ line: 0, column: 0, path: "data", message: `not JSON: ${e.message}`, fix: "write a JSON object, e.g. {}" }]);
    return null;
  }
  return { rego: $("policy-rego").value, data };
}

/** Moves the editor's cursor to a diagnostic's line, so the problem is in view. */
function focusLine(line) {
  if (!line) return;
  const editor = $("policy-rego");
  const lines = editor.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  editor.focus();
  editor.setSelectionRange(start, start + (lines[line - 1] ?? "").length);
}

async function validatePolicy() {
  const update = policyUpdate();
  if (!update) return;
  try {
    const v = await commands.validatePolicy(policies.selected, update);
    showPolicyDiagnostics(v.diagnostics);
    const tests = v.tests.length ? ` (${v.tests.filter((t) => t.passed).length}/${v.tests.length} own tests pass)` : "";
    setPolicyStatus(v.valid ? `Valid${tests}: it can be saved.` : `Invalid${tests}: it would be refused.`, v.valid);
    if (!v.valid) focusLine(v.diagnostics[0]?.line);
  } catch (e) {
    setPolicyStatus(errText(e), false);
  }
}

async function savePolicy() {
  const update = policyUpdate();
  if (!update) return;
  try {
    await commands.setPolicy(policies.selected, update);
    showPolicyDiagnostics([]);
    setPolicyStatus("Saved: it decides from now on.", true);
    await loadPolicies(false);
  } catch (e) {
    showPolicyDiagnostics(e?.diagnostics ?? [], "Not saved: the running policy stays");
    setPolicyStatus(errText(e), false);
    focusLine(e?.diagnostics?.[0]?.line);
  }
}

async function resetPolicy() {
  const ok = await confirmDialog(
    `Reset the ${policies.selected} policy?`,
    "Its Rego and data return to the version Crane ships; your edit is discarded.",
    "Reset",
  );
  if (!ok) return;
  try {
    await commands.resetPolicy(policies.selected);
    await loadPolicies(true);
    setPolicyStatus("Reset to the shipped version.", true);
  } catch (e) {
    setPolicyStatus(errText(e), false);
  }
}

async function testPolicies() {
  try {
    const report = await commands.testPolicies();
    const failed = report.results
      .filter((r) => !r.passed)
      .map((r) => ({ line: 0, column: 0, path: r.policy, message: `${r.name} failed${r.error ? `: ${r.error}` : ""}`, fix: "" }));
    showPolicyDiagnostics(failed, "Failing tests");
    setPolicyStatus(`Tests: ${report.passed} passed, ${report.failed} failed.`, report.failed === 0);
  } catch (e) {
    setPolicyStatus(errText(e), false);
  }
}

async function evalPolicy() {
  const update = policyUpdate();
  if (!update) return;
  let input;
  try {
    input = JSON.parse($("policy-input").value);
  } catch (e) {
    setPolicyStatus(`The input is not JSON: ${e.message}`, false);
    return;
  }
  const summary = $("policy-summary");
  try {
    const result = await commands.evalPolicy(policies.selected, { input, rego: update.rego, data: update.data });
    summary.textContent = `${result.summary} (${Math.round(result.duration_us)} µs)`;
    summary.className = `policy-summary${result.valid ? "" : " bad"}`;
    $("policy-output").textContent = JSON.stringify(result.output, null, 2);
    $("policy-output").hidden = false;
    showPolicyDiagnostics([]);
  } catch (e) {
    summary.textContent = errText(e);
    summary.className = "policy-summary bad";
    $("policy-output").hidden = true;
    showPolicyDiagnostics(e?.diagnostics ?? []);
  }
  summary.hidden = false;
}

// ---------------------------------------------------------------- wiring

function tick() {
  const now = Date.now();
  for (const td of document.querySelectorAll("[data-uptime]")) {
    td.textContent = ago(Number(td.dataset.uptime) + (now - state.fetchedAt));
  }
  for (const span of document.querySelectorAll("[data-at]")) {
    span.textContent = ago(now - Date.parse(span.dataset.at)) + (span.dataset.suffix ?? (span.id === "traffic-age" ? " ago" : ""));
  }
}

// ---------------------------------------------------------------- alerts

const ALERT_HISTORY_LIMIT = 50;

/** Loads the rule file into the editor (only when opening: typing is never overwritten by a refresh). */
async function openAlerts() {
  const dlg = $("alerts-dialog");
  alertRulesDiagnostics(null);
  $("alert-rules-status").textContent = "";
  if (!dlg.open) dlg.showModal();
  try {
    const rules = await commands.alertRules();
    $("alert-rules-yaml").value = rules.yaml;
    alertRulesOrigin(rules);
  } catch (e) {
    $("alert-rules-status").textContent = errText(e);
  }
  loadWebhook();
  await refreshAlerts();
}

function nRules(n) {
  return `${n} rule${n === 1 ? "" : "s"}`;
}

function alertRulesOrigin(rules) {
  $("alert-rules-origin").textContent = `· ${nRules(rules.rules.length)}${rules.is_default ? ", as Crane ships them" : ""}`;
}

function alertValue(v) {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4).replace(/\.?0+$/, "");
}

/** The active alerts and recent transitions; also the count on the header button. */
async function refreshAlerts() {
  let active;
  try {
    active = await commands.activeAlerts();
  } catch {
    return;
  }
  const firing = active.filter((a) => a.state === "firing").length;
  $("alerts-count").textContent = String(firing);
  $("alerts-count").hidden = firing === 0;
  if (!$("alerts-dialog").open) return;
  $("alerts-body").replaceChildren(
    ...(active.length
      ? active.map((a) =>
          el(
            "tr",
            { "data-alert": a.rule, "data-state": a.state },
            el("td", { class: "mono", text: a.rule }),
            el("td", { class: a.state, text: a.state }),
            el("td", { class: "mono", text: a.app ?? "—" }),
            el("td", { text: alertValue(a.value) }),
            el("td", { text: `${ago(Date.now() - Date.parse(a.starts_at ?? a.active_at))}` }),
            el("td", { text: a.annotations.summary ?? "" }),
          ),
        )
      : [el("tr", {}, el("td", { colspan: 6, class: "muted", text: "No active alerts." }))]),
  );
  try {
    const history = await commands.alertHistory(ALERT_HISTORY_LIMIT);
    $("alert-history-body").replaceChildren(
      ...(history.length
        ? history.map((t) =>
            el(
              "tr",
              {},
              el("td", { text: new Date(t.at).toLocaleString() }),
              el("td", { class: "mono", text: t.rule }),
              el("td", { class: "mono", text: t.app ?? "—" }),
              el("td", { class: t.to === "inactive" ? "" : t.to, text: `${t.from} → ${t.to}` }),
              el("td", { text: alertValue(t.value) }),
              el("td", { class: "mono", text: t.action ?? "—" }),
            ),
          )
        : [el("tr", {}, el("td", { colspan: 6, class: "muted", text: "No changes yet." }))]),
    );
  } catch (e) {
    $("alert-rules-status").textContent = errText(e);
  }
}

function alertRulesDiagnostics(err) {
  const box = $("alert-rules-diagnostics");
  if (!err) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const items = (err.diagnostics || []).map((d) =>
    el(
      "li",
      { "data-testid": "alert-rules-diagnostic" },
      el("div", { class: "where", text: `${d.line > 0 ? `line ${d.line}, column ${d.column}` : "file"}${d.path ? ` · ${d.path}` : ""}` }),
      el("div", { class: "what" }, withCode(d.message)),
      d.fix ? el("div", { class: "fix" }, el("strong", { text: "Fix: " }), withCode(d.fix)) : null,
    ),
  );
  box.replaceChildren(
    el("strong", { text: err.code === "invalid_spec" ? "The rule file has problems; nothing was saved" : "Not saved" }),
    items.length ? el("ul", {}, ...items) : el("div", {}, withCode(errText(err))),
  );
  box.hidden = false;
}

// ---------------------------------------------------------------- Alertmanager webhook

/** Shows the webhook receiver's URL (and, on request, its token and an Alertmanager receiver snippet). */
async function loadWebhook(rotate = false) {
  $("webhook-error").textContent = "";
  try {
    const info = await commands.webhookInfo(rotate);
    $("webhook-url").textContent = info.url;
    $("webhook-token").textContent = info.token;
    $("webhook-config").textContent =
      `receivers:\n  - name: crane\n    webhook_configs:\n      - url: ${info.url}\n        send_resolved: true\n` +
      `        http_config:\n          authorization:\n            type: Bearer\n            credentials_file: ${info.token_file}\n`;
    if (rotate) toast("Webhook token replaced: give Alertmanager the new one");
  } catch (e) {
    $("webhook-error").textContent = errText(e);
  }
}

function toggleWebhookToken() {
  const shown = $("webhook-token").hidden;
  $("webhook-token").hidden = !shown;
  $("webhook-copy").hidden = !shown;
  $("webhook-config").hidden = !shown;
  $("webhook-show").textContent = shown ? "Hide token" : "Show token";
}

async function rotateWebhook() {
  const ok = await confirmDialog(
    "Replace the webhook token?",
    "Alertmanager's requests with the current token are refused from now on; give it the new one (its credentials_file is rewritten, so a receiver that reads the file picks it up on its next reload).",
    "Replace",
  );
  if (ok) await loadWebhook(true);
}

// Validates the rule file while it is typed (after a pause), so problems show with their line before Save.
let alertRulesTimer = 0;
// Bumped by every button action, so a live check that was under way does not overwrite what the action said.
let alertRulesSeq = 0;
function liveValidateAlertRules() {
  clearTimeout(alertRulesTimer);
  alertRulesTimer = setTimeout(async () => {
    const yaml = $("alert-rules-yaml").value;
    const seq = alertRulesSeq;
    try {
      const n = await commands.validateAlertRules(yaml);
      if ($("alert-rules-yaml").value !== yaml || seq !== alertRulesSeq) return;
      alertRulesDiagnostics(null);
      $("alert-rules-status").textContent = `Valid: ${nRules(n)}.`;
    } catch (e) {
      if ($("alert-rules-yaml").value !== yaml || seq !== alertRulesSeq) return;
      $("alert-rules-status").textContent = "";
      alertRulesDiagnostics(typeof e === "object" && e ? e : { code: "internal", message: errText(e), diagnostics: [] });
    }
  }, 600);
}

async function alertRulesAction(which) {
  clearTimeout(alertRulesTimer);
  alertRulesSeq += 1;
  const yaml = $("alert-rules-yaml").value;
  alertRulesDiagnostics(null);
  $("alert-rules-status").textContent = "";
  try {
    if (which === "validate") {
      const n = await commands.validateAlertRules(yaml);
      $("alert-rules-status").textContent = `Valid: ${nRules(n)}.`;
      return;
    }
    if (which === "reset") {
      const ok = await confirmDialog("Reset the alert rules?", "Crane's shipped rules replace the saved ones.", "Reset");
      if (!ok) return;
    }
    const rules = which === "save" ? await commands.setAlertRules(yaml) : await commands.resetAlertRules();
    $("alert-rules-yaml").value = rules.yaml;
    alertRulesOrigin(rules);
    $("alert-rules-status").textContent = which === "save" ? `Saved: ${nRules(rules.rules.length)}.` : "Reset to Crane's shipped rules.";
  } catch (e) {
    alertRulesDiagnostics(typeof e === "object" && e ? e : { code: "internal", message: errText(e), diagnostics: [] });
  }
  await refreshAlerts();
}

// ---------------------------------------------------------------- users and audit

const AUDIT_LIMIT = 100;

async function openUsers() {
  $("users-error").textContent = "";
  $("user-token").hidden = true;
  const dlg = $("users-dialog");
  if (!dlg.open) dlg.showModal();
  await refreshUsers();
}

async function refreshUsers() {
  const body = $("users-body");
  try {
    const [users, audit] = await Promise.all([commands.listUsers(), commands.auditLog(null, null, AUDIT_LIMIT)]);
    body.replaceChildren(
      ...users.map((u) =>
        el(
          "tr",
          { "data-user": u.name },
          el("td", { class: "mono", text: u.name }),
          el("td", { text: u.role }),
          el("td", { text: u.builtin ? `${u.tokens} + data dir token` : String(u.tokens) }),
          el("td", { text: `${ago(Date.now() - Date.parse(u.created_at))} ago` }),
          el(
            "td",
            {},
            u.builtin
              ? null
              : el("button", { class: "btn btn-sm btn-ghost", type: "button", text: "Remove", "data-testid": `user-remove-${u.name}`, onclick: () => removeUser(u.name) }),
          ),
        ),
      ),
    );
    $("audit-body").replaceChildren(
      ...audit.map((r) =>
        el(
          "tr",
          {},
          el("td", { text: new Date(r.at).toLocaleString() }),
          el("td", { class: "mono", text: r.user }),
          el("td", { text: r.role }),
          el("td", { text: r.door }),
          el("td", { class: "mono", text: r.action }),
          el("td", { class: "mono", text: r.app ?? r.target ?? "—" }),
          el("td", { class: r.ok ? "" : "bad", text: r.ok ? "ok" : r.error ?? "failed" }),
        ),
      ),
    );
  } catch (e) {
    $("users-error").textContent = errText(e);
  }
}

async function addUser() {
  const name = $("user-name").value.trim();
  const role = $("user-role").value;
  $("users-error").textContent = "";
  const rule = state.status?.rules;
  if (rule && !new RegExp(rule.app_name_pattern).test(name)) {
    $("users-error").textContent = `A user name uses ${rule.app_name_rule}; at most ${rule.app_name_max_len} characters.`;
    return;
  }
  try {
    const created = await commands.createUser(name, role);
    $("user-name").value = "";
    $("user-token-title").textContent = `Token for ${created.user.name} (${created.user.role}).`;
    $("user-token-value").textContent = created.token.token;
    $("user-token").hidden = false;
  } catch (e) {
    $("users-error").textContent = errText(e);
  }
  await refreshUsers();
}

async function removeUser(name) {
  const ok = await confirmDialog(
    `Remove ${name}?`,
    `Their tokens stop working at once. Their apps keep running, owned by ${name}; admins manage them.`,
    "Remove",
  );
  if (!ok) return;
  try {
    await commands.removeUser(name);
    toast(`Removed ${name}`);
  } catch (e) {
    $("users-error").textContent = errText(e);
  }
  await refreshUsers();
}

async function main() {
  $("new-app").addEventListener("click", openNewApp);
  $("new-app-empty").addEventListener("click", openNewApp);
  $("build-demo").addEventListener("click", buildDemo);
  $("open-policies").addEventListener("click", openPolicies);
  initScan({ errText, toast });
  $("policy-validate").addEventListener("click", validatePolicy);
  $("policy-save").addEventListener("click", savePolicy);
  $("policy-reset").addEventListener("click", resetPolicy);
  $("policy-test").addEventListener("click", testPolicies);
  $("policy-eval").addEventListener("click", evalPolicy);
  $("docker-retry").addEventListener("click", () => scheduleRefresh(0));
  $("build-close").addEventListener("click", () => ($("build").hidden = true));
  $("traffic-refresh").addEventListener("click", () => scheduleRefresh(0));
  $("token-toggle").addEventListener("click", toggleToken);
  $("users-open").addEventListener("click", openUsers);
  $("alerts-open").addEventListener("click", openAlerts);
  $("alert-rules-validate").addEventListener("click", () => alertRulesAction("validate"));
  $("alert-rules-save").addEventListener("click", () => alertRulesAction("save"));
  $("alert-rules-reset").addEventListener("click", () => alertRulesAction("reset"));
  $("alert-rules-yaml").addEventListener("input", liveValidateAlertRules);
  $("webhook-show").addEventListener("click", toggleWebhookToken);
  $("webhook-rotate").addEventListener("click", rotateWebhook);
  copyOnClick("webhook-copy", "webhook-token", "Webhook token", "the token");
  $("user-add").addEventListener("click", addUser);
  $("user-name").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      addUser();
    }
  });
  copyOnClick("user-token-copy", "user-token-value", "Token", "the token");
  $("open-settings").addEventListener("click", openSettings);
  $("unsafe-pill").addEventListener("click", openSettings);
  $("s-unsafe").addEventListener("change", renderUnsafeWarning);
  $("settings-form").addEventListener("submit", saveSettings);
  $("s-cancel").addEventListener("click", () => $("settings-dialog").close());
  $("rotate-token").addEventListener("click", rotateToken);
  copyOnClick("token-copy", "api-token", "Token", "the token");
  $("new-app-form").addEventListener("submit", submitNewApp);
  $("new-app-form").addEventListener("input", updatePreview);
  $("f-cancel").addEventListener("click", () => $("new-app-dialog").close());
  $("scale-input").addEventListener("input", () => (scaleEdited = true));
  $("scale-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    scaleEdited = false;
    scaleTo(Number($("scale-input").value));
  });
  $("scale-dec").addEventListener("click", () => {
    const app = currentApp();
    if (app && app.replicas > 0) scaleTo(app.replicas - 1);
  });
  $("scale-inc").addEventListener("click", () => {
    const app = currentApp();
    if (app) scaleTo(app.replicas + 1);
  });
  $("delete-app").addEventListener("click", deleteApp);
  $("restart-app").addEventListener("click", restartApp);
  $("revisions").addEventListener("toggle", () => {
    if ($("revisions").open) loadRevisions(true);
  });
  $("export-nginx").addEventListener("click", showNginx);
  $("nginx-listen").addEventListener("change", loadNginx);
  // Enter in the port box reloads the config instead of submitting (closing) the dialog.
  $("nginx-listen").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      loadNginx();
    }
  });
  copyOnClick("nginx-copy", "nginx-config", "NGINX config", "the config");
  // The window has no browser of its own (and no opener permission): the URL is copied for the user's browser.
  $("app-url").addEventListener("click", async (ev) => {
    ev.preventDefault();
    try {
      await navigator.clipboard.writeText($("app-url").textContent);
      toast("URL copied: open it in your browser");
    } catch {
      toast("Select the URL and copy it into your browser (clipboard unavailable).", true);
    }
  });
  $("logs-follow").addEventListener("change", startLogs);
  $("load-form").addEventListener("submit", startLoad);
  $("load-stop").addEventListener("click", stopLoad);
  for (const b of $("metrics-range").querySelectorAll("button")) b.addEventListener("click", () => setRange(b.dataset.range));
  $("logs-refresh").addEventListener("click", startLogs);
  $("events-all").addEventListener("change", refreshEvents);
  window.addEventListener("focus", () => scheduleRefresh(0));

  await listen(CHANGE_EVENT, (event) => {
    /** @type {import("./bindings.js").ChangeView} */
    const change = event.payload;
    if (change.type === "progress") {
      const op = change.progress.operation;
      if (op.startsWith("load:")) onLoadProgress(op.slice("load:".length), change.progress);
      else if (op.startsWith("scan:")) onScanProgress();
      else renderProgress(change.progress);
      return;
    }
    scheduleRefresh();
    // Charts follow the app's changes (traffic moves send one per tick), throttled to one redraw per 2 s.
    scheduleCharts();
    if (change.type === "event" && change.event.kind.startsWith("autoscale.") && change.event.app === state.selected) {
      loadAutoscaleEvents();
    }
    // Another door changed a policy: the tabs and the meta line follow; the editors keep what is being typed.
    if (change.type === "event" && change.event.kind === "policy.changed" && $("policies-dialog").open) {
      loadPolicies(false);
    }
    if (change.type === "event" && change.event.kind.startsWith("alert.")) refreshAlerts();
  });
  setInterval(tick, 1000);
  await refresh();
  await refreshAlerts();
  document.body.dataset.ready = "true";
}

main().catch((e) => showGlobalError(`The window could not start: ${errText(e)}`));
