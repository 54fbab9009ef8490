//! `cranectl lab list|load PATH|status [ID]|reset [ID]`: preset labs through the REST API. A lab's folder is packed
//! into a tar archive here (regular files only, within the lab's bounds) and sent whole; the engine checks it again.

use std::path::Path;

use clap::Subcommand;
use crane_api::{LabLevel, LabOrigin, LabResetView, LabSummaryView, LabView};
use crane_core::lab::{archive::MAX_ARCHIVE_BYTES, MAX_FILES, MAX_FILE_BYTES, MAX_LAB_BYTES};

use crate::client::Client;
use crate::emit;
use crate::error::{CliError, Result};
use crate::output::{self, Format};

/// What `cranectl lab` does.
#[derive(Debug, Subcommand)]
pub enum LabWhat {
    /// List the shipped labs and the loaded one.
    #[command(after_help = "Example:\n  cranectl lab list")]
    List,
    /// Load a lab: a shipped lab's id, a lab's folder (holding lab.yaml), or a tar/tar.gz archive of one (admins).
    /// A malformed lab is refused with each problem's file, line and column, and nothing is created.
    #[command(after_help = "Examples:\n  cranectl lab load self-healing\n  cranectl lab load ./my-lab\n  \
                      cranectl lab load my-lab.tar.gz")]
    Load {
        /// Shipped lab id, folder or archive.
        path: String,
    },
    /// Show the loaded lab's steps and whether each check holds now.
    #[command(after_help = "Examples:\n  cranectl lab status\n  cranectl lab status self-healing -o json")]
    Status {
        /// Lab id (default: the loaded lab).
        id: Option<String>,
    },
    /// Reset the loaded lab: remove exactly what it created, restore the policies and alert rules it replaced.
    #[command(after_help = "Example:\n  cranectl lab reset")]
    Reset {
        /// Lab id (default: the loaded lab).
        id: Option<String>,
    },
}

/// Runs a `cranectl lab` command.
pub async fn run(client: &Client, what: LabWhat, format: Format) -> Result<()> {
    match what {
        LabWhat::List => {
            let labs = client.lab_list().await?;
            emit(&output::render(format, &labs, || list_text(&labs))?)
        }
        LabWhat::Load { path } => {
            let view = if Path::new(&path).exists() {
                let archive = pack(Path::new(&path))?;
                client.lab_load_archive(archive).await.map_err(|e| named(e, &path))?
            } else {
                client.lab_load_shipped(&path).await.map_err(|e| named(e, &path))?
            };
            emit(&output::render(format, &view, || status_text(&view))?)
        }
        LabWhat::Status { id } => {
            let id = loaded_id(client, id).await?;
            let view = client.lab_status(&id).await?;
            emit(&output::render(format, &view, || status_text(&view))?)
        }
        LabWhat::Reset { id } => {
            let id = loaded_id(client, id).await?;
            let view: LabResetView = client.lab_reset(&id).await?;
            emit(&output::render(format, &view, || format!("lab/{} reset: {}\n", view.id, view.message))?)
        }
    }
}

/// Problems of a lab name their own files; the path given names the lab.
fn named(error: CliError, path: &str) -> CliError {
    match error {
        CliError::Api { error, .. } => CliError::Api { error, source_name: Some(path.to_string()), document: "lab" },
        other => other,
    }
}

/// The id given, or the loaded lab's.
async fn loaded_id(client: &Client, id: Option<String>) -> Result<String> {
    if let Some(id) = id {
        return Ok(id);
    }
    let labs = client.lab_list().await?;
    labs.into_iter().find(|l| l.loaded).map(|l| l.id).ok_or_else(|| {
        CliError::Lab(
            "no lab is loaded; list the labs with `cranectl lab list` and load one with `cranectl lab load ID`"
                .to_string(),
        )
    })
}

