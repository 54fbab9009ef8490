//! `cranectl scan IMAGE` (`-o json` for the report, `--sbom cyclonedx` for the SBOM) and `cranectl scan db
//! import|update|status`. `update` downloads OSV ecosystem exports here (resumable, progress on stderr, MD5 checked
//! against the server's `x-goog-hash` when it sends one, every zip entry's CRC-32 on import) and then asks the engine
//! to import the file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use crane_api::{AdvisoryDbView, ImportResult, ScanReport, ScanRequest};
use futures_util::StreamExt;

use crate::client::Client;
use crate::error::{CliError, Result};
use crate::output::{self, Format};

/// Where OSV publishes one zip of every advisory of an ecosystem.
pub const OSV_EXPORTS: &str = "https://osv-vulnerabilities.storage.googleapis.com";

/// `cranectl scan …`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ScanArgs {
    /// The image to scan (`crane-demo:0.1.0`, an image id).
    #[arg(value_name = "IMAGE")]
    image: Option<String>,
    /// Print the image's SBOM instead of the findings.
    #[arg(long, value_enum, value_name = "FORMAT")]
    sbom: Option<SbomFormat>,
    /// Also run Trivy when it is installed, and compare.
    #[arg(long)]
    trivy: bool,
    /// Scan again even when a report is cached.
    #[arg(long)]
    refresh: bool,
    #[command(subcommand)]
    what: Option<ScanWhat>,
}

/// SBOM formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SbomFormat {
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
}

#[derive(Debug, Subcommand)]
enum ScanWhat {
    /// The advisory database: import OSV files, download OSV exports, show its state.
    Db {
        #[command(subcommand)]
        what: DbWhat,
    },
}

