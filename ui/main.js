// Crane's window: plain ES modules, no build step. This entry wires the shared modules (store, router, toast,
// presenter) to the views (ui/views/*.js) and dialogs (ui/dialogs/*.js). The engine's `crane://change` events mark
// parts of the store stale; one coalesced refresh fetches them and the shown view redraws only what changed.
import { CHANGE_EVENT } from "./bindings.js";
import { $, ago, errText, withCode } from "./lib/dom.js";
import { toast, showGlobalError } from "./lib/toast.js";
import { state, stats, subscribe, onChange, refreshAll, refreshAllNow } from "./lib/store.js";
import { onRoute, href } from "./lib/router.js";
import { initPresenter } from "./lib/presenter.js";
import { markInteractive } from "./lib/bench.js";
import { initBuild, renderBuildProgress } from "./lib/build.js";
import { renderSidebar } from "./views/sidebar.js";
import { renderHome } from "./views/home.js";
import { renderApp, initApp, enterApp, leaveApp } from "./views/app.js";
import { renderScaling, initScaling, scalingChanged, onLoadProgress, appsFetched, pauseScaling } from "./views/scaling.js";
import { onExperimentProgress } from "./views/experiments.js";
import { renderPolicies } from "./views/policies.js";
import { renderLabs, labsChanged, onLabProgress, leaveLabs } from "./views/labs.js";
import { openWizard, initWizard, renderNameHint } from "./views/wizard.js";
import { renderEvents, initEvents, followSelection } from "./views/events.js";
import { initSettings } from "./dialogs/settings.js";
import { initUsers } from "./dialogs/users.js";
import { initPolicies, loadPolicies } from "./dialogs/policies.js";
import { initAlerts, refreshAlertsDialog } from "./dialogs/alerts.js";
import { initScan, onScanProgress } from "./dialogs/scan.js";

const { listen } = window.__TAURI__.event;

/** The route shown: `{ view, arg }`. */
let route = { view: "home", arg: null };

// ---------------------------------------------------------------- header

