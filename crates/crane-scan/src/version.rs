//! Version ordering per ecosystem: Debian/Ubuntu (dpkg, with epochs and `~`) via `debversion`, Alpine via
//! [`crate::apk_version`], PyPI (PEP 440) via `pep440_rs`, and semver (npm, crates.io, Go modules) via `semver`.

use std::cmp::Ordering;
use std::str::FromStr;

use crate::apk_version::ApkVersion;
use crate::Ecosystem;

/// Compares two versions of one ecosystem; `None` when either is not a version of that ecosystem (an advisory range
/// that cannot be compared never matches, and the scan says so).
pub fn compare(ecosystem: Ecosystem, a: &str, b: &str) -> Option<Ordering> {
    match ecosystem {
        Ecosystem::Debian | Ecosystem::Ubuntu => {
            let a = debversion::Version::from_str(a).ok()?;
            let b = debversion::Version::from_str(b).ok()?;
            Some(a.cmp(&b))
        }
        Ecosystem::Alpine => Some(ApkVersion::parse(a)?.cmp(&ApkVersion::parse(b)?)),
        Ecosystem::PyPI => {
            let a = pep440_rs::Version::from_str(a).ok()?;
            let b = pep440_rs::Version::from_str(b).ok()?;
            Some(a.cmp(&b))
        }
        Ecosystem::Npm | Ecosystem::CratesIo | Ecosystem::Go => {
            let parse = |v: &str| semver::Version::parse(v.strip_prefix('v').unwrap_or(v)).ok();
            let (a, b) = (parse(a)?, parse(b)?);
            // Build metadata does not take part in semver precedence.
            Some(a.cmp_precedence(&b))
        }
    }
}

/// Whether `version` parses in the ecosystem.
pub fn is_valid(ecosystem: Ecosystem, version: &str) -> bool {
    compare(ecosystem, version, version).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn check(ecosystem: Ecosystem, a: &str, order: Ordering, b: &str) {
        assert_eq!(compare(ecosystem, a, b), Some(order), "{ecosystem:?}: {a} vs {b}");
        assert_eq!(compare(ecosystem, b, a), Some(order.reverse()), "{ecosystem:?}: {b} vs {a}");
    }

    #[test]
    fn debian() {
        let d = Ecosystem::Debian;
        check(d, "1:9.2p1-2+deb12u3", Greater, "9.9p9-9");
        check(d, "1:9.2p1-2+deb12u2", Less, "1:9.2p1-2+deb12u3");
        check(d, "1.0~rc1-1", Less, "1.0-1");
        check(d, "1.0~~a", Less, "1.0~");
        check(d, "4.2+dfsg-0.1", Less, "4.2+dfsg-0.1+deb7u1");
        check(d, "1.0.1e-2+deb7u4", Less, "1.0.1e-2+deb7u5");
        check(d, "5.6.1+really5.4.5-1", Greater, "5.6.1-1");
        check(d, "2.36-9+deb12u4", Equal, "2.36-9+deb12u4");
        check(d, "0:1.2-1", Equal, "1.2-1");
        assert_eq!(compare(d, "", "1"), None);
    }

    #[test]
    fn alpine_pypi_semver() {
        check(Ecosystem::Alpine, "1.2.12-r1", Less, "1.2.12-r2");
        check(Ecosystem::PyPI, "2.19.1", Less, "2.20.0");
        check(Ecosystem::PyPI, "2.20.0rc1", Less, "2.20.0");
        check(Ecosystem::PyPI, "1.0.post1", Greater, "1.0");
        check(Ecosystem::PyPI, "1!0.1", Greater, "2.0");
        check(Ecosystem::Npm, "4.17.11", Less, "4.17.12");
        check(Ecosystem::Npm, "1.0.0-beta.2", Less, "1.0.0");
        check(Ecosystem::Go, "v0.3.7", Less, "0.3.8");
        check(Ecosystem::CratesIo, "1.6.0", Less, "1.6.1");
        assert_eq!(compare(Ecosystem::Npm, "latest", "1.0.0"), None);
        assert!(is_valid(Ecosystem::PyPI, "2.20.0") && !is_valid(Ecosystem::PyPI, "not a version"));
    }
}
