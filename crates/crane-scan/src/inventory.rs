//! The package inventory of an image: parsers of each package database (pure, over bytes) and
//! [`inventory`], which reads them from the image's final filesystem and tells which layer brought each package in.

use std::collections::BTreeMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::image::{FileKind, ImageContents, Kept};
use crate::{Ecosystem, Package};

/// The operating system of an image, from `/etc/os-release` (or `/usr/lib/os-release`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    /// `ID` (`debian`, `ubuntu`, `alpine`).
    pub id: String,
    /// `VERSION_ID` (`12`, `22.04`, `3.18.4`).
    pub version_id: Option<String>,
    /// `VERSION_CODENAME` (`bookworm`).
    pub codename: Option<String>,
    /// `PRETTY_NAME`.
    pub pretty_name: Option<String>,
}

impl OsRelease {
    /// Parses an os-release file (`KEY=value`, values optionally quoted); `None` when it names no `ID`.
    pub fn parse(text: &str) -> Option<OsRelease> {
        let mut fields = BTreeMap::new();
        for line in text.lines().take(200) {
            let Some((key, value)) = line.trim().split_once('=') else { continue };
            let value = value.trim().trim_matches('"').trim_matches('\'');
            fields.insert(key.trim(), value.to_string());
        }
        let id = fields.get("ID").filter(|v| !v.is_empty())?.to_ascii_lowercase();
        Some(OsRelease {
            id,
            version_id: fields.get("VERSION_ID").cloned().filter(|v| !v.is_empty()),
            codename: fields.get("VERSION_CODENAME").cloned().filter(|v| !v.is_empty()),
            pretty_name: fields.get("PRETTY_NAME").cloned(),
        })
    }

    /// The distribution's ecosystem, for `debian`, `ubuntu` and `alpine`.
    pub fn ecosystem(&self) -> Option<Ecosystem> {
        match self.id.as_str() {
            "debian" => Some(Ecosystem::Debian),
            "ubuntu" => Some(Ecosystem::Ubuntu),
            "alpine" => Some(Ecosystem::Alpine),
            _ => None,
        }
    }

    /// The release as OSV writes it in the ecosystem (`Debian:12` → `12`, `Alpine:v3.18` → `v3.18`,
    /// `Ubuntu:22.04:LTS` → `22.04`).
    pub fn osv_release(&self) -> Option<String> {
        let version = self.version_id.as_deref()?;
        match self.id.as_str() {
            "debian" => Some(version.split('.').next().unwrap_or(version).to_string()),
            "alpine" => {
                let mut parts = version.split('.');
                Some(format!("v{}.{}", parts.next()?, parts.next()?))
            }
            _ => Some(version.to_string()),
        }
    }
}

/// A dpkg status database read: the installed packages and what could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DpkgRead {
    /// Installed packages: (binary name, version, source name, source version, architecture).
    pub packages: Vec<DpkgPackage>,
    /// Lines that are neither a field nor a continuation, and paragraphs without `Package`.
    pub problems: usize,
    /// The first problem, with its line number.
    pub first_problem: Option<String>,
}

/// One installed dpkg package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgPackage {
    /// `Package`.
    pub package: String,
    /// `Version`.
    pub version: String,
    /// `Source` name (the package itself when absent).
    pub source: String,
    /// The source version (`Source: openssl (1.1.1n-0)`), else the version.
    pub source_version: String,
    /// `Architecture`.
    pub arch: Option<String>,
}

