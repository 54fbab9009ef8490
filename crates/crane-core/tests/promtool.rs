//! The exported rule files are real Prometheus rule files: Prometheus' own checker, `promtool check rules`, accepts
//! the export of Crane's shipped rules and of a file using every field Crane reads. `scripts/setup.sh test` installs
//! Debian's `prometheus` package, which provides `promtool`; without it this test fails (it does not skip), because
//! the promise that Prometheus accepts the export would otherwise go unchecked.

use std::process::Command;

use crane_core::alerts::{parse_rule_file, to_prometheus_rule_file, DEFAULT_RULES};

const EVERY_FIELD: &str = r#"groups:
  - name: apps
    interval: 30s
    rules:
      - alert: HighRequestRate
        expr: sum by (app) (rate(crane_lb_requests_total{code=~"2xx|3xx"}[1m])) > bool 50
        for: 1m30s
        keep_firing_for: 2m
        labels:
          severity: warning
          team: "{{ $labels.app }}"
        annotations:
          summary: "{{ $labels.app }}: {{ $value }} req/s"
        firing_action: scale_up
        resolved_action: scale_down
      - alert: Degraded
        expr: |
          min by (app) (crane_app_ready_replicas)
            < on(app) min by (app) (crane_app_replicas)
        firing_action: none
  - name: engine
    rules:
      - alert: DockerDown
        expr: max(crane_docker_up) == 0
"#;

fn promtool_accepts(name: &str, yaml: &str) {
    let file = parse_rule_file(yaml).unwrap_or_else(|d| panic!("{name}: {}", crane_core::error::render(&d)));
    let exported = to_prometheus_rule_file(&file);
    let dir = std::env::temp_dir().join(format!("crane-promtool-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.rules.yml"));
    std::fs::write(&path, &exported).unwrap();
    let output = Command::new("promtool").arg("check").arg("rules").arg(&path).output();
    let _ = std::fs::remove_dir_all(&dir);
    let output = output.unwrap_or_else(|e| {
        panic!("promtool could not be run ({e}); install Debian's `prometheus` package (`scripts/setup.sh test` does)")
    });
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool refused the export of {name}:\n{text}\n--- exported ---\n{exported}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn promtool_accepts_the_exported_rules() {
    promtool_accepts("default", DEFAULT_RULES);
    promtool_accepts("every-field", EVERY_FIELD);
}
