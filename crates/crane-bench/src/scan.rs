//! `crane-bench scan` (`docs/bench/scan.json`): how long the image scanner takes through the engine against the real
//! Docker engine — the demo image and an image of 500 dpkg packages and 50 MB of files, cold (read through `docker
//! save`) and cached (same image id and database generation) — and how long an OSV import of a generated export of
//! realistic size takes, and how large the database gets. No OSV export can be downloaded here, so the export is
//! generated with the real schema (Debian-style entries: three releases, ranges with fixed versions, details text).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crane_api::{ImportRequest, ScanRequest};
use crane_e2e::*;
use serde_json::json;

/// Advisories in the generated export (Debian's OSV export holds tens of thousands).
const ADVISORIES: usize = 40_000;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn scan_twice(engine: &TestEngine, image: &str) -> (f64, f64, usize) {
    let cold_start = Instant::now();
    let cold = engine
        .handle
        .scan_image(&ScanRequest { image: image.to_string(), trivy: false, refresh: true })
        .await
        .unwrap_or_else(|e| panic!("scanning {image}: {e}"));
    let cold_ms = ms(cold_start.elapsed());
    let cached_start = Instant::now();
    let cached = engine
        .handle
        .scan_image(&ScanRequest { image: image.to_string(), trivy: false, refresh: false })
        .await
        .expect("cached scan");
    assert!(cached.cached);
    (cold_ms, ms(cached_start.elapsed()), cold.packages.len())
}

fn generated_export(path: &Path) -> u64 {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("create zip"));
    let options = zip::write::SimpleFileOptions::default();
    for i in 0..ADVISORIES {
        let id = format!("DEBIAN-CVE-{}-{:05}", 2000 + i % 25, i);
        let package = format!("pkg{}", i % 3000);
        let affected: Vec<serde_json::Value> = ["11", "12", "13"]
            .iter()
            .map(|release| {
                json!({"package": {"ecosystem": format!("Debian:{release}"), "name": package,
                                    "purl": format!("pkg:deb/debian/{package}?arch=source")},
                       "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                   {"fixed": format!("{}.{}.{}-{}+deb{release}u1", i % 7, i % 13, i % 29, 1 + i % 5)}]}],
                       "versions": [format!("{}.{}.{}-1", i % 7, i % 13, i % 29)]})
            })
            .collect();
        let doc = json!({
            "schema_version": "1.6.0", "id": id, "modified": "2025-01-01T00:00:00Z", "published": "2020-01-01T00:00:00Z",
            "upstream": [format!("CVE-{}-{:05}", 2000 + i % 25, i)],
            "details": "A flaw was found in the parser, which may let a remote attacker cause a denial of service or \
                        possibly execute arbitrary code via a crafted input. ".repeat(3),
            "affected": affected,
            "references": [{"type": "ADVISORY", "url": format!("https://security-tracker.debian.org/tracker/CVE-{i}")}],
        });
        zip.start_file(format!("{id}.json"), options).expect("zip entry");
        zip.write_all(&serde_json::to_vec(&doc).expect("json")).expect("zip write");
    }
    zip.finish().expect("zip");
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Runs the benchmark and prints the table.
pub async fn run() {
    let engine = TestEngine::start().await;
    let excerpt = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/scan/osv");
    engine.handle.import_advisories(&ImportRequest { path: excerpt.to_string() }).await.expect("import excerpt");

    let (demo_cold, demo_cached, _) = scan_twice(&engine, crane_docker::DEMO_IMAGE).await;

    // 500 dpkg packages and 50 MB of files.
    let status: String = (0..500)
        .map(|i| crane_scan::archive::dpkg_paragraph(&format!("package{i}"), &format!("1.{i}-1"), None))
        .collect();
    let mut files = vec![
        ("rootfs/etc/os-release".to_string(), 0o644, b"ID=debian\nVERSION_ID=\"12\"\n".to_vec()),
        ("rootfs/var/lib/dpkg/status".to_string(), 0o644, status.into_bytes()),
    ];
    for i in 0..50u32 {
        let data: Vec<u8> =
            (0..1u32 << 20).map(|j| (j.wrapping_mul(2_654_435_761).wrapping_add(i) >> 11) as u8).collect();
        files.push((format!("rootfs/data/blob{i}"), 0o644, data));
    }
    let tag = format!("crane-bench-scan:{:08x}", rand::random::<u32>());
    let docker = docker().await;
    crane_docker::build_scratch_image(
        &docker,
        &tag,
        "FROM scratch\nCOPY rootfs/ /\nLABEL io.crane.test=scan\nUSER 1000\n",
        &files,
    )
    .await
    .expect("build the 50 MB image");
    let (big_cold, big_cached, big_packages) = scan_twice(&engine, &tag).await;
    let _ = docker
        .remove_image(&tag, Some(bollard::query_parameters::RemoveImageOptionsBuilder::new().force(true).build()), None)
        .await;

    // An OSV import of realistic size, into a fresh database.
    let other = TestEngine::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let zip_path = dir.path().join("Debian-all.zip");
    let zip_bytes = generated_export(&zip_path);
    let started = Instant::now();
    let imported = other
        .handle
        .import_advisories(&ImportRequest { path: zip_path.display().to_string() })
        .await
        .expect("import the generated export");
    let import_s = started.elapsed().as_secs_f64();
    let db_bytes = std::fs::metadata(other.data_dir.join("advisories.db")).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(other.data_dir.join("advisories.db-wal")).map(|m| m.len()).unwrap_or(0);

    println!("\nImage scan (through the engine, real Docker)");
    println!("{:<44} {:>10} {:>10}", "image", "cold ms", "cached ms");
    println!(
        "{:<44} {:>10.0} {:>10.2}",
        format!("{} (target ≤ 1 s cold)", crane_docker::DEMO_IMAGE),
        demo_cold,
        demo_cached
    );
    println!(
        "{:<44} {:>10.0} {:>10.2}",
        format!("{big_packages} dpkg packages, 50 MB (target ≤ 5 s)"),
        big_cold,
        big_cached
    );
    println!("\nOSV import of a generated export ({ADVISORIES} advisories, 3 releases each)");
    println!(
        "zip {:.1} MiB → {} advisories, {} rows in {:.1} s; database {:.1} MiB",
        zip_bytes as f64 / 1048576.0,
        imported.imported,
        imported.db.rows,
        import_s,
        db_bytes as f64 / 1048576.0
    );
    let json = json!({
        "demo_cold_ms": demo_cold, "demo_cached_ms": demo_cached,
        "dpkg500_50mb_cold_ms": big_cold, "dpkg500_50mb_cached_ms": big_cached, "dpkg500_packages": big_packages,
        "osv_import": {"advisories": imported.imported, "rows": imported.db.rows, "zip_bytes": zip_bytes,
                       "seconds": import_s, "db_bytes": db_bytes, "generated": true},
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bench/scan.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("\nwritten to {}", out.display());
}
