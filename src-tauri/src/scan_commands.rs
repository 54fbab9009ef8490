//! Tauri commands of the image scanner: scan jobs (progress arrives as `crane://change` `progress` changes with
//! operation `scan:<id>`), the cached verdict of an app's image, the SBOM, and the advisory database.

use crane_api::{AdvisoryDbView, ApiError, ImportRequest, ImportResult, ScanJobView, ScanReport, ScanRequest};
use tauri::State;

use crate::runtime::Running;

/// Starts a scan of an image; the job at once.
#[tauri::command]
#[specta::specta]
pub async fn start_scan(state: State<'_, Running>, request: ScanRequest) -> Result<ScanJobView, ApiError> {
    state.engine_or_err()?.start_scan(&request).await.map_err(|e| e.to_api())
}

/// A scan job (with its report once done).
#[tauri::command]
#[specta::specta]
pub async fn scan_job(state: State<'_, Running>, id: u32) -> Result<ScanJobView, ApiError> {
    state.engine_or_err()?.scan_job(id).map_err(|e| e.to_api())
}

/// Cancels a scan job.
#[tauri::command]
#[specta::specta]
pub async fn cancel_scan(state: State<'_, Running>, id: u32) -> Result<ScanJobView, ApiError> {
    state.engine_or_err()?.cancel_scan(id).map_err(|e| e.to_api())
}

/// The cached report of an image against the current database (the app page's verdict), if it was scanned.
#[tauri::command]
#[specta::specta]
pub async fn cached_scan(state: State<'_, Running>, image: String) -> Result<Option<ScanReport>, ApiError> {
    state.engine_or_err()?.cached_scan(&image).await.map_err(|e| e.to_api())
}

/// The image's CycloneDX 1.5 SBOM as pretty JSON text (the window saves it as a file).
#[tauri::command]
#[specta::specta]
pub async fn scan_sbom(state: State<'_, Running>, image: String) -> Result<String, ApiError> {
    let sbom = state.engine_or_err()?.scan_sbom(&image).await.map_err(|e| e.to_api())?;
    Ok(serde_json::to_string_pretty(&sbom).unwrap_or_default())
}

/// The advisory database's state.
#[tauri::command]
#[specta::specta]
pub async fn advisory_db_status(state: State<'_, Running>) -> Result<AdvisoryDbView, ApiError> {
    state.engine_or_err()?.advisory_db_status().await.map_err(|e| e.to_api())
}

/// Imports OSV advisories from a path on this machine (the window acts as admin).
#[tauri::command]
#[specta::specta]
pub async fn import_advisories(state: State<'_, Running>, path: String) -> Result<ImportResult, ApiError> {
    state.engine_or_err()?.import_advisories(&ImportRequest { path }).await.map_err(|e| e.to_api())
}

/// Builds `crane-demo:vulnerable`.
#[tauri::command]
#[specta::specta]
pub async fn build_vulnerable_demo_image(state: State<'_, Running>) -> Result<String, ApiError> {
    state.engine_or_err()?.build_vulnerable_demo_image().await.map_err(|e| e.to_api())
}
