//! Crane's Docker adapter: [`DockerRuntime`] implements crane-core's [`Runtime`](crane_core::ports::Runtime) over the
//! Docker Engine API (bollard), and [`demo_image`] packages the built-in demo workload as a `FROM scratch` image.
//!
//! It works against Docker 20.10 (API 1.41) and newer engines, and against Podman's Docker-compatible socket: the
//! API version is negotiated on first contact. Only objects labelled `io.crane.managed=true` with the caller's
//! `io.crane.owner` are ever listed, adopted or removed.

#![warn(missing_docs)]

pub mod demo_image;
pub mod error;
pub mod image_source;
pub mod runtime;

pub use demo_image::{
    build_demo_image, build_vulnerable_demo_image, demo_image_present, DEMO_BINARY, DEMO_IMAGE, VULNERABLE_DEMO_IMAGE,
};
pub use error::{Result, RuntimeError};
pub use image_source::{build_scratch_image, ImageInfo, ImageSource};
pub use runtime::DockerRuntime;
