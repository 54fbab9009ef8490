//! Routes of experiments: record a run of an app (optionally with the load generator), list and read runs, stop and
//! delete them, compare runs (what differs) and render them on the same axes as SVG or PNG, or export them as CSV.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use crane_api::{ExperimentComparisonView, ExperimentMetric, ExperimentRecordRequest, ExperimentView, ExportFormat};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{media_type, parse_json, path, query_error, read_body, Engine, DEFAULT_BODY_LIMIT};
use crate::error::ApiFailure;

/// Example body of `POST /api/v1/experiments`, shown when the body is wrong.
const RECORD_EXAMPLE: &str = r#"{"app": "web", "name": "stab-10s", "load": {"rate": 40, "duration_s": 30, "path": "/work?ms=20"}, "after_s": 60}"#;

/// The `{name}` segment of the experiment routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct RunPath {
    /// Run name (lowercase letters, digits, '-').
    name: String,
}

/// Query of `GET /api/v1/experiments/compare`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct CompareQuery {
    /// Runs to compare, comma-separated (1 to 4), e.g. `stab-10s,stab-60s`.
    runs: String,
}

/// Query of `GET /api/v1/experiments/overlay`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct OverlayQuery {
    /// Runs to draw, comma-separated (1 to 4), e.g. `stab-10s,stab-60s`.
    runs: String,
    /// One chart of this series; without it, the Scaling view's four (replicas, rps_per_replica, latency_p95_ms,
    /// cpu_percent) stacked.
    #[param(inline)]
    metric: Option<ExperimentMetric>,
    /// `svg` (default) or `png`.
    #[param(inline)]
    format: Option<ExportFormat>,
}

/// Query of `GET /api/v1/experiments/export`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ExportQuery {
    /// Runs to export, comma-separated (1 to 4), e.g. `stab-10s,stab-60s`.
    runs: String,
    /// `csv` (every point), `svg` or `png` (the overlay charts).
    #[param(inline)]
    format: ExportFormat,
}

/// The names of `runs=a,b`.
fn names(runs: &str) -> Vec<String> {
    runs.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect()
}

/// A file answer: the media type, `nosniff`, no caching, and (for exports) a download name.
fn file(bytes: Vec<u8>, media: &'static str, download: Option<String>) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(value) =
        download.and_then(|name| HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).ok())
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The file name of an export: the runs' names (which follow the app name rule, so they need no quoting).
pub fn export_file_name(runs: &[String], format: ExportFormat) -> String {
    let ext = match format {
        ExportFormat::Svg => "svg",
        ExportFormat::Png => "png",
        ExportFormat::Csv => "csv",
    };
    format!("crane-{}.{ext}", runs.join("-vs-"))
}

/// List the experiment runs
///
/// Every run, oldest first, without its points (`GET /api/v1/experiments/{name}` has them).
#[utoipa::path(
    get,
    path = "/api/v1/experiments",
    operation_id = "listExperiments",
    responses((status = 200, description = "Runs.", body = Vec<ExperimentView>), (status = 500))
)]
pub(super) async fn list_experiments(Engine(engine): Engine) -> Result<Json<Vec<ExperimentView>>, ApiFailure> {
    Ok(Json(engine.experiment_list().await?))
}

/// Start recording an experiment run
///
/// Body: an `ExperimentRecordRequest`, e.g. `{"app": "web", "name": "stab-10s", "load": {"rate": 40, "duration_s":
/// 30, "path": "/work?ms=20"}, "after_s": 60}`. The app's settings are taken now; with `load`, the load generator
/// starts with that profile and the recording ends when the load has ended and `after_s` passed; without it, after
/// `duration_s` (or when stopped). The points are copied from the app's samples when it ends. Progress is on
/// `GET /api/v1/watch` (operation `experiment:<name>`); `experiment.started` and `experiment.finished` are in the
/// event log. 409 `conflict` when the name is taken, the app is being recorded or a load runs against it, or Crane
/// keeps 50 runs already (delete one); 400 for a value out of range, naming the field.
#[utoipa::path(
    post,
    path = "/api/v1/experiments",
    operation_id = "recordExperiment",
    request_body = ExperimentRecordRequest,
    responses(
        (status = 201, description = "Recording.", body = ExperimentView),
        (status = 400), (status = 403), (status = 404), (status = 409), (status = 413), (status = 500),
    )
)]
pub(super) async fn record_experiment(
    Engine(engine): Engine,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ExperimentView>), ApiFailure> {
    let body = read_body(body, DEFAULT_BODY_LIMIT)?;
    let request: ExperimentRecordRequest = parse_json(media_type(&headers).as_deref(), &body, RECORD_EXAMPLE)?;
    Ok((StatusCode::CREATED, Json(engine.experiment_record(&request).await?)))
}

/// One experiment run with its points
///
/// The run's settings at the start, its load profile, why it ended, and one point per collector round (time since
/// the start, replicas, ready, req/s in all and per ready replica, latency p95, mean CPU, 5xx/s).
#[utoipa::path(
    get,
    path = "/api/v1/experiments/{name}",
    operation_id = "getExperiment",
    params(RunPath),
    responses((status = 200, description = "The run.", body = ExperimentView), (status = 404), (status = 500))
)]
pub(super) async fn get_experiment(
    Engine(engine): Engine,
    segments: Result<Path<RunPath>, PathRejection>,
) -> Result<Json<ExperimentView>, ApiFailure> {
    let RunPath { name } = path(segments)?;
    Ok(Json(engine.experiment_get(&name).await?))
}

