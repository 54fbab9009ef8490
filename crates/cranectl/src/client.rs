//! The REST client: finds the running engine through `<data_dir>/api.json` and `<data_dir>/token` (like kubectl's
//! kubeconfig) and turns every HTTP failure into a [`CliError`] that says what to do. A user with a token of their
//! own (`cranectl user add`, `cranectl token create`) sets `CRANE_TOKEN`, and `CRANE_URL` when the engine's data
//! directory is not theirs to read.
//!
//! **Architecture Invariant:** the token is sent only after the server proved it holds it (`GET /api/v1/hello`,
//! see `crane_rest::hello`): a stale `api.json` must not hand the token to whoever took the port.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crane_api::{
    ApiError, AppView, ApplyRequest, ApplyResult, AuditView, CreateTokenRequest, CreateUserRequest, ErrorCode,
    EventView, IssuedToken, LoadRequest, LoadView, RevisionView, Role, ScaleRequest, StatusView, TokenView,
    UndoRequest, UserCreated, UserView,
};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{CliError, Result};

/// Environment variable with a user token to use instead of the data directory's token.
pub const TOKEN_ENV: &str = "CRANE_TOKEN";
/// Environment variable with the engine's URL, used instead of `<data_dir>/api.json`.
pub const URL_ENV: &str = "CRANE_URL";

/// Quick reads.
const SHORT: Duration = Duration::from_secs(30);
/// Operations that start or stop containers, or build an image.
const LONG: Duration = Duration::from_secs(15 * 60);

/// A client of one running engine.
pub struct Client {
    http: reqwest::Client,
    /// Base URL from api.json, `http://127.0.0.1:PORT`.
    base: String,
    token: String,
    data_dir: PathBuf,
}

/// The answer of routes that only say what they did.
#[derive(Debug, Deserialize)]
struct Message {
    message: String,
}

/// The part of `api.json` the client needs.
#[derive(Debug, Deserialize)]
struct ApiFile {
    url: String,
}

impl Client {
    /// Finds the engine serving `data_dir` (or at `CRANE_URL`) and checks that it holds the token (the data
    /// directory's, or `CRANE_TOKEN`) before anything sends it.
    pub async fn discover(data_dir: &Path) -> Result<Client> {
        let env = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let url = match env(URL_ENV) {
            Some(url) => url,
            None => api_url(data_dir)?,
        };
        let token = match env(TOKEN_ENV) {
            Some(token) => token,
            None => {
                let token_path = data_dir.join(crane_rest::TOKEN_FILE);
                std::fs::read_to_string(&token_path)
                    .map_err(|e| CliError::DataFile {
                        path: token_path.clone(),
                        reason: format!(
                            "{e}; the engine writes it when it starts, so restart the engine (or set {TOKEN_ENV} to \
                             a user token)"
                        ),
                    })?
                    .trim()
                    .to_string()
            }
        };
        let api = ApiFile { url };
        // Every request says it comes from cranectl, so the engine records the CLI as its door.
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(crane_rest::CLIENT_HEADER, reqwest::header::HeaderValue::from_static("cranectl"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| CliError::Transport { url: api.url.clone(), reason: e.to_string() })?;
        let client =
            Client { http, base: api.url.trim_end_matches('/').to_string(), token, data_dir: data_dir.to_path_buf() };
        client.verify().await?;
        Ok(client)
    }

    /// Asks the server for the hello proof of a fresh nonce (no token sent) and checks it.
    async fn verify(&self) -> Result<()> {
        let refuse =
            |reason: String| CliError::NotTheEngine { data_dir: self.data_dir.clone(), url: self.base.clone(), reason };
        // The proof names the port the engine listens on, as api.json says it.
        let port = reqwest::Url::parse(&self.base)
            .ok()
            .and_then(|url| url.port_or_known_default())
            .ok_or_else(|| refuse("api.json names no port".into()))?;
        let nonce = crane_rest::hello::new_nonce();
        // A user token is proven with its hash as the key, the engine's own token with itself.
        let user_token = crane_engine::access::token_id(&self.token);
        let mut query = vec![("nonce", nonce.clone())];
        if let Some(id) = user_token {
            query.push(("token_id", id.to_string()));
        }
        let request = self
            .http
            .get(format!("{}{}/hello", self.base, crane_api::API_PREFIX))
            .query(&query)
            .timeout(Duration::from_secs(10));
        let response = request.send().await.map_err(|e| self.transport(e))?;
        if user_token.is_some() && response.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err(CliError::TokenUnknown { url: self.base.clone() });
        }
        if !response.status().is_success() {
            return Err(refuse(format!("it answered {} to the hello check", response.status())));
        }
        // A proof is 64 hex characters; a stranger's answer is not read without bound.
        let body = response.bytes().await.map_err(|e| refuse(format!("its answer broke off: {e}")))?;
        if body.len() > 4096 {
            return Err(refuse("its answer to the hello check is too long".into()));
        }
        let hello: crane_rest::routes::Hello =
            serde_json::from_slice(&body).map_err(|_| refuse("its answer to the hello check is not a proof".into()))?;
        let key = match user_token {
            Some(_) => crane_rest::hello::user_token_key(&self.token),
            None => self.token.clone(),
        };
        if !crane_rest::hello::verify(&key, port, &nonce, &hello.proof) {
            return Err(refuse("its proof does not match the token in the data dir".into()));
        }
        Ok(())
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{}{path}", self.base, crane_api::API_PREFIX)).bearer_auth(&self.token)
    }

