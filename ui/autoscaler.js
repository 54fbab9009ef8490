// The autoscaler card's details and the scale-to-zero banner, from the app view's typed fields
// (`AppView.autoscaling`: the policy with its defaults, `last_decision` with `ratio`, `recommendation` and `limits`,
// `scale_to_zero`). Nothing here reads the spec's YAML or parses a reason's prose.
//
// Exports pure builders: each takes an AppView and returns DOM nodes; the caller puts them in place.

import { el as h } from "./lib/dom.js";

/** A number as the reasons write it: at most one decimal from 10 up, two below. */
function num(v) {
  if (v == null || !Number.isFinite(v)) return "—";
  const text = Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
  return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}

/** A duration in ms: "850 ms", "60s", "5m", "1m 30s". */
export function durationText(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${Math.floor(s / 60)}m ${s % 60}s`;
}

/** The metric's target with its unit: "70% CPU", "20 req/s per replica", "p95 200 ms". */
export function targetText(a) {
  switch (a.metric) {
    case "cpu":
      return `${a.target}% CPU`;
    case "memory":
      return `${a.target}% memory`;
    case "rps":
      return `${a.target} req/s per replica`;
    case "latency_p95":
      return `p95 ${a.target} ms`;
    default:
      return `${a.metric} ${a.target}`;
  }
}

/** One sentence per rule that changed or held a decision, from its typed fields. */
export function limitText(limit, policy) {
  const tolerance = Math.round((limit.tolerance ?? policy.tolerance) * 100);
  switch (limit.rule) {
    case "tolerance":
      return `tolerance: ratio ${num(limit.ratio)} is within 1 ± ${tolerance}%`;
    case "set_aside":
      return `unready instances and those without a sample recounted: ratio ${num(limit.ratio)} is within the band or past the target`;
    case "direction":
      return `direction check: the formula gave ${limit.wanted}, which moves against the metric`;
    case "no_data":
      return "no sample or value yet";
    case "max":
      return `max ${limit.bound}: the metric asked for ${limit.wanted}`;
    case "min":
      return `min ${limit.bound}: the metric asked for ${limit.wanted}`;
    case "out_of_range":
      return `outside [${limit.bound}, ${limit.bound_max}]: brought back to the nearest bound`;
    case "stabilization":
      return `stabilization window ${durationText(limit.window_ms)}: no lower than its highest recommendation, ${limit.highest}`;
    case "step_up":
      return `step limit: at most ${limit.step} added per decision (wanted ${limit.wanted})`;
    case "step_down":
      return `step limit: at most ${limit.step} removed per decision (wanted ${limit.wanted})`;
    case "at_zero":
      return "at zero: the next request wakes the app";
    default:
      return limit.rule;
  }
}

/**
 * The ratio against the tolerance band: a bar from 0 to 2 (usage / target), the band 1 ± tolerance shaded and the
 * current ratio marked. Returns null when the last decision did not look at the metric.
 */
export function ratioBand(policy, decision) {
  if (!decision || decision.ratio == null) return null;
  const tol = policy.tolerance;
  const scale = (r) => `${Math.max(0, Math.min(2, r)) * 50}%`;
  const side = decision.ratio > 1 + tol ? "above" : decision.ratio < 1 - tol ? "below" : "within";
  return h(
    "div",
    { class: "ratio-band", "data-testid": "autoscaler-ratio", "data-ratio": String(decision.ratio), "data-side": side },
    h("div", { class: "ratio-label" },
      h("span", { text: `ratio ${num(decision.ratio)}` }),
      h("span", { class: "muted", text: ` (${num(decision.value)} / ${num(policy.target)}) — ${side} the band 1 ± ${Math.round(tol * 100)}%` }),
    ),
    h("div", { class: "ratio-track" },
      h("div", { class: "ratio-zone", style: `left:${scale(1 - tol)};width:${scale(2 * tol)}` }),
      h("div", { class: "ratio-target", style: `left:${scale(1)}` }),
      h("div", { class: `ratio-mark ratio-${side}`, style: `left:${scale(decision.ratio)}` }),
    ),
  );
}

/** The rules that held or limited the last decision, each with its numbers (stabilization lists its window). */
export function decisionRules(policy, decision) {
  if (!decision || decision.limits.length === 0) return null;
  const held = decision.change === "none";
  return h(
    "div",
    { class: "decision-rules", "data-testid": "autoscaler-rules" },
    h("div", { class: "decision-label", text: held ? "Held by" : "Limited by" }),
    h(
      "ul",
      {},
      ...decision.limits.map((limit) =>
        h(
          "li",
          { "data-rule": limit.rule },
          h("span", { text: limitText(limit, policy) }),
          limit.rule === "stabilization"
            ? h(
                "ol",
                { class: "window-recs", "data-testid": "autoscaler-window" },
                ...limit.recommendations.map((r) =>
                  h("li", {
                    "data-replicas": String(r.replicas),
                    text: `${new Date(r.at).toISOString().slice(11, 19)} UTC → ${r.replicas}`,
                  }),
                ),
              )
            : null,
        ),
      ),
    ),
  );
}

/** The autoscaler card's details: the ratio against the band and the rules of the last decision. */
export function autoscalerDetails(app) {
  const policy = app && app.autoscaling;
  if (!policy) return [];
  const decision = policy.last_decision;
  const nodes = [ratioBand(policy, decision), decisionRules(policy, decision)];
  if (policy.idle_after_ms != null) {
    nodes.push(
      h("div", { class: "hint", "data-testid": "autoscaler-idle" }, `Scales to zero after ${durationText(policy.idle_after_ms)} without a request.`),
    );
  }
  return nodes.filter(Boolean);
}

/**
 * The app page's scale-to-zero banner: at zero "scaled to zero — the next request wakes it", while waking the held
 * requests, and the last cold start. Empty for an app that does not scale to zero, or serves without having woken.
 */
export function scaleToZeroBanner(app) {
  const zero = app && app.autoscaling && app.autoscaling.scale_to_zero;
  if (!zero) return [];
  const cold = zero.last_cold_start_ms != null ? `last cold start ${durationText(zero.last_cold_start_ms)}` : null;
  let text;
  if (zero.phase === "zero") text = "Scaled to zero — the next request wakes it.";
  else if (zero.phase === "waking") text = `Waking from zero — ${zero.held} request${zero.held === 1 ? "" : "s"} held until an instance is ready.`;
  else if (cold) text = "Woke from zero.";
  else return [];
  return [
    h(
      "div",
      { class: `zero-banner zero-${zero.phase}`, "data-testid": "zero-banner", "data-phase": zero.phase },
      h("span", { class: "zero-text", text }),
      cold ? h("span", { class: "muted", "data-testid": "zero-cold-start", text: ` · ${cold}` }) : null,
      zero.refused > 0 ? h("span", { class: "muted", text: ` · ${zero.refused} refused (queue of ${zero.max_held}, wait ${durationText(zero.hold_timeout_ms)})` }) : null,
    ),
  ];
}
