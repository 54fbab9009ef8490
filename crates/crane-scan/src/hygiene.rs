//! Image hygiene: Dockerfile practices checked on the image itself, each finding with its fix.

use serde::{Deserialize, Serialize};

use crate::image::ImageContents;

/// Which practice a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// No `USER`, or `USER root`/`0`.
    RunsAsRoot,
    /// No `HEALTHCHECK`.
    NoHealthcheck,
    /// The reference uses `latest` or no tag.
    MutableTag,
    /// An `ENV` looks like a secret.
    SecretInEnv,
    /// A `LABEL` looks like a secret.
    SecretInLabel,
    /// A setuid or setgid file.
    SetuidFile,
    /// A world-writable directory without the sticky bit.
    WorldWritableDir,
    /// The image is large.
    LargeImage,
    /// The image has many layers.
    ManyLayers,
    /// A port below 1024 is exposed.
    PrivilegedPort,
}

/// How much a hygiene finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    /// Worth knowing.
    Info,
    /// Should be fixed.
    Warning,
    /// Fix before running it.
    High,
}

/// One hygiene finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The practice.
    pub check: Check,
    /// How much it matters.
    pub level: Level,
    /// What was found (never the value of a secret).
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

/// Size above which an image is called large: 1 GiB.
pub const LARGE_IMAGE_BYTES: u64 = 1024 * 1024 * 1024;
/// Layer count above which an image is called layered deeply.
pub const MANY_LAYERS: usize = 40;
/// Most setuid files or world-writable directories named one by one.
const MAX_NAMED: usize = 20;

const SECRET_WORDS: [&str; 12] = [
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "AUTH_KEY",
    "CLIENT_SECRET",
    "DB_PASS",
];

