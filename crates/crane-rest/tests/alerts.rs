//! The alert routes against a real engine: rules read, replaced (JSON or YAML body), refused with line and column,
//! reset and exported; active alerts and history.

mod support;

use crane_api::{AlertRulesView, AlertTransitionView, AlertView, ErrorCode};

use reqwest::{Method, StatusCode};
use support::{api_error, TestServer};

const RULES: &str = "groups:\n  - name: test\n    rules:\n      - alert: NoApps\n        expr: crane_apps == 0\n        for: 1m\n        firing_action: notify\n";

#[tokio::test]
async fn alert_rules_round_trip_through_rest() {
    let t = TestServer::start().await;
    let r = t.req(Method::GET, "/api/v1/alerts/rules").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let shipped: AlertRulesView = r.json().await.unwrap();
    assert!(shipped.is_default);
    assert!(shipped.rules.iter().any(|r| r.alert == "AppDegraded"));

    // A YAML body.
    let r = t
        .req(Method::PUT, "/api/v1/alerts/rules")
        .header("Content-Type", "application/yaml")
        .body(RULES)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let saved: AlertRulesView = r.json().await.unwrap();
    assert!(!saved.is_default);
    assert_eq!(saved.rules.len(), 1);
    assert_eq!(saved.rules[0].alert, "NoApps");
    assert_eq!(saved.rules[0].for_, "1m");

    // A bad file in a JSON body: 400 invalid_spec with the line, and nothing saved.
    let bad = RULES.replace("for: 1m", "for: soon");
    let r = t.req(Method::PUT, "/api/v1/alerts/rules").json(&serde_json::json!({"yaml": bad})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let err = api_error(r).await;
    assert_eq!(err.code, ErrorCode::InvalidSpec);
    assert_eq!(err.diagnostics[0].line, 6, "{:?}", err.diagnostics);
    assert!(err.message.contains("line 6"), "{}", err.message);
    let now: AlertRulesView = t.req(Method::GET, "/api/v1/alerts/rules").send().await.unwrap().json().await.unwrap();
    assert_eq!(now.yaml, RULES);

    let r = t.req(Method::GET, "/api/v1/alerts/rules/export").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/yaml"));
    let text = r.text().await.unwrap();
    assert!(text.contains("alert: NoApps") && text.contains("crane_firing_action: notify"), "{text}");
    assert!(crane_core::alerts::parse_rule_file(&text).is_ok());

    let active: Vec<AlertView> =
        t.req(Method::GET, "/api/v1/alerts/active").send().await.unwrap().json().await.unwrap();
    // Alerts come only from the rules in force (the next evaluation is up to 15 s away).
    assert!(active.iter().all(|a| a.rule == "NoApps"), "{active:?}");
    let history: Vec<AlertTransitionView> =
        t.req(Method::GET, "/api/v1/alerts/history?limit=5").send().await.unwrap().json().await.unwrap();
    assert!(history.len() <= 5);
    let r = t.req(Method::GET, "/api/v1/alerts/history?limit=0").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(api_error(r).await.message.contains("limit"));

    let r = t.req(Method::POST, "/api/v1/alerts/rules/reset").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let reset: AlertRulesView = r.json().await.unwrap();
    assert!(reset.is_default);
    t.stop().await;
}

/// Alertmanager's webhook: its own token (not the API's), shown and rotated by admins; a wrong or missing token is
/// 401, a malformed body 400 with the reason, a good payload 200 with what Crane did.
#[tokio::test]
async fn the_alertmanager_webhook_takes_its_own_token() {
    let t = TestServer::start().await;
    let info: crane_api::WebhookInfo =
        t.req(Method::GET, "/api/v1/alerts/webhook/info").send().await.unwrap().json().await.unwrap();
    assert!(info.url.ends_with("/api/v1/alerts/webhook"), "{info:?}");
    assert_ne!(info.token, t.token, "the webhook has a token of its own");
    assert!(info.token_file.ends_with("webhook-token"));
    let body = serde_json::json!({"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "Unknown", "app": "nope"}, "startsAt": "2026-12-02T10:00:00Z"}]});
    let post = |token: Option<&str>| {
        let r = t.client.post(format!("{}/api/v1/alerts/webhook", t.url));
        match token {
            Some(token) => r.bearer_auth(token),
            None => r,
        }
    };
    assert_eq!(post(None).json(&body).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let r = post(Some(&t.token)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the API's token is not the webhook's");
    assert_eq!(api_error(r).await.code, ErrorCode::Unauthorized);

    let r = post(Some(&info.token))
        .header("Content-Type", "application/json")
        .body("{\"version\": \"4\", \"alerts\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(Some(&info.token)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let receipt: crane_api::WebhookReceipt = r.json().await.unwrap();
    assert_eq!((receipt.received, receipt.handled, receipt.duplicates), (1, 1, 0));

    let rotated: crane_api::WebhookInfo =
        t.req(Method::POST, "/api/v1/alerts/webhook/rotate").send().await.unwrap().json().await.unwrap();
    assert_ne!(rotated.token, info.token);
    assert_eq!(post(Some(&info.token)).json(&body).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let r = post(Some(&rotated.token)).json(&body).send().await.unwrap();
    let receipt: crane_api::WebhookReceipt = r.json().await.unwrap();
    assert_eq!(receipt.duplicates, 1, "the same alert again is a repeat");
}
