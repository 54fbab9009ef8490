// The policy editor: the running Rego policies with Validate, Save, Reset, Run tests and Evaluate against an input
// (a draft evaluated without saving). Opened from the Policies & alerts view.
import { commands } from "../bindings.js";
import { $, el, errText, withCode } from "../lib/dom.js";
import { confirmDialog } from "../lib/toast.js";

export const policies = {
  /** @type {import("./bindings.js").PolicyView[]} */
  list: [],
  /** @type {import("./bindings.js").PolicyName} */
  selected: "admission",
};

async function openPolicies() {
  $("policies-dialog").showModal();
  await loadPolicies(true);
}

/** Fetches the policies; `fill` puts the selected one in the editors (not done on a background refresh, so an edit
 * in progress is kept). */
export async function loadPolicies(fill) {
  try {
    policies.list = await commands.listPolicies();
  } catch (e) {
    setPolicyStatus(`Could not list the policies: ${errText(e)}`, false);
    return;
  }
  renderPolicyTabs();
  if (fill) fillPolicy();
}

function currentPolicy() {
  return policies.list.find((p) => p.name === policies.selected) ?? policies.list[0];
}

function renderPolicyTabs() {
  const tabs = policies.list.map((p) =>
    el(
      "button",
      {
        type: "button",
        class: "btn btn-sm",
        role: "tab",
        "aria-selected": String(p.name === policies.selected),
        "data-testid": `policy-tab-${p.name}`,
        onclick: () => {
          policies.selected = p.name;
          renderPolicyTabs();
          fillPolicy();
        },
      },
      p.name,
      el("span", { class: "badge", text: p.shipped ? "shipped" : "edited" }),
    ),
  );
  $("policy-tabs").replaceChildren(...tabs);
  const p = currentPolicy();
  if (!p) return;
  const changed = p.shipped ? "the shipped version" : `edited by ${p.updated_by} at ${p.updated_at}`;
  $("policy-meta").textContent = `package ${p.package} · rules Crane reads: ${p.rules.join(", ")} · ${changed}`;
}

function fillPolicy() {
  const p = currentPolicy();
  if (!p) return;
  $("policy-rego").value = p.rego;
  $("policy-data").value = JSON.stringify(p.data, null, 2);
  $("policy-data-name").textContent = p.name;
  $("policy-input").value = JSON.stringify(p.sample_input, null, 2);
  $("policy-summary").hidden = true;
  $("policy-output").hidden = true;
  showPolicyDiagnostics([]);
  setPolicyStatus("", true);
}

function setPolicyStatus(text, ok) {
  const s = $("policy-status");
  s.textContent = text;
  s.className = `policy-status ${ok ? "ok" : "bad"}`;
}

function showPolicyDiagnostics(diagnostics, title = "The policy has problems") {
  const box = $("policy-diagnostics");
  if (!diagnostics.length) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const items = diagnostics.map((d) =>
    el(
      "li",
      { "data-testid": "policy-diagnostic" },
      el("div", { class: "where", text: `${d.path}${d.line > 0 ? ` · line ${d.line}, column ${d.column}` : ""}` }),
      el("div", { class: "what" }, withCode(d.message)),
      d.fix ? el("div", { class: "fix" }, el("strong", { text: "Fix: " }), withCode(d.fix)) : null,
    ),
  );
  box.replaceChildren(el("strong", { text: title }), el("ul", {}, ...items));
  box.hidden = false;
}

/** The editors' content as an update; `null` (with the problem shown) when the data is not a JSON object. */
function policyUpdate() {
  let data;
  try {
    data = JSON.parse($("policy-data").value || "{}");
  } catch (e) {
    showPolicyDiagnostics([{ line: 0, column: 0, path: "data", message: `not JSON: ${e.message}`, fix: "write a JSON object, e.g. {}" }]);
    return null;
  }
  return { rego: $("policy-rego").value, data };
}

/** Moves the editor's cursor to a diagnostic's line, so the problem is in view. */
function focusLine(line) {
  if (!line) return;
  const editor = $("policy-rego");
  const lines = editor.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  editor.focus();
  editor.setSelectionRange(start, start + (lines[line - 1] ?? "").length);
}

async function validatePolicy() {
  const update = policyUpdate();
  if (!update) return;
  try {
    const v = await commands.validatePolicy(policies.selected, update);
    showPolicyDiagnostics(v.diagnostics);
    const tests = v.tests.length ? ` (${v.tests.filter((t) => t.passed).length}/${v.tests.length} own tests pass)` : "";
    setPolicyStatus(v.valid ? `Valid${tests}: it can be saved.` : `Invalid${tests}: it would be refused.`, v.valid);
    if (!v.valid) focusLine(v.diagnostics[0]?.line);
  } catch (e) {
    setPolicyStatus(errText(e), false);
  }
}

async function savePolicy() {
  const update = policyUpdate();
  if (!update) return;
  try {
    await commands.setPolicy(policies.selected, update);
    showPolicyDiagnostics([]);
    setPolicyStatus("Saved: it decides from now on.", true);
    await loadPolicies(false);
  } catch (e) {
    showPolicyDiagnostics(e?.diagnostics ?? [], "Not saved: the running policy stays");
    setPolicyStatus(errText(e), false);
    focusLine(e?.diagnostics?.[0]?.line);
  }
}

async function resetPolicy() {
  const ok = await confirmDialog(
    `Reset the ${policies.selected} policy?`,
    "Its Rego and data return to the version Crane ships; your edit is discarded.",
    "Reset",
  );
  if (!ok) return;
  try {
    await commands.resetPolicy(policies.selected);
    await loadPolicies(true);
    setPolicyStatus("Reset to the shipped version.", true);
  } catch (e) {
    setPolicyStatus(errText(e), false);
  }
}

async function testPolicies() {
  try {
    const report = await commands.testPolicies();
    const failed = report.results
      .filter((r) => !r.passed)
      .map((r) => ({ line: 0, column: 0, path: r.policy, message: `${r.name} failed${r.error ? `: ${r.error}` : ""}`, fix: "" }));
    showPolicyDiagnostics(failed, "Failing tests");
    setPolicyStatus(`Tests: ${report.passed} passed, ${report.failed} failed.`, report.failed === 0);
  } catch (e) {
    setPolicyStatus(errText(e), false);
  }
}

async function evalPolicy() {
  const update = policyUpdate();
  if (!update) return;
  let input;
  try {
    input = JSON.parse($("policy-input").value);
  } catch (e) {
    setPolicyStatus(`The input is not JSON: ${e.message}`, false);
    return;
  }
  const summary = $("policy-summary");
  try {
    const result = await commands.evalPolicy(policies.selected, { input, rego: update.rego, data: update.data });
    summary.textContent = `${result.summary} (${Math.round(result.duration_us)} µs)`;
    summary.className = `policy-summary${result.valid ? "" : " bad"}`;
    $("policy-output").textContent = JSON.stringify(result.output, null, 2);
    $("policy-output").hidden = false;
    showPolicyDiagnostics([]);
  } catch (e) {
    summary.textContent = errText(e);
    summary.className = "policy-summary bad";
    $("policy-output").hidden = true;
    showPolicyDiagnostics(e?.diagnostics ?? []);
  }
  summary.hidden = false;
}

export function initPolicies() {
  $("open-policies").addEventListener("click", openPolicies);
  $("policy-validate").addEventListener("click", validatePolicy);
  $("policy-save").addEventListener("click", savePolicy);
  $("policy-reset").addEventListener("click", resetPolicy);
  $("policy-test").addEventListener("click", testPolicies);
  $("policy-eval").addEventListener("click", evalPolicy);
}