/// Whether a key (or its value) looks like a secret: a secret-like key with a value, or a value shaped like a
/// well-known credential (AWS access key id, GitHub token, PEM private key).
pub fn looks_secret(key: &str, value: &str) -> bool {
    let upper = key.to_ascii_uppercase().replace(['-', '.'], "_");
    let key_says = SECRET_WORDS.iter().any(|w| upper.contains(w))
        && !upper.ends_with("_FILE")
        && !upper.ends_with("_PATH")
        && !value.trim().is_empty();
    let aws = value.len() >= 20
        && value
            .as_bytes()
            .windows(20)
            .any(|w| w.starts_with(b"AKIA") && w[4..].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    let github = ["ghp_", "gho_", "ghs_", "github_pat_"].iter().any(|p| value.starts_with(p)) && value.len() >= 36;
    key_says || aws || github || value.contains("PRIVATE KEY-----")
}

/// Whether the reference names `latest` or no tag (and no digest).
pub fn mutable_tag(reference: &str) -> Option<&'static str> {
    if reference.contains('@') {
        return None;
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    match last.rsplit_once(':') {
        Some((_, "latest")) => Some("uses the `latest` tag"),
        Some(_) => None,
        None => Some("has no tag, so Docker takes `latest`"),
    }
}

/// The hygiene findings of an image scanned as `reference` (an image id reference gets no tag finding).
pub fn check(image: &ImageContents, reference: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let config = &image.config.config;
    let user = config.user.as_deref().unwrap_or("").trim();
    let name = user.split(':').next().unwrap_or("");
    if name.is_empty() || name == "root" || name == "0" {
        out.push(Finding {
            check: Check::RunsAsRoot,
            level: Level::Warning,
            message: if user.is_empty() {
                "the image sets no USER, so it runs as root".to_string()
            } else {
                format!("the image runs as root (USER {user})")
            },
            fix: "add `USER 10001` (a non-root user that owns what the app writes) to the Dockerfile, or set \
                  `security.user` in the Crane spec"
                .to_string(),
        });
    }
    if config
        .healthcheck
        .as_ref()
        .is_none_or(|h| h.get("Test").and_then(|t| t.get(0)).and_then(|t| t.as_str()) == Some("NONE"))
    {
        out.push(Finding {
            check: Check::NoHealthcheck,
            level: Level::Info,
            message: "the image defines no HEALTHCHECK".to_string(),
            fix: "add a `HEALTHCHECK CMD …` to the Dockerfile, or give the Crane spec readiness and liveness \
                  probes (Crane uses those, not Docker's healthcheck)"
                .to_string(),
        });
    }
    let is_id =
        reference.starts_with("sha256:") || reference.len() == 64 && reference.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_id {
        if let Some(why) = mutable_tag(reference) {
            out.push(Finding {
                check: Check::MutableTag,
                level: Level::Warning,
                message: format!("the reference {reference} {why}, which changes under you"),
                fix: "pin a version tag (app:1.2.3) or a digest (app@sha256:…)".to_string(),
            });
        }
    }
    for entry in config.env.iter().flatten() {
        let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
        if looks_secret(key, value) {
            out.push(Finding {
                check: Check::SecretInEnv,
                level: Level::High,
                message: format!("ENV {key} looks like a secret baked into the image (its value is not shown)"),
                fix: format!(
                    "remove `ENV {key}` from the Dockerfile, rotate the secret, and pass it at run time \
                              (the spec's `env`, or a mounted file)"
                ),
            });
        }
    }
    for (key, value) in config.labels.iter().flatten() {
        if looks_secret(key, value) {
            out.push(Finding {
                check: Check::SecretInLabel,
                level: Level::High,
                message: format!("LABEL {key} looks like a secret baked into the image (its value is not shown)"),
                fix: format!("remove the label {key}, rotate the secret, and rebuild"),
            });
        }
    }
    let special = image.final_special();
    let setuid: Vec<String> =
        special.iter().filter(|(_, s)| !s.dir).map(|(_, s)| format!("/{} ({:o})", s.path, s.mode & 0o7777)).collect();
    if !setuid.is_empty() {
        out.push(Finding {
            check: Check::SetuidFile,
            level: Level::Warning,
            message: format!("{} setuid/setgid files: {}", setuid.len(), named(&setuid)),
            fix: "remove the bits in the Dockerfile (`RUN chmod u-s,g-s FILE`, or `find / -perm /6000 -type f -exec \
                  chmod a-s {} +`) unless the app needs them; Crane's `no-new-privileges` also stops them from \
                  raising privileges"
                .to_string(),
        });
    }
    let writable: Vec<String> = special.iter().filter(|(_, s)| s.dir).map(|(_, s)| format!("/{}", s.path)).collect();
    if !writable.is_empty() {
        out.push(Finding {
            check: Check::WorldWritableDir,
            level: Level::Warning,
            message: format!(
                "{} world-writable directories without the sticky bit: {}",
                writable.len(),
                named(&writable)
            ),
            fix: "`RUN chmod o-w DIR` (or `chmod +t DIR` for a shared temporary directory) in the Dockerfile"
                .to_string(),
        });
    }
    let size = image.total_size();
    if size > LARGE_IMAGE_BYTES {
        out.push(Finding {
            check: Check::LargeImage,
            level: Level::Info,
            message: format!("the image holds {} MiB of files", size / (1024 * 1024)),
            fix: "use a multi-stage build and a slim or distroless base so only the app and its runtime ship"
                .to_string(),
        });
    }
    if image.layers.len() > MANY_LAYERS {
        out.push(Finding {
            check: Check::ManyLayers,
            level: Level::Info,
            message: format!("the image has {} layers", image.layers.len()),
            fix: "join related RUN instructions with `&&` and use a multi-stage build".to_string(),
        });
    }
    for port in config.exposed_ports.iter().flat_map(|p| p.keys()) {
        let number: Option<u16> = port.split('/').next().and_then(|n| n.parse().ok());
        if let Some(n) = number.filter(|n| *n < 1024) {
            out.push(Finding {
                check: Check::PrivilegedPort,
                level: Level::Info,
                message: format!("the image exposes the privileged port {port}"),
                fix: format!(
                    "listen on a port above 1023 (e.g. {}) and let Crane publish it; binding below 1024 \
                              needs root or NET_BIND_SERVICE",
                    8000 + u32::from(n) % 1000
                ),
            });
        }
    }
    out
}

fn named(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(MAX_NAMED).map(String::as_str).collect();
    let more = items.len().saturating_sub(MAX_NAMED);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_tags() {
        assert!(looks_secret("DB_PASSWORD", "hunter2"));
        assert!(looks_secret("AWS", "AKIAIOSFODNN7EXAMPLE"));
        assert!(!looks_secret("DB_PASSWORD_FILE", "/run/secrets/db"));
        assert!(!looks_secret("PASSWORD", ""));
        assert!(!looks_secret("PATH", "/usr/bin"));
        assert_eq!(mutable_tag("nginx"), Some("has no tag, so Docker takes `latest`"));
        assert_eq!(mutable_tag("registry:5000/nginx:latest"), Some("uses the `latest` tag"));
        assert_eq!(mutable_tag("registry:5000/nginx"), Some("has no tag, so Docker takes `latest`"));
        assert_eq!(mutable_tag("nginx:1.25"), None);
        assert_eq!(mutable_tag("nginx@sha256:abc"), None);
    }
}
