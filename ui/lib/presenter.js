// For projectors and classrooms: Ctrl +/−/0 zoom, a presenter mode (larger text, side columns collapsed) and the
// colour theme (the system's, or light or dark chosen by the user). Choices persist in localStorage.
import { $ } from "./dom.js";

const ZOOMS = [0.67, 0.75, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 1.75, 2];
const THEMES = ["system", "light", "dark"];

const saved = (key, fallback) => {
  try {
    return localStorage.getItem(`crane.${key}`) ?? fallback;
  } catch {
    return fallback;
  }
};
const save = (key, value) => {
  try {
    localStorage.setItem(`crane.${key}`, String(value));
  } catch {
    // Private mode: the choice lasts for this window only.
  }
};

let zoom = Number(saved("zoom", "1")) || 1;

/** Sets the page zoom (a factor from ZOOMS) and says it in the zoom label. */
export function setZoom(z) {
  zoom = ZOOMS.reduce((best, v) => (Math.abs(v - z) < Math.abs(best - z) ? v : best), 1);
  document.documentElement.style.zoom = String(zoom);
  document.documentElement.dataset.zoom = String(zoom);
  const label = $("zoom-level");
  if (label) label.textContent = `${Math.round(zoom * 100)}%`;
  save("zoom", zoom);
}

/** One step bigger (+1) or smaller (−1). */
export function stepZoom(dir) {
  const i = ZOOMS.indexOf(zoom);
  setZoom(ZOOMS[Math.max(0, Math.min(ZOOMS.length - 1, (i < 0 ? 4 : i) + dir))]);
}

/** Presenter mode on or off. */
export function setPresenter(on) {
  document.body.classList.toggle("presenter", on);
  const b = $("presenter-toggle");
  if (b) b.setAttribute("aria-pressed", on ? "true" : "false");
  save("presenter", on ? "1" : "0");
}

/** "system" (follows prefers-color-scheme), "light" or "dark". */
export function setTheme(theme) {
  const t = THEMES.includes(theme) ? theme : "system";
  if (t === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  const b = $("theme-toggle");
  if (b) {
    b.dataset.theme = t;
    b.textContent = `Theme: ${t}`;
  }
  save("theme", t);
}

/** The theme in force now ("light" or "dark"), whatever chose it. */
export function effectiveTheme() {
  const t = document.documentElement.dataset.theme;
  if (t) return t;
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

/** Restores the saved choices and wires the hotkeys and buttons. */
export function initPresenter() {
  setZoom(zoom);
  setPresenter(saved("presenter", "0") === "1");
  setTheme(saved("theme", "system"));
  window.addEventListener("keydown", (ev) => {
    if (!(ev.ctrlKey || ev.metaKey) || ev.altKey) return;
    if (ev.key === "+" || ev.key === "=") stepZoom(1);
    else if (ev.key === "-" || ev.key === "_") stepZoom(-1);
    else if (ev.key === "0") setZoom(1);
    else return;
    ev.preventDefault();
  });
  $("presenter-toggle").addEventListener("click", () => setPresenter(!document.body.classList.contains("presenter")));
  $("theme-toggle").addEventListener("click", () => {
    const now = $("theme-toggle").dataset.theme || "system";
    setTheme(THEMES[(THEMES.indexOf(now) + 1) % THEMES.length]);
  });
  $("zoom-in").addEventListener("click", () => stepZoom(1));
  $("zoom-out").addEventListener("click", () => stepZoom(-1));
  $("zoom-reset").addEventListener("click", () => setZoom(1));
}
