//! Reads a `docker save` stream in one pass and keeps what a scan needs.
//!
//! Both layouts are read: the legacy one (`<id>/layer.tar`, `<config>.json`, `manifest.json`) and the OCI layout
//! Docker 25+ writes (`blobs/sha256/<digest>`, `index.json`, `manifest.json`). The entries come in no useful order
//! (blobs are sorted by digest), so each entry is classified by its first bytes: a tar, gzip or zstd stream is read
//! as a layer right away, a small JSON document is kept, anything else is skipped. `manifest.json` then says which
//! layers, in which order, and which config belong to the image. Nothing is written to disk; every file kept is
//! bounded by [`Limits`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

use flate2::read::GzDecoder;

/// The first bytes of a zstd frame (RFC 8878).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
use serde::Deserialize;

use crate::{inventory, Limits, Package, ScanError};

/// What a kept file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `var/lib/dpkg/status` or a file of `var/lib/dpkg/status.d/`.
    Dpkg,
    /// `lib/apk/db/installed`.
    Apk,
    /// `etc/os-release` or `usr/lib/os-release`.
    OsRelease,
    /// A Python `*.dist-info/METADATA` or `*.egg-info/PKG-INFO`.
    Python,
    /// A `package.json` of a package under `node_modules`.
    Node,
}

/// A file of one layer that the inventory reads.
#[derive(Debug, Clone)]
pub enum Kept {
    /// A metadata file, with its bytes.
    Meta(FileKind, Vec<u8>),
    /// An executable whose embedded build data (Go build info, `cargo auditable`) listed these packages (with
    /// `layer` and `path` still to be set).
    Binary(Vec<Package>),
    /// A symbolic link (to resolve `etc/os-release -> ../usr/lib/os-release`).
    Link(String),
}

/// A file whose mode is notable for hygiene.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Special {
    /// Path in the image, without a leading `/`.
    pub path: String,
    /// Its permission bits.
    pub mode: u32,
    /// Whether it is a directory.
    pub dir: bool,
}

/// One layer as read.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    /// Where it was in the archive (`blobs/sha256/…`, `<id>/layer.tar`).
    pub archive_path: String,
    /// Its diff id from the config (`sha256:…`), when known.
    pub diff_id: Option<String>,
    /// The instruction that made it, from the config's history, when known.
    pub created_by: Option<String>,
    /// Bytes of the files in it.
    pub size: u64,
    /// Entries in it.
    pub entries: u64,
    /// Every path it writes (for hiding files of lower layers).
    pub paths: BTreeSet<String>,
    /// Kept files by path.
    pub kept: BTreeMap<String, Kept>,
    /// Paths it deletes (whiteouts), and directories it makes opaque.
    pub deleted: Vec<String>,
    /// Directories whose lower contents it hides (`.wh..wh..opq`).
    pub opaque: Vec<String>,
    /// Setuid/setgid files and world-writable directories.
    pub special: Vec<Special>,
}

/// The parts of the image config a scan reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    /// The runtime config.
    #[serde(default, rename = "config")]
    pub config: RunConfig,
    /// The layers' diff ids.
    #[serde(default)]
    pub rootfs: RootFs,
    /// The build history (one entry per instruction; `empty_layer` ones made no layer).
    #[serde(default)]
    pub history: Vec<History>,
    /// The architecture (`amd64`).
    #[serde(default)]
    pub architecture: Option<String>,
}

/// The runtime part of an image config (Docker's spelling).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `USER`.
    #[serde(default)]
    pub user: Option<String>,
    /// `ENV`, as `KEY=value`.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// `LABEL`s.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// `EXPOSE`d ports (`8080/tcp`).
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// `HEALTHCHECK`.
    #[serde(default)]
    pub healthcheck: Option<serde_json::Value>,
}

/// The config's `rootfs`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    /// One per layer, base first.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One history entry of the config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct History {
    /// The instruction.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Whether it made no layer.
    #[serde(default)]
    pub empty_layer: bool,
}