function renderHeader() {
  const pill = $("docker-pill");
  const detail = $("docker-detail");
  const banner = $("docker-banner");
  const s = state.status;
  if (state.statusError || !s) {
    pill.className = "pill pill-bad";
    pill.textContent = "Engine not running";
    detail.textContent = "";
    $("docker-reason").textContent = state.statusError || "";
    banner.hidden = !state.statusError;
    return;
  }
  if (s.engine_error) {
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
  $("unsafe-pill").hidden = !s.allow_unsafe;
  detail.title = `${detail.textContent}\nData directory: ${s.data_dir}`;
  detail.dataset.dataDir = s.data_dir;
  $("api-url").textContent = s.api_url || "not running";
  renderNameHint();
}

function renderAlertCount() {
  const firing = state.alerts.filter((a) => a.state === "firing").length;
  $("alerts-count").textContent = String(firing);
  $("alerts-count").hidden = firing === 0;
}

// ---------------------------------------------------------------- routing

const SECTION = { home: "view-home", app: "view-app", scaling: "view-scaling", policies: "view-policies", labs: "view-labs", settings: "view-settings", new: "view-wizard", edit: "view-wizard" };

function show(next) {
  const prev = route;
  route = next;
  const needsApp = next.view === "app" || next.view === "scaling";
  if (needsApp) {
    // A bare #/app or #/scaling opens the last app shown, or the first one.
    if (!next.arg && !state.selected && state.apps.length) state.selected = state.apps[0].name;
    if (next.arg) state.selected = next.arg;
  }
  for (const id of new Set(Object.values(SECTION))) $(id).hidden = id !== SECTION[next.view];
  for (const a of document.querySelectorAll("[data-nav]")) {
    const on = a.dataset.nav === next.view;
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
    if ((a.dataset.nav === "app" || a.dataset.nav === "scaling") && state.selected) a.setAttribute("href", href(a.dataset.nav, state.selected));
  }
  document.body.dataset.view = next.view;
  document.body.classList.toggle("wide", next.view === "scaling" || next.view === "new" || next.view === "edit");
  if (prev.view === "app" && (next.view !== "app" || next.arg !== prev.arg)) leaveApp();
  if (prev.view === "labs" && next.view !== "labs") leaveLabs();
  pauseScaling(next.view !== "scaling");
  followSelection(needsApp);
  renderSidebar(next.view);
  if (next.view === "home") renderHome();
  else if (next.view === "app") {
    if (state.selected) enterApp(state.selected);
    renderApp();
  } else if (next.view === "scaling") renderScaling(true);
  else if (next.view === "policies") renderPolicies(true);
  else if (next.view === "labs") renderLabs($("labs-body"));
  else if (next.view === "new" || next.view === "edit") openWizard(next.view, next.arg);
  document.body.classList.remove("events-open");
  // Keyboard users land on the new view's heading (not on first load: the page keeps its natural order then).
  if (prev !== next && document.body.dataset.ready === "true" && next.view !== "new" && next.view !== "edit") {
    const heading = $(SECTION[next.view]).querySelector("h1:not([hidden])");
    if (heading && heading.offsetParent !== null) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  }
  $("views").scrollTop = 0;
}

/** Redraws what the shown view needs after a refresh. */
function changed(c) {
  if (c.status) renderHeader();
  if (c.alerts) renderAlertCount();
  if (c.events) renderEvents();
  if (c.apps.size) {
    appsFetched(c.apps);
    renderSidebar(route.view);
  }
  const selectedChanged = state.selected && c.apps.has(state.selected);
  switch (route.view) {
    case "home":
      if (c.apps.size || c.status || c.alerts || c.demo) renderHome();
      break;
    case "app":
      if (selectedChanged || c.apps.has("*")) renderApp();
      break;
    case "scaling":
      if (selectedChanged || c.apps.has("*")) renderScaling();
      break;
    case "policies":
      if (c.alerts) renderPolicies();
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- ages

function tick() {
  const now = Date.now();
  for (const td of document.querySelectorAll("[data-uptime]")) td.textContent = ago(Number(td.dataset.uptime) + (now - state.fetchedAt));
  for (const span of document.querySelectorAll("[data-at]")) span.textContent = ago(now - Date.parse(span.dataset.at)) + (span.dataset.suffix ?? "");
}

// ---------------------------------------------------------------- start

async function main() {
  initPresenter();
  initBuild();
  initEvents();
  initApp();
  initScaling();
  initWizard();
  initSettings();
  initUsers();
  initPolicies();
  initAlerts();
  initScan({ errText, toast });
  $("docker-retry").addEventListener("click", refreshAll);
  window.addEventListener("focus", refreshAll);
  subscribe(changed);

  await listen(CHANGE_EVENT, (event) => {
    /** @type {import("./bindings.js").ChangeView} */
    const change = event.payload;
    if (change.type === "progress") {
      stats.progress += 1;
      const op = change.progress.operation;
      if (op.startsWith("load:")) onLoadProgress(op.slice("load:".length), change.progress);
      else if (op.startsWith("scan:")) onScanProgress();
      else if (op.startsWith("lab:")) onLabProgress(change.progress);
      else if (op.startsWith("experiment:")) onExperimentProgress(op.slice("experiment:".length), change.progress);
      else renderBuildProgress(change.progress);
      return;
    }
    onChange(change);
    if (route.view === "scaling") scalingChanged(change);
    if (route.view === "labs") labsChanged();
    if (change.type === "event" && change.event.kind === "policy.changed" && $("policies-dialog").open) loadPolicies(false);
    if (change.type === "event" && change.event.kind.startsWith("alert.") && $("alerts-dialog").open) refreshAlertsDialog();
  });
  setInterval(tick, 1000);
  await refreshAllNow();
  renderHeader();
  renderAlertCount();
  renderEvents();
  onRoute(show);
  document.body.dataset.ready = "true";
  // The benchmark's "interactive" mark (a no-op unless Crane was started with CRANE_BENCH_MARKS).
  markInteractive();
}

main().catch((e) => showGlobalError(`The window could not start: ${errText(e)}`));
