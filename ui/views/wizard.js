// The New app wizard and Edit: fields (image with the engine's local images, ports, replicas, resources, health
// checks, autoscaling) that write the spec, and the spec itself as editable YAML, checked as it is typed by the
// engine (`check_spec`: diagnostics with line/column marked in the gutter, whether the image is present — with
// the demo image's Build button or how to get another image — and the admission policy's answer). Edit opens an
// existing app's stored YAML and applies it; the app view then shows the rollout's progress.
import { commands } from "../bindings.js";
import { $, el, errText, diagnosticItems, withCode, setText } from "../lib/dom.js";
import { toast } from "../lib/toast.js";
import { state, appNamed, invalidate } from "../lib/store.js";
import { go } from "../lib/router.js";
import { BLANK, TEMPLATES, specYaml } from "../lib/spec.js";
import { buildDemo, isBuilding } from "../lib/build.js";

const FIELDS = ["name", "image", "replicas", "port", "command", "memory"];
/** How long typing pauses before the spec is checked. */
const CHECK_DELAY_MS = 350;

const wiz = {
  /** "new" or "edit". */
  mode: "new",
  /** The app edited. */
  app: null,
  /** Whether the YAML was typed by hand (the fields then no longer rewrite it). */
  yamlEdited: false,
  timer: 0,
  seq: 0,
  /** The last answer of check_spec. */
  check: null,
};

function values() {
  const v = (id) => $(id).value.trim();
  return {
    name: v("f-name"),
    image: v("f-image"),
    replicas: v("f-replicas"),
    port: v("f-port"),
    command: v("f-command"),
    cpu: v("f-cpu"),
    memory: v("f-memory"),
    health: $("f-health").checked,
    as: $("f-as").checked,
    asMin: v("f-as-min"),
    asMax: v("f-as-max"),
    asMetric: $("f-as-metric").value,
    asTarget: v("f-as-target"),
    asStab: v("f-as-stab"),
  };
}

function fill(v) {
  $("f-name").value = v.name;
  $("f-image").value = v.image;
  $("f-replicas").value = v.replicas;
  $("f-port").value = v.port;
  $("f-command").value = v.command;
  $("f-cpu").value = v.cpu;
  $("f-memory").value = v.memory;
  $("f-health").checked = !!v.health;
  $("f-as").checked = !!v.as;
  $("f-as-min").value = v.asMin ?? BLANK.asMin;
  $("f-as-max").value = v.asMax ?? BLANK.asMax;
  $("f-as-metric").value = v.asMetric ?? BLANK.asMetric;
  $("f-as-target").value = v.asTarget ?? BLANK.asTarget;
  $("f-as-stab").value = v.asStab ?? BLANK.asStab;
  $("f-as-fields").hidden = !v.as;
}

/** The engine's app name rule (from `status`), or null before the first status answer. */
function nameRule() {
  const rules = state.status && state.status.rules;
  return rules ? { re: new RegExp(rules.app_name_pattern), max: rules.app_name_max_len, text: rules.app_name_rule } : null;
}

/** Shows the engine's name rule under the name field. */
export function renderNameHint() {
  const rule = nameRule();
  if (rule) $("f-name-hint").textContent = `${rule.text[0].toUpperCase()}${rule.text.slice(1)}; at most ${rule.max} characters.`;
}

/** The obvious mistakes of the fields, caught before the engine sees them (it checks everything again). */
function clientErrors(v) {
  const errs = {};
  const rule = nameRule();
  if (!v.name) errs.name = "Give the app a name, e.g. web.";
  else if (rule && v.name.length > rule.max) errs.name = `The name is ${v.name.length} characters long; the limit is ${rule.max}.`;
  else if (rule && !rule.re.test(v.name))
    errs.name = `“${v.name}” is not a valid name: use ${rule.text} (e.g. ${
      v.name.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^[^a-z]+/, "").replace(/-+$/, "").slice(0, rule.max) || "web"
    }).`;
  if (!v.image) errs.image = "Pick an image; the demo image works offline once built.";
  const r = Number(v.replicas);
  if (v.replicas !== "" && (!Number.isInteger(r) || r < 0 || r > 100)) errs.replicas = "Replicas: a whole number from 0 to 100.";
  const p = Number(v.port);
  if (v.port !== "" && (!Number.isInteger(p) || p < 1 || p > 65535)) errs.port = "Port: a whole number from 1 to 65535.";
  if (v.health && !v.port) errs.port = "Health checks need the container port.";
  return errs;
}

