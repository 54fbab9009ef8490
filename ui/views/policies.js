// The Policies & alerts view: what each policy decides (from the engine's list) with the editor one click away,
// and the active alerts with the Alerts dialog (history, rules, webhook) one click away.
import { commands } from "../bindings.js";
import { $, el, ago, keyed, part, setText } from "../lib/dom.js";
import { state } from "../lib/store.js";

let policiesLoaded = false;

async function loadPolicyList() {
  try {
    const list = await commands.listPolicies();
    policiesLoaded = true;
    $("policies-list").replaceChildren(
      ...list.map((p) =>
        el(
          "li",
          { "data-testid": `policy-row-${p.name}` },
          el("strong", { text: p.name }),
          " ",
          el("span", { class: "badge", text: p.shipped ? "shipped" : "edited" }),
          el("div", { class: "muted", text: `package ${p.package} · rules ${p.rules.join(", ")}` }),
        ),
      ),
    );
  } catch (e) {
    $("policies-list").replaceChildren(el("li", { class: "field-error", text: String(e?.message ?? e) }));
  }
}

function createAlert() {
  return el("li", { class: "alert-row" }, el("span", { class: "badge", "data-part": "state" }), el("strong", { class: "mono", "data-part": "rule" }), el("span", { class: "muted", "data-part": "where" }), el("div", { "data-part": "summary" }));
}

function updateAlert(li, a) {
  const badge = part(li, "state");
  setText(badge, a.state);
  badge.className = `badge ${a.state === "firing" ? "state-crashed" : "state-restarting"}`;
  setText(part(li, "rule"), a.rule);
  setText(part(li, "where"), ` ${a.app ?? "all apps"} · since ${ago(Date.now() - Date.parse(a.starts_at ?? a.active_at))}`);
  setText(part(li, "summary"), a.annotations.summary ?? "");
}

/** Redraws the view from the store (and the policy list once per visit). */
export function renderPolicies(entering = false) {
  if (entering || !policiesLoaded) loadPolicyList();
  const alerts = state.alerts;
  keyed($("alerts-list"), alerts, (a) => a.fingerprint, createAlert, updateAlert);
  const firing = alerts.filter((a) => a.state === "firing").length;
  setText($("alerts-summary"), alerts.length ? `· ${firing} firing, ${alerts.length - firing} pending` : "· none active");
}
