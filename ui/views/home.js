// Home: the first-run checklist (Docker → demo image → a prefilled web app → deployed → send requests), every app
// as a card (state, ready/desired, req/s, CPU, alerts firing), the templates the wizard starts from, and the
// engine's status. Everything shown is what the engine answered; a step is ticked only when its state is real.
import { $, el, keyed, part, setText, setAttr, num, withCode } from "../lib/dom.js";
import { state } from "../lib/store.js";
import { href } from "../lib/router.js";
import { TEMPLATES } from "../lib/spec.js";
import { readyClass } from "./sidebar.js";

/** Apps the user sent requests to from this window in this session (the checklist's last step). */
export const requestsSent = new Set();

/** The app the checklist follows: `web` (the template's name) if it exists, else the first app. */
function checklistApp() {
  return state.apps.find((a) => a.name === "web") ?? state.apps[0] ?? null;
}

/** The app's state in a word, from its typed fields. */
export function appState(app) {
  if (app.rollout && app.rollout.state === "progressing") return { word: "updating", cls: "running" };
  if (app.rollout && (app.rollout.state === "failed" || app.rollout.state === "paused")) return { word: `update ${app.rollout.state}`, cls: "crashed" };
  if (app.replicas === 0) return { word: "scaled to 0", cls: "stopping" };
  if (app.ready >= app.replicas) return { word: "healthy", cls: "ready" };
  if (app.instances.some((i) => i.state === "crashed")) return { word: app.ready > 0 ? "degraded" : "crashing", cls: "crashed" };
  return { word: app.ready > 0 ? "degraded" : "starting", cls: app.ready > 0 ? "restarting" : "starting" };
}

/** Mean CPU of the app's instances that have a fresh sample (percent of one core), or null. */
export function appCpu(app) {
  const values = app.instances.map((i) => i.cpu_percent).filter((v) => v != null);
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

function step(testid, done, detail) {
  const li = document.querySelector(`[data-testid=${testid}]`);
  li.dataset.done = done ? "true" : "false";
  li.classList.toggle("done", !!done);
  if (detail != null) setText(li.querySelector(".step-detail"), detail);
  return done;
}

function renderChecklist() {
  const s = state.status;
  const docker = step("step-docker", !!s?.docker_ok, s ? (s.docker_ok ? s.docker : "unreachable: see the banner above") : "connecting…");
  const demo = state.demo;
  $("step-image-tag").textContent = demo?.reference ?? "crane-demo";
  const image = step(
    "step-image",
    demo?.present === true,
    demo == null ? "" : demo.present === true ? "present on this Docker engine" : demo.present === false ? "not built yet: one click, offline" : "Docker cannot be asked",
  );
  $("build-demo").hidden = demo?.present === true;
  const app = checklistApp();
  const created = step("step-app", !!app, app ? `${app.name}: ${app.replicas} replica${app.replicas === 1 ? "" : "s"} of ${app.image}` : null);
  const link = $("step-app-link");
  setAttr(link, "href", app ? href("app", app.name) : href("new", "web"));
  setText(link, app ? `Open ${app.name}` : "Create web app");
  const ready = !!app && app.replicas > 0 && app.ready >= app.replicas;
  step("step-deploy", ready, app ? `${app.ready}/${app.replicas} instances ready${app.url ? ` at ${app.url}` : ""}` : "");
  const sent = !!app && requestsSent.has(app.name);
  step("step-requests", sent, null);
  const reqLink = $("step-requests-link");
  reqLink.hidden = !ready;
  if (app) setAttr(reqLink, "href", `${href("app", app.name)}`);
  const done = [docker, image, created, ready, sent].filter(Boolean).length;
  $("checklist-progress").textContent = `· ${done} of 5 done`;
  const list = $("checklist");
  // Open until everything is done once; then the user decides.
  if (done === 5 && list.dataset.completed !== "true") {
    list.dataset.completed = "true";
    list.open = false;
  }
}

function createCard(app) {
  const card = el(
    "article",
    { class: "app-card", "data-testid": `app-card-${app.name}` },
    el("div", { class: "app-card-head" }, el("a", { class: "app-card-name", "data-part": "link" }), el("span", { class: "badge", "data-part": "state" })),
    el("div", { class: "app-card-image mono", "data-part": "image" }),
    el(
      "dl",
      { class: "app-card-facts" },
      el("div", {}, el("dt", { text: "ready" }), el("dd", { "data-part": "ready", "data-testid": "card-ready" })),
      el("div", {}, el("dt", { text: "req/s" }), el("dd", { "data-part": "rps" })),
      el("div", {}, el("dt", { text: "CPU" }), el("dd", { "data-part": "cpu", title: "Mean CPU of the instances, in percent of one core" })),
      el("div", {}, el("dt", { text: "alerts" }), el("dd", { "data-part": "alerts", "data-testid": "card-alerts" })),
    ),
    el("div", { class: "app-card-links" }, el("a", { class: "btn btn-sm", "data-part": "scaling", text: "Scaling" }), el("span", { class: "muted", "data-part": "auto" })),
  );
  return card;
}

function updateCard(card, app) {
  const link = part(card, "link");
  setText(link, app.name);
  setAttr(link, "href", href("app", app.name));
  const st = appState(app);
  const badge = part(card, "state");
  setText(badge, st.word);
  badge.className = `badge state-${st.cls}`;
  card.dataset.state = st.word;
  setText(part(card, "image"), app.image);
  const ready = part(card, "ready");
  setText(ready, `${app.ready}/${app.replicas}`);
  ready.className = `ready-chip ${readyClass(app)}`;
  setText(part(card, "rps"), app.traffic ? num(app.traffic.rps, 1) : "—");
  const cpu = appCpu(app);
  setText(part(card, "cpu"), cpu == null ? "—" : `${num(cpu, 0)}%`);
  const firing = state.alerts.filter((a) => a.app === app.name && a.state === "firing").length;
  const alerts = part(card, "alerts");
  setText(alerts, String(firing));
  alerts.classList.toggle("bad", firing > 0);
  setAttr(part(card, "scaling"), "href", href("scaling", app.name));
  setText(part(card, "auto"), app.autoscaling ? `autoscaling ${app.autoscaling.min}–${app.autoscaling.max} on ${app.autoscaling.metric}` : "");
}

function renderEngine() {
  const s = state.status;
  const facts = s
    ? [
        ["Docker", s.docker_ok ? s.docker : `unreachable — ${s.docker}`],
        ["Engine", s.engine_error ? `stopped: ${s.engine_error}` : `running, Crane ${s.version}`],
        ["Apps", String(s.apps)],
        ["REST API", s.api_url || "not running"],
        ["Data directory", s.data_dir],
        ["Safety floor", s.allow_unsafe ? "OFF (unsafe mode)" : "on"],
      ]
    : [["Engine", state.statusError || "connecting…"]];
  $("engine-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, withCode(v))]));
}

let templatesDrawn = false;
function renderTemplates() {
  if (templatesDrawn) return;
  templatesDrawn = true;
  $("templates").replaceChildren(
    ...Object.entries(TEMPLATES).map(([key, t]) =>
      el(
        "a",
        { class: "template", href: href("new", key), "data-testid": `template-${key}` },
        el("strong", { text: t.title }),
        el("span", { class: "muted", text: t.text }),
      ),
    ),
  );
}

/** Redraws Home from the store. */
export function renderHome() {
  renderTemplates();
  renderChecklist();
  keyed($("app-cards"), state.apps, (a) => a.name, createCard, updateCard);
  $("app-cards-empty").hidden = state.apps.length > 0;
  renderEngine();
}
