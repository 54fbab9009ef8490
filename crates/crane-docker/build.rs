//! Builds the `crane-demo` workload as a static Linux binary and leaves it at `$OUT_DIR/crane-demo`, where
//! `src/demo_image.rs` embeds it with `include_bytes!` so Crane can package it into a `FROM scratch` image offline.
//!
//! The nested cargo uses its own target directory under `OUT_DIR`: the outer build holds the lock on the main target
//! directory, so sharing it would deadlock. Variables the outer cargo sets for *this* build (flags, wrappers, target
//! dir) are removed so they do not leak into the nested one.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// Variables inherited from the outer build that would change or break the nested one.
const INTERFERING_VARS: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_PROFILE_RELEASE_DEBUG",
    "CARGO_PROFILE_RELEASE_OPT_LEVEL",
    "CARGO_PROFILE_RELEASE_LTO",
    "CARGO_PROFILE_RELEASE_STRIP",
    "CARGO_PROFILE_RELEASE_PANIC",
    "CARGO_PROFILE_RELEASE_CODEGEN_UNITS",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let demo_dir = manifest_dir.join("../crane-demo");
    let demo_manifest = demo_dir.join("Cargo.toml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", demo_manifest.display());
    println!("cargo:rerun-if-changed={}", demo_dir.join("src").display());

    // The image runs on the local engine, which is a Linux kernel of the host's architecture. The demo is always
    // built for the gnu target (with crt-static, glibc links statically as long as the program does no name
    // lookups, which the demo never does).
    let host = env::var("HOST").unwrap_or_default();
    let target = match host.split_once('-') {
        Some((arch, _)) => format!("{arch}-unknown-linux-gnu"),
        None => "x86_64-unknown-linux-gnu".to_string(),
    };
    let target_dir = out_dir.join("demo-target");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());

    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(&demo_manifest)
        .arg("-p")
        .arg("crane-demo")
        .arg("--target")
        .arg(&target)
        .arg("--target-dir")
        .arg(&target_dir)
        // Profile settings for a tiny binary; passed on the command line because only the workspace root may
        // declare profiles.
        .args(["--config", "profile.release.opt-level=\"s\""])
        .args(["--config", "profile.release.lto=true"])
        .args(["--config", "profile.release.codegen-units=1"])
        .args(["--config", "profile.release.panic=\"abort\""])
        .args(["--config", "profile.release.strip=true"])
        .args(["--config", "profile.release.debug=false"]);
    for var in INTERFERING_VARS {
        cmd.env_remove(var);
    }
    cmd.env("RUSTFLAGS", "-C target-feature=+crt-static");

    let status = cmd.status().unwrap_or_else(|e| panic!("could not run `{cargo}` to build the demo workload: {e}"));
    if !status.success() {
        panic!("building the demo workload (crane-demo, static, {target}) failed with {status}; see the output above");
    }
    let built = target_dir.join(&target).join("release").join("crane-demo");
    let dest = out_dir.join("crane-demo");
    std::fs::copy(&built, &dest)
        .unwrap_or_else(|e| panic!("could not copy {} to {}: {e}", built.display(), dest.display()));
}