/// Parses a dpkg status file (or a `status.d/` file, which has no `Status` field). Packages whose `Status` is not
/// `installed` (removed, config files only) are left out. Never fails: garbage is counted in `problems`.
pub fn parse_dpkg(data: &[u8]) -> DpkgRead {
    let text = String::from_utf8_lossy(data);
    let mut out = DpkgRead::default();
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut last_key: Option<String> = None;
    let mut paragraph_line = 1;
    let problem = |out: &mut DpkgRead, line: usize, what: String| {
        out.problems += 1;
        if out.first_problem.is_none() {
            out.first_problem = Some(format!("line {line}: {what}"));
        }
    };
    let finish = |fields: &mut BTreeMap<String, String>, out: &mut DpkgRead, line: usize| {
        if fields.is_empty() {
            return;
        }
        let taken = std::mem::take(fields);
        let (Some(package), Some(version)) = (taken.get("package"), taken.get("version")) else {
            problem(out, line, "a paragraph without `Package` and `Version`".to_string());
            return;
        };
        if let Some(status) = taken.get("status") {
            if status.split_whitespace().last() != Some("installed") {
                return;
            }
        }
        let (source, source_version) = match taken.get("source") {
            Some(source) => match source.split_once(' ') {
                Some((name, rest)) => {
                    (name.to_string(), rest.trim().trim_start_matches('(').trim_end_matches(')').trim().to_string())
                }
                None => (source.trim().to_string(), version.clone()),
            },
            None => (package.clone(), version.clone()),
        };
        out.packages.push(DpkgPackage {
            package: package.clone(),
            version: version.clone(),
            source,
            source_version,
            arch: taken.get("architecture").cloned(),
        });
    };
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            finish(&mut fields, &mut out, paragraph_line);
            last_key = None;
            paragraph_line = number + 1;
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if last_key.is_none() {
                problem(&mut out, number, "a continuation line outside a field".to_string());
            }
            continue;
        }
        match line.split_once(':') {
            Some((key, value)) if !key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_graphic()) => {
                let key = key.to_ascii_lowercase();
                fields.insert(key.clone(), value.trim().to_string());
                last_key = Some(key);
            }
            _ => {
                let shown: String = line.chars().take(40).collect();
                problem(&mut out, number, format!("`{}` is not a `Field: value` line", shown.escape_debug()));
                last_key = None;
            }
        }
    }
    finish(&mut fields, &mut out, paragraph_line);
    out
}

/// Parses apk's installed database (`P:` name, `V:` version, `A:` arch, `o:` origin); the origin is the name
/// advisories use. Returns the packages and the number of paragraphs without name or version.
/// One apk package: name, version, architecture, origin.
pub type ApkPackage = (String, String, Option<String>, Option<String>);

/// Parses apk's installed database (see above).
pub fn parse_apk(data: &[u8]) -> (Vec<ApkPackage>, usize) {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut problems = 0;
    for paragraph in text.split("\n\n") {
        if paragraph.trim().is_empty() {
            continue;
        }
        let mut name = None;
        let mut version = None;
        let mut arch = None;
        let mut origin = None;
        for line in paragraph.lines() {
            match line.split_once(':') {
                Some(("P", v)) => name = Some(v.trim().to_string()),
                Some(("V", v)) => version = Some(v.trim().to_string()),
                Some(("A", v)) => arch = Some(v.trim().to_string()),
                Some(("o", v)) => origin = Some(v.trim().to_string()),
                _ => {}
            }
        }
        match (name, version) {
            (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => out.push((n, v, arch, origin)),
            _ => problems += 1,
        }
    }
    (out, problems)
}

/// `Name` and `Version` of a Python core metadata file (`METADATA`, `PKG-INFO`).
pub fn parse_python_metadata(data: &[u8]) -> Option<(String, String)> {
    let text = String::from_utf8_lossy(data);
    let mut name = None;
    let mut version = None;
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version = Some(v.trim().to_string());
        }
    }
    Some((name.filter(|n| !n.is_empty())?, version.filter(|v| !v.is_empty())?))
}

/// `name` and `version` of a `package.json`.
pub fn parse_package_json(data: &[u8]) -> Option<(String, String)> {
    #[derive(Deserialize)]
    struct PackageJson {
        name: Option<String>,
        version: Option<String>,
    }
    let parsed: PackageJson = serde_json::from_slice(data).ok()?;
    Some((parsed.name.filter(|n| !n.is_empty())?, parsed.version.filter(|v| !v.is_empty())?))
}

/// The magic that starts Go's build info blob (`runtime/debug.BuildInfo` in the binary).
pub const GO_BUILDINFO_MAGIC: &[u8] = b"\xff Go buildinf:";

/// Reads a varint-prefixed string (Go 1.18+ build info).
fn go_string(data: &[u8], at: &mut usize) -> Option<String> {
    let mut len: u64 = 0;
    let mut shift = 0;
    loop {
        let byte = *data.get(*at)?;
        *at += 1;
        len |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 35 {
            return None;
        }
    }
    let len = usize::try_from(len).ok()?;
    let text = data.get(*at..at.checked_add(len)?)?;
    *at += len;
    Some(String::from_utf8_lossy(text).to_string())
}

