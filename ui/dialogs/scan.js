// The image scanner in the window: a dialog to scan an image (progress, cancel), its severity counts, a findings
// table with filter and sort, hygiene findings and the SBOM download; and the verdict of an app's image on the app
// page. Everything shown comes from the engine's typed answers (ScanReport, ScanJobView).
import { commands } from "../bindings.js";
import { $, el } from "../lib/dom.js";

const SEVERITY_ORDER = { CRITICAL: 4, HIGH: 3, MEDIUM: 2, LOW: 1, UNKNOWN: 0 };
const scan = { job: null, report: null, sort: { key: "severity", desc: true } };
let errText = (e) => String(e?.message ?? e);
let toast = () => {};

/** Wires the dialog; `helpers` are the window's error text and toast. */
export function initScan(helpers) {
  errText = helpers.errText;
  toast = helpers.toast;
  $("scan-open").addEventListener("click", () => openScan());
  $("scan-start").addEventListener("click", startScan);
  $("scan-cancel").addEventListener("click", cancelScan);
  $("scan-sbom").addEventListener("click", downloadSbom);
  $("scan-filter").addEventListener("input", renderFindings);
  $("scan-severity").addEventListener("change", renderFindings);
  $("scan-db-import").addEventListener("click", importDb);
  for (const th of $("scan-findings-head").querySelectorAll("th[data-sort]")) {
    th.addEventListener("click", () => {
      const key = th.dataset.sort;
      scan.sort = { key, desc: scan.sort.key === key ? !scan.sort.desc : key === "severity" };
      renderFindings();
    });
  }
}

/** Opens the scan dialog, with `image` filled in when given. */
export async function openScan(image) {
  if (image) $("scan-image").value = image;
  $("scan-dialog").showModal();
  await renderDb();
}

async function renderDb() {
  try {
    const db = await commands.advisoryDbStatus();
    const age = db.age_s == null ? "never imported" : `imported ${Math.round(db.age_s / 3600)} h ago`;
    $("scan-db").textContent =
      `Advisory database: ${db.advisories} advisories (${db.ecosystems.map((e) => `${e.ecosystem} ${e.advisories}`).join(", ") || "none"}), ${age}.`;
  } catch (e) {
    $("scan-db").textContent = `Advisory database: ${errText(e)}`;
  }
}

async function importDb() {
  const path = $("scan-db-path").value.trim();
  if (!path) return;
  try {
    const r = await commands.importAdvisories(path);
    toast(`Imported ${r.imported} advisories (${r.skipped} refused)`);
  } catch (e) {
    toast(errText(e), true);
  }
  await renderDb();
}

async function startScan() {
  const image = $("scan-image").value.trim();
  if (!image) return;
  $("scan-error").textContent = "";
  $("scan-result").hidden = true;
  try {
    scan.job = await commands.startScan({ image, trivy: $("scan-trivy").checked, refresh: false });
    $("scan-progress").hidden = false;
    $("scan-cancel").disabled = false;
    $("scan-progress-text").textContent = `Reading ${image}…`;
    await poll();
  } catch (e) {
    $("scan-error").textContent = errText(e);
  }
}

async function poll() {
  if (!scan.job) return;
  const job = await commands.scanJob(scan.job.id);
  scan.job = job;
  const mib = (n) => (n / 1048576).toFixed(1);
  const total = job.bytes_total ? ` of ${mib(job.bytes_total)} MiB` : "";
  $("scan-progress-text").textContent = `${job.state}: ${mib(job.bytes_read)} MiB read${total}`;
  if (job.bytes_total) $("scan-progress-bar").style.width = `${Math.min(100, (100 * job.bytes_read) / job.bytes_total)}%`;
  if (job.state === "running") {
    setTimeout(poll, 300);
    return;
  }
  $("scan-cancel").disabled = true;
  $("scan-progress").hidden = true;
  if (job.state === "done" && job.report) showReport(job.report);
  else $("scan-error").textContent = job.error ?? job.state;
}

/** A progress change with operation `scan:<id>` (the window's listener forwards it). */
export function onScanProgress() {
  if (scan.job && scan.job.state === "running") poll();
}

async function cancelScan() {
  if (!scan.job) return;
  try {
    await commands.cancelScan(scan.job.id);
  } catch (e) {
    toast(errText(e), true);
  }
}

