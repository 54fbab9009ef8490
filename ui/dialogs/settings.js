// The engine settings dialog (safety floor, host paths, Alertmanager, OPA, token rotation) and the REST API token
// shown in the Settings view.
import { commands } from "../bindings.js";
import { $, errText } from "../lib/dom.js";
import { toast, confirmDialog, copyOnClick } from "../lib/toast.js";
import { refreshAll } from "../lib/store.js";

const state = { tokenShown: false };

export async function toggleToken() {
  const pop = $("token-pop");
  if (state.tokenShown) {
    state.tokenShown = false;
    pop.hidden = true;
    $("token-toggle").textContent = "Show token";
    $("token-toggle").setAttribute("aria-expanded", "false");
    return;
  }
  try {
    $("api-token").textContent = await commands.apiToken();
    state.tokenShown = true;
    pop.hidden = false;
    $("token-toggle").textContent = "Hide token";
    $("token-toggle").setAttribute("aria-expanded", "true");
  } catch (e) {
    toast(`No token: ${errText(e)}`, true);
  }
}

/** The settings as the dialog last loaded them, so Save sends only what changed. */
let loadedSettings = null;

/** The allow-list as typed: one path per line, blank lines dropped. */
function typedPaths() {
  return $("s-paths")
    .value.split("\n")
    .map((p) => p.trim())
    .filter((p) => p);
}

function renderUnsafeWarning() {
  $("s-unsafe-warning").hidden = !$("s-unsafe").checked;
}

export async function openSettings() {
  $("s-error").textContent = "";
  try {
    loadedSettings = await commands.settings();
  } catch (e) {
    toast(`Could not read the settings: ${errText(e)}`, true);
    return;
  }
  $("s-unsafe").checked = loadedSettings.allow_unsafe;
  $("s-paths").value = loadedSettings.host_path_allow.join("\n");
  $("s-alertmanager").value = loadedSettings.alertmanager_url ?? "";
  $("s-opa").value = loadedSettings.opa_url ?? "";
  for (const name of OPA_POLICY_NAMES) $(`s-opa-${name}`).checked = loadedSettings.opa_policies.includes(name);
  renderUnsafeWarning();
  $("rotate-result").hidden = true;
  $("settings-dialog").showModal();
}

async function rotateToken() {
  const ok = await confirmDialog(
    "Rotate the API token?",
    "The current token stops working at once. cranectl picks up the new one by itself; scripts, curl commands and Prometheus configs that hold the old one must be given the new one.",
    "Rotate",
  );
  if (!ok) return;
  try {
    const rotated = await commands.rotateToken();
    // Where the new token is, never the token itself; "Show token" shows it on request.
    $("rotate-result").textContent = `Token replaced. The new one is in ${rotated.token_file}.`;
    $("rotate-result").hidden = false;
    if (state.tokenShown) $("api-token").textContent = await commands.apiToken();
  } catch (e) {
    $("s-error").textContent = `Could not rotate the token: ${errText(e)}`;
  }
}

const OPA_POLICY_NAMES = ["admission", "scaling", "alerts"];

async function saveSettings(ev) {
  ev.preventDefault();
  const update = { allow_unsafe: null, host_path_allow: null, alertmanager_url: null, opa_url: null, opa_policies: null };
  const unsafe = $("s-unsafe").checked;
  if (unsafe !== loadedSettings.allow_unsafe) update.allow_unsafe = unsafe;
  const paths = typedPaths();
  if (paths.join("\n") !== loadedSettings.host_path_allow.join("\n")) update.host_path_allow = paths;
  const am = $("s-alertmanager").value.trim();
  if (am !== (loadedSettings.alertmanager_url ?? "")) update.alertmanager_url = am;
  const opa = $("s-opa").value.trim();
  if (opa !== (loadedSettings.opa_url ?? "")) update.opa_url = opa;
  const opaPolicies = OPA_POLICY_NAMES.filter((name) => $(`s-opa-${name}`).checked);
  if (opaPolicies.join(",") !== loadedSettings.opa_policies.join(",")) update.opa_policies = opaPolicies;
  if (Object.values(update).every((v) => v === null)) {
    $("settings-dialog").close();
    return;
  }
  const save = $("s-save");
  save.disabled = true;
  try {
    loadedSettings = await commands.setSettings(update);
    $("settings-dialog").close();
    toast(loadedSettings.allow_unsafe ? "Settings saved: unsafe mode is ON" : "Settings saved");
    refreshAll();
  } catch (e) {
    $("s-error").textContent = errText(e);
  } finally {
    save.disabled = false;
  }
}


export function initSettings() {
  $("token-toggle").addEventListener("click", toggleToken);
  copyOnClick("token-copy", "api-token", "Token", "the token");
  $("open-settings").addEventListener("click", openSettings);
  $("unsafe-pill").addEventListener("click", openSettings);
  $("s-unsafe").addEventListener("change", renderUnsafeWarning);
  $("settings-form").addEventListener("submit", saveSettings);
  $("s-cancel").addEventListener("click", () => $("settings-dialog").close());
  $("rotate-token").addEventListener("click", rotateToken);
}
