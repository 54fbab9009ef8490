//! Wire types of the image scanner: scan requests and reports, scan jobs (progress, cancel), the advisory
//! database's status and imports. Byte counts and durations are `u64` in Rust and numbers (f64) in the bindings:
//! they stay far below 2^53.

use serde::{Deserialize, Serialize};
use specta::Type;
use utoipa::ToSchema;

/// How bad a vulnerability is (from the advisory's CVSS score, else its severity word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScanSeverity {
    /// The advisory gives none Crane can read.
    Unknown,
    /// CVSS 0.1–3.9.
    Low,
    /// CVSS 4.0–6.9.
    Medium,
    /// CVSS 7.0–8.9.
    High,
    /// CVSS 9.0–10.0.
    Critical,
}

/// Body of `POST /api/v1/scan` and of a scan job. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The image (`crane-demo:0.1.0`, an id).
    pub image: String,
    /// Also run Trivy, when it is on PATH, and compare (default false).
    #[serde(default)]
    pub trivy: bool,
    /// Scan again even when a report of this image and database is cached (default false).
    #[serde(default)]
    pub refresh: bool,
}

/// One vulnerability found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ScanFinding {
    /// The advisory (`DSA-3032-1`, `GHSA-…`).
    pub id: String,
    /// Its other ids (`CVE-2014-6271`).
    pub aliases: Vec<String>,
    /// The package (for Debian the source package).
    pub package: String,
    /// The installed binary package, when it differs from `package`.
    pub binary: Option<String>,
    /// The ecosystem (`Debian`, `Alpine`, `PyPI`, `npm`, `Go`, `crates.io`).
    pub ecosystem: String,
    /// The installed version.
    pub installed: String,
    /// The first version with the fix, if there is one.
    pub fixed: Option<String>,
    /// How bad.
    pub severity: ScanSeverity,
    /// The CVSS base score behind the severity.
    pub score: Option<f64>,
    /// The advisory's summary.
    pub summary: Option<String>,
    /// The layer that brought the package in (0 is the base).
    pub layer: u32,
    /// Where the package was found (`/var/lib/dpkg/status`).
    pub path: String,
}

/// One package of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
pub struct ScanPackage {
    /// The ecosystem.
    pub ecosystem: String,
    /// The name advisories use (Debian: source package).
    pub name: String,
    /// The installed version.
    pub version: String,
    /// The installed binary package, when it differs.
    pub binary: Option<String>,
    /// Where it was found.
    pub path: String,
    /// The layer that brought it in.
    pub layer: u32,
}

/// Which image practice a hygiene finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HygieneCheck {
    /// No `USER`, or root.
    RunsAsRoot,
    /// No `HEALTHCHECK`.
    NoHealthcheck,
    /// `latest` or no tag.
    MutableTag,
    /// A secret-looking `ENV`.
    SecretInEnv,
    /// A secret-looking `LABEL`.
    SecretInLabel,
    /// Setuid/setgid files.
    SetuidFile,
    /// World-writable directories.
    WorldWritableDir,
    /// Over 1 GiB of files.
    LargeImage,
    /// Over 40 layers.
    ManyLayers,
    /// A port below 1024 exposed.
    PrivilegedPort,
}

/// How much a hygiene finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HygieneLevel {
    /// Worth knowing.
    Info,
    /// Should be fixed.
    Warning,
    /// Fix before running it.
    High,
}

