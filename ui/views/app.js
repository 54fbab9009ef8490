// The App view: one app's header (address, owner, image verdict, replicas with Scale, Edit, Restart, Delete), its
// load balancer figures, rollout progress, "Send requests" (which replica answered each), ports, instances, logs,
// revisions (with undo) and spec. Lists are updated in place: focus and a typed replica count survive refreshes.
import { commands } from "../bindings.js";
import { $, el, ago, num, bytesText, errText, keyed, part, setText, setAttr, withCode, plural } from "../lib/dom.js";
import { toast, confirmDialog } from "../lib/toast.js";
import { state, appNamed, invalidate } from "../lib/store.js";
import { href, go } from "../lib/router.js";
import { renderImageVerdict } from "../dialogs/scan.js";
import { requestsSent, appCpu } from "./home.js";
import { scaleNote } from "./autoscaler-card.js";
import { scaleToZeroBanner } from "../autoscaler.js";

const { Channel } = window.__TAURI__.core;

const LOG_TAIL = 200;
const LOG_MAX_LINES = 2000;

/** The app this view shows. */
export function currentApp() {
  return state.selected ? appNamed(state.selected) : null;
}

let lastScaleApp = null;
// Whether the user typed a replica count that is not submitted yet.
let scaleEdited = false;

/** Redraws the view for the selected app (or the "pick an app" note). */
export function renderApp() {
  const app = currentApp();
  $("detail-empty").hidden = !!app;
  $("app-view").hidden = !app;
  if (!app) {
    $("empty-title").textContent = state.selected ? `No app named ${state.selected}` : "Pick an app";
    return;
  }
  setText($("app-name"), app.name);
  setText($("app-image"), app.image);
  setText($("app-revision"), `revision ${app.revision}`);
  setText($("app-created"), `created ${new Date(app.created_at).toLocaleString()}`);
  setText($("app-owner"), `owner ${app.owner}`);
  renderImageVerdict(app.image);
  const url = $("app-url");
  url.hidden = !app.url;
  $("app-nourl").hidden = !!app.url;
  $("export-nginx").hidden = app.ports.length === 0;
  if (app.url) {
    setAttr(url, "href", app.url);
    setText(url, app.url);
  }
  setText($("app-ready"), `${app.ready}/${app.replicas}${app.standbys > 0 ? ` · ${app.standbys} standby` : ""}`);
  setAttr($("edit-app"), "href", href("edit", app.name));
  setAttr($("app-scaling-link"), "href", href("scaling", app.name));
  // Keep what the user typed until it is submitted (a refresh must not undo it, even once the box lost focus);
  // reset the replica box when another app is shown or nothing was typed.
  const input = $("scale-input");
  if (lastScaleApp !== app.name) scaleEdited = false;
  if (!scaleEdited && document.activeElement !== input) input.value = String(app.replicas);
  lastScaleApp = app.name;
  const note = scaleNote(app, scaleEdited ? Number(input.value) : null);
  $("scale-note").hidden = !note;
  setText($("scale-note"), note);

  renderTraffic(app.traffic);
  renderPorts(app.listeners);
  renderRollout(app.rollout);
  $("zero-banner").replaceChildren(...scaleToZeroBanner(app));
  $("inactive").hidden = app.inactive.length === 0;
  $("inactive-list").replaceChildren(...app.inactive.map((s) => el("li", { text: s })));
  renderInstances(app);
  setText($("app-spec"), app.spec_yaml);
  if ($("revisions").open) loadRevisions();
  $("send-requests").disabled = !app.url;
  setText($("send-hint"), app.url ? "One after the other to the app's address, through Crane's load balancer, as a browser's refreshes would." : "The app has no address: add a container port (Edit).");
  // The logs follow the shown app: started when it first appears (e.g. just after Deploy), extended to new instances.
  if (logs.app !== app.name) startLogs();
  else followNewInstances(app);
}

