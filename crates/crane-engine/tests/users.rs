//! Users, roles, app ownership and the audit log, through the engine handle as every door calls it, on the fake
//! runtime and the in-memory store (no Docker, paused clock).

mod support;

use crane_api::{Door, LoadRequest, Role};
use crane_core::ports::{AuditRecord, Store};
use crane_engine::{Caller, EngineError, EngineHandle, Permission};
use support::{spec, Rig};

/// The engine acting for `user` with `role` through `door`.
fn as_user(rig: &Rig, user: &str, role: Role, door: Door) -> EngineHandle {
    rig.engine.as_caller(Caller { user: user.into(), role, door })
}

/// The audit rows so far, as `user role door action app outcome` lines.
fn audit_lines(rig: &Rig) -> Vec<String> {
    rig.store.all_audit().iter().map(line).collect()
}

fn line(r: &AuditRecord) -> String {
    format!(
        "{} {} {} {} {} {}",
        r.user,
        r.role.as_str(),
        r.door,
        r.action,
        r.app.as_deref().or(r.target.as_deref()).unwrap_or("-"),
        r.outcome
    )
}

fn forbidden(err: EngineError) -> String {
    match err {
        EngineError::Forbidden(message) => message,
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_viewer_reads_but_cannot_change_anything() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 1, "")).await;
    let viewer = as_user(&rig, "vic", Role::Viewer, Door::Rest);

    // Reads are open to every role.
    assert_eq!(viewer.list_apps().await.unwrap().len(), 1);
    assert_eq!(viewer.get_app("web").await.unwrap().owner, Caller::ADMIN);
    viewer.events(Some("web"), 10).await.unwrap();
    viewer.rollout_history("web").await.unwrap();

    let message = forbidden(viewer.scale("web", 3).await.unwrap_err());
    assert!(message.contains("needs the operator role") && message.contains("'vic'"), "{message}");
    assert_eq!(viewer.scale("web", 3).await.unwrap_err().to_api().code, crane_api::ErrorCode::Forbidden);
    forbidden(viewer.apply(&spec("mine", "demo:1", 1, ""), false).await.unwrap_err());
    forbidden(viewer.delete("web").await.unwrap_err());
    forbidden(viewer.rollout_undo("web", None).await.unwrap_err());
    forbidden(viewer.build_demo_image().await.unwrap_err());
    let load = LoadRequest { rate: 1.0, duration_s: 1.0, ramp_to: None, concurrency: None, path: None };
    forbidden(viewer.start_load("web", &load).await.unwrap_err());
    forbidden(viewer.authorize(Permission::ManagePolicies, None).await.unwrap_err());
    viewer.authorize(Permission::ReadAll, Some("web")).await.unwrap();

    // Nothing changed, and every refusal is in the audit log.
    assert_eq!(rig.engine.get_app("web").await.unwrap().replicas, 1);
    assert!(rig.engine.get_app("mine").await.is_err());
    let lines = audit_lines(&rig);
    assert_eq!(lines[0], "admin admin engine app.apply web ok");
    assert_eq!(lines[1], "vic viewer rest app.scale web forbidden");
    assert!(lines.contains(&"vic viewer rest app.apply - forbidden".to_string()), "{lines:#?}");
    assert!(lines.contains(&"vic viewer rest app.delete web forbidden".to_string()), "{lines:#?}");
    assert!(lines.contains(&"vic viewer rest image.build_demo - forbidden".to_string()), "{lines:#?}");
    // Reads are not audited.
    assert_eq!(lines.len(), 8, "{lines:#?}");
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_operator_manages_only_its_own_apps_and_an_admin_manages_all() {
    let rig = Rig::new().await;
    let alice = as_user(&rig, "alice", Role::Operator, Door::Cli);
    let bob = as_user(&rig, "bob", Role::Operator, Door::Rest);

    let created = alice.apply(&spec("a-web", "demo:1", 1, ""), false).await.unwrap();
    assert_eq!(created.app.owner, "alice");
    assert_eq!(alice.scale("a-web", 2).await.unwrap().replicas, 2);
    bob.apply(&spec("b-web", "demo:1", 1, ""), true).await.unwrap();

    // Bob cannot touch Alice's app, through any operation, and is told whose it is.
    let message = forbidden(bob.scale("a-web", 5).await.unwrap_err());
    assert!(message.contains("app 'a-web' belongs to user 'alice'"), "{message}");
    forbidden(bob.apply(&spec("a-web", "demo:2", 5, ""), false).await.unwrap_err());
    forbidden(bob.delete("a-web").await.unwrap_err());
    forbidden(bob.rollout_undo("a-web", None).await.unwrap_err());
    forbidden(bob.stop_load("a-web").await.unwrap_err());
    forbidden(bob.manage_nginx("a-web", None).await.unwrap_err());
    let app = rig.engine.get_app("a-web").await.unwrap();
    assert_eq!((app.replicas, app.image.as_str(), app.owner.as_str()), (2, "demo:1", "alice"));
    assert_eq!(rig.running("a-web"), "a-web-1@1 a-web-2@1");

    // Alice's changes keep her the owner; she cannot manage users or policies.
    alice.apply(&spec("a-web", "demo:2", 2, ""), false).await.unwrap();
    assert_eq!(rig.engine.get_app("a-web").await.unwrap().owner, "alice");
    forbidden(alice.list_users().await.unwrap_err());
    forbidden(alice.create_user("eve", Role::Admin).await.unwrap_err());
    forbidden(alice.authorize(Permission::ManagePolicies, None).await.unwrap_err());
    forbidden(alice.authorize(Permission::ManageSettings, None).await.unwrap_err());
    forbidden(alice.audit_log(None, None, 10).await.unwrap_err());

    // An admin manages everyone's apps; the owner stays.
    let admin = as_user(&rig, Caller::ADMIN, Role::Admin, Door::Window);
    assert_eq!(admin.scale("a-web", 1).await.unwrap().owner, "alice");
    admin.delete("b-web").await.unwrap();
    alice.delete("a-web").await.unwrap();
    assert!(rig.engine.list_apps().await.unwrap().is_empty());

    let lines = audit_lines(&rig);
    for expected in [
        "alice operator cli app.apply a-web ok",
        "alice operator cli app.scale a-web ok",
        "bob operator rest app.create b-web ok",
        "bob operator rest app.scale a-web forbidden",
        "bob operator rest app.apply a-web forbidden",
        "bob operator rest rollout.undo a-web forbidden",
        "bob operator rest nginx.unmanage a-web forbidden",
        "alice operator cli user.create eve forbidden",
        "admin admin window app.scale a-web ok",
        "admin admin window app.delete b-web ok",
        "alice operator cli app.delete a-web ok",
    ] {
        assert!(lines.contains(&expected.to_string()), "no `{expected}` in {lines:#?}");
    }
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn users_and_tokens_authenticate_with_their_role_until_revoked() {
    let rig = Rig::new().await;
    let admin = as_user(&rig, Caller::ADMIN, Role::Admin, Door::Cli);
    let users = admin.list_users().await.unwrap();
    assert_eq!(users.len(), 1, "the built-in admin: {users:?}");
    assert!(users[0].builtin && users[0].role == Role::Admin);

    let alice = admin.create_user("alice", Role::Operator).await.unwrap();
    assert_eq!(alice.user.role, Role::Operator);
    assert_eq!(alice.token.info.role, Role::Operator);
    let first = alice.token.token.clone();
    let caller = rig.engine.authenticate(&first, Door::Rest).await.unwrap().expect("the first token works");
    assert_eq!(caller, Caller { user: "alice".into(), role: Role::Operator, door: Door::Rest });
    // Only the hash is stored.
    let stored = rig.store.list_tokens().await.unwrap();
    assert!(!format!("{stored:?}").contains(&first));
    assert_eq!(stored[0].hash, crane_engine::access::token_hash(&first));
    assert_eq!(
        rig.engine.hello_key(&alice.token.info.id).await.unwrap(),
        Some(crane_engine::access::token_hash(&first))
    );

    // A viewer token of an operator acts as a viewer; a token cannot exceed its user's role.
    let viewer = admin.create_token(Role::Viewer, Some("alice"), Some("grading script")).await.unwrap();
    assert_eq!(viewer.info.label.as_deref(), Some("grading script"));
    let caller = rig.engine.authenticate(&viewer.token, Door::Cli).await.unwrap().unwrap();
    assert_eq!((caller.user.as_str(), caller.role), ("alice", Role::Viewer));
    let err = admin.create_token(Role::Admin, Some("alice"), None).await.unwrap_err();
    assert!(matches!(err, EngineError::BadRequest(ref m) if m.contains("at most that role")), "{err}");
    // Without a user, the token is the caller's.
    let own = admin.create_token(Role::Viewer, None, None).await.unwrap();
    assert_eq!(own.info.user, Caller::ADMIN);
    assert!(matches!(admin.create_token(Role::Viewer, Some("nobody"), None).await, Err(EngineError::Missing(_))));
    let long = "x".repeat(101);
    assert!(matches!(admin.create_token(Role::Viewer, None, Some(&long)).await, Err(EngineError::BadRequest(_))));

    // Wrong, tampered or malformed tokens authenticate nobody.
    let mut tampered = viewer.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    for bad in [tampered.as_str(), "", "crane_", &"0".repeat(64), &format!("{} ", viewer.token)] {
        assert_eq!(rig.engine.authenticate(bad, Door::Rest).await.unwrap(), None, "{bad:?}");
    }

    // Revoking a token ends it at once; the other tokens go on.
    admin.revoke_token(&viewer.info.id).await.unwrap();
    assert_eq!(rig.engine.authenticate(&viewer.token, Door::Rest).await.unwrap(), None);
    assert!(rig.engine.authenticate(&first, Door::Rest).await.unwrap().is_some());
    assert!(matches!(admin.revoke_token(&viewer.info.id).await, Err(EngineError::Missing(_))));
    assert_eq!(admin.list_tokens().await.unwrap().len(), 2);

    // Names are checked, taken names refused, the built-in admin stays.
    assert!(matches!(admin.create_user("alice", Role::Viewer).await, Err(EngineError::Conflict(_))));
    assert!(matches!(admin.create_user("Bad Name", Role::Viewer).await, Err(EngineError::BadRequest(_))));
    assert!(matches!(admin.remove_user("admin").await, Err(EngineError::BadRequest(_))));
    assert!(matches!(admin.remove_user("nobody").await, Err(EngineError::Missing(_))));

    // Removing a user revokes their tokens; their apps stay theirs, for admins to manage.
    let alice_engine = rig.engine.authenticate(&first, Door::Rest).await.unwrap().unwrap();
    rig.engine.as_caller(alice_engine).apply(&spec("a-web", "demo:1", 1, ""), false).await.unwrap();
    admin.remove_user("alice").await.unwrap();
    assert_eq!(rig.engine.authenticate(&first, Door::Rest).await.unwrap(), None);
    assert_eq!(admin.list_users().await.unwrap().iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["admin"]);
    assert_eq!(rig.engine.get_app("a-web").await.unwrap().owner, "alice");
    admin.scale("a-web", 2).await.unwrap();

    // The audit log names each change with its target; admins read it, filtered.
    let log = admin.audit_log(Some(Caller::ADMIN), None, 100).await.unwrap();
    let actions: Vec<String> = log
        .iter()
        .rev()
        .map(|r| format!("{} {} {}", r.action.as_str(), r.target.as_deref().or(r.app.as_deref()).unwrap_or("-"), r.ok))
        .collect();
    assert_eq!(
        actions,
        [
            "user.create alice true",
            "token.create alice true",
            "token.create alice false",
            "token.create admin true",
            "token.create nobody false",
            "token.create admin false",
            format!("token.revoke {} true", viewer.info.id).as_str(),
            format!("token.revoke {} false", viewer.info.id).as_str(),
            "user.create alice false",
            "user.create Bad Name false",
            "user.remove admin false",
            "user.remove nobody false",
            "user.remove alice true",
            "app.scale a-web true",
        ]
    );
    assert!(log.iter().all(|r| r.door == Door::Cli && r.role == Role::Admin));
    assert_eq!(log[2].error, Some(crane_api::ErrorCode::NotFound), "{:?}", log[2]);
    let about_app = admin.audit_log(None, Some("a-web"), 100).await.unwrap();
    assert_eq!(about_app.iter().map(|r| r.user.as_str()).collect::<Vec<_>>(), ["admin", "alice"]);
    assert!(matches!(admin.audit_log(None, None, 0).await, Err(EngineError::BadRequest(_))));
    rig.engine.shutdown().await;
}