    /// Sends a request; any non-2xx answer becomes [`CliError::Api`].
    async fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = request.send().await.map_err(|e| self.transport(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let error = serde_json::from_str::<ApiError>(&text).unwrap_or_else(|_| ApiError {
            code: ErrorCode::Internal,
            message: format!("the engine answered {status}: {}", text.trim()),
            diagnostics: Vec::new(),
        });
        // The caller that sent a rule file or a policy names it; a policy error is a policy's wherever it came from.
        let document = if error.code == crane_api::ErrorCode::InvalidPolicy { "policy" } else { "spec" };
        Err(CliError::Api { error, source_name: None, document })
    }

    fn transport(&self, err: reqwest::Error) -> CliError {
        if err.is_connect() {
            CliError::Unreachable { data_dir: self.data_dir.clone(), url: self.base.clone() }
        } else if err.is_timeout() {
            CliError::Transport { url: self.base.clone(), reason: "no answer in time (timed out)".into() }
        } else {
            CliError::Transport { url: self.base.clone(), reason: error_chain(&err) }
        }
    }

    async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        let response = self.send(request).await?;
        response.json().await.map_err(|e| CliError::Transport {
            url: self.base.clone(),
            reason: format!("unexpected answer ({}); are cranectl and the engine the same version?", error_chain(&e)),
        })
    }

    /// `GET /policies`.
    pub async fn list_policies(&self) -> Result<Vec<crane_api::PolicyView>> {
        self.json(self.request(Method::GET, "/policies").timeout(SHORT)).await
    }

    /// `GET /policies/{name}`.
    pub async fn get_policy(&self, name: &str) -> Result<crane_api::PolicyView> {
        self.json(self.request(Method::GET, &format!("/policies/{}", segment(name))).timeout(SHORT)).await
    }

    /// `PUT /policies/{name}`.
    pub async fn set_policy(&self, name: &str, update: &crane_api::PolicyUpdate) -> Result<crane_api::PolicyView> {
        let request = self.request(Method::PUT, &format!("/policies/{}", segment(name)));
        self.json(request.timeout(LONG).json(update)).await
    }

    /// `POST /policies/{name}/validate`.
    pub async fn validate_policy(
        &self,
        name: &str,
        update: &crane_api::PolicyUpdate,
    ) -> Result<crane_api::PolicyValidation> {
        let request = self.request(Method::POST, &format!("/policies/{}/validate", segment(name)));
        self.json(request.timeout(LONG).json(update)).await
    }

    /// `POST /policies/{name}/reset`.
    pub async fn reset_policy(&self, name: &str) -> Result<crane_api::PolicyView> {
        self.json(self.request(Method::POST, &format!("/policies/{}/reset", segment(name))).timeout(LONG)).await
    }

