//! A lab packed as one file: a tar archive of its folder, plain or gzip-compressed, read from memory with bounds.
//!
//! Only regular files and directories are accepted; links of any kind, devices and paths that would leave the
//! folder (`..`, absolute) are refused, so nothing in an archive can point outside the lab. When every file sits
//! under one top folder (`tar czf lab.tgz self-healing/`), that folder is the lab's root.

use std::io::Read;

use super::{LabFiles, MANIFEST, MAX_FILES, MAX_FILE_BYTES, MAX_LAB_BYTES};
use crate::error::Diagnostic;

/// Largest archive accepted, in bytes as sent.
pub const MAX_ARCHIVE_BYTES: usize = 8 * 1024 * 1024;
/// Most entries (files, folders, metadata) an archive may hold.
pub const MAX_ENTRIES: usize = 1000;
/// Most bytes an archive may unpack to, headers included: the lab's cap plus a header block per entry.
const MAX_UNPACKED_BYTES: u64 = (MAX_LAB_BYTES + MAX_ENTRIES * 1024) as u64;

fn refuse(message: impl Into<String>, fix: impl Into<String>) -> Vec<Diagnostic> {
    vec![Diagnostic::new(0, 0, "", message, fix)]
}

/// Whether `bytes` look like a tar or gzip archive (as opposed to a manifest sent by mistake).
pub fn is_archive(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b]) || bytes.get(257..262) == Some(b"ustar".as_slice())
}

/// Reads a tar or tar.gz archive of a lab's folder into its files. Every refusal names the entry and the fix.
pub fn read(bytes: &[u8]) -> Result<LabFiles, Vec<Diagnostic>> {
    if bytes.len() > MAX_ARCHIVE_BYTES {
        return Err(refuse(
            format!(
                "the archive is {} bytes; a lab archive may be at most {MAX_ARCHIVE_BYTES} bytes (8 MiB)",
                bytes.len()
            ),
            "a lab is text (specs, Markdown, Rego); remove what it does not need",
        ));
    }
    if !is_archive(bytes) {
        return Err(refuse(
            "this is not a tar or tar.gz archive",
            "pack the lab's folder with `tar czf lab.tar.gz -C my-lab .`, or load the folder itself",
        ));
    }
    let stream: Box<dyn Read + '_> =
        if bytes.starts_with(&[0x1f, 0x8b]) { Box::new(flate2::read::GzDecoder::new(bytes)) } else { Box::new(bytes) };
    let mut archive = tar::Archive::new(stream.take(MAX_UNPACKED_BYTES));
    let entries =
        archive.entries().map_err(|e| refuse(format!("the archive cannot be read: {e}"), "pack it again with tar"))?;
    let mut raw: Vec<(String, Vec<u8>)> = Vec::new();
    let mut declared = 0u64;
    for (count, entry) in entries.enumerate() {
        if count >= MAX_ENTRIES {
            return Err(refuse(
                format!("the archive has more than {MAX_ENTRIES} entries"),
                format!("a lab has at most {MAX_FILES} files; pack only the lab's folder"),
            ));
        }
        let mut entry = entry.map_err(|e| unreadable(&e))?;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = path.strip_prefix("./").unwrap_or(&path).to_string();
        let kind = entry.header().entry_type();
        let in_file =
            |d: Vec<Diagnostic>| -> Vec<Diagnostic> { d.into_iter().map(|d| d.in_file(path.clone())).collect() };
        match kind {
            tar::EntryType::Directory => continue,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Symlink | tar::EntryType::Link => {
                return Err(in_file(refuse(
                    "the archive holds a link; a lab may not hold links (they could point outside it)",
                    "replace the link with a copy of the file",
                )))
            }
            other => {
                return Err(in_file(refuse(
                    format!("the archive holds an entry of type {other:?}; only files and folders are accepted"),
                    "pack only the lab's files",
                )))
            }
        }
        if path.is_empty() {
            continue;
        }
        let size = entry.header().size().unwrap_or(u64::MAX);
        declared = declared.saturating_add(size);
        if size > MAX_FILE_BYTES as u64 || declared > MAX_LAB_BYTES as u64 {
            return Err(in_file(refuse(
                format!(
                    "the file is {size} bytes; a lab file may be at most {MAX_FILE_BYTES} bytes and a lab {MAX_LAB_BYTES} bytes"
                ),
                "remove what the lab does not need",
            )));
        }
        let mut content = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut content).map_err(|e| unreadable(&e))?;
        raw.push((path, content));
    }
    let prefix = common_root(&raw);
    let mut files = LabFiles::new();
    let mut problems = Vec::new();
    for (path, content) in raw {
        let path = path.strip_prefix(&prefix).unwrap_or(&path);
        if let Err(d) = files.insert(path, content) {
            problems.push(d);
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}

fn unreadable(e: &std::io::Error) -> Vec<Diagnostic> {
    let message = if e.kind() == std::io::ErrorKind::UnexpectedEof {
        format!("the archive ends early, or unpacks to more than {MAX_UNPACKED_BYTES} bytes")
    } else {
        format!("the archive cannot be read: {e}")
    };
    refuse(message, "pack the lab's folder again, e.g. `tar czf lab.tar.gz -C my-lab .`")
}

/// `dir/` when every file is under one folder `dir` that holds the manifest and the root holds none; else empty.
fn common_root(files: &[(String, Vec<u8>)]) -> String {
    if files.iter().any(|(p, _)| p == MANIFEST) {
        return String::new();
    }
    let Some((first, _)) = files.first() else { return String::new() };
    let Some((top, _)) = first.split_once('/') else { return String::new() };
    let prefix = format!("{top}/");
    let all_under = files.iter().all(|(p, _)| p.starts_with(&prefix));
    let manifest_there = files.iter().any(|(p, _)| p.strip_prefix(&prefix) == Some(MANIFEST));
    if all_under && manifest_there {
        prefix
    } else {
        String::new()
    }
}