/// One image hygiene finding, with its fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
pub struct HygieneFinding {
    /// The practice.
    pub check: HygieneCheck,
    /// How much it matters.
    pub level: HygieneLevel,
    /// What was found (never a secret's value).
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

/// One layer of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
pub struct ScanLayer {
    /// Its diff id (`sha256:…`).
    pub diff_id: Option<String>,
    /// The instruction that made it.
    pub created_by: Option<String>,
    /// Bytes of files in it.
    #[specta(type = f64)]
    pub size: u64,
    /// Entries in it.
    #[specta(type = f64)]
    pub entries: u64,
}

/// Findings per severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
pub struct SeverityCounts {
    /// CRITICAL findings.
    pub critical: u32,
    /// HIGH findings.
    pub high: u32,
    /// MEDIUM findings.
    pub medium: u32,
    /// LOW findings.
    pub low: u32,
    /// Findings without a severity.
    pub unknown: u32,
    /// Findings that have a fixed version.
    pub fixable: u32,
}

/// Trivy's view of the same image, when Trivy ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
pub struct TrivyComparison {
    /// Whether Trivy was found on PATH (or at `CRANE_TRIVY`).
    pub available: bool,
    /// Whether it ran and its report was read.
    pub ran: bool,
    /// What happened, for people ("trivy is not on PATH; Crane's own findings are shown").
    pub note: String,
    /// `advisory id or CVE / package` both report.
    pub both: Vec<String>,
    /// Only Crane reports.
    pub only_crane: Vec<String>,
    /// Only Trivy reports.
    pub only_trivy: Vec<String>,
}

/// The advisory database's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
pub struct AdvisoryDbView {
    /// The file (`<data dir>/advisories.db`).
    pub path: String,
    /// Distinct advisories.
    #[specta(type = f64)]
    pub advisories: u64,
    /// Rows (advisory × package × release).
    #[specta(type = f64)]
    pub rows: u64,
    /// Advisories per ecosystem (`Debian`: 3).
    pub ecosystems: Vec<EcosystemCount>,
    /// When the last import finished (RFC 3339), if any.
    pub imported_at: Option<String>,
    /// Seconds since then.
    #[specta(type = Option<f64>)]
    pub age_s: Option<u64>,
    /// The newest `modified` of any advisory.
    pub newest_modified: Option<String>,
    /// Bumped by every import (scan reports name the generation they used).
    #[specta(type = f64)]
    pub generation: u64,
    /// What was imported, newest last.
    pub sources: Vec<String>,
}

/// Advisories of one ecosystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
pub struct EcosystemCount {
    /// The ecosystem.
    pub ecosystem: String,
    /// Its advisories.
    #[specta(type = f64)]
    pub advisories: u64,
}

/// A scan of one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ScanReport {
    /// The reference scanned.
    pub image: String,
    /// The image id (`sha256:…`), the cache key.
    pub image_id: String,
    /// When it was scanned (RFC 3339).
    pub scanned_at: String,
    /// Whether this report came from the cache (same image id, same database generation).
    pub cached: bool,
    /// How long the scan took (ms).
    #[specta(type = f64)]
    pub duration_ms: u64,
    /// The OS (`Debian GNU/Linux 7 (wheezy)`), from `/etc/os-release`.
    pub os: Option<String>,
    /// The OS release advisories are matched against (`Debian:7`).
    pub os_release: Option<String>,
    /// Findings per severity.
    pub counts: SeverityCounts,
    /// The vulnerabilities, worst first.
    pub findings: Vec<ScanFinding>,
    /// The packages.
    pub packages: Vec<ScanPackage>,
    /// Hygiene findings.
    pub hygiene: Vec<HygieneFinding>,
    /// The layers, base first.
    pub layers: Vec<ScanLayer>,
    /// Files that could not be read, advisories that could not be compared.
    pub warnings: Vec<String>,
    /// The database generation matched against.
    #[specta(type = f64)]
    pub db_generation: u64,
    /// The number of advisories in it.
    #[specta(type = f64)]
    pub db_advisories: u64,
    /// Trivy, side by side.
    pub trivy: TrivyComparison,
}

/// Where a scan job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanState {
    /// Reading the image.
    Running,
    /// Finished; the report is there.
    Done,
    /// Failed; the error says why.
    Failed,
    /// Cancelled by a person.
    Cancelled,
}

/// A scan job (the window's progress bar and Cancel button).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ScanJobView {
    /// The job's id.
    pub id: u32,
    /// The image.
    pub image: String,
    /// Where it is.
    pub state: ScanState,
    /// Bytes of the image read so far.
    #[specta(type = f64)]
    pub bytes_read: u64,
    /// The image's size, when Docker said.
    #[specta(type = Option<f64>)]
    pub bytes_total: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The report, once done.
    pub report: Option<ScanReport>,
}

/// Body of `POST /api/v1/scan/db/import`: a path on the engine's machine. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// An OSV JSON file, a folder of them (searched recursively, with `.zip` exports inside), or an OSV zip export.
    pub path: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
pub struct ImportResult {
    /// Advisories imported.
    #[specta(type = f64)]
    pub imported: u64,
    /// Documents refused (invalid JSON, unknown ecosystem, too large).
    #[specta(type = f64)]
    pub skipped: u64,
    /// The first refusals, one sentence each naming the file.
    pub problems: Vec<String>,
    /// How long it took (ms).
    #[specta(type = f64)]
    pub duration_ms: u64,
    /// The database afterwards.
    pub db: AdvisoryDbView,
}
