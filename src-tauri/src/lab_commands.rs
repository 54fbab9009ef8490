//! Tauri commands of multi-app files and preset labs: apply a `---` separated file, list labs, load one (shipped id,
//! folder or archive on this machine; progress arrives as `crane://change` `progress` changes with operation
//! `lab:<id>`), its live status, and its reset. The window acts as the built-in admin.

use crane_api::{ApiError, ApplyAllResult, LabResetView, LabSource, LabSummaryView, LabView};
use tauri::State;

use crate::runtime::Running;

/// Applies every app of a `---` separated YAML file (a file import, a multi-app editor). Every document is validated
/// first (the engine refuses a file over 1 MiB before parsing it); when one is invalid nothing is created and each
/// problem names its `document` and the line of the file.
#[tauri::command]
#[specta::specta]
pub async fn apply_all(state: State<'_, Running>, yaml: String, create_only: bool) -> Result<ApplyAllResult, ApiError> {
    state.engine_or_err()?.apply_all(&yaml, create_only).await.map_err(|e| e.to_api())
}

/// The shipped labs and the loaded one.
#[tauri::command]
#[specta::specta]
pub async fn lab_list(state: State<'_, Running>) -> Result<Vec<LabSummaryView>, ApiError> {
    state.engine_or_err()?.lab_list().await.map_err(|e| e.to_api())
}

/// Loads a lab: `{shipped: {id}}`, `{folder: {path}}` or `{archive: {path}}`. A malformed lab is refused with every
/// problem (`invalid_spec`, each diagnostic naming its `file`, line and column) and nothing is created.
#[tauri::command]
#[specta::specta]
pub async fn lab_load(state: State<'_, Running>, source: LabSource) -> Result<LabView, ApiError> {
    state.engine_or_err()?.lab_load(&source).await.map_err(|e| e.to_api())
}

/// The loaded lab (`id`: that lab; null: whichever is loaded) with every check decided now.
#[tauri::command]
#[specta::specta]
pub async fn lab_status(state: State<'_, Running>, id: Option<String>) -> Result<LabView, ApiError> {
    state.engine_or_err()?.lab_status(id.as_deref()).await.map_err(|e| e.to_api())
}

/// Resets the loaded lab: removes exactly what it created and restores what it replaced.
#[tauri::command]
#[specta::specta]
pub async fn lab_reset(state: State<'_, Running>, id: Option<String>) -> Result<LabResetView, ApiError> {
    state.engine_or_err()?.lab_reset(id.as_deref()).await.map_err(|e| e.to_api())
}
