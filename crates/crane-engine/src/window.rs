//! What the window's wizard, first-run checklist and "Send requests" ask of the engine, in every door: a spec (or a
//! file of `---` separated specs) checked without applying it (diagnostics, admission preview without the image
//! scan, image presence), the local images, whether the demo image is present, and a few requests sent through an
//! app's load balancer with the instance that answered each.

use std::time::{Duration, Instant};

use crane_api::{
    AdmissionPreview, DemoImageView, Diagnostic, ImageView, RequestHitView, SendRequestsView, SpecCheckView,
    SpecFileCheckView,
};
use crane_core::access::Permission;
use crane_core::policy::{AdmissionAction, AdmissionDecision, AdmissionInput, PolicyName};
use crane_core::spec::AppSpec;

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
        match parsed {
            Ok(spec) => self.preview(&spec, Vec::new()).await,
            Err(diags) => Ok(unparsed(diags.into_iter().map(crate::error::wire_diagnostic).collect())),
        }
    }

    /// Checks a file of specs (`---` separated; one spec is a file of one document) without applying it: every
    /// problem of every document with the file's line and column (and its `document` when there are several),
    /// exactly as `apply_all` would refuse the file, and for each document that parses the preview
    /// [`Self::check_spec`] gives. Nothing is recorded.
    pub async fn check_file(&self, yaml: &str) -> Result<SpecFileCheckView> {
        use crane_core::validate::documents::{MAX_DOCUMENTS, MAX_FILE_BYTES};
        let floor = self.safety_floor().await?;
        let source = yaml.to_string();
        let parsed = tokio::task::spawn_blocking(move || {
            // The file's own verdict (also two documents naming one app, and the file's bounds) ...
            let file = crane_core::validate::parse_specs_with(&source, &floor);
            // ... and each document on its own, for the previews of those that parse when another does not.
            let documents = crane_core::validate::split_documents(&source);
            let specs: Vec<Option<AppSpec>> = match &file {
                Ok(specs) => specs.iter().cloned().map(Some).collect(),
                Err(_) if source.len() <= MAX_FILE_BYTES && documents.len() <= MAX_DOCUMENTS => {
                    documents.iter().map(|doc| crane_core::validate::parse_spec_with(&doc.text, &floor).ok()).collect()
                }
                Err(_) => Vec::new(),
            };
            (file.err().unwrap_or_default(), documents.iter().map(|d| d.index).zip(specs).collect::<Vec<_>>())
        })
        .await
        .map_err(|e| EngineError::Internal(format!("parsing the file failed: {e}")))?;
        let (problems, documents) = parsed;
        let diagnostics: Vec<Diagnostic> = problems.into_iter().map(crate::error::wire_diagnostic).collect();
        let single = documents.len() == 1;
        let mut views = Vec::with_capacity(documents.len());
        for (index, spec) in documents {
            // A file of one document names none; otherwise each problem names its document.
            let own: Vec<Diagnostic> =
                diagnostics.iter().filter(|d| d.document == Some(index) || single).cloned().collect();
            views.push(match spec {
                Some(spec) => self.preview(&spec, own).await?,
                None => unparsed(own),
            });
        }
        Ok(SpecFileCheckView { valid: diagnostics.is_empty(), diagnostics, documents: views })
    }

    /// What applying a parsed spec would meet: whether the app exists, whether its image is present, and the
    /// admission policy's answer. `diagnostics` are problems found beside the spec's own (a duplicate name in a
    /// file); the spec is valid when there are none.
    async fn preview(&self, spec: &AppSpec, diagnostics: Vec<Diagnostic>) -> Result<SpecCheckView> {
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
            spec,
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
            valid: diagnostics.is_empty(),
            diagnostics,
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
                let (id, size, created) = (i.id, i.size.map(|s| s as f64), i.created);
                i.repo_tags.into_iter().map(move |reference| ImageView {
                    demo: reference == crane_docker::DEMO_IMAGE,
                    reference,
                    id: id.clone(),
                    size,
                    created: created.clone(),
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

/// The check of a document that does not parse: its problems and nothing else.
fn unparsed(diagnostics: Vec<Diagnostic>) -> SpecCheckView {
    SpecCheckView {
        valid: false,
        diagnostics,
        name: None,
        image: None,
        exists: false,
        image_present: None,
        is_demo_image: false,
        admission: None,
        admission_error: None,
    }
}

fn ms_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}
