//! Architecture invariant: crane-core is the functional core and performs no I/O. This test asks cargo for the
//! resolved dependency graph (`cargo metadata --format-version 1`) and walks every normal dependency of crane-core,
//! direct or transitive, failing when an I/O, async-runtime or UI-shell crate shows up anywhere in it. So the split
//! between the pure core and the adapters cannot erode one convenient import at a time, not even through a small
//! crate that quietly pulls in tokio.
//!
//! Why it fails when such a crate is added: adding `tokio` (or any crate depending on it) to `[dependencies]` of
//! crane-core, or of any crate crane-core depends on, puts an edge of kind "normal" into cargo's resolve graph on the
//! path from crane-core to `tokio`; [`normal_closure`] follows exactly those edges, so `tokio` is in the closure and
//! [`forbidden_in`] names it. Dev- and build-dependencies are not followed: they never reach the compiled core.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::process::Command;

use serde_json::Value;

/// Crates that bring I/O, an async runtime, a network or database client, or a UI shell; they belong in adapter
/// crates. A name matches itself and its family (`tokio-util`, `hyper_util`, `tauri-runtime`…).
const FORBIDDEN: &[&str] = &[
    "tokio",
    "mio",
    "async-std",
    "smol",
    "socket2",
    "bollard",
    "sqlx",
    "rusqlite",
    "libsqlite3-sys",
    "hyper",
    "h2",
    "reqwest",
    "ureq",
    "axum",
    "tower",
    "tauri",
    "wry",
    "tao",
    "regorus",
    "rustls",
    "openssl",
    "native-tls",
];

fn is_forbidden(name: &str) -> bool {
    FORBIDDEN.iter().any(|f| name == *f || name.starts_with(&format!("{f}-")) || name.starts_with(&format!("{f}_")))
}

/// The names of every package reachable from the package `root` through normal (non-dev, non-build) dependency
/// edges of a `cargo metadata` document's resolve graph, `root` excluded.
fn normal_closure(metadata: &Value, root: &str) -> BTreeSet<String> {
    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("a resolve graph (cargo metadata without --no-deps)")
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root_id = names.iter().find(|(_, name)| **name == root).map(|(id, _)| *id).expect("the root package");

    let mut seen = BTreeSet::from([root_id]);
    let mut queue = VecDeque::from([root_id]);
    while let Some(id) = queue.pop_front() {
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            // `kind` is null for a normal dependency, "dev" or "build" otherwise.
            let normal = dep["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap();
            if normal && seen.insert(dep_id) {
                queue.push_back(dep_id);
            }
        }
    }
    seen.remove(root_id);
    seen.into_iter().map(|id| names[id].to_string()).collect()
}

/// The forbidden names among `closure`.
fn forbidden_in(closure: &BTreeSet<String>) -> Vec<&String> {
    closure.iter().filter(|name| is_forbidden(name)).collect()
}

#[test]
fn crane_core_has_no_io_dependencies_at_any_depth() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");

    let closure = normal_closure(&metadata, "crane-core");
    // The walk found the real dependencies, direct (serde) and transitive (serde_derive, through serde's derive).
    for expected in ["serde", "serde_json", "serde_derive"] {
        assert!(closure.contains(expected), "{expected} missing from the closure: {closure:?}");
    }
    let bad = forbidden_in(&closure);
    assert!(
        bad.is_empty(),
        "crane-core must stay free of I/O, also transitively; {bad:?} reached it (find the path with `cargo tree -p \
         crane-core -e normal -i <crate>`) and move that dependency to an adapter crate"
    );
}

/// The walk on a small graph: a forbidden crate two normal edges away is caught; one behind a dev or build edge is
/// not part of the core.
#[test]
fn the_check_catches_what_it_should() {
    let package = |name: &str| serde_json::json!({ "id": format!("{name} 0.1.0"), "name": name });
    let edge =
        |to: &str, kind: Value| serde_json::json!({ "pkg": format!("{to} 0.1.0"), "dep_kinds": [{ "kind": kind }] });
    let packages = ["crane-core", "helper", "tokio-util", "hyper", "cc", "serde"].map(package);
    let metadata = serde_json::json!({
        "packages": packages,
        "resolve": { "nodes": [
            { "id": "crane-core 0.1.0", "deps": [
                edge("helper", Value::Null),
                edge("serde", Value::Null),
                edge("hyper", "dev".into()),
                edge("cc", "build".into()),
            ] },
            { "id": "helper 0.1.0", "deps": [edge("tokio-util", Value::Null)] },
            { "id": "tokio-util 0.1.0", "deps": [] },
            { "id": "hyper 0.1.0", "deps": [] },
            { "id": "cc 0.1.0", "deps": [] },
            { "id": "serde 0.1.0", "deps": [] },
        ] }
    });
    let closure = normal_closure(&metadata, "crane-core");
    assert_eq!(closure, BTreeSet::from(["helper", "serde", "tokio-util"].map(String::from)));
    assert_eq!(forbidden_in(&closure), vec!["tokio-util"]);
    assert!(is_forbidden("mio") && is_forbidden("tauri-runtime-wry") && is_forbidden("sqlx_core"));
    assert!(!is_forbidden("serde") && !is_forbidden("tokenizer") && !is_forbidden("mio2"));
}
