//! Reading local images for the scanner: [`ImageSource`] is the narrow port the engine scans through (an image's
//! id and size, and its `docker save` stream), implemented by [`DockerRuntime`] over the Engine API
//! (`GET /images/{name}/json`, `GET /images/{name}/get`); never the docker CLI, never unpacked on the host.

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use crate::error::{self, Result, RuntimeError};
use crate::runtime::DockerRuntime;

/// What the scanner needs to know about a local image before reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The image id (`sha256:…`): the scan cache's key.
    pub id: String,
    /// Its tags.
    pub repo_tags: Vec<String>,
    /// Its size in bytes as the engine reports it (for progress).
    pub size: Option<u64>,
    /// When it was built (RFC 3339, seconds, UTC), as the engine reports it.
    pub created: Option<String>,
}

/// Local images, read for a scan.
#[async_trait]
pub trait ImageSource: Send + Sync + 'static {
    /// The image `reference` names, or `None` when this Docker engine does not have it.
    async fn image_info(&self, reference: &str) -> Result<Option<ImageInfo>>;
    /// The image as a `docker save` tar stream.
    fn export(&self, id: &str) -> BoxStream<'static, Result<bytes::Bytes>>;
    /// The tagged images of this Docker engine (untagged layers left out), at most `limit`.
    async fn list_images(&self, limit: usize) -> Result<Vec<ImageInfo>>;
}

#[async_trait]
impl ImageSource for DockerRuntime {
    async fn image_info(&self, reference: &str) -> Result<Option<ImageInfo>> {
        self.ready().await?;
        match self.docker().inspect_image(reference).await {
            Ok(image) => Ok(Some(ImageInfo {
                id: image.id.unwrap_or_default(),
                repo_tags: image.repo_tags.unwrap_or_default(),
                size: image.size.and_then(|s| u64::try_from(s).ok()),
                created: image
                    .created
                    .and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok())
                    .map(|at| at.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            })),
            Err(e) if error::is_not_found(&e) => Ok(None),
            Err(e) => Err(error::map(&format!("inspecting image {reference}"), e)),
        }
    }

    fn export(&self, id: &str) -> BoxStream<'static, Result<bytes::Bytes>> {
        let doing = format!("exporting image {id}");
        self.docker().clone().export_image(id).map(move |item| item.map_err(|e| error::map(&doing, e))).boxed()
    }

    async fn list_images(&self, limit: usize) -> Result<Vec<ImageInfo>> {
        self.ready().await?;
        let images = self
            .docker()
            .list_images(None::<bollard::query_parameters::ListImagesOptions>)
            .await
            .map_err(|e| error::map("listing images", e))?;
        Ok(images
            .into_iter()
            .filter(|i| i.repo_tags.iter().any(|t| t != "<none>:<none>"))
            .take(limit)
            .map(|i| ImageInfo {
                id: i.id,
                repo_tags: i.repo_tags.into_iter().filter(|t| t != "<none>:<none>").collect(),
                size: u64::try_from(i.size).ok(),
                created: created_at(i.created),
            })
            .collect())
    }
}

/// The RFC 3339 form of an image's creation time in Unix seconds (what `GET /images/json` reports); `None` for the
/// zero or negative values images built `FROM scratch` with a fixed timestamp may carry.
fn created_at(unix_seconds: i64) -> Option<String> {
    if unix_seconds <= 0 {
        return None;
    }
    chrono::DateTime::<chrono::Utc>::from_timestamp(unix_seconds, 0)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Builds a `FROM scratch` image from a Dockerfile and files (path, mode, bytes) through the classic builder, and
/// tags it `tag`. For the vulnerable demo variant and for tests that need images with crafted contents.
pub async fn build_scratch_image(
    docker: &bollard::Docker,
    tag: &str,
    dockerfile: &str,
    files: &[(String, u32, Vec<u8>)],
) -> Result<String> {
    use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
    let mut archive = tar::Builder::new(Vec::new());
    let io = |e: std::io::Error| RuntimeError::Other(format!("packing the context of {tag}: {e}"));
    let mut add = |path: &str, mode: u32, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        archive.append_data(&mut header, path, data)
    };
    add("Dockerfile", 0o644, dockerfile.as_bytes()).map_err(io)?;
    for (path, mode, data) in files {
        add(path, *mode, data).map_err(io)?;
    }
    let context = archive.into_inner().map_err(io)?;
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .version(BuilderVersion::BuilderV1)
        .build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut built = false;
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| error::map(&format!("building {tag}"), e))?;
        if let Some(detail) = info.error_detail {
            let text = detail.message.unwrap_or_else(|| "unknown build error".to_string());
            return Err(RuntimeError::Other(format!("building {tag}: {}", text.trim())));
        }
        if info.aux.is_some() {
            built = true;
        }
        if let Some(text) = info.stream {
            built |= text.contains("Successfully tagged") || text.contains("Successfully built");
        }
    }
    if !built {
        return Err(RuntimeError::Other(format!("building {tag}: the engine ended the build without an image")));
    }
    Ok(tag.to_string())
}

#[cfg(test)]
mod tests {
    use super::created_at;

    #[test]
    fn creation_times_read_as_rfc3339() {
        assert_eq!(created_at(1_700_000_000).as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(created_at(0), None, "an image with no creation time");
        assert_eq!(created_at(-1), None);
    }
}
