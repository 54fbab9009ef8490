// URL-hash routing: `#/home`, `#/app/NAME`, `#/scaling/NAME`, `#/policies`, `#/labs`, `#/settings`, `#/new`,
// `#/new/TEMPLATE`, `#/edit/NAME`. The hash is the one source of the current view, so Back/Forward, links and
// bookmarks work, and every navigation control is a real link or button.

/** The views, in the order of the navigation bar. */
export const VIEWS = ["home", "app", "scaling", "policies", "labs", "settings", "new", "edit"];

/** The route of a hash: `{ view, arg }` (`arg` is an app name or a template, decoded). */
export function parse(hash) {
  const parts = (hash || "").replace(/^#\/?/, "").split("/");
  const view = VIEWS.includes(parts[0]) ? parts[0] : "home";
  const arg = parts[1] ? decodeURIComponent(parts[1]) : null;
  return { view, arg };
}

/** The hash of a route. */
export function href(view, arg) {
  return arg ? `#/${view}/${encodeURIComponent(arg)}` : `#/${view}`;
}

/** Goes to a route (a history entry, as a link would). */
export function go(view, arg) {
  const h = href(view, arg);
  if (location.hash === h) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = h;
}

/** Calls `fn(route)` now and on every hash change. */
export function onRoute(fn) {
  window.addEventListener("hashchange", () => fn(parse(location.hash)));
  fn(parse(location.hash));
}
