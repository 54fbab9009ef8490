//! Wire types the desktop window's newer screens need (and the REST API and `cranectl` share where the same
//! feature makes sense): a spec or a file of specs checked without applying it (diagnostics, admission preview,
//! image presence), the local images, and requests sent through an app's load balancer with the instance that
//! answered each.

use serde::{Deserialize, Serialize};
use specta::Type;
use utoipa::ToSchema;

use crate::Diagnostic;

/// What the admission policy would say about a spec, asked without applying it (and without the image scan, which
/// runs at deploy time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct AdmissionPreview {
    /// Whether the policy would admit the spec.
    pub admitted: bool,
    /// Why it would be refused, one sentence each; empty when admitted.
    pub deny: Vec<String>,
    /// Remarks it would be admitted with.
    pub warn: Vec<String>,
}

/// A spec checked without applying it: its problems with line and column, and, when it parses, whether the app
/// exists, whether the image is present on the Docker engine and what admission would say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct SpecCheckView {
    /// Whether the spec parses and validates (with the engine's safety floor).
    pub valid: bool,
    /// Every problem found, each with line, column, path, message and fix.
    pub diagnostics: Vec<Diagnostic>,
    /// The app's name, when the spec parses.
    pub name: Option<String>,
    /// The image, when the spec parses.
    pub image: Option<String>,
    /// Whether an app of that name exists (an apply would update it).
    pub exists: bool,
    /// Whether the image is present on the Docker engine; null when the spec does not parse or Docker cannot be
    /// asked.
    pub image_present: Option<bool>,
    /// Whether the image is Crane's demo image (which the window can build with one click).
    pub is_demo_image: bool,
    /// The admission policy's answer; null when the spec does not parse.
    pub admission: Option<AdmissionPreview>,
    /// Why the admission policy could not be asked (e.g. an external OPA server is down), if so.
    pub admission_error: Option<String>,
}

/// A file of specs (`---` separated; a single spec is a file of one document) checked without applying it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct SpecFileCheckView {
    /// Whether applying the file would pass validation: every document parses and validates, no two name the same
    /// app, and the file is within its bounds.
    pub valid: bool,
    /// Every problem of the file, each with the file's line and column, and its `document` when the file holds
    /// several; what an apply of the file would refuse it with.
    pub diagnostics: Vec<Diagnostic>,
    /// Each document's check in file order (its own problems, and when it parses the app, image presence and
    /// admission preview); empty when the file as a whole is refused (empty, too large, too many documents).
    pub documents: Vec<SpecCheckView>,
}

/// Body of `POST /api/v1/check`: the YAML to check. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// A spec, or a file of `---` separated specs, as YAML.
    pub yaml: String,
}

/// One image on the Docker engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ImageView {
    /// A tag (`repository:tag`) that names it.
    pub reference: String,
    /// Its id (`sha256:…`).
    pub id: String,
    /// Its size in bytes as the engine reports it.
    pub size: Option<f64>,
    /// When it was built (RFC 3339, UTC); null when the engine does not say.
    pub created: Option<String>,
    /// Whether it is Crane's demo image.
    pub demo: bool,
}

/// Whether Crane's demo image is present, and its tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct DemoImageView {
    /// The tag the demo image gets (`crane-demo:<version>`).
    pub reference: String,
    /// Whether the Docker engine has it; null when Docker cannot be asked.
    pub present: Option<bool>,
}

/// One request sent through an app's load balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct RequestHitView {
    /// 1-based number of the request.
    pub seq: u32,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The instance that answered, from its `X-Crane-Instance` header (the demo image sends it); null when the
    /// answer has none.
    pub instance: Option<String>,
    /// How long the request took, milliseconds.
    pub ms: f64,
    /// Why the request failed (connection refused, timeout), if it did.
    pub error: Option<String>,
}

/// Requests sent one after the other to an app's address, as a browser's refreshes would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct SendRequestsView {
    /// The address they went to (the app's load balancer).
    pub url: String,
    /// Each request, in order.
    pub hits: Vec<RequestHitView>,
}
