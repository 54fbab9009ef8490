//! OSV advisories (<https://ossf.github.io/osv-schema/>): parsing, the rows a database keeps, and matching an
//! inventory against them.
//!
//! Matching follows the schema: a package is affected when its version is listed in `versions`, or when an
//! `ECOSYSTEM`/`SEMVER` range's events (sorted by version) leave it inside an `introduced`…`fixed` interval (or at
//! most `last_affected`). The fixed version reported is the lowest `fixed` above the installed one. OS packages
//! match only advisories of the image's own release (`Debian:12` for an image whose os-release says Debian 12).

use std::cmp::Ordering;
use std::io::{Read, Seek};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::inventory::{Inventory, OsRelease};
use crate::version::compare;
use crate::{Ecosystem, Package};

/// Largest OSV document Crane reads (one advisory, or one file of a folder import): 16 MiB.
pub const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;
/// Most documents one zip export may hold.
pub const MAX_ZIP_ENTRIES: usize = 2_000_000;

/// One OSV advisory (the fields Crane reads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    /// `DSA-3032-1`, `GHSA-…`, `CVE-…`.
    pub id: String,
    /// When it last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// One line about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Other ids of the same issue (`CVE-2014-6271`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Scores (`CVSS_V3` vectors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<SeverityScore>,
    /// Affected packages.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// The database's own fields (GitHub's `severity: "CRITICAL"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<Value>,
}

/// A score of an advisory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityScore {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector or value.
    pub score: String,
}

/// One affected package of an advisory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<AffectedPackage>,
    /// Version ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    /// Affected versions, listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Per-package scores (OSV 1.6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<SeverityScore>,
    /// Ecosystem-specific fields (Ubuntu's `severity`, Debian's `urgency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<Value>,
}

/// The package an `affected` entry names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedPackage {
    /// `Debian:12`, `PyPI`, …
    pub ecosystem: String,
    /// The package's name in the ecosystem.
    pub name: String,
}

/// A version range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// `ECOSYSTEM`, `SEMVER` or `GIT` (not matched: no commits in an image).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its events.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One event of a range; exactly one field is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Affected from this version (`0`: from the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    /// Fixed in this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// Affected up to and including this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    /// A limit (git ranges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

/// Why an OSV document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OsvError {
    /// Not JSON, or not an advisory.
    #[error("{name}: not an OSV advisory: {reason}")]
    Invalid {
        /// The file (or zip entry).
        name: String,
        /// What is wrong, with serde's line and column.
        reason: String,
    },
    /// No affected package is of an ecosystem Crane matches.
    #[error("{name}: advisory {id} names only ecosystems Crane does not match ({found}); Crane matches {known}")]
    UnknownEcosystem {
        /// The file.
        name: String,
        /// The advisory.
        id: String,
        /// The ecosystems it names.
        found: String,
        /// The ecosystems Crane matches.
        known: String,
    },
    /// The document is larger than [`MAX_DOCUMENT_BYTES`].
    #[error("{name}: {size} bytes, above the {MAX_DOCUMENT_BYTES}-byte bound of one OSV document")]
    TooLarge {
        /// The file.
        name: String,
        /// Its size.
        size: u64,
    },
}

/// Parses one OSV document (an advisory, or an array of advisories) named `name` for messages. Each advisory must
/// name at least one ecosystem Crane matches.
pub fn parse_document(name: &str, data: &[u8]) -> Result<Vec<Advisory>, OsvError> {
    if data.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(OsvError::TooLarge { name: name.to_string(), size: data.len() as u64 });
    }
    let invalid = |reason: String| OsvError::Invalid { name: name.to_string(), reason };
    let value: Value = serde_json::from_slice(data).map_err(|e| invalid(e.to_string()))?;
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut out = Vec::new();
    for item in items {
        let advisory: Advisory = serde_json::from_value(item).map_err(|e| invalid(e.to_string()))?;
        if advisory.id.trim().is_empty() {
            return Err(invalid("`id` is empty".to_string()));
        }
        let ecosystems: Vec<&str> =
            advisory.affected.iter().filter_map(|a| a.package.as_ref()).map(|p| p.ecosystem.as_str()).collect();
        if !ecosystems.iter().any(|e| Ecosystem::parse_osv(e).is_some()) {
            let mut found: Vec<&str> = ecosystems.clone();
            found.sort();
            found.dedup();
            return Err(OsvError::UnknownEcosystem {
                name: name.to_string(),
                id: advisory.id.clone(),
                found: if found.is_empty() { "none".to_string() } else { found.join(", ") },
                known: Ecosystem::names(),
            });
        }
        out.push(advisory);
    }
    Ok(out)
}

