//! Routes of what the window's wizard asks before a deploy: a spec (or a file of `---` separated specs) checked
//! without applying it, and the local images to choose from.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::Json;
use crane_api::{CheckRequest, ImageView, SpecFileCheckView};

use super::{media_type, parse_json, read_body, Engine, APPLY_ALL_BODY_LIMIT};
use crate::error::ApiFailure;

/// Check a spec or a file of specs without applying it
///
/// Body: a `CheckRequest` as JSON, or the YAML itself with `Content-Type: application/yaml` (or `text/yaml`): one
/// spec, or several separated by `---` as `POST /api/v1/apply` takes them. Answers 200 whether or not the YAML is
/// valid: every problem with the file's line and column (and its `document` when there are several), exactly what
/// an apply would be refused with, and for each document that parses whether the app exists (an apply would update
/// it), whether its image is on the Docker engine and what the admission policy would say (without the image scan,
/// which runs at deploy time). Nothing is created or recorded. For one spec, `documents[0]` is what the window's
/// live check shows.
#[utoipa::path(
    post,
    path = "/api/v1/check",
    operation_id = "checkSpecs",
    request_body(content(
        (CheckRequest = "application/json"),
        (String = "application/yaml"),
        (String = "text/yaml"),
    )),
    responses(
        (status = 200, description = "What validation found, and each app's preview.", body = SpecFileCheckView),
        (status = 400), (status = 413), (status = 500),
    )
)]
pub(super) async fn check_specs(
    Engine(engine): Engine,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SpecFileCheckView>, ApiFailure> {
    let body = read_body(body, APPLY_ALL_BODY_LIMIT)?;
    let yaml = match super::yaml_body(&headers, &body)? {
        Some(yaml) => yaml,
        None => {
            let example = r#"{"yaml": "name: web\nimage: crane-demo:0.1.0\n"}"#;
            parse_json::<CheckRequest>(media_type(&headers).as_deref(), &body, example)?.yaml
        }
    };
    Ok(Json(engine.check_file(&yaml).await?))
}

/// List the local images
///
/// The tagged images of the Docker engine, one row per tag (`repository:tag`), sorted by tag, at most 500: the
/// wizard's image list. `demo` marks Crane's demo image. 503 when Docker cannot be reached.
#[utoipa::path(
    get,
    path = "/api/v1/images",
    operation_id = "listImages",
    responses(
        (status = 200, description = "The images, one row per tag.", body = Vec<ImageView>),
        (status = 500), (status = 503),
    )
)]
pub(super) async fn list_images(Engine(engine): Engine) -> Result<Json<Vec<ImageView>>, ApiFailure> {
    Ok(Json(engine.images().await?))
}
