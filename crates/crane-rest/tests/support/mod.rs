//! A real engine plus REST server in a temporary data directory, and a client for it.

#![allow(dead_code)]

use std::time::Duration;

use crane_engine::{EngineConfig, EngineHandle};
use crane_rest::ApiServer;

/// An engine and its API, stopped by [`TestServer::stop`].
pub struct TestServer {
    pub handle: EngineHandle,
    pub server: Option<ApiServer>,
    pub url: String,
    pub token: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let handle =
            EngineHandle::start(EngineConfig::new(dir.path().join("data")).with_tick(Duration::from_millis(500)))
                .await
                .expect("engine starts");
        let server = crane_rest::start(handle.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("API starts");
        let client = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build().unwrap();
        TestServer { url: server.url.clone(), token: server.token.clone(), handle, server: Some(server), client, dir }
    }

    /// A request with the right token.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url)).bearer_auth(&self.token)
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        self.handle.shutdown().await;
    }
}

/// Reads an `ApiError` body.
pub async fn api_error(response: reqwest::Response) -> crane_api::ApiError {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not an ApiError ({e}): {text}"))
}
