//! What the window's wizard, first-run checklist and "Send requests" ask of the engine, in every door: a spec
//! checked without applying it (diagnostics, admission preview without the image scan, image presence), the local
//! images, whether the demo image is present, and a few requests sent through an app's load balancer with the
//! instance that answered each.

use std::time::{Duration, Instant};

use crane_api::{AdmissionPreview, DemoImageView, ImageView, RequestHitView, SendRequestsView, SpecCheckView};
use crane_core::access::Permission;
use crane_core::policy::{AdmissionAction, AdmissionDecision, AdmissionInput, PolicyName};

use crate::{internal, EngineError, EngineHandle, Result};

/// Most requests one "Send requests" sends.
pub const MAX_SEND_REQUESTS: u32 = 50;
/// How long one of those requests may take.
pub const SEND_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Most images listed.
pub const MAX_IMAGES: usize = 500;
/// The header the demo image names its instance in.
const INSTANCE_HEADER: &str = "x-crane-instance";

impl EngineHandle {
    /// Checks a spec without applying it: every problem with line and column (with the engine's safety floor), and
    /// when it parses, whether the app exists, whether its image is present and what the admission policy would
    /// say (without the image scan, which runs at deploy time). Nothing is recorded.
    pub async fn check_spec(&self, yaml: &str) -> Result<SpecCheckView> {
        crate::error::check_spec_size(yaml)?;
        let floor = self.safety_floor().await?;
        let source = yaml.to_string();
        let parsed = tokio::task::spawn_blocking(move || crane_core::validate::parse_spec_with(&source, &floor))
            .await
            .map_err(|e| EngineError::Internal(format!("parsing the spec failed: {e}")))?;
        let spec = match parsed {
            Ok(spec) => spec,
            Err(diags) => {
                return Ok(SpecCheckView {
                    valid: false,
                    diagnostics: diags
                        .into_iter()
                        .map(|d| crane_api::Diagnostic {
                            line: d.line,
                            column: d.column,
                            path: d.path,
                            message: d.message,
                            fix: d.fix,
                        })
                        .collect(),
                    name: None,
                    image: None,
                    exists: false,
                    image_present: None,
                    is_demo_image: false,
                    admission: None,
                    admission_error: None,
                })
            }
        };
        let existing = self.inner.store.get_app(&spec.name).await.map_err(internal)?;
        let image_present = match self.inner.scans.image_source() {
            Some(source) => source.image_info(&spec.image).await.ok().map(|info| info.is_some()),
            None => None,
        };
        let settings = self.settings().await?;
        let door = crate::policies::door_word(self.caller().door);
        let action = if existing.is_some() { AdmissionAction::Update } else { AdmissionAction::Create };
        let input = AdmissionInput {
            action,
            spec: &spec,
            current: existing.as_ref().map(|e| &e.spec),
            user: &self.caller().user,
            door: &door,
            settings: crane_core::policy::EngineSettings {
                host_path_allow: &settings.host_path_allow,
                allow_unsafe: settings.allow_unsafe,
            },
            scan: None,
        }
        .to_value();
        let (admission, admission_error) = match crate::policies::decide(&self.inner, PolicyName::Admission, &input)
            .await
            .and_then(|output| AdmissionDecision::from_output(&output))
        {
            Ok(d) => (Some(AdmissionPreview { admitted: d.admitted(), deny: d.deny, warn: d.warn }), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Ok(SpecCheckView {
            valid: true,
            diagnostics: Vec::new(),
            is_demo_image: spec.image == crane_docker::DEMO_IMAGE,
            name: Some(spec.name.clone()),
            image: Some(spec.image.clone()),
            exists: existing.is_some(),
            image_present,
            admission,
            admission_error,
        })
    }

    /// The tagged images of the Docker engine, one row per tag, sorted by reference.
    pub async fn images(&self) -> Result<Vec<ImageView>> {
        let source = self.inner.scans.image_source().ok_or_else(|| {
            EngineError::DockerUnreachable("the Docker engine is not connected; start Docker and try again".to_string())
        })?;
        let images = source.list_images(MAX_IMAGES).await.map_err(crate::runtime_error)?;
        let mut rows: Vec<ImageView> = images
            .into_iter()
            .flat_map(|i| {
                let (id, size) = (i.id, i.size.map(|s| s as f64));
                i.repo_tags.into_iter().map(move |reference| ImageView {
                    demo: reference == crane_docker::DEMO_IMAGE,
                    reference,
                    id: id.clone(),
                    size,
                })
            })
            .collect();
        rows.sort_by(|a, b| a.reference.cmp(&b.reference));
        rows.truncate(MAX_IMAGES);
        Ok(rows)
    }

    /// Whether the demo image is present (null when Docker cannot be asked), and its tag.
    pub async fn demo_image(&self) -> DemoImageView {
        let present = match self.inner.scans.image_source() {
            Some(source) => source.image_info(crane_docker::DEMO_IMAGE).await.ok().map(|info| info.is_some()),
            None => None,
        };
        DemoImageView { reference: crane_docker::DEMO_IMAGE.to_string(), present }
    }

    /// Sends `count` (1..=50) `GET path` requests one after the other to the app's load balancer and says which
    /// instance answered each (the `X-Crane-Instance` header the demo image sends), as a browser's refreshes would.
    /// Operators: their own apps.
    pub async fn send_requests(&self, name: &str, count: u32, path: Option<&str>) -> Result<SendRequestsView> {
        self.authorize(Permission::ManageApp, Some(name)).await?;
        if !(1..=MAX_SEND_REQUESTS).contains(&count) {
            return Err(EngineError::BadRequest(format!(
                "count: {count} is outside 1..{MAX_SEND_REQUESTS}; send e.g. 10 requests"
            )));
        }
        let path = path.unwrap_or("/");
        if !path.starts_with('/') || path.len() > 1024 || path.chars().any(|c| c.is_control() || c == ' ') {
            return Err(EngineError::BadRequest(
                "path: starts with `/`, has no spaces and is at most 1024 bytes, e.g. `/`".to_string(),
            ));
        }
        let app = self.stored(name).await?;
        let port = app.public_port.ok_or_else(|| {
            EngineError::BadRequest(format!(
                "app '{name}' has no address to send requests to; add `ports: [{{container: PORT}}]` to its spec"
            ))
        })?;
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .timeout(SEND_REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            // A new connection per request, as separate browser refreshes over keep-alive would still be balanced
            // per request; this way each answer also shows the balancer's choice for a fresh client.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| EngineError::Internal(format!("building the HTTP client: {e}")))?;
        let mut hits = Vec::with_capacity(count as usize);
        for seq in 1..=count {
            let started = Instant::now();
            let hit = match client.get(format!("{url}{path}")).send().await {
                Ok(response) => {
                    let instance = response
                        .headers()
                        .get(INSTANCE_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .map(|s| crane_core::text::truncate(s, 128).to_string());
                    let status = response.status().as_u16();
                    // The body is dropped unread: only who answered matters here.
                    drop(response);
                    RequestHitView { seq, status: Some(status), instance, ms: ms_since(started), error: None }
                }
                Err(e) => RequestHitView {
                    seq,
                    status: None,
                    instance: None,
                    ms: ms_since(started),
                    error: Some(if e.is_timeout() {
                        format!("no answer within {} s", SEND_REQUEST_TIMEOUT.as_secs())
                    } else if e.is_connect() {
                        "connection refused: no instance is ready behind the load balancer".to_string()
                    } else {
                        e.to_string()
                    }),
                },
            };
            hits.push(hit);
        }
        Ok(SendRequestsView { url, hits })
    }
}

fn ms_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}
