//! A minimal Docker registry (the Distribution API's pull side: `/v2/`, manifests, blobs) on a loopback port, for
//! tests of what happens when Crane deploys an image that is not on the engine yet. No registry image can be pulled
//! on these machines, so the tests build an image locally, export it (`docker save`, through the API), serve it from
//! here under another name and remove the local copy; the Docker engine then pulls it from `127.0.0.1:<port>`
//! (loopback registries need no TLS).

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use futures_util::StreamExt;
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A served registry; it stops when dropped.
pub struct LocalRegistry {
    /// Its port on 127.0.0.1.
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn digest(data: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(data))
}

/// The manifest and blobs of an image, as a registry serves them.
struct Served {
    manifests: BTreeMap<String, Vec<u8>>,
    blobs: BTreeMap<String, Vec<u8>>,
}

/// Exports the local image `source` and serves it as `<repository>:<tag>`.
pub async fn serve_image(docker: &bollard::Docker, source: &str, repository: &str, tag: &str) -> LocalRegistry {
    let mut saved = Vec::new();
    let mut stream = docker.export_image(source);
    while let Some(chunk) = stream.next().await {
        saved.extend_from_slice(&chunk.expect("docker save"));
    }
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut archive = tar::Archive::new(saved.as_slice());
    for entry in archive.entries().expect("a tar") {
        let mut entry = entry.expect("an entry");
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().expect("a path").to_string_lossy().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        files.insert(path, data);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).expect("manifest.json");
    let config = files[manifest[0]["Config"].as_str().expect("Config")].clone();
    let mut blobs = BTreeMap::new();
    let mut layers = Vec::new();
    for path in manifest[0]["Layers"].as_array().expect("Layers") {
        let plain = &files[path.as_str().expect("a layer path")];
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut z, plain).expect("gzip");
        let gz = z.finish().expect("gzip");
        layers.push(serde_json::json!({
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": gz.len(),
            "digest": digest(&gz),
        }));
        blobs.insert(digest(&gz), gz);
    }
    let image_manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config.len(), "digest": digest(&config)},
        "layers": layers,
    }))
    .expect("json");
    blobs.insert(digest(&config), config);
    let mut manifests = BTreeMap::new();
    manifests.insert(format!("{repository}:{}", digest(&image_manifest)), image_manifest.clone());
    manifests.insert(format!("{repository}:{tag}"), image_manifest);
    let served = Arc::new(Served { manifests, blobs });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let served = served.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if head.is_empty() && byte[0] == 0x16 {
                        // A TLS ClientHello: Docker tries https first; closing makes it fall back to plain HTTP.
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let mut words = head.split_whitespace();
                let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                let (status, content_type, body, digest_header) = route(&served, path);
                let mut answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
                     docker-distribution-api-version: registry/2.0\r\nconnection: close\r\n",
                    body.len()
                );
                if let Some(d) = digest_header {
                    answer.push_str(&format!("docker-content-digest: {d}\r\n"));
                }
                answer.push_str("\r\n");
                let _ = socket.write_all(answer.as_bytes()).await;
                if method != "HEAD" {
                    let _ = socket.write_all(&body).await;
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    LocalRegistry { port, task }
}

fn route(served: &Served, path: &str) -> (&'static str, &'static str, Vec<u8>, Option<String>) {
    let not_found = ("404 Not Found", "application/json", br#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#.to_vec(), None);
    if path == "/v2/" || path == "/v2" {
        return ("200 OK", "application/json", b"{}".to_vec(), None);
    }
    let Some(rest) = path.strip_prefix("/v2/") else { return not_found };
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        return match served.manifests.get(&format!("{name}:{reference}")) {
            Some(m) => ("200 OK", "application/vnd.docker.distribution.manifest.v2+json", m.clone(), Some(digest(m))),
            None => not_found,
        };
    }
    if let Some((_, d)) = rest.rsplit_once("/blobs/") {
        return match served.blobs.get(d) {
            Some(b) => ("200 OK", "application/octet-stream", b.clone(), Some(d.to_string())),
            None => not_found,
        };
    }
    not_found
}