function showReport(report) {
  scan.report = report;
  $("scan-result").hidden = false;
  const c = report.counts;
  $("scan-summary").textContent =
    `${report.image} (${report.image_id.slice(7, 19)}) · ${report.os ?? "no OS release"} · ${report.packages.length} packages` +
    `${report.cached ? " · cached" : ""} · database generation ${report.db_generation}`;
  const counts = $("scan-counts");
  counts.replaceChildren(
    ...[["CRITICAL", c.critical], ["HIGH", c.high], ["MEDIUM", c.medium], ["LOW", c.low], ["UNKNOWN", c.unknown]].map(
      ([s, n]) => el("span", { class: `pill sev-${s.toLowerCase()}`, "data-testid": `scan-count-${s.toLowerCase()}`, text: `${s} ${n}` }),
    ),
    el("span", { class: "muted", text: ` ${c.fixable} with a fix` }),
  );
  renderFindings();
  $("scan-hygiene").replaceChildren(
    ...report.hygiene.map((h) =>
      el("li", { "data-testid": `hygiene-${h.check}` }, el("b", { text: `${h.level} ` }), h.message, el("div", { class: "muted", text: `Fix: ${h.fix}` })),
    ),
  );
  $("scan-hygiene-none").hidden = report.hygiene.length > 0;
  $("scan-warnings").textContent = [...report.warnings, report.trivy.note].filter(Boolean).join(" · ");
}

function renderFindings() {
  const report = scan.report;
  if (!report) return;
  const text = $("scan-filter").value.trim().toLowerCase();
  const min = SEVERITY_ORDER[$("scan-severity").value] ?? 0;
  const rows = report.findings.filter(
    (f) =>
      SEVERITY_ORDER[f.severity] >= min &&
      (!text || [f.id, f.package, f.binary ?? "", ...f.aliases].some((v) => v.toLowerCase().includes(text))),
  );
  const { key, desc } = scan.sort;
  const value = (f) => (key === "severity" ? SEVERITY_ORDER[f.severity] : String(f[key] ?? ""));
  rows.sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    const order = x < y ? -1 : x > y ? 1 : 0;
    return desc ? -order : order;
  });
  $("scan-findings").replaceChildren(
    ...rows.map((f) =>
      el(
        "tr",
        { "data-testid": "scan-finding" },
        el("td", {}, el("span", { class: `pill sev-${f.severity.toLowerCase()}`, text: f.severity })),
        el("td", { class: "mono", text: f.id, title: f.aliases.join(", ") }),
        el("td", { text: f.binary ? `${f.package} (${f.binary})` : f.package }),
        el("td", { class: "mono", text: f.installed }),
        el("td", { class: "mono", text: f.fixed ?? "—" }),
        el("td", { text: String(f.layer) }),
      ),
    ),
  );
  $("scan-findings-none").hidden = rows.length > 0;
}

async function downloadSbom() {
  const image = scan.report?.image ?? $("scan-image").value.trim();
  try {
    const text = await commands.scanSbom(image);
    const url = URL.createObjectURL(new Blob([text], { type: "application/vnd.cyclonedx+json" }));
    const a = el("a", { href: url, download: `${image.replace(/[^a-zA-Z0-9._-]+/g, "_")}.cdx.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 5000);
  } catch (e) {
    toast(errText(e), true);
  }
}

const verdicts = new Map();
let lastVerdict = { image: null, at: 0 };

/** The app page's verdict of its image: the cached report's counts, or a Scan button. */
export async function renderImageVerdict(image, force = false) {
  const now = Date.now();
  if (!force && lastVerdict.image === image && now - lastVerdict.at < 10000) return;
  lastVerdict = { image, at: now };
  const node = $("app-verdict");
  node.replaceChildren();
  let report = verdicts.get(image);
  try {
    report = await commands.cachedScan(image);
    verdicts.set(image, report);
  } catch {
    /* Docker unreachable: no verdict */
  }
  if ($("app-image").textContent !== image) return;
  if (!report) {
    node.append(el("button", { class: "btn btn-ghost btn-sm", type: "button", "data-testid": "app-scan", text: "Scan image", onclick: () => openScan(image) }));
    return;
  }
  const c = report.counts;
  const worst = c.critical ? "critical" : c.high ? "high" : c.medium ? "medium" : c.low ? "low" : null;
  node.append(
    el("button", {
      class: `pill pill-button ${worst ? `sev-${worst}` : "pill-good"}`,
      type: "button",
      "data-testid": "app-verdict-pill",
      title: "The image's last scan against the current advisory database; click for the report",
      text: worst ? `${c.critical} critical · ${c.high} high` : "no known vulnerabilities",
      onclick: async () => {
        await openScan(image);
        showReport(report);
      },
    }),
  );
}
