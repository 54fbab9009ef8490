//! Fuzzing the REST API's JSON bodies on stable Rust: proptest-driven requests through the real pipeline (routes,
//! guard, catch-panic; `crane_rest::in_process`), in process, against an engine on the fake runtime and the in-memory
//! store. Every route that reads a body gets arbitrary bytes, JSON built from its fields (and the other routes') with
//! hostile values, and bodies around the size limit, under various content types. Whatever it sends, the answer is
//! never a 5xx (a panic would be a 500 from the catch-panic layer), every 4xx is an `ApiError`, and every request is
//! answered in bounded time.
//!
//! `CRANE_FUZZ_CASES` sets the number of cases of each harness (default 128, what `make test` runs); `make fuzz`
//! runs many more in a release build. Failures are kept, shrunk, in `fuzz_bodies.proptest-regressions`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use crane_engine::fakes::{FakeRuntime, MemStore};
use crane_engine::{Clock, EngineConfig, EngineHandle};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use tower::ServiceExt;

/// The port the in-process server believes it listens on (the Host header must name it).
const PORT: u16 = 7979;
/// The bearer token of the in-process server.
const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// A hang detector, not a timing goal.
const HANG: Duration = Duration::from_secs(30);

fn config() -> Config {
    let cases = std::env::var("CRANE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..Config::default()
    }
}

/// One engine and its pipeline for every case: a runtime of its own (proptest cases are synchronous), the fakes,
/// and the data directory, kept for the whole test binary.
struct Rig {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    _dir: tempfile::TempDir,
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let app = runtime.block_on(async {
            let config = EngineConfig::new(dir.path().join("data")).with_tick(Duration::from_millis(500));
            let fake = FakeRuntime::new(Clock::System);
            let engine = EngineHandle::start_with(config, Arc::new(fake), Arc::new(MemStore::new())).await.unwrap();
            // An app to aim at (no port, so no load run or NGINX file can follow from a fuzzed body).
            engine.apply("name: web\nimage: demo:1\nreplicas: 1\n", false).await.unwrap();
            crane_rest::in_process(engine, TOKEN, PORT).unwrap()
        });
        Rig { runtime, app, _dir: dir }
    })
}

/// Routes that read a body: method and path (`{app}` is replaced).
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/apps"),
    ("POST", "/api/v1/apps/{app}/scale"),
    ("POST", "/api/v1/apps/{app}/rollout/undo"),
    ("POST", "/api/v1/apps/{app}/load"),
    ("PUT", "/api/v1/apps/{app}/nginx"),
    ("PUT", "/api/v1/settings"),
    ("POST", "/api/v1/apply"),
    ("POST", "/api/v1/labs"),
    ("POST", "/api/v1/experiments"),
    ("POST", "/api/v1/check"),
];

/// App names in the path: the existing app, a missing one, and hostile segments.
const APPS: &[&str] = &["web", "ghost", "x-1", "%C3%A9", "..%2F..", "a%20b", "%00", "WEB"];

/// Content types sent (or none).
const MEDIA: &[Option<&str>] = &[
    None,
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("application/merge-patch+json"),
    Some("application/yaml"),
    Some("text/yaml"),
    Some("text/plain"),
    Some("multipart/form-data; boundary=x"),
    Some(";;;"),
    Some("application/gzip"),
    Some("application/octet-stream"),
];

/// Every field name of the bodies (each route also gets the others', which it must refuse by name).
const FIELDS: &[&str] = &[
    "yaml",
    "create_only",
    "replicas",
    "to",
    "rate",
    "duration_s",
    "ramp_to",
    "concurrency",
    "path",
    "config_path",
    "pid_file",
    "listen",
    "allow_unsafe",
    "host_path_allow",
    "shipped",
    "extra",
];

/// JSON values with the edges serde and the range checks must handle.
fn value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    let leaf = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(|b| json!(b)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        prop_oneof![Just(0.0), Just(-1.0), Just(1e308), Just(-1e308), Just(1e-300), Just(0.5), Just(3600.0001)]
            .prop_map(|f: f64| json!(f)),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        prop_oneof![
            Just("/srv/data".to_string()),
            Just("/etc".to_string()),
            Just("relative".to_string()),
            Just("/".to_string()),
            Just("name: web\nimage: demo:1\nreplicas: 2\n".to_string()),
            Just("name: web\nimage: demo:1\nsecurity: { privileged: true }\n".to_string()),
            Just("name: [\n".to_string()),
            "\\PC{0,40}",
            (1..70_000usize).prop_map(|n| "é".repeat(n / 2)),
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body: arbitrary bytes, or a JSON object of known (and unknown) fields with hostile values, or padding around
/// the size limits.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..2048),
        6 => prop::collection::btree_map(prop::sample::select(FIELDS), value(), 0..5).prop_map(|fields| {
            let object: serde_json::Map<String, serde_json::Value> =
                fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            serde_json::to_vec(&object).unwrap()
        }),
        1 => (60_000..70_000usize, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
        1 => Just(b"{\"yaml\": \"".iter().copied().chain(std::iter::repeat_n(b'a', 1_100_000)).chain(*b"\"}").collect()),
    ]
}

/// A number around the edges of the ranges the engine checks, or any value.
fn number(edges: &'static [f64]) -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        8 => prop::sample::select(edges).prop_map(|f| serde_json::json!(f)),
        1 => value(),
    ]
}

