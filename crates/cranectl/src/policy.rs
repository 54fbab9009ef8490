//! `cranectl policy list|get|set|validate|reset|eval|test`: Crane's policies (admission, scaling, alerts) through
//! the REST API. Files are read bounded by the engine's own caps, and a larger file is refused unsent.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use crane_api::{PolicyEvalRequest, PolicyTestReport, PolicyUpdate, PolicyView};
use crane_core::policy::{MAX_POLICY_BYTES, MAX_POLICY_DATA_BYTES, MAX_POLICY_INPUT_BYTES};

use crate::client::Client;
use crate::emit;
use crate::error::{CliError, Result};
use crate::output::{self, Format};

/// What `cranectl policy` does.
#[derive(Debug, Subcommand)]
pub enum PolicyWhat {
    /// List the policies: package, whether it is the shipped version, who changed it.
    #[command(after_help = "Example:\n  cranectl policy list")]
    List,
    /// Print a policy's Rego (or, with --data, its data document).
    #[command(after_help = "Examples:\n  cranectl policy get admission > admission.rego\n  \
                      cranectl policy get scaling --data\n  cranectl policy get alerts -o json")]
    Get {
        /// Policy: admission, scaling or alerts.
        name: String,
        /// Print the data document (the policy's settings, JSON) instead of the Rego.
        #[arg(long)]
        data: bool,
    },
    /// Replace a policy's Rego (-f) and/or data document (--data). A policy that does not compile, fails its own
    /// tests or answers what Crane cannot act on is refused with each problem's line and column (admin only).
    #[command(after_help = "Examples:\n  cranectl policy set admission -f admission.rego\n  \
                      cranectl policy set scaling --data scaling.json   # e.g. {\"max_replicas\": 10}")]
    Set(PolicyFiles),
    /// Check a policy like `set` does, without saving it.
    #[command(after_help = "Example:\n  cranectl policy validate admission -f admission.rego")]
    Validate(PolicyFiles),
    /// Return a policy to the version Crane ships (admin only).
    #[command(after_help = "Example:\n  cranectl policy reset admission")]
    Reset {
        /// Policy: admission, scaling or alerts.
        name: String,
    },
    /// Evaluate a policy against an input document (JSON) and print what Crane would decide.
    #[command(
        after_help = "Examples:\n  cranectl policy eval admission -f policies/samples/admission-create.json\n  \
                      cranectl policy eval scaling -f input.json --rego draft.rego   # a draft, not saved\n\n\
                      Without -f, the policy's sample input is used."
    )]
    Eval {
        /// Policy: admission, scaling or alerts.
        name: String,
        /// Input document (JSON); `-` reads standard input. Default: the policy's sample input.
        #[arg(short = 'f', long = "filename", value_name = "INPUT")]
        input: Option<PathBuf>,
        /// Evaluate this Rego instead of the running policy (nothing is saved).
        #[arg(long, value_name = "FILE")]
        rego: Option<PathBuf>,
    },
    /// Run every policy's Rego unit tests (`test_` rules); exits 1 when one fails.
    #[command(after_help = "Example:\n  cranectl policy test")]
    Test,
}

/// The files of `set` and `validate`.
#[derive(Debug, clap::Args)]
pub struct PolicyFiles {
    /// Policy: admission, scaling or alerts.
    name: String,
    /// Rego file (`-` reads standard input).
    #[arg(short = 'f', long = "filename", value_name = "FILE", required_unless_present = "data")]
    file: Option<PathBuf>,
    /// Data document (JSON object) file: the policy's settings.
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
}

