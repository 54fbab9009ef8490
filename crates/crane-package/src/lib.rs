//! Crane's Debian package, built with Tauri's bundler used as a library (`tauri-bundler`, what `tauri build`
//! runs), so no npm and no tauri-cli are needed.
//!
//! [`settings`] turns the window's `tauri.conf.json` (product name, version, identifier, icons, category,
//! descriptions, `bundle.linux.deb`) into the bundler's [`Settings`] the way tauri-cli does, with both binaries:
//! `crane` (the window, the desktop entry's `Exec`) and `cranectl`. [`build_deb`] copies the two built binaries
//! into a staging directory (the bundler patches the main binary in place, so the originals — which tests may be
//! running — are never touched), runs the bundler for [`PackageType::Deb`] only, and moves the `.deb` to the output
//! directory.
//!
//! **Architecture Invariant:** packaging downloads nothing. Only the `.deb` target runs (the AppImage, NSIS and
//! WiX targets are the ones that fetch tools), and `tauri-bundler` is built without its TLS features, so its HTTP
//! client cannot reach an https URL at all.

mod error;

use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use error::{Error, Result};
use tauri_bundler::{
    AppCategory, BundleBinary, BundleSettings, DebianSettings, PackageSettings, PackageType, Settings, SettingsBuilder,
};
use tauri_utils::config::Config;

/// The binaries in the package: the window (the main binary, which the desktop entry starts) and the CLI.
pub const BINARIES: [(&str, bool); 2] = [("crane", true), ("cranectl", false)];

/// What the window needs at run time on Debian and Ubuntu. tauri-cli adds these two to every Tauri 2 app's
/// `Depends` (WebKitGTK 4.1 and GTK 3); the bundler as a library does not, so they are added here the same way.
pub const TAURI_DEPENDS: [&str; 2] = ["libwebkit2gtk-4.1-0", "libgtk-3-0"];

/// The target triple this crate was built for (the binaries it packages are built for the same one).
pub const TARGET: &str = env!("CRANE_PACKAGE_TARGET");

/// What to package and where.
#[derive(Debug, Clone)]
pub struct Request {
    /// The window's `tauri.conf.json` (`src-tauri/tauri.conf.json`); icon paths in it are relative to its folder.
    pub config: PathBuf,
    /// The folder holding the built `crane` and `cranectl` (`target/release`).
    pub bin_dir: PathBuf,
    /// Where the `.deb` is written.
    pub out_dir: PathBuf,
    /// Whether the binaries come from the release profile (for the error that says how to build them).
    pub release: bool,
}

/// Reads and parses a Tauri 2 configuration file.
pub fn read_config(path: &Path) -> Result<Config> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Config { path: path.to_path_buf(), reason: e.to_string() })?;
    serde_json::from_str(&text).map_err(|e| Error::Config { path: path.to_path_buf(), reason: e.to_string() })
}

/// The bundler's settings for a `.deb` of Crane from the configuration `config` (read from `config_dir`), with
/// the binaries read from `stage`, which is also where the bundler writes (`stage/bundle/deb/`).
pub fn settings(config: &Config, config_dir: &Path, stage: &Path) -> Result<Settings> {
    let bundle = &config.bundle;
    let product_name = config
        .product_name
        .clone()
        .ok_or_else(|| Error::Setting("tauri.conf.json has no productName; set it (e.g. \"Crane\")".to_string()))?;
    let version = config.version.clone().unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
    let category = bundle
        .category
        .as_deref()
        .map(|word| {
            AppCategory::from_str(word).map_err(|closest| {
                Error::Setting(format!(
                    "tauri.conf.json: bundle.category \"{word}\" is not a category the bundler knows{}",
                    closest.map(|c| format!("; did you mean \"{c}\"?")).unwrap_or_default()
                ))
            })
        })
        .transpose()?;
    // Icon paths are relative to the configuration's folder, as tauri-cli reads them; the bundler resolves
    // relative paths against the current directory, so they are made absolute here.
    let mut icons = Vec::new();
    for icon in &bundle.icon {
        let path = config_dir.join(icon);
        if !path.is_file() {
            return Err(Error::Setting(format!(
                "tauri.conf.json: bundle.icon names {icon}, which does not exist ({}); regenerate the icons with \
                 assets/icons/generate.py or fix the path",
                path.display()
            )));
        }
        icons.push(path.to_string_lossy().into_owned());
    }
    let deb = &bundle.linux.deb;
    let mut depends: Vec<String> = TAURI_DEPENDS.iter().map(|d| d.to_string()).collect();
    depends.extend(deb.depends.iter().flatten().filter(|d| !TAURI_DEPENDS.contains(&d.as_str())).cloned());
    let settings = SettingsBuilder::new()
        .project_out_directory(stage)
        .package_types(vec![PackageType::Deb])
        .target(TARGET.to_string())
        .package_settings(PackageSettings {
            product_name,
            version,
            description: bundle.short_description.clone().unwrap_or_default(),
            homepage: bundle.homepage.clone(),
            authors: None,
            default_run: Some(BINARIES[0].0.to_string()),
        })
        .bundle_settings(BundleSettings {
            identifier: Some(config.identifier.clone()),
            publisher: bundle.publisher.clone(),
            homepage: bundle.homepage.clone(),
            icon: Some(icons),
            copyright: bundle.copyright.clone(),
            license: bundle.license.clone(),
            category,
            short_description: bundle.short_description.clone(),
            long_description: bundle.long_description.clone(),
            deb: DebianSettings {
                depends: Some(depends),
                recommends: deb.recommends.clone(),
                provides: deb.provides.clone(),
                conflicts: deb.conflicts.clone(),
                replaces: deb.replaces.clone(),
                section: deb.section.clone(),
                priority: deb.priority.clone(),
                desktop_template: deb.desktop_template.as_ref().map(|p| config_dir.join(p)),
                ..DebianSettings::default()
            },
            ..BundleSettings::default()
        })
        .binaries(BINARIES.iter().map(|(name, main)| BundleBinary::new(name.to_string(), *main)).collect())
        .build()?;
    Ok(settings)
}

