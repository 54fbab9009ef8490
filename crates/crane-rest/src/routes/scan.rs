//! Routes of the image scanner: scan an image (waiting, or as a job with progress and cancel), its SBOM, the
//! advisory database's status and imports, and the vulnerable demo image.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::Json;
use crane_api::{AdvisoryDbView, ImportRequest, ImportResult, ScanJobView, ScanReport, ScanRequest};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{media_type, parse_json, path, read_body, DemoImage, Engine, DEFAULT_BODY_LIMIT};
use crate::error::ApiFailure;

const SCAN_EXAMPLE: &str = r#"{"image": "crane-demo:0.1.0"}"#;

fn scan_request(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<ScanRequest, ApiFailure> {
    let body = read_body(body, DEFAULT_BODY_LIMIT)?;
    parse_json(media_type(headers).as_deref(), &body, SCAN_EXAMPLE)
}

/// Scan an image
///
/// Reads the local image through Docker (no pull), lists its packages, matches them against the advisory database
/// and checks its hygiene; answers when done (at most 300 s). A report of the same image id and database generation
/// comes from the cache unless `refresh`. With `trivy`, Trivy runs too when it is installed.
#[utoipa::path(
    post,
    path = "/api/v1/scan",
    operation_id = "scanImage",
    request_body = ScanRequest,
    responses(
        (status = 200, description = "The scan report.", body = ScanReport),
        (status = 400), (status = 409), (status = 413), (status = 422), (status = 500), (status = 503),
    )
)]
pub(super) async fn scan_image(
    Engine(engine): Engine,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ScanReport>, ApiFailure> {
    let request = scan_request(&headers, body)?;
    Ok(Json(engine.scan_image(&request).await?))
}

/// An image's SBOM (CycloneDX 1.5 JSON)
///
/// The image's packages as a CycloneDX 1.5 document (scanning the image first when no report is cached).
#[utoipa::path(
    post,
    path = "/api/v1/scan/sbom",
    operation_id = "scanSbom",
    request_body = ScanRequest,
    responses(
        (status = 200, description = "The CycloneDX document.", body = Object),
        (status = 400), (status = 413), (status = 422), (status = 500), (status = 503),
    )
)]
pub(super) async fn scan_sbom(
    Engine(engine): Engine,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiFailure> {
    let request = scan_request(&headers, body)?;
    Ok(Json(engine.scan_sbom(&request.image).await?))
}

/// Start a scan job
///
/// Starts a scan and answers at once with the job; progress is on `GET /api/v1/scans/{id}` and on
/// `GET /api/v1/watch` (`progress` changes with operation `scan:<id>`).
#[utoipa::path(
    post,
    path = "/api/v1/scans",
    operation_id = "startScan",
    request_body = ScanRequest,
    responses(
        (status = 200, description = "The job, running.", body = ScanJobView),
        (status = 400), (status = 409), (status = 413), (status = 500),
    )
)]
pub(super) async fn start_scan(
    Engine(engine): Engine,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ScanJobView>, ApiFailure> {
    let request = scan_request(&headers, body)?;
    Ok(Json(engine.start_scan(&request).await?))
}

/// The `{id}` segment of the scan job routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct ScanPath {
    /// The job's id.
    id: u32,
}

/// A scan job
#[utoipa::path(
    get,
    path = "/api/v1/scans/{id}",
    operation_id = "scanJob",
    params(ScanPath),
    responses((status = 200, description = "The job.", body = ScanJobView), (status = 400), (status = 404))
)]
pub(super) async fn scan_job(
    Engine(engine): Engine,
    segments: Result<Path<ScanPath>, PathRejection>,
) -> Result<Json<ScanJobView>, ApiFailure> {
    let ScanPath { id } = path(segments)?;
    Ok(Json(engine.scan_job(id)?))
}

/// Cancel a scan job
#[utoipa::path(
    delete,
    path = "/api/v1/scans/{id}",
    operation_id = "cancelScan",
    params(ScanPath),
    responses((status = 200, description = "The job, being cancelled.", body = ScanJobView), (status = 400), (status = 404))
)]
pub(super) async fn cancel_scan(
    Engine(engine): Engine,
    segments: Result<Path<ScanPath>, PathRejection>,
) -> Result<Json<ScanJobView>, ApiFailure> {
    let ScanPath { id } = path(segments)?;
    Ok(Json(engine.cancel_scan(id)?))
}

/// The advisory database
///
/// What the scanner matches against: advisories per ecosystem, when they were imported and how old that is.
#[utoipa::path(
    get,
    path = "/api/v1/scan/db",
    operation_id = "advisoryDb",
    responses((status = 200, description = "The database's state.", body = AdvisoryDbView), (status = 500))
)]
pub(super) async fn advisory_db(Engine(engine): Engine) -> Result<Json<AdvisoryDbView>, ApiFailure> {
    Ok(Json(engine.advisory_db_status().await?))
}

/// Import OSV advisories
///
/// Reads a path on the engine's machine: an OSV JSON file, a folder of them (with `.zip` exports inside), or an
/// OSV ecosystem zip export (`all.zip`). Admins. Every import refreshes every cached scan.
#[utoipa::path(
    post,
    path = "/api/v1/scan/db/import",
    operation_id = "importAdvisories",
    request_body = ImportRequest,
    responses(
        (status = 200, description = "What was imported.", body = ImportResult),
        (status = 400), (status = 403), (status = 413), (status = 500),
    )
)]
pub(super) async fn import_advisories(
    Engine(engine): Engine,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ImportResult>, ApiFailure> {
    let body = read_body(body, DEFAULT_BODY_LIMIT)?;
    let request: ImportRequest =
        parse_json(media_type(&headers).as_deref(), &body, r#"{"path": "/srv/osv/Debian/all.zip"}"#)?;
    Ok(Json(engine.import_advisories(&request).await?))
}

/// Build the vulnerable demo image
///
/// Builds `crane-demo:vulnerable`: the demo with the package records of an old Debian whose bash and openssl have
/// well-known advisories (`assets/scan/osv`), for the "blocked by a CVE" lesson.
#[utoipa::path(
    post,
    path = "/api/v1/demo-image/vulnerable",
    operation_id = "buildVulnerableDemoImage",
    responses(
        (status = 200, description = "The image is built.", body = DemoImage),
        (status = 403), (status = 422), (status = 500), (status = 503),
    )
)]
pub(super) async fn vulnerable_demo_image(Engine(engine): Engine) -> Result<Json<DemoImage>, ApiFailure> {
    let image = engine.build_vulnerable_demo_image().await?;
    Ok(Json(DemoImage { image }))
}