function createInstance() {
  return el(
    "tr",
    {},
    el("td", { class: "inst", "data-part": "inst" }, el("div", { class: "mono", "data-part": "name" }), el("div", { class: "sub", "data-part": "sub" })),
    el("td", {}, el("span", { class: "badge", "data-testid": "instance-state", "data-part": "state" })),
    el("td", { class: "num", "data-part": "restarts" }),
    el("td", { class: "num", "data-part": "uptime" }),
    el("td", { class: "num", "data-part": "cpu" }),
    el("td", { class: "num", "data-part": "requests" }),
    el(
      "td",
      { class: "msg" },
      el("div", { "data-part": "message" }),
      el("div", { class: "probe", "data-testid": "instance-probe", "data-part": "probe" }),
      el("div", { class: "probe-failure", "data-part": "failure" }),
    ),
  );
}

function updateInstance(tr, inst) {
  setAttr(tr, "data-testid", `instance-${inst.name}`);
  tr.dataset.state = inst.state;
  setAttr(part(tr, "inst"), "title", inst.id ? `container ${inst.id}` : "not created yet");
  setText(part(tr, "name"), inst.name);
  setText(part(tr, "sub"), `${inst.address || "no address"} · rev ${inst.revision}`);
  const badge = part(tr, "state");
  setText(badge, inst.state);
  badge.className = `badge state-${inst.state}`;
  setText(part(tr, "restarts"), String(inst.restarts));
  const up = part(tr, "uptime");
  if (inst.uptime_ms == null) delete up.dataset.uptime;
  else up.dataset.uptime = String(inst.uptime_ms);
  setText(up, inst.uptime_ms == null ? "—" : ago(inst.uptime_ms));
  setText(part(tr, "cpu"), inst.cpu_percent == null ? "—" : `${num(inst.cpu_percent, 0)}%`);
  setText(part(tr, "requests"), inst.traffic?.requests == null ? "—" : String(inst.traffic.requests));
  setText(part(tr, "message"), inst.message || "");
  const probe = part(tr, "probe");
  setText(probe, inst.probe || "");
  probe.hidden = !inst.probe;
  const failure = part(tr, "failure");
  setText(failure, inst.probe_failure || "");
  failure.hidden = !inst.probe_failure;
}

function renderInstances(app) {
  keyed($("instances-body"), app.instances, (i) => i.name, createInstance, updateInstance);
  $("instances-empty").hidden = app.instances.length > 0;
}