/// A lab's folder as a tar archive in memory, or an archive file's bytes, within the lab's bounds.
fn pack(path: &Path) -> Result<Vec<u8>> {
    let input = |e: std::io::Error| CliError::Input { name: path.display().to_string(), source: e };
    let meta = std::fs::metadata(path).map_err(input)?;
    if meta.is_file() {
        if meta.len() > MAX_ARCHIVE_BYTES as u64 {
            return Err(CliError::Lab(format!(
                "{} is {} bytes; a lab archive may be at most {MAX_ARCHIVE_BYTES} bytes (8 MiB); it was not sent",
                path.display(),
                meta.len()
            )));
        }
        return std::fs::read(path).map_err(input);
    }
    let mut builder = tar::Builder::new(Vec::new());
    let mut stack = vec![path.to_path_buf()];
    let (mut files, mut bytes) = (0usize, 0u64);
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> =
            std::fs::read_dir(&dir).map_err(input)?.collect::<std::io::Result<Vec<_>>>().map_err(input)?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let full = entry.path();
            let relative = full.strip_prefix(path).unwrap_or(&full);
            let meta = std::fs::symlink_metadata(&full).map_err(input)?;
            if meta.file_type().is_symlink() {
                return Err(CliError::Lab(format!(
                    "{} is a link; a lab may not hold links (they could point outside it): replace it with a copy",
                    full.display()
                )));
            } else if meta.is_dir() {
                stack.push(full);
            } else if meta.is_file() {
                files += 1;
                bytes += meta.len();
                if files > MAX_FILES || meta.len() > MAX_FILE_BYTES as u64 || bytes > MAX_LAB_BYTES as u64 {
                    return Err(CliError::Lab(format!(
                        "the lab in {} is too large at {}: a lab holds at most {MAX_FILES} files of at most \
                         {MAX_FILE_BYTES} bytes, {MAX_LAB_BYTES} bytes in all; it was not sent",
                        path.display(),
                        relative.display()
                    )));
                }
                let content = std::fs::read(&full).map_err(input)?;
                let mut header = tar::Header::new_gnu();
                header.set_size(content.len() as u64);
                header.set_mode(0o644);
                header.set_entry_type(tar::EntryType::Regular);
                builder.append_data(&mut header, relative, content.as_slice()).map_err(input)?;
            }
        }
    }
    builder.into_inner().map_err(input)
}

fn level(level: LabLevel) -> &'static str {
    match level {
        LabLevel::Beginner => "beginner",
        LabLevel::Intermediate => "intermediate",
        LabLevel::Advanced => "advanced",
    }
}

fn list_text(labs: &[LabSummaryView]) -> String {
    let mut out = format!("{:<28} {:<13} {:>5}  {:<8} {}\n", "ID", "LEVEL", "STEPS", "ORIGIN", "TITLE");
    for lab in labs {
        let origin = match lab.origin {
            LabOrigin::Shipped => "shipped",
            LabOrigin::Loaded => "loaded",
        };
        let title = if lab.loaded { format!("{} (loaded)", lab.title) } else { lab.title.clone() };
        out.push_str(&format!("{:<28} {:<13} {:>5}  {:<8} {title}\n", lab.id, level(lab.level), lab.steps, origin));
    }
    out
}

fn status_text(view: &LabView) -> String {
    let mut out = format!(
        "lab/{}: {} ({}), {} of {} steps done; loaded {} by {}\n",
        view.id,
        view.title,
        level(view.level),
        view.done,
        view.steps.len(),
        view.loaded_at,
        view.loaded_by
    );
    for step in &view.steps {
        let mark = if step.done { "[x]" } else { "[ ]" };
        out.push_str(&format!("{mark} {}. {}\n", step.number, step.title));
        for check in &step.checks {
            let tick = if check.passed { "ok " } else { "..." };
            out.push_str(&format!("      {tick} {} ({})\n", check.description, check.observed));
        }
    }
    out
}
