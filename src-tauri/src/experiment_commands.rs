//! Tauri commands of experiments (the Scaling view's Experiments panel): record a run (optionally with the load
//! generator; progress arrives as `crane://change` `progress` changes with operation `experiment:<name>`), stop,
//! list, read and delete runs, compare them, draw them on the same axes (the engine's SVG) and export them to a file
//! on this machine. The window acts as the built-in admin.

use std::path::{Path, PathBuf};

use crane_api::{
    ApiError, ErrorCode, ExperimentComparisonView, ExperimentExportView, ExperimentMetric, ExperimentRecordRequest,
    ExperimentView, ExportFormat,
};
use tauri::State;

use crate::runtime::Running;

/// Starts recording a run of an app: its settings now, with `load` the load generator with that profile.
#[tauri::command]
#[specta::specta]
pub async fn experiment_record(
    state: State<'_, Running>,
    request: ExperimentRecordRequest,
) -> Result<ExperimentView, ApiError> {
    state.engine_or_err()?.experiment_record(&request).await.map_err(|e| e.to_api())
}

/// Stops a recording (and its load), waits for its points and returns the run.
#[tauri::command]
#[specta::specta]
pub async fn experiment_stop(state: State<'_, Running>, name: String) -> Result<ExperimentView, ApiError> {
    state.engine_or_err()?.experiment_stop(&name).await.map_err(|e| e.to_api())
}

/// Every run, oldest first, without points.
#[tauri::command]
#[specta::specta]
pub async fn experiment_list(state: State<'_, Running>) -> Result<Vec<ExperimentView>, ApiError> {
    state.engine_or_err()?.experiment_list().await.map_err(|e| e.to_api())
}

/// One run with its points.
#[tauri::command]
#[specta::specta]
pub async fn experiment_get(state: State<'_, Running>, name: String) -> Result<ExperimentView, ApiError> {
    state.engine_or_err()?.experiment_get(&name).await.map_err(|e| e.to_api())
}

/// Deletes a run (a recording must be stopped first).
#[tauri::command]
#[specta::specta]
pub async fn experiment_delete(state: State<'_, Running>, name: String) -> Result<(), ApiError> {
    state.engine_or_err()?.experiment_delete(&name).await.map_err(|e| e.to_api())
}

/// What the runs have in common, what differs per run, and each run's figures.
#[tauri::command]
#[specta::specta]
pub async fn experiment_compare(
    state: State<'_, Running>,
    runs: Vec<String>,
) -> Result<ExperimentComparisonView, ApiError> {
    state.engine_or_err()?.experiment_compare(&runs).await.map_err(|e| e.to_api())
}

/// The runs on the same axes as one SVG document: the four charts, or the one of `metric`.
#[tauri::command]
#[specta::specta]
pub async fn experiment_overlay(
    state: State<'_, Running>,
    runs: Vec<String>,
    metric: Option<ExperimentMetric>,
) -> Result<String, ApiError> {
    let (bytes, _) =
        state.engine_or_err()?.experiment_export(&runs, ExportFormat::Svg, metric).await.map_err(|e| e.to_api())?;
    String::from_utf8(bytes).map_err(|e| failure(ErrorCode::Internal, e.to_string()))
}

/// Writes the runs as a file on this machine: the overlay (svg, png) or every point (csv). `path` is an absolute
/// file or folder (a folder gets `crane-<runs>.<ext>`); empty: the user's Downloads folder (else home).
#[tauri::command]
#[specta::specta]
pub async fn experiment_export(
    state: State<'_, Running>,
    runs: Vec<String>,
    format: ExportFormat,
    path: Option<String>,
) -> Result<ExperimentExportView, ApiError> {
    let target = export_path(path.as_deref(), &crane_rest::routes::export_file_name(&runs, format))?;
    let (bytes, _) = state.engine_or_err()?.experiment_export(&runs, format, None).await.map_err(|e| e.to_api())?;
    write_file(&target, &bytes)?;
    Ok(ExperimentExportView { path: target.display().to_string(), bytes: bytes.len() as f64, format })
}

fn failure(code: ErrorCode, message: String) -> ApiError {
    ApiError { code, message, diagnostics: Vec::new() }
}

fn bad(message: String) -> ApiError {
    failure(ErrorCode::BadRequest, message)
}

/// Where an export goes: the file given, the default name in the folder given, or in Downloads (else home).
fn export_path(path: Option<&str>, file_name: &str) -> Result<PathBuf, ApiError> {
    let given = path.map(str::trim).filter(|p| !p.is_empty());
    let Some(given) = given else {
        let dir = dirs::download_dir().filter(|d| d.is_dir()).or_else(dirs::home_dir).ok_or_else(|| {
            bad("path: this machine has no Downloads or home folder; give the absolute path of a file".to_string())
        })?;
        return Ok(dir.join(file_name));
    };
    let path = Path::new(given);
    if !path.is_absolute() {
        return Err(bad(format!("path: `{given}` is not absolute; give a path like /home/you/{file_name}")));
    }
    if path.is_dir() {
        return Ok(path.join(file_name));
    }
    match path.parent() {
        Some(parent) if parent.is_dir() => Ok(path.to_path_buf()),
        _ => Err(bad(format!("path: the folder of `{given}` does not exist; create it or choose another"))),
    }
}

/// Writes the file, never through a link (a link could point at a file the user did not mean to replace).
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ApiError> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(bad(format!(
            "path: {} is not a regular file (a link, a folder or a device); choose another",
            path.display()
        )));
    }
    std::fs::write(path, bytes)
        .map_err(|e| failure(ErrorCode::Internal, format!("cannot write {}: {e}", path.display())))
}