#[derive(Debug, Subcommand)]
enum DbWhat {
    /// Import an OSV JSON file, a folder of them, or an OSV zip export (a path on the engine's machine; admins).
    Import {
        /// The file or folder.
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// Download OSV's ecosystem exports (needs a network) into the data directory, then import them.
    Update {
        /// Ecosystems to download (repeatable).
        #[arg(long = "ecosystem", value_name = "NAME", default_values = ["Debian", "Alpine"])]
        ecosystems: Vec<String>,
        /// Where the exports come from.
        #[arg(long, default_value = OSV_EXPORTS, value_name = "URL")]
        source: String,
        /// Also trust the CA certificates of this PEM file (a mirror behind a company CA); the system's are
        /// always trusted (`SSL_CERT_FILE` is honoured).
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
    },
    /// Show what the database holds and how old it is.
    Status,
}

/// Runs `cranectl scan …`.
pub async fn run(client: &Client, data_dir: &Path, args: ScanArgs, format: Format) -> Result<()> {
    match (args.what, args.image) {
        (Some(ScanWhat::Db { what: DbWhat::Import { path } }), _) => {
            let path = std::fs::canonicalize(&path)
                .map_err(|e| CliError::Serve(format!("cannot read {}: {e}", path.display())))?;
            let result = client.import_advisories(&path.display().to_string()).await?;
            crate::emit(&output::render(format, &result, || import_text(&result))?)
        }
        (Some(ScanWhat::Db { what: DbWhat::Update { ecosystems, source, ca_file } }), _) => {
            let dir = data_dir.join("osv");
            std::fs::create_dir_all(&dir)
                .map_err(|e| CliError::Serve(format!("cannot create {}: {e}", dir.display())))?;
            let http = download_client(ca_file.as_deref())?;
            let mut results = Vec::new();
            for ecosystem in ecosystems {
                let url = format!("{}/{}/all.zip", source.trim_end_matches('/'), ecosystem);
                let file = dir.join(format!("{}-all.zip", ecosystem.replace(['/', ':'], "_")));
                download(&http, &url, &file).await?;
                let result = client.import_advisories(&file.display().to_string()).await?;
                crate::emit(&output::render(format, &result, || import_text(&result))?)?;
                results.push(result);
            }
            Ok(())
        }
        (Some(ScanWhat::Db { what: DbWhat::Status }), _) => {
            let db = client.advisory_db().await?;
            crate::emit(&output::render(format, &db, || db_text(&db))?)
        }
        (None, Some(image)) => {
            let request = ScanRequest { image, trivy: args.trivy, refresh: args.refresh };
            if args.sbom.is_some() {
                let sbom = client.scan_sbom(&request).await?;
                let text = serde_json::to_string_pretty(&sbom).map_err(|e| CliError::Serve(e.to_string()))?;
                return crate::emit(&format!("{text}\n"));
            }
            let report = client.scan(&request).await?;
            crate::emit(&output::render(format, &report, || report_text(&report))?)
        }
        (None, None) => Err(CliError::Serve(
            "name an image (`cranectl scan crane-demo:0.1.0`) or a database command (`cranectl scan db status`)"
                .to_string(),
        )),
    }
}

fn import_text(r: &ImportResult) -> String {
    let mut out = format!(
        "imported {} advisories in {} ms ({} refused); the database holds {} advisories (generation {})\n",
        r.imported, r.duration_ms, r.skipped, r.db.advisories, r.db.generation
    );
    for p in &r.problems {
        out.push_str(&format!("  refused: {p}\n"));
    }
    out
}

/// An age in words ("3 days").
fn age(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

fn db_text(db: &AdvisoryDbView) -> String {
    let mut out = format!("database:    {}\nadvisories:  {} ({} rows)\n", db.path, db.advisories, db.rows);
    match (&db.imported_at, db.age_s) {
        (Some(at), Some(s)) => out.push_str(&format!("imported:    {at} ({} ago)\n", age(s))),
        _ => out.push_str(
            "imported:    never; import OSV advisories with `cranectl scan db import PATH` (assets/scan/osv has a \
             small excerpt) or `cranectl scan db update`\n",
        ),
    }
    if let Some(m) = &db.newest_modified {
        out.push_str(&format!("newest:      {m}\n"));
    }
    for e in &db.ecosystems {
        out.push_str(&format!("  {:<12} {}\n", e.ecosystem, e.advisories));
    }
    out.push_str(&format!("generation:  {}\n", db.generation));
    out
}

fn report_text(r: &ScanReport) -> String {
    let c = &r.counts;
    let mut out = format!(
        "image {} ({}){}\nos: {}\n{} packages; vulnerabilities: {} critical, {} high, {} medium, {} low, {} unknown ({} \
         with a fix); {} advisories in the database (generation {})\n",
        r.image,
        r.image_id,
        if r.cached { ", cached" } else { "" },
        r.os.as_deref().unwrap_or("unknown (no /etc/os-release)"),
        r.packages.len(),
        c.critical,
        c.high,
        c.medium,
        c.low,
        c.unknown,
        c.fixable,
        r.db_advisories,
        r.db_generation
    );
    if !r.findings.is_empty() {
        out.push_str(&format!(
            "\n{:<9} {:<22} {:<20} {:<22} {:<22} {}\n",
            "SEVERITY", "ID", "PACKAGE", "INSTALLED", "FIXED", "LAYER"
        ));
        for f in &r.findings {
            out.push_str(&format!(
                "{:<9} {:<22} {:<20} {:<22} {:<22} {}\n",
                format!("{:?}", f.severity).to_uppercase(),
                f.id,
                f.binary.as_deref().map_or(f.package.clone(), |b| format!("{} ({b})", f.package)),
                f.installed,
                f.fixed.as_deref().unwrap_or("-"),
                f.layer
            ));
        }
    }
    if !r.hygiene.is_empty() {
        out.push_str("\nhygiene:\n");
        for h in &r.hygiene {
            out.push_str(&format!("  [{:?}] {}\n    fix: {}\n", h.level, h.message, h.fix));
        }
    }
    for w in &r.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    if !r.trivy.note.is_empty() {
        out.push_str(&format!("trivy: {}\n", r.trivy.note));
        if r.trivy.ran {
            out.push_str(&format!(
                "  both: {}\n  only Crane: {}\n  only Trivy: {}\n",
                r.trivy.both.join(", "),
                r.trivy.only_crane.join(", "),
                r.trivy.only_trivy.join(", ")
            ));
        }
    }
    out
}

/// Largest export downloaded: 4 GiB.
const MAX_DOWNLOAD: u64 = 4 * 1024 * 1024 * 1024;

/// Largest CA file read for `--ca-file`: 1 MiB.
const MAX_CA_FILE: u64 = 1024 * 1024;

/// The client downloads use: https with the system's roots (rustls-platform-verifier) plus the PEM certificates of
/// `ca_file`, 15 s to connect, no limit on the whole transfer (exports are large; progress shows it moving).
fn download_client(ca_file: Option<&Path>) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(15));
    if let Some(path) = ca_file {
        let size = std::fs::metadata(path)
            .map_err(|e| CliError::Serve(format!("cannot read the CA file {}: {e}", path.display())))?
            .len();
        if size > MAX_CA_FILE {
            return Err(CliError::Serve(format!(
                "the CA file {} is larger than {MAX_CA_FILE} bytes; give a PEM file of CA certificates",
                path.display()
            )));
        }
        let pem = std::fs::read(path)
            .map_err(|e| CliError::Serve(format!("cannot read the CA file {}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            CliError::Serve(format!("the CA file {} is not PEM certificates: {}", path.display(), chain(&e)))
        })?;
        if certs.is_empty() {
            return Err(CliError::Serve(format!(
                "the CA file {} holds no certificate (expected `-----BEGIN CERTIFICATE-----` blocks)",
                path.display()
            )));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| CliError::Serve(format!("cannot make an HTTP client: {}", chain(&e))))
}

/// Downloads `url` to `file`, resuming a `.part` left by an interrupted download, showing progress on stderr and
/// checking the MD5 the server announces (`x-goog-hash: md5=…`).
async fn download(client: &reqwest::Client, url: &str, file: &Path) -> Result<()> {
    let part = file.with_extension("zip.part");
    let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let mut request = client.get(url);
    if have > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let response = request.send().await.map_err(|e| {
        CliError::Serve(format!(
            "cannot download {url}: {}; without a network, copy an OSV export here and run `cranectl scan db import \
             FILE` (assets/scan/osv holds a small excerpt)",
            chain(&e)
        ))
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(CliError::Serve(format!("downloading {url}: the server answered {status}")));
    }
    let resumed = status == reqwest::StatusCode::PARTIAL_CONTENT;
    let md5 = response
        .headers()
        .get_all("x-goog-hash")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|v| v.trim().strip_prefix("md5=").map(str::to_string));
    let total = response.content_length().map(|n| n + if resumed { have } else { 0 });
    if total.is_some_and(|t| t > MAX_DOWNLOAD) {
        return Err(CliError::Serve(format!("{url} is larger than {MAX_DOWNLOAD} bytes; refused")));
    }
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(&part)
        .map_err(|e| CliError::Serve(format!("cannot write {}: {e}", part.display())))?;
    let mut done = if resumed { have } else { 0 };
    let mut body = response.bytes_stream();
    let mut shown = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            CliError::Serve(format!(
                "the download of {url} broke after {done} bytes ({}); run the command again to resume",
                chain(&e)
            ))
        })?;
        done += chunk.len() as u64;
        if done > MAX_DOWNLOAD {
            return Err(CliError::Serve(format!("{url} is larger than {MAX_DOWNLOAD} bytes; stopped")));
        }
        out.write_all(&chunk).map_err(|e| CliError::Serve(format!("cannot write {}: {e}", part.display())))?;
        if done - shown >= 512 * 1024 {
            shown = done;
            progress_bar(url, done, total);
        }
    }
    progress_bar(url, done, total);
    eprintln!();
    drop(out);
    if let Some(expected) = md5 {
        let actual = md5_base64(&part)?;
        if actual != expected {
            let _ = std::fs::remove_file(&part);
            return Err(CliError::Serve(format!(
                "the download of {url} is damaged (MD5 {actual}, the server announced {expected}); it was deleted, \
                 run the command again"
            )));
        }
    }
    std::fs::rename(&part, file).map_err(|e| CliError::Serve(format!("cannot move {}: {e}", part.display())))?;
    Ok(())
}

