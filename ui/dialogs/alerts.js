// The Alerts dialog: active alerts and recent changes of the built-in evaluator, the rule file with live validation,
// and the Alertmanager webhook receiver's URL and token. Opened from the Policies & alerts view.
import { commands } from "../bindings.js";
import { $, el, ago, errText, withCode } from "../lib/dom.js";
import { toast, confirmDialog, copyOnClick } from "../lib/toast.js";

const ALERT_HISTORY_LIMIT = 50;

/** Loads the rule file into the editor (only when opening: typing is never overwritten by a refresh). */
async function openAlerts() {
  const dlg = $("alerts-dialog");
  alertRulesDiagnostics(null);
  $("alert-rules-status").textContent = "";
  if (!dlg.open) dlg.showModal();
  try {
    const rules = await commands.alertRules();
    $("alert-rules-yaml").value = rules.yaml;
    alertRulesOrigin(rules);
  } catch (e) {
    $("alert-rules-status").textContent = errText(e);
  }
  loadWebhook();
  await refreshAlertsDialog();
}

function nRules(n) {
  return `${n} rule${n === 1 ? "" : "s"}`;
}

function alertRulesOrigin(rules) {
  $("alert-rules-origin").textContent = `· ${nRules(rules.rules.length)}${rules.is_default ? ", as Crane ships them" : ""}`;
}

function alertValue(v) {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4).replace(/\.?0+$/, "");
}

/** The active alerts and recent transitions, while the dialog is open (the header's count comes from the store). */
export async function refreshAlertsDialog() {
  let active;
  try {
    active = await commands.activeAlerts();
  } catch {
    return;
  }
  if (!$("alerts-dialog").open) return;
  $("alerts-body").replaceChildren(
    ...(active.length
      ? active.map((a) =>
          el(
            "tr",
            { "data-alert": a.rule, "data-state": a.state },
            el("td", { class: "mono", text: a.rule }),
            el("td", { class: a.state, text: a.state }),
            el("td", { class: "mono", text: a.app ?? "—" }),
            el("td", { text: alertValue(a.value) }),
            el("td", { text: `${ago(Date.now() - Date.parse(a.starts_at ?? a.active_at))}` }),
            el("td", { text: a.annotations.summary ?? "" }),
          ),
        )
      : [el("tr", {}, el("td", { colspan: 6, class: "muted", text: "No active alerts." }))]),
  );
  try {
    const history = await commands.alertHistory(ALERT_HISTORY_LIMIT);
    $("alert-history-body").replaceChildren(
      ...(history.length
        ? history.map((t) =>
            el(
              "tr",
              {},
              el("td", { text: new Date(t.at).toLocaleString() }),
              el("td", { class: "mono", text: t.rule }),
              el("td", { class: "mono", text: t.app ?? "—" }),
              el("td", { class: t.to === "inactive" ? "" : t.to, text: `${t.from} → ${t.to}` }),
              el("td", { text: alertValue(t.value) }),
              el("td", { class: "mono", text: t.action ?? "—" }),
            ),
          )
        : [el("tr", {}, el("td", { colspan: 6, class: "muted", text: "No changes yet." }))]),
    );
  } catch (e) {
    $("alert-rules-status").textContent = errText(e);
  }
}

function alertRulesDiagnostics(err) {
  const box = $("alert-rules-diagnostics");
  if (!err) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const items = (err.diagnostics || []).map((d) =>
    el(
      "li",
      { "data-testid": "alert-rules-diagnostic" },
      el("div", { class: "where", text: `${d.line > 0 ? `line ${d.line}, column ${d.column}` : "file"}${d.path ? ` · ${d.path}` : ""}` }),
      el("div", { class: "what" }, withCode(d.message)),
      d.fix ? el("div", { class: "fix" }, el("strong", { text: "Fix: " }), withCode(d.fix)) : null,
    ),
  );
  box.replaceChildren(
    el("strong", { text: err.code === "invalid_spec" ? "The rule file has problems; nothing was saved" : "Not saved" }),
    items.length ? el("ul", {}, ...items) : el("div", {}, withCode(errText(err))),
  );
  box.hidden = false;
}

// ---------------------------------------------------------------- Alertmanager webhook