/// Reads every `.json` entry of an OSV zip export (`all.zip` of an ecosystem), calling `each` with the entry's name
/// and its parse. Entries above [`MAX_DOCUMENT_BYTES`] are refused without being inflated.
pub fn read_zip<R: Read + Seek>(
    reader: R,
    mut each: impl FnMut(&str, Result<Vec<Advisory>, OsvError>),
) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| format!("not a zip archive: {e}"))?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(format!("{} entries, above the bound of {MAX_ZIP_ENTRIES}", archive.len()));
    }
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(|e| format!("entry {i}: {e}"))?;
        let name = file.name().to_string();
        if !name.ends_with(".json") || file.is_dir() {
            continue;
        }
        if file.size() > MAX_DOCUMENT_BYTES {
            each(&name, Err(OsvError::TooLarge { name: name.clone(), size: file.size() }));
            continue;
        }
        let mut data = Vec::with_capacity(file.size() as usize);
        // The entry's CRC-32 is checked by the zip reader once the whole entry is read.
        if let Err(e) = (&mut file).take(MAX_DOCUMENT_BYTES + 1).read_to_end(&mut data) {
            return Err(format!("{name}: {e} (the archive is damaged; download it again)"));
        }
        each(&name, parse_document(&name, &data));
    }
    Ok(())
}

/// One row of an advisory database: the advisory reduced to one affected package, keyed by ecosystem, release and
/// package name.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The advisory id.
    pub id: String,
    /// The ecosystem.
    pub ecosystem: Ecosystem,
    /// The release (`12`, `v3.18`), for OS ecosystems.
    pub release: Option<String>,
    /// The package, as [`package_key`] writes it.
    pub package: String,
    /// When the advisory changed.
    pub modified: Option<String>,
    /// The advisory with only this package's `affected` entries, as JSON.
    pub document: String,
}

/// The name under which a package is looked up: PEP 503's normal form for PyPI (`Jinja2` → `jinja2`), else the name.
pub fn package_key(ecosystem: Ecosystem, name: &str) -> String {
    match ecosystem {
        Ecosystem::PyPI => {
            let mut out = String::new();
            let mut last_sep = false;
            for c in name.chars() {
                if matches!(c, '-' | '_' | '.') {
                    if !last_sep {
                        out.push('-');
                    }
                    last_sep = true;
                } else {
                    out.extend(c.to_lowercase());
                    last_sep = false;
                }
            }
            out
        }
        _ => name.to_string(),
    }
}

/// The rows of an advisory: one per (ecosystem, release, package) Crane matches; others are dropped.
pub fn rows(advisory: &Advisory) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    for affected in &advisory.affected {
        let Some(package) = &affected.package else { continue };
        let Some((ecosystem, release)) = Ecosystem::parse_osv(&package.ecosystem) else { continue };
        let key = package_key(ecosystem, &package.name);
        if let Some(row) = out.iter_mut().find(|r| r.ecosystem == ecosystem && r.release == release && r.package == key)
        {
            let mut doc: Advisory = serde_json::from_str(&row.document).unwrap_or_else(|_| advisory.clone());
            doc.affected.push(affected.clone());
            row.document = serde_json::to_string(&doc).unwrap_or_default();
            continue;
        }
        let reduced = Advisory { affected: vec![affected.clone()], ..advisory.clone() };
        out.push(Row {
            id: advisory.id.clone(),
            ecosystem,
            release,
            package: key,
            modified: advisory.modified.clone(),
            document: serde_json::to_string(&reduced).unwrap_or_default(),
        });
    }
    out
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// The advisory gives no severity Crane can read.
    Unknown,
    /// CVSS 0.1–3.9.
    Low,
    /// CVSS 4.0–6.9 (GitHub's `MODERATE`).
    Medium,
    /// CVSS 7.0–8.9.
    High,
    /// CVSS 9.0–10.0.
    Critical,
}