/// Runs `cranectl policy …`.
pub async fn run(client: &Client, what: PolicyWhat, format: Format) -> Result<()> {
    match what {
        PolicyWhat::List => {
            let policies = client.list_policies().await?;
            emit(&output::render(format, &policies, || list_table(&policies))?)
        }
        PolicyWhat::Get { name, data } => {
            let policy = client.get_policy(&name).await?;
            emit(&output::render(format, &policy, || {
                if data {
                    format!("{}\n", serde_json::to_string_pretty(&policy.data).unwrap_or_default())
                } else {
                    policy.rego.clone()
                }
            })?)
        }
        PolicyWhat::Set(files) => {
            let (name, update) = read_update(&files)?;
            let policy = client.set_policy(&name, &update).await.map_err(|e| named(e, &files))?;
            emit(&output::render(format, &policy, || format!("policy/{name} changed: it decides from now on\n"))?)
        }
        PolicyWhat::Validate(files) => {
            let (name, update) = read_update(&files)?;
            let validation = client.validate_policy(&name, &update).await?;
            let file = files.file.as_ref().map(|f| f.display().to_string()).unwrap_or_else(|| name.clone());
            emit(&output::render(format, &validation, || {
                let mut text = String::new();
                for d in &validation.diagnostics {
                    let place = if d.line > 0 { format!("{file}:{}:{}", d.line, d.column) } else { d.path.clone() };
                    text.push_str(&format!("{place}: {} — {}\n", d.message, d.fix));
                }
                let passed = validation.tests.iter().filter(|t| t.passed).count();
                if !validation.tests.is_empty() {
                    text.push_str(&format!("tests: {passed} passed, {} failed\n", validation.tests.len() - passed));
                }
                text.push_str(if validation.valid { "policy is valid\n" } else { "policy is invalid\n" });
                text
            })?)?;
            if validation.valid {
                Ok(())
            } else {
                Err(CliError::Serve(format!("policy/{name} would be refused; fix the problems above")))
            }
        }
        PolicyWhat::Reset { name } => {
            let policy = client.reset_policy(&name).await?;
            emit(&output::render(format, &policy, || format!("policy/{name} reset to the shipped version\n"))?)
        }
        PolicyWhat::Eval { name, input, rego } => {
            let input = match input {
                Some(path) => {
                    let text = read_bounded(&path, MAX_POLICY_INPUT_BYTES, "input document")?;
                    serde_json::from_str(&text).map_err(|e| {
                        CliError::Serve(format!(
                            "{} is not JSON: {e}; write the input document as JSON",
                            path.display()
                        ))
                    })?
                }
                None => client.get_policy(&name).await?.sample_input,
            };
            let rego = rego.map(|p| read_bounded(&p, MAX_POLICY_BYTES, "policy")).transpose()?;
            let result = client.eval_policy(&name, &PolicyEvalRequest { input, rego, data: None }).await?;
            emit(&output::render(format, &result, || {
                format!(
                    "{}\n{}\n({:.0} µs)\n",
                    result.summary,
                    serde_json::to_string_pretty(&result.output).unwrap_or_default(),
                    result.duration_us
                )
            })?)
        }
        PolicyWhat::Test => {
            let report = client.test_policies().await?;
            emit(&output::render(format, &report, || test_text(&report))?)?;
            if report.failed > 0 {
                return Err(CliError::Serve(format!("{} policy test(s) failed", report.failed)));
            }
            Ok(())
        }
    }
}

/// An API error of `set`, with the Rego file named for its diagnostics.
fn named(err: CliError, files: &PolicyFiles) -> CliError {
    match err {
        CliError::Api { error, .. } => CliError::Api {
            error,
            source_name: files.file.as_ref().map(|f| f.display().to_string()),
            document: "policy",
        },
        other => other,
    }
}

/// The name and the update `set`/`validate` send.
fn read_update(files: &PolicyFiles) -> Result<(String, PolicyUpdate)> {
    let rego = files.file.as_ref().map(|f| read_bounded(f, MAX_POLICY_BYTES, "policy")).transpose()?;
    let data = match &files.data {
        Some(path) => {
            let text = read_bounded(path, MAX_POLICY_DATA_BYTES, "data document")?;
            Some(serde_json::from_str(&text).map_err(|e| {
                CliError::Serve(format!(
                    "{} is not JSON: {e}; write the data document as a JSON object, e.g. {{\"max_replicas\": 10}}",
                    path.display()
                ))
            })?)
        }
        None => None,
    };
    Ok((files.name.clone(), PolicyUpdate { rego, data }))
}

/// Reads a file (or stdin for `-`) of at most `max` bytes; a larger one is refused, naming the cap.
fn read_bounded(path: &Path, max: usize, what: &str) -> Result<String> {
    let name = if path.as_os_str() == "-" { "<stdin>".to_string() } else { path.display().to_string() };
    let input: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(|source| CliError::Input { name: name.clone(), source })?)
    };
    let mut bytes = Vec::new();
    input
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| CliError::Input { name: name.clone(), source })?;
    if bytes.len() > max {
        return Err(CliError::Serve(format!(
            "{name} is larger than {max} bytes, the most a {what} may be; it was not sent"
        )));
    }
    String::from_utf8(bytes)
        .map_err(|e| CliError::Input { name, source: std::io::Error::new(std::io::ErrorKind::InvalidData, e) })
}

/// `policy list` as a table.
pub fn list_table(policies: &[PolicyView]) -> String {
    let rows: Vec<Vec<String>> = policies
        .iter()
        .map(|p| {
            vec![
                serde_json::to_value(p.name).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
                p.package.clone(),
                p.rules.join(","),
                if p.shipped { "shipped".to_string() } else { "edited".to_string() },
                p.updated_by.clone().unwrap_or_else(|| "-".to_string()),
                p.updated_at.clone().unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    output::table(&["NAME", "PACKAGE", "RULES", "VERSION", "CHANGED BY", "CHANGED AT"], &rows)
}

/// `policy test` as text: one line per test, then the counts.
pub fn test_text(report: &PolicyTestReport) -> String {
    let mut text = String::new();
    for result in &report.results {
        let mark = if result.passed { "PASS" } else { "FAIL" };
        text.push_str(&format!("{mark}  {}", result.name));
        if let Some(error) = &result.error {
            text.push_str(&format!(": {error}"));
        }
        text.push('\n');
    }
    text.push_str(&format!("{} passed, {} failed\n", report.passed, report.failed));
    text
}
