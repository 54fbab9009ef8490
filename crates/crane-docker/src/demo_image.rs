//! The built-in demo image: the static `crane-demo` binary (built by `build.rs` and embedded here) packaged
//! `FROM scratch` through the Docker API, so labs and tests work with no registry at all.
//!
//! The classic builder (not BuildKit) is used on purpose: it builds `FROM scratch` without contacting a registry.
//! The image carries a label with a fingerprint of the embedded binary, so an image left over from an older build of
//! Crane is rebuilt instead of silently reused.

use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use bollard::Docker;
use crane_api::ProgressView;
use crane_core::model::labels;
use futures_util::StreamExt;

use crate::error::{self, Result, RuntimeError};

/// The demo workload, a static Linux executable.
pub const DEMO_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/crane-demo"));

/// Tag of the demo image (`crane-demo:<version>`).
pub const DEMO_IMAGE: &str = concat!("crane-demo:", env!("CARGO_PKG_VERSION"));

/// Label holding the fingerprint of the binary inside the image.
pub const DEMO_FINGERPRINT_LABEL: &str = "io.crane.demo.fingerprint";

/// Operation id used in progress reports.
const OPERATION: &str = "demo-image";

/// The Dockerfile of the demo image. `CMD` (not `ENTRYPOINT`) so a spec's `command` replaces it entirely.
fn dockerfile(fingerprint: &str) -> String {
    format!(
        "FROM scratch\n\
         COPY demo /demo\n\
         EXPOSE 8080\n\
         USER 65534:65534\n\
         LABEL {}=\"true\" {DEMO_FINGERPRINT_LABEL}=\"{fingerprint}\"\n\
         CMD [\"/demo\"]\n",
        labels::DEMO
    )
}

/// A stable fingerprint (FNV-1a, 64 bits, hex) of the embedded binary.
pub fn demo_fingerprint() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in DEMO_BINARY {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The in-memory build context: the Dockerfile and the binary.
fn build_context() -> Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    let mut add = |path: &str, mode: u32, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        archive.append_data(&mut header, path, data)
    };
    let io = |e: std::io::Error| RuntimeError::Other(format!("packing the demo image context: {e}"));
    add("Dockerfile", 0o644, dockerfile(&demo_fingerprint()).as_bytes()).map_err(io)?;
    add("demo", 0o755, DEMO_BINARY).map_err(io)?;
    archive.into_inner().map_err(io)
}

/// Whether the demo image is present and holds this build's binary.
pub async fn demo_image_present(docker: &Docker) -> bool {
    match docker.inspect_image(DEMO_IMAGE).await {
        Ok(image) => {
            let fingerprint = image.config.and_then(|c| c.labels).and_then(|l| l.get(DEMO_FINGERPRINT_LABEL).cloned());
            fingerprint.as_deref() == Some(demo_fingerprint().as_str())
        }
        Err(_) => false,
    }
}

/// Builds (or rebuilds) the demo image and tags it [`DEMO_IMAGE`]; returns the tag.
///
/// Every line of build output is reported through `progress` (fraction from `Step i/n`); the last report has
/// `done: true`, with `error` set when the build failed. Building the same tag from several callers at once is
/// safe: each build produces the same image and the tag ends on one of them.
pub async fn build_demo_image(docker: &Docker, progress: &mut (dyn FnMut(ProgressView) + Send)) -> Result<String> {
    let outcome = run_build(docker, progress).await;
    let (message, error) = match &outcome {
        Ok(()) => (format!("built {DEMO_IMAGE}"), None),
        Err(e) => (format!("building {DEMO_IMAGE} failed"), Some(e.to_string())),
    };
    progress(ProgressView {
        operation: OPERATION.to_string(),
        message,
        fraction: outcome.is_ok().then_some(1.0),
        done: true,
        error,
    });
    outcome.map(|()| DEMO_IMAGE.to_string())
}

/// Serializes demo builds within this process: the second of two concurrent builds then hits the classic builder's
/// cache and yields the very same image, instead of a second copy that the tag leaves dangling.
static BUILD_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run_build(docker: &Docker, progress: &mut (dyn FnMut(ProgressView) + Send)) -> Result<()> {
    let _serialized = BUILD_LOCK.lock().await;
    let context = build_context()?;
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(DEMO_IMAGE)
        .rm(true)
        .forcerm(true)
        .version(BuilderVersion::BuilderV1)
        .build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut fraction = Some(0.0);
    let mut built = false;
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| error::map(&format!("building {DEMO_IMAGE}"), e))?;
        if let Some(detail) = info.error_detail {
            let text = detail.message.unwrap_or_else(|| "unknown build error".to_string());
            return Err(RuntimeError::Other(format!("building {DEMO_IMAGE}: {}", text.trim())));
        }
        if info.aux.is_some() {
            built = true;
        }
        let Some(text) = info.stream.or(info.status) else {
            continue;
        };
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(f) = step_fraction(line) {
                fraction = Some(f);
            }
            if line.starts_with("Successfully tagged") || line.starts_with("Successfully built") {
                built = true;
            }
            progress(ProgressView {
                operation: OPERATION.to_string(),
                message: line.to_string(),
                fraction,
                done: false,
                error: None,
            });
        }
    }
    if !built {
        return Err(RuntimeError::Other(format!("building {DEMO_IMAGE}: the engine ended the build without an image")));
    }
    Ok(())
}

