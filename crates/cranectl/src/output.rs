//! How results are shown: kubectl-style aligned tables, `describe` text, and `-o json|yaml`. Pure functions of
//! the wire types (and "now", for ages), so they are tested without an engine.

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use crane_api::{AppView, EventView, InstanceState, InstanceView, StatusView};
use serde::Serialize;

use crate::error::{CliError, Result};

/// Output format of commands that print resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// Pretty JSON (the REST API's wire types).
    Json,
    /// YAML.
    Yaml,
}

/// Renders `value` as JSON or YAML, or with `table` for the table format.
pub fn render<T: Serialize>(format: Format, value: &T, table: impl FnOnce() -> String) -> Result<String> {
    match format {
        Format::Table => Ok(table()),
        Format::Json => serde_json::to_string_pretty(value)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| CliError::Serve(format!("cannot print JSON: {e}"))),
        Format::Yaml => serde_norway::to_string(value).map_err(|e| CliError::Serve(format!("cannot print YAML: {e}"))),
    }
}

/// Aligns columns like kubectl: each column as wide as its widest cell, three spaces apart.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 3;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `get apps`.
pub fn apps_table(apps: &[AppView], now: DateTime<Utc>) -> String {
    if apps.is_empty() {
        return "No apps found.\n".to_string();
    }
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                a.image.clone(),
                a.replicas.to_string(),
                a.ready.to_string(),
                a.revision.to_string(),
                a.url.clone().unwrap_or_else(|| "<none>".into()),
                age(&a.created_at, now),
            ]
        })
        .collect();
    table(&["NAME", "IMAGE", "REPLICAS", "READY", "REVISION", "URL", "AGE"], &rows)
}

/// `get instances APP`.
pub fn instances_table(instances: &[InstanceView]) -> String {
    if instances.is_empty() {
        return "No instances.\n".to_string();
    }
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|i| {
            vec![
                i.name.clone(),
                state(i.state).to_string(),
                i.revision.to_string(),
                i.restarts.to_string(),
                i.address.clone().unwrap_or_else(|| "<none>".into()),
                i.message.clone(),
            ]
        })
        .collect();
    table(&["NAME", "STATE", "REVISION", "RESTARTS", "ADDRESS", "MESSAGE"], &rows)
}

/// `get events`.
pub fn events_table(events: &[EventView], now: DateTime<Utc>) -> String {
    if events.is_empty() {
        return "No events found.\n".to_string();
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                age(&e.at, now),
                e.app.clone().unwrap_or_else(|| "-".into()),
                e.instance.clone().unwrap_or_else(|| "-".into()),
                e.kind.clone(),
                e.reason.clone(),
            ]
        })
        .collect();
    table(&["AGE", "APP", "INSTANCE", "KIND", "REASON"], &rows)
}

/// `describe app NAME`.
pub fn describe_app(app: &AppView, events: &[EventView], now: DateTime<Utc>) -> String {
    let ports = if app.ports.is_empty() {
        "<none>".to_string()
    } else {
        app.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
    };
    let mut out = String::new();
    let mut field = |k: &str, v: String| out.push_str(&format!("{:<12}{v}\n", format!("{k}:")));
    field("Name", app.name.clone());
    field("Image", app.image.clone());
    field("Replicas", format!("{} desired, {} ready", app.replicas, app.ready));
    field("Revision", app.revision.to_string());
    field("Ports", ports);
    field("URL", app.url.clone().unwrap_or_else(|| "<none>".into()));
    field("Created", format!("{} ({} ago)", app.created_at, age(&app.created_at, now)));
    if !app.inactive.is_empty() {
        out.push_str("Inactive:\n");
        for sentence in &app.inactive {
            out.push_str(&format!("  {sentence}\n"));
        }
    }
    out.push_str("Instances:\n");
    out.push_str(&indent(&instances_table(&app.instances)));
    out.push_str("Events:\n");
    out.push_str(&indent(&events_table(events, now)));
    out
}

