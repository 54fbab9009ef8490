//! End-to-end: the image scanner against the real Docker engine. Images are built by the tests through the API
//! (`FROM scratch` with crafted package databases; no Go toolchain is needed: the Go build info is crafted bytes),
//! read back through `docker save` (the Engine API), matched against the OSV fixture of real advisories, and the
//! deploy gate refuses the vulnerable demo image. Every image a test builds has a unique tag and the label
//! `io.crane.test=scan`, and is removed at the end.

use std::time::Duration;

use bollard::query_parameters::RemoveImageOptionsBuilder;
use crane_api::{HygieneCheck, ImportRequest, PolicyName, PolicyUpdate, ScanRequest, ScanSeverity, ScanState};
use crane_e2e::*;
use crane_engine::EngineError;
use crane_scan::archive::{auditable_binary, dpkg_paragraph, go_binary};
use serde_json::json;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/crane-scan/tests/fixtures/osv");
const EXCERPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/scan/osv");

/// Removes the test's images when dropped, even when the test fails.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        let tags = std::mem::take(&mut self.0);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let docker = docker().await;
                for tag in tags {
                    let _ = docker
                        .remove_image(&tag, Some(RemoveImageOptionsBuilder::new().force(true).build()), None)
                        .await;
                }
            })
        })
        .join();
    }
}

/// Builds a `FROM scratch` image holding `files` under `/` (one layer), with extra Dockerfile lines.
async fn build(images: &mut Images, prefix: &str, extra: &str, files: Vec<(String, u32, Vec<u8>)>) -> String {
    let tag = format!("crane-scan-test-{prefix}:{:08x}", rand::random::<u32>());
    images.0.push(tag.clone());
    let files: Vec<(String, u32, Vec<u8>)> =
        files.into_iter().map(|(path, mode, data)| (format!("rootfs/{path}"), mode, data)).collect();
    let dockerfile = format!("FROM scratch\nCOPY rootfs/ /\nLABEL io.crane.test=scan\n{extra}");
    crane_docker::build_scratch_image(&docker().await, &tag, &dockerfile, &files)
        .await
        .unwrap_or_else(|e| panic!("building {tag}: {e}"));
    tag
}

