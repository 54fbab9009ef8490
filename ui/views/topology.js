// The live topology of an app as SVG: the load balancer on the left, an edge to each instance on the right.
// Instances appear and vanish (keyed by name, faded in and out), are coloured by state, and their edge's width
// follows the share of requests the balancer sends them. Long-lived connections (WebSockets, tcp ports) open to an
// instance are drawn as a dashed second edge labelled with their count. Each instance is a focusable button (Enter or
// click selects it); the Scaling view shows its logs and probes.
import { num } from "../lib/dom.js";

const NS = "http://www.w3.org/2000/svg";
const W = 520;
const ROW = 34;
const LB = { x: 16, w: 150, h: 54 };
const INST = { x: 330, w: 174, h: 26 };

function svgEl(tag, attrs = {}) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  return n;
}

/** Draws (or updates) the topology of `app` in `box`; `onPick(name)` is called when an instance is chosen. */
export function renderTopology(box, app, selected, onPick) {
  let svg = box.querySelector("svg");
  if (!svg) {
    svg = svgEl("svg", { class: "topo-svg", role: "group", "aria-label": "Load balancer and instances" });
    svg.append(svgEl("g", { class: "topo-edges" }), svgEl("g", { class: "topo-lb" }), svgEl("g", { class: "topo-instances" }));
    box.append(svg);
  }
  const instances = app.instances;
  const n = Math.max(1, instances.length);
  const height = Math.max(120, n * ROW + 24);
  svg.setAttribute("viewBox", `0 0 ${W} ${height}`);
  const lbY = height / 2 - LB.h / 2;
  // The load balancer.
  const lb = svg.querySelector(".topo-lb");
  const open = app.traffic?.open_connections ?? 0;
  const rps = app.traffic ? `${num(app.traffic.rps, 1)} req/s${open > 0 ? ` · ${num(open, 0)} open` : ""}` : "no port";
  lb.replaceChildren(
    svgEl("rect", { x: LB.x, y: lbY, width: LB.w, height: LB.h, rx: 10, class: "topo-lb-box" }),
    Object.assign(svgEl("text", { x: LB.x + 12, y: lbY + 22, class: "topo-title" }), { textContent: "load balancer" }),
    Object.assign(svgEl("text", { x: LB.x + 12, y: lbY + 41, class: "topo-sub", "data-testid": "topo-rps" }), { textContent: app.url ? `${app.url.replace(/^https?:\/\//, "")} · ${rps}` : rps }),
  );
  // Edge width: the share of the load balancer's requests per second each instance gets.
  const rates = instances.map((i) => i.traffic?.rps ?? 0);
  const max = Math.max(...rates, 0);
  const edges = svg.querySelector(".topo-edges");
  const layer = svg.querySelector(".topo-instances");
  const keep = new Set(instances.map((i) => i.name));
  for (const g of [...layer.children]) {
    if (!keep.has(g.dataset.name) && !g.classList.contains("leaving")) {
      g.classList.add("leaving");
      setTimeout(() => g.remove(), 450);
    }
  }
  edges.replaceChildren();
  instances.forEach((inst, i) => {
    const y = 12 + i * ROW + (height - 24 - n * ROW) / 2;
    const cy = y + INST.h / 2;
    const width = max > 0 ? 1.5 + (7 * (inst.traffic?.rps ?? 0)) / max : 1.5;
    const path = svgEl("path", {
      d: `M ${LB.x + LB.w} ${lbY + LB.h / 2} C ${LB.x + LB.w + 80} ${lbY + LB.h / 2}, ${INST.x - 80} ${cy}, ${INST.x} ${cy}`,
      class: `topo-edge state-${inst.state}`,
      "stroke-width": width.toFixed(1),
    });
    edges.append(path);
    const conns = inst.traffic?.open_connections ?? 0;
    if (conns > 0) {
      // Long-lived connections: a dashed edge just below the request edge, its count at the instance's end.
      const from = lbY + LB.h / 2 + 6;
      const to = cy + 6;
      edges.append(
        svgEl("path", {
          d: `M ${LB.x + LB.w} ${from} C ${LB.x + LB.w + 80} ${from}, ${INST.x - 80} ${to}, ${INST.x} ${to}`,
          class: "topo-conn",
          "stroke-width": Math.min(6, 1.5 + Math.log2(1 + conns)).toFixed(1),
          "data-testid": `topo-conn-${inst.name}`,
        }),
        Object.assign(svgEl("text", { x: INST.x - 6, y: to + 12, class: "topo-sub", "text-anchor": "end" }), {
          textContent: `${num(conns, 0)} open`,
        }),
      );
    }
    let g = [...layer.children].find((c) => c.dataset.name === inst.name && !c.classList.contains("leaving"));
    if (!g) {
      g = svgEl("g", { class: "topo-inst entering", tabindex: "0", role: "button", "data-testid": `topo-instance-${inst.name}` });
      g.dataset.name = inst.name;
      g.dataset.entering = "1";
      g.append(svgEl("rect", { width: INST.w, height: INST.h, rx: 7 }), svgEl("circle", { cx: 13, cy: INST.h / 2, r: 5 }), svgEl("text", { x: 26, y: 17, class: "topo-name" }), svgEl("text", { x: INST.w - 8, y: 17, class: "topo-rate", "text-anchor": "end" }));
      g.addEventListener("click", () => onPick(g.dataset.name));
      g.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          onPick(g.dataset.name);
        }
      });
      layer.append(g);
      // Two frames: the first paints it transparent, the second starts the fade-in.
      requestAnimationFrame(() =>
        requestAnimationFrame(() => {
          delete g.dataset.entering;
          g.classList.remove("entering");
        }),
      );
    }
    g.setAttribute("transform", `translate(${INST.x} ${y})`);
    g.setAttribute("class", `topo-inst state-${inst.state}${inst.name === selected ? " selected" : ""}${g.dataset.entering ? " entering" : ""}`);
    g.dataset.state = inst.state;
    g.setAttribute(
      "aria-label",
      `${inst.name}, ${inst.state}${inst.traffic ? `, ${num(inst.traffic.rps, 1)} requests per second` : ""}${conns > 0 ? `, ${num(conns, 0)} open connections` : ""}`,
    );
    g.setAttribute("aria-pressed", inst.name === selected ? "true" : "false");
    g.querySelector(".topo-name").textContent = inst.name;
    g.querySelector(".topo-rate").textContent = inst.traffic ? `${num(inst.traffic.rps, 1)}/s` : inst.state;
  });
  box.dataset.instances = String(instances.length);
}