    /// `POST /policies/{name}/eval`.
    pub async fn eval_policy(
        &self,
        name: &str,
        request: &crane_api::PolicyEvalRequest,
    ) -> Result<crane_api::PolicyEvalResult> {
        let http = self.request(Method::POST, &format!("/policies/{}/eval", segment(name)));
        self.json(http.timeout(LONG).json(request)).await
    }

    /// `POST /policies/test`.
    pub async fn test_policies(&self) -> Result<crane_api::PolicyTestReport> {
        self.json(self.request(Method::POST, "/policies/test").timeout(LONG)).await
    }

    /// `POST /token/rotate`: the file that holds the new token, and the engine's message.
    pub async fn rotate_token(&self) -> Result<(String, String)> {
        let answer: crane_api::TokenRotated =
            self.json(self.request(Method::POST, "/token/rotate").timeout(SHORT)).await?;
        Ok((answer.token_file, answer.message))
    }

    /// `GET /users`.
    pub async fn list_users(&self) -> Result<Vec<UserView>> {
        self.json(self.request(Method::GET, "/users").timeout(SHORT)).await
    }

    /// `POST /users`: the user and their first token.
    pub async fn create_user(&self, name: &str, role: Role) -> Result<UserCreated> {
        let body = CreateUserRequest { name: name.to_string(), role };
        self.json(self.request(Method::POST, "/users").timeout(SHORT).json(&body)).await
    }

    /// `DELETE /users/{name}`.
    pub async fn remove_user(&self, name: &str) -> Result<()> {
        self.send(self.request(Method::DELETE, &format!("/users/{}", segment(name))).timeout(SHORT)).await?;
        Ok(())
    }

    /// `GET /tokens`.
    pub async fn list_tokens(&self) -> Result<Vec<TokenView>> {
        self.json(self.request(Method::GET, "/tokens").timeout(SHORT)).await
    }

    /// `POST /tokens`: the new token, shown once.
    pub async fn create_token(&self, role: Role, user: Option<String>, label: Option<String>) -> Result<IssuedToken> {
        let body = CreateTokenRequest { role, user, label };
        self.json(self.request(Method::POST, "/tokens").timeout(SHORT).json(&body)).await
    }

