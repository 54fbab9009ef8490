//! End-to-end: Debian's NGINX, started by the test on loopback, serves an app's replicas with the config Crane
//! exports, and is rewritten and reloaded by Crane when the ready set changes ("managed" mode).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crane_e2e::*;
use crane_engine::ManagedNginx;

struct Nginx {
    prefix: tempfile::TempDir,
}

impl Nginx {
    fn start(include: &Path) -> Nginx {
        let nginx = which("nginx").expect("nginx is not installed: `apt-get install nginx` (make test does this)");
        let prefix = tempfile::tempdir().unwrap();
        let p = prefix.path();
        for dir in ["logs", "tmp"] {
            std::fs::create_dir_all(p.join(dir)).unwrap();
        }
        let conf = format!(
            "worker_processes 1;\npid {pid};\nerror_log {p}/logs/error.log;\nevents {{ worker_connections 256; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {p}/tmp;\n  proxy_temp_path {p}/tmp;\n  fastcgi_temp_path {p}/tmp;\n  uwsgi_temp_path {p}/tmp;\n  scgi_temp_path {p}/tmp;\n  include {include};\n}}\n",
            pid = p.join("nginx.pid").display(),
            p = p.display(),
            include = include.display()
        );
        std::fs::write(p.join("nginx.conf"), conf).unwrap();
        let status =
            Command::new(nginx).arg("-p").arg(p).arg("-c").arg(p.join("nginx.conf")).status().expect("run nginx");
        assert!(
            status.success(),
            "nginx did not start: {}",
            std::fs::read_to_string(p.join("logs/error.log")).unwrap_or_default()
        );
        Nginx { prefix }
    }

    fn pid_file(&self) -> std::path::PathBuf {
        self.prefix.path().join("nginx.pid")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.pid_file()) {
            let _ = Command::new("kill").arg("-QUIT").arg(pid.trim()).status();
        }
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].iter().map(|d| Path::new(d).join(name)).find(|p| p.exists())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn who_answers(url: &str, n: usize) -> std::collections::BTreeSet<String> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..n {
        if let Ok(resp) = client.get(url).send().await {
            if resp.status().is_success() {
                seen.insert(resp.text().await.unwrap_or_default().trim().to_string());
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_serves_the_replicas_with_the_exported_config_and_follows_scaling() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-nginx");
    engine.handle.apply(&demo_spec(&app, 2), false).await.expect("apply");
    wait_for(Duration::from_secs(60), "2 ready", || async {
        (engine.handle.get_app(&app).await.ok()?.ready == 2).then_some(())
    })
    .await;

    let listen = free_port();
    let dir = tempfile::tempdir().unwrap();
    let include = dir.path().join("crane-app.conf");
    let exported = engine.handle.export_nginx(&app, listen).await.expect("export");
    assert!(exported.contains("2 ready instance(s)"), "{exported}");
    std::fs::write(&include, &exported).unwrap();
    let nginx = Nginx::start(&include);
    let url = format!("http://127.0.0.1:{listen}/");
    let seen = wait_for(Duration::from_secs(10), "NGINX answering from both replicas", || async {
        let seen = who_answers(&url, 10).await;
        (seen.len() == 2).then_some(seen)
    })
    .await;
    assert!(seen.iter().all(|s| s.starts_with("hello from")), "{seen:?}");

    // Managed: Crane rewrites the file and reloads NGINX when the ready set changes.
    let managed = ManagedNginx { config_path: include.clone(), pid_file: nginx.pid_file(), listen };
    engine.handle.manage_nginx(&app, Some(managed)).await.expect("manage");
    engine.handle.scale(&app, 3).await.expect("scale");
    wait_for(Duration::from_secs(30), "NGINX answering from 3 replicas after a reload", || async {
        (who_answers(&url, 15).await.len() == 3).then_some(())
    })
    .await;
    let events = engine.handle.events(Some(&app), 100).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "nginx.reloaded"), "no nginx.reloaded event");
    engine.handle.delete(&app).await.expect("delete");
}