/// Tag of the vulnerable demo variant: the same binary, plus the package metadata of a Debian 7 ("wheezy") system
/// whose bash and openssl have well-known advisories (`assets/scan/osv`), for the "blocked by a CVE" lesson.
pub const VULNERABLE_DEMO_IMAGE: &str = "crane-demo:vulnerable";

/// `/etc/os-release` of the vulnerable variant.
pub const VULNERABLE_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 7 (wheezy)\"\nNAME=\"Debian GNU/Linux\"\n\
VERSION_ID=\"7\"\nVERSION=\"7 (wheezy)\"\nID=debian\n";

/// `/var/lib/dpkg/status` of the vulnerable variant: bash before the Shellshock fixes (DSA-3032-1, DSA-3035-1),
/// openssl before the Heartbleed fix (DSA-2896-1), and packages without advisories in the excerpt.
pub const VULNERABLE_DPKG_STATUS: &str = "Package: bash\nStatus: install ok installed\nArchitecture: amd64\n\
Version: 4.2+dfsg-0.1\nDescription: GNU Bourne Again SHell\n\n\
Package: libssl1.0.0\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\n\
Version: 1.0.1e-2+deb7u4\nDescription: Secure Sockets Layer toolkit - shared libraries\n\n\
Package: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0.1e-2+deb7u4\n\
Description: Secure Sockets Layer toolkit - cryptographic utility\n\n\
Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.1wheezy8\n\
Description: Debian base system miscellaneous files\n\n\
Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2014a-0wheezy1\n\
Description: time zone and daylight-saving time data\n";

/// Builds (or rebuilds) [`VULNERABLE_DEMO_IMAGE`]: the demo binary with the package metadata above. Nothing in it
/// is really vulnerable (there is no bash or openssl, only their records); a scanner reads the records as it would
/// on a real system.
pub async fn build_vulnerable_demo_image(docker: &Docker) -> Result<String> {
    let dockerfile = format!(
        "FROM scratch\n\
         COPY demo /demo\n\
         COPY os-release /etc/os-release\n\
         COPY status /var/lib/dpkg/status\n\
         EXPOSE 8080\n\
         USER 65534:65534\n\
         LABEL {}=\"true\" {DEMO_FINGERPRINT_LABEL}=\"{}\"\n\
         CMD [\"/demo\"]\n",
        labels::DEMO,
        demo_fingerprint()
    );
    let files = vec![
        ("demo".to_string(), 0o755, DEMO_BINARY.to_vec()),
        ("os-release".to_string(), 0o644, VULNERABLE_OS_RELEASE.as_bytes().to_vec()),
        ("status".to_string(), 0o644, VULNERABLE_DPKG_STATUS.as_bytes().to_vec()),
    ];
    let _serialized = BUILD_LOCK.lock().await;
    crate::image_source::build_scratch_image(docker, VULNERABLE_DEMO_IMAGE, &dockerfile, &files).await
}

/// Progress of a build line `Step 2/4 : COPY demo /demo` (Docker's classic builder) or `STEP 2/4: COPY …`
/// (Podman's buildah), as the fraction of steps started before it.
fn step_fraction(line: &str) -> Option<f64> {
    let rest = line.strip_prefix("Step ").or_else(|| line.strip_prefix("STEP "))?;
    let numbers = rest.split([' ', ':']).next()?;
    let (i, n) = numbers.split_once('/')?;
    let (i, n): (f64, f64) = (i.parse().ok()?, n.parse().ok()?);
    (n > 0.0 && i >= 1.0).then(|| ((i - 1.0) / n).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_follows_the_crate_version() {
        assert_eq!(DEMO_IMAGE, "crane-demo:0.1.0");
    }

    #[test]
    fn binary_is_a_static_elf() {
        assert_eq!(&DEMO_BINARY[..4], b"\x7fELF");
        // A dynamically linked executable names its loader in a PT_INTERP segment; a static one does not.
        let needle = b"/lib64/ld-linux";
        assert!(!DEMO_BINARY.windows(needle.len()).any(|w| w == needle), "the demo binary is dynamically linked");
        assert!(DEMO_BINARY.len() < 2 * 1024 * 1024, "the demo binary is {} bytes", DEMO_BINARY.len());
    }

    #[test]
    fn steps_give_fractions() {
        assert_eq!(step_fraction("Step 1/4 : FROM scratch"), Some(0.0));
        assert_eq!(step_fraction("Step 3/4 : USER 65534:65534"), Some(0.5));
        assert_eq!(step_fraction("STEP 2/4: COPY demo /demo"), Some(0.25));
        assert_eq!(step_fraction(" ---> Running in abc"), None);
        assert_eq!(step_fraction("Step x/4"), None);
    }

    #[test]
    fn context_holds_dockerfile_and_binary() {
        let bytes = build_context().unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut names = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            names.push((entry.path().unwrap().display().to_string(), entry.header().mode().unwrap()));
        }
        assert_eq!(names, vec![("Dockerfile".to_string(), 0o644), ("demo".to_string(), 0o755)]);
        assert!(dockerfile("x").contains("FROM scratch\nCOPY demo /demo\n"));
    }
}
