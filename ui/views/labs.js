// The Labs view. Preset labs (a folder: manifest, Markdown steps, the resources it needs, checks per step) come with
// the labs API; until the engine has it, this view lists nothing and says so — it never shows labs that are not
// there. Entry point for the labs work: `renderLabs(container)`, called whenever the view is shown or the engine
// reports a change while it is shown.
import { el } from "../lib/dom.js";

/** Draws the Labs view into `container` (the element with data-testid "labs-body"). */
export function renderLabs(container) {
  if (container.dataset.drawn === "true") return;
  container.dataset.drawn = "true";
  container.replaceChildren(
    el(
      "div",
      { class: "card" },
      el("div", { class: "card-title" }, el("span", { text: "Preset labs" })),
      el(
        "div",
        { class: "card-body" },
        el("p", { "data-testid": "labs-none", text: "No labs are available in this version of Crane yet." }),
        el("p", {
          class: "hint",
          text: "A lab will be a folder an instructor loads: its apps, policies and alert rules, Markdown steps, and checks over Crane's real state that turn green as students work; reset removes exactly what it created.",
        }),
      ),
    ),
  );
}
