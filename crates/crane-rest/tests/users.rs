//! Users, roles, app ownership and the audit log over HTTP: the REST server in front of an engine on the fake runtime
//! and the in-memory store (no Docker needed: what is tested is who may do what, not containers).

use std::sync::Arc;
use std::time::Duration;

use crane_api::{ApiError, AppView, AuditView, Door, ErrorCode, IssuedToken, Role, UserCreated, UserView};
use crane_engine::fakes::{FakeRuntime, MemStore};
use crane_engine::{Clock, EngineConfig, EngineHandle};
use reqwest::{Method, StatusCode};

/// An engine on fakes with its REST server.
struct Server {
    handle: EngineHandle,
    server: Option<crane_rest::ApiServer>,
    url: String,
    /// The data directory's token: the built-in admin.
    admin: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = EngineConfig::new(dir.path().join("data")).with_tick(Duration::from_millis(200));
        let handle =
            EngineHandle::start_with(config, Arc::new(FakeRuntime::new(Clock::System)), Arc::new(MemStore::new()))
                .await
                .expect("engine starts");
        let server = crane_rest::start(handle.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("API starts");
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Server { url: server.url.clone(), admin: server.token.clone(), handle, server: Some(server), client, _dir: dir }
    }

    /// A request with `token`.
    fn req(&self, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url)).bearer_auth(token)
    }

    /// Adds a user as the admin; their first token.
    async fn add_user(&self, name: &str, role: Role) -> String {
        let r = self
            .req(&self.admin, Method::POST, "/api/v1/users")
            .json(&serde_json::json!({"name": name, "role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let created: UserCreated = r.json().await.unwrap();
        assert_eq!((created.user.name.as_str(), created.user.role), (name, role));
        created.token.token
    }

    async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        self.handle.shutdown().await;
    }
}

/// Asserts a 403 `forbidden` and returns its message.
async fn forbidden(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let error: ApiError = response.json().await.unwrap();
    assert_eq!(error.code, ErrorCode::Forbidden);
    error.message
}

fn app(name: &str) -> serde_json::Value {
    serde_json::json!({ "yaml": format!("name: {name}\nimage: demo:1\nreplicas: 1\n") })
}

#[tokio::test]
async fn roles_and_ownership_over_rest() {
    let t = Server::start().await;
    let alice = t.add_user("alice", Role::Operator).await;
    let bob = t.add_user("bob", Role::Operator).await;
    let vic = t.add_user("vic", Role::Viewer).await;

    // Unknown, malformed and missing tokens are 401 as before.
    let forged = format!("crane_{}_{}", "0".repeat(12), "0".repeat(64));
    for token in [forged.as_str(), "crane_nope", &"0".repeat(64)] {
        let r = t.req(token, Method::GET, "/api/v1/apps").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{token}");
    }

    // Alice creates an app: hers.
    let r = t.req(&alice, Method::POST, "/api/v1/apps").json(&app("a-web")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap_or_default());
    let view: AppView = t.req(&vic, Method::GET, "/api/v1/apps/a-web").send().await.unwrap().json().await.unwrap();
    assert_eq!(view.owner, "alice");

    // A viewer reads but cannot scale.
    assert_eq!(t.req(&vic, Method::GET, "/api/v1/apps").send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(t.req(&vic, Method::GET, "/api/v1/events").send().await.unwrap().status(), StatusCode::OK);
    let scale =
        |token: &str| t.req(token, Method::POST, "/api/v1/apps/a-web/scale").json(&serde_json::json!({"replicas": 2}));
    let message = forbidden(scale(&vic).send().await.unwrap()).await;
    assert!(message.contains("needs the operator role"), "{message}");

    // Another student cannot touch Alice's app; Alice and an admin can.
    let message = forbidden(scale(&bob).send().await.unwrap()).await;
    assert!(message.contains("belongs to user 'alice'"), "{message}");
    let r = t.req(&bob, Method::DELETE, "/api/v1/apps/a-web").send().await.unwrap();
    forbidden(r).await;
    assert_eq!(scale(&alice).send().await.unwrap().status(), StatusCode::OK);
    let r = t
        .req(&t.admin, Method::POST, "/api/v1/apps/a-web/scale")
        .header(crane_rest::CLIENT_HEADER, "cranectl")
        .json(&serde_json::json!({"replicas": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<AppView>().await.unwrap().owner, "alice");

    // Users, tokens, the audit log and token rotation need an admin.
    for token in [&alice, &vic] {
        forbidden(t.req(token, Method::GET, "/api/v1/users").send().await.unwrap()).await;
        let r = t.req(token, Method::POST, "/api/v1/users").json(&serde_json::json!({"name": "eve", "role": "admin"}));
        forbidden(r.send().await.unwrap()).await;
        forbidden(t.req(token, Method::DELETE, "/api/v1/users/bob").send().await.unwrap()).await;
        let r = t.req(token, Method::POST, "/api/v1/tokens").json(&serde_json::json!({"role": "admin"}));
        forbidden(r.send().await.unwrap()).await;
        forbidden(t.req(token, Method::GET, "/api/v1/tokens").send().await.unwrap()).await;
        forbidden(t.req(token, Method::GET, "/api/v1/audit").send().await.unwrap()).await;
        forbidden(t.req(token, Method::POST, "/api/v1/token/rotate").send().await.unwrap()).await;
    }
    let users: Vec<UserView> =
        t.req(&t.admin, Method::GET, "/api/v1/users").send().await.unwrap().json().await.unwrap();
    assert_eq!(users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["admin", "alice", "bob", "vic"]);

    // The audit log shows each request with its user, role, door and outcome.
    let audit: Vec<AuditView> =
        t.req(&t.admin, Method::GET, "/api/v1/audit?app=a-web&limit=50").send().await.unwrap().json().await.unwrap();
    let rows: Vec<String> = audit
        .iter()
        .rev()
        .map(|r| {
            let outcome = r.error.map_or("ok".to_string(), |e| format!("{e:?}"));
            format!("{} {:?} {:?} {} {outcome}", r.user, r.role, r.door, r.action.as_str())
        })
        .collect();
    assert_eq!(
        rows,
        [
            "alice Operator Rest app.apply ok",
            "vic Viewer Rest app.scale Forbidden",
            "bob Operator Rest app.scale Forbidden",
            "bob Operator Rest app.delete Forbidden",
            "alice Operator Rest app.scale ok",
            "admin Admin Cli app.scale ok",
        ]
    );
    let bobs: Vec<AuditView> =
        t.req(&t.admin, Method::GET, "/api/v1/audit?user=bob").send().await.unwrap().json().await.unwrap();
    assert!(bobs.iter().all(|r| r.user == "bob" && !r.ok && r.door == Door::Rest), "{bobs:?}");
    assert_eq!(bobs.len(), 2, "{bobs:?}");
    let r = t.req(&t.admin, Method::GET, "/api/v1/audit?limit=0").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    t.stop().await;
}

#[tokio::test]
async fn tokens_are_made_used_and_revoked_over_rest() {
    let t = Server::start().await;
    let alice = t.add_user("alice", Role::Operator).await;
    let r = t.req(&alice, Method::POST, "/api/v1/apps").json(&app("a-web")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // A viewer token for Alice: it reads, it does not scale, even her own app.
    let r = t
        .req(&t.admin, Method::POST, "/api/v1/tokens")
        .json(&serde_json::json!({"role": "viewer", "user": "alice", "label": "dashboard"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let issued: IssuedToken = r.json().await.unwrap();
    assert_eq!((issued.info.user.as_str(), issued.info.role), ("alice", Role::Viewer));
    assert!(issued.token.starts_with(&format!("crane_{}_", issued.info.id)));
    assert_eq!(t.req(&issued.token, Method::GET, "/api/v1/apps").send().await.unwrap().status(), StatusCode::OK);
    let r = t.req(&issued.token, Method::POST, "/api/v1/apps/a-web/scale").json(&serde_json::json!({"replicas": 2}));
    forbidden(r.send().await.unwrap()).await;

    // More than the user's role is refused; unknown fields too.
    let r = t
        .req(&t.admin, Method::POST, "/api/v1/tokens")
        .json(&serde_json::json!({"role": "admin", "user": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = t.req(&t.admin, Method::POST, "/api/v1/tokens").json(&serde_json::json!({"role": "viewer", "usr": "a"}));
    assert_eq!(r.send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    let r =
        t.req(&t.admin, Method::POST, "/api/v1/users").json(&serde_json::json!({"name": "alice", "role": "viewer"}));
    assert_eq!(r.send().await.unwrap().status(), StatusCode::CONFLICT);
    assert_eq!(
        t.req(&t.admin, Method::DELETE, "/api/v1/users/admin").send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    // The hello proof for a user token is keyed with its hash: the holder can check the engine before sending it.
    let nonce = crane_rest::hello::new_nonce();
    let port = t.url.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let r =
        t.client.get(format!("{}/api/v1/hello?nonce={nonce}&token_id={}", t.url, issued.info.id)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let hello: crane_rest::routes::Hello = r.json().await.unwrap();
    let key = crane_rest::hello::user_token_key(&issued.token);
    assert!(crane_rest::hello::verify(&key, port, &nonce, &hello.proof));
    assert!(!crane_rest::hello::verify(&t.admin, port, &nonce, &hello.proof));

    // Revoked: 401 at once, and the hello check says the engine no longer knows it.
    let listed: Vec<crane_api::TokenView> =
        t.req(&t.admin, Method::GET, "/api/v1/tokens").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(!serde_json::to_string(&listed).unwrap().contains(&issued.token), "tokens are never shown again");
    let path = format!("/api/v1/tokens/{}", issued.info.id);
    assert_eq!(t.req(&t.admin, Method::DELETE, &path).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(t.req(&t.admin, Method::DELETE, &path).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let r = t.req(&issued.token, Method::GET, "/api/v1/apps").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r =
        t.client.get(format!("{}/api/v1/hello?nonce={nonce}&token_id={}", t.url, issued.info.id)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Removing a user revokes their tokens; their app stays theirs and an admin manages it.
    assert_eq!(
        t.req(&t.admin, Method::DELETE, "/api/v1/users/alice").send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(t.req(&alice, Method::GET, "/api/v1/apps").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let view: AppView = t.req(&t.admin, Method::GET, "/api/v1/apps/a-web").send().await.unwrap().json().await.unwrap();
    assert_eq!(view.owner, "alice");
    assert_eq!(
        t.req(&t.admin, Method::DELETE, "/api/v1/apps/a-web").send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );

    // The admin's rotation is audited.
    let r = t.req(&t.admin, Method::POST, "/api/v1/token/rotate").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let new = t.server.as_ref().unwrap().current_token();
    let audit: Vec<AuditView> =
        t.req(&new, Method::GET, "/api/v1/audit?user=admin").send().await.unwrap().json().await.unwrap();
    let actions: Vec<&str> = audit.iter().rev().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "user.create",
            "token.create",
            "token.create",
            "user.create",
            "user.remove",
            "token.revoke",
            "token.revoke",
            "user.remove",
            "app.delete",
            "token.rotate"
        ]
    );
    assert!(audit.iter().all(|r| r.door == Door::Rest));
    t.stop().await;
}

/// Alert rules concern every app: everyone reads them and the alerts, only admins change them (audited either way).
#[tokio::test]
async fn only_admins_change_alert_rules_over_rest() {
    let t = Server::start().await;
    let op = t.add_user("olga", Role::Operator).await;
    let rules = "groups:\n  - name: t\n    rules:\n      - alert: NoApps\n        expr: crane_apps == 0\n";
    for path in
        ["/api/v1/alerts/rules", "/api/v1/alerts/active", "/api/v1/alerts/history", "/api/v1/alerts/rules/export"]
    {
        let r = t.req(&op, Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let r =
        t.req(&op, Method::PUT, "/api/v1/alerts/rules").json(&serde_json::json!({"yaml": rules})).send().await.unwrap();
    assert!(forbidden(r).await.contains("admin"));
    let r = t.req(&op, Method::POST, "/api/v1/alerts/rules/reset").send().await.unwrap();
    assert!(forbidden(r).await.contains("admin"));
    let r = t
        .req(&t.admin, Method::PUT, "/api/v1/alerts/rules")
        .json(&serde_json::json!({"yaml": rules}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let audit: Vec<AuditView> =
        t.req(&t.admin, Method::GET, "/api/v1/audit?limit=10").send().await.unwrap().json().await.unwrap();
    let changes: Vec<(&str, bool)> = audit
        .iter()
        .filter(|a| a.action == crane_api::AuditAction::AlertRulesChange)
        .map(|a| (a.user.as_str(), a.ok))
        .collect();
    assert_eq!(changes, vec![("admin", true), ("olga", false), ("olga", false)]);
    t.stop().await;
}
