// Small DOM and text helpers shared by every view. No state lives here.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** Text of an error thrown by a command: an ApiError, or a framework string. */
export function errText(e) {
  if (e == null) return "unknown error";
  if (typeof e === "string") return e;
  if (typeof e.message === "string") return e.message;
  return JSON.stringify(e);
}

/** Creates an element: `attrs` are attributes, except `class`, `text` and `on…` listeners. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

/** Sets a node's text only when it differs (no needless layout, selection kept). */
export function setText(node, text) {
  const t = String(text ?? "");
  if (node.textContent !== t) node.textContent = t;
}

/** Sets an attribute only when it differs; null removes it. */
export function setAttr(node, name, value) {
  if (value == null || value === false) {
    if (node.hasAttribute(name)) node.removeAttribute(name);
  } else if (node.getAttribute(name) !== String(value)) {
    node.setAttribute(name, String(value));
  }
}

/** The descendant of `node` marked `data-part="name"`. */
export function part(node, name) {
  return node.querySelector(`[data-part="${name}"]`);
}

/**
 * Updates `parent`'s children in place from `items`: a child per item, found again by its key (`data-key`), made
 * by `create(item)` when new and refreshed by `update(node, item)` every time; children of vanished items are
 * removed. Existing nodes are kept (and only moved when the order changed), so focus and selection survive.
 */
export function keyed(parent, items, keyOf, create, update) {
  const old = new Map();
  for (const child of [...parent.children]) {
    if (child.dataset.key != null) old.set(child.dataset.key, child);
    else child.remove();
  }
  let prev = null;
  for (const item of items) {
    const key = String(keyOf(item));
    let node = old.get(key);
    if (node) old.delete(key);
    else {
      node = create(item);
      node.dataset.key = key;
    }
    update(node, item);
    const want = prev ? prev.nextSibling : parent.firstChild;
    if (want !== node) parent.insertBefore(node, want);
    prev = node;
  }
  for (const node of old.values()) node.remove();
}

/** "12s", "3m 4s", "2h 5m", "1d 3h". */
export function ago(ms) {
  if (ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** A duration in ms as the spec writes it: "60s", "5m", "1m 30s". */
export function durationText(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s % 60 === 0 && s < 3600) return `${s / 60}m`;
  return ago(ms);
}

/** A number with `digits` decimals, or "—" when missing. */
export const num = (v, digits = 0) => (v == null ? "—" : Number(v).toFixed(digits));

/** Bytes in a few characters: 512 B, 4.2 KiB, 1.3 MiB. */
export function bytesText(b) {
  if (b == null) return "—";
  if (b < 1024) return `${b} B`;
  if (b < 1048576) return `${(b / 1024).toFixed(1)} KiB`;
  if (b < 1073741824) return `${(b / 1048576).toFixed(1)} MiB`;
  return `${(b / 1073741824).toFixed(1)} GiB`;
}

/** Text with `backtick` spans rendered as <code>, as the engine writes field names and examples. */
export function withCode(text) {
  const frag = document.createDocumentFragment();
  String(text).split("`").forEach((p, i) => frag.append(i % 2 ? el("code", { text: p }) : p));
  return frag;
}

/** A list of diagnostics (line, column, path, message, fix) as list items. */
export function diagnosticItems(diagnostics, testid = "diagnostic") {
  return diagnostics.map((d) =>
    el(
      "li",
      { "data-testid": testid, "data-line": d.line || null },
      el("div", { class: "where", text: `${d.path || "spec"}${d.line > 0 ? ` · line ${d.line}, column ${d.column}` : ""}` }),
      el("div", { class: "what" }, withCode(d.message)),
      d.fix ? el("div", { class: "fix" }, el("strong", { text: "Fix: " }), withCode(d.fix)) : null,
    ),
  );
}

/** "1 replica", "3 replicas". */
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
