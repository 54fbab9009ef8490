//! The REST server against a real engine (no app is created here): token, Host and Origin checks, the OpenAPI
//! document, strict bodies and spec diagnostics.

mod support;

use crane_api::ErrorCode;

use reqwest::{Method, StatusCode};
use support::{api_error, TestServer};

#[tokio::test]
async fn missing_or_wrong_token_is_401() {
    let t = TestServer::start().await;
    let r = t.client.get(format!("{}/api/v1/apps", t.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let err = api_error(r).await;
    assert_eq!(err.code, ErrorCode::Unauthorized);
    assert!(err.message.contains("token"), "{}", err.message);

    let r = t.client.get(format!("{}/api/v1/apps", t.url)).bearer_auth("0".repeat(64)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Unknown paths under /api do not tell an attacker what exists.
    let r = t.client.get(format!("{}/api/v1/nothing", t.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = t.req(Method::GET, "/api/v1/apps").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    t.stop().await;
}

#[tokio::test]
async fn foreign_host_is_403() {
    let t = TestServer::start().await;
    let port = t.url.rsplit(':').next().unwrap().to_string();
    for host in ["evil.example".to_string(), format!("evil.example:{port}"), "127.0.0.1:1".to_string()] {
        let r = t.req(Method::GET, "/api/v1/status").header("Host", &host).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{host}");
        assert_eq!(api_error(r).await.code, ErrorCode::Forbidden);
        // Public routes too.
        let r = t.client.get(format!("{}/healthz", t.url)).header("Host", &host).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{host}");
    }
    for host in [format!("localhost:{port}"), format!("[::1]:{port}")] {
        let r = t.req(Method::GET, "/api/v1/status").header("Host", &host).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{host}");
    }
    t.stop().await;
}

#[tokio::test]
async fn foreign_origin_is_403() {
    let t = TestServer::start().await;
    // Loopback pages too: Crane's load balancers serve untrusted container content on loopback ports.
    let lb_port = t.url.rsplit(':').next().unwrap().parse::<u16>().unwrap().wrapping_add(1);
    for origin in [
        "https://evil.example".to_string(),
        format!("http://127.0.0.1:{lb_port}"),
        "http://localhost:8080".to_string(),
        "http://[::1]:3000".to_string(),
        "null".to_string(),
    ] {
        let r = t.req(Method::GET, "/api/v1/status").header("Origin", &origin).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin}");
        assert_eq!(api_error(r).await.code, ErrorCode::Forbidden);
        // A preflight from such a page is refused as well.
        let r = t
            .client
            .request(Method::OPTIONS, format!("{}/api/v1/apps", t.url))
            .header("Origin", &origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin}");
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }
    for origin in ["tauri://localhost", "http://tauri.localhost", "https://tauri.localhost"] {
        let r = t.req(Method::GET, "/api/v1/status").header("Origin", origin).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{origin}");
        assert_eq!(r.headers()["access-control-allow-origin"], origin);
    }
    // A CORS preflight from the window is answered without a token.
    let r = t
        .client
        .request(Method::OPTIONS, format!("{}/api/v1/apps", t.url))
        .header("Origin", "tauri://localhost")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    t.stop().await;
}

#[tokio::test]
async fn server_files_and_shutdown() {
    let t = TestServer::start().await;
    let data = t.dir.path().join("data");
    let api: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("api.json")).unwrap()).unwrap();
    assert_eq!(api["url"], t.url.as_str());
    assert_eq!(api["pid"], std::process::id());
    assert_eq!(std::fs::read_to_string(data.join("token")).unwrap().trim(), t.token);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(data.join("token")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let status: crane_api::StatusView =
        t.req(Method::GET, "/api/v1/status").send().await.unwrap().json().await.unwrap();
    assert_eq!(status.api_url, t.url);
    // A second server on the same data directory reuses the token.
    let second = crane_rest::start(t.handle.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    assert_eq!(second.token, t.token);
    second.shutdown().await;
    t.stop().await;
    assert!(!data.join("api.json").exists(), "api.json is removed on shutdown");
}

#[tokio::test]
async fn non_loopback_listen_is_refused() {
    let t = TestServer::start().await;
    let err = crane_rest::start(t.handle.clone(), "0.0.0.0:0".parse().unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    t.stop().await;
}

#[tokio::test]
async fn openapi_lists_every_route() {
    let t = TestServer::start().await;
    // Served without a token.
    let r = t.client.get(format!("{}/api/v1/openapi.json", t.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
    for (verb, path) in [
        ("get", "/api/v1/status"),
        ("get", "/api/v1/apps"),
        ("post", "/api/v1/apps"),
        ("get", "/api/v1/apps/{name}"),
        ("delete", "/api/v1/apps/{name}"),
        ("post", "/api/v1/apps/{name}/scale"),
        ("get", "/api/v1/apps/{name}/logs"),
        ("get", "/api/v1/apps/{name}/rollout/history"),
        ("post", "/api/v1/apps/{name}/rollout/undo"),
        ("post", "/api/v1/apps/{name}/rollout/restart"),
        ("get", "/api/v1/apps/{name}/nginx"),
        ("put", "/api/v1/apps/{name}/nginx"),
        ("delete", "/api/v1/apps/{name}/nginx"),
        ("get", "/api/v1/apps/{name}/charts/{metric}"),
        ("post", "/api/v1/apps/{name}/load"),
        ("get", "/api/v1/apps/{name}/load"),
        ("delete", "/api/v1/apps/{name}/load"),
        ("get", "/api/v1/events"),
        ("get", "/api/v1/sd"),
        ("get", "/metrics"),
        ("post", "/api/v1/demo-image"),
        ("get", "/api/v1/demo-image"),
        ("post", "/api/v1/apps/{name}/requests"),
        ("get", "/api/v1/watch"),
        ("get", "/api/v1/openapi.json"),
        ("get", "/healthz"),
        ("get", "/api/v1/hello"),
        ("post", "/api/v1/token/rotate"),
        ("get", "/api/v1/settings"),
        ("put", "/api/v1/settings"),
        ("get", "/api/v1/policies"),
        ("get", "/api/v1/policies/{name}"),
        ("put", "/api/v1/policies/{name}"),
        ("post", "/api/v1/policies/{name}/reset"),
        ("post", "/api/v1/policies/{name}/validate"),
        ("post", "/api/v1/policies/{name}/eval"),
        ("post", "/api/v1/policies/test"),
        ("post", "/api/v1/alerts/webhook"),
        ("get", "/api/v1/alerts/webhook/info"),
        ("post", "/api/v1/alerts/webhook/rotate"),
        ("post", "/api/v1/check"),
        ("get", "/api/v1/images"),
    ] {
        assert!(doc["paths"][path][verb].is_object(), "{verb} {path} missing from the OpenAPI document");
    }
    // The NGINX export is plain text, not JSON.
    assert!(doc["paths"]["/api/v1/apps/{name}/nginx"]["get"]["responses"]["200"]["content"]["text/plain"].is_object());
    // Charts are SVG, Crane's metrics the Prometheus text format, and starting a load run is 202.
    let chart = &doc["paths"]["/api/v1/apps/{name}/charts/{metric}"]["get"];
    assert!(chart["responses"]["200"]["content"]["image/svg+xml"].is_object(), "{chart}");
    let params: Vec<&str> =
        chart["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(params, ["name", "metric", "range"]);
    assert!(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]["text/plain; version=0.0.4"].is_object());
    assert!(doc["paths"]["/metrics"]["get"]["responses"]["401"].is_object(), "/metrics needs the token");
    assert!(doc["paths"]["/metrics"]["get"].get("security").is_none(), "/metrics is not public");
    assert_eq!(
        doc["paths"]["/api/v1/apps/{name}/load"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/LoadRequest"
    );
    assert!(doc["paths"]["/api/v1/apps/{name}/load"]["post"]["responses"]["202"].is_object());
    // Schemas are derived from the wire types: an `Option` of a type is that type or null, errors are `ApiError`
    // with an `ErrorCode`, and the bodies the server reads strictly say so.
    let schemas = &doc["components"]["schemas"];
    let load = &schemas["AppView"]["properties"]["load"]["oneOf"];
    assert_eq!(load[0], serde_json::json!({ "type": "null" }), "{load}");
    assert_eq!(load[1]["$ref"], "#/components/schemas/LoadView", "{load}");
    assert_eq!(schemas["ApiError"]["properties"]["code"]["$ref"], "#/components/schemas/ErrorCode");
    assert!(schemas["ErrorCode"]["enum"].as_array().unwrap().contains(&serde_json::json!("docker_unreachable")));
    for body in [
        "ApplyRequest",
        "ScaleRequest",
        "UndoRequest",
        "LoadRequest",
        "ManageNginxRequest",
        "SettingsUpdate",
        "PolicyUpdate",
        "PolicyEvalRequest",
        "LabLoadRequest",
        "CheckRequest",
    ] {
        assert_eq!(schemas[body]["additionalProperties"], false, "{body}");
    }
    assert_eq!(
        doc["paths"]["/api/v1/apps/{name}"]["get"]["responses"]["404"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ApiError"
    );
    // Public routes say so; the others inherit the bearer requirement.
    assert_eq!(doc["paths"]["/healthz"]["get"]["security"], serde_json::json!([]));
    assert_eq!(doc["paths"]["/api/v1/openapi.json"]["get"]["security"], serde_json::json!([]));
    assert_eq!(doc["paths"]["/api/v1/hello"]["get"]["security"], serde_json::json!([]));
    // The webhook takes its own token (checked by its handler), not the API's.
    assert_eq!(doc["paths"]["/api/v1/alerts/webhook"]["post"]["security"], serde_json::json!([{"webhookToken": []}]));
    assert!(doc["paths"]["/api/v1/alerts/webhook/info"]["get"].get("security").is_none(), "the info needs the token");
    assert!(doc["paths"]["/api/v1/token/rotate"]["post"].get("security").is_none(), "rotation needs the token");
    assert_eq!(doc["security"], serde_json::json!([{ "bearerAuth": [] }]));
    // Every $ref points at a schema that exists.
    let text = doc.to_string();
    for part in text.split("\"#/components/schemas/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(doc["components"]["schemas"][name].is_object(), "dangling $ref {name}");
    }
    t.stop().await;
}

/// Every operation of the document reaches a handler: the answer is never the router's 404 or 405.
#[tokio::test]
async fn every_documented_route_answers() {
    let mut t = TestServer::start().await;
    let doc: serde_json::Value = t.req(Method::GET, "/api/v1/openapi.json").send().await.unwrap().json().await.unwrap();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for verb in item.as_object().unwrap().keys() {
            let concrete = path.replace("{name}", "t-rest-no-such-app").replace("{metric}", "cpu");
            let method = Method::from_bytes(verb.to_uppercase().as_bytes()).unwrap();
            let mut request = t.req(method, &concrete).timeout(std::time::Duration::from_secs(600));
            request = match (verb.as_str(), path.as_str()) {
                ("post", "/api/v1/apps") => request.json(&serde_json::json!({ "yaml": "name: [" })),
                ("post", "/api/v1/apps/{name}/scale") => request.json(&serde_json::json!({ "replicas": 1 })),
                ("post", "/api/v1/apps/{name}/rollout/undo") => request.json(&serde_json::json!({})),
                ("post", "/api/v1/apps/{name}/load") => {
                    request.json(&serde_json::json!({ "rate": 1, "duration_s": 1 }))
                }
                ("get", "/api/v1/hello") => request.query(&[("nonce", "ab".repeat(32))]),
                ("put", "/api/v1/apps/{name}/nginx") => request.json(&serde_json::json!({
                    "config_path": "/nonexistent/crane-test.conf",
                    "pid_file": "/nonexistent/nginx.pid",
                })),
                _ => request,
            };
            let response = request.send().await.unwrap();
            let status = response.status();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{verb} {path}");
            if path == "/api/v1/token/rotate" {
                // The token just changed: the rest of the walk uses the new one.
                assert_eq!(status, StatusCode::OK);
                t.token = t.server.as_ref().unwrap().current_token();
            }
            if path == "/api/v1/watch" {
                assert_eq!(status, StatusCode::OK);
                assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
            } else if status == StatusCode::NOT_FOUND {
                let err = api_error(response).await;
                assert!(!err.message.starts_with("no route"), "{verb} {path} is not mounted: {}", err.message);
            }
            count += 1;
        }
    }
    assert!(count >= 23, "only {count} operations documented");
    // The router's own 404 for comparison.
    let r = t.req(Method::GET, "/api/v1/nothing").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(api_error(r).await.message.starts_with("no route"));
    let r = t.req(Method::PUT, "/api/v1/apps").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    t.stop().await;
}

#[tokio::test]
async fn bad_yaml_names_the_line() {
    let t = TestServer::start().await;
    let yaml = "name: t-rest-bad\nimage: crane-demo:0.1.0\nreplicas: 1\nbogus: 1\n";
    for request in [
        t.req(Method::POST, "/api/v1/apps").json(&serde_json::json!({ "yaml": yaml })),
        t.req(Method::POST, "/api/v1/apps").header("Content-Type", "application/yaml").body(yaml),
    ] {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let err = api_error(r).await;
        assert_eq!(err.code, ErrorCode::InvalidSpec);
        let diag = err.diagnostics.iter().find(|d| d.path.contains("bogus")).expect("a diagnostic for `bogus`");
        assert_eq!(diag.line, 4, "{diag:?}");
    }
    t.stop().await;
}

#[tokio::test]
async fn bodies_are_strict() {
    let t = TestServer::start().await;
    let r = t
        .req(Method::POST, "/api/v1/apps")
        .json(&serde_json::json!({ "yaml": "name: a", "createOnly": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let err = api_error(r).await;
    assert_eq!(err.code, ErrorCode::BadRequest);
    assert!(err.message.contains("unknown field `createOnly`"), "{}", err.message);

    let r =
        t.req(Method::POST, "/api/v1/apps").header("Content-Type", "application/json").body("{").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r =
        t.req(Method::POST, "/api/v1/apps/x/scale").json(&serde_json::json!({ "replicas": -1 })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = t.req(Method::GET, "/api/v1/events?limt=3").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(api_error(r).await.message.contains("limt"));

    // Charts take only `range`; load runs only the fields of `LoadRequest` (both checked before the app is looked up).
    let r = t.req(Method::GET, "/api/v1/apps/x/charts/cpu?rnage=1h").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(api_error(r).await.message.contains("rnage"));
    let r = t
        .req(Method::POST, "/api/v1/apps/x/load")
        .json(&serde_json::json!({ "rate": 50, "duration": 60 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let err = api_error(r).await;
    assert!(err.message.contains("unknown field `duration`") && err.message.contains("duration_s"), "{}", err.message);
    let r = t.req(Method::POST, "/api/v1/apps/x/load").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "an empty body is refused");

    // Rollout undo: `{}` or `{"to": N}`, nothing else (checked before the app is looked up).
    let r = t
        .req(Method::POST, "/api/v1/apps/x/rollout/undo")
        .json(&serde_json::json!({ "revision": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let err = api_error(r).await;
    assert!(err.message.contains("unknown field `revision`") && err.message.contains("`to`"), "{}", err.message);
    let r = t.req(Method::POST, "/api/v1/apps/x/rollout/undo").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "an empty body is refused like on the other routes");

    // NGINX: the listen port is checked, unknown query parameters and body fields are named, paths are absolute.
    for query in ["listen=0", "listen=70000", "port=8080"] {
        let r = t.req(Method::GET, &format!("/api/v1/apps/x/nginx?{query}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(api_error(r).await.code, ErrorCode::BadRequest, "{query}");
    }
    let r = t
        .req(Method::PUT, "/api/v1/apps/x/nginx")
        .json(&serde_json::json!({ "config_path": "/tmp/a.conf", "pidfile": "/run/nginx.pid" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(api_error(r).await.message.contains("unknown field `pidfile`"));
    let r = t
        .req(Method::PUT, "/api/v1/apps/x/nginx")
        .json(&serde_json::json!({ "config_path": "web.conf", "pid_file": "/run/nginx.pid" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(api_error(r).await.message.contains("config_path must be an absolute path"));
    t.stop().await;
}

#[tokio::test]
async fn engine_errors_map_to_statuses() {
    let t = TestServer::start().await;
    let r = t.req(Method::GET, "/api/v1/apps/t-rest-no-such-app").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(api_error(r).await.code, ErrorCode::NotFound);
    let r = t.req(Method::DELETE, "/api/v1/apps/t-rest-no-such-app").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    for (method, path) in [
        (Method::GET, "/api/v1/apps/t-rest-no-such-app/rollout/history"),
        (Method::GET, "/api/v1/apps/t-rest-no-such-app/nginx"),
        (Method::DELETE, "/api/v1/apps/t-rest-no-such-app/nginx"),
        (Method::GET, "/api/v1/apps/t-rest-no-such-app/charts/rps?range=1h"),
        (Method::GET, "/api/v1/apps/t-rest-no-such-app/load"),
        (Method::DELETE, "/api/v1/apps/t-rest-no-such-app/load"),
    ] {
        let r = t.req(method.clone(), path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let err = api_error(r).await;
        assert_eq!(err.code, ErrorCode::NotFound, "{method} {path}");
        assert!(err.message.contains("t-rest-no-such-app"), "{method} {path}: {}", err.message);
    }
    t.stop().await;
}

#[tokio::test]
async fn watch_ends_on_shutdown() {
    let mut t = TestServer::start().await;
    let r = t.req(Method::GET, "/api/v1/watch").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Shutdown must not wait for this never-ending stream.
    let started = std::time::Instant::now();
    t.server.take().unwrap().shutdown().await;
    assert!(started.elapsed() < std::time::Duration::from_secs(4), "shutdown waited for the stream");
    // The stream has ended: reading it to the end finishes.
    let rest = tokio::time::timeout(std::time::Duration::from_secs(5), r.bytes()).await;
    assert!(rest.is_ok(), "the watch stream stayed open after shutdown");
    t.stop().await;
}

/// `/metrics` is Crane's own Prometheus endpoint: outside `/api`, yet it needs the token like the API (and the Host
/// check applies).
#[tokio::test]
async fn metrics_need_the_token() {
    let t = TestServer::start().await;
    let r = t.client.get(format!("{}/metrics", t.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(api_error(r).await.code, ErrorCode::Unauthorized);
    let r = t.client.get(format!("{}/metrics", t.url)).bearer_auth("0".repeat(64)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = t.req(Method::GET, "/metrics").header("Host", "evil.example").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Unknown paths outside /api are not disclosed without the token either.
    let r = t.client.get(format!("{}/nothing", t.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = t.req(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/plain; version=0.0.4");
    let text = r.text().await.unwrap();
    assert!(text.contains("# TYPE crane_apps gauge"), "{text}");
    assert!(text.contains("\ncrane_apps 0\n"), "{text}");
    t.stop().await;
}

/// `/api/v1/sd` is the target list of Prometheus' `http_sd_configs`; Crane itself is the first group.
#[tokio::test]
async fn service_discovery_lists_crane() {
    let t = TestServer::start().await;
    let r = t.client.get(format!("{}/api/v1/sd", t.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = t.req(Method::GET, "/api/v1/sd").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let groups: serde_json::Value = r.json().await.unwrap();
    let groups = groups.as_array().expect("a JSON array");
    let first = groups.first().expect("at least Crane's own group");
    assert_eq!(first["labels"]["job"], "crane", "{first}");
    let address = t.url.strip_prefix("http://").unwrap();
    assert_eq!(first["targets"], serde_json::json!([address]), "{first}");
    t.stop().await;
}

/// `GET /api/v1/hello` proves the server holds the token without revealing it, for this port and nonce only.
#[tokio::test]
async fn hello_proves_the_token() {
    let t = TestServer::start().await;
    let port: u16 = t.url.rsplit(':').next().unwrap().parse().unwrap();
    let nonce = crane_rest::hello::new_nonce();
    let r = t.client.get(format!("{}/api/v1/hello", t.url)).query(&[("nonce", &nonce)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "public: no token needed");
    let body: serde_json::Value = r.json().await.unwrap();
    let proof = body["proof"].as_str().unwrap();
    assert!(crane_rest::hello::verify(&t.token, port, &nonce, proof));
    assert!(!crane_rest::hello::verify(&"0".repeat(64), port, &nonce, proof));
    assert!(!proof.contains(&t.token));
    for bad in ["", "short", &"x".repeat(64)] {
        let r = t.client.get(format!("{}/api/v1/hello", t.url)).query(&[("nonce", bad)]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad:?}");
    }
    t.stop().await;
}

/// `POST /api/v1/token/rotate` writes a new token and the old one stops working at once.
#[tokio::test]
async fn token_rotation_invalidates_the_old_token() {
    let t = TestServer::start().await;
    let token_file = t.dir.path().join("data").join("token");
    let r = t.client.post(format!("{}/api/v1/token/rotate", t.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "rotation needs the current token");
    let r = t.req(Method::POST, "/api/v1/token/rotate").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["token_file"], token_file.display().to_string());
    assert!(body.get("token").is_none(), "the answer does not carry the token");
    let new = std::fs::read_to_string(&token_file).unwrap().trim().to_string();
    assert_ne!(new, t.token);
    assert_eq!(new, t.server.as_ref().unwrap().current_token());
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let r = t.req(Method::GET, "/api/v1/status").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the old token no longer works");
    let r = t.client.get(format!("{}/api/v1/status", t.url)).bearer_auth(&new).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // The window's *Rotate token* goes through the same rotation, as the window's admin.
    let window = t.handle.as_caller(crane_engine::Caller::admin(crane_api::Door::Window));
    let rotated = t.server.as_ref().unwrap().token_rotator().rotate(&window).await.unwrap();
    assert_eq!(rotated.token_file, token_file.display().to_string());
    let newest = std::fs::read_to_string(&token_file).unwrap().trim().to_string();
    assert_ne!(newest, new);
    assert!(!rotated.message.contains(&newest), "the answer never carries the token: {}", rotated.message);
    let r = t.client.get(format!("{}/api/v1/status", t.url)).bearer_auth(&new).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the token before it no longer works");
    let r = t.client.get(format!("{}/api/v1/events", t.url)).bearer_auth(&newest).send().await.unwrap();
    let events: Vec<crane_api::EventView> = r.json().await.unwrap();
    let rotations: Vec<&str> =
        events.iter().filter(|e| e.kind == crane_api::EventKind::TokenRotated).map(|e| e.reason.as_str()).collect();
    assert_eq!(rotations.len(), 2, "each rotation is an event: {rotations:?}");
    assert!(rotations[0].contains("admin (window)") && rotations[1].contains("admin (REST)"), "{rotations:?}");
    assert!(rotations.iter().all(|r| !r.contains(&newest) && !r.contains(&new)), "no token in the log");
    t.stop().await;
}

/// A client that opens a connection and sends nothing does not hold it for ever, and the server still answers
/// others meanwhile.
#[tokio::test]
async fn silent_connections_are_closed() {
    use tokio::io::AsyncReadExt;
    let t = TestServer::start().await;
    let addr = t.url.trim_start_matches("http://").to_string();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let r = t.req(Method::GET, "/api/v1/status").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut buf = [0u8; 256];
    let wait = crane_rest::HEADER_READ_TIMEOUT + std::time::Duration::from_secs(5);
    let read = tokio::time::timeout(wait, silent.read(&mut buf)).await.expect("the server closed the connection");
    // Closed (0 bytes) or answered 408 and closed.
    assert!(read.map(|n| n == 0 || buf[..n].starts_with(b"HTTP/1.1 408")).unwrap_or(true));
    t.stop().await;
}

/// Numbers are range-checked before any conversion (a `duration_s` of 1e30 panicked the handler), with a 400 naming
/// the field and its range; hostile sizes are refused with the `ApiError` shape.
#[tokio::test]
async fn hostile_numbers_and_sizes_are_400() {
    let t = TestServer::start().await;
    for (body, field) in [
        (serde_json::json!({ "rate": 50, "duration_s": 1e30 }), "duration_s"),
        (serde_json::json!({ "rate": 50, "duration_s": -1 }), "duration_s"),
        (serde_json::json!({ "rate": -50, "duration_s": 60 }), "rate"),
        (serde_json::json!({ "rate": 1e300, "duration_s": 60 }), "rate"),
        (serde_json::json!({ "rate": 5, "ramp_to": -3, "duration_s": 60 }), "ramp_to"),
        (serde_json::json!({ "rate": 5, "duration_s": 60, "concurrency": 0 }), "concurrency"),
    ] {
        let r = t.req(Method::POST, "/api/v1/apps/x/load").json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let err = api_error(r).await;
        assert_eq!(err.code, ErrorCode::BadRequest, "{body}");
        assert!(err.message.starts_with(&format!("{field}: ")), "{body}: {}", err.message);
        assert!(err.message.contains("give a number from"), "{body}: {}", err.message);
    }
    // NaN is not JSON; a body that spells it is refused as JSON.
    let r = t
        .req(Method::POST, "/api/v1/apps/x/load")
        .header("Content-Type", "application/json")
        .body(r#"{"rate": 5, "duration_s": NaN}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for query in ["limit=0", "limit=10001"] {
        let r = t.req(Method::GET, &format!("/api/v1/events?{query}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        let err = api_error(r).await;
        assert!(err.message.contains("limit:") && err.message.contains("1 to 10000"), "{}", err.message);
    }
    let r = t.req(Method::POST, "/api/v1/apps/x/scale").json(&serde_json::json!({ "replicas": 1e30 })).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::BAD_REQUEST);

    // A spec above the cap is an invalid spec naming the cap; a body above the route's limit is refused unread.
    let spec = format!("name: big\nimage: x\nenv: {{ A: \"{}\" }}\n", "a".repeat(300 * 1024));
    let r = t.req(Method::POST, "/api/v1/apps").header("Content-Type", "application/yaml").body(spec).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let err = api_error(r).await;
    assert_eq!(err.code, ErrorCode::InvalidSpec);
    assert!(err.diagnostics[0].message.contains("at most 262144 bytes"), "{:?}", err.diagnostics);
    t.stop().await;
}

/// A body above the route's limit is 413 `payload_too_large` naming the limit: 1 MiB for `POST /apps` (a spec at the
/// cap, JSON-escaped, fits), 64 KiB for every other body; a body just under the limit is read (and judged on what it
/// says).
#[tokio::test]
async fn oversized_bodies_are_413() {
    let t = TestServer::start().await;
    let body = "a".repeat(2 * 1024 * 1024);
    let r = t.req(Method::POST, "/api/v1/apps").header("Content-Type", "application/yaml").body(body).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let err = api_error(r).await;
    assert_eq!(err.code, ErrorCode::PayloadTooLarge);
    assert!(err.message.contains("larger than 1048576 bytes (1024 KiB)"), "{}", err.message);
    assert!(err.message.contains("a spec may be at most 262144 bytes"), "{}", err.message);

    let big = |n: usize| format!("{{\"pad\": \"{}\"}}", "a".repeat(n));
    for (method, path) in [
        (Method::POST, "/api/v1/apps/x/scale"),
        (Method::POST, "/api/v1/apps/x/rollout/undo"),
        (Method::POST, "/api/v1/apps/x/load"),
        (Method::PUT, "/api/v1/apps/x/nginx"),
        (Method::PUT, "/api/v1/settings"),
    ] {
        let r = t.req(method.clone(), path).header("Content-Type", "application/json").body(big(65 * 1024));
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{method} {path}");
        let err = api_error(r).await;
        assert_eq!(err.code, ErrorCode::PayloadTooLarge, "{method} {path}");
        assert!(err.message.contains("larger than 65536 bytes (64 KiB)"), "{method} {path}: {}", err.message);
        // Under the limit the body is read, and refused for what it says.
        let r = t.req(method.clone(), path).header("Content-Type", "application/json").body(big(60 * 1024));
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{method} {path}");
        assert!(api_error(r).await.message.contains("unknown field `pad`"), "{method} {path}");
    }
    // A 500 KiB JSON spec is under the apply limit: read, and judged by the spec's own cap.
    let spec = format!("name: big\nimage: x\nenv: {{ A: \"{}\" }}\n", "a".repeat(500 * 1024));
    let r = t.req(Method::POST, "/api/v1/apps").json(&serde_json::json!({ "yaml": spec })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(api_error(r).await.code, ErrorCode::InvalidSpec);
    // The document lists 413 for the routes that read a body.
    let doc: serde_json::Value = t.req(Method::GET, "/api/v1/openapi.json").send().await.unwrap().json().await.unwrap();
    let settings = &doc["paths"]["/api/v1/settings"]["put"]["responses"]["413"];
    assert_eq!(settings["description"], "Error (`payload_too_large`).", "{settings}");
    t.stop().await;
}

/// Settings round trip: read, change one field (the other keeps its value), read back; bad paths and unknown fields
/// are 400 naming them; each change is a `settings.changed` event and shows in the status.
#[tokio::test]
async fn settings_round_trip() {
    let t = TestServer::start().await;
    let r = t.req(Method::GET, "/api/v1/settings").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let settings: crane_api::SettingsView = r.json().await.unwrap();
    assert_eq!(
        settings,
        crane_api::SettingsView {
            allow_unsafe: false,
            host_path_allow: vec![],
            alertmanager_url: None,
            opa_url: None,
            opa_policies: vec![],
        }
    );

    let put = |body: serde_json::Value| t.req(Method::PUT, "/api/v1/settings").json(&body).send();
    let r = put(serde_json::json!({ "host_path_allow": ["/srv/data", "/opt/x"] })).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = put(serde_json::json!({ "allow_unsafe": true })).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let settings: crane_api::SettingsView = r.json().await.unwrap();
    assert!(settings.allow_unsafe);
    assert_eq!(settings.host_path_allow, ["/srv/data", "/opt/x"], "a field left out keeps its value");
    let again: crane_api::SettingsView =
        t.req(Method::GET, "/api/v1/settings").send().await.unwrap().json().await.unwrap();
    assert_eq!(again, settings);
    let status: crane_api::StatusView =
        t.req(Method::GET, "/api/v1/status").send().await.unwrap().json().await.unwrap();
    assert!(status.allow_unsafe);

    let r = put(serde_json::json!({ "host_path_allow": ["/etc", "srv"] })).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let err = api_error(r).await;
    assert_eq!(err.code, ErrorCode::BadRequest);
    assert!(err.message.contains("`/etc`") && err.message.contains("`srv`"), "{}", err.message);
    let r = put(serde_json::json!({ "allowUnsafe": false })).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(api_error(r).await.message.contains("unknown field `allowUnsafe`"));
    let r = put(serde_json::json!({})).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(api_error(r).await.message.contains("nothing to change"));

    // The services Crane talks to: URLs checked, OPA policies need an opa_url.
    let r = put(serde_json::json!({ "opa_policies": ["admission"] })).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(api_error(r).await.message.contains("no opa_url is set"));
    let r = put(serde_json::json!({ "alertmanager_url": "127.0.0.1:9093" })).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(api_error(r).await.message.contains("alertmanager_url: the URL must start with http"));
    let r = put(serde_json::json!({ "opa_policies": ["nope"] })).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = put(serde_json::json!({ "alertmanager_url": "http://127.0.0.1:9093/", "opa_url": "http://127.0.0.1:8181",
        "opa_policies": ["scaling", "admission", "scaling"] }))
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let settings: crane_api::SettingsView = r.json().await.unwrap();
    assert_eq!(settings.alertmanager_url.as_deref(), Some("http://127.0.0.1:9093"));
    assert_eq!(settings.opa_policies, [crane_api::PolicyName::Admission, crane_api::PolicyName::Scaling]);
    let policy: crane_api::PolicyView =
        t.req(Method::GET, "/api/v1/policies/admission").send().await.unwrap().json().await.unwrap();
    assert_eq!(policy.opa_url.as_deref(), Some("http://127.0.0.1:8181"));
    let r = put(serde_json::json!({ "opa_url": "" })).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "opa_policies still name policies");
    let r = put(serde_json::json!({ "opa_url": "", "opa_policies": [], "alertmanager_url": "" })).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let settings: crane_api::SettingsView = r.json().await.unwrap();
    assert_eq!((settings.alertmanager_url, settings.opa_url, settings.opa_policies.len()), (None, None, 0));

    let events: Vec<crane_api::EventView> =
        t.req(Method::GET, "/api/v1/events").send().await.unwrap().json().await.unwrap();
    let changes: Vec<_> = events.iter().filter(|e| e.kind == crane_api::EventKind::SettingsChanged).collect();
    assert_eq!(changes.len(), 8, "{events:#?}");
    assert!(changes.iter().any(|c| c.reason.contains("allowUnsafe") && c.reason.contains("admin (REST)")));
    assert!(changes
        .iter()
        .any(|c| c.reason.contains("setting opa_policies changed by admin (REST): (none) → admission, scaling")));
    t.stop().await;
}

/// Labs and files of several apps over REST, creating nothing: the shipped list, refusals with their diagnostics
/// (an archive that is not one, an unknown lab, a file with an invalid document), and no lab loaded.
#[tokio::test]
async fn labs_and_files_of_apps_over_rest() {
    let t = TestServer::start().await;
    let r = t.req(Method::GET, "/api/v1/labs").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let labs: Vec<crane_api::LabSummaryView> = r.json().await.unwrap();
    let ids: Vec<&str> = labs.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["self-healing", "scaling-under-load", "rolling-update-rollback", "policy-blocks-bad-deploy"]);

    let r = t
        .req(Method::POST, "/api/v1/labs")
        .header("Content-Type", "application/octet-stream")
        .body("id: not-an-archive\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let err = api_error(r).await;
    assert_eq!(err.code, ErrorCode::InvalidSpec);
    assert!(err.diagnostics[0].message.contains("not a tar"), "{err:?}");

    let r = t.req(Method::POST, "/api/v1/labs").json(&serde_json::json!({"shipped": "nope"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(api_error(r).await.message.contains("self-healing"));
    let r = t.req(Method::POST, "/api/v1/labs").json(&serde_json::json!({"id": "self-healing"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "unknown fields are refused");

    let r = t.req(Method::GET, "/api/v1/labs/self-healing").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(api_error(r).await.message.contains("no lab is loaded"));

    let yaml = "name: t-a\nimage: crane-demo:0.1.0\n---\nname: t-b\nimage: crane-demo:0.1.0\nbogus: 1\n";
    let r = t
        .req(Method::POST, "/api/v1/apply")
        .header("Content-Type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let err = api_error(r).await;
    let places: Vec<(Option<u32>, u32, &str)> =
        err.diagnostics.iter().map(|d| (d.document, d.line, d.path.as_str())).collect();
    assert_eq!(places, [(Some(2), 6, "bogus")]);
    let r = t.req(Method::GET, "/api/v1/apps").send().await.unwrap();
    assert_eq!(r.json::<Vec<serde_json::Value>>().await.unwrap().len(), 0, "nothing was created");
    t.stop().await;
}

/// `POST /api/v1/check`: a file of apps (YAML or JSON body) answered with every problem (as `POST /api/v1/apply`
/// would refuse it) and each app's preview; a single spec; the file's own bounds; a strict body; nothing created.
#[tokio::test]
async fn check_previews_specs_and_files_without_applying() {
    let t = TestServer::start().await;
    let status: crane_api::StatusView =
        t.req(Method::GET, "/api/v1/status").send().await.unwrap().json().await.unwrap();
    let yaml = "name: t-a\nimage: t-rest-absent:1\n---\nname: t-b\nimage: t-rest-absent:1\nbogus: 1\n---\n\
                name: t-a\nimage: t-rest-absent:1\n";
    let r = t.req(Method::POST, "/api/v1/check").header("Content-Type", "application/yaml").body(yaml).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "an invalid file is a finding, not a failed request");
    let check: crane_api::SpecFileCheckView = r.json().await.unwrap();
    assert!(!check.valid);
    let places: Vec<(Option<u32>, u32, u32, &str)> =
        check.diagnostics.iter().map(|d| (d.document, d.line, d.column, d.path.as_str())).collect();
    assert_eq!(places, [(Some(2), 6, 1, "bogus"), (Some(3), 8, 7, "name")]);
    assert!(check.diagnostics.iter().all(|d| !d.fix.is_empty()), "every problem says how to fix it: {check:?}");
    let docs: Vec<(Option<&str>, bool)> = check.documents.iter().map(|d| (d.name.as_deref(), d.valid)).collect();
    assert_eq!(docs, [(Some("t-a"), true), (None, false), (Some("t-a"), false)]);
    let first = &check.documents[0];
    assert!(!first.exists && !first.is_demo_image);
    assert!(first.admission.as_ref().is_some_and(|a| a.admitted), "{first:?}");
    // Whether the image is there is asked of Docker; this one is never built.
    assert_eq!(first.image_present, if status.docker_ok { Some(false) } else { None }, "{first:?}");
    // The same file refused by an apply, with the same problems.
    let r = t.req(Method::POST, "/api/v1/apply").header("Content-Type", "application/yaml").body(yaml).send().await;
    let err = api_error(r.unwrap()).await;
    let refused: Vec<(Option<u32>, u32, u32, &str)> =
        err.diagnostics.iter().map(|d| (d.document, d.line, d.column, d.path.as_str())).collect();
    assert_eq!(refused, places);

    // One spec as JSON: its problem names no document.
    let r = t
        .req(Method::POST, "/api/v1/check")
        .json(&serde_json::json!({ "yaml": "name: t-c\nimage: crane-demo:0.1.0\nreplicas: lots\n" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let check: crane_api::SpecFileCheckView = r.json().await.unwrap();
    let places: Vec<(Option<u32>, u32, &str)> =
        check.diagnostics.iter().map(|d| (d.document, d.line, d.path.as_str())).collect();
    assert_eq!(places, [(None, 3, "replicas")]);
    assert_eq!(check.documents.len(), 1);
    let r = t
        .req(Method::POST, "/api/v1/check")
        .json(&serde_json::json!({ "yaml": "name: t-c\nimage: crane-demo:0.1.0\n" }))
        .send()
        .await
        .unwrap();
    let check: crane_api::SpecFileCheckView = r.json().await.unwrap();
    assert!(check.valid && check.documents[0].is_demo_image, "{check:?}");

    // The file's bounds: above 1 MiB it is refused as a whole, with no document read.
    let big = format!("name: t-d\nimage: x\nenv: {{ A: \"{}\" }}\n", "a".repeat(1100 * 1024));
    let r = t.req(Method::POST, "/api/v1/check").header("Content-Type", "application/yaml").body(big).send().await;
    let check: crane_api::SpecFileCheckView = r.unwrap().json().await.unwrap();
    assert!(!check.valid && check.documents.is_empty());
    assert!(check.diagnostics[0].message.contains("at most 1048576 bytes"), "{:?}", check.diagnostics);

    // The body is read strictly.
    let r = t
        .req(Method::POST, "/api/v1/check")
        .json(&serde_json::json!({ "yaml": "name: t-e\nimage: x\n", "create_only": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(api_error(r).await.message.contains("unknown field `create_only`"));

    let r = t.req(Method::GET, "/api/v1/apps").send().await.unwrap();
    assert_eq!(r.json::<Vec<serde_json::Value>>().await.unwrap().len(), 0, "checking creates nothing");
    t.stop().await;
}