impl Severity {
    /// From a word (`CRITICAL`, `high`, `moderate`, Debian's `urgency` values).
    pub fn from_word(word: &str) -> Option<Severity> {
        Some(match word.to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "medium" | "moderate" => Severity::Medium,
            "low" | "negligible" | "unimportant" => Severity::Low,
            _ => return None,
        })
    }

    /// From a CVSS base score.
    pub fn from_score(score: f64) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            s if s > 0.0 => Severity::Low,
            _ => Severity::Unknown,
        }
    }

    /// The word (`CRITICAL`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// The base score of a CVSS vector (3.x or 4.0).
pub fn cvss_score(vector: &str) -> Option<f64> {
    if vector.starts_with("CVSS:3") {
        return cvss::v3::Vector::from_str(vector).ok().map(|v| v.score().value());
    }
    if vector.starts_with("CVSS:4") {
        return cvss::v4::Vector::from_str(vector).ok().map(|v| v.score().value());
    }
    None
}

/// The severity of an advisory for one affected entry, and the CVSS score it comes from: the highest CVSS score
/// (the entry's own, else the advisory's), else the database's or the ecosystem's severity word.
pub fn severity_of(advisory: &Advisory, affected: &Affected) -> (Severity, Option<f64>) {
    let best = affected
        .severity
        .iter()
        .chain(&advisory.severity)
        .filter_map(|s| cvss_score(&s.score))
        .fold(None, |best: Option<f64>, s| Some(best.map_or(s, |b| b.max(s))));
    if let Some(score) = best {
        return (Severity::from_score(score), Some(score));
    }
    let word = |v: &Option<Value>, key: &str| {
        v.as_ref().and_then(|v| v.get(key)).and_then(Value::as_str).and_then(Severity::from_word)
    };
    let from_word = word(&advisory.database_specific, "severity")
        .or_else(|| word(&affected.ecosystem_specific, "severity"))
        .or_else(|| word(&affected.ecosystem_specific, "urgency"));
    (from_word.unwrap_or(Severity::Unknown), None)
}

/// A vulnerability found in an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The advisory id.
    pub id: String,
    /// Its aliases (`CVE-…`).
    pub aliases: Vec<String>,
    /// The package (for dpkg its source package).
    pub package: String,
    /// The binary package installed, when it differs.
    pub binary: Option<String>,
    /// The ecosystem.
    pub ecosystem: Ecosystem,
    /// The installed version.
    pub installed: String,
    /// The lowest fixed version above it, if the advisory has one.
    pub fixed: Option<String>,
    /// How bad.
    pub severity: Severity,
    /// The CVSS base score behind it, if any.
    pub score: Option<f64>,
    /// The advisory's summary.
    pub summary: Option<String>,
    /// The layer that brought the package in.
    pub layer: usize,
    /// Where the package was found.
    pub path: String,
}

