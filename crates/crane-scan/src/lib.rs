//! Crane's image scanner, as pure functions over bytes: no tokio, bollard or sqlx (the Docker adapter hands a saved
//! image over as a `Read`, the engine orchestrates, the store keeps the advisories).
//!
//! - [`image::read_image`] reads a `docker save` stream (the legacy layout or the OCI layout of Docker 25+) in one
//!   pass, streaming each layer (gzip or plain tar) and keeping only the files a scan needs, each bounded by
//!   [`Limits`]; whiteouts are applied, so the result is the image's final filesystem.
//! - [`inventory::inventory`] lists the packages: dpkg status (and `status.d/`), apk's installed database, Python
//!   `*.dist-info/METADATA`, `package.json` under `node_modules`, Go build info and `cargo auditable` data of
//!   executables, and the OS release from `/etc/os-release`, each with the layer that brought it in.
//! - [`osv`] parses OSV advisories (the format of Trivy's, Grype's and osv-scanner's databases) and matches an
//!   inventory against them, with [`version::compare`] per ecosystem; an advisory of another OS release never
//!   matches.
//! - [`sbom::cyclonedx`] writes a CycloneDX 1.5 JSON SBOM; [`hygiene::check`] gives image hygiene findings with
//!   their fix; [`trivy`] reads Trivy's JSON report and compares it with Crane's findings.

#![warn(missing_docs)]

pub mod apk_version;
pub mod archive;
pub mod elf;
pub mod hygiene;
pub mod image;
pub mod inventory;
pub mod osv;
pub mod sbom;
pub mod trivy;
pub mod version;

use serde::{Deserialize, Serialize};

/// The ecosystems Crane inventories and matches (OSV's names: `Debian`, `Ubuntu`, `Alpine`, `PyPI`, `npm`, `Go`,
/// `crates.io`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Ecosystem {
    /// Debian packages (dpkg).
    Debian,
    /// Ubuntu packages (dpkg).
    Ubuntu,
    /// Alpine packages (apk).
    Alpine,
    /// Python packages.
    PyPI,
    /// Node packages.
    #[serde(rename = "npm")]
    Npm,
    /// Go modules.
    Go,
    /// Rust crates.
    #[serde(rename = "crates.io")]
    CratesIo,
}

impl Ecosystem {
    /// Every ecosystem Crane knows.
    pub const ALL: [Ecosystem; 7] = [
        Ecosystem::Debian,
        Ecosystem::Ubuntu,
        Ecosystem::Alpine,
        Ecosystem::PyPI,
        Ecosystem::Npm,
        Ecosystem::Go,
        Ecosystem::CratesIo,
    ];

    /// OSV's name of the ecosystem.
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Debian => "Debian",
            Ecosystem::Ubuntu => "Ubuntu",
            Ecosystem::Alpine => "Alpine",
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Npm => "npm",
            Ecosystem::Go => "Go",
            Ecosystem::CratesIo => "crates.io",
        }
    }

    /// Splits an OSV ecosystem string (`Debian:12`, `Alpine:v3.18`, `Ubuntu:22.04:LTS`, `Ubuntu:Pro:18.04:LTS`,
    /// `PyPI`) into the ecosystem and its release; `None` for an ecosystem Crane does not match.
    pub fn parse_osv(text: &str) -> Option<(Ecosystem, Option<String>)> {
        let mut parts = text.split(':');
        let base = parts.next()?;
        let ecosystem = Ecosystem::ALL.into_iter().find(|e| e.as_str() == base)?;
        let release = match ecosystem {
            Ecosystem::Ubuntu => parts.find(|p| p.starts_with(|c: char| c.is_ascii_digit())).map(str::to_string),
            _ => parts.next().map(str::to_string),
        };
        Some((ecosystem, release.filter(|r| !r.is_empty())))
    }

    /// The names an OSV ecosystem may have, for messages.
    pub fn names() -> String {
        Ecosystem::ALL.map(Ecosystem::as_str).join(", ")
    }

    /// Whether packages of this ecosystem belong to the operating system (matched per release).
    pub fn is_os(self) -> bool {
        matches!(self, Ecosystem::Debian | Ecosystem::Ubuntu | Ecosystem::Alpine)
    }
}

/// Size bounds of one scan. A file above its bound is skipped with a warning; an image above `max_image_bytes` is
/// refused.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The whole `docker save` stream.
    pub max_image_bytes: u64,
    /// One package database (`dpkg/status`, apk's `installed`).
    pub max_db_bytes: u64,
    /// One small metadata file (`METADATA`, `package.json`, `os-release`, an image config).
    pub max_meta_bytes: u64,
    /// One executable read for Go or Rust build data.
    pub max_binary_bytes: u64,
    /// Files kept for the inventory (metadata files and executables with build data).
    pub max_files: usize,
    /// Entries in all layers together.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_image_bytes: 8 * 1024 * 1024 * 1024,
            max_db_bytes: 64 * 1024 * 1024,
            max_meta_bytes: 1024 * 1024,
            max_binary_bytes: 256 * 1024 * 1024,
            max_files: 100_000,
            max_entries: 2_000_000,
        }
    }
}

/// Why a scan could not read an image.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The stream is not a readable `docker save` archive (or a layer in it is damaged).
    #[error("{0}")]
    Corrupt(String),
    /// A bound of [`Limits`] was passed.
    #[error("{0}")]
    TooLarge(String),
    /// Reading the stream failed (the image went away, the scan was cancelled).
    #[error("{0}")]
    Read(String),
}

/// One package found in the image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    /// Its ecosystem.
    pub ecosystem: Ecosystem,
    /// The name advisories use (for dpkg the source package, e.g. `openssl` for `libssl1.1`).
    pub name: String,
    /// The installed version (for dpkg the source version when the binary's differs).
    pub version: String,
    /// The name as installed (the binary package for dpkg), when it differs from `name`.
    pub binary: Option<String>,
    /// Where it was found (`var/lib/dpkg/status`, `usr/lib/python3/site-packages/x.dist-info/METADATA`).
    pub path: String,
    /// Index of the layer that brought it in (0 is the base layer).
    pub layer: usize,
    /// Architecture when the database names one.
    pub arch: Option<String>,
}
