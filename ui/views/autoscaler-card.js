// The autoscaler in the Scaling view, in one place: the policy (effective values from `AppView.autoscaling`), the
// latest decision with its formula, the recent decisions, and what the autoscaler will do after a manual scale.
// Another module may replace this one: its entry points are `renderAutoscalerCard(slot, app)`,
// `loadAutoscaleEvents(app)` and `scaleNote(app, replicas)`; it reads only typed AppView fields and events.
import { commands } from "../bindings.js";
import { el, ago, durationText, setText } from "../lib/dom.js";
import { showEvent } from "./events.js";
import { autoscalerDetails, targetText } from "../autoscaler.js";

/** Decisions listed (runs of holds count as one). */
const AUTOSCALE_ITEMS = 6;

/** What the autoscaler will do with a manual replica count (`replicas`; null: the current one), in a sentence;
 * empty when the app has no autoscaler. The estimate uses the latest decision's fields: the HPA rule
 * ceil(replicas × value / target) with the total load unchanged, within min..max. */
export function scaleNote(app, replicas) {
  const a = app.autoscaling;
  if (!a) return "";
  const n = replicas == null || !Number.isFinite(replicas) ? app.replicas : replicas;
  const range = `${a.min}–${a.max}`;
  const last = a.last_decision;
  let estimate = "";
  if (last && last.value != null && a.target > 0 && last.from > 0) {
    const want = Math.min(a.max, Math.max(a.min, Math.ceil((last.from * last.value) / a.target)));
    estimate = ` With the latest measurement (${Number(last.value).toFixed(1)} against a target of ${targetText(a)}) it would settle near ${want}.`;
  }
  const down = durationText(a.scale_down_stabilization_ms);
  let what;
  if (n < a.min) what = `${n} is below its minimum ${a.min}: it scales back up to at least ${a.min} at its next decision (within seconds).`;
  else if (n > a.max) what = `${n} is above its maximum ${a.max}: it scales back down to ${a.max}.`;
  else what = `A manual scale to ${n} holds only until its next decision: it adds replicas at once when the metric is over target, and removes them after ${down} of lower recommendations.`;
  return `Autoscaling manages ${app.name} (${range} replicas, ${targetText(a)}). ${what}${estimate}`;
}

/** Events of the autoscaler per app, as last fetched. */
const scaler = { app: null, events: [], busy: false, again: null };

/** Fetches the app's autoscaler events (one request in flight) and redraws the card through `onLoaded`. */
export async function loadAutoscaleEvents(appName, onLoaded) {
  if (!appName) return;
  if (scaler.busy) {
    scaler.again = { appName, onLoaded };
    return;
  }
  scaler.busy = true;
  try {
    const events = await commands.events(appName, 300);
    scaler.app = appName;
    scaler.events = events.filter((e) => e.kind.startsWith("autoscale."));
    onLoaded?.();
  } catch {
    // The card keeps what it showed; the next change event tries again.
  } finally {
    scaler.busy = false;
    const again = scaler.again;
    scaler.again = null;
    if (again) loadAutoscaleEvents(again.appName, again.onLoaded);
  }
}

function skeleton(slot) {
  slot.replaceChildren(
    el(
      "div",
      { id: "autoscaler", "data-testid": "autoscaler", class: "autoscaler-inner" },
      el("div", { class: "card-title" }, el("span", { text: "Autoscaler" }), el("span", { class: "autoscaler-replicas", id: "autoscaler-replicas", "data-testid": "autoscaler-replicas" })),
      el(
        "div",
        { class: "card-body" },
        el("div", { class: "policy", id: "autoscaler-policy", "data-testid": "autoscaler-policy" }),
        el(
          "div",
          { class: "decision", id: "autoscaler-decision-box" },
          el("div", { class: "decision-label" }, "Latest decision ", el("span", { class: "muted", id: "autoscaler-decision-age" })),
          el("div", { class: "decision-text", id: "autoscaler-decision", "data-testid": "autoscaler-decision" }),
        ),
        el("div", { class: "autoscaler-details", id: "autoscaler-details", "data-testid": "autoscaler-details" }),
        el("div", { class: "decisions-title", text: "Recent decisions" }),
        el("ol", { class: "decisions", id: "autoscaler-events", "data-testid": "autoscaler-events" }),
        el("div", { class: "empty-small", id: "autoscaler-events-empty", hidden: true, text: "No scaling decisions logged yet." }),
      ),
    ),
    el(
      "div",
      { id: "autoscaler-off", "data-testid": "autoscaler-off", hidden: true },
      el("div", { class: "card-title" }, el("span", { text: "Autoscaler" })),
      el(
        "div",
        { class: "card-body" },
        el("p", { class: "hint", text: "This app has no autoscaler: its replica count changes only when someone scales it. Edit the app and tick Autoscaling (min, max, metric, target)." }),
      ),
    ),
  );
}