/// The Go version and modules of a Go 1.18+ binary's build info: `stdlib` at the toolchain's version, then every
/// `dep` (after `=>` replacements). Older binaries keep the info behind pointers and are not read.
pub fn go_buildinfo(data: &[u8]) -> Option<(String, Vec<(String, String)>)> {
    let start = data.windows(GO_BUILDINFO_MAGIC.len()).position(|w| w == GO_BUILDINFO_MAGIC)?;
    let flags = *data.get(start + 15)?;
    if flags & 0x2 == 0 {
        return None;
    }
    let mut at = start + 32;
    let go_version = go_string(data, &mut at)?;
    let modinfo = go_string(data, &mut at)?;
    // The module info is framed by 16 bytes of sentinel on each side.
    let modinfo = if modinfo.len() >= 33 && modinfo.as_bytes()[modinfo.len() - 17] == b'\n' {
        modinfo.get(16..modinfo.len() - 16).unwrap_or(&modinfo).to_string()
    } else {
        modinfo
    };
    let mut modules: Vec<(String, String)> = Vec::new();
    for line in modinfo.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["dep", path, version, ..] => modules.push((path.to_string(), version.to_string())),
            ["=>", path, version, ..] => {
                if let Some(last) = modules.last_mut() {
                    *last = (path.to_string(), version.to_string());
                }
            }
            _ => {}
        }
    }
    Some((go_version, modules))
}

/// The packages of a `cargo auditable` binary: its `.dep-v0` section, zlib-compressed JSON
/// (`{"packages": [{"name", "version", "source", ...}]}`), at most 8 MiB once inflated.
pub fn cargo_auditable(data: &[u8]) -> Option<Vec<(String, String)>> {
    #[derive(Deserialize)]
    struct Audit {
        packages: Vec<AuditPackage>,
    }
    #[derive(Deserialize)]
    struct AuditPackage {
        name: String,
        version: String,
        #[serde(default)]
        source: Option<String>,
    }
    let section = crate::elf::section(data, ".dep-v0")?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(section).take(8 * 1024 * 1024).read_to_end(&mut json).ok()?;
    let audit: Audit = serde_json::from_slice(&json).ok()?;
    Some(
        audit
            .packages
            .into_iter()
            .filter(|p| p.source.as_deref().is_none_or(|s| s == "crates.io" || s == "registry"))
            .map(|p| (p.name, p.version))
            .collect(),
    )
}

/// The packages an executable's embedded build data lists (Go build info, `cargo auditable`), with `layer` 0 and
/// an empty `path` for the caller to set.
pub fn binary_packages(data: &[u8]) -> Vec<Package> {
    let mut out = Vec::new();
    let package = |ecosystem, name: String, version: String| Package {
        ecosystem,
        name,
        version,
        binary: None,
        path: String::new(),
        layer: 0,
        arch: None,
    };
    if let Some((go, modules)) = go_buildinfo(data) {
        if let Some(version) = go.strip_prefix("go") {
            let version = version.split([' ', '-']).next().unwrap_or(version).to_string();
            out.push(package(Ecosystem::Go, "stdlib".to_string(), version));
        }
        for (path, version) in modules {
            out.push(package(Ecosystem::Go, path, version));
        }
    }
    if let Some(crates) = cargo_auditable(data) {
        for (name, version) in crates {
            out.push(package(Ecosystem::CratesIo, name, version));
        }
    }
    out
}

/// The inventory of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The OS release, when the image has an os-release file.
    pub os: Option<OsRelease>,
    /// The packages, sorted by ecosystem, name and version.
    pub packages: Vec<Package>,
    /// Package databases that could not be read (fully), one sentence each.
    pub warnings: Vec<String>,
}

/// The dpkg ecosystem of an image: Ubuntu when its os-release says so, else Debian.
fn dpkg_ecosystem(os: Option<&OsRelease>) -> Ecosystem {
    match os.and_then(OsRelease::ecosystem) {
        Some(Ecosystem::Ubuntu) => Ecosystem::Ubuntu,
        _ => Ecosystem::Debian,
    }
}

