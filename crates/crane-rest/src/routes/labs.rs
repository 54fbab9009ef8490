//! Routes of multi-app files and preset labs: apply a `---` separated file of apps in one go, list the labs, load one
//! (a shipped lab by id, or a tar/tar.gz archive as the body), a lab's live status, and its reset.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use crane_api::{ApplyAllResult, ApplyRequest, LabLoadRequest, LabResetView, LabSummaryView, LabView};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{media_type, parse_json, path, read_body, Engine};
use crate::error::ApiFailure;

/// Largest body `POST /api/v1/apply` reads: four times the largest multi-app file (JSON escaping).
pub const APPLY_ALL_BODY_LIMIT: usize = 4 * crane_core::validate::documents::MAX_FILE_BYTES;

/// Largest body `POST /api/v1/labs` reads: the largest lab archive.
pub const LAB_BODY_LIMIT: usize = crane_core::lab::archive::MAX_ARCHIVE_BYTES;

/// The `{id}` segment of the lab routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct LabPath {
    /// Lab id (`self-healing`).
    id: String,
}

/// Apply a file of apps (`---` separated)
///
/// Body: an `ApplyRequest` as JSON, or the YAML file itself with `Content-Type: application/yaml`. Every document is
/// validated first; when any is invalid the answer is 400 `invalid_spec` with every problem, each naming its
/// `document` and the line and column of the file, and nothing is created. Then each app is applied in order (roles,
/// policies and audit as `POST /api/v1/apps`); when one fails, the apps created before it are removed again.
#[utoipa::path(
    post,
    path = "/api/v1/apply",
    operation_id = "applyAll",
    request_body(content(
        (ApplyRequest = "application/json"),
        (String = "application/yaml"),
        (String = "text/yaml"),
    )),
    responses(
        (status = 200, description = "Every app's result, in file order.", body = ApplyAllResult),
        (status = 400), (status = 403), (status = 409), (status = 413), (status = 422), (status = 500), (status = 503),
    )
)]
pub(super) async fn apply_all(
    Engine(engine): Engine,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ApplyAllResult>, ApiFailure> {
    let body = read_body(body, APPLY_ALL_BODY_LIMIT)?;
    let (yaml, create_only) =
        super::apply_body(&headers, &body, r#"{"yaml": "name: a\n...\n---\nname: b\n...", "create_only": false}"#)?;
    Ok(Json(engine.apply_all(&yaml, create_only).await?))
}

/// List the labs
///
/// The labs Crane ships and the one loaded, if any.
#[utoipa::path(
    get,
    path = "/api/v1/labs",
    operation_id = "listLabs",
    responses((status = 200, description = "Labs.", body = Vec<LabSummaryView>), (status = 500))
)]
pub(super) async fn list_labs(Engine(engine): Engine) -> Result<Json<Vec<LabSummaryView>>, ApiFailure> {
    Ok(Json(engine.lab_list().await?))
}

/// Load a lab (admin)
///
/// Body: a `LabLoadRequest` as JSON (a shipped lab by id), or a tar or tar.gz archive of a lab's folder with
/// `Content-Type: application/gzip`, `application/x-tar` or `application/octet-stream` (at most 8 MiB). A malformed
/// lab is 400 `invalid_spec` with every problem (file, line, column, fix) and nothing is created; another lab
/// loaded, or an app of the lab existing already, is 409. Progress is on `GET /api/v1/watch` (operation `lab:<id>`).
#[utoipa::path(
    post,
    path = "/api/v1/labs",
    operation_id = "loadLab",
    request_body(content(
        (LabLoadRequest = "application/json"),
        (Vec<u8> = "application/gzip"),
        (Vec<u8> = "application/x-tar"),
        (Vec<u8> = "application/octet-stream"),
    )),
    responses(
        (status = 201, description = "The lab, loaded, with its checks decided.", body = LabView),
        (status = 400), (status = 403), (status = 404), (status = 409), (status = 413), (status = 422), (status = 500),
        (status = 503),
    )
)]
pub(super) async fn load_lab(
    Engine(engine): Engine,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<LabView>), ApiFailure> {
    let body = read_body(body, LAB_BODY_LIMIT)?;
    let media = media_type(&headers);
    let view = if matches!(
        media.as_deref(),
        Some("application/gzip" | "application/x-gzip" | "application/x-tar" | "application/octet-stream")
    ) {
        engine.lab_load_archive(body.to_vec()).await?
    } else {
        let request: LabLoadRequest = parse_json(media.as_deref(), &body, r#"{"shipped": "self-healing"}"#)?;
        engine.lab_load(&crane_api::LabSource::Shipped { id: request.shipped }).await?
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// A loaded lab's status
///
/// Each step's checks decided now against the engine's state.
#[utoipa::path(
    get,
    path = "/api/v1/labs/{id}",
    operation_id = "labStatus",
    params(LabPath),
    responses((status = 200, description = "The lab.", body = LabView), (status = 404), (status = 500))
)]
pub(super) async fn lab_status(
    Engine(engine): Engine,
    segments: Result<Path<LabPath>, PathRejection>,
) -> Result<Json<LabView>, ApiFailure> {
    let LabPath { id } = path(segments)?;
    Ok(Json(engine.lab_status(Some(&id)).await?))
}

/// Reset a lab (admin)
///
/// Removes exactly what loading the lab created (its apps, its load run) and restores the policies and alert rules
/// it replaced; apps created by people stay.
#[utoipa::path(
    post,
    path = "/api/v1/labs/{id}/reset",
    operation_id = "resetLab",
    params(LabPath),
    responses(
        (status = 200, description = "What the reset did.", body = LabResetView),
        (status = 403), (status = 404), (status = 500), (status = 503),
    )
)]
pub(super) async fn reset_lab(
    Engine(engine): Engine,
    segments: Result<Path<LabPath>, PathRejection>,
) -> Result<Json<LabResetView>, ApiFailure> {
    let LabPath { id } = path(segments)?;
    Ok(Json(engine.lab_reset(Some(&id)).await?))
}