fn progress_bar(url: &str, done: u64, total: Option<u64>) {
    let mib = |n: u64| n as f64 / (1024.0 * 1024.0);
    match total {
        Some(t) if t > 0 => {
            let filled = ((done as f64 / t as f64) * 30.0).round().min(30.0) as usize;
            eprint!("\r{url} [{}{}] {:5.1}/{:.1} MiB", "#".repeat(filled), " ".repeat(30 - filled), mib(done), mib(t));
        }
        _ => eprint!("\r{url} {:.1} MiB", mib(done)),
    }
}

fn md5_base64(path: &Path) -> Result<String> {
    use base64::Engine as _;
    use md5::Digest as _;
    let mut file =
        std::fs::File::open(path).map_err(|e| CliError::Serve(format!("cannot read {}: {e}", path.display())))?;
    let mut hasher = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| CliError::Serve(format!("cannot read {}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(hasher.finalize()))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    //! `scan db update`'s download against a local HTTPS server whose certificate a test CA signed: trusted with
    //! `--ca-file`, refused without it; resumed with a Range request; a body that does not match the announced MD5
    //! deleted.

    use std::sync::{Arc, Mutex};

    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;

    use super::*;

    /// A test CA (its PEM) and a server configuration for 127.0.0.1 signed by it.
    fn test_pki() -> (String, rustls::ServerConfig) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "Crane test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap();
        (ca_cert.pem(), config)
    }

    /// Serves `body` over HTTPS (one request per connection, `Range: bytes=N-` honoured, `x-goog-hash` set to
    /// `md5`); returns the port and the Range headers it saw.
    async fn serve(body: Vec<u8>, md5: String) -> (u16, Arc<Mutex<Vec<String>>>) {
        let (_, config) = test_pki_cached();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let seen = ranges.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let (body, md5, seen) = (body.clone(), md5.clone(), seen.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                        if tls.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    let from = head
                        .lines()
                        .find_map(|l| l.strip_prefix("range: bytes="))
                        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
                    if let Some(from) = from {
                        seen.lock().unwrap().push(format!("bytes={from}-"));
                    }
                    let (status, slice) = match from {
                        Some(from) => ("206 Partial Content", &body[from..]),
                        None => ("200 OK", &body[..]),
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nx-goog-hash: crc32c=AAAAAA==,md5={md5}\r\n\
                         connection: close\r\n\r\n",
                        slice.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.write_all(slice).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (port, ranges)
    }

    /// One PKI per test process, so the CA file and the server agree.
    fn test_pki_cached() -> (String, rustls::ServerConfig) {
        static PKI: std::sync::OnceLock<(String, rustls::ServerConfig)> = std::sync::OnceLock::new();
        PKI.get_or_init(test_pki).clone()
    }

    fn body() -> Vec<u8> {
        (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect()
    }

    fn md5_of(data: &[u8]) -> String {
        use base64::Engine as _;
        use md5::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
    }

    #[tokio::test]
    async fn https_download_with_a_ca_file_resumes_and_checks_md5() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, test_pki_cached().0).unwrap();
        let data = body();
        let (port, ranges) = serve(data.clone(), md5_of(&data)).await;
        let url = format!("https://127.0.0.1:{port}/Debian/all.zip");
        let client = download_client(Some(&ca)).unwrap();

        // Whole.
        let file = dir.path().join("Debian-all.zip");
        download(&client, &url, &file).await.unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), data);
        assert!(!file.with_extension("zip.part").exists());
        assert!(ranges.lock().unwrap().is_empty());

        // Resumed from the first 100,000 bytes of an interrupted download.
        let file = dir.path().join("Alpine-all.zip");
        std::fs::write(file.with_extension("zip.part"), &data[..100_000]).unwrap();
        download(&client, &url, &file).await.unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), data);
        assert_eq!(*ranges.lock().unwrap(), vec!["bytes=100000-".to_string()]);

        // Without the CA file the server's certificate is not trusted.
        let file = dir.path().join("untrusted.zip");
        let err = download(&download_client(None).unwrap(), &url, &file).await.unwrap_err().to_string();
        assert!(err.contains("certificate") || err.contains("UnknownIssuer"), "{err}");
        assert!(!file.exists());
    }

    #[tokio::test]
    async fn a_damaged_download_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, test_pki_cached().0).unwrap();
        let data = body();
        let (port, _) = serve(data, md5_of(b"something else")).await;
        let file = dir.path().join("Debian-all.zip");
        let url = format!("https://127.0.0.1:{port}/Debian/all.zip");
        let err = download(&download_client(Some(&ca)).unwrap(), &url, &file).await.unwrap_err().to_string();
        assert!(err.contains("is damaged"), "{err}");
        assert!(!file.exists() && !file.with_extension("zip.part").exists());
    }

    #[test]
    fn a_bad_ca_file_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = download_client(Some(&missing)).unwrap_err().to_string();
        assert!(err.contains("cannot read the CA file"), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = download_client(Some(&empty)).unwrap_err().to_string();
        assert!(err.contains("holds no certificate") || err.contains("is not PEM"), "{err}");
    }
}