/// Reads the inventory of an image's final filesystem.
pub fn inventory(image: &ImageContents) -> Inventory {
    let files = image.final_files();
    let mut warnings = Vec::new();
    let os_text = |path: &str| -> Option<OsRelease> {
        let mut path = path.to_string();
        for _ in 0..4 {
            match files.get(path.as_str()) {
                Some((_, Kept::Meta(FileKind::OsRelease, data))) => {
                    return OsRelease::parse(&String::from_utf8_lossy(data))
                }
                Some((_, Kept::Link(target))) => path = target.clone(),
                _ => return None,
            }
        }
        None
    };
    let os = os_text("etc/os-release").or_else(|| os_text("usr/lib/os-release"));
    let mut packages = Vec::new();
    for (path, (layer, kept)) in &files {
        match kept {
            Kept::Meta(FileKind::Dpkg, data) => {
                let read = parse_dpkg(data);
                if read.packages.is_empty() && read.problems > 0 {
                    warnings.push(format!(
                        "/{path} is not a dpkg status database ({} unreadable lines or paragraphs; first at {}); no \
                         package was read from it",
                        read.problems,
                        read.first_problem.as_deref().unwrap_or("?")
                    ));
                } else if read.problems > 0 {
                    warnings.push(format!(
                        "/{path}: {} lines or paragraphs could not be read (first at {}); the other packages were",
                        read.problems,
                        read.first_problem.as_deref().unwrap_or("?")
                    ));
                }
                let layers = dpkg_layers(image, path);
                let ecosystem = dpkg_ecosystem(os.as_ref());
                for p in read.packages {
                    let key = (p.package.clone(), p.version.clone());
                    packages.push(Package {
                        ecosystem,
                        binary: (p.package != p.source).then(|| p.package.clone()),
                        name: p.source,
                        version: p.source_version,
                        path: path.to_string(),
                        layer: layers.get(&key).copied().unwrap_or(*layer),
                        arch: p.arch,
                    });
                }
            }
            Kept::Meta(FileKind::Apk, data) => {
                let (found, problems) = parse_apk(data);
                if found.is_empty() && problems > 0 {
                    warnings.push(format!("/{path} is not an apk installed database; no package was read from it"));
                }
                for (name, version, arch, origin) in found {
                    let advisory_name = origin.clone().unwrap_or_else(|| name.clone());
                    packages.push(Package {
                        ecosystem: Ecosystem::Alpine,
                        binary: (advisory_name != name).then_some(name),
                        name: advisory_name,
                        version,
                        path: path.to_string(),
                        layer: *layer,
                        arch,
                    });
                }
            }
            Kept::Meta(FileKind::Python, data) => match parse_python_metadata(data) {
                Some((name, version)) => packages.push(Package {
                    ecosystem: Ecosystem::PyPI,
                    name,
                    version,
                    binary: None,
                    path: path.to_string(),
                    layer: *layer,
                    arch: None,
                }),
                None => warnings.push(format!("/{path} names no `Name` and `Version`; skipped")),
            },
            Kept::Meta(FileKind::Node, data) => match parse_package_json(data) {
                Some((name, version)) => packages.push(Package {
                    ecosystem: Ecosystem::Npm,
                    name,
                    version,
                    binary: None,
                    path: path.to_string(),
                    layer: *layer,
                    arch: None,
                }),
                None => warnings.push(format!("/{path} is not a package.json with `name` and `version`; skipped")),
            },
            Kept::Binary(found) => {
                for p in found {
                    packages.push(Package { path: path.to_string(), layer: *layer, ..p.clone() });
                }
            }
            Kept::Meta(FileKind::OsRelease, _) | Kept::Link(_) => {}
        }
    }
    packages.sort();
    packages.dedup_by(|a, b| {
        a.ecosystem == b.ecosystem
            && a.name == b.name
            && a.version == b.version
            && a.binary == b.binary
            && a.path == b.path
    });
    Inventory { os, packages, warnings }
}

