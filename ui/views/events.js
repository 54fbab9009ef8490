// The event panel (right column): the selected app's events, or all apps'. Each event is a button that opens its
// details; the list is updated in place, so a focused event keeps focus across refreshes.
import { $, el, ago, keyed, part, setText } from "../lib/dom.js";
import { state, setEventsApp } from "../lib/store.js";

/** CSS class of an event's tone (the engine classifies each kind; the window does not guess from its name). */
export function toneClass(tone) {
  return { good: "k-good", bad: "k-bad", warn: "k-warn", info: "k-info" }[tone] || "";
}

/** Opens an event's details. */
export function showEvent(ev) {
  $("event-dialog-title").textContent = ev.kind;
  $("event-dialog-reason").textContent = `${new Date(ev.at).toLocaleString()} — ${ev.reason}`;
  let details = ev.details;
  try {
    details = JSON.stringify({ app: ev.app, instance: ev.instance, ...JSON.parse(ev.details || "{}") }, null, 2);
  } catch {
    // Not JSON: shown as is.
  }
  $("event-dialog-details").textContent = details;
  $("event-dialog").showModal();
}

const byId = new Map();
const eventKey = (ev) => String(ev.id ?? `${ev.at}-${ev.kind}-${ev.instance ?? ev.app ?? ""}`);

function createEvent() {
  const button = el(
    "button",
    { type: "button", class: "event", "data-testid": "event" },
    el("span", { class: "event-head" }, el("span", { class: "kind", "data-part": "kind" }), el("span", { class: "event-age", "data-part": "age" })),
    el("span", { class: "event-reason", "data-part": "reason" }),
    el("span", { class: "event-where", "data-part": "where" }),
  );
  button.addEventListener("click", () => {
    const ev = byId.get(button.parentElement.dataset.key);
    if (ev) showEvent(ev);
  });
  return el("li", {}, button);
}

function updateEvent(li, ev) {
  const kind = part(li, "kind");
  setText(kind, ev.kind);
  kind.className = `kind ${toneClass(ev.tone)}`;
  const age = part(li, "age");
  age.dataset.at = ev.at;
  age.title = ev.at;
  setText(age, ago(Date.now() - Date.parse(ev.at)));
  setText(part(li, "reason"), ev.reason);
  setText(part(li, "where"), ev.instance || ev.app || "");
}

/** Redraws the list from the store. */
export function renderEvents() {
  byId.clear();
  for (const ev of state.events) byId.set(eventKey(ev), ev);
  keyed($("event-list"), state.events, eventKey, createEvent, updateEvent);
  $("event-empty").hidden = state.events.length > 0;
  $("events-title").textContent = state.eventsApp ? `Events · ${state.eventsApp}` : "Events · all apps";
}

let appShown = false;

/** Which app's events to show: the shown app's (App and Scaling views) unless "All apps" is ticked. */
export function followSelection(viewShowsApp = appShown) {
  appShown = viewShowsApp;
  setEventsApp($("events-all").checked || !viewShowsApp ? null : state.selected);
}

export function initEvents() {
  $("events-all").addEventListener("change", () => followSelection());
  const toggle = $("events-toggle");
  toggle.addEventListener("click", () => {
    const open = !document.body.classList.contains("events-open");
    document.body.classList.toggle("events-open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
}
