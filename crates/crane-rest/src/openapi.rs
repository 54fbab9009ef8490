//! The OpenAPI 3.0 document, generated from the route table [`crate::routes::ROUTES`] (so every mounted route is
//! documented) plus hand-written schemas of the `crane_api` wire types (a test checks them against the types).

use serde_json::{json, Map, Value};

use crate::error::status_for_code;
use crate::routes::{Content, ParamIn, Route, Schema};

/// Error codes and what they mean, listed in the `ApiError` schema.
const ERROR_CODES: &[(&str, &str)] = &[
    ("invalid_spec", "The spec has problems; `diagnostics` lists each with line, column and fix."),
    ("bad_request", "The request is malformed (body, query) or a value is out of range."),
    ("unauthorized", "Missing or wrong bearer token."),
    ("forbidden", "Host or Origin not allowed."),
    ("not_found", "No such app or route."),
    ("method_not_allowed", "The route does not accept this method."),
    ("conflict", "The app exists already (create_only) or a name is taken."),
    ("port_in_use", "A host port is taken."),
    ("image_unavailable", "The image cannot be pulled or built."),
    ("docker_unreachable", "The Docker engine cannot be reached."),
    ("internal", "Anything else."),
];

/// The document for a server at `server_url`.
pub fn document(routes: &[Route], server_url: &str) -> Value {
    let mut paths = Map::new();
    for route in routes {
        let item = paths.entry(route.path.to_string()).or_insert_with(|| json!({}));
        if let Value::Object(item) = item {
            item.insert(route.verb.as_lower().to_string(), operation(route));
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Crane API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Run apps on the local Docker engine. Every route except this document and /healthz needs \
                            `Authorization: Bearer <token>` (also /metrics); the token is in `<data_dir>/token`. The server answers \
                            only to Host 127.0.0.1, localhost or [::1] with its port, and only to loopback or Crane \
                            window origins. Errors are `ApiError` objects."
        },
        "servers": [{ "url": server_url }],
        "security": [{ "bearerAuth": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The hex token stored in <data_dir>/token (also shown in the window's Settings)."
                }
            },
            "schemas": schemas(),
        }
    })
}

fn operation(route: &Route) -> Value {
    let mut op = Map::new();
    op.insert("operationId".into(), json!(route.operation_id));
    op.insert("summary".into(), json!(route.summary));
    op.insert("description".into(), json!(route.description));
    if route.public {
        op.insert("security".into(), json!([]));
    }
    if !route.params.is_empty() {
        let params: Vec<Value> = route
            .params
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "in": match p.location { ParamIn::Path => "path", ParamIn::Query => "query" },
                    "required": p.required,
                    "description": p.description,
                    "schema": { "type": p.kind },
                })
            })
            .collect();
        op.insert("parameters".into(), Value::Array(params));
    }
    if !route.request.is_empty() {
        op.insert("requestBody".into(), json!({ "required": true, "content": content(route.request) }));
    }
    let mut responses = Map::new();
    for reply in route.replies {
        let mut r = json!({ "description": reply.description });
        if !reply.content.is_empty() {
            r["content"] = content(reply.content);
        }
        responses.insert(reply.status.to_string(), r);
    }
    let mut errors: Vec<u16> = route.errors.to_vec();
    errors.push(403);
    if !route.public {
        errors.push(401);
    }
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        let codes: Vec<&str> = ERROR_CODES
            .iter()
            .filter(|(code, _)| status_for_code(code).as_u16() == status)
            .map(|(code, _)| *code)
            .collect();
        responses.insert(
            status.to_string(),
            json!({
                "description": format!("Error ({}).", codes.join(", ")),
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ApiError" } } }
            }),
        );
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

