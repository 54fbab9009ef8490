// Messages to the user: the toast (announced by screen readers through its aria-live region), the global error
// banner, and the in-page confirm dialog (a native confirm() blocks WebDriver and looks foreign).
import { $, setText } from "./dom.js";

let toastTimer = 0;

/** Shows `text` for a few seconds (errors longer, and assertively announced). */
export function toast(text, isError = false) {
  const t = $("toast");
  t.setAttribute("role", isError ? "alert" : "status");
  t.textContent = text;
  t.className = isError ? "toast error" : "toast";
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), isError ? 8000 : 3500);
}

/** The banner under the header for failures that concern the whole window; empty text hides it. */
export function showGlobalError(text) {
  const b = $("global-error");
  setText(b, text || "");
  b.hidden = !text;
}

/** Asks in the confirm dialog; resolves true on OK. */
export function confirmDialog(title, text, okLabel) {
  const dlg = $("confirm-dialog");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  dlg.returnValue = "";
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
  });
}

/** Makes button `buttonId` copy the text of element `sourceId`. */
export function copyOnClick(buttonId, sourceId, what, it) {
  $(buttonId).addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($(sourceId).textContent);
      toast(`${what} copied`);
    } catch {
      toast(`Select ${it} and copy it (clipboard unavailable).`, true);
    }
  });
}