/// Whether `installed` lies in one range; returns the fix above it when affected.
fn in_range(ecosystem: Ecosystem, range: &Range, installed: &str) -> Option<Option<String>> {
    if range.kind != "ECOSYSTEM" && range.kind != "SEMVER" {
        return None;
    }
    let version_of = |e: &Event| -> Option<String> {
        e.introduced.clone().or_else(|| e.fixed.clone()).or_else(|| e.last_affected.clone())
    };
    let mut events: Vec<&Event> = range.events.iter().filter(|e| version_of(e).is_some()).collect();
    let order = |a: &str, b: &str| -> Ordering {
        match (a, b) {
            ("0", "0") => Ordering::Equal,
            ("0", _) => Ordering::Less,
            (_, "0") => Ordering::Greater,
            _ => compare(ecosystem, a, b).unwrap_or(Ordering::Equal),
        }
    };
    events.sort_by(|a, b| order(&version_of(a).unwrap_or_default(), &version_of(b).unwrap_or_default()));
    let mut affected = false;
    for event in &events {
        if let Some(v) = &event.introduced {
            if v == "0" || compare(ecosystem, installed, v)? != Ordering::Less {
                affected = true;
            }
        } else if let Some(v) = &event.fixed {
            if compare(ecosystem, installed, v)? != Ordering::Less {
                affected = false;
            }
        } else if let Some(v) = &event.last_affected {
            if compare(ecosystem, installed, v)? == Ordering::Greater {
                affected = false;
            }
        }
    }
    if !affected {
        return None;
    }
    let fixed = events
        .iter()
        .filter_map(|e| e.fixed.as_deref())
        .find(|f| compare(ecosystem, installed, f) == Some(Ordering::Less))
        .map(str::to_string);
    Some(fixed)
}

/// The findings of one package against the advisories stored for its (ecosystem, name). `os` is the image's release:
/// an advisory of an OS ecosystem matches only when its release is the image's.
pub fn match_package(package: &Package, os: Option<&OsRelease>, advisories: &[Advisory]) -> Vec<Finding> {
    let release = os.and_then(OsRelease::osv_release);
    let key = package_key(package.ecosystem, &package.name);
    let mut out: Vec<Finding> = Vec::new();
    for advisory in advisories {
        for affected in &advisory.affected {
            let Some(p) = &affected.package else { continue };
            let Some((ecosystem, adv_release)) = Ecosystem::parse_osv(&p.ecosystem) else { continue };
            if ecosystem != package.ecosystem || package_key(ecosystem, &p.name) != key {
                continue;
            }
            if ecosystem.is_os() && (adv_release.is_none() || adv_release != release) {
                continue;
            }
            let listed = affected.versions.iter().any(|v| v == &package.version);
            let mut hit: Option<Option<String>> = None;
            for range in &affected.ranges {
                if let Some(fixed) = in_range(ecosystem, range, &package.version) {
                    hit = Some(match (hit.flatten(), fixed) {
                        (Some(a), Some(b)) => {
                            Some(if compare(ecosystem, &a, &b) == Some(Ordering::Greater) { b } else { a })
                        }
                        (a, b) => a.or(b),
                    });
                }
            }
            if hit.is_none() && listed {
                hit = Some(None);
            }
            let Some(fixed) = hit else { continue };
            if out.iter().any(|f| f.id == advisory.id) {
                continue;
            }
            let (severity, score) = severity_of(advisory, affected);
            out.push(Finding {
                id: advisory.id.clone(),
                aliases: advisory.aliases.clone(),
                package: package.name.clone(),
                binary: package.binary.clone(),
                ecosystem,
                installed: package.version.clone(),
                fixed,
                severity,
                score,
                summary: advisory.summary.clone(),
                layer: package.layer,
                path: package.path.clone(),
            });
        }
    }
    out
}

/// Matches a whole inventory; `lookup(ecosystem, package key)` gives the stored advisories. Findings are sorted by
/// severity (worst first), then package and id; one per (advisory, package, path).
pub fn match_inventory(
    inventory: &Inventory,
    mut lookup: impl FnMut(Ecosystem, &str) -> Vec<Advisory>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for package in &inventory.packages {
        if package.ecosystem.is_os() && inventory.os.is_none() {
            continue;
        }
        let advisories = lookup(package.ecosystem, &package_key(package.ecosystem, &package.name));
        out.extend(match_package(package, inventory.os.as_ref(), &advisories));
    }
    out.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then_with(|| a.package.cmp(&b.package)).then_with(|| a.id.cmp(&b.id))
    });
    out.dedup_by(|a, b| a.id == b.id && a.package == b.package && a.path == b.path && a.installed == b.installed);
    out
}