/// For each (package, version) of the dpkg database at `path`, the layer since which it has been installed
/// without interruption.
fn dpkg_layers(image: &ImageContents, path: &str) -> BTreeMap<(String, String), usize> {
    let mut since: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (layer, kept) in image.versions_of(path) {
        let now: Vec<(String, String)> = match kept {
            Some(Kept::Meta(_, data)) => {
                parse_dpkg(data).packages.into_iter().map(|p| (p.package, p.version)).collect()
            }
            _ => Vec::new(),
        };
        since = now
            .into_iter()
            .map(|key| {
                let first = since.get(&key).copied().unwrap_or(layer);
                (key, first)
            })
            .collect();
    }
    since
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status() {
        let status = b"Package: bash\nStatus: install ok installed\nVersion: 4.2+dfsg-0.1\nArchitecture: amd64\n\
Description: shell\n continuation\n .\n\nPackage: libssl1.0.0\nStatus: install ok installed\n\
Source: openssl\nVersion: 1.0.1e-2+deb7u4\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
Package: libfoo\nSource: foo (1:2.0-1)\nVersion: 1:2.0-1+b1\n";
        let read = parse_dpkg(status);
        assert_eq!(read.problems, 0, "{:?}", read.first_problem);
        let got: Vec<(&str, &str, &str)> =
            read.packages.iter().map(|p| (p.package.as_str(), p.source.as_str(), p.source_version.as_str())).collect();
        assert_eq!(
            got,
            [
                ("bash", "bash", "4.2+dfsg-0.1"),
                ("libssl1.0.0", "openssl", "1.0.1e-2+deb7u4"),
                ("libfoo", "foo", "1:2.0-1")
            ]
        );
        let garbage = parse_dpkg(b"\x00\xff garbage\nmore garbage\n\n : x\n");
        assert!(garbage.packages.is_empty());
        assert_eq!(
            garbage.first_problem.as_deref(),
            Some("line 1: `\\0\u{fffd} garbage` is not a `Field: value` line")
        );
    }

    #[test]
    fn apk_python_node_os() {
        let (apk, problems) = parse_apk(
            b"C:Q1abc=\nP:zlib\nV:1.2.12-r1\nA:x86_64\no:zlib\n\nP:libcrypto3\nV:3.0.8-r0\no:openssl\n\nX:junk\n",
        );
        assert_eq!(problems, 1);
        assert_eq!(apk[1], ("libcrypto3".to_string(), "3.0.8-r0".to_string(), None, Some("openssl".to_string())));
        assert_eq!(
            parse_python_metadata(b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n\nName: body"),
            Some(("requests".to_string(), "2.19.0".to_string()))
        );
        assert_eq!(
            parse_package_json(br#"{"name":"lodash","version":"4.17.11"}"#),
            Some(("lodash".into(), "4.17.11".into()))
        );
        assert_eq!(parse_package_json(b"{"), None);
        let os =
            OsRelease::parse("PRETTY_NAME=\"Debian GNU/Linux 7 (wheezy)\"\nID=debian\nVERSION_ID=\"7\"\n").unwrap();
        assert_eq!((os.ecosystem(), os.osv_release().as_deref()), (Some(Ecosystem::Debian), Some("7")));
        let alpine = OsRelease::parse("ID=alpine\nVERSION_ID=3.16.2\n").unwrap();
        assert_eq!(alpine.osv_release().as_deref(), Some("v3.16"));
        assert_eq!(OsRelease::parse("NAME=x\n"), None);
    }

    /// Go 1.18+ build info as the linker writes it (magic, pointer size, flags, then two varint strings).
    fn go_blob(version: &str, modinfo: &str) -> Vec<u8> {
        let mut out = GO_BUILDINFO_MAGIC.to_vec();
        out.push(8);
        out.push(2);
        out.resize(32, 0);
        for text in [version, modinfo] {
            let mut len = text.len();
            loop {
                let byte = (len & 0x7f) as u8;
                len >>= 7;
                if len == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
            out.extend_from_slice(text.as_bytes());
        }
        out
    }

    #[test]
    fn go_and_rust_binaries() {
        let sentinel = "0123456789abcdef";
        let modinfo = format!(
            "{sentinel}path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tgolang.org/x/text\tv0.3.7\th1:x\n\
             dep\texample.com/old\tv1.0.0\th1:y\n=>\texample.com/new\tv1.1.0\th1:z\n{sentinel}"
        );
        let mut binary = crate::elf::build_elf64(&[(".text", b"x")]);
        binary.extend(go_blob("go1.21.3", &modinfo));
        let found = binary_packages(&binary);
        let got: Vec<(&str, &str)> = found.iter().map(|p| (p.name.as_str(), p.version.as_str())).collect();
        assert_eq!(got, [("stdlib", "1.21.3"), ("golang.org/x/text", "v0.3.7"), ("example.com/new", "v1.1.0")]);

        let json = br#"{"packages":[{"name":"smallvec","version":"1.6.0","source":"crates.io"},{"name":"app","version":"0.1.0","source":"local","root":true}]}"#;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, json).unwrap();
        let rust = crate::elf::build_elf64(&[(".dep-v0", &z.finish().unwrap())]);
        let found = binary_packages(&rust);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].ecosystem, found[0].name.as_str()), (Ecosystem::CratesIo, "smallvec"));
        assert!(binary_packages(b"\x7fELF garbage").is_empty());
    }
}
