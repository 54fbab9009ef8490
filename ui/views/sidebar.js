// The apps column: one link per app (keyboard reachable, opens the app in the current app view — App or Scaling),
// updated in place so focus stays on the link the user is on.
import { $, el, keyed, part, setText, setAttr } from "../lib/dom.js";
import { state } from "../lib/store.js";
import { href } from "../lib/router.js";

/** "all" (every desired replica ready), "some" or "none". */
export function readyClass(app) {
  if (app.replicas > 0 && app.ready >= app.replicas) return "all";
  if (app.ready > 0) return "some";
  return app.replicas === 0 ? "all" : "none";
}

/** The view an app link opens: the Scaling view while it is shown, else the App view. */
let linkView = "app";

function create(app) {
  return el(
    "li",
    {},
    el(
      "a",
      { class: "app-item", "data-testid": `app-item-${app.name}`, "data-app": app.name },
      el("span", { class: "name", "data-part": "name" }),
      el("span", { class: "ready-chip", "data-part": "ready", title: "ready / desired" }),
      el("span", { class: "image", "data-part": "image" }),
    ),
  );
}

function update(li, app) {
  const a = li.firstElementChild;
  setAttr(a, "href", href(linkView, app.name));
  a.classList.toggle("selected", app.name === state.selected);
  setAttr(a, "aria-current", app.name === state.selected ? "page" : null);
  setText(part(a, "name"), app.name);
  const ready = part(a, "ready");
  setText(ready, `${app.ready}/${app.replicas}`);
  ready.className = `ready-chip ${readyClass(app)}`;
  setText(part(a, "image"), app.image);
}

/** Redraws the list; `view` is the view its links open. */
export function renderSidebar(view) {
  linkView = view === "scaling" ? "scaling" : "app";
  keyed($("app-list"), state.apps, (a) => a.name, create, update);
  $("app-count").textContent = String(state.apps.length);
  $("app-list-empty").hidden = state.apps.length > 0;
}