function setFieldErrors(errs) {
  for (const f of FIELDS) {
    const msg = errs[f] || "";
    const box = document.querySelector(`.field-error[data-for="${f}"]`);
    if (box) box.textContent = msg;
    $(`f-${f}`).classList.toggle("invalid", !!msg);
    if (msg) $(`f-${f}`).setAttribute("aria-invalid", "true");
    else $(`f-${f}`).removeAttribute("aria-invalid");
  }
}

/** Maps a diagnostic's dotted path to the field it is about. */
function fieldOfPath(path) {
  if (path === "name" || path === "image" || path === "replicas") return path;
  if (path.startsWith("command")) return "command";
  if (path.startsWith("ports")) return "port";
  if (path.startsWith("resources")) return "memory";
  return null;
}

// ---------------------------------------------------------------- the YAML editor

function renderGutter(diagnostics) {
  const lines = $("f-yaml").value.split("\n").length;
  const bad = new Map();
  for (const d of diagnostics) if (d.line > 0 && !bad.has(d.line)) bad.set(d.line, d.message);
  const gutter = $("f-gutter");
  const rows = [];
  for (let i = 1; i <= lines; i++) {
    const msg = bad.get(i);
    rows.push(el("div", { class: msg ? "bad" : null, title: msg ?? null, "data-line": i, text: String(i) }));
  }
  gutter.replaceChildren(...rows);
  gutter.scrollTop = $("f-yaml").scrollTop;
}

/** Selects line `line` of the YAML (a diagnostic clicked). */
function focusLine(line, column = 1) {
  const editor = $("f-yaml");
  const lines = editor.value.split("\n");
  if (!line || line > lines.length) return;
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  editor.focus();
  editor.setSelectionRange(start + Math.max(0, column - 1), start + lines[line - 1].length);
}

function showDiagnostics(err, title) {
  const box = $("f-diagnostics");
  const diagnostics = err?.diagnostics ?? [];
  renderGutter(diagnostics);
  if (!err) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const items = diagnosticItems(diagnostics);
  for (const li of items) {
    const line = Number(li.dataset.line);
    if (line) {
      li.tabIndex = 0;
      li.classList.add("jump");
      li.addEventListener("click", () => focusLine(line));
      li.addEventListener("keydown", (ev) => ev.key === "Enter" && focusLine(line));
    }
  }
  box.replaceChildren(el("strong", { text: title }), items.length ? el("ul", {}, ...items) : el("div", {}, withCode(errText(err))));
  box.hidden = false;
  const errs = {};
  for (const d of diagnostics) {
    const f = fieldOfPath(d.path);
    if (f && !errs[f]) errs[f] = `See line ${d.line} below.`;
  }
  if (!wiz.yamlEdited) setFieldErrors(errs);
}

function setYamlState() {
  setText($("f-yaml-state"), wiz.mode === "edit" ? `· ${wiz.app}'s stored spec` : wiz.yamlEdited ? "· edited by hand: the fields no longer rewrite it" : "· written by the fields");
  $("f-yaml-regen").hidden = !(wiz.mode === "new" && wiz.yamlEdited);
  $("wizard-fields").disabled = wiz.mode === "new" && wiz.yamlEdited;
}

/** The fields changed: rewrite the YAML (unless edited by hand) and check it. */
function fieldsChanged() {
  $("f-as-fields").hidden = !$("f-as").checked;
  if (wiz.mode === "new" && !wiz.yamlEdited) {
    $("f-yaml").value = specYaml(values());
    scheduleCheck();
  }
}

function yamlTyped() {
  if (wiz.mode === "new" && !wiz.yamlEdited) {
    wiz.yamlEdited = true;
    setYamlState();
  }
  renderGutter(wiz.check?.diagnostics ?? []);
  scheduleCheck();
}

