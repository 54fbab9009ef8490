//! Table-driven tests of spec parsing and validation: each case is a YAML source and the exact diagnostics it must
//! produce, one per line as `line:column path: message | fix`.

use super::*;
use crate::spec::{PortSpec, Resources};

/// The minimal-orchestrator example from product.md, unchanged.
const MINIMAL: &str = "\
name: api-service
image: node:18
replicas: 3
resources: { cpu: 0.3, memory: 256Mi }
health:
  liveness:  { type: http, path: /health }
  readiness: { type: http, path: /ready }
autoscaling: { min: 2, max: 10, metric: cpu, target: 70 }
";

/// The fuller spec from product.md, unchanged.
const FULL: &str = r#"
name: web                      # lowercase letters, digits, '-'; unique
image: crane-demo:0.1.0
replicas: 3
command: ["/demo", "--port", "8080"]
env: { GREETING: hello }
ports:
  - container: 8080
    public: 18080              # optional: the load balancer's host port; picked free and shown when omitted
resources: { cpu: 0.5, memory: 128Mi }
health:
  liveness:  { type: http, path: /health, port: 8080, period: 5s, timeout: 1s, failureThreshold: 3 }
  readiness: { type: http, path: /ready, port: 8080 }
autoscaling: { min: 1, max: 5, metric: rps, target: 50, scaleDownStabilization: 30s }
update: { maxSurge: 1, maxUnavailable: 0, failureAction: rollback }
security: { privileged: false, user: "1000", readOnlyRootFs: true }
"#;

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| format!("{}:{} {}: {} | {}", d.line, d.column, d.path, d.message, d.fix))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses `yaml` and compares the diagnostics (or "ok") with `expected`, ignoring the indentation of `expected`.
fn check(yaml: &str, expected: &str) {
    check_with(&Floor::default(), yaml, expected);
}

/// [`check`] under another safety floor.
fn check_with(floor: &Floor, yaml: &str, expected: &str) {
    let got = match parse_spec_with(yaml, floor) {
        Ok(_) => "ok".to_string(),
        Err(d) => render(&d),
    };
    let expected: Vec<&str> = expected.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(got, expected.join("\n"), "\n--- source ---\n{yaml}");
}

#[test]
fn good_specs() {
    check(MINIMAL, "ok");
    check(FULL, "ok");
    check("name: web\nimage: nginx\n", "ok");
    check(
        r#"{"name": "web", "image": "nginx:1.27", "replicas": 2, "ports": [{"container": 80}], "resources": {"memory": "64Mi"}}"#,
        "ok",
    );
    check("name: a\nimage: x\nenv: { PORT: 8080, DEBUG: true, EMPTY: '' }\n", "ok");
    check("name: w\nimage: x\nreplicas: 0\nvolumes: [{ source: data, target: /data }]\n", "ok");
    let srv = Floor { host_path_allow: vec!["/srv".into()], ..Floor::default() };
    check_with(&srv, "name: w\nimage: x\nreplicas: 0\nvolumes: [{ source: data, target: /data }, { source: /srv/x, target: /x, readOnly: true }]\n", "ok");
    check("name: w\nimage: x\nhealth: { liveness: { type: exec, command: [cat, /tmp/ok] }, startup: { type: tcp, port: 5432 } }\n", "ok");
    check("name: w\nimage: x\nautoscaling: { min: 1, max: 3, metric: custom, query: 'sum(up)', target: 1 }\n", "ok");
    check("name: w\nimage: x\nsecurity: { addCapabilities: [NET_BIND_SERVICE, CHOWN] }\nplacement: { strategy: spread, constraints: ['node.labels.zone == a'], labels: { tier: web } }\n", "ok");
    check("name: w\nimage: x\nresources: &r { cpu: 1 }\n", "ok");
}

#[test]
fn parsed_values() {
    let spec = parse_spec(FULL).unwrap();
    assert_eq!(spec.name, "web");
    assert_eq!(spec.replicas, 3);
    assert_eq!(
        spec.ports,
        vec![PortSpec {
            container: 8080,
            public: Some(18080),
            protocol: None,
            balance: None,
            mode: None,
            app_protocol: None,
            sticky: None
        }]
    );
    assert_eq!(spec.resources, Some(Resources { cpu: Some(0.5), memory: Some("128Mi".parse().unwrap()) }));
    assert_eq!(spec.memory_bytes(), Some(128 << 20));
    assert_eq!(spec.nano_cpus(), Some(500_000_000));
    assert_eq!(spec.security.as_ref().and_then(|s| s.user.as_deref()), Some("1000"));
    let minimal = parse_spec(MINIMAL).unwrap();
    assert_eq!(minimal.nano_cpus(), Some(300_000_000));
    assert_eq!(minimal.memory_bytes(), Some(256 << 20));
    let env = parse_spec("name: a\nimage: x\nenv: { PORT: 8080, DEBUG: true }\n").unwrap().env;
    assert_eq!(env.get("PORT").map(String::as_str), Some("8080"));
    assert_eq!(env.get("DEBUG").map(String::as_str), Some("true"));
}

