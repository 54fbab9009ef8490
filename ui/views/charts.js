// Crane's SVG charts (rendered by the engine with plotters) in a box: fetched for one app and range, redrawn on
// change events at most every CHART_MIN_INTERVAL_MS, an unchanged SVG never replaced. Active content is removed
// before the SVG goes into the page.
import { commands } from "../bindings.js";
import { el, errText } from "../lib/dom.js";
import { stats } from "../lib/store.js";

/** Charts are redrawn on change events, but at most this often. */
const CHART_MIN_INTERVAL_MS = 2000;

/** A set of charts in `box`: `metrics` in order, for an app and range set later. */
export class ChartSet {
  constructor(box, metrics) {
    this.box = box;
    this.metrics = metrics;
    this.app = null;
    this.range = "fit";
    this.last = 0;
    this.timer = 0;
    this.busy = false;
    this.again = false;
    this.urgent = false;
    this.enabled = true;
    this.texts = new Map();
  }

  /** Shows `app`'s charts (cleared when the app changes). */
  show(app, range) {
    if (this.app !== app || this.range !== range) {
      this.app = app;
      this.range = range;
      this.texts.clear();
      this.box.replaceChildren();
      this.schedule(true);
    }
  }

  /** Redraws now (`immediate`) or within the throttle. */
  schedule(immediate = false) {
    if (!this.app || !this.enabled) return;
    if (immediate) {
      clearTimeout(this.timer);
      this.timer = 0;
      this.render(true);
      return;
    }
    if (this.timer) return;
    const wait = Math.max(0, this.last + CHART_MIN_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.render(false);
    }, wait);
  }

  async render(urgent) {
    if (this.busy) {
      this.again = true;
      this.urgent ||= urgent;
      return;
    }
    const { app, range } = this;
    if (!app) return;
    this.busy = true;
    this.last = Date.now();
    try {
      const results = await Promise.allSettled(this.metrics.map((m) => commands.chart(app, m, range)));
      if (this.app !== app || this.range !== range) return;
      stats.charts += 1;
      results.forEach((r, i) => this.set(this.metrics[i], r));
      this.box.dataset.app = app;
      this.box.dataset.range = range;
      this.box.dataset.renderedAt = String(Date.now());
    } finally {
      this.busy = false;
      if (this.again) {
        const u = this.urgent;
        this.again = false;
        this.urgent = false;
        this.schedule(u);
      }
    }
  }

  boxOf(metric) {
    let box = this.box.querySelector(`[data-metric="${metric}"]`);
    if (!box) {
      box = el("figure", { class: "chart", "data-metric": metric, "data-testid": `chart-${metric}` });
      this.box.append(box);
    }
    return box;
  }

  set(metric, result) {
    const box = this.boxOf(metric);
    if (result.status === "rejected") {
      this.texts.delete(metric);
      box.classList.add("chart-error");
      box.replaceChildren(el("figcaption", { text: `${metric}: ${errText(result.reason)}` }));
      return;
    }
    const text = result.value;
    if (this.texts.get(metric) === text && box.querySelector("svg")) return;
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const svg = doc.documentElement;
    if (svg.nodeName !== "svg" || doc.getElementsByTagName("parsererror").length) {
      box.classList.add("chart-error");
      box.replaceChildren(el("figcaption", { text: `${metric}: the chart could not be read` }));
      return;
    }
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
    svg.setAttribute("role", "img");
    box.style.aspectRatio = `${w} / ${h}`;
    box.classList.remove("chart-error");
    this.texts.set(metric, text);
    box.replaceChildren(document.importNode(svg, true));
  }
}