fn f(path: &str, mode: u32, data: impl Into<Vec<u8>>) -> (String, u32, Vec<u8>) {
    (path.to_string(), mode, data.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_findings_and_hygiene_of_a_crafted_image() {
    let engine = TestEngine::start().await;
    let mut images = Images(Vec::new());
    let status = [
        dpkg_paragraph("bash", "4.2+dfsg-0.1", None),
        dpkg_paragraph("libssl1.0.0", "1.0.1e-2+deb7u4", Some("openssl")),
        dpkg_paragraph("openssl", "1.0.1e-2+deb7u5", None),
        dpkg_paragraph("openssh-client", "1:6.0p1-4+deb7u2", Some("openssh")),
        dpkg_paragraph("tzdata", "2014a-0wheezy1", None),
    ]
    .concat();
    let tag = build(
        &mut images,
        "crafted",
        "USER root\nENV DB_PASSWORD=hunter2 PATH=/usr/bin\n",
        vec![
            f("etc/os-release", 0o644, "ID=debian\nVERSION_ID=\"7\"\nPRETTY_NAME=\"Debian GNU/Linux 7 (wheezy)\"\n"),
            f("var/lib/dpkg/status", 0o644, status),
            f("lib/apk/db/installed", 0o644, "P:musl\nV:1.2.2-r0\nA:x86_64\no:musl\n\n"),
            f(
                "usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA",
                0o644,
                "Name: requests\nVersion: 2.19.0\n",
            ),
            f("app/node_modules/lodash/package.json", 0o644, r#"{"name": "lodash", "version": "4.17.11"}"#),
            f("usr/local/bin/goapp", 0o755, go_binary("go1.19.2", &[("golang.org/x/text", "v0.3.7")])),
            f("usr/local/bin/rustapp", 0o755, auditable_binary(&[("smallvec", "1.6.0")])),
        ],
    )
    .await;
    let imported = engine.handle.import_advisories(&ImportRequest { path: FIXTURES.to_string() }).await.unwrap();
    assert_eq!((imported.imported, imported.skipped), (9, 0));

    let report =
        engine.handle.scan_image(&ScanRequest { image: tag.clone(), trivy: false, refresh: false }).await.unwrap();
    let packages: Vec<(String, String, String)> =
        report.packages.iter().map(|p| (p.ecosystem.clone(), p.name.clone(), p.version.clone())).collect();
    let s = |e: &str, n: &str, v: &str| (e.to_string(), n.to_string(), v.to_string());
    assert_eq!(
        packages,
        [
            s("Debian", "bash", "4.2+dfsg-0.1"),
            s("Debian", "openssh", "1:6.0p1-4+deb7u2"),
            s("Debian", "openssl", "1.0.1e-2+deb7u4"),
            s("Debian", "openssl", "1.0.1e-2+deb7u5"),
            s("Debian", "tzdata", "2014a-0wheezy1"),
            s("Alpine", "musl", "1.2.2-r0"),
            s("PyPI", "requests", "2.19.0"),
            s("npm", "lodash", "4.17.11"),
            s("Go", "golang.org/x/text", "v0.3.7"),
            s("Go", "stdlib", "1.19.2"),
            s("crates.io", "smallvec", "1.6.0"),
        ]
    );
    let findings: Vec<(&str, &str, &str, Option<&str>, ScanSeverity)> = report
        .findings
        .iter()
        .map(|f| (f.id.as_str(), f.package.as_str(), f.installed.as_str(), f.fixed.as_deref(), f.severity))
        .collect();
    assert_eq!(
        findings,
        [
            ("DSA-3032-1", "bash", "4.2+dfsg-0.1", Some("4.2+dfsg-0.1+deb7u1"), ScanSeverity::Critical),
            ("GHSA-jf85-cpcp-j695", "lodash", "4.17.11", Some("4.17.12"), ScanSeverity::Critical),
            // libssl1.0.0 is still at deb7u4 (its source version): the openssl binary at deb7u5 is fixed.
            ("DSA-2896-1", "openssl", "1.0.1e-2+deb7u4", Some("1.0.1e-2+deb7u5"), ScanSeverity::High),
            ("DSA-3035-1", "bash", "4.2+dfsg-0.1", Some("4.2+dfsg-0.1+deb7u3"), ScanSeverity::Unknown),
            ("GO-2022-1059", "golang.org/x/text", "v0.3.7", Some("0.3.8"), ScanSeverity::Unknown),
            ("GHSA-x84v-xcm2-53pg", "requests", "2.19.0", Some("2.20.0"), ScanSeverity::Unknown),
            ("RUSTSEC-2021-0003", "smallvec", "1.6.0", Some("1.6.1"), ScanSeverity::Unknown),
        ]
    );
    assert_eq!(report.findings[2].binary.as_deref(), Some("libssl1.0.0"));
    assert_eq!(report.os_release.as_deref(), Some("Debian:7"));
    let checks: Vec<HygieneCheck> = report.hygiene.iter().map(|h| h.check).collect();
    assert!(checks.contains(&HygieneCheck::RunsAsRoot), "{checks:?}");
    assert!(checks.contains(&HygieneCheck::SecretInEnv), "{checks:?}");
    assert!(!serde_json::to_string(&report).unwrap().contains("hunter2"), "a secret's value is never reported");

    // Cached by image id and database generation; a new import refreshes it.
    let again =
        engine.handle.scan_image(&ScanRequest { image: tag.clone(), trivy: false, refresh: false }).await.unwrap();
    assert!(again.cached);
    engine.handle.import_advisories(&ImportRequest { path: EXCERPT.to_string() }).await.unwrap();
    let fresh =
        engine.handle.scan_image(&ScanRequest { image: tag.clone(), trivy: false, refresh: false }).await.unwrap();
    assert!(!fresh.cached);
    assert_eq!(fresh.db_generation, report.db_generation + 1);

    // The SBOM lists every package.
    let sbom = engine.handle.scan_sbom(&tag).await.unwrap();
    assert_eq!(sbom["specVersion"], "1.5");
    assert_eq!(sbom["components"].as_array().unwrap().len(), report.packages.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_image_has_only_the_hygiene_findings_that_apply_and_garbage_is_reported() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let report = engine
        .handle
        .scan_image(&ScanRequest { image: crane_docker::DEMO_IMAGE.to_string(), trivy: true, refresh: false })
        .await
        .unwrap();
    assert!(report.packages.is_empty() && report.findings.is_empty(), "{report:?}");
    let checks: Vec<HygieneCheck> = report.hygiene.iter().map(|h| h.check).collect();
    assert_eq!(checks, [HygieneCheck::NoHealthcheck], "the demo runs as 65534, is tagged, has no secrets");
    if report.trivy.available {
        assert!(!report.trivy.note.is_empty());
    } else {
        assert!(report.trivy.note.starts_with("trivy is not on PATH"), "{}", report.trivy.note);
    }

    let mut images = Images(Vec::new());
    let mut garbage = vec![0u8; 10 << 20];
    for (i, b) in garbage.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    }
    let tag = build(&mut images, "garbage", "USER 1000\n", vec![f("var/lib/dpkg/status", 0o644, garbage)]).await;
    let report = engine.handle.scan_image(&ScanRequest { image: tag, trivy: false, refresh: false }).await.unwrap();
    assert!(report.packages.is_empty());
    assert!(
        report.warnings.iter().any(|w| w.starts_with("/var/lib/dpkg/status is not a dpkg status database")),
        "{:?}",
        report.warnings
    );
    let missing = engine
        .handle
        .scan_image(&ScanRequest { image: "crane-scan-test-none:404".into(), trivy: false, refresh: false })
        .await
        .unwrap_err();
    assert!(matches!(missing, EngineError::ImageUnavailable(_)), "{missing}");
    let bad = engine.handle.import_advisories(&ImportRequest { path: "/nonexistent/osv".into() }).await.unwrap_err();
    assert!(bad.to_string().contains("cannot read /nonexistent/osv"), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_denies_the_vulnerable_demo_naming_the_package_and_admits_the_clean_one() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let _images = Images(vec![crane_docker::VULNERABLE_DEMO_IMAGE.to_string()]);
    engine.handle.build_vulnerable_demo_image().await.unwrap();
    engine.handle.import_advisories(&ImportRequest { path: EXCERPT.to_string() }).await.unwrap();
    engine
        .handle
        .set_policy(
            PolicyName::Admission,
            PolicyUpdate {
                rego: None,
                data: Some(json!({"scan": {"deny_severity": "CRITICAL", "require_fix": true}})),
            },
        )
        .await
        .unwrap();

    let app = unique_name("t-gate");
    let spec = demo_spec(&app, 1).replace(crane_docker::DEMO_IMAGE, crane_docker::VULNERABLE_DEMO_IMAGE);
    let err = engine.handle.apply(&spec, false).await.unwrap_err();
    let EngineError::PolicyDenied { messages, .. } = &err else { panic!("expected a denial, got {err}") };
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].contains("CRITICAL vulnerability DSA-3032-1 in package bash 4.2+dfsg-0.1"), "{}", messages[0]);
    assert!(messages[0].contains("upgrade bash to 4.2+dfsg-0.1+deb7u1"), "{}", messages[0]);
    assert!(engine.handle.get_app(&app).await.is_err(), "nothing was created");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(containers_of(engine.handle.owner(), &app).await.is_empty());

    let clean = unique_name("t-clean");
    engine.handle.apply(&demo_spec(&clean, 1), false).await.expect("the clean demo deploys");
    let owner = engine.handle.owner().to_string();
    wait_for(Duration::from_secs(60), "the clean demo running", || async {
        (!containers_of(&owner, &clean).await.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_pulled_at_deploy_is_scanned_before_it_runs() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    engine.handle.import_advisories(&ImportRequest { path: EXCERPT.to_string() }).await.unwrap();
    let mut images = Images(Vec::new());
    let docker = docker().await;
    // A vulnerable image that exists only in a registry: built here, served on loopback, removed locally.
    let status = dpkg_paragraph("bash", "4.2+dfsg-0.1", None);
    let local = build(
        &mut images,
        "pull",
        "",
        vec![
            f("etc/os-release", 0o644, "ID=debian\nVERSION_ID=\"7\"\nPRETTY_NAME=\"Debian GNU/Linux 7 (wheezy)\"\n"),
            f("var/lib/dpkg/status", 0o644, status),
        ],
    )
    .await;
    let tag = format!("{:08x}", rand::random::<u32>());
    let registry = registry::serve_image(&docker, &local, "crane-test/vuln", &tag).await;
    let _ = docker.remove_image(&local, Some(RemoveImageOptionsBuilder::new().force(true).build()), None).await;
    let remote = format!("127.0.0.1:{}/crane-test/vuln:{tag}", registry.port);
    images.0.push(remote.clone());
    let pre = engine.handle.scan_image(&ScanRequest { image: remote.clone(), trivy: false, refresh: false }).await;
    assert!(pre.is_err(), "not on the engine before the deploy: {pre:?}");

    let app = unique_name("t-pull");
    let spec = demo_spec(&app, 1).replace(crane_docker::DEMO_IMAGE, &remote);
    let err = engine.handle.apply(&spec, false).await.unwrap_err();
    let EngineError::PolicyDenied { messages, .. } = &err else { panic!("expected a denial, got {err}") };
    assert!(messages.iter().any(|m| m.contains("DSA-3032-1 in package bash")), "{messages:?}");
    assert!(engine.handle.get_app(&app).await.is_err(), "nothing was created");
    let cached = engine.handle.scan_image(&ScanRequest { image: remote, trivy: false, refresh: false }).await.unwrap();
    assert!(cached.cached, "the gate scanned the pulled image");

    // The clean demo image, served under another name: pulled, scanned, admitted, running.
    let clean_ref = registry::serve_image(&docker, crane_docker::DEMO_IMAGE, "crane-test/demo", &tag).await;
    let clean_image = format!("127.0.0.1:{}/crane-test/demo:{tag}", clean_ref.port);
    images.0.push(clean_image.clone());
    let clean = unique_name("t-pullok");
    let spec = demo_spec(&clean, 1).replace(crane_docker::DEMO_IMAGE, &clean_image);
    engine.handle.apply(&spec, false).await.expect("the clean image deploys after its pull and scan");
    let scanned = engine.handle.cached_scan(&clean_image).await.unwrap();
    assert!(scanned.is_some(), "the pulled clean image was scanned");
    let owner = engine.handle.owner().to_string();
    wait_for(Duration::from_secs(60), "the pulled demo running", || async {
        (!containers_of(&owner, &clean).await.is_empty()).then_some(())
    })
    .await;
    engine.handle.delete(&clean).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_removed_mid_scan_is_a_clear_error_and_cancel_stops_a_scan() {
    let engine = TestEngine::start().await;
    let mut images = Images(Vec::new());
    let mut files = Vec::new();
    for i in 0..50u32 {
        let data: Vec<u8> =
            (0..1 << 20).map(|j: u32| (j.wrapping_mul(2_654_435_761).wrapping_add(i) >> 11) as u8).collect();
        files.push(f(&format!("data/blob{i}"), 0o644, data));
    }
    let tag = build(&mut images, "big", "USER 1000\n", files.clone()).await;
    let job =
        engine.handle.start_scan(&ScanRequest { image: tag.clone(), trivy: false, refresh: false }).await.unwrap();
    let docker = docker().await;
    wait_for(Duration::from_secs(60), "the scan reading", || async {
        let view = engine.handle.scan_job(job.id).unwrap();
        (view.bytes_read > 0 || view.state != ScanState::Running).then_some(())
    })
    .await;
    let _ = docker.remove_image(&tag, Some(RemoveImageOptionsBuilder::new().force(true).build()), None).await;
    let done = wait_for(Duration::from_secs(60), "the scan ending", || async {
        let view = engine.handle.scan_job(job.id).unwrap();
        (view.state != ScanState::Running).then_some(view)
    })
    .await;
    assert_eq!(done.state, ScanState::Failed, "{done:?}");
    let error = done.error.unwrap();
    assert!(error.contains(&tag), "{error}");

    let tag = build(&mut images, "big2", "USER 1000\n", files).await;
    let job = engine.handle.start_scan(&ScanRequest { image: tag, trivy: false, refresh: false }).await.unwrap();
    engine.handle.cancel_scan(job.id).unwrap();
    let done = wait_for(Duration::from_secs(60), "the cancelled scan ending", || async {
        let view = engine.handle.scan_job(job.id).unwrap();
        (view.state != ScanState::Running).then_some(view)
    })
    .await;
    assert_eq!(done.state, ScanState::Cancelled, "{done:?}");
}