#[test]
fn syntax_errors() {
    check(
        "name: web\nimage: [x\n",
        r#"3:1 : invalid YAML: while parsing a flow sequence, expected ',' or ']' | check the indentation, the `key: value` syntax and matching quotes and brackets here"#,
    );
    check(
        "name: web\n  image: x\n",
        r#"2:8 : invalid YAML: mapping values are not allowed in this context | check the indentation, the `key: value` syntax and matching quotes and brackets here"#,
    );
    check(
        "name: web\n\timage: x\n",
        r#"1:7 : invalid YAML: while scanning a plain scalar, found a tab | indent with spaces: YAML does not allow tabs for indentation"#,
    );
    check(
        "name: 'web\n",
        r#"1:7 : invalid YAML: while scanning a quoted scalar, found unexpected end of stream | check the indentation, the `key: value` syntax and matching quotes and brackets here"#,
    );
    check(
        "a: *nope\n",
        r#"1:4 : invalid YAML: while parsing node, found unknown anchor | define the anchor (`&name`) before using it (`*name`)"#,
    );
    check(
        "# nothing\n",
        "0:0 : the spec is empty | write at least `name:` and `image:`, e.g. `name: web` and `image: crane-demo:0.1.0`",
    );
    check(
        "name: a\n---\nname: b\n",
        r#"2:1 : invalid YAML: a spec is one YAML document; a second one starts here | remove the `---` line and what follows, or put each app in its own spec"#,
    );
}

#[test]
fn unknown_fields_all_at_once() {
    check(
        "base: &b { cpu: 1 }\n",
        r#"
        1:1 base: unknown field `base` | remove it; the fields allowed here are: name, image, replicas, command, env, ports, resources, health, autoscaling, update, placement, volumes, secrets, configs, security, heal
        1:1 name: required field `name` is missing | add `name: web`
        1:1 image: required field `image` is missing | add `image: crane-demo:0.1.0`
        "#,
    );
    check(
        "name: web\nimage: x\nreplica: 3\nresources:\n  memroy: 128Mi\n  cpus: 1\nhealth:\n  liveness: { type: http, path: /, failure_threshold: 3 }\nfoo: 1\n",
        r#"
            3:1 replica: unknown field `replica` | remove it, or did you mean `replicas`?
            5:3 resources.memroy: unknown field `memroy` | remove it, or did you mean `memory`?
            6:3 resources.cpus: unknown field `cpus` | remove it, or did you mean `cpu`?
            8:36 health.liveness.failure_threshold: unknown field `failure_threshold` | remove it, or did you mean `failureThreshold`?
            9:1 foo: unknown field `foo` | remove it; the fields allowed here are: name, image, replicas, command, env, ports, resources, health, autoscaling, update, placement, volumes, secrets, configs, security, heal
            "#,
    );
}

