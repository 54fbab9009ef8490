//! Policy management over REST: list, get, edit (which changes the next decision), refuse a broken policy with line
//! and column, evaluate, reset, and run the Rego unit tests.

mod support;

use crane_api::{ErrorCode, PolicyEvalResult, PolicyTestReport, PolicyValidation, PolicyView};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{api_error, TestServer};

#[tokio::test]
async fn a_policy_edited_through_rest_changes_the_next_decision() {
    let t = TestServer::start().await;
    let r = t.req(Method::GET, "/api/v1/policies").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let policies: Vec<PolicyView> = r.json().await.unwrap();
    let names: Vec<&str> = policies.iter().map(|p| p.package.as_str()).collect();
    assert_eq!(names, ["crane.admission", "crane.scaling", "crane.alerts"]);
    assert!(policies.iter().all(|p| p.shipped));

    let input = &policies[0].sample_input;
    let eval = |input: serde_json::Value| {
        t.req(Method::POST, "/api/v1/policies/admission/eval").json(&json!({ "input": input })).send()
    };
    let before: PolicyEvalResult = eval(input.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(before.summary, "admitted");

    let r = t
        .req(Method::PUT, "/api/v1/policies/admission")
        .json(&json!({"data": {"allowed_images": ["registry.local/*"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let view: PolicyView = r.json().await.unwrap();
    assert!(!view.shipped);
    assert_eq!(view.data, json!({"allowed_images": ["registry.local/*"]}));

    let after: PolicyEvalResult = eval(input.clone()).await.unwrap().json().await.unwrap();
    assert!(after.summary.starts_with("denied: image \"crane-demo:0.1.0\" is not on the allowed list"), "{after:?}");
    // The same decision stops an apply, before anything is pulled or created.
    let yaml = "name: t-rest-policy\nimage: crane-demo:0.1.0\nresources: {memory: 64Mi}\nsecurity: {user: '1000'}\n";
    let r = t.req(Method::POST, "/api/v1/apps").json(&json!({ "yaml": yaml })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let err = api_error(r).await;
    assert_eq!(err.code, ErrorCode::PolicyDenied);
    assert!(err.message.contains("is not on the allowed list"), "{}", err.message);
    assert_eq!(err.diagnostics[0].path, "policy:admission");
    let r = t.req(Method::GET, "/api/v1/apps/t-rest-policy").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "nothing was created");

    let r = t.req(Method::POST, "/api/v1/policies/admission/reset").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let view: PolicyView = r.json().await.unwrap();
    assert!(view.shipped);
    let again: PolicyEvalResult = eval(input.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(again.summary, "admitted");
    let events: Vec<crane_api::EventView> =
        t.req(Method::GET, "/api/v1/events?limit=100").send().await.unwrap().json().await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "policy.changed").count(), 2, "{kinds:?}");
    assert!(kinds.contains(&"policy.denied"), "{kinds:?}");
    t.stop().await;
}

#[tokio::test]
async fn broken_policies_are_refused_with_line_and_column() {
    let t = TestServer::start().await;
    let broken = "package crane.scaling\n\ndecision := {\"allowed\": true,\n";
    let r = t.req(Method::PUT, "/api/v1/policies/scaling").json(&json!({ "rego": broken })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let err = api_error(r).await;
    assert_eq!(err.code, ErrorCode::InvalidPolicy);
    assert!(err.diagnostics[0].line >= 3 && err.diagnostics[0].column > 0, "{:?}", err.diagnostics);
    assert_eq!(err.diagnostics[0].path, "scaling.rego");

    let r =
        t.req(Method::POST, "/api/v1/policies/scaling/validate").json(&json!({ "rego": broken })).send().await.unwrap();
    let validation: PolicyValidation = r.json().await.unwrap();
    assert!(!validation.valid && validation.diagnostics[0].line >= 3);

    let wrong_action = "package crane.alerts\n\ndecision := {\"action\": \"explode\", \"reason\": \"x\"}\n";
    let r = t.req(Method::PUT, "/api/v1/policies/alerts").json(&json!({ "rego": wrong_action })).send().await.unwrap();
    let err = api_error(r).await;
    assert_eq!(err.code, ErrorCode::InvalidPolicy);
    assert!(err.message.contains("`explode`, which is not an action Crane knows"), "{}", err.message);

    let r = t.req(Method::GET, "/api/v1/policies/scaling").send().await.unwrap();
    let view: PolicyView = r.json().await.unwrap();
    assert!(view.shipped, "the running policy stayed");
    let r = t.req(Method::GET, "/api/v1/policies/nope").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(api_error(r).await.message.contains("the policies are admission, scaling, alerts"));
    let r = t.req(Method::PUT, "/api/v1/policies/scaling").json(&json!({"regoo": ""})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    t.stop().await;
}

#[tokio::test]
async fn the_rego_unit_tests_run_over_rest() {
    let t = TestServer::start().await;
    let r = t.req(Method::POST, "/api/v1/policies/test").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report: PolicyTestReport = r.json().await.unwrap();
    assert_eq!(report.failed, 0, "{report:?}");
    assert!(report.passed >= 25);
    assert!(report.results.iter().any(|r| r.name == "data.crane.admission_test.test_privileged_is_denied"));
    t.stop().await;
}