function scheduleCheck() {
  clearTimeout(wiz.timer);
  wiz.timer = setTimeout(runCheck, CHECK_DELAY_MS);
}

/** Asks the engine about the YAML as it is now; a later answer wins over an earlier one. */
async function runCheck() {
  const yaml = $("f-yaml").value;
  const seq = ++wiz.seq;
  const box = $("f-check");
  box.dataset.state = "checking";
  try {
    const check = await commands.checkSpec(yaml);
    if (seq !== wiz.seq) return;
    wiz.check = check;
    renderCheck(check);
  } catch (e) {
    if (seq !== wiz.seq) return;
    wiz.check = null;
    box.dataset.state = "error";
    box.replaceChildren(el("div", { class: "field-error", text: `The spec could not be checked: ${errText(e)}` }));
  }
}

function renderCheck(c) {
  const box = $("f-check");
  box.dataset.state = c.valid ? "valid" : "invalid";
  const rows = [];
  if (!c.valid) {
    rows.push(el("div", { class: "check-row bad", "data-testid": "f-check-invalid", text: `${c.diagnostics.length} problem${c.diagnostics.length === 1 ? "" : "s"}: see the marked lines.` }));
    showDiagnostics({ code: "invalid_spec", diagnostics: c.diagnostics }, "The spec has problems");
  } else {
    showDiagnostics(null);
    setFieldErrors({});
    rows.push(el("div", { class: "check-row ok", "data-testid": "f-check-valid", text: `Valid: ${c.exists ? `applying updates ${c.name}` : `creates ${c.name}`}.` }));
    if (wiz.mode === "new" && c.exists) rows.push(el("div", { class: "check-row bad", text: `An app named ${c.name} exists: pick another name, or open it and use Edit.` }));
    if (c.image_present === false) {
      if (c.is_demo_image) {
        const button = el("button", { type: "button", class: "btn btn-sm btn-primary", "data-testid": "wizard-build-demo", "data-build-demo": "", text: "Build demo image", disabled: isBuilding() });
        button.addEventListener("click", async () => {
          await buildDemo();
          runCheck();
        });
        rows.push(el("div", { class: "check-row warn", "data-testid": "f-image-missing" }, el("span", { text: `${c.image} is not built yet on this Docker engine. ` }), button));
      } else {
        rows.push(
          el(
            "div",
            { class: "check-row warn", "data-testid": "f-image-missing" },
            withCode(`${c.image} is not on this Docker engine. Deploy asks Docker to pull it from its registry, which needs network access; offline, load it first (\`docker load -i FILE\`) or build it (\`docker build -t ${c.image} .\`).`),
          ),
        );
      }
    } else if (c.image_present === true) rows.push(el("div", { class: "check-row ok", text: `${c.image} is present.` }));
    if (c.admission) {
      const a = c.admission;
      rows.push(
        el(
          "div",
          { class: `check-row ${a.admitted ? "ok" : "bad"}`, "data-testid": "f-policy", "data-admitted": String(a.admitted) },
          a.admitted ? "Admission policy: admitted" : "Admission policy: denied — ",
          a.admitted ? (a.warn.length ? ` with warnings: ${a.warn.join("; ")}` : ".") : a.deny.join("; "),
          el("span", { class: "muted", text: " (the image scan runs at deploy)" }),
        ),
      );
    } else if (c.admission_error) rows.push(el("div", { class: "check-row bad", "data-testid": "f-policy", text: `Admission policy could not decide: ${c.admission_error}` }));
  }
  box.replaceChildren(...rows);
}

// ---------------------------------------------------------------- open, submit

async function loadImages() {
  try {
    const images = await commands.listImages();
    $("f-images").replaceChildren(...images.map((i) => el("option", { value: i.reference })));
    setText($("f-images-hint"), images.length ? `${images.length} local image${images.length === 1 ? "" : "s"}: start typing, or pick from the list.` : "No local images yet: build the demo image.");
  } catch (e) {
    setText($("f-images-hint"), `Local images unavailable: ${errText(e)}`);
  }
}