#[test]
fn type_errors_all_at_once() {
    check("name: web\nimage: x\nreplicas: three\nports:\n  - container: 70000\n  - container: '80'\ncommand: /demo --port 8080\nsecurity: { privileged: yes }\nresources: { cpu: half }\n", r#"
        3:11 replicas: expected a whole number (0 or more), found `three` | write a whole number, e.g. `3`
        5:16 ports[0].container: expected a whole number from 1 to 65535, found `70000` | use a number from 1 to 65535
        6:16 ports[1].container: expected a whole number from 1 to 65535, found the quoted text "80" | remove the quotes: numbers are written without them
        7:10 command: expected a list, found `/demo --port 8080` | write it as a list, e.g. `["/demo", "--port", "8080"]`
        8:25 security.privileged: expected `true` or `false`, found `yes` | write `true` or `false`, without quotes
        9:19 resources.cpu: expected a number, found `half` | write a number, e.g. `3`
        "#);
    check(
        "name: web\nimage: x\nhealth: { liveness: { type: grpc } }\n",
        r#"3:29 health.liveness.type: expected one of http, tcp, exec, found `grpc` | use one of: http, tcp, exec"#,
    );
    check(
        "name: web\nimage:\nreplicas: ~\n",
        r#"
        2:1 image: `image` has no value | give it a value, or remove the line
        3:11 replicas: `replicas` has no value | give it a value, or remove the line
        "#,
    );
    check(
        "name: web\nimage: x\nenv: { A: ~, B: }\ncommand: [/demo, ~]\n",
        r#"
        3:11 env.A: `A` has no value | write `A: ''` for an empty value
        3:14 env.B: `B` has no value | write `B: ''` for an empty value
        4:18 command[1]: expected text, found nothing | write a single value; quote it if it contains `:` or `#`
        "#,
    );
    check(
        "- name: web\n",
        r#"1:1 : expected a mapping of fields, found a list | write the fields on indented lines, e.g. `name: web`"#,
    );
    check(
        "name: web\nimage: x\nname: api\n",
        r#"3:1 name: `name` is set twice (first on line 1) | keep only one of them"#,
    );
}

#[test]
fn semantic_errors_all_at_once() {
    check(
        "name: Web_App\nimage: node 18\nreplicas: 101\nresources: { cpu: 0, memory: 256MB }\n",
        r#"
        1:7 name: `Web_App` is not a valid name: only lowercase letters, digits and '-' are allowed, starting with a letter | use lowercase letters, digits and '-', starting with a letter, e.g. `web-app`
        2:8 image: the image `node 18` contains whitespace | write the image reference without spaces, e.g. `node:18`
        3:11 replicas: replicas is 101; an app may have at most 100 instances | use a number from 0 to 100
        4:19 resources.cpu: cpu is 0; it must be at least 0.01 and at most 64 cores | use at least `0.01` cores, e.g. `0.5` for half a core
        4:30 resources.memory: `256MB` is not a memory quantity: `MB` is not a unit; use Ki, Mi, Gi, Ti (powers of 1024) or k, M, G, T (powers of 1000) | write a Kubernetes quantity such as `128Mi`, `1Gi` or `500M`
        "#,
    );
    check(
        "name: web\nimage: x\nresources: { memory: 4Mi }\n",
        r#"3:22 resources.memory: memory `4Mi` is below Docker's minimum of 6Mi | use at least `6Mi`"#,
    );
    check(
        "name: 1web\nimage: x\n",
        r#"1:7 name: `1web` is not a valid name: only lowercase letters, digits and '-' are allowed, starting with a letter | use lowercase letters, digits and '-', starting with a letter, e.g. `web`"#,
    );
    check(
        "name: web-service-with-a-very-long-name-that-goes-on\nimage: x\n",
        r#"1:7 name: the name is 46 characters long; the limit is 40 | use a shorter name"#,
    );
    check("name: web\nimage: x\nports:\n  - { container: 8080, public: 80 }\n  - { container: 8080, public: 18080 }\n  - { container: 9090, public: 18080, protocol: sctp }\n", r#"
        4:32 ports[0].public: public port 80 is below 1024, which needs root on the host | use a port from 1024 to 65535, or omit it to let Crane pick a free one
        5:18 ports[1].container: container port 8080 is already listed in ports[0] | list each container port once
        6:32 ports[2].public: public port 18080 is already used by ports[1] | give each port its own public port, or omit it to let Crane pick a free one
        6:49 ports[2].protocol: unknown protocol `sctp` | use `tcp` (the default) or `udp`
        "#);
    check("name: web\nimage: x\nhealth:\n  liveness: { type: http, path: health }\n  readiness: { type: http }\n  startup: { type: exec, period: 5x, timeout: 0s, failureThreshold: 0, successThreshold: 2 }\n", r#"
        4:33 health.liveness.path: the probe path `health` does not start with `/` | write it as `/health`
        5:14 health.readiness: the http readiness probe has no `path` | add e.g. `path: /health`
        6:12 health.startup: the exec startup probe has no `command` | add e.g. `command: ["cat", "/tmp/healthy"]`
        6:34 health.startup.period: `5x` is not a duration: `x` in `5x` is not a time unit; use ms, s, m or h | write e.g. `500ms`, `5s`, `1m` or `1m30s`
        6:47 health.startup.timeout: `0s` is zero; it must be longer | use e.g. `1s`
        6:69 health.startup.failureThreshold: failureThreshold is 0; it must be at least 1 | use 1 or more
        6:90 health.startup.successThreshold: successThreshold must be 1 for a startup probe | remove it, or set it to 1
        "#);
    check(
        "name: web\nimage: x\nautoscaling: { min: 0, max: 200, metric: cpus, target: 0 }\n",
        r#"
        3:21 autoscaling.min: autoscaling.min is 0 but the app has no port, so no request could wake it at zero | add a port (e.g. `ports: [{ container: 8080 }]`), or set `min: 1` or more
        3:29 autoscaling.max: autoscaling.max is 200; an app may have at most 100 instances | use 100 or less
        3:42 autoscaling.metric: unknown metric `cpus` | did you mean `cpu`?
        3:56 autoscaling.target: target is 0; it must be more than 0 | use e.g. `70` (percent for cpu and memory, requests/s per replica for rps, ms for latency_p95)
        "#,
    );
    // Scale to zero: something must be able to wake the app, and idleness must last.
    check("name: web\nimage: x\nports: [{ container: 8080 }]\nautoscaling: { min: 0, max: 0, metric: rps, target: 5, idleAfter: 0s }\n", r#"
        4:29 autoscaling.max: autoscaling.max is 0; the app could never serve | set `max: 1` or more
        4:67 autoscaling.idleAfter: `0s` is zero; it must be longer | use e.g. `1s`
        "#);
    check("name: web\nimage: x\nports: [{ container: 5432, mode: tcp }]\nautoscaling: { min: 0, max: 3, metric: cpu, target: 70 }\n", r#"
        4:21 autoscaling.min: autoscaling.min is 0 but the app's first port is a tcp port, which cannot hold a request while the app wakes | make the first port an http port (remove `mode: tcp`), or set `min: 1` or more
        "#);
    check("name: web\nimage: x\nports: [{ container: 8080 }]\nautoscaling: { min: 1, max: 3, metric: cpu, target: 70, idleAfter: 5m }\n", r#"
        4:68 autoscaling.idleAfter: idleAfter only applies with `min: 0`, and min is 1 | set `min: 0` to scale to zero when idle, or remove idleAfter
        "#);
    check("name: web\nimage: x\nautoscaling: { min: 3, max: 2, metric: custom, target: 5, scaleDownStabilization: soon }\n", r#"
        3:14 autoscaling.query: a custom metric needs a `query` | add a Prometheus query, e.g. `query: sum(rate(http_requests_total[1m]))`
        3:29 autoscaling.max: autoscaling.max (2) is below min (3) | set `max` to 3 or more
        3:83 autoscaling.scaleDownStabilization: `soon` is not a duration: `soon` does not start with a number | write e.g. `500ms`, `5s`, `1m` or `1m30s`
        "#);
    check(
        "name: web\nimage: x\nupdate: { maxSurge: 0, maxUnavailable: 0, failureAction: retry, deadline: 1 }\n",
        r#"
        3:40 update.maxUnavailable: maxSurge and maxUnavailable are both 0, so an update could never replace an instance | set `maxSurge: 1` (start the new instance first) or `maxUnavailable: 1`
        3:58 update.failureAction: unknown failureAction `retry` | use `rollback` (the default) or `pause`
        3:75 update.deadline: `1` is not a duration: `1` in `1` has no unit; add one: ms, s, m or h | write e.g. `500ms`, `5s`, `1m` or `1m30s`
        "#,
    );
    check("name: web\nimage: x\nvolumes:\n  - { source: My Data, target: data }\n  - { source: cache, target: /c }\n  - { source: /srv/c, target: /c }\n", r#"
        4:15 volumes[0].source: `My Data` is neither a volume name nor an absolute host path | use a name such as `data` (lowercase letters, digits, `_`, `.`, `-`) or a path such as `/srv/data`
        4:32 volumes[0].target: target `data` is not an absolute path | write the path inside the container starting with `/`, e.g. `/data`
        6:15 volumes[2].source: host path `/srv/c` is not on this engine's allow-list | use a named volume such as `data`, or ask an admin to allow the path
        6:31 volumes[2].target: `/c` is already mounted by volumes[1] | mount each path once
        "#);
    check("name: web\nimage: x\nenv: { 'A=B': x, '': y }\nsecurity: { addCapabilities: [cap_net_admin, SYS_ADMIN, CAP_CHOWN] }\ncommand: []\n", r#"
        3:8 env.A=B: the environment variable name `A=B` contains `=` | write names without `=`; the value goes after the `:`
        3:18 env.: an environment variable has an empty name | give it a name, e.g. `GREETING`
        4:31 security.addCapabilities[0]: `cap_net_admin` is not written as a capability name | write `NET_ADMIN`: uppercase, without the `CAP_` prefix
        4:46 security.addCapabilities[1]: capability `SYS_ADMIN` is refused: it gives the container control over the host | remove it; the capabilities a spec may add are CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE, SETGID, SETUID
        4:57 security.addCapabilities[2]: `CAP_CHOWN` is not written as a capability name | write `CHOWN`: uppercase, without the `CAP_` prefix
        5:10 command: command is an empty list | list the program and its arguments, or remove `command` to use the image's own
        "#);
    check(
        "name: web\nimage: x\nplacement: { strategy: '' }\nsecrets: [{ name: '', target: run/x }]\n",
        r#"
        3:24 placement.strategy: the strategy is empty | use `binpack`, `spread` or the name of a scheduling policy
        4:19 secrets[0].name: the name is empty | give the secret or config a name
        4:31 secrets[0].target: target `run/x` is not an absolute path | write a path inside the container starting with `/`
        "#,
    );
}

#[test]
fn validate_without_source_has_no_positions() {
    let mut spec = parse_spec(MINIMAL).unwrap();
    assert_eq!(validate(&spec), Ok(()));
    spec.name = "Bad".into();
    let errors = validate(&spec).unwrap_err();
    assert_eq!(render(&errors), "0:0 name: `Bad` is not a valid name: only lowercase letters, digits and '-' are allowed, starting with a letter | use lowercase letters, digits and '-', starting with a letter, e.g. `bad`");
}

#[test]
fn inactive_sections() {
    let minimal = parse_spec(MINIMAL).unwrap();
    assert_eq!(minimal.inactive_sections(), Vec::<String>::new());
    let full = parse_spec(FULL).unwrap();
    assert!(full.inactive_sections().is_empty(), "{:?}", full.inactive_sections());
    let plain = parse_spec("name: w\nimage: x\nresources: { memory: 64Mi }\nvolumes: [{ source: d, target: /d }]\nsecurity: { user: '1' }\n").unwrap();
    assert!(plain.inactive_sections().is_empty());
}

#[test]
fn revisions() {
    let base = parse_spec(FULL).unwrap();
    let changed = |edit: &dyn Fn(&mut AppSpec)| {
        let mut new = base.clone();
        edit(&mut new);
        needs_new_revision(&base, &new)
    };
    assert!(!changed(&|_| {}));
    assert!(!changed(&|s| s.replicas = 7));
    assert!(!changed(&|s| s.autoscaling = None));
    assert!(!changed(&|s| s.update = None));
    assert!(changed(&|s| s.image = "crane-demo:0.2.0".into()));
    assert!(changed(&|s| s.command = None));
    assert!(changed(&|s| {
        s.env.insert("X".into(), "1".into());
    }));
    assert!(changed(&|s| s.ports[0].container = 9090));
    assert!(changed(&|s| s.resources = None));
    assert!(changed(&|s| s.health = None));
    assert!(changed(&|s| s.security = None));
    assert!(changed(&|s| s.placement = Some(crate::spec::Placement {
        strategy: Some("spread".into()),
        constraints: vec![],
        labels: Default::default()
    })));
}

#[test]
fn yaml_round_trip() {
    for source in [MINIMAL, FULL] {
        let spec = parse_spec(source).unwrap();
        let text = to_yaml(&spec);
        assert_eq!(parse_spec(&text), Ok(spec), "round trip of\n{text}");
    }
    assert!(to_yaml(&parse_spec(MINIMAL).unwrap()).starts_with("name: api-service\nimage: node:18\nreplicas: 3\n"));
}

/// A spec that sets every field: if the schema table and the serde types drift apart, this fails.
#[test]
fn schema_matches_the_serde_types() {
    let every_field = r#"
name: web
image: x
replicas: 2
command: [a]
env: { A: b }
ports: [{ container: 80, public: 8080, protocol: tcp, balance: leastConnections, appProtocol: grpc, sticky: cookie }, { container: 81, mode: tcp }]
resources: { cpu: 1, memory: 1Gi }
health:
  liveness: { type: http, path: /, port: 80, command: [x], period: 1s, timeout: 1s, initialDelay: 0s, failureThreshold: 1, successThreshold: 1 }
  readiness: { type: tcp }
  startup: { type: exec, command: [x] }
autoscaling: { min: 1, max: 2, metric: custom, target: 1, query: q, scaleDownStabilization: 1m, maxScaleUpStep: 1, maxScaleDownStep: 1 }
update: { maxSurge: 1, maxUnavailable: 1, failureAction: pause, deadline: 1m }
placement: { strategy: binpack, constraints: [c], labels: { a: b } }
volumes: [{ source: d, target: /d, readOnly: true }]
secrets: [{ name: s, target: /run/s }]
configs: [{ name: c }]
security: { privileged: true, user: root, readOnlyRootFs: true, addCapabilities: [NET_ADMIN], keepDefaultCapabilities: true }
"#;
    // `privileged` and `NET_ADMIN` are below the safety floor; the floor is off here so every field can be written.
    let floor = Floor::unsafe_allowed();
    let spec = parse_spec_with(every_field, &floor).unwrap();
    // Serializing back must give every key the schema knows, so no field is missing from the table or the types.
    assert_eq!(parse_spec_with(&to_yaml(&spec), &floor), Ok(spec));
}

/// Values the typed spec parses go through the one parser of each quantity, in validation and in serde alike.
#[test]
fn typed_values() {
    let spec = parse_spec(
        "name: web\nimage: x\nports: [{ container: 80, protocol: tcp, balance: leastConnections }]\n\
         resources: { memory: 1e8 }\nhealth: { liveness: { type: tcp, period: 1500ms, timeout: '2s', initialDelay: 0 } }\n\
         autoscaling: { min: 1, max: 2, metric: latency_p95, target: 200, scaleDownStabilization: 1m30s }\n\
         update: { failureAction: pause, deadline: 0.5m }\n",
    )
    .unwrap();
    use crate::spec::{Balance, FailureAction, Metric, Protocol};
    use crate::units::Duration;
    assert_eq!(spec.memory_bytes(), Some(100_000_000));
    assert_eq!((spec.ports[0].protocol, spec.ports[0].balance), (Some(Protocol::Tcp), Some(Balance::LeastConnections)));
    let liveness = spec.health.as_ref().and_then(|h| h.liveness.as_ref()).unwrap();
    assert_eq!(
        (liveness.period, liveness.timeout, liveness.initial_delay),
        (Some(Duration::from_millis(1500)), Some(Duration::from_secs(2)), Some(Duration::ZERO))
    );
    let autoscaling = spec.autoscaling.as_ref().unwrap();
    assert_eq!(
        (autoscaling.metric, autoscaling.scale_down_stabilization),
        (Metric::LatencyP95, Some(Duration::from_secs(90)))
    );
    let update = spec.update.as_ref().unwrap();
    assert_eq!((update.failure_action, update.deadline), (Some(FailureAction::Pause), Some(Duration::from_secs(30))));
    // The canonical forms parse back to the same values.
    let text = to_yaml(&spec);
    assert!(text.contains("memory: 100M\n") && text.contains("period: 1.5s\n"), "{text}");
    assert_eq!(parse_spec(&text), Ok(spec.clone()), "round trip of\n{text}");
    // The store keeps specs as JSON: the same canonical texts, read back by the same parsers.
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(serde_json::from_str::<AppSpec>(&json).unwrap(), spec, "json round trip of {json}");
}

/// A value that does not parse is reported with the other problems, and checks that would read it are skipped.
#[test]
fn unparsed_values_do_not_hide_or_invent_problems() {
    check(
        "name: web\nimage: x\nports:\n  - { container: 80, protocol: sctp }\n  - { container: 80 }\n\
         autoscaling: { min: 1, max: 2, metric: custum, target: 1 }\nresources: { memory: '12 Mi' }\nreplicas: 101\n",
        r#"
        4:32 ports[0].protocol: unknown protocol `sctp` | use `tcp` (the default) or `udp`
        6:40 autoscaling.metric: unknown metric `custum` | did you mean `custom`?
        7:22 resources.memory: `12 Mi` is not a memory quantity: ` Mi` is not a unit; use Ki, Mi, Gi, Ti (powers of 1024) or k, M, G, T (powers of 1000) | write a Kubernetes quantity such as `128Mi`, `1Gi` or `500M`
        8:11 replicas: replicas is 101; an app may have at most 100 instances | use a number from 0 to 100
        "#,
    );
    check(
        "name: web\nimage: x\nhealth: { readiness: { type: tcp, period: { every: 5s } } }\n",
        r#"3:43 health.readiness.period: expected text, found a mapping | write a single value; quote it if it contains `:` or `#`"#,
    );
}

/// The pattern doors use agrees with the validator: every name it describes (first a letter, then up to
/// `MAX_NAME_LEN - 1` of `[a-z0-9-]`) passes, and the first name past the limit or with another character fails.
#[test]
fn app_name_pattern_matches_the_validator() {
    assert_eq!(app_name_pattern(), format!("^[a-z][a-z0-9-]{{0,{}}}$", MAX_NAME_LEN - 1));
    let check = |name: &str| parse_spec(&format!("name: {name}\nimage: x\n")).is_ok();
    let longest = format!("a{}", "b-9".repeat(13));
    assert_eq!(longest.len(), MAX_NAME_LEN);
    assert!(check(&longest) && check("a") && check("web-"), "names the pattern accepts pass");
    for bad in [format!("{longest}x"), "9web".into(), "-web".into(), "Web".into(), "w_b".into()] {
        assert!(!check(&bad), "`{bad}` is outside the pattern and must fail");
    }
}

/// The built-in safety floor: each way out of the container a spec could ask for, refused with the floor's message and
/// a fix; what stays allowed; and `allow_unsafe` letting the escapes through.
#[test]
fn safety_floor() {
    const CAPS: &str = "CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE, SETGID, SETUID";
    let host_fix = "use a named volume such as `data`, or ask an admin to allow the path";
    let escapes = [
        (
            "name: w\nimage: x\nsecurity: { privileged: true }\n",
            format!("3:25 security.privileged: privileged containers are refused: they get every capability and every host device, which is root on the host | remove `privileged: true`; if the app needs one capability, add it with `addCapabilities` (allowed: {CAPS})"),
        ),
        (
            "name: w\nimage: x\nvolumes: [{ source: /var/run/docker.sock, target: /var/run/docker.sock }]\n",
            format!("3:21 volumes[0].source: `/var/run/docker.sock` is or holds a socket such as the Docker socket; a container that can reach it controls the host | {host_fix}"),
        ),
        (
            "name: w\nimage: x\nvolumes: [{ source: /run/docker.sock, target: /d.sock }]\n",
            format!("3:21 volumes[0].source: `/run/docker.sock` is or holds a socket such as the Docker socket; a container that can reach it controls the host | {host_fix}"),
        ),
        (
            "name: w\nimage: x\nvolumes: [{ source: /, target: /host }]\n",
            format!("3:21 volumes[0].source: the host's root directory `/` cannot be mounted: it would give the container the whole host | {host_fix}"),
        ),
        (
            "name: w\nimage: x\nvolumes: [{ source: /etc/../etc/shadow, target: /s }]\n",
            format!("3:21 volumes[0].source: `/etc/../etc/shadow` is a protected host path (it is or contains `/etc`) | {host_fix}"),
        ),
        (
            "name: w\nimage: x\nvolumes: [{ source: /srv/app, target: /app }]\n",
            format!("3:21 volumes[0].source: host path `/srv/app` is not on this engine's allow-list | {host_fix}"),
        ),
        (
            "name: w\nimage: x\nsecurity: { addCapabilities: [ALL] }\n",
            format!("3:31 security.addCapabilities[0]: capability `ALL` is refused: it gives the container control over the host | remove it; the capabilities a spec may add are {CAPS}"),
        ),
        (
            "name: w\nimage: x\nsecurity: { addCapabilities: [DAC_READ_SEARCH] }\n",
            format!("3:31 security.addCapabilities[0]: capability `DAC_READ_SEARCH` is refused: it is not on the list of capabilities a spec may add | remove it; the capabilities a spec may add are {CAPS}"),
        ),
    ];
    for (yaml, expected) in &escapes {
        check(yaml, expected);
        check_with(&Floor::unsafe_allowed(), yaml, "ok");
    }
    // Every escape of the hardening issue at once: each one reported, in source order.
    check(
        "name: w\nimage: x\nsecurity: { privileged: true, addCapabilities: [SYS_ADMIN, SYS_MODULE] }\nvolumes: [{ source: /, target: /host }]\n",
        &format!("
        3:25 security.privileged: privileged containers are refused: they get every capability and every host device, which is root on the host | remove `privileged: true`; if the app needs one capability, add it with `addCapabilities` (allowed: {CAPS})
        3:49 security.addCapabilities[0]: capability `SYS_ADMIN` is refused: it gives the container control over the host | remove it; the capabilities a spec may add are {CAPS}
        3:60 security.addCapabilities[1]: capability `SYS_MODULE` is refused: it gives the container control over the host | remove it; the capabilities a spec may add are {CAPS}
        4:21 volumes[0].source: the host's root directory `/` cannot be mounted: it would give the container the whole host | {host_fix}
        "),
    );

    // The engine's data directory, and what contains it, even when an admin allowed a path around it.
    let admin = Floor { host_path_allow: vec!["/srv".into()], data_dir: Some("/srv/crane".into()), ..Floor::default() };
    check_with(
        &admin,
        "name: w\nimage: x\nvolumes: [{ source: /srv/crane/, target: /c }]\n",
        &format!(
            "3:21 volumes[0].source: `/srv/crane/` is or contains Crane's data directory `/srv/crane` | {host_fix}"
        ),
    );
    check_with(&admin, "name: w\nimage: x\nvolumes: [{ source: /srv/www, target: /www }]\n", "ok");

    // Allowed host paths are mounted read-only, and the apply's warnings say so; with the floor off they are not.
    let yaml = "name: w\nimage: x\nvolumes: [{ source: /srv/www, target: /www }, { source: data, target: /data }]\n";
    let spec = parse_spec_with(yaml, &admin).unwrap();
    assert!(spec.volumes[0].read_only && !spec.volumes[1].read_only);
    assert!(spec.applied_defaults().contains(&"volumes[0]: host path `/srv/www` is mounted read-only".to_string()));
    assert!(!parse_spec_with(yaml, &Floor::unsafe_allowed()).unwrap().volumes[0].read_only);

    // Allowed capabilities pass under the floor.
    check("name: w\nimage: x\nports: [{ container: 80 }]\nsecurity: { addCapabilities: [NET_BIND_SERVICE, SETUID, SETGID, KILL] }\n", "ok");

    // Reserved label prefixes and the CPU minimum are rules of the spec, not of the floor: `allow_unsafe` keeps them.
    for floor in [Floor::default(), Floor::unsafe_allowed()] {
        check_with(
            &floor,
            "name: w\nimage: x\nplacement:\n  labels: { traefik.http.routers.x.rule: 'Host(`a`)', io.crane.owner: me, Traefik.enable: 'true', tier: web }\n",
            "
            4:13 placement.labels.traefik.http.routers.x.rule: label `traefik.http.routers.x.rule` uses the reserved prefix `traefik.`, which belongs to Crane's own labels and routing | rename the label, e.g. `tier: web`; Crane sets its own and Traefik labels itself
            4:55 placement.labels.io.crane.owner: label `io.crane.owner` uses the reserved prefix `io.crane.`, which belongs to Crane's own labels and routing | rename the label, e.g. `tier: web`; Crane sets its own and Traefik labels itself
            4:75 placement.labels.Traefik.enable: label `Traefik.enable` uses the reserved prefix `traefik.`, which belongs to Crane's own labels and routing | rename the label, e.g. `tier: web`; Crane sets its own and Traefik labels itself
            ",
        );
        check_with(
            &floor,
            "name: w\nimage: x\nresources: { cpu: 1e-10 }\n",
            "3:19 resources.cpu: cpu is 0.0000000001; it must be at least 0.01 and at most 64 cores | use at least `0.01` cores, e.g. `0.5` for half a core",
        );
    }
    check("name: w\nimage: x\nresources: { cpu: 0.01 }\n", "ok");

    // A spec built in code goes through the same floor.
    let mut spec = parse_spec("name: w\nimage: x\n").unwrap();
    spec.security = Some(crate::spec::Security { privileged: true, ..Default::default() });
    let refused = validate(&spec).unwrap_err();
    assert_eq!((refused.len(), refused[0].path.as_str()), (1, "security.privileged"));
    assert_eq!(validate_with(&spec, &Floor::unsafe_allowed()), Ok(()));
}

/// Hostile documents are answered with a diagnostic, quickly and in bounded memory: bytes, aliases, key and value
/// lengths are all capped before the schema walk (whose "did you mean" would compare a long key character by
/// character). Wall time is only bounded generously; the point is that the call returns.
#[test]
fn hostile_specs_are_refused_early() {
    let started = std::time::Instant::now();

    // Too large: refused before parsing, naming the cap.
    let big = format!("name: web\nimage: x\nenv: {{ A: \"{}\" }}\n", "a".repeat(MAX_SPEC_BYTES));
    let errors = parse_spec(&big).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains(&format!("at most {MAX_SPEC_BYTES} bytes")), "{}", errors[0].message);

    // An alias bomb: one large anchored string and many aliases of it (1 MB of anchor, 300 aliases, before the byte
    // cap existed, cost ~620 MB). Under the byte cap the anchor is smaller, and the first alias is refused.
    let mut bomb = format!("name: web\nimage: x\nenv:\n  A: &big \"{}\"\n", "a".repeat(200_000 / 2));
    for i in 0..300 {
        bomb.push_str(&format!("  B{i}: *big\n"));
    }
    assert!(bomb.len() <= MAX_SPEC_BYTES);
    check(
        &bomb,
        "5:7 : invalid YAML: aliases (*name) are not supported in Crane specs | write the value out in full where \
         the alias (`*name`) stands",
    );
    // A plain alias is refused too; an anchor without aliases is harmless.
    check(
        "name: &n web\nimage: *n\n",
        "2:8 : invalid YAML: aliases (*name) are not supported in Crane specs | write the value out in full where \
         the alias (`*name`) stands",
    );
    check("name: &n web\nimage: x\n", "ok");

    // A long explicit key (`? key`; an implicit key ends at 1024 characters): refused with its (shortened) path,
    // without a "did you mean" (before the caps, a 1.9 MB key took 24 s there).
    let key = "k".repeat(200_000);
    let errors = parse_spec(&format!("name: web\nimage: x\n? {key}\n: 1\n")).unwrap_err();
    assert_eq!(errors.len(), 1, "{}", render(&errors));
    assert_eq!(errors[0].path, format!("{}…", "k".repeat(32)));
    assert!(errors[0].message.contains("a key may be at most 256 bytes"), "{}", errors[0].message);
    assert_eq!((errors[0].line, errors[0].column), (3, 3));

    // A long value: refused naming its field.
    let value = "v".repeat(MAX_SCALAR_BYTES + 1);
    let errors = parse_spec(&format!("name: web\nimage: x\ncommand: [\"{value}\"]\n")).unwrap_err();
    assert_eq!(errors.len(), 1, "{}", render(&errors));
    assert_eq!(errors[0].path, "command[0]");
    assert!(errors[0].message.contains("`command[0]`"), "{}", errors[0].message);
    assert!(errors[0].message.contains("at most 65536 bytes"), "{}", errors[0].message);

    // An unknown key just under the key cap still gets its answer (no suggestion) at once.
    let errors = parse_spec(&format!("name: web\nimage: x\n{}: 1\n", "q".repeat(MAX_KEY_BYTES))).unwrap_err();
    assert!(errors[0].fix.starts_with("remove it; the fields allowed here are"), "{}", errors[0].fix);

    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
}

/// The "did you mean" is not looked for in a word longer than any field name.
#[test]
fn no_suggestion_for_long_words() {
    let long = "replicas".repeat(100);
    assert_eq!(schema::suggest(&long, &["replicas"]), None);
    let words = "a".repeat(1_000_000);
    let started = std::time::Instant::now();
    assert_eq!(schema::suggest(&words, &["replicas", "image"]), None);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// How the load balancer carries a port: what a tcp port cannot have, and UDP, are refused with the reason.
#[test]
fn port_traffic_modes() {
    check(
        "name: web\nimage: x\nports: [{ container: 53, protocol: udp }]\n",
        r#"
        3:36 ports[0].protocol: udp port 53 cannot be served: Crane's load balancer carries TCP only, so UDP datagrams would never reach the app | remove `protocol: udp` (or the port); run a UDP service outside Crane for now
        "#,
    );
    check("name: db\nimage: x\nports: [{ container: 6379, mode: tcp }]\nhealth: { readiness: { type: http, path: /ready } }\n", r#"
        4:30 health.readiness.type: the readiness probe sends HTTP to port 6379, which is a tcp port (`mode: tcp`): a non-HTTP service would never pass it | use `type: tcp` for the readiness probe, or probe an http port with `port:`
        "#);
    check(
        "name: db\nimage: x\nports: [{ container: 6379, appProtocol: tcp, sticky: cookie }]\n",
        r#"
        3:54 ports[0].sticky: `sticky: cookie` needs HTTP cookies, but port 6379 is balanced per TCP connection (`appProtocol: tcp`) | remove `sticky` (a TCP connection stays on its instance anyway), or make the port http
        "#,
    );
    check(
        "name: db\nimage: x\nports: [{ container: 50051, mode: tcp, appProtocol: grpc }]\n",
        r#"
        3:53 ports[0].appProtocol: `appProtocol: grpc` is HTTP, but the port has `mode: tcp`, which never reads HTTP | remove `mode: tcp` to balance per request, or use `appProtocol: tcp`
        "#,
    );
    check(
        "name: db\nimage: x\nports: [{ container: 6379, mode: udp }]\n",
        r#"
        3:34 ports[0].mode: unknown mode `udp` | use `http` (the default: balanced per request) or `tcp` (balanced per connection)
        "#,
    );
    // An http probe of another (http) port is fine, and so is a tcp probe of the tcp port.
    for ok in [
        "name: web\nimage: x\nports: [{ container: 8080 }, { container: 9000, mode: tcp }]\nhealth: { readiness: { type: http, path: /ready } }\n",
        "name: db\nimage: x\nports: [{ container: 6379, mode: tcp }]\nhealth: { readiness: { type: tcp } }\n",
        "name: web\nimage: x\nports: [{ container: 8080, sticky: cookie, appProtocol: http2 }]\n",
    ] {
        check(ok, "ok");
    }
    let spec = parse_spec(
        "name: db\nimage: x\nports: [{ container: 6379, appProtocol: tcp }, { container: 80, appProtocol: grpc }]\n",
    )
    .unwrap();
    use crate::spec::PortMode;
    assert_eq!(spec.ports.iter().map(|p| p.effective_mode()).collect::<Vec<_>>(), [PortMode::Tcp, PortMode::Http]);
    assert_eq!(spec.ports.iter().map(|p| p.backend_http2()).collect::<Vec<_>>(), [false, true]);
}