fn content(contents: &[Content]) -> Value {
    let mut map = Map::new();
    for c in contents {
        let schema = match c.schema {
            Schema::Named(name) => json!({ "$ref": format!("#/components/schemas/{name}") }),
            Schema::ListOf(name) => {
                json!({ "type": "array", "items": { "$ref": format!("#/components/schemas/{name}") } })
            }
            Schema::Text => json!({ "type": "string" }),
        };
        map.insert(c.media_type.to_string(), json!({ "schema": schema }));
    }
    Value::Object(map)
}

/// An object schema whose properties are all required (the wire types always send them all,
/// `null` for absent options).
fn object(description: &str, props: &[(&str, Value)]) -> Value {
    let mut properties = Map::new();
    for (name, schema) in props {
        properties.insert((*name).to_string(), schema.clone());
    }
    let required: Vec<&str> = props.iter().map(|(n, _)| *n).collect();
    json!({ "type": "object", "description": description, "properties": properties, "required": required })
}

fn s(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}
fn int(description: &str) -> Value {
    json!({ "type": "integer", "minimum": 0, "description": description })
}
fn num(description: &str) -> Value {
    json!({ "type": "number", "description": description })
}
fn boolean(description: &str) -> Value {
    json!({ "type": "boolean", "description": description })
}
fn nullable(mut schema: Value) -> Value {
    schema["nullable"] = json!(true);
    schema
}
fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}
/// A reference that may be `null`. OpenAPI 3.0 ignores siblings of `$ref`, so the reference is wrapped in `allOf`.
fn nullable_reference(name: &str, description: &str) -> Value {
    json!({ "allOf": [reference(name)], "nullable": true, "description": description })
}
fn list(items: Value, description: &str) -> Value {
    json!({ "type": "array", "items": items, "description": description })
}

