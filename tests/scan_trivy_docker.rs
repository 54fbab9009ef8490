//! End-to-end: Crane runs Trivy beside its own scanner and compares, against the real Docker engine. Trivy is not
//! packaged for Debian and cannot be downloaded here, so `CRANE_TRIVY` points at a stand-in program that records
//! the arguments it was given and prints a report in Trivy's JSON format (schema 2, as `trivy image --format json`
//! writes it); what is tested is Crane's side: how it calls Trivy, reads its report, lines the findings up by CVE
//! alias and package, and says why when Trivy fails. This test is alone in its binary because it sets `CRANE_TRIVY`
//! for the process. Its image has a unique tag and is removed at the end.

use std::os::unix::fs::PermissionsExt;

use bollard::query_parameters::RemoveImageOptionsBuilder;
use crane_api::{ImportRequest, ScanRequest};
use crane_e2e::*;
use crane_scan::archive::dpkg_paragraph;

const EXCERPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/scan/osv");

/// What the stand-in prints: Trivy's report of a wheezy image with the bash of Shellshock.
const TRIVY_REPORT: &str = r#"{
  "SchemaVersion": 2,
  "ArtifactName": "IMAGE",
  "ArtifactType": "container_image",
  "Results": [
    {
      "Target": "IMAGE (debian 7.11)",
      "Class": "os-pkgs",
      "Type": "debian",
      "Vulnerabilities": [
        {"VulnerabilityID": "CVE-2014-6271", "PkgName": "bash", "InstalledVersion": "4.2+dfsg-0.1",
         "FixedVersion": "4.2+dfsg-0.1+deb7u1", "Severity": "CRITICAL", "Title": "bash: code injection"},
        {"VulnerabilityID": "CVE-2099-0001", "PkgName": "coreutils", "InstalledVersion": "8.13-3.5",
         "FixedVersion": "", "Severity": "LOW"}
      ]
    },
    {"Target": "usr/bin/app", "Class": "lang-pkgs", "Type": "gobinary"}
  ]
}"#;

/// Removes the image when dropped, even when the test fails.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let tag = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let options = RemoveImageOptionsBuilder::new().force(true).build();
                let _ = docker().await.remove_image(&tag, Some(options), None).await;
            })
        })
        .join();
    }
}

fn write_script(path: &std::path::Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trivy_beside_crane_findings_lined_up_and_failures_explained() {
    let work = tempfile::tempdir().unwrap();
    let trivy = work.path().join("trivy");
    let args = work.path().join("args");
    let report = work.path().join("report.json");
    std::fs::write(&report, TRIVY_REPORT).unwrap();
    write_script(&trivy, &format!("echo \"$@\" > '{}'\ncat '{}'", args.display(), report.display()));
    // Alone in this process (see the module's comment), so no other test reads it.
    std::env::set_var("CRANE_TRIVY", &trivy);

    let engine = TestEngine::start().await;
    let tag = format!("crane-scan-test-trivy:{:08x}", rand::random::<u32>());
    let _image = Image(tag.clone());
    let status = [dpkg_paragraph("bash", "4.2+dfsg-0.1", None), dpkg_paragraph("coreutils", "8.13-3.5", None)].concat();
    let files = vec![
        (
            "rootfs/etc/os-release".to_string(),
            0o644,
            b"ID=debian\nVERSION_ID=\"7\"\nPRETTY_NAME=\"Debian GNU/Linux 7 (wheezy)\"\n".to_vec(),
        ),
        ("rootfs/var/lib/dpkg/status".to_string(), 0o644, status.into_bytes()),
    ];
    let dockerfile = "FROM scratch\nCOPY rootfs/ /\nLABEL io.crane.test=scan\n";
    crane_docker::build_scratch_image(&docker().await, &tag, dockerfile, &files)
        .await
        .unwrap_or_else(|e| panic!("building {tag}: {e}"));
    engine.handle.import_advisories(&ImportRequest { path: EXCERPT.to_string() }).await.unwrap();

    let scan = ScanRequest { image: tag.clone(), trivy: true, refresh: true };
    let r = engine.handle.scan_image(&scan).await.unwrap();
    let ids: Vec<&str> = r.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["DSA-3032-1", "DSA-3035-1"], "Crane's own findings");
    assert!(r.trivy.available && r.trivy.ran, "{:?}", r.trivy);
    assert!(r.trivy.note.contains("reported 2 vulnerabilities"), "{}", r.trivy.note);
    assert_eq!(r.trivy.both, ["CVE-2014-6271 / bash"], "Trivy's CVE is an alias of Crane's DSA-3032-1");
    assert_eq!(r.trivy.only_crane, ["DSA-3035-1 / bash"]);
    assert_eq!(r.trivy.only_trivy, ["CVE-2099-0001 / coreutils"]);
    let called = std::fs::read_to_string(&args).unwrap();
    assert_eq!(called.trim(), format!("image --quiet --format json --skip-db-update {tag}"), "how Trivy is called");

    // Trivy fails (no database yet): the scan still gives Crane's findings and says why Trivy's are missing.
    write_script(&trivy, "echo 'FATAL\tinit error: DB error: database is missing' >&2\nexit 1");
    let r = engine.handle.scan_image(&scan).await.unwrap();
    assert_eq!(r.findings.len(), 2);
    assert!(r.trivy.available && !r.trivy.ran, "{:?}", r.trivy);
    assert!(
        r.trivy.note.starts_with("trivy failed") && r.trivy.note.contains("database is missing"),
        "{}",
        r.trivy.note
    );

    // Trivy prints something that is not its report.
    write_script(&trivy, "echo 'not json'");
    let r = engine.handle.scan_image(&scan).await.unwrap();
    assert!(r.trivy.note.contains("not JSON Crane reads"), "{}", r.trivy.note);
    drop(engine);
}
