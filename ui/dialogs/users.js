// The Users dialog: users with roles and tokens (a new user's first token shown once), and the audit log.
import { commands } from "../bindings.js";
import { $, el, ago, errText } from "../lib/dom.js";
import { toast, confirmDialog, copyOnClick } from "../lib/toast.js";
import { state } from "../lib/store.js";

const AUDIT_LIMIT = 100;

async function openUsers() {
  $("users-error").textContent = "";
  $("user-token").hidden = true;
  const dlg = $("users-dialog");
  if (!dlg.open) dlg.showModal();
  await refreshUsers();
}

async function refreshUsers() {
  const body = $("users-body");
  try {
    const [users, audit] = await Promise.all([commands.listUsers(), commands.auditLog(null, null, AUDIT_LIMIT)]);
    body.replaceChildren(
      ...users.map((u) =>
        el(
          "tr",
          { "data-user": u.name },
          el("td", { class: "mono", text: u.name }),
          el("td", { text: u.role }),
          el("td", { text: u.builtin ? `${u.tokens} + data dir token` : String(u.tokens) }),
          el("td", { text: `${ago(Date.now() - Date.parse(u.created_at))} ago` }),
          el(
            "td",
            {},
            u.builtin
              ? null
              : el("button", { class: "btn btn-sm btn-ghost", type: "button", text: "Remove", "data-testid": `user-remove-${u.name}`, onclick: () => removeUser(u.name) }),
          ),
        ),
      ),
    );
    $("audit-body").replaceChildren(
      ...audit.map((r) =>
        el(
          "tr",
          {},
          el("td", { text: new Date(r.at).toLocaleString() }),
          el("td", { class: "mono", text: r.user }),
          el("td", { text: r.role }),
          el("td", { text: r.door }),
          el("td", { class: "mono", text: r.action }),
          el("td", { class: "mono", text: r.app ?? r.target ?? "—" }),
          el("td", { class: r.ok ? "" : "bad", text: r.ok ? "ok" : r.error ?? "failed" }),
        ),
      ),
    );
  } catch (e) {
    $("users-error").textContent = errText(e);
  }
}

async function addUser() {
  const name = $("user-name").value.trim();
  const role = $("user-role").value;
  $("users-error").textContent = "";
  const rule = state.status?.rules;
  if (rule && !new RegExp(rule.app_name_pattern).test(name)) {
    $("users-error").textContent = `A user name uses ${rule.app_name_rule}; at most ${rule.app_name_max_len} characters.`;
    return;
  }
  try {
    const created = await commands.createUser(name, role);
    $("user-name").value = "";
    $("user-token-title").textContent = `Token for ${created.user.name} (${created.user.role}).`;
    $("user-token-value").textContent = created.token.token;
    $("user-token").hidden = false;
  } catch (e) {
    $("users-error").textContent = errText(e);
  }
  await refreshUsers();
}

async function removeUser(name) {
  const ok = await confirmDialog(
    `Remove ${name}?`,
    `Their tokens stop working at once. Their apps keep running, owned by ${name}; admins manage them.`,
    "Remove",
  );
  if (!ok) return;
  try {
    await commands.removeUser(name);
    toast(`Removed ${name}`);
  } catch (e) {
    $("users-error").textContent = errText(e);
  }
  await refreshUsers();
}

export function initUsers() {
  $("users-open").addEventListener("click", openUsers);
  $("user-add").addEventListener("click", addUser);
  $("user-name").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      addUser();
    }
  });
  copyOnClick("user-token-copy", "user-token-value", "Token", "the token");
}