/// Schemas of the wire types in `crane_api`, field for field.
pub(crate) fn schemas() -> Value {
    let codes: Vec<&str> = ERROR_CODES.iter().map(|(c, _)| *c).collect();
    let code_doc: Vec<String> = ERROR_CODES.iter().map(|(c, d)| format!("`{c}`: {d}")).collect();
    json!({
        "Health": object("Liveness answer.", &[("ok", boolean("Always true."))]),
        "Diagnostic": object("One problem found in a spec.", &[
            ("line", int("1-based line in the submitted YAML (0 when not tied to a line).")),
            ("column", int("1-based column (0 when not tied to a line).")),
            ("path", s("Dotted path of the field, e.g. `resources.memory`.")),
            ("message", s("What is wrong.")),
            ("fix", s("How to fix it.")),
        ]),
        "ApiError": object("An error.", &[
            ("code", json!({ "type": "string", "enum": codes, "description": code_doc.join(" ") })),
            ("message", s("One sentence for a human, naming the fix.")),
            ("diagnostics", list(reference("Diagnostic"), "Spec problems, for `invalid_spec`.")),
        ]),
        "InstanceView": object("One instance of an app.", &[
            ("name", s("Container name, `<app>-<index>`.")),
            ("index", int("1-based index.")),
            ("id", s("Container id (short), empty while not created.")),
            ("state", json!({
                "type": "string",
                "enum": ["starting", "running", "ready", "crashed", "restarting", "stopping"]
            })),
            ("revision", int("Revision the instance runs.")),
            ("restarts", int("Restarts of this slot since it last ran stably.")),
            ("message", s("Human-readable detail.")),
            ("address", nullable(s("IP address on the app network, when running."))),
            ("uptime_ms", nullable(num("Milliseconds since the instance started, when running."))),
            ("probe", nullable(s("Probe state in a few words (\"startup passed · liveness ok · ready\"), when the app \
                                  has probes."))),
            ("probe_failure", nullable(s("The last probe failure (\"readiness: GET /ready returned 503\"), if any."))),
            ("traffic", nullable_reference(
                "TrafficView",
                "Requests the load balancer sent to this instance, when the app has a port.",
            )),
        ]),
        "TrafficView": object("Request metrics of the built-in load balancer (counted since the engine started).", &[
            ("requests", num("Requests answered.")),
            ("rps", num("Requests per second over the last 10 s.")),
            ("p50_ms", num("Median latency in milliseconds.")),
            ("p95_ms", num("95th percentile latency in milliseconds.")),
            ("p99_ms", num("99th percentile latency in milliseconds.")),
            ("status_2xx", num("2xx answers.")),
            ("status_3xx", num("3xx answers.")),
            ("status_4xx", num("4xx answers.")),
            ("status_5xx", num("5xx answers (including the load balancer's own 502/503/504).")),
            ("errors", num("Answers the load balancer made itself because no instance could (502/503/504).")),
            ("in_flight", num("Requests in flight now.")),
            ("bytes_in", num("Bytes received from clients.")),
            ("bytes_out", num("Bytes sent to clients.")),
        ]),
        "RolloutView": object("Progress of a rolling update.", &[
            ("from", list(json!({ "type": "integer" }), "Revisions being replaced.")),
            ("to", int("Revision being rolled out.")),
            ("ready", int("New instances ready so far.")),
            ("total", int("Instances wanted.")),
            ("state", json!({
                "type": "string",
                "enum": ["progressing", "complete", "failed", "paused", "rolled_back"],
                "description": "`failed`: the new instances did not become ready; `rolled_back`: it failed and the \
                                app returned to the revision it replaced; `paused`: it failed and waits for a fixed \
                                spec or an undo."
            })),
            ("message", s("One sentence (\"rolling update to revision 2: 2/3 new instances ready\", or why it \
                           failed).")),
        ]),
        "RevisionView": object("One revision of an app.", &[
            ("revision", int("Revision number.")),
            ("created_at", s("When it was made, RFC 3339.")),
            ("image", s("Image of that revision.")),
            ("cause", s("Why it was made.")),
            ("current", boolean("Whether it is the current revision.")),
            ("spec_yaml", s("The spec of that revision, as YAML.")),
        ]),
        "UndoRequest": {
            "type": "object",
            "description": "Body of rollout undo; `{}` returns to the previous revision. Unknown fields are rejected.",
            "additionalProperties": false,
            "properties": {
                "to": {
                    "type": "integer",
                    "minimum": 0,
                    "nullable": true,
                    "description": "Revision to return to; the previous one when omitted."
                }
            }
        },
        "ManageNginxRequest": {
            "type": "object",
            "description": "Body of manage NGINX. Unknown fields are rejected.",
            "additionalProperties": false,
            "properties": {
                "config_path": s("Absolute path of the config file Crane writes (included by your nginx.conf)."),
                "pid_file": s("Absolute path of NGINX's pid file; Crane sends it SIGHUP after each rewrite."),
                "listen": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 65535,
                    "default": 8080,
                    "description": "Port the generated `server` listens on (127.0.0.1)."
                }
            },
            "required": ["config_path", "pid_file"]
        },
        "Message": object("What the server did.", &[("message", s("One sentence."))]),
        "AppView": object("One app with its instances.", &[
            ("name", s("App name.")),
            ("image", s("Image.")),
            ("replicas", int("Desired replicas.")),
            ("ready", int("Instances currently ready.")),
            ("revision", int("Current revision.")),
            ("ports", list(json!({ "type": "integer" }), "Container ports.")),
            ("url", nullable(s("Load balancer address, when the app has a port."))),
            ("inactive", list(json!({ "type": "string" }), "Spec sections stored but not active yet.")),
            ("spec_yaml", s("The YAML the app was applied from.")),
            ("instances", list(reference("InstanceView"), "Instances, by index.")),
            ("created_at", s("Creation time, RFC 3339.")),
            ("rollout", nullable_reference(
                "RolloutView",
                "The rolling update in progress (or the last one, also when it failed or was rolled back), if any.",
            )),
            ("traffic", nullable_reference("TrafficView", "Traffic through the app's load balancer, when it has a port.")),
            ("load", nullable_reference(
                "LoadView",
                "The load generator's run against this app (running or the last one), if any.",
            )),
            ("autoscaling", nullable_reference(
                "AutoscalingView",
                "The autoscaling policy with Crane's defaults applied and the latest decision; null without \
                 `autoscaling` in the spec.",
            )),
        ]),
        "AutoscalingView": object("An app's autoscaling policy as the autoscaler applies it (defaults included).", &[
            ("min", int("Lowest replica count.")),
            ("max", int("Highest replica count.")),
            ("metric", json!({
                "type": "string",
                "enum": ["cpu", "memory", "rps", "latency_p95", "custom"],
                "description": "What is measured.",
            })),
            ("target", num("Target: percent for cpu and memory, requests/s per replica for rps, ms for latency p95.")),
            ("query", nullable(s("The Prometheus query, for `custom`."))),
            ("tolerance", num("How far usage/target may stray from 1 before anything changes (0.1 = 10 %).")),
            ("scale_down_stabilization_ms", num("How far back recommendations hold a scale down, ms (effective).")),
            ("max_scale_up_step", nullable(int("Most instances added by one decision; null for no limit."))),
            ("max_scale_down_step", nullable(int("Most instances removed by one decision; null for no limit."))),
            ("last_decision", nullable_reference("AutoscaleDecisionView", "The latest decision, once there is one.")),
        ]),
        "AutoscaleDecisionView": object("One autoscaler decision.", &[
            ("at", s("When it was made, RFC 3339.")),
            ("from", int("Replicas before it.")),
            ("to", int("Replicas after it (equal to `from` for a hold).")),
            ("change", json!({ "type": "string", "enum": ["up", "down", "none"], "description": "Which way it went." })),
            ("value", nullable(num("The measured value compared with the target, when the metric was looked at."))),
            ("reason", s("The sentence with the formula.")),
        ]),
        "LoadRequest": {
            "type": "object",
            "description": "Body of start load: a constant rate, or a ramp from `rate` to `ramp_to`, for `duration_s` \
                            seconds. Unknown fields are rejected.",
            "additionalProperties": false,
            "properties": {
                "rate": {
                    "type": "number",
                    "minimum": 0,
                    "description": "Requests per second (the start rate of a ramp)."
                },
                "duration_s": { "type": "number", "minimum": 1, "maximum": 3600, "description": "How long, in seconds." },
                "ramp_to": {
                    "type": "number",
                    "minimum": 0,
                    "nullable": true,
                    "description": "With a ramp: the rate reached at the end."
                },
                "concurrency": {
                    "type": "integer",
                    "minimum": 1,
                    "nullable": true,
                    "description": "Most requests in flight at once (default 64)."
                },
                "path": {
                    "type": "string",
                    "nullable": true,
                    "description": "Path requested (default `/`), e.g. `/work?ms=20` to burn CPU in the demo app."
                }
            },
            "required": ["rate", "duration_s"]
        },
        "LoadView": object("A run of the load generator: live figures while it runs, the report when done.", &[
            ("running", boolean("Whether it is still running.")),
            ("url", s("Where it sends requests.")),
            ("target_rate", num("Requests per second asked for now.")),
            ("achieved_rate", num("Answers per second achieved (last second while running, overall when done).")),
            ("sent", num("Requests sent.")),
            ("ok", num("Answers with 2xx/3xx.")),
            ("errors", num("Failed requests (non-2xx/3xx, transport errors, concurrency limit).")),
            ("p50_ms", num("Median latency in milliseconds.")),
            ("p95_ms", num("95th percentile latency in milliseconds.")),
            ("p99_ms", num("99th percentile latency in milliseconds.")),
            ("elapsed_s", num("Seconds since it started.")),
            ("duration_s", num("Planned duration in seconds.")),
            ("stopped_early", boolean("Whether it was stopped before its end.")),
            ("error_kinds", list(json!({ "type": "string" }), "Errors by kind (\"HTTP 503: 12\"), when done.")),
        ]),
        "SdTargetGroup": object("One target group of Prometheus' HTTP service discovery (`http_sd_configs`).", &[
            ("targets", list(json!({ "type": "string" }), "`host:port` addresses to scrape.")),
            ("labels", json!({
                "type": "object",
                "additionalProperties": { "type": "string" },
                "description": "Labels attached to every target of the group (`job`, and for app instances `app`, \
                                `instance_name`, `revision`, `ready`)."
            })),
        ]),
        "ApplyResult": object("Result of apply.", &[
            ("app", reference("AppView")),
            ("action", json!({ "type": "string", "enum": ["created", "updated", "scaled", "unchanged"] })),
            ("warnings", list(json!({ "type": "string" }), "Non-fatal remarks.")),
        ]),
        "ApplyRequest": {
            "type": "object",
            "description": "Body of apply. Unknown fields are rejected.",
            "additionalProperties": false,
            "properties": {
                "yaml": s("The spec as YAML (JSON is YAML too)."),
                "create_only": {
                    "type": "boolean",
                    "default": false,
                    "description": "Fail with `conflict` if the app exists."
                }
            },
            "required": ["yaml"]
        },
        "ScaleRequest": {
            "type": "object",
            "description": "Body of scale. Unknown fields are rejected.",
            "additionalProperties": false,
            "properties": { "replicas": int("New replica count.") },
            "required": ["replicas"]
        },
        "EventView": object("One event-log entry.", &[
            ("id", num("Id, increasing.")),
            ("at", s("Time, RFC 3339 with milliseconds.")),
            ("app", nullable(s("App, if any."))),
            ("instance", nullable(s("Instance, if any."))),
            ("kind", s("Kind, e.g. `instance.replaced`.")),
            ("reason", s("Plain-language reason.")),
            ("details", s("Inputs of the decision (JSON text).")),
        ]),
        "LogLineView": object("One log line.", &[
            ("instance", s("Instance name.")),
            ("stream", json!({ "type": "string", "enum": ["stdout", "stderr"] })),
            ("timestamp", nullable(s("Timestamp (RFC 3339) reported by the engine."))),
            ("line", s("Text.")),
        ]),
        "StatusView": object("Engine status.", &[
            ("version", s("Crane version.")),
            ("docker_ok", boolean("Whether the Docker engine is reachable.")),
            ("docker", s("Docker version, or the error that prevents reaching it.")),
            ("api_url", s("REST API base URL.")),
            ("data_dir", s("Data directory.")),
            ("apps", int("Number of apps.")),
            ("rules", reference("RulesView")),
        ]),
        "RulesView": object("Rules the engine applies to user input, for doors that check input first.", &[
            ("app_name_max_len", int("Longest app name.")),
            ("app_name_pattern", s("The app name rule as a regular expression (ECMAScript syntax), length included.")),
            ("app_name_rule", s("The app name rule in words.")),
        ]),
        "ProgressView": object("Progress of a long operation.", &[
            ("operation", s("Operation id (`demo-image`).")),
            ("message", s("Step text.")),
            ("fraction", nullable(num("0..=1 when known."))),
            ("done", boolean("Whether the operation finished.")),
            ("error", nullable(s("Error text when it failed."))),
        ]),
        "ChangeView": {
            "description": "Something changed; `type` says what.",
            "oneOf": [
                object("The set of apps or instances, or an instance state, changed.", &[
                    ("type", json!({ "type": "string", "enum": ["apps"] })),
                ]),
                object("A new event-log entry.", &[
                    ("type", json!({ "type": "string", "enum": ["event"] })),
                    ("event", reference("EventView")),
                ]),
                object("Progress of a long operation.", &[
                    ("type", json!({ "type": "string", "enum": ["progress"] })),
                    ("progress", reference("ProgressView")),
                ]),
            ],
            "discriminator": { "propertyName": "type" }
        },
        "DemoImage": object("The demo image that was built.", &[("image", s("Image name, e.g. `crane-demo:0.1.0`."))]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crane_api::*;

    /// The property names of a schema equal the keys of a serialized value, so the hand-written schemas follow the
    /// wire types.
    fn check(name: &str, value: impl serde::Serialize) {
        let schemas = schemas();
        let schema = &schemas[name];
        let value = serde_json::to_value(value).unwrap();
        let mut keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        let mut props: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        keys.sort();
        props.sort();
        assert_eq!(keys, props, "schema {name} differs from the wire type");
    }

    fn instance() -> InstanceView {
        InstanceView {
            name: "web-1".into(),
            index: 1,
            id: String::new(),
            state: InstanceState::Ready,
            revision: 1,
            restarts: 0,
            message: String::new(),
            address: None,
            uptime_ms: None,
            probe: None,
            probe_failure: None,
            traffic: Some(traffic()),
        }
    }

    fn traffic() -> TrafficView {
        TrafficView {
            requests: 0.0,
            rps: 0.0,
            p50_ms: 0.0,
            p95_ms: 0.0,
            p99_ms: 0.0,
            status_2xx: 0.0,
            status_3xx: 0.0,
            status_4xx: 0.0,
            status_5xx: 0.0,
            errors: 0.0,
            in_flight: 0.0,
            bytes_in: 0.0,
            bytes_out: 0.0,
        }
    }

    fn rollout() -> RolloutView {
        RolloutView { from: vec![1], to: 2, ready: 1, total: 2, state: "progressing".into(), message: String::new() }
    }

    fn app() -> AppView {
        AppView {
            name: "web".into(),
            image: "i".into(),
            replicas: 1,
            ready: 1,
            revision: 1,
            ports: vec![],
            url: None,
            inactive: vec![],
            spec_yaml: String::new(),
            instances: vec![instance()],
            created_at: String::new(),
            rollout: Some(rollout()),
            traffic: None,
            load: Some(load()),
            autoscaling: Some(autoscaling()),
        }
    }

    fn autoscaling() -> AutoscalingView {
        AutoscalingView {
            min: 1,
            max: 5,
            metric: AutoscaleMetric::Cpu,
            target: 70.0,
            query: None,
            tolerance: 0.1,
            scale_down_stabilization_ms: 60_000.0,
            max_scale_up_step: None,
            max_scale_down_step: Some(1),
            last_decision: Some(decision()),
        }
    }

    fn decision() -> AutoscaleDecisionView {
        AutoscaleDecisionView {
            at: String::new(),
            from: 2,
            to: 3,
            change: ScaleChange::Up,
            value: Some(93.0),
            reason: "cpu 93% > target 70% → scale 2→3".into(),
        }
    }

    fn rules() -> RulesView {
        RulesView { app_name_max_len: 40, app_name_pattern: String::new(), app_name_rule: String::new() }
    }

    fn load() -> LoadView {
        LoadView {
            running: false,
            url: "http://127.0.0.1:1/".into(),
            target_rate: 50.0,
            achieved_rate: 49.9,
            sent: 150.0,
            ok: 150.0,
            errors: 0.0,
            p50_ms: 1.0,
            p95_ms: 2.0,
            p99_ms: 3.0,
            elapsed_s: 3.0,
            duration_s: 3.0,
            stopped_early: false,
            error_kinds: vec![],
        }
    }

    fn event() -> EventView {
        EventView {
            id: 1.0,
            at: String::new(),
            app: None,
            instance: None,
            kind: String::new(),
            reason: String::new(),
            details: String::new(),
        }
    }

    #[test]
    fn schemas_follow_wire_types() {
        check(
            "Diagnostic",
            Diagnostic { line: 1, column: 1, path: String::new(), message: String::new(), fix: String::new() },
        );
        check("ApiError", ApiError { code: String::new(), message: String::new(), diagnostics: vec![] });
        check("InstanceView", instance());
        check("AppView", app());
        check("AutoscalingView", autoscaling());
        check("AutoscaleDecisionView", decision());
        check("RulesView", rules());
        check("ApplyResult", ApplyResult { app: app(), action: "created".into(), warnings: vec![] });
        check("ApplyRequest", ApplyRequest { yaml: String::new(), create_only: false });
        check("ScaleRequest", ScaleRequest { replicas: 1 });
        check("TrafficView", traffic());
        check("RolloutView", rollout());
        check(
            "RevisionView",
            RevisionView {
                revision: 1,
                created_at: String::new(),
                image: String::new(),
                cause: String::new(),
                current: true,
                spec_yaml: String::new(),
            },
        );
        check("UndoRequest", UndoRequest { to: Some(2) });
        check(
            "LoadRequest",
            LoadRequest {
                rate: 1.0,
                duration_s: 1.0,
                ramp_to: Some(2.0),
                concurrency: Some(4),
                path: Some("/".into()),
            },
        );
        check("LoadView", load());
        check(
            "SdTargetGroup",
            crane_engine::SdTargetGroup {
                targets: vec!["127.0.0.1:1".into()],
                labels: [("job".to_string(), "crane".to_string())].into_iter().collect(),
            },
        );
        check(
            "ManageNginxRequest",
            crate::routes::ManageNginxBody { config_path: "/a".into(), pid_file: "/b".into(), listen: 8081 },
        );
        check("Message", crate::routes::MessageBody { message: String::new() });
        check("EventView", event());
        check(
            "LogLineView",
            LogLineView { instance: String::new(), stream: String::new(), timestamp: None, line: String::new() },
        );
        check(
            "StatusView",
            StatusView {
                version: String::new(),
                docker_ok: true,
                docker: String::new(),
                api_url: String::new(),
                data_dir: String::new(),
                apps: 0,
                rules: rules(),
            },
        );
        check(
            "ProgressView",
            ProgressView { operation: String::new(), message: String::new(), fraction: None, done: false, error: None },
        );
    }

    /// Every schema the route table names exists, and every schema of `crane_api` the routes return is checked
    /// by [`schemas_follow_wire_types`] (this list grows with it).
    #[test]
    fn named_schemas_exist() {
        let schemas = schemas();
        for route in crate::routes::ROUTES {
            for content in route.request.iter().chain(route.replies.iter().flat_map(|r| r.content.iter())) {
                if let Schema::Named(name) | Schema::ListOf(name) = content.schema {
                    assert!(
                        schemas[name].is_object(),
                        "{} {} names the missing schema {name}",
                        route.verb.as_lower(),
                        route.path
                    );
                }
            }
        }
        // Nested references too.
        let text = schemas.to_string();
        for part in text.split("\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(schemas[name].is_object(), "dangling $ref {name}");
        }
    }

    #[test]
    fn change_view_variants_are_documented() {
        let schemas = schemas();
        let variants = schemas["ChangeView"]["oneOf"].as_array().unwrap();
        let progress =
            ProgressView { operation: String::new(), message: String::new(), fraction: None, done: false, error: None };
        let values = [
            serde_json::to_value(ChangeView::Apps).unwrap(),
            serde_json::to_value(ChangeView::Event { event: event() }).unwrap(),
            serde_json::to_value(ChangeView::Progress { progress }).unwrap(),
        ];
        for (variant, value) in variants.iter().zip(values) {
            let mut keys: Vec<&String> = value.as_object().unwrap().keys().collect();
            let mut props: Vec<&String> = variant["properties"].as_object().unwrap().keys().collect();
            keys.sort();
            props.sort();
            assert_eq!(keys, props);
            assert_eq!(variant["properties"]["type"]["enum"][0], value["type"]);
        }
    }

    #[test]
    fn every_error_code_has_a_status() {
        for (code, _) in ERROR_CODES {
            let status = status_for_code(code);
            assert!(status != axum::http::StatusCode::INTERNAL_SERVER_ERROR || *code == "internal", "{code}");
        }
    }
}