/** Opens the wizard: `mode` "new" (with a template key, or none) or "edit" (with an app name). */
export function openWizard(mode, arg) {
  wiz.mode = mode;
  wiz.app = mode === "edit" ? arg : null;
  wiz.check = null;
  wiz.seq += 1;
  $("new-app-form").dataset.state = "";
  $("new-app-form").dataset.mode = mode;
  setFieldErrors({});
  showDiagnostics(null);
  $("f-check").replaceChildren();
  renderNameHint();
  if (mode === "edit") {
    const app = appNamed(arg);
    $("wizard-title").textContent = app ? `Edit ${arg}` : `No app named ${arg}`;
    $("f-submit").textContent = "Apply";
    $("f-cancel").setAttribute("href", `#/app/${encodeURIComponent(arg)}`);
    $("wizard-fields").hidden = true;
    wiz.yamlEdited = true;
    $("f-yaml").value = app ? app.spec_yaml : "";
    $("f-submit").disabled = !app;
  } else {
    const template = TEMPLATES[arg];
    $("wizard-title").textContent = template ? `New app · ${template.title}` : "New app";
    $("f-submit").textContent = "Deploy";
    $("f-submit").disabled = false;
    $("f-cancel").setAttribute("href", "#/home");
    $("wizard-fields").hidden = false;
    wiz.yamlEdited = false;
    const v = { ...BLANK, ...(template?.values ?? {}) };
    // The demo image's tag as the engine names it (its version), when the engine said.
    if (v.image === BLANK.image && state.demo) v.image = state.demo.reference;
    fill(v);
    $("f-yaml").value = specYaml(values());
  }
  setYamlState();
  renderGutter([]);
  runCheck();
  loadImages();
  (mode === "edit" ? $("f-yaml") : $("f-name")).focus();
}

async function submit(ev) {
  ev.preventDefault();
  clearTimeout(wiz.timer);
  const form = $("new-app-form");
  if (wiz.mode === "new" && !wiz.yamlEdited) {
    const v = values();
    const errs = clientErrors(v);
    setFieldErrors(errs);
    if (Object.keys(errs).length) {
      form.dataset.state = "invalid";
      return;
    }
    $("f-yaml").value = specYaml(v);
  }
  const yaml = $("f-yaml").value;
  const button = $("f-submit");
  button.disabled = true;
  const label = button.textContent;
  button.textContent = wiz.mode === "edit" ? "Applying…" : "Deploying…";
  wiz.seq += 1; // a check under way must not overwrite the answer below
  try {
    const result = wiz.mode === "edit" ? await commands.apply(yaml) : await commands.create(yaml);
    const remarks = [...result.warnings, ...result.policy_warnings.map((w) => `Policy: ${w}`)];
    const verb = wiz.mode === "edit" ? (result.action === "unchanged" ? "Nothing changed in" : `Applied ${result.action}:`) : "Created";
    toast(remarks.length ? `${verb} ${result.app.name} — ${remarks.join(" ")}` : `${verb} ${result.app.name}`);
    form.dataset.state = "done";
    invalidate({ list: true, status: true, events: true }, true);
    go("app", result.app.name);
  } catch (e) {
    form.dataset.state = "rejected";
    const err = typeof e === "object" && e ? e : { code: "internal", message: errText(e), diagnostics: [] };
    const title =
      err.code === "invalid_spec" ? "The engine rejected the spec" : err.code === "policy_denied" ? "A policy denied this app" : wiz.mode === "edit" ? "Could not apply the spec" : "Could not create the app";
    showDiagnostics(err, title);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

export function initWizard() {
  const form = $("new-app-form");
  form.addEventListener("submit", submit);
  $("wizard-fields").addEventListener("input", fieldsChanged);
  $("wizard-fields").addEventListener("change", fieldsChanged);
  $("f-yaml").addEventListener("input", yamlTyped);
  $("f-yaml").addEventListener("scroll", () => ($("f-gutter").scrollTop = $("f-yaml").scrollTop));
  $("f-yaml-regen").addEventListener("click", () => {
    wiz.yamlEdited = false;
    setYamlState();
    fieldsChanged();
  });
}