/// Delete an experiment run
///
/// Operators delete the runs they recorded, admins any. A run being recorded is 409: stop it first.
#[utoipa::path(
    delete,
    path = "/api/v1/experiments/{name}",
    operation_id = "deleteExperiment",
    params(RunPath),
    responses((status = 204, description = "Deleted."), (status = 403), (status = 404), (status = 409), (status = 500))
)]
pub(super) async fn delete_experiment(
    Engine(engine): Engine,
    segments: Result<Path<RunPath>, PathRejection>,
) -> Result<StatusCode, ApiFailure> {
    let RunPath { name } = path(segments)?;
    engine.experiment_delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop recording an experiment run
///
/// Ends the recording (and the load it started) now, copies its points and answers with the run. A run that already
/// ended is returned as it is.
#[utoipa::path(
    post,
    path = "/api/v1/experiments/{name}/stop",
    operation_id = "stopExperiment",
    params(RunPath),
    responses(
        (status = 200, description = "The run, ended.", body = ExperimentView),
        (status = 403), (status = 404), (status = 500),
    )
)]
pub(super) async fn stop_experiment(
    Engine(engine): Engine,
    segments: Result<Path<RunPath>, PathRejection>,
) -> Result<Json<ExperimentView>, ApiFailure> {
    let RunPath { name } = path(segments)?;
    Ok(Json(engine.experiment_stop(&name).await?))
}

/// Compare experiment runs
///
/// What the runs have in common and, for each, the settings that differ (its legend in the overlay) and its figures
/// (peak replicas and when, final replicas, highest latency p95, mean CPU). 1 to 4 ended runs.
#[utoipa::path(
    get,
    path = "/api/v1/experiments/compare",
    operation_id = "compareExperiments",
    params(CompareQuery),
    responses(
        (status = 200, description = "The comparison.", body = ExperimentComparisonView),
        (status = 400), (status = 404), (status = 409), (status = 500),
    )
)]
pub(super) async fn compare_experiments(
    Engine(engine): Engine,
    query: Result<Query<CompareQuery>, QueryRejection>,
) -> Result<Json<ExperimentComparisonView>, ApiFailure> {
    let Query(query) = query.map_err(query_error)?;
    Ok(Json(engine.experiment_compare(&names(&query.runs)).await?))
}

/// Experiment runs on the same axes
///
/// `image/svg+xml` (or `image/png` with `format=png`): one chart per series (`metric` for one only), each run a line
/// on the time since its own start, the legend naming each run and the settings that differ; the autoscaling target
/// is drawn when every run shares it. 1 to 4 ended runs.
#[utoipa::path(
    get,
    path = "/api/v1/experiments/overlay",
    operation_id = "overlayExperiments",
    params(OverlayQuery),
    responses(
        (status = 200, description = "The charts.", content(
            (String = "image/svg+xml"),
            (Vec<u8> = "image/png"),
        )),
        (status = 400), (status = 404), (status = 409), (status = 500),
    )
)]
pub(super) async fn overlay_experiments(
    Engine(engine): Engine,
    query: Result<Query<OverlayQuery>, QueryRejection>,
) -> Result<Response, ApiFailure> {
    let Query(query) = query.map_err(query_error)?;
    let format = query.format.unwrap_or(ExportFormat::Svg);
    if format == ExportFormat::Csv {
        return Err(ApiFailure::bad_request(
            "format: an overlay is a chart, svg or png; the CSV is at /api/v1/experiments/export?format=csv",
        ));
    }
    let (bytes, media) = engine.experiment_export(&names(&query.runs), format, query.metric).await?;
    Ok(file(bytes, media, None))
}

/// Export experiment runs
///
/// A file to download (`Content-Disposition: attachment`): `format=csv` every point of every run (header `run,app,
/// t_s,at_ms,replicas,ready,rps,rps_per_replica,latency_p95_ms,cpu_percent,errors_per_s`, one row per point per run,
/// in the order named; `t_s` is seconds since the run's start, an empty cell a round without that value);
/// `format=svg` or `png` the overlay's four charts. 1 to 4 ended runs.
#[utoipa::path(
    get,
    path = "/api/v1/experiments/export",
    operation_id = "exportExperiments",
    params(ExportQuery),
    responses(
        (status = 200, description = "The file.", content(
            (String = "text/csv"),
            (String = "image/svg+xml"),
            (Vec<u8> = "image/png"),
        )),
        (status = 400), (status = 404), (status = 409), (status = 500),
    )
)]
pub(super) async fn export_experiments(
    Engine(engine): Engine,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiFailure> {
    let Query(query) = query.map_err(query_error)?;
    let runs = names(&query.runs);
    let (bytes, media) = engine.experiment_export(&runs, query.format, None).await?;
    Ok(file(bytes, media, Some(export_file_name(&runs, query.format))))
}