/** Draws the card for `app` into `slot`. */
export function renderAutoscalerCard(slot, app) {
  if (!slot.querySelector("#autoscaler")) skeleton(slot);
  const card = slot.querySelector("#autoscaler");
  const policy = app ? app.autoscaling : null;
  card.hidden = !policy;
  slot.querySelector("#autoscaler-off").hidden = !!policy || !app;
  if (!policy) return;
  const replicas = slot.querySelector("#autoscaler-replicas");
  setText(replicas, `${app.replicas} replica${app.replicas === 1 ? "" : "s"} · ${app.ready} ready`);
  replicas.dataset.replicas = String(app.replicas);
  const chip = (field, label, value) =>
    el("span", { class: "chip", "data-field": field }, el("span", { class: "chip-label", text: label }), el("span", { class: "chip-value", text: String(value) }));
  const chips = [
    chip("target", "target", targetText(policy)),
    chip("min", "min", policy.min),
    chip("max", "max", policy.max),
    chip("scale-down-stabilization", "scale down after", durationText(policy.scale_down_stabilization_ms)),
  ];
  if (policy.max_scale_up_step != null) chips.push(chip("max-scale-up-step", "at most added", policy.max_scale_up_step));
  if (policy.max_scale_down_step != null) chips.push(chip("max-scale-down-step", "at most removed", policy.max_scale_down_step));
  slot.querySelector("#autoscaler-policy").replaceChildren(...chips);
  const last = policy.last_decision;
  const decision = slot.querySelector("#autoscaler-decision");
  setText(decision, last ? last.reason : "Waiting for the first metrics round…");
  decision.classList.toggle("muted", !last);
  decision.dataset.change = last ? last.change : "";
  decision.dataset.from = last ? String(last.from) : "";
  decision.dataset.to = last ? String(last.to) : "";
  const age = slot.querySelector("#autoscaler-decision-age");
  if (last) {
    age.dataset.at = last.at;
    age.dataset.suffix = " ago";
    age.textContent = `${ago(Date.now() - Date.parse(last.at))} ago`;
  } else {
    delete age.dataset.at;
    age.textContent = "";
  }
  // The ratio against the tolerance band and the rules that held the last decision (typed fields).
  slot.querySelector("#autoscaler-details").replaceChildren(...autoscalerDetails(app));
  const events = scaler.app === app.name ? scaler.events : [];
  // Newest first; a run of holds in a row is one item (its newest reason, and how many), so scalings stay in view.
  const items = [];
  for (const ev of events) {
    const prev = items[items.length - 1];
    if (ev.kind === "autoscale.hold" && prev && prev.ev.kind === "autoscale.hold") prev.count += 1;
    else if (items.length < AUTOSCALE_ITEMS) items.push({ ev, count: 1 });
    else break;
  }
  slot.querySelector("#autoscaler-events").replaceChildren(
    ...items.map(({ ev, count }) =>
      el(
        "li",
        { class: `decision-item ${ev.kind === "autoscale.scaled" ? "scaled" : "hold"}`, "data-testid": "autoscale-event", "data-kind": ev.kind },
        el(
          "button",
          { type: "button", class: "decision-button", title: count > 1 ? `${count} holds in a row; the newest is shown` : "Details", onclick: () => showEvent(ev) },
          el("span", { class: `kind ${ev.kind === "autoscale.hold" ? "" : "k-info"}`, text: ev.kind === "autoscale.hold" ? (count > 1 ? `hold ×${count}` : "hold") : ev.kind.slice("autoscale.".length) }),
          // UTC, as the charts' time axis, so a decision is found under its marker.
          el("span", { class: "decision-time", title: new Date(ev.at).toLocaleString(), text: `${new Date(ev.at).toISOString().slice(11, 19)} UTC` }),
          el("span", { class: "decision-reason", text: ev.reason }),
        ),
      ),
    ),
  );
  slot.querySelector("#autoscaler-events-empty").hidden = events.length > 0;
}