/// Builds the `.deb` and returns its path in `request.out_dir`.
pub fn build_deb(request: &Request) -> Result<PathBuf> {
    let config = read_config(&request.config)?;
    let config_dir = request.config.parent().unwrap_or(Path::new("."));
    for (name, _) in BINARIES {
        let path = request.bin_dir.join(name);
        if !path.is_file() {
            return Err(Error::MissingBinary { path, release: request.release });
        }
    }
    let io = |doing: String| move |source| Error::Io { doing, source };
    let stage = request.out_dir.join(".stage");
    if stage.exists() {
        std::fs::remove_dir_all(&stage).map_err(io(format!("removing the old staging folder {}", stage.display())))?;
    }
    std::fs::create_dir_all(&stage).map_err(io(format!("creating {}", stage.display())))?;
    let built = stage_and_bundle(&config, config_dir, request, &stage);
    // The staging folder holds copies of both binaries: never leave it behind, whatever happened.
    let cleaned = std::fs::remove_dir_all(&stage).map_err(io(format!("removing {}", stage.display())));
    let deb = built?;
    cleaned?;
    Ok(deb)
}

fn stage_and_bundle(config: &Config, config_dir: &Path, request: &Request, stage: &Path) -> Result<PathBuf> {
    let io = |doing: String| move |source| Error::Io { doing, source };
    for (name, _) in BINARIES {
        let from = request.bin_dir.join(name);
        std::fs::copy(&from, stage.join(name)).map_err(io(format!(
            "copying {} to {}",
            from.display(),
            stage.display()
        )))?;
    }
    let settings = settings(config, config_dir, stage)?;
    let bundles = tauri_bundler::bundle_project(&settings)?;
    let deb = bundles
        .iter()
        .filter(|b| b.package_type == PackageType::Deb)
        .flat_map(|b| &b.bundle_paths)
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .ok_or_else(|| {
            Error::NoDeb(
                bundles
                    .iter()
                    .flat_map(|b| &b.bundle_paths)
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
    let file_name = deb.file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("crane.deb"));
    let target = request.out_dir.join(file_name);
    std::fs::rename(deb, &target).map_err(io(format!("moving {} to {}", deb.display(), target.display())))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window_config() -> (Config, PathBuf) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../src-tauri/tauri.conf.json");
        (read_config(&path).expect("the window's configuration parses"), path.parent().unwrap().to_path_buf())
    }

    #[test]
    fn settings_come_from_the_window_configuration() {
        let (config, dir) = window_config();
        let settings = settings(&config, &dir, Path::new("/stage")).unwrap();
        assert_eq!(settings.product_name(), "Crane");
        assert_eq!(settings.version_string(), env!("CARGO_PKG_VERSION"), "tauri.conf.json and Cargo agree");
        assert_eq!(settings.bundle_identifier(), "io.crane.desktop");
        assert_eq!(settings.app_category(), Some(AppCategory::DeveloperTool));
        assert_eq!(settings.main_binary_name().unwrap(), "crane");
        let names: Vec<&str> = settings.binaries().iter().map(|b| b.name()).collect();
        assert_eq!(names, ["crane", "cranectl"]);
        assert_eq!(settings.binary_path(&settings.binaries()[1]), Path::new("/stage/cranectl"));
        assert_eq!(settings.package_types().unwrap(), [PackageType::Deb]);
        let depends = settings.deb().depends.clone().unwrap();
        assert_eq!(depends, TAURI_DEPENDS, "the window's libraries, once each");
        for icon in settings.icons().unwrap() {
            assert!(Path::new(icon).is_absolute() && Path::new(icon).is_file(), "{icon}");
        }
    }

    #[test]
    fn bad_settings_are_named_with_the_fix() {
        let (config, dir) = window_config();
        type Change = fn(&mut Config);
        let cases: [(Change, &str); 3] = [
            (|c| c.bundle.category = Some("Developer Tols".into()), "bundle.category \"Developer Tols\""),
            (|c| c.bundle.icon.push("../assets/icons/missing.png".into()), "names ../assets/icons/missing.png"),
            (|c| c.product_name = None, "no productName"),
        ];
        for (change, wanted) in cases {
            let mut broken = config.clone();
            change(&mut broken);
            let err = settings(&broken, &dir, Path::new("/stage")).unwrap_err().to_string();
            assert!(err.contains(wanted), "{err}");
        }
        let err = read_config(Path::new("/nonexistent/tauri.conf.json")).unwrap_err().to_string();
        assert!(err.starts_with("cannot read the Tauri configuration /nonexistent/tauri.conf.json"), "{err}");
    }
}
