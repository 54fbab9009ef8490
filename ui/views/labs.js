// The Labs view: the preset labs Crane ships (assets/labs) and any an instructor loads from a folder or an archive;
// the loaded lab's steps beside its live checks (decided by the engine against the real state, `lab_status`), its
// load progress, and its reset (which removes exactly what the lab created). Lists are updated in place, so focus
// and the reader's place survive the refreshes engine changes cause.
import { commands } from "../bindings.js";
import { el, errText, keyed, part, setAttr, setText } from "../lib/dom.js";
import { href } from "../lib/router.js";
import { toast, confirmDialog } from "../lib/toast.js";

const LEVEL_TEXT = { beginner: "Beginner", intermediate: "Intermediate", advanced: "Advanced" };
/** Least time between two refreshes caused by engine changes while the view is shown. */
const REFRESH_MS = 700;

const labs = {
  /** @type {import("../bindings.js").LabSummaryView[]} */
  list: [],
  /** @type {import("../bindings.js").LabView | null} */
  loaded: null,
  /** Why the lab list could not be read, if it could not. */
  error: null,
  busy: false,
  shown: false,
  timer: 0,
  fetching: false,
  again: false,
  /** Progress of a load under way: `{ message, fraction }`. */
  progress: null,
};

// ---------------------------------------------------------------- Markdown (a safe subset, as text nodes only)

/** Inline Markdown: `code`, **bold**, *emphasis*, [text](url) (shown as text and the address). */
function inline(text) {
  const out = [];
  const re = /(`[^`]+`|\*\*[^*]+\*\*|\*[^*\s][^*]*\*|\[[^\]]+\]\([^)\s]+\))/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    const t = m[0];
    if (t.startsWith("`")) out.push(el("code", { text: t.slice(1, -1) }));
    else if (t.startsWith("**")) out.push(el("strong", { text: t.slice(2, -2) }));
    else if (t.startsWith("*")) out.push(el("em", { text: t.slice(1, -1) }));
    else {
      const [, label, url] = /^\[([^\]]+)\]\(([^)]+)\)$/.exec(t);
      out.push(document.createTextNode(`${label} (${url})`));
    }
    last = m.index + t.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

