//! Why a package could not be built. `main` prints the message and exits 1; each names what to do.

use std::path::PathBuf;

/// Result of building a package.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything building the package can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `tauri.conf.json` cannot be read or does not parse as Tauri 2's configuration.
    #[error("cannot read the Tauri configuration {}: {reason}", .path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A value of the configuration does not fit a Debian package (an unknown category, a missing icon).
    #[error("{0}")]
    Setting(String),
    /// A binary to package is not built yet.
    #[error(
        "{} is missing: build it first (`cargo build{} -p crane-app -p cranectl`, or `make package`)",
        .path.display(),
        if *.release { " --release" } else { "" }
    )]
    MissingBinary {
        /// Where it was looked for.
        path: PathBuf,
        /// Whether the release profile was asked for.
        release: bool,
    },
    /// Copying the binaries into the staging directory or moving the package failed.
    #[error("{doing}: {source}")]
    Io {
        /// What was being done, with the path.
        doing: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// Tauri's bundler failed.
    #[error("Tauri's bundler failed: {0:#}")]
    Bundler(#[from] tauri_bundler::Error),
    /// The bundler finished without a .deb among its outputs.
    #[error("Tauri's bundler produced no .deb (outputs: {0})")]
    NoDeb(String),
}