    /// `DELETE /tokens/{id}`.
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        self.send(self.request(Method::DELETE, &format!("/tokens/{}", segment(id))).timeout(SHORT)).await?;
        Ok(())
    }

    /// `GET /audit`.
    pub async fn audit(&self, user: Option<&str>, app: Option<&str>, limit: u32) -> Result<Vec<AuditView>> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(user) = user {
            query.push(("user", user.to_string()));
        }
        if let Some(app) = app {
            query.push(("app", app.to_string()));
        }
        self.json(self.request(Method::GET, "/audit").query(&query).timeout(SHORT)).await
    }

    /// `GET /settings`.
    pub async fn settings(&self) -> Result<crane_api::SettingsView> {
        self.json(self.request(Method::GET, "/settings").timeout(SHORT)).await
    }

    /// `PUT /settings`: the settings after the change.
    pub async fn set_settings(&self, update: &crane_api::SettingsUpdate) -> Result<crane_api::SettingsView> {
        self.json(self.request(Method::PUT, "/settings").timeout(SHORT).json(update)).await
    }

    /// `GET /alerts/rules`.
    pub async fn alert_rules(&self) -> Result<crane_api::AlertRulesView> {
        self.json(self.request(Method::GET, "/alerts/rules").timeout(SHORT)).await
    }

    /// `PUT /alerts/rules`.
    pub async fn set_alert_rules(&self, yaml: String) -> Result<crane_api::AlertRulesView> {
        let body = crane_api::AlertRulesRequest { yaml };
        self.json(self.request(Method::PUT, "/alerts/rules").timeout(SHORT).json(&body)).await
    }

    /// `POST /alerts/rules/reset`.
    pub async fn reset_alert_rules(&self) -> Result<crane_api::AlertRulesView> {
        self.json(self.request(Method::POST, "/alerts/rules/reset").timeout(SHORT)).await
    }

    /// `GET /alerts/rules/export`: the Prometheus rule file.
    pub async fn export_alert_rules(&self) -> Result<String> {
        let response = self.send(self.request(Method::GET, "/alerts/rules/export").timeout(SHORT)).await?;
        response.text().await.map_err(|e| self.stream_error(e))
    }

    /// `GET /alerts/webhook/info`, or `POST /alerts/webhook/rotate` first.
    pub async fn webhook(&self, rotate: bool) -> Result<crane_api::WebhookInfo> {
        let request = if rotate {
            self.request(Method::POST, "/alerts/webhook/rotate")
        } else {
            self.request(Method::GET, "/alerts/webhook/info")
        };
        self.json(request.timeout(SHORT)).await
    }

    /// `GET /alerts/active`.
    pub async fn active_alerts(&self) -> Result<Vec<crane_api::AlertView>> {
        self.json(self.request(Method::GET, "/alerts/active").timeout(SHORT)).await
    }

    /// `GET /alerts/history`.
    pub async fn alert_history(&self, limit: u32) -> Result<Vec<crane_api::AlertTransitionView>> {
        self.json(self.request(Method::GET, "/alerts/history").query(&[("limit", limit)]).timeout(SHORT)).await
    }

    /// `GET /status`.
    pub async fn status(&self) -> Result<StatusView> {
        self.json(self.request(Method::GET, "/status").timeout(SHORT)).await
    }

    /// `GET /apps`.
    pub async fn list_apps(&self) -> Result<Vec<AppView>> {
        self.json(self.request(Method::GET, "/apps").timeout(SHORT)).await
    }

    /// `GET /apps/{name}`.
    pub async fn get_app(&self, name: &str) -> Result<AppView> {
        self.json(self.request(Method::GET, &format!("/apps/{}", segment(name))).timeout(SHORT)).await
    }

    /// `POST /apps`.
    pub async fn apply(&self, yaml: String, create_only: bool) -> Result<ApplyResult> {
        let body = ApplyRequest { yaml, create_only };
        self.json(self.request(Method::POST, "/apps").timeout(LONG).json(&body)).await
    }

    /// `POST /apply`: every app of a `---` separated file.
    pub async fn apply_all(&self, yaml: String, create_only: bool) -> Result<crane_api::ApplyAllResult> {
        let body = ApplyRequest { yaml, create_only };
        self.json(self.request(Method::POST, "/apply").timeout(LONG).json(&body)).await
    }

    /// `POST /check`: a spec or a file of specs checked without applying it.
    pub async fn check(&self, yaml: String) -> Result<crane_api::SpecFileCheckView> {
        let body = crane_api::CheckRequest { yaml };
        // A file of up to 100 apps, each asking Docker for its image and the admission policy for a decision.
        self.json(self.request(Method::POST, "/check").timeout(LONG).json(&body)).await
    }

    /// `GET /images`.
    pub async fn images(&self) -> Result<Vec<crane_api::ImageView>> {
        self.json(self.request(Method::GET, "/images").timeout(SHORT)).await
    }

    /// `GET /labs`.
    pub async fn lab_list(&self) -> Result<Vec<crane_api::LabSummaryView>> {
        self.json(self.request(Method::GET, "/labs").timeout(SHORT)).await
    }

    /// `POST /labs` with a shipped lab's id.
    pub async fn lab_load_shipped(&self, id: &str) -> Result<crane_api::LabView> {
        let body = crane_api::LabLoadRequest { shipped: id.to_string() };
        self.json(self.request(Method::POST, "/labs").timeout(LONG).json(&body)).await
    }

    /// `POST /labs` with a lab archive (tar or tar.gz) as the body.
    pub async fn lab_load_archive(&self, archive: Vec<u8>) -> Result<crane_api::LabView> {
        let request = self
            .request(Method::POST, "/labs")
            .timeout(LONG)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(archive);
        self.json(request).await
    }

    /// `GET /labs/{id}`.
    pub async fn lab_status(&self, id: &str) -> Result<crane_api::LabView> {
        self.json(self.request(Method::GET, &format!("/labs/{}", segment(id))).timeout(SHORT)).await
    }

    /// `POST /labs/{id}/reset`.
    pub async fn lab_reset(&self, id: &str) -> Result<crane_api::LabResetView> {
        self.json(self.request(Method::POST, &format!("/labs/{}/reset", segment(id))).timeout(LONG)).await
    }

    /// `GET /experiments`.
    pub async fn experiment_list(&self) -> Result<Vec<crane_api::ExperimentView>> {
        self.json(self.request(Method::GET, "/experiments").timeout(SHORT)).await
    }

    /// `POST /experiments`: start recording a run.
    pub async fn experiment_record(
        &self,
        request: &crane_api::ExperimentRecordRequest,
    ) -> Result<crane_api::ExperimentView> {
        self.json(self.request(Method::POST, "/experiments").timeout(LONG).json(request)).await
    }

    /// `GET /experiments/{name}`: the run with its points.
    pub async fn experiment_get(&self, name: &str) -> Result<crane_api::ExperimentView> {
        self.json(self.request(Method::GET, &format!("/experiments/{}", segment(name))).timeout(SHORT)).await
    }

    /// `POST /experiments/{name}/stop`.
    pub async fn experiment_stop(&self, name: &str) -> Result<crane_api::ExperimentView> {
        self.json(self.request(Method::POST, &format!("/experiments/{}/stop", segment(name))).timeout(LONG)).await
    }

    /// `DELETE /experiments/{name}`.
    pub async fn experiment_delete(&self, name: &str) -> Result<()> {
        self.send(self.request(Method::DELETE, &format!("/experiments/{}", segment(name))).timeout(SHORT)).await?;
        Ok(())
    }

    /// `GET /experiments/compare?runs=a,b`.
    pub async fn experiment_compare(&self, runs: &[String]) -> Result<crane_api::ExperimentComparisonView> {
        let request = self.request(Method::GET, "/experiments/compare").query(&[("runs", runs.join(","))]);
        self.json(request.timeout(SHORT)).await
    }

    /// `GET /experiments/export?runs=a,b&format=F` (with `metric`: `GET /experiments/overlay`, one chart): the
    /// file's bytes.
    pub async fn experiment_export(
        &self,
        runs: &[String],
        format: crane_api::ExportFormat,
        metric: Option<crane_api::ExperimentMetric>,
    ) -> Result<Vec<u8>> {
        let mut query = vec![("runs", runs.join(",")), ("format", wire_word(&format))];
        let path = match metric {
            Some(m) => {
                query.push(("metric", wire_word(&m)));
                "/experiments/overlay"
            }
            None => "/experiments/export",
        };
        let response = self.send(self.request(Method::GET, path).query(&query).timeout(LONG)).await?;
        Ok(response.bytes().await.map_err(|e| self.stream_error(e))?.to_vec())
    }

    /// `POST /apps/{name}/scale`.
    pub async fn scale(&self, name: &str, replicas: u32) -> Result<AppView> {
        let request = self.request(Method::POST, &format!("/apps/{}/scale", segment(name)));
        self.json(request.timeout(LONG).json(&ScaleRequest { replicas })).await
    }

    /// `DELETE /apps/{name}`.
    pub async fn delete(&self, name: &str) -> Result<()> {
        self.send(self.request(Method::DELETE, &format!("/apps/{}", segment(name))).timeout(LONG)).await?;
        Ok(())
    }

    /// `GET /apps/{name}/rollout/history`: revisions, oldest first.
    pub async fn rollout_history(&self, name: &str) -> Result<Vec<RevisionView>> {
        self.json(self.request(Method::GET, &format!("/apps/{}/rollout/history", segment(name))).timeout(SHORT)).await
    }

    /// `POST /apps/{name}/rollout/undo`: the app after the change.
    pub async fn rollout_undo(&self, name: &str, to: Option<u32>) -> Result<AppView> {
        let request = self.request(Method::POST, &format!("/apps/{}/rollout/undo", segment(name)));
        self.json(request.timeout(LONG).json(&UndoRequest { to })).await
    }

    /// `POST /apps/{name}/rollout/restart`: the app after the change.
    pub async fn rollout_restart(&self, name: &str) -> Result<AppView> {
        let request = self.request(Method::POST, &format!("/apps/{}/rollout/restart", segment(name)));
        self.json(request.timeout(LONG)).await
    }

    /// `GET /apps/{name}/nginx?listen=PORT`: the NGINX config text.
    pub async fn export_nginx(&self, name: &str, listen: u16) -> Result<String> {
        let request = self.request(Method::GET, &format!("/apps/{}/nginx", segment(name)));
        let response = self.send(request.query(&[("listen", listen)]).timeout(SHORT)).await?;
        response.text().await.map_err(|e| self.stream_error(e))
    }

    /// `PUT /apps/{name}/nginx`: what the engine did. The paths must be absolute.
    pub async fn manage_nginx(&self, name: &str, config_path: &str, pid_file: &str, listen: u16) -> Result<String> {
        let body = serde_json::json!({ "config_path": config_path, "pid_file": pid_file, "listen": listen });
        let request = self.request(Method::PUT, &format!("/apps/{}/nginx", segment(name)));
        let answer: Message = self.json(request.timeout(SHORT).json(&body)).await?;
        Ok(answer.message)
    }

    /// `DELETE /apps/{name}/nginx`.
    pub async fn unmanage_nginx(&self, name: &str) -> Result<String> {
        let request = self.request(Method::DELETE, &format!("/apps/{}/nginx", segment(name)));
        let answer: Message = self.json(request.timeout(SHORT)).await?;
        Ok(answer.message)
    }

    /// `POST /apps/{name}/load`: the run as it started.
    pub async fn start_load(&self, name: &str, request: &LoadRequest) -> Result<LoadView> {
        let path = format!("/apps/{}/load", segment(name));
        self.json(self.request(Method::POST, &path).timeout(SHORT).json(request)).await
    }

    /// `GET /apps/{name}/load`: the running or last run, `None` when none was started.
    pub async fn load_status(&self, name: &str) -> Result<Option<LoadView>> {
        let request = self.request(Method::GET, &format!("/apps/{}/load", segment(name))).timeout(SHORT);
        match self.json(request).await {
            Ok(view) => Ok(Some(view)),
            // 404 is also "no such app"; the message tells the two apart.
            Err(CliError::Api { error: ApiError { code: ErrorCode::NotFound, message, .. }, .. })
                if message.starts_with(crane_rest::routes::NO_LOAD_RUN) =>
            {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// `DELETE /apps/{name}/load`: the run as it was when asked to stop.
    pub async fn stop_load(&self, name: &str) -> Result<LoadView> {
        self.json(self.request(Method::DELETE, &format!("/apps/{}/load", segment(name))).timeout(SHORT)).await
    }

    /// `GET /apps/{name}/charts/{metric}?range=R`: the SVG text.
    pub async fn chart(&self, name: &str, metric: &str, range: &str) -> Result<String> {
        let request = self.request(Method::GET, &format!("/apps/{}/charts/{}", segment(name), segment(metric)));
        let response = self.send(request.query(&[("range", range)]).timeout(SHORT)).await?;
        response.text().await.map_err(|e| self.stream_error(e))
    }

    /// `POST /apps/{name}/requests`: `count` requests through the app's load balancer, with who answered each.
    pub async fn send_requests(&self, name: &str, count: u32, path: &str) -> Result<crane_api::SendRequestsView> {
        let request = self.request(Method::POST, &format!("/apps/{}/requests", segment(name)));
        let count = count.to_string();
        // Up to 50 requests of at most 3 s each.
        self.json(request.query(&[("count", count.as_str()), ("path", path)]).timeout(Duration::from_secs(160))).await
    }

    /// `GET /metrics` (outside the API prefix): Crane's metrics in the Prometheus text format.
    pub async fn metrics(&self) -> Result<String> {
        let request = self.http.get(format!("{}/metrics", self.base)).bearer_auth(&self.token).timeout(SHORT);
        let response = self.send(request).await?;
        response.text().await.map_err(|e| self.stream_error(e))
    }

    /// `GET /events`.
    pub async fn events(&self, app: Option<&str>, limit: u32) -> Result<Vec<EventView>> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(app) = app {
            query.push(("app", app.to_string()));
        }
        self.json(self.request(Method::GET, "/events").query(&query).timeout(SHORT)).await
    }

    /// `GET /apps/{name}/logs`: the streaming response (NDJSON).
    pub async fn logs(&self, name: &str, follow: bool, tail: Option<u32>) -> Result<Response> {
        let mut query = vec![("follow", follow.to_string())];
        if let Some(tail) = tail {
            query.push(("tail", tail.to_string()));
        }
        self.send(self.request(Method::GET, &format!("/apps/{}/logs", segment(name))).query(&query)).await
    }

    /// `POST /demo-image`: the image name when built.
    pub async fn build_demo_image(&self) -> Result<String> {
        #[derive(Deserialize)]
        struct Built {
            image: String,
        }
        let built: Built = self.json(self.request(Method::POST, "/demo-image").timeout(LONG)).await?;
        Ok(built.image)
    }

    /// `POST /scan`: the scan report of an image.
    pub async fn scan(&self, request: &crane_api::ScanRequest) -> Result<crane_api::ScanReport> {
        self.json(self.request(Method::POST, "/scan").timeout(LONG).json(request)).await
    }

    /// `POST /scan/sbom`: the CycloneDX SBOM of an image.
    pub async fn scan_sbom(&self, request: &crane_api::ScanRequest) -> Result<serde_json::Value> {
        self.json(self.request(Method::POST, "/scan/sbom").timeout(LONG).json(request)).await
    }

    /// `GET /scan/db`.
    pub async fn advisory_db(&self) -> Result<crane_api::AdvisoryDbView> {
        self.json(self.request(Method::GET, "/scan/db").timeout(SHORT)).await
    }

    /// `POST /scan/db/import`.
    pub async fn import_advisories(&self, path: &str) -> Result<crane_api::ImportResult> {
        let body = crane_api::ImportRequest { path: path.to_string() };
        self.json(self.request(Method::POST, "/scan/db/import").timeout(LONG).json(&body)).await
    }

    /// `POST /demo-image/vulnerable`: the image name when built.
    pub async fn build_vulnerable_demo_image(&self) -> Result<String> {
        #[derive(Deserialize)]
        struct Built {
            image: String,
        }
        let built: Built = self.json(self.request(Method::POST, "/demo-image/vulnerable").timeout(LONG)).await?;
        Ok(built.image)
    }

    /// `GET /watch`: the server-sent events response; returns once the server has subscribed.
    pub async fn watch(&self) -> Result<Response> {
        self.send(self.request(Method::GET, "/watch")).await
    }

    /// Reading a streamed body failed.
    pub fn stream_error(&self, err: reqwest::Error) -> CliError {
        CliError::Transport { url: self.base.clone(), reason: format!("the stream broke: {}", error_chain(&err)) }
    }
}

/// The URL `<data_dir>/api.json` names.
fn api_url(data_dir: &Path) -> Result<String> {
    let api_path = data_dir.join(crane_rest::API_FILE);
    let text = match std::fs::read_to_string(&api_path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::NoEngine { data_dir: data_dir.to_path_buf() })
        }
        Err(err) => return Err(CliError::DataFile { path: api_path, reason: err.to_string() }),
    };
    let api: ApiFile = serde_json::from_str(&text).map_err(|e| CliError::DataFile {
        path: api_path.clone(),
        reason: format!("{e}; it should be {{\"url\": ..., \"pid\": ...}}; restart the engine to rewrite it"),
    })?;
    Ok(api.url)
}

/// Percent-encodes a path segment (app names are plain, but a typo must not change the route).
/// The wire spelling of a unit enum (`png`, `cpu_percent`), for a query parameter.
fn wire_word<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The error with its causes, which reqwest keeps in `source()`.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("web-1"), "web-1");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[tokio::test]
    async fn missing_api_file_says_no_engine() {
        let dir = tempfile::tempdir().unwrap();
        let err = Client::discover(dir.path()).await.err().unwrap();
        assert!(err.to_string().starts_with("no Crane engine is running for data dir"), "{err}");
    }
}