/// A whole number around the edges of a field's range, or any value.
fn integer(edges: &'static [i64]) -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        8 => prop::sample::select(edges).prop_map(|n| serde_json::json!(n)),
        1 => value(),
    ]
}

/// A path as a client might send one: plausible, protected, relative, odd.
fn a_path() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        8 => prop::sample::select(&[
            "/srv/data", "/opt/x", "/etc", "/", "relative", "/srv/../etc", "/srv//data/", "/tmp/x.sock", "/proc/self/mem",
            "/dev/zero", "/nonexistent/crane-fuzz.conf", "",
        ][..])
        .prop_map(|p| serde_json::json!(p)),
        2 => (1..6000usize).prop_map(|n| serde_json::json!(format!("/srv/{}", "é".repeat(n)))),
        1 => value(),
    ]
}

/// The body a route expects (the route's index in [`ROUTES`] with it).
fn typed_body() -> impl Strategy<Value = (usize, serde_json::Value)> {
    use serde_json::json;
    let spec = prop_oneof![
        Just(json!("name: web\nimage: demo:1\nreplicas: 2\n")),
        Just(json!("name: web\nimage: demo:2\nreplicas: 1\nenv: { A: b }\n")),
        Just(json!("name: web\nimage: demo:1\nsecurity: { privileged: true }\n")),
        Just(json!("name: web\nimage: demo:1\nvolumes: [{ source: /srv/data/x, target: /x }]\n")),
        Just(json!("name: web\nimage: demo:1\nreplicas: 101\n")),
        value(),
    ];
    prop_oneof![
        (spec, prop_oneof![8 => any::<bool>().prop_map(|b| json!(b)), 1 => value()])
            .prop_map(|(yaml, create_only)| (0, json!({ "yaml": yaml, "create_only": create_only }))),
        integer(&[0, 1, 3, 100, 101, 4_294_967_295, 4_294_967_296, -1, i64::MAX])
            .prop_map(|n| (1, json!({ "replicas": n }))),
        integer(&[0, 1, 2, 7, -1, 4_294_967_296]).prop_map(|n| (2, json!({ "to": n }))),
        (
            number(&[0.0, 0.1, 50.0, 20_000.0, 20_001.0, -1.0, 1e308]),
            number(&[0.0, 0.5, 1.0, 60.0, 3600.0, 3601.0, 1e30, -5.0]),
            integer(&[0, 1, 64, 1024, 1025, 4_294_967_295]),
        )
            .prop_map(|(rate, duration, concurrency)| {
                (3, json!({ "rate": rate, "duration_s": duration, "concurrency": concurrency }))
            }),
        (a_path(), a_path(), integer(&[0, 1, 8080, 65_535, 65_536, -1]))
            .prop_map(|(config, pid, listen)| (4, json!({ "config_path": config, "pid_file": pid, "listen": listen }))),
        (
            prop_oneof![8 => any::<bool>().prop_map(|b| json!(b)), 1 => value()],
            prop_oneof![8 => prop::collection::vec(a_path(), 0..40).prop_map(serde_json::Value::Array), 1 => value()],
        )
            .prop_map(|(unsafe_, paths)| (5, json!({ "allow_unsafe": unsafe_, "host_path_allow": paths }))),
    ]
}

/// Sends one request through the pipeline and checks the answer.
fn check(method: &str, path: &str, media: Option<&str>, body: Vec<u8>) -> Result<(), TestCaseError> {
    let rig = rig();
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .header(header::HOST, format!("127.0.0.1:{PORT}"))
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if let Some(media) = media {
        request = request.header(header::CONTENT_TYPE, media);
    }
    let request = request.body(Body::from(body)).unwrap();
    let (status, bytes) = rig.runtime.block_on(async {
        let answer = tokio::time::timeout(HANG, rig.app.clone().oneshot(request)).await;
        let response = answer.expect("answered in bounded time").expect("infallible");
        let status = response.status();
        (status, axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default())
    });
    let text = String::from_utf8_lossy(&bytes);
    prop_assert!(!status.is_server_error(), "{method} {path} ({media:?}): {status} {text}");
    if status.is_client_error() {
        let error = serde_json::from_slice::<crane_api::ApiError>(&bytes);
        prop_assert!(error.is_ok(), "{method} {path}: a {status} that is not an ApiError: {text}");
        let error = error.unwrap();
        prop_assert!(!error.message.is_empty());
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            prop_assert!(error.message.contains("bytes"), "413 names the limit: {}", error.message);
        }
    } else {
        prop_assert!(status.is_success(), "{method} {path}: {status} {text}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Every body route, every content type, every kind of body.
    #[test]
    fn bodies_never_cause_a_server_error(
        route in prop::sample::select(ROUTES),
        app in prop::sample::select(APPS),
        media in prop::sample::select(MEDIA),
        body in body(),
    ) {
        let (method, path) = route;
        check(method, &path.replace("{app}", app), media, body)?;
    }

    /// The bodies each route expects, with values of the right type around their limits (and now and then any
    /// value): the shapes that get past JSON parsing and reach the engine's own checks.
    #[test]
    fn well_formed_bodies_with_hostile_values(app in prop::sample::select(APPS), body in typed_body()) {
        let (which, body) = body;
        let (method, path) = ROUTES[which];
        check(method, &path.replace("{app}", app), Some("application/json"), serde_json::to_vec(&body).unwrap())?;
    }
}
