//! Records the target triple, which the bundler needs to name the package's architecture (without it, it would
//! run `rustc` at packaging time to find out).

fn main() {
    let target = std::env::var("TARGET").expect("cargo sets TARGET for build scripts");
    println!("cargo:rustc-env=CRANE_PACKAGE_TARGET={target}");
}
