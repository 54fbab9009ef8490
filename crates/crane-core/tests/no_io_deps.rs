//! Architecture invariant: crane-core is the functional core and performs no I/O. This test reads the crate's own
//! manifest and fails when an I/O or runtime crate shows up among its dependencies, so the split between the pure core
//! and the adapters cannot erode one convenient import at a time.

/// Crates that bring I/O, an async runtime or a UI shell; they belong in adapter crates.
const FORBIDDEN: &[&str] = &["tokio", "bollard", "sqlx", "tauri", "regorus", "reqwest", "axum", "hyper"];

/// The dependency names declared in the `[dependencies]` table (and `[dependencies.<name>]` tables) of a manifest.
fn dependency_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_dependencies = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            let header = line.trim_matches(|c| c == '[' || c == ']').trim();
            in_dependencies = header == "dependencies";
            if let Some(name) = header.strip_prefix("dependencies.") {
                names.push(name.trim().to_string());
            }
            continue;
        }
        if in_dependencies && !line.is_empty() && !line.starts_with('#') {
            if let Some((key, _)) = line.split_once('=') {
                // `foo.workspace = true` and `foo = { … }` both name the dependency before the first `.` or `=`.
                names.push(key.split('.').next().unwrap_or(key).trim().trim_matches('"').to_string());
            }
        }
    }
    names
}

fn is_forbidden(name: &str) -> bool {
    FORBIDDEN.iter().any(|f| name == *f || name.starts_with(&format!("{f}-")) || name.starts_with(&format!("{f}_")))
}

#[test]
fn crane_core_has_no_io_dependencies() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let names = dependency_names(&manifest);
    assert!(names.iter().any(|n| n == "serde"), "the parser found no dependencies at all: {names:?}");
    let bad: Vec<&String> = names.iter().filter(|n| is_forbidden(n)).collect();
    assert!(bad.is_empty(), "crane-core must stay free of I/O; move {bad:?} to an adapter crate");
}

#[test]
fn the_check_catches_what_it_should() {
    let manifest = "[package]\nname = \"x\"\n[dependencies]\nserde.workspace = true\ntokio = { version = \"1\" }\n\
                    \n[dependencies.bollard]\nversion = \"0.21\"\n[dev-dependencies]\naxum = \"0.8\"\n";
    let bad: Vec<String> = dependency_names(manifest).into_iter().filter(|n| is_forbidden(n)).collect();
    assert_eq!(bad, vec!["tokio".to_string(), "bollard".to_string()]);
}