/** The load balancer's numbers for the app, as a row of small figures. */
function renderTraffic(t) {
  const box = $("traffic");
  $("traffic-wrap").hidden = !t;
  if (!t) return;
  // Traffic changes without engine change events: the figures say how old they are and refresh on demand.
  $("traffic-age").dataset.at = new Date(state.fetchedAt).toISOString();
  $("traffic-age").dataset.suffix = " ago";
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

/** Each port as the load balancer serves it. */
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

const ROLLOUT_TITLES = {
  failed: "Update failed.",
  rolled_back: "Update failed and was rolled back.",
  paused: "Update paused.",
};

/** A rolling update in progress, or the last one that failed, was rolled back or paused. */
function renderRollout(r) {
  const box = $("rollout");
  box.hidden = !r || r.state === "complete";
  if (box.hidden) return;
  box.className = `banner rollout rollout-${r.state}`;
  box.dataset.state = r.state;
  box.dataset.to = String(r.to);
  setText($("rollout-title"), ROLLOUT_TITLES[r.state] || `Updating to revision ${r.to}:`);
  $("rollout-message").replaceChildren(withCode(r.message));
  $("rollout-bar").style.width = `${r.total ? Math.round((100 * r.ready) / r.total) : 0}%`;
}

// ---------------------------------------------------------------- send requests

async function sendRequests(ev) {
  ev.preventDefault();
  const app = currentApp();
  if (!app) return;
  const count = Number($("send-count").value);
  const error = $("send-error");
  if (!Number.isInteger(count) || count < 1 || count > 50) {
    error.textContent = "Requests: a whole number from 1 to 50, e.g. 10.";
    return;
  }
  error.textContent = "";
  const button = $("send-requests");
  button.disabled = true;
  $("send-card").dataset.state = "sending";
  try {
    const result = await commands.sendRequests(app.name, count, null);
    requestsSent.add(app.name);
    renderHits(result);
    invalidate({ apps: [app.name] });
  } catch (e) {
    error.replaceChildren(withCode(errText(e)));
  } finally {
    button.disabled = false;
    $("send-card").dataset.state = "done";
  }
}

function renderHits(result) {
  const counts = new Map();
  for (const h of result.hits) {
    const key = h.instance ?? (h.error ? "failed" : "unnamed");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const answered = result.hits.filter((h) => h.instance).length;
  $("send-summary").replaceChildren(
    `${plural(result.hits.length, "request")} to `,
    el("code", { text: result.url }),
    `: `,
    ...[...counts.entries()].map(([k, n]) => el("span", { class: `hit-count${k === "failed" ? " bad" : ""}`, "data-instance": k, text: `${k} ×${n}` })),
    answered === 0 && result.hits.some((h) => h.status) ? " — the answers name no instance (only the demo image sends X-Crane-Instance)." : "",
  );
  $("send-hits").replaceChildren(
    ...result.hits.map((h) =>
      el(
        "li",
        { class: `hit${h.error ? " bad" : ""}`, "data-testid": "hit", "data-instance": h.instance ?? "" },
        el("span", { class: "num muted", text: `#${h.seq}` }),
        el("span", { class: "mono", text: h.instance ?? (h.error ? "—" : "(unnamed)") }),
        el("span", { class: "muted", text: h.error ?? `${h.status} · ${num(h.ms, 1)} ms` }),
      ),
    ),
  );
}

// ---------------------------------------------------------------- revisions

const revs = { key: null, list: [] };

/** Fetches the revisions when the section is open and they may have changed. */
async function loadRevisions(force = false) {
  const app = currentApp();
  if (!app) return;
  const key = `${app.name}:${app.revision}`;
  if (!force && revs.key === key) return;
  revs.key = key;
  try {
    const list = await commands.rolloutHistory(app.name);
    if (revs.key !== key) return;
    revs.list = list;
    renderRevisions();
  } catch (e) {
    if (revs.key !== key) return;
    revs.key = null;
    revs.list = [];
    renderRevisions(`Could not load the revisions: ${errText(e)}`);
  }
}

function renderRevisions(error) {
  const app = currentApp();
  $("revisions-count").textContent = error ? "" : String(revs.list.length);
  const rows = [...revs.list].reverse().map((r) =>
    el(
      "tr",
      { "data-testid": `revision-${r.revision}`, "data-current": r.current ? "true" : "false" },
      el("td", { class: "num" }, el("strong", { text: String(r.revision) }), r.current ? el("span", { class: "current-badge", "data-testid": "revision-current", text: "current" }) : null),
      el("td", { class: "mono image", text: r.image }),
      el("td", { class: "cause", title: r.spec_yaml }, withCode(r.cause)),
      el("td", { class: "num", title: new Date(r.created_at).toLocaleString() }, el("span", { "data-at": r.created_at, "data-suffix": " ago", text: `${ago(Date.now() - Date.parse(r.created_at))} ago` })),
      el(
        "td",
        { class: "rev-actions" },
        r.current || !app
          ? null
          : el("button", { class: "btn btn-sm", type: "button", "data-testid": `revision-undo-${r.revision}`, text: "Undo to this revision", onclick: (ev) => undoTo(app.name, r, ev.currentTarget) }),
      ),
    ),
  );
  $("revisions-body").replaceChildren(...rows);
  const note = $("revisions-note");
  note.textContent = error || (revs.list.length === 1 ? "One revision so far: a new one is made when an apply changes the containers (image, command, env, ports, probes…)." : "");
  note.classList.toggle("field-error", !!error);
  note.hidden = !note.textContent;
}

function appError(text) {
  const box = $("app-error");
  if (!text) {
    box.hidden = true;
    return;
  }
  box.replaceChildren(withCode(text));
  box.hidden = false;
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
    appError("");
    toast(`Rolling ${name} back to revision ${view.revision}`);
    invalidate({ apps: [name] }, true);
  } catch (e) {
    appError(`Undo failed: ${errText(e)}`);
  } finally {
    button.disabled = false;
    loadRevisions(true);
  }
}

// ---------------------------------------------------------------- actions

/** Scales the shown app (from this view or the Scaling view); errors go to `errorBox`. */
export async function scaleApp(name, replicas, errorBox = $("app-error")) {
  if (!Number.isInteger(replicas) || replicas < 0) {
    toast("Replicas must be a whole number, 0 or more.", true);
    return false;
  }
  try {
    await commands.scale(name, replicas);
    errorBox.hidden = true;
    toast(`Scaling ${name} to ${replicas}`);
    invalidate({ apps: [name] }, true);
    return true;
  } catch (e) {
    errorBox.replaceChildren(withCode(`Scale failed: ${errText(e)}`));
    errorBox.hidden = false;
    return false;
  }
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
    appError("");
    toast(`Restarting ${app.name}: revision ${view.revision} replaces every instance`);
    invalidate({ apps: [app.name] }, true);
  } catch (e) {
    appError(`Restart failed: ${errText(e)}`);
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
    `This stops and removes ${plural(n, "container")}, the app's network and its load balancer port. The event log is kept.`,
    "Delete",
  );
  if (!ok) return;
  $("delete-app").disabled = true;
  try {
    await commands.delete(app.name);
    toast(`Deleted ${app.name}`);
    invalidate({ list: true, status: true }, true);
    go("home");
  } catch (e) {
    appError(`Delete failed: ${errText(e)}`);
  } finally {
    $("delete-app").disabled = false;
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

// ---------------------------------------------------------------- logs

const logs = { app: null, stream: null, instances: new Set(), gen: 0 };
const instColors = ["#93c5fd", "#86efac", "#fcd34d", "#f9a8d4", "#c4b5fd", "#5eead4", "#fdba74"];
function instColor(name) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return instColors[h % instColors.length];
}

function appendLog(line) {
  const box = $("logs");
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
  box.append(el("div", { class: line.stream === "stderr" ? "err" : null }, el("span", { class: "inst", style: `color:${instColor(line.instance)}`, text: line.instance }), line.line));
  while (box.childElementCount > LOG_MAX_LINES) box.firstElementChild.remove();
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function logNote(text) {
  $("logs").append(el("div", { class: "note", text }));
}

async function stopLogStream() {
  $("logs-live").hidden = true;
  if (logs.stream != null) {
    const id = logs.stream;
    logs.stream = null;
    try {
      await commands.logsStop(id);
    } catch {
      // The stream may have ended by itself.
    }
  }
}

/** Opens a follow stream from `tail` lines back; returns false when the app changed meanwhile. */
async function openFollow(app, tail) {
  const channel = new Channel();
  channel.onmessage = (line) => {
    if (logs.app === app) appendLog(line);
  };
  const id = await commands.logsFollow(app, tail, channel);
  if (logs.app !== app || logs.stream != null) {
    commands.logsStop(id).catch(() => {});
    return false;
  }
  logs.stream = id;
  $("logs-live").hidden = false;
  return true;
}

/** (Re)loads the shown app's logs: the tail, then new lines while Follow is on. */
export async function startLogs() {
  const app = state.selected && appNamed(state.selected) ? state.selected : null;
  // Set at once, so a redraw during the awaits below does not start a second stream.
  logs.app = app;
  const gen = ++logs.gen;
  logs.instances = new Set((currentApp()?.instances ?? []).filter((i) => i.id).map((i) => i.name));
  await stopLogStream();
  if (gen !== logs.gen) return;
  $("logs").replaceChildren();
  if (!app) return;
  try {
    if ($("logs-follow").checked) await openFollow(app, LOG_TAIL);
    else {
      const lines = await commands.logsTail(app, LOG_TAIL);
      if (logs.app !== app) return;
      lines.forEach(appendLog);
      if (lines.length === 0) logNote("no output yet");
    }
  } catch (e) {
    logNote(`logs unavailable: ${errText(e)}`);
  }
}

// A follow stream covers the containers that existed when it opened: when new instances start (a scale, a
// replacement), the stream is reopened from now so their lines come in too.
let refollowing = false;
async function followNewInstances(app) {
  const now = new Set(app.instances.filter((i) => i.id).map((i) => i.name));
  const fresh = [...now].filter((n) => !logs.instances.has(n));
  logs.instances = now;
  if (!fresh.length || logs.stream == null || refollowing) return;
  refollowing = true;
  try {
    const old = logs.stream;
    logs.stream = null;
    commands.logsStop(old).catch(() => {});
    logNote(`following ${fresh.join(", ")} too`);
    await openFollow(app.name, 0);
  } catch (e) {
    logNote(`logs unavailable: ${errText(e)}`);
  } finally {
    refollowing = false;
  }
}

/** Leaves the app (another app or another view without it): stops the log stream. */
export function leaveApp() {
  logs.gen += 1;
  if (logs.app) {
    logs.app = null;
    stopLogStream();
  }
}

/** When the view opens on `name`. */
export function enterApp(name) {
  $("send-hits").replaceChildren();
  $("send-summary").replaceChildren();
  $("send-error").textContent = "";
  appError("");
  revs.key = null;
  revs.list = [];
  renderRevisions();
}

export function initApp() {
  $("send-form").addEventListener("submit", sendRequests);
  $("scale-input").addEventListener("input", () => {
    scaleEdited = true;
    const app = currentApp();
    const note = app ? scaleNote(app, Number($("scale-input").value)) : "";
    $("scale-note").hidden = !note;
    $("scale-note").textContent = note;
  });
  $("scale-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const app = currentApp();
    if (!app) return;
    scaleEdited = false;
    await scaleApp(app.name, Number($("scale-input").value));
  });
  $("scale-dec").addEventListener("click", () => {
    const app = currentApp();
    if (app && app.replicas > 0) scaleApp(app.name, app.replicas - 1);
  });
  $("scale-inc").addEventListener("click", () => {
    const app = currentApp();
    if (app) scaleApp(app.name, app.replicas + 1);
  });
  $("delete-app").addEventListener("click", deleteApp);
  $("restart-app").addEventListener("click", restartApp);
  $("revisions").addEventListener("toggle", () => {
    if ($("revisions").open) loadRevisions(true);
  });
  $("export-nginx").addEventListener("click", showNginx);
  $("nginx-listen").addEventListener("change", loadNginx);
  $("nginx-listen").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      loadNginx();
    }
  });
  $("nginx-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("nginx-config").textContent);
      toast("NGINX config copied");
    } catch {
      toast("Select the config and copy it (clipboard unavailable).", true);
    }
  });
  // The window has no browser of its own (and no opener permission): the URL is copied for the user's browser;
  // "Send requests" shows the answers inside the window.
  $("app-url").addEventListener("click", async (ev) => {
    ev.preventDefault();
    try {
      await navigator.clipboard.writeText($("app-url").textContent);
      toast("Address copied: open it in your browser, or use Send requests below");
    } catch {
      toast("Select the address and copy it into your browser (clipboard unavailable).", true);
    }
  });
  $("logs-follow").addEventListener("change", startLogs);
  $("logs-refresh").addEventListener("click", startLogs);
  $("traffic-refresh").addEventListener("click", () => {
    const app = currentApp();
    if (app) invalidate({ apps: [app.name] }, true);
  });
}
