// Building the demo image: one click from the first-run checklist, the wizard or Settings; progress arrives as
// `progress` changes (operation "demo-image") and shows in the floating card at the bottom left.
import { commands } from "../bindings.js";
import { $, errText } from "./dom.js";
import { toast } from "./toast.js";
import { invalidate } from "./store.js";

let hideTimer = 0;
let building = false;

/** Whether a build is under way (its buttons are disabled). */
export function isBuilding() {
  return building;
}

/** Draws one progress report of the build. */
export function renderBuildProgress(p) {
  const box = $("build");
  clearTimeout(hideTimer);
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
    if (p.fraction == null) bar.classList.add("indeterminate");
    else {
      bar.classList.remove("indeterminate");
      bar.style.width = `${Math.round(Math.max(0, Math.min(1, p.fraction)) * 100)}%`;
    }
  }
  box.dataset.state = p.done ? (p.error ? "failed" : "done") : "running";
  building = !p.done;
  for (const b of document.querySelectorAll("[data-build-demo]")) b.disabled = building;
  if (p.done && !p.error) hideTimer = setTimeout(() => (box.hidden = true), 8000);
  if (p.done) invalidate({ demo: true }, true);
}

/** Builds the demo image (the progress card follows it). */
export async function buildDemo() {
  if (building) return;
  renderBuildProgress({ operation: "demo-image", message: "Starting…", fraction: null, done: false, error: null });
  try {
    const tag = await commands.buildDemoImage();
    renderBuildProgress({ operation: "demo-image", message: `Built ${tag}`, fraction: 1, done: true, error: null });
    toast(`Built ${tag}`);
  } catch (e) {
    renderBuildProgress({ operation: "demo-image", message: "", fraction: null, done: true, error: errText(e) });
  }
}

/** Wires every `[data-build-demo]` button (present now) and the card's close button. */
export function initBuild() {
  for (const b of document.querySelectorAll("[data-build-demo]")) b.addEventListener("click", buildDemo);
  $("build-close").addEventListener("click", () => ($("build").hidden = true));
}