/** Shows the webhook receiver's URL (and, on request, its token and an Alertmanager receiver snippet). */
async function loadWebhook(rotate = false) {
  $("webhook-error").textContent = "";
  try {
    const info = await commands.webhookInfo(rotate);
    $("webhook-url").textContent = info.url;
    $("webhook-token").textContent = info.token;
    $("webhook-config").textContent =
      `receivers:\n  - name: crane\n    webhook_configs:\n      - url: ${info.url}\n        send_resolved: true\n` +
      `        http_config:\n          authorization:\n            type: Bearer\n            credentials_file: ${info.token_file}\n`;
    if (rotate) toast("Webhook token replaced: give Alertmanager the new one");
  } catch (e) {
    $("webhook-error").textContent = errText(e);
  }
}

function toggleWebhookToken() {
  const shown = $("webhook-token").hidden;
  $("webhook-token").hidden = !shown;
  $("webhook-copy").hidden = !shown;
  $("webhook-config").hidden = !shown;
  $("webhook-show").textContent = shown ? "Hide token" : "Show token";
}

async function rotateWebhook() {
  const ok = await confirmDialog(
    "Replace the webhook token?",
    "Alertmanager's requests with the current token are refused from now on; give it the new one (its credentials_file is rewritten, so a receiver that reads the file picks it up on its next reload).",
    "Replace",
  );
  if (ok) await loadWebhook(true);
}

// Validates the rule file while it is typed (after a pause), so problems show with their line before Save.
let alertRulesTimer = 0;
// Bumped by every button action, so a live check that was under way does not overwrite what the action said.
let alertRulesSeq = 0;
function liveValidateAlertRules() {
  clearTimeout(alertRulesTimer);
  alertRulesTimer = setTimeout(async () => {
    const yaml = $("alert-rules-yaml").value;
    const seq = alertRulesSeq;
    try {
      const n = await commands.validateAlertRules(yaml);
      if ($("alert-rules-yaml").value !== yaml || seq !== alertRulesSeq) return;
      alertRulesDiagnostics(null);
      $("alert-rules-status").textContent = `Valid: ${nRules(n)}.`;
    } catch (e) {
      if ($("alert-rules-yaml").value !== yaml || seq !== alertRulesSeq) return;
      $("alert-rules-status").textContent = "";
      alertRulesDiagnostics(typeof e === "object" && e ? e : { code: "internal", message: errText(e), diagnostics: [] });
    }
  }, 600);
}

async function alertRulesAction(which) {
  clearTimeout(alertRulesTimer);
  alertRulesSeq += 1;
  const yaml = $("alert-rules-yaml").value;
  alertRulesDiagnostics(null);
  $("alert-rules-status").textContent = "";
  try {
    if (which === "validate") {
      const n = await commands.validateAlertRules(yaml);
      $("alert-rules-status").textContent = `Valid: ${nRules(n)}.`;
      return;
    }
    if (which === "reset") {
      const ok = await confirmDialog("Reset the alert rules?", "Crane's shipped rules replace the saved ones.", "Reset");
      if (!ok) return;
    }
    const rules = which === "save" ? await commands.setAlertRules(yaml) : await commands.resetAlertRules();
    $("alert-rules-yaml").value = rules.yaml;
    alertRulesOrigin(rules);
    $("alert-rules-status").textContent = which === "save" ? `Saved: ${nRules(rules.rules.length)}.` : "Reset to Crane's shipped rules.";
  } catch (e) {
    alertRulesDiagnostics(typeof e === "object" && e ? e : { code: "internal", message: errText(e), diagnostics: [] });
  }
  await refreshAlertsDialog();
}

export function initAlerts() {
  $("alerts-open").addEventListener("click", openAlerts);
  $("alert-rules-validate").addEventListener("click", () => alertRulesAction("validate"));
  $("alert-rules-save").addEventListener("click", () => alertRulesAction("save"));
  $("alert-rules-reset").addEventListener("click", () => alertRulesAction("reset"));
  $("alert-rules-yaml").addEventListener("input", liveValidateAlertRules);
  $("webhook-show").addEventListener("click", toggleWebhookToken);
  $("webhook-rotate").addEventListener("click", rotateWebhook);
  copyOnClick("webhook-copy", "webhook-token", "Webhook token", "the token");
}
