//! The `.deb` as a user gets it: `crane-package` packages the debug builds of `crane` and `cranectl` (which
//! `make test` builds before the tests; this test fails, naming the command, when they are missing), and the package
//! is read back with Debian's own `dpkg-deb`: its control fields, its file list, the desktop entry and icons of the
//! unpacked tree, and the unpacked binaries run (`--version`, with no display).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The folder of the build the tests run from (`<target>/debug`): this test binary is `<target>/debug/deps/deb-…`.
fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent().and_then(Path::parent).expect("the test binary lives in <target>/<profile>/deps").to_path_buf()
}

/// Runs a command to its end, at most `limit`; fails the test with its output otherwise.
fn run(command: &mut Command, limit: Duration) -> Output {
    let described = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{described} does not start: {e}"));
    let started = Instant::now();
    while child.try_wait().expect("waiting").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{described} did not finish within {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "{described} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `Key=Value` lines of a desktop entry's `[Desktop Entry]` group.
fn desktop_entry(text: &str) -> Vec<(String, String)> {
    assert_eq!(text.lines().next(), Some("[Desktop Entry]"), "{text}");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("not a Key=Value line: {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

#[test]
fn the_deb_installs_the_window_and_the_cli_with_their_desktop_entry() {
    let bins = build_dir();
    for name in ["crane", "cranectl"] {
        assert!(
            bins.join(name).is_file(),
            "{} is missing: the package test packages the debug builds; run `cargo build -p crane-app -p cranectl` \
             first (make test does)",
            bins.join(name).display()
        );
    }
    let work = tempfile::tempdir().expect("a temporary folder");
    let out_dir = work.path().join("out");
    let built = run(
        Command::new(env!("CARGO_BIN_EXE_crane-package"))
            .args(["--profile", "debug", "--bin-dir"])
            .arg(&bins)
            .arg("--out")
            .arg(&out_dir),
        Duration::from_secs(600),
    );
    let deb = PathBuf::from(stdout(&built).trim());
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(deb, out_dir.join(format!("Crane_{version}_amd64.deb")), "printed path: {}", stdout(&built));
    let left: Vec<String> =
        std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left, [format!("Crane_{version}_amd64.deb")], "the staging copies are removed");

    // The control file, as dpkg reads it.
    let field = |name: &str| {
        let out = run(Command::new("dpkg-deb").arg("--field").arg(&deb).arg(name), Duration::from_secs(60));
        stdout(&out).trim().to_string()
    };
    assert_eq!(field("Package"), "crane");
    assert_eq!(field("Version"), version);
    assert_eq!(field("Architecture"), "amd64");
    let depends = field("Depends");
    assert!(depends.contains("libwebkit2gtk-4.1-0") && depends.contains("libgtk-3-0"), "Depends: {depends}");
    assert!(field("Recommends").contains("docker.io"), "Recommends: {}", field("Recommends"));
    assert_eq!(field("Section"), "devel");
    assert!(field("Description").starts_with("Run apps on the local Docker engine"), "{}", field("Description"));
    let info = stdout(&run(Command::new("dpkg-deb").arg("--info").arg(&deb), Duration::from_secs(60)));
    assert!(info.contains(" control") && info.contains(" md5sums"), "{info}");

    // The file list.
    let contents = stdout(&run(Command::new("dpkg-deb").arg("--contents").arg(&deb), Duration::from_secs(60)));
    // Tauri's bundler writes member names without the `./` dpkg-deb's own packages have; dpkg takes both.
    let files: Vec<&str> =
        contents.lines().filter_map(|l| l.split_whitespace().last()).map(|f| f.trim_start_matches("./")).collect();
    for wanted in [
        "usr/bin/crane",
        "usr/bin/cranectl",
        "usr/share/applications/Crane.desktop",
        "usr/share/icons/hicolor/32x32/apps/crane.png",
        "usr/share/icons/hicolor/128x128/apps/crane.png",
        "usr/share/icons/hicolor/512x512/apps/crane.png",
    ] {
        assert!(files.contains(&wanted), "{wanted} is not in the package:\n{contents}");
    }
    let crane_line = contents.lines().find(|l| l.ends_with("usr/bin/crane")).unwrap();
    assert!(crane_line.starts_with("-rwxr-xr-x 0/0 "), "{crane_line}");

    // Unpacked as dpkg would install it.
    let root = work.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root), Duration::from_secs(300));
    let entry = std::fs::read_to_string(root.join("usr/share/applications/Crane.desktop")).unwrap();
    let entry = desktop_entry(&entry);
    let get = |key: &str| entry.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(get("Type"), Some("Application"), "{entry:?}");
    assert_eq!(get("Name"), Some("Crane"), "{entry:?}");
    assert_eq!(get("Exec"), Some("crane"), "{entry:?}");
    assert_eq!(get("Icon"), Some("crane"), "{entry:?}");
    assert_eq!(get("Categories"), Some("Development;"), "{entry:?}");
    assert_eq!(get("Terminal"), Some("false"), "{entry:?}");
    assert!(get("Comment").is_some_and(|c| c.starts_with("Run apps")), "{entry:?}");
    // Each icon is the size its folder says, and the one the entry names is there.
    let icons = root.join("usr/share/icons/hicolor");
    let mut sizes = Vec::new();
    for dir in std::fs::read_dir(&icons).unwrap() {
        let dir = dir.unwrap().path();
        let icon = dir.join("apps/crane.png");
        assert!(icon.is_file(), "{} has no crane.png", dir.display());
        let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (w, h) = png_size(&icon);
        assert_eq!(folder.split('@').next().unwrap(), format!("{w}x{h}"), "{}", icon.display());
        sizes.push(folder);
    }
    sizes.sort();
    assert_eq!(sizes, ["128x128", "256x256@2", "32x32", "512x512"]);

    // The installed binaries run, without a display, engine or Docker.
    for (name, wanted) in [("crane", format!("crane {version}")), ("cranectl", format!("cranectl {version}"))] {
        let bin = root.join("usr/bin").join(name);
        let out = run(
            Command::new(&bin).arg("--version").env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY"),
            Duration::from_secs(60),
        );
        assert_eq!(stdout(&out).trim(), wanted, "{}", bin.display());
    }
    // Tauri's bundler marks the packaged window as installed from a .deb (what its updater reads): the packaged
    // crane differs from the built one in exactly the three bytes `UNK` → `DEB` of its bundle-type marker, and the
    // built binary is left as it was; cranectl is packaged as built.
    let differences = |a: &Path, b: &Path| -> Vec<(u8, u8)> {
        let out = Command::new("cmp").arg("-l").arg(a).arg(b).output().expect("cmp runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                let byte = |s: &str| u8::from_str_radix(s, 8).unwrap();
                (byte(cols[1]), byte(cols[2]))
            })
            .collect()
    };
    assert_eq!(
        differences(&bins.join("crane"), &root.join("usr/bin/crane")),
        [(b'U', b'D'), (b'N', b'E'), (b'K', b'B')],
        "the packaged crane is the built one with the deb marker"
    );
    assert_eq!(differences(&bins.join("cranectl"), &root.join("usr/bin/cranectl")), []);
}

/// A binary that is not built is named with the command that builds it, and nothing is written.
#[test]
fn missing_binaries_are_named_with_the_build_command() {
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crane-package"))
        .args(["--profile", "release", "--bin-dir"])
        .arg(work.path())
        .arg("--out")
        .arg(work.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("crane is missing: build it first (`cargo build --release -p crane-app -p cranectl`"),
        "{err}"
    );
    let written: Vec<_> = std::fs::read_dir(work.path().join("out")).unwrap().collect();
    assert!(written.is_empty(), "{written:?}");
}