/** Block Markdown: headings, paragraphs, `-`/`1.` lists, fenced code. Never HTML: every text is a text node. */
export function markdown(source) {
  const root = el("div", { class: "md" });
  const lines = String(source ?? "").replace(/\r\n/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
    } else if (line.startsWith("```")) {
      const code = [];
      i += 1;
      while (i < lines.length && !lines[i].startsWith("```")) code.push(lines[i++]);
      i += 1;
      root.append(el("pre", {}, el("code", { text: code.join("\n") })));
    } else if (/^#{1,6}\s/.test(line)) {
      const level = Math.min(6, line.match(/^#+/)[0].length + 2);
      root.append(el(`h${level}`, {}, ...inline(line.replace(/^#+\s*/, ""))));
      i += 1;
    } else if (/^\s*([-*]|\d+\.)\s/.test(line)) {
      const ordered = /^\s*\d+\.\s/.test(line);
      const list = el(ordered ? "ol" : "ul");
      while (i < lines.length && /^\s*([-*]|\d+\.)\s/.test(lines[i])) {
        list.append(el("li", {}, ...inline(lines[i].replace(/^\s*([-*]|\d+\.)\s+/, ""))));
        i += 1;
      }
      root.append(list);
    } else {
      const para = [];
      while (i < lines.length && lines[i].trim() && !/^(#{1,6}\s|```|\s*([-*]|\d+\.)\s)/.test(lines[i])) para.push(lines[i++]);
      root.append(el("p", {}, ...inline(para.join(" "))));
    }
  }
  return root;
}

// ---------------------------------------------------------------- fetching

async function fetchLabs() {
  if (labs.fetching) {
    labs.again = true;
    return;
  }
  labs.fetching = true;
  try {
    do {
      labs.again = false;
      try {
        labs.list = await commands.labList();
        labs.error = null;
      } catch (e) {
        labs.error = errText(e);
      }
      const loaded = labs.list.find((l) => l.loaded);
      if (loaded) {
        try {
          labs.loaded = await commands.labStatus(loaded.id);
        } catch (e) {
          labs.loaded = null;
          if (!labs.error) labs.error = errText(e);
        }
      } else {
        labs.loaded = null;
      }
      draw();
    } while (labs.again);
  } finally {
    labs.fetching = false;
  }
}

/** The engine changed something: refresh the checks, at most every REFRESH_MS, while the view is shown. */
export function labsChanged() {
  if (!labs.shown || labs.timer) return;
  labs.timer = setTimeout(() => {
    labs.timer = 0;
    if (labs.shown) fetchLabs();
  }, REFRESH_MS);
}

/** Progress of a lab load (`lab:<id>` operations). */
export function onLabProgress(progress) {
  labs.progress = progress.done ? null : { message: progress.message, fraction: progress.fraction ?? null };
  drawProgress();
}

/** The view is hidden: stop refreshing. */
export function leaveLabs() {
  labs.shown = false;
}

// ---------------------------------------------------------------- actions

async function load(source, what) {
  if (labs.busy) return;
  labs.busy = true;
  labs.progress = { message: `loading ${what}…`, fraction: null };
  setProblems(null);
  draw();
  try {
    const lab = await commands.labLoad(source);
    toast(`Lab “${lab.title}” loaded: ${lab.steps.length} steps. Its checks turn green as you work.`);
  } catch (e) {
    setProblems(e);
    toast(`The lab was not loaded: ${errText(e)}`, true);
  } finally {
    labs.busy = false;
    labs.progress = null;
    await fetchLabs();
  }
}

async function reset() {
  const lab = labs.loaded;
  if (!lab || labs.busy) return;
  const what = [...lab.created.apps.map((a) => `app ${a}`), ...lab.created.policies.map((p) => `the ${p} policy`)];
  if (lab.created.alert_rules) what.push("the alert rules");
  const ok = await confirmDialog(
    `Reset the lab “${lab.title}”?`,
    `This removes ${what.join(", ") || "what it created"} and restores what it replaced.`,
    "Reset",
  );
  if (!ok) return;
  labs.busy = true;
  draw();
  try {
    const r = await commands.labReset(lab.id);
    toast(r.message);
  } catch (e) {
    toast(`The reset failed: ${errText(e)}`, true);
  } finally {
    labs.busy = false;
    await fetchLabs();
  }
}

/** Shows the problems of a refused lab (each with its file, line and fix), or clears them. */
function setProblems(e) {
  const box = document.querySelector("[data-testid=lab-problems]");
  if (!box) return;
  if (!e) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const diagnostics = Array.isArray(e.diagnostics) ? e.diagnostics : [];
  box.replaceChildren(
    el("strong", { text: errText(e) }),
    el(
      "ul",
      {},
      ...diagnostics.map((d) =>
        el(
          "li",
          {},
          el("code", { text: `${d.file ?? "lab.yaml"}${d.line ? `:${d.line}:${d.column}` : ""}` }),
          ` ${d.path ? `${d.path}: ` : ""}${d.message}`,
          d.fix ? el("div", { class: "hint", text: `Fix: ${d.fix}` }) : null,
        ),
      ),
    ),
  );
  box.hidden = false;
}

// ---------------------------------------------------------------- drawing

let root = null;

function skeleton() {
  const pathInput = el("input", {
    id: "lab-path",
    type: "text",
    "data-testid": "lab-path",
    placeholder: "/home/you/labs/my-lab  or  /home/you/my-lab.tar.gz",
    "aria-describedby": "lab-path-hint",
  });
  const fromPath = (kind) => {
    const path = pathInput.value.trim();
    if (!path.startsWith("/")) {
      setProblems({ message: "Give the absolute path of a lab folder (the one holding lab.yaml) or of a .tar/.tar.gz archive of it.", diagnostics: [] });
      pathInput.focus();
      return;
    }
    load(kind === "archive" ? { archive: { path } } : { folder: { path } }, path);
  };
  return el(
    "div",
    { class: "labs" },
    el(
      "section",
      { class: "card lab-current", "data-testid": "lab-current", "data-part": "current", hidden: true, "aria-labelledby": "lab-current-title" },
      el(
        "div",
        { class: "card-title" },
        el("h2", { id: "lab-current-title", "data-part": "title" }),
        el("span", { class: "pill", "data-part": "done", "data-testid": "lab-done" }),
        el("button", { class: "btn btn-sm", type: "button", "data-testid": "lab-reset", "data-part": "reset", onclick: reset }, "Reset lab"),
      ),
      el(
        "div",
        { class: "card-body" },
        el("p", { class: "hint", "data-part": "meta" }),
        el("ol", { class: "lab-steps", "data-part": "steps", "data-testid": "lab-steps" }),
      ),
    ),
    el(
      "div",
      { class: "build lab-progress", "data-part": "progress", "data-testid": "lab-progress", hidden: true, role: "status", "aria-live": "polite" },
      el("div", { class: "build-row" }, el("strong", { text: "Loading the lab" }), el("span", { class: "build-step", "data-part": "progress-text" })),
      el("div", { class: "bar" }, el("div", { class: "bar-fill", "data-part": "progress-bar" })),
    ),
    el("div", { class: "banner banner-error", "data-testid": "lab-problems", hidden: true, role: "alert" }),
    el(
      "section",
      { class: "card", "aria-labelledby": "labs-shipped-title" },
      el("div", { class: "card-title" }, el("h2", { id: "labs-shipped-title", text: "Preset labs" })),
      el(
        "div",
        { class: "card-body" },
        el("p", { class: "hint", "data-part": "error", hidden: true }),
        el("ul", { class: "lab-list", "data-part": "list", "data-testid": "lab-list" }),
      ),
    ),
    el(
      "section",
      { class: "card", "aria-labelledby": "labs-own-title" },
      el("div", { class: "card-title" }, el("h2", { id: "labs-own-title", text: "Load your own lab" })),
      el(
        "div",
        { class: "card-body" },
        el("label", { for: "lab-path", text: "Lab folder or archive on this machine" }),
        pathInput,
        el("p", { class: "hint", id: "lab-path-hint", text: "A lab is a folder with lab.yaml, its Markdown steps and the apps, policies and alert rules it needs (see docs/labs.md). A malformed lab is refused with the file and line, and nothing is created." }),
        el(
          "div",
          { class: "row" },
          el("button", { class: "btn", type: "button", "data-testid": "lab-load-folder", onclick: () => fromPath("folder") }, "Load folder"),
          el("button", { class: "btn", type: "button", "data-testid": "lab-load-archive", onclick: () => fromPath("archive") }, "Load archive"),
        ),
      ),
    ),
  );
}

function drawProgress() {
  if (!root) return;
  const box = part(root, "progress");
  box.hidden = !labs.progress;
  if (!labs.progress) return;
  setText(part(root, "progress-text"), labs.progress.message);
  const f = labs.progress.fraction;
  part(root, "progress-bar").style.width = f == null ? "30%" : `${Math.round(f * 100)}%`;
}

function drawList() {
  const loadedId = labs.loaded?.id ?? null;
  const err = part(root, "error");
  err.hidden = !labs.error;
  setText(err, labs.error ? `The labs could not be read: ${labs.error}` : "");
  keyed(
    part(root, "list"),
    labs.list,
    (l) => l.id,
    (l) =>
      el(
        "li",
        { class: "lab-item", "data-testid": `lab-${l.id}` },
        el("div", { class: "lab-item-head" }, el("strong", { "data-part": "title" }), el("span", { class: "pill pill-muted", "data-part": "level" }), el("span", { class: "hint", "data-part": "steps" })),
        el("p", { "data-part": "summary" }),
        el("button", { class: "btn btn-primary btn-sm", type: "button", "data-part": "load", "data-testid": `lab-load-${l.id}`, onclick: () => load({ shipped: { id: l.id } }, l.title) }, "Load"),
      ),
    (node, l) => {
      setText(part(node, "title"), l.title);
      setText(part(node, "level"), LEVEL_TEXT[l.level] ?? l.level);
      setText(part(node, "steps"), `${l.steps} step${l.steps === 1 ? "" : "s"}${l.origin === "loaded" ? " · loaded from a file" : ""}`);
      setText(part(node, "summary"), l.summary);
      const button = part(node, "load");
      setText(button, l.loaded ? "Loaded" : "Load");
      button.disabled = labs.busy || l.loaded || (loadedId != null && loadedId !== l.id);
      setAttr(button, "title", loadedId && !l.loaded ? "Reset the loaded lab first: one lab runs at a time." : null);
    },
  );
}

function drawCurrent() {
  const box = part(root, "current");
  const lab = labs.loaded;
  box.hidden = !lab;
  if (!lab) return;
  setText(part(box, "title"), lab.title);
  const done = part(box, "done");
  setText(done, `${lab.done} of ${lab.steps.length} steps done`);
  done.className = `pill ${lab.done === lab.steps.length ? "pill-ok" : "pill-muted"}`;
  part(box, "reset").disabled = labs.busy;
  const created = [
    ...lab.created.apps.map((a) => `app ${a}`),
    ...lab.created.policies.map((p) => `${p} policy`),
    ...(lab.created.alert_rules ? ["alert rules"] : []),
    ...(lab.created.load ? [`a load run on ${lab.created.load}`] : []),
  ];
  setText(part(box, "meta"), `${lab.summary} Loaded by ${lab.loaded_by}; it created ${created.join(", ") || "nothing"} — Reset removes exactly that.`);
  // The first step not done is the one to work on.
  const current = lab.steps.find((s) => !s.done)?.number ?? null;
  keyed(
    part(box, "steps"),
    lab.steps,
    (s) => s.number,
    (s) =>
      el(
        "li",
        { class: "lab-step", "data-testid": `lab-step-${s.number}` },
        el("div", { class: "lab-step-head" }, el("span", { class: "lab-step-mark", "data-part": "mark", "aria-hidden": "true" }), el("h3", { "data-part": "title" }), el("span", { class: "visually-hidden", "data-part": "state" })),
        el("div", { "data-part": "text" }),
        el("details", { "data-part": "hint-box", hidden: true }, el("summary", { text: "Hint" }), el("p", { "data-part": "hint" })),
        el("ul", { class: "lab-checks", "data-part": "checks", "aria-live": "polite" }),
      ),
    (node, s) => {
      node.classList.toggle("done", s.done);
      node.classList.toggle("current", s.number === current);
      setText(part(node, "mark"), s.done ? "✓" : String(s.number));
      setText(part(node, "title"), s.title);
      setText(part(node, "state"), s.done ? "done" : s.number === current ? "current step" : "not done yet");
      const text = part(node, "text");
      if (text.dataset.source !== s.markdown) {
        text.dataset.source = s.markdown;
        text.replaceChildren(markdown(s.markdown));
      }
      part(node, "hint-box").hidden = !s.hint;
      setText(part(node, "hint"), s.hint ?? "");
      keyed(
        part(node, "checks"),
        s.checks,
        (c) => `${c.kind}:${c.description}`,
        () =>
          el(
            "li",
            { class: "lab-check" },
            el("span", { class: "lab-check-mark", "data-part": "mark" }),
            el("span", { "data-part": "description" }),
            el("span", { class: "hint", "data-part": "observed" }),
            el("a", { class: "lab-check-app", "data-part": "app", hidden: true }),
          ),
        (li, c) => {
          li.classList.toggle("passed", c.passed);
          li.dataset.testid = `lab-check-${s.number}`;
          li.dataset.passed = String(c.passed);
          setText(part(li, "mark"), c.passed ? "✓" : "○");
          setAttr(part(li, "mark"), "aria-label", c.passed ? "passed" : "not yet");
          setText(part(li, "description"), c.description);
          setText(part(li, "observed"), c.observed ? ` — ${c.observed}` : "");
          const a = part(li, "app");
          a.hidden = !c.app;
          if (c.app) {
            setAttr(a, "href", href("app", c.app));
            setText(a, `open ${c.app}`);
          }
        },
      );
    },
  );
}

function draw() {
  if (!root) return;
  drawProgress();
  drawList();
  drawCurrent();
}

/** Draws the Labs view into `container` (the element with data-testid "labs-body") and refreshes it. */
export function renderLabs(container) {
  labs.shown = true;
  if (container.dataset.drawn !== "true") {
    container.dataset.drawn = "true";
    root = skeleton();
    container.replaceChildren(root);
  }
  draw();
  fetchLabs();
}
