//! Architecture invariants of the engine, checked on its source so they hold by test rather than by prose.

use std::path::{Path, PathBuf};

/// Every `.rs` file under the crate's `src`, submodules included.
fn sources() -> Vec<PathBuf> {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// The runtime's mutating methods (containers, networks, volumes, images) and NGINX's writer: only the loop
/// (`run.rs`) may call them, so two writers never interleave on Docker objects.
const MUTATING: &[&str] = &[
    ".start_instance(",
    ".remove_instance(",
    ".rename_instance(",
    ".ensure_network(",
    ".remove_app_resources(",
    "nginx::write_and_reload(",
    ".ensure_image(",
    "crane_docker::build_demo_image(",
    "crane_docker::build_vulnerable_demo_image(",
];

#[test]
fn only_the_loop_creates_or_removes_docker_objects_and_touches_nginx() {
    let mut offenders = Vec::new();
    let mut seen_in_loop = Vec::new();
    for path in sources() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        // The fake runtime implements these methods; it does not call them.
        if name == "fakes.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for call in MUTATING.iter().filter(|c| code.contains(*c)) {
                if name == "run.rs" {
                    seen_in_loop.push(*call);
                } else {
                    offenders.push(format!("{name}:{}: {call}", n + 1));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "only run.rs may call these: {offenders:#?}");
    for call in MUTATING {
        assert!(seen_in_loop.contains(call), "the loop no longer calls {call}: update this test");
    }
}

/// A panic caught by the loop's supervisor must not poison every later call: the engine's mutexes are taken with
/// `LockExt::locked`, which recovers the data, never with `.lock().unwrap()`.
#[test]
fn no_mutex_is_unwrapped() {
    let mut offenders = Vec::new();
    for path in sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.contains(".lock().unwrap()") {
                offenders.push(format!("{}:{}", path.file_name().unwrap().to_string_lossy(), n + 1));
            }
        }
    }
    assert!(offenders.is_empty(), "use LockExt::locked: {offenders:?}");
}