/// The image as read: its config, its layers base first, and warnings about files that were skipped.
#[derive(Debug, Clone, Default)]
pub struct ImageContents {
    /// The config, when the archive had it.
    pub config: ImageConfig,
    /// The tags `manifest.json` names.
    pub repo_tags: Vec<String>,
    /// The layers, base first.
    pub layers: Vec<Layer>,
    /// Things the reader skipped or could not understand, one sentence each.
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Normalizes a path inside a layer: no leading `./` or `/`, no trailing `/`.
fn normalize(path: &str) -> String {
    let p = path.trim_start_matches("./").trim_start_matches('/');
    p.trim_end_matches('/').to_string()
}

/// What a path inside a layer is for, if the inventory reads it.
pub fn classify(path: &str) -> Option<FileKind> {
    if path == "var/lib/dpkg/status" {
        return Some(FileKind::Dpkg);
    }
    if let Some(name) = path.strip_prefix("var/lib/dpkg/status.d/") {
        return (!name.contains('/') && !name.ends_with(".md5sums")).then_some(FileKind::Dpkg);
    }
    if path == "lib/apk/db/installed" {
        return Some(FileKind::Apk);
    }
    if path == "etc/os-release" || path == "usr/lib/os-release" {
        return Some(FileKind::OsRelease);
    }
    if path.ends_with(".dist-info/METADATA") || path.ends_with(".egg-info/PKG-INFO") {
        return Some(FileKind::Python);
    }
    if let Some(dir) = path.strip_suffix("/package.json") {
        let parts: Vec<&str> = dir.rsplit('/').take(3).collect();
        let under = match parts.as_slice() {
            [_, "node_modules", ..] => true,
            [_, scope, "node_modules"] => scope.starts_with('@'),
            _ => false,
        };
        return under.then_some(FileKind::Node);
    }
    None
}

/// Reads a whole `docker save` stream. `Err` when the stream is not a readable archive, a layer is damaged, the
/// reader fails (the image went away, the scan was cancelled) or a bound is passed.
pub fn read_image(reader: impl Read, limits: &Limits) -> Result<ImageContents, ScanError> {
    let mut outer = tar::Archive::new(reader.take(limits.max_image_bytes.saturating_add(1)));
    let mut jsons: HashMap<String, Vec<u8>> = HashMap::new();
    let mut layers: HashMap<String, Layer> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    let mut warnings = Vec::new();
    let mut budget = Budget { entries: 0, files: 0, limits };
    let entries = outer.entries().map_err(|e| read_error("the image archive", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| read_error("the image archive", e))?;
        let path = entry.path().map_err(|e| read_error("the image archive", e))?.to_string_lossy().to_string();
        let path = normalize(&path);
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Ok(Some(target)) = entry.link_name() {
                let target = target.to_string_lossy().to_string();
                let resolved = if kind.is_symlink() { resolve_relative(&path, &target) } else { normalize(&target) };
                links.insert(path, resolved);
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let size = entry.header().size().unwrap_or(0);
        let mut head = Vec::with_capacity(512);
        (&mut entry).take(512).read_to_end(&mut head).map_err(|e| read_error(&path, e))?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let zstd = head.starts_with(&ZSTD_MAGIC);
        let plain_tar = head.len() >= 262 && &head[257..262] == b"ustar" || is_empty_tar(&head, size);
        if gzip || zstd || plain_tar {
            let chained = std::io::Cursor::new(head).chain(&mut entry);
            let layer = if gzip {
                read_layer(GzDecoder::new(chained), &path, &mut budget, &mut warnings)?
            } else if zstd {
                // containerd's image store (Docker 25+ with the containerd snapshotter) may keep zstd layers.
                let decoder = ruzstd::decoding::StreamingDecoder::new(chained)
                    .map_err(|e| ScanError::Corrupt(format!("{path} is not a valid zstd stream: {e}")))?;
                read_layer(decoder, &path, &mut budget, &mut warnings)?
            } else {
                read_layer(chained, &path, &mut budget, &mut warnings)?
            };
            layers.insert(path, layer);
        } else if head.first().is_some_and(|b| *b == b'{' || *b == b'[') && size <= limits.max_meta_bytes * 8 {
            let mut data = head;
            entry.read_to_end(&mut data).map_err(|e| read_error(&path, e))?;
            jsons.insert(path, data);
        }
    }
    let manifest = jsons.get("manifest.json").ok_or_else(|| {
        ScanError::Corrupt(
            "the image archive has no manifest.json, so it is not a `docker save` export (or it was cut short)"
                .to_string(),
        )
    })?;
    let manifest: Vec<ManifestEntry> = serde_json::from_slice(manifest)
        .map_err(|e| ScanError::Corrupt(format!("manifest.json of the image archive is not valid: {e}")))?;
    let manifest = manifest
        .into_iter()
        .next()
        .ok_or_else(|| ScanError::Corrupt("manifest.json of the image archive names no image".to_string()))?;
    let follow = |p: &str| {
        let mut p = normalize(p);
        for _ in 0..8 {
            match links.get(&p) {
                Some(next) => p = next.clone(),
                None => break,
            }
        }
        p
    };
    let config: ImageConfig = match jsons.get(&follow(&manifest.config)) {
        Some(bytes) => serde_json::from_slice(bytes)
            .map_err(|e| ScanError::Corrupt(format!("the image config {} is not valid: {e}", manifest.config)))?,
        None => {
            return Err(ScanError::Corrupt(format!(
                "the image archive lacks the config {} that manifest.json names",
                manifest.config
            )))
        }
    };
    let history: Vec<Option<String>> =
        config.history.iter().filter(|h| !h.empty_layer).map(|h| h.created_by.clone()).collect();
    let mut ordered = Vec::new();
    for (i, name) in manifest.layers.iter().enumerate() {
        let real = follow(name);
        let mut layer = layers.get(&real).cloned().ok_or_else(|| {
            ScanError::Corrupt(format!("the image archive lacks layer {name} that manifest.json names"))
        })?;
        layer.archive_path = name.clone();
        layer.diff_id = config.rootfs.diff_ids.get(i).cloned();
        layer.created_by = history.get(i).cloned().flatten();
        ordered.push(layer);
    }
    Ok(ImageContents { config, repo_tags: manifest.repo_tags.unwrap_or_default(), layers: ordered, warnings })
}

fn is_empty_tar(head: &[u8], size: u64) -> bool {
    size >= 1024 && head.len() == 512 && head.iter().all(|b| *b == 0)
}

fn resolve_relative(from: &str, target: &str) -> String {
    if target.starts_with('/') {
        return normalize(target);
    }
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The message with which a reader of the image stream fails when the stream itself failed (the image went away,
/// the scan was cancelled), as opposed to a damaged archive. The engine's reader words its errors with it.
pub const STREAM_FAILURE: &str = "the image stream";

fn read_error(what: &str, e: std::io::Error) -> ScanError {
    if e.to_string().contains(STREAM_FAILURE) {
        return ScanError::Read(format!("reading {what}: {e}"));
    }
    ScanError::Corrupt(format!("{what} is not a readable tar archive: {e}"))
}

struct Budget<'a> {
    entries: u64,
    files: usize,
    limits: &'a Limits,
}

fn read_layer(
    reader: impl Read,
    name: &str,
    budget: &mut Budget<'_>,
    warnings: &mut Vec<String>,
) -> Result<Layer, ScanError> {
    let limits = *budget.limits;
    let mut archive = tar::Archive::new(reader);
    let mut layer = Layer { archive_path: name.to_string(), ..Layer::default() };
    let context = |e: std::io::Error| read_error(&format!("layer {name}"), e);
    for entry in archive.entries().map_err(context)? {
        let mut entry = entry.map_err(context)?;
        budget.entries += 1;
        layer.entries += 1;
        if budget.entries > limits.max_entries {
            return Err(ScanError::TooLarge(format!(
                "the image has more than {} files; Crane stops reading there",
                limits.max_entries
            )));
        }
        let raw = entry.path().map_err(context)?.to_string_lossy().to_string();
        let path = normalize(&raw);
        if path.is_empty() {
            continue;
        }
        let (dir, base) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        if base == ".wh..wh..opq" {
            layer.opaque.push(dir.to_string());
            continue;
        }
        if let Some(hidden) = base.strip_prefix(".wh.") {
            layer.deleted.push(if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") });
            continue;
        }
        let header = entry.header();
        let mode = header.mode().unwrap_or(0);
        let kind = header.entry_type();
        let size = header.size().unwrap_or(0);
        layer.paths.insert(path.clone());
        if kind.is_dir() {
            if mode & 0o002 != 0 && mode & 0o1000 == 0 {
                layer.special.push(Special { path: path.clone(), mode, dir: true });
            }
            continue;
        }
        if kind.is_symlink() {
            if classify(&path) == Some(FileKind::OsRelease) {
                if let Ok(Some(target)) = entry.link_name() {
                    let target = resolve_relative(&path, &target.to_string_lossy());
                    layer.kept.insert(path, Kept::Link(target));
                }
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        layer.size += size;
        if mode & 0o6000 != 0 {
            layer.special.push(Special { path: path.clone(), mode, dir: false });
        }
        if let Some(file_kind) = classify(&path) {
            let bound = if matches!(file_kind, FileKind::Dpkg | FileKind::Apk) {
                limits.max_db_bytes
            } else {
                limits.max_meta_bytes
            };
            if size > bound {
                warnings.push(format!(
                    "/{path} in layer {name} is {size} bytes, above the {bound}-byte bound for such a file; skipped"
                ));
                continue;
            }
            budget.files += 1;
            if budget.files > limits.max_files {
                return Err(ScanError::TooLarge(format!(
                    "the image has more than {} package metadata files; Crane stops reading there",
                    limits.max_files
                )));
            }
            let mut data = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut data).map_err(context)?;
            layer.kept.insert(path, Kept::Meta(file_kind, data));
        } else if mode & 0o111 != 0 && size >= 64 {
            let mut head = Vec::with_capacity(4);
            (&mut entry).take(4).read_to_end(&mut head).map_err(context)?;
            if !crate::elf::is_elf(&head) && !head.starts_with(b"MZ") && !is_macho(&head) {
                continue;
            }
            if size > limits.max_binary_bytes {
                warnings.push(format!(
                    "/{path} in layer {name} is {size} bytes, above the {}-byte bound for executables; its build data was not read",
                    limits.max_binary_bytes
                ));
                continue;
            }
            let mut data = head;
            entry.read_to_end(&mut data).map_err(context)?;
            let found = inventory::binary_packages(&data);
            if !found.is_empty() {
                budget.files += 1;
                layer.kept.insert(path, Kept::Binary(found));
            }
        }
    }
    Ok(layer)
}

fn is_macho(head: &[u8]) -> bool {
    matches!(head, [0xcf, 0xfa, 0xed, 0xfe] | [0xfe, 0xed, 0xfa, 0xcf] | [0xce, 0xfa, 0xed, 0xfe])
}

impl ImageContents {
    /// Whether layer `above` hides `path` of a lower layer (deleted, or under a deleted or opaque directory, or
    /// written again).
    fn hides(layer: &Layer, path: &str) -> bool {
        let under = |dir: &str| dir.is_empty() || path == dir || path.starts_with(&format!("{dir}/"));
        layer.paths.contains(path) || layer.deleted.iter().any(|d| under(d)) || layer.opaque.iter().any(|d| under(d))
    }

    /// The kept files of the final filesystem: for each path, the layer that wrote its final version and that
    /// version.
    pub fn final_files(&self) -> BTreeMap<&str, (usize, &Kept)> {
        let mut out = BTreeMap::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for (path, kept) in &layer.kept {
                if self.layers[i + 1..].iter().any(|l| Self::hides(l, path)) {
                    continue;
                }
                out.insert(path.as_str(), (i, kept));
            }
        }
        out
    }

    /// Every version of `path` the layers wrote, base first, each with its layer (for telling which layer brought
    /// a package in); a deletion is `None`.
    pub fn versions_of(&self, path: &str) -> Vec<(usize, Option<&Kept>)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            match layer.kept.get(path) {
                Some(kept) => out.push((i, Some(kept))),
                None if i > 0 && Self::hides(layer, path) => out.push((i, None)),
                None => {}
            }
        }
        out
    }

    /// Setuid/setgid files and world-writable directories of the final filesystem.
    pub fn final_special(&self) -> Vec<(usize, &Special)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for special in &layer.special {
                if !self.layers[i + 1..].iter().any(|l| Self::hides(l, &special.path)) {
                    out.push((i, special));
                }
            }
        }
        out
    }

    /// Bytes of all files of all layers.
    pub fn total_size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        let table = [
            ("var/lib/dpkg/status", Some(FileKind::Dpkg)),
            ("var/lib/dpkg/status.d/base", Some(FileKind::Dpkg)),
            ("var/lib/dpkg/status.d/base.md5sums", None),
            ("var/lib/dpkg/status-old", None),
            ("lib/apk/db/installed", Some(FileKind::Apk)),
            ("etc/os-release", Some(FileKind::OsRelease)),
            ("usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA", Some(FileKind::Python)),
            ("app/node_modules/lodash/package.json", Some(FileKind::Node)),
            ("app/node_modules/@types/node/package.json", Some(FileKind::Node)),
            ("app/node_modules/lodash/fp/package.json", None),
            ("app/package.json", None),
        ];
        for (path, kind) in table {
            assert_eq!(classify(path), kind, "{path}");
        }
        assert_eq!(resolve_relative("etc/os-release", "../usr/lib/os-release"), "usr/lib/os-release");
        assert_eq!(resolve_relative("abc/layer.tar", "../def/layer.tar"), "def/layer.tar");
    }
}
