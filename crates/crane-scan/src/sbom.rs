//! A CycloneDX 1.5 JSON SBOM of an inventory.
//!
//! Written with serde rather than the `cyclonedx-bom` crate: Crane emits one document shape (a container with its
//! OS and library components), and the crate would add XML, SPDX-expression, purl and time parsers to the build for
//! it. The test below checks the fields the 1.5 schema requires.

use serde_json::{json, Value};

use crate::inventory::Inventory;
use crate::{Ecosystem, Package};

/// Percent-encodes a purl component (everything but ASCII letters, digits and `.-_~`).
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The package URL of a package (`pkg:deb/debian/bash@4.2%2Bdfsg-0.1?arch=amd64&distro=debian-7`).
pub fn purl(package: &Package, inventory: &Inventory) -> String {
    let distro = inventory
        .os
        .as_ref()
        .map(|os| format!("{}-{}", os.id, os.version_id.clone().unwrap_or_default()))
        .unwrap_or_default();
    let name = package.binary.as_deref().unwrap_or(&package.name);
    let mut qualifiers = Vec::new();
    if let Some(arch) = &package.arch {
        qualifiers.push(format!("arch={}", encode(arch)));
    }
    let base = match package.ecosystem {
        Ecosystem::Debian | Ecosystem::Ubuntu => {
            let vendor = if package.ecosystem == Ecosystem::Ubuntu { "ubuntu" } else { "debian" };
            if package.binary.is_some() {
                qualifiers.push(format!("upstream={}", encode(&package.name)));
            }
            if !distro.is_empty() {
                qualifiers.push(format!("distro={distro}"));
            }
            format!("pkg:deb/{vendor}/{}@{}", encode(name), encode(&package.version))
        }
        Ecosystem::Alpine => {
            if !distro.is_empty() {
                qualifiers.push(format!("distro={distro}"));
            }
            format!("pkg:apk/alpine/{}@{}", encode(name), encode(&package.version))
        }
        Ecosystem::PyPI => {
            format!("pkg:pypi/{}@{}", encode(&crate::osv::package_key(Ecosystem::PyPI, name)), encode(&package.version))
        }
        Ecosystem::Npm => match name.split_once('/') {
            Some((scope, rest)) if scope.starts_with('@') => {
                format!("pkg:npm/{}/{}@{}", encode(scope), encode(rest), encode(&package.version))
            }
            _ => format!("pkg:npm/{}@{}", encode(name), encode(&package.version)),
        },
        Ecosystem::Go => {
            let path: Vec<String> = name.split('/').map(encode).collect();
            format!("pkg:golang/{}@{}", path.join("/"), encode(&package.version))
        }
        Ecosystem::CratesIo => format!("pkg:cargo/{}@{}", encode(name), encode(&package.version)),
    };
    if qualifiers.is_empty() {
        base
    } else {
        format!("{base}?{}", qualifiers.join("&"))
    }
}

/// What the SBOM says about the image itself.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// The reference scanned (`crane-demo:0.1.0`).
    pub image: &'a str,
    /// The image id (`sha256:…`).
    pub digest: &'a str,
    /// `urn:uuid:…`, unique per document.
    pub serial: &'a str,
    /// When it was made (RFC 3339).
    pub timestamp: &'a str,
    /// Crane's version.
    pub tool_version: &'a str,
}

/// The CycloneDX 1.5 document: the image as the `metadata.component` (a container), the OS as an
/// `operating-system` component, every package as a `library` with its purl and Crane's properties (`crane:layer`,
/// `crane:path`, `crane:ecosystem`).
pub fn cyclonedx(subject: &Subject<'_>, inventory: &Inventory, layer_ids: &[String]) -> Value {
    let mut components = Vec::new();
    if let Some(os) = &inventory.os {
        components.push(json!({
            "type": "operating-system",
            "bom-ref": format!("os:{}-{}", os.id, os.version_id.clone().unwrap_or_default()),
            "name": os.id,
            "version": os.version_id.clone().unwrap_or_default(),
            "description": os.pretty_name.clone().unwrap_or_default(),
        }));
    }
    for (i, package) in inventory.packages.iter().enumerate() {
        let purl = purl(package, inventory);
        let mut properties = vec![
            json!({"name": "crane:ecosystem", "value": package.ecosystem.as_str()}),
            json!({"name": "crane:path", "value": format!("/{}", package.path)}),
            json!({"name": "crane:layer", "value": package.layer.to_string()}),
        ];
        if let Some(id) = layer_ids.get(package.layer) {
            properties.push(json!({"name": "crane:layer_diff_id", "value": id}));
        }
        if package.binary.is_some() {
            properties.push(json!({"name": "crane:source_package", "value": package.name}));
        }
        components.push(json!({
            "type": "library",
            "bom-ref": format!("{purl}#{i}"),
            "name": package.binary.as_deref().unwrap_or(&package.name),
            "version": package.version,
            "purl": purl,
            "properties": properties,
        }));
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": subject.serial,
        "version": 1,
        "metadata": {
            "timestamp": subject.timestamp,
            "tools": {"components": [{"type": "application", "name": "crane", "version": subject.tool_version}]},
            "component": {
                "type": "container",
                "bom-ref": subject.digest,
                "name": subject.image,
                "version": subject.digest,
            },
        },
        "components": components,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::OsRelease;

    #[test]
    fn document_and_purls() {
        let pkg = |ecosystem, name: &str, version: &str, binary: Option<&str>| Package {
            ecosystem,
            name: name.into(),
            version: version.into(),
            binary: binary.map(str::to_string),
            path: "p".into(),
            layer: 0,
            arch: None,
        };
        let inventory = Inventory {
            os: OsRelease::parse("ID=debian\nVERSION_ID=7\n"),
            packages: vec![
                pkg(Ecosystem::Debian, "openssl", "1.0.1e-2+deb7u4", Some("libssl1.0.0")),
                pkg(Ecosystem::Npm, "@types/node", "1.0.0", None),
                pkg(Ecosystem::PyPI, "Jinja2", "2.10", None),
            ],
            warnings: vec![],
        };
        let purls: Vec<String> = inventory.packages.iter().map(|p| purl(p, &inventory)).collect();
        assert_eq!(
            purls,
            [
                "pkg:deb/debian/libssl1.0.0@1.0.1e-2%2Bdeb7u4?upstream=openssl&distro=debian-7",
                "pkg:npm/%40types/node@1.0.0",
                "pkg:pypi/jinja2@2.10",
            ]
        );
        let subject =
            Subject { image: "x:1", digest: "sha256:ab", serial: "urn:uuid:1", timestamp: "t", tool_version: "0" };
        let doc = cyclonedx(&subject, &inventory, &["sha256:l0".to_string()]);
        assert_eq!(doc["bomFormat"], "CycloneDX");
        assert_eq!(doc["specVersion"], "1.5");
        assert_eq!(doc["components"].as_array().unwrap().len(), 4);
        for c in doc["components"].as_array().unwrap() {
            assert!(c["type"].is_string() && c["name"].is_string(), "{c}");
        }
        assert_eq!(doc["components"][1]["properties"][3]["value"], "sha256:l0");
    }
}
