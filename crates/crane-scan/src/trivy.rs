//! Trivy's JSON report (`trivy image --format json`), read and compared with Crane's findings.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::osv::Finding;

/// One vulnerability Trivy reported.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TrivyFinding {
    /// `CVE-…` (Trivy's `VulnerabilityID`).
    pub id: String,
    /// The package.
    pub package: String,
    /// Installed version.
    pub installed: String,
    /// Fixed version, if any.
    pub fixed: Option<String>,
    /// Trivy's severity word.
    pub severity: String,
}

/// Reads Trivy's JSON report; `Err` naming what is wrong.
pub fn parse_report(data: &[u8]) -> Result<Vec<TrivyFinding>, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Report {
        #[serde(default)]
        results: Vec<Result_>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Result_ {
        #[serde(default)]
        vulnerabilities: Option<Vec<Vuln>>,
    }
    #[derive(Deserialize)]
    struct Vuln {
        #[serde(rename = "VulnerabilityID")]
        id: String,
        #[serde(rename = "PkgName")]
        package: String,
        #[serde(rename = "InstalledVersion", default)]
        installed: String,
        #[serde(rename = "FixedVersion", default)]
        fixed: Option<String>,
        #[serde(rename = "Severity", default)]
        severity: String,
    }
    let report: Report =
        serde_json::from_slice(data).map_err(|e| format!("Trivy's report is not JSON Crane reads: {e}"))?;
    let mut out: Vec<TrivyFinding> = report
        .results
        .into_iter()
        .flat_map(|r| r.vulnerabilities.unwrap_or_default())
        .map(|v| TrivyFinding {
            id: v.id,
            package: v.package,
            installed: v.installed,
            fixed: v.fixed.filter(|f| !f.is_empty()),
            severity: v.severity,
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Crane's and Trivy's findings side by side: what both report (by CVE id or alias and package), what only one
/// does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// `(id, package)` both report.
    pub both: Vec<(String, String)>,
    /// `(id, package)` only Crane reports.
    pub only_crane: Vec<(String, String)>,
    /// `(id, package)` only Trivy reports.
    pub only_trivy: Vec<(String, String)>,
}

/// Compares the two sets of findings. A Crane finding matches a Trivy one when the package agrees (source or binary
/// name) and Trivy's id is the advisory id or one of its aliases.
pub fn compare(crane: &[Finding], trivy: &[TrivyFinding]) -> Comparison {
    let mut out = Comparison::default();
    let mut matched_trivy = BTreeSet::new();
    for finding in crane {
        let hit = trivy.iter().enumerate().find(|(_, t)| {
            (t.package == finding.package || Some(&t.package) == finding.binary.as_ref())
                && (t.id == finding.id || finding.aliases.contains(&t.id))
        });
        match hit {
            Some((i, t)) => {
                matched_trivy.insert(i);
                out.both.push((t.id.clone(), finding.package.clone()));
            }
            None => out.only_crane.push((finding.id.clone(), finding.package.clone())),
        }
    }
    for (i, t) in trivy.iter().enumerate() {
        if !matched_trivy.contains(&i) {
            out.only_trivy.push((t.id.clone(), t.package.clone()));
        }
    }
    out.both.sort();
    out.both.dedup();
    out
}