/// `status`.
pub fn status_text(status: &StatusView) -> String {
    let docker =
        if status.docker_ok { format!("ok ({})", status.docker) } else { format!("unreachable: {}", status.docker) };
    format!(
        "Crane:      {}\nAPI:        {}\nData dir:   {}\nDocker:     {docker}\nApps:       {}\n",
        status.version, status.api_url, status.data_dir, status.apps
    )
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn state(s: InstanceState) -> &'static str {
    match s {
        InstanceState::Starting => "starting",
        InstanceState::Running => "running",
        InstanceState::Ready => "ready",
        InstanceState::Crashed => "crashed",
        InstanceState::Restarting => "restarting",
        InstanceState::Stopping => "stopping",
    }
}

/// Time since an RFC 3339 instant, the way kubectl prints ages (`45s`, `5m20s`, `3h`, `2d4h`).
pub fn age(rfc3339: &str, now: DateTime<Utc>) -> String {
    let Ok(then) = DateTime::parse_from_rfc3339(rfc3339) else {
        return "<unknown>".to_string();
    };
    let secs = (now - then.with_timezone(&Utc)).num_seconds().max(0);
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs}s")
    } else if mins < 10 {
        match secs % 60 {
            0 => format!("{mins}m"),
            s => format!("{mins}m{s}s"),
        }
    } else if hours < 3 {
        format!("{mins}m")
    } else if hours < 8 {
        match mins % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        }
    } else if days < 365 * 2 {
        format!("{days}d")
    } else {
        format!("{}y", days / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-10T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn ages() {
        let check = |at: &str, expected: &str| assert_eq!(age(at, now()), expected, "{at}");
        check("2025-01-10T11:59:15Z", "45s");
        check("2025-01-10T11:54:40Z", "5m20s");
        check("2025-01-10T11:30:00Z", "30m");
        check("2025-01-10T08:00:00Z", "4h");
        check("2025-01-10T07:30:00Z", "4h30m");
        check("2025-01-09T00:00:00Z", "36h");
        check("2025-01-07T08:00:00Z", "3d4h");
        check("2024-12-01T12:00:00Z", "40d");
        check("2025-01-10T12:00:05Z", "0s");
        check("yesterday", "<unknown>");
    }

    #[test]
    fn tables_align() {
        let out = table(&["NAME", "X"], &[vec!["a".into(), "1".into()], vec!["longer".into(), "22".into()]]);
        assert_eq!(out, "NAME     X\na        1\nlonger   22\n");
    }

    fn app() -> AppView {
        AppView {
            name: "web".into(),
            image: "crane-demo:0.1.0".into(),
            replicas: 2,
            ready: 1,
            revision: 3,
            ports: vec![8080],
            url: Some("http://127.0.0.1:18080".into()),
            inactive: vec![],
            spec_yaml: String::new(),
            instances: vec![InstanceView {
                name: "web-1".into(),
                index: 1,
                id: "abc".into(),
                state: InstanceState::Ready,
                revision: 3,
                restarts: 0,
                message: String::new(),
                address: Some("172.18.0.2".into()),
                uptime_ms: Some(1.0),
            }],
            created_at: "2025-01-10T11:59:00Z".into(),
        }
    }

    #[test]
    fn apps_and_instances() {
        assert_eq!(
            apps_table(&[app()], now()),
            "NAME   IMAGE              REPLICAS   READY   REVISION   URL                      AGE\n\
             web    crane-demo:0.1.0   2          1       3          http://127.0.0.1:18080   60s\n"
        );
        assert_eq!(
            instances_table(&app().instances),
            "NAME    STATE   REVISION   RESTARTS   ADDRESS      MESSAGE\n\
             web-1   ready   3          0          172.18.0.2\n"
        );
        let described = describe_app(&app(), &[], now());
        assert!(described.contains("Replicas:   2 desired, 1 ready\n"), "{described}");
        assert!(described.contains("Events:\n  No events found.\n"), "{described}");
    }

    #[test]
    fn formats() {
        let json = render(Format::Json, &vec![app()], String::new).unwrap();
        assert!(json.starts_with("[\n"));
        let yaml = render(Format::Yaml, &app(), String::new).unwrap();
        assert!(yaml.contains("name: web"), "{yaml}");
    }
}
