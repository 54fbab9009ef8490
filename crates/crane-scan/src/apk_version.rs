//! Alpine (apk) version ordering, as apk-tools' `version.c` defines it.
//!
//! Written here because crates.io has no maintained crate for apk versions (searched for `apk-version`,
//! `alpine-version`, `apk-tools`). A version is `digits(.digits)*[letter](_suffix[digits])*[~hash][-rN]`, e.g.
//! `1.2.12-r3`, `3.0.8_rc1-r0`, `2.4a_p2-r1`. Components compare left to right: numbers numerically (the first) or,
//! when one of two later components starts with `0`, as decimal fractions; a letter after the numbers sorts after
//! none; `_alpha` < `_beta` < `_pre` < `_rc` < (no suffix) < `_cvs` < `_svn` < `_git` < `_hg` < `_p`; then the
//! `-r` revision numerically.

use std::cmp::Ordering;

/// A parsed apk version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApkVersion {
    numbers: Vec<String>,
    letter: Option<char>,
    suffixes: Vec<(u8, u64)>,
    revision: u64,
}

/// Rank of "no suffix" among the suffixes.
const RELEASE: u8 = 4;

fn suffix_rank(name: &str) -> Option<u8> {
    Some(match name {
        "alpha" => 0,
        "beta" => 1,
        "pre" => 2,
        "rc" => 3,
        "cvs" => 5,
        "svn" => 6,
        "git" => 7,
        "hg" => 8,
        "p" => 9,
        _ => return None,
    })
}

impl ApkVersion {
    /// Parses an apk version; `None` when it does not follow the grammar.
    pub fn parse(text: &str) -> Option<ApkVersion> {
        let (body, revision) = match text.rsplit_once("-r") {
            Some((body, rev)) if !rev.is_empty() && rev.bytes().all(|b| b.is_ascii_digit()) => {
                (body, rev.parse().ok()?)
            }
            _ => (text, 0),
        };
        // A `~<hash>` (commit of a snapshot) does not take part in the ordering.
        let body = body.split('~').next().unwrap_or(body);
        let mut rest = body;
        let mut numbers = Vec::new();
        loop {
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            numbers.push(rest[..end].to_string());
            rest = &rest[end..];
            match rest.strip_prefix('.') {
                Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => rest = r,
                _ => break,
            }
        }
        let mut letter = None;
        if let Some(c) = rest.chars().next().filter(char::is_ascii_lowercase) {
            letter = Some(c);
            rest = &rest[1..];
        }
        let mut suffixes = Vec::new();
        while let Some(r) = rest.strip_prefix('_') {
            let name_end = r.find(|c: char| !c.is_ascii_lowercase()).unwrap_or(r.len());
            let rank = suffix_rank(&r[..name_end])?;
            let r = &r[name_end..];
            let digits_end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            let number = if digits_end == 0 { 0 } else { r[..digits_end].parse().ok()? };
            suffixes.push((rank, number));
            rest = &r[digits_end..];
        }
        if !rest.is_empty() {
            return None;
        }
        Some(ApkVersion { numbers, letter, suffixes, revision })
    }
}

/// Compares two later number components: as decimal fractions when either has a leading zero (apk's rule), else
/// numerically.
fn compare_component(a: &str, b: &str, first: bool) -> Ordering {
    if !first && (a.starts_with('0') || b.starts_with('0')) {
        let (a, b) = (a.trim_end_matches('0'), b.trim_end_matches('0'));
        return a.cmp(b);
    }
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl Ord for ApkVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        for (i, pair) in self.numbers.iter().zip(&other.numbers).enumerate() {
            let order = compare_component(pair.0, pair.1, i == 0);
            if order != Ordering::Equal {
                return order;
            }
        }
        // More number components is newer (1.2.1 > 1.2).
        let order = self.numbers.len().cmp(&other.numbers.len());
        if order != Ordering::Equal {
            return order;
        }
        let order = self.letter.cmp(&other.letter);
        if order != Ordering::Equal {
            return order;
        }
        let len = self.suffixes.len().max(other.suffixes.len());
        for i in 0..len {
            let a = self.suffixes.get(i).copied().unwrap_or((RELEASE, 0));
            let b = other.suffixes.get(i).copied().unwrap_or((RELEASE, 0));
            let order = a.cmp(&b);
            if order != Ordering::Equal {
                return order;
            }
        }
        self.revision.cmp(&other.revision)
    }
}

impl PartialOrd for ApkVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: &str, order: Ordering, b: &str) {
        let (pa, pb) = (ApkVersion::parse(a).unwrap(), ApkVersion::parse(b).unwrap());
        assert_eq!(pa.cmp(&pb), order, "{a} vs {b}");
        assert_eq!(pb.cmp(&pa), order.reverse(), "{b} vs {a}");
    }

    #[test]
    fn ordering_table() {
        use Ordering::*;
        check("1.2.12-r1", Less, "1.2.12-r2");
        check("1.2.12-r2", Less, "1.2.12-r10");
        check("1.2.12", Equal, "1.2.12-r0");
        check("1.2.12-r9", Less, "1.2.13-r0");
        check("1.2.9", Less, "1.2.10");
        check("1.2", Less, "1.2.1");
        check("3.0.8_rc1-r0", Less, "3.0.8-r0");
        check("3.0.8_alpha", Less, "3.0.8_beta");
        check("3.0.8_p1", Greater, "3.0.8");
        check("2.4a", Greater, "2.4");
        check("2.4a", Less, "2.4b");
        check("1.01", Less, "1.1");
        check("1.0.2u-r0", Greater, "1.0.2t-r5");
        check("1.36.1-r29", Greater, "1.36.1-r2");
        check("5.2.26~abc-r1", Equal, "5.2.26-r1");
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        for bad in ["", "abc", "1.2.", "1.2_foo", "1.2-rx1 ", "1..2"] {
            assert!(ApkVersion::parse(bad).is_none(), "{bad}");
        }
    }
}
