//! `crane-package`: builds Crane's `.deb` from the built `crane` and `cranectl` with Tauri's bundler and prints
//! its path. `make package` runs it after a release build.
//!
//! Exit codes: 0 success (the path on stdout), 1 failure (the reason on stderr), 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

/// The window's Tauri configuration in this source tree.
const WINDOW_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../src-tauri/tauri.conf.json");

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "crane-package",
    version,
    about = "Build Crane's Debian package (.deb) with Tauri's bundler from the built crane and cranectl",
    after_help = "Examples:\n  cargo build --release -p crane-app -p cranectl\n  \
                  cargo run -p crane-package\n  \
                  cargo run -p crane-package -- --profile debug --out /tmp/crane-deb\n\n\
                  The binaries are read from $CARGO_TARGET_DIR/<profile> (else the target folder this program was \
                  built in); --bin-dir overrides that."
)]
struct Cli {
    /// Which build of the binaries to package.
    #[arg(long, value_enum, default_value = "release")]
    profile: Profile,
    /// Where to write the .deb (default: <target>/<profile>/bundle/deb, where `tauri build` writes it).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The folder holding the built crane and cranectl (default: <target>/<profile>).
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// The window's Tauri configuration.
    #[arg(long, value_name = "FILE", default_value = WINDOW_CONFIG)]
    config: PathBuf,
}

/// A cargo profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Profile {
    /// `cargo build --release`.
    Release,
    /// `cargo build`.
    Debug,
}

/// Prints the bundler's warnings and errors on stderr. (Its progress lines name the staging folder, which is gone by
/// the end; the package's final path is printed instead.)
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("{}: {}", record.level().as_str().to_lowercase(), record.args());
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLog = StderrLog;

/// The target folder: `$CARGO_TARGET_DIR`, else the one this program was built into (`<target>/<profile>/`).
fn target_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.to_path_buf())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = log::set_logger(&LOGGER).map(|()| log::set_max_level(log::LevelFilter::Warn));
    let profile = match cli.profile {
        Profile::Release => "release",
        Profile::Debug => "debug",
    };
    let profile_dir = match (&cli.bin_dir, &cli.out) {
        (Some(_), Some(_)) => None,
        _ => match target_dir() {
            Some(dir) => Some(dir.join(profile)),
            None => {
                eprintln!("error: cannot find the target folder; set CARGO_TARGET_DIR or pass --bin-dir and --out");
                return ExitCode::FAILURE;
            }
        },
    };
    let bin_dir = cli.bin_dir.clone().or_else(|| profile_dir.clone()).unwrap_or_default();
    let out_dir = cli.out.clone().or_else(|| profile_dir.map(|d| d.join("bundle/deb"))).unwrap_or_default();
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("error: cannot create {}: {e}", out_dir.display());
        return ExitCode::FAILURE;
    }
    let request =
        crane_package::Request { config: cli.config, bin_dir, out_dir, release: cli.profile == Profile::Release };
    eprintln!("packaging crane and cranectl from {} with Tauri's bundler…", request.bin_dir.display());
    match crane_package::build_deb(&request) {
        Ok(deb) => {
            println!("{}", deb.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
