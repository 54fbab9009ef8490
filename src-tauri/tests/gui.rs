//! GUI tests: drive the real Crane window over WebDriver (tauri-driver → WebKitWebDriver → the `crane` binary)
//! against the real Docker engine. A beginner's first run (the Home checklist: Docker, the demo image, the prefilled
//! web app, Deploy, Send requests showing which replica answered), a student's Scaling view (3 instances, then 5 after
//! a scale), the keyboard alone opening an app and scaling it, Edit rolling out a new revision, the wizard's mistakes
//! and an autoscaled app under the window's load generator; an instructor's lab (load, a check turning green, reset)
//! and the Scan dialog; users, policies, alerts and settings.
//!
//! Run it under a virtual display:
//! `xvfb-run -a -s "-screen 0 1280x800x24" cargo test -p crane-app --test gui`
//!
//! With `CRANE_SCREENSHOTS=1` (`make screenshots`) the pictures go to `docs/` (the README shows them: the views at
//! 1280×800 and 1024×700 in the light and dark themes, the wizard's diagnostics, autoscaling, settings, users,
//! policies, Docker unreachable); otherwise to a temporary folder, so `make test` leaves the tree clean. It fails
//! (never skips) when Docker, tauri-driver, WebKitWebDriver or a display is missing, naming the fix.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::{json, Value};

/// How long an app may take from *Create* to all instances running (image present, containers starting).
const APP_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the demo image build may take (the binary is embedded; this is the Docker build alone).
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the autoscaler may take, under load, to add a replica that shows up in the window.
const SCALE_UP_TIMEOUT: Duration = Duration::from_secs(90);

/// The wizard's mistakes (caught in the form, then by the engine with line and field), then an app with autoscaling
/// made in the wizard: it deploys, and under the window's load generator the Scaling view shows it scale up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wizard_catches_mistakes_and_deploys_an_autoscaled_app() {
    let data_dir = tempfile::Builder::new().prefix("crane-gui-").tempdir().expect("temporary data dir");
    let app_name = format!("gui-{:06x}", RandomState::new().build_hasher().finish() & 0xff_ffff);
    // Declared first so it is dropped last: containers are removed after the window (and its engine) is gone.
    let _containers = ContainerCleanup { app: app_name.clone() };
    let dir = data_dir.path().to_path_buf();
    let clean_exit = in_window(data_dir.path(), &[], |client| async move {
        scenario(&client, &app_name, &dir).await;
    })
    .await;
    assert!(clean_exit, "SIGTERM did not shut Crane down cleanly (api.json is still there 15 s later)");
}

/// A beginner's first run, all inside the window: the Home checklist ticks Docker, builds the demo image with one
/// click, opens the wizard prefilled with the web app, deploys it, and *Send requests* shows which replica answered
/// each request. Then, as a student, the Scaling view shows its 3 instances and 5 after a scale; with the keyboard
/// alone the app is opened from the apps list and scaled; Edit applies a changed spec and rolls out revision 2.
/// Screenshots of the views at 1280×800 and 1024×700, light and dark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_checklist_to_a_serving_app_then_scaling_keyboard_and_edit() {
    let data_dir = tempfile::Builder::new().prefix("crane-gui-first-").tempdir().expect("temporary data dir");
    let app = format!("web-{:06x}", RandomState::new().build_hasher().finish() & 0xff_ffff);
    let _containers = ContainerCleanup { app: app.clone() };
    in_window(data_dir.path(), &[], |client| async move {
        let c = &client;
        wait_visible(c, "view-home").await;
        wait_until(c, "Docker ticked", Duration::from_secs(15), "return document.querySelector('[data-testid=step-docker]').dataset.done === 'true' || null").await;
        // The demo image: built from the checklist unless present (another test may have built it already).
        let present = wait_until(
            c,
            "the checklist to know whether the demo image exists",
            Duration::from_secs(15),
            "const d = document.querySelector('#step-image-detail').textContent; return d ? document.querySelector('[data-testid=step-image]').dataset.done : null",
        )
        .await;
        if present == json!("false") {
            build_demo(c, "[data-testid=build-demo]").await;
        }
        wait_until(c, "the demo image ticked", Duration::from_secs(15), "return document.querySelector('[data-testid=step-image]').dataset.done === 'true' || null").await;
        set_size(c, 1280, 800).await;
        screenshot(c, "window-home-first-run-1280.png").await;

        // The prefilled web app (renamed: container names are unique on the shared Docker engine).
        click(c, "[data-testid=step-app-link]").await;
        wait_visible(c, "view-wizard").await;
        let prefilled = c
            .execute("return [document.getElementById('f-name').value, document.getElementById('f-replicas').value, document.getElementById('f-health').checked]", vec![])
            .await
            .expect("script");
        assert_eq!(prefilled, json!(["web", "3", true]), "the web template did not prefill the wizard");
        fill(c, "f-name", &app).await;
        wait_until(c, "the spec checked valid, image present, admitted", Duration::from_secs(15),
            "return (document.querySelector('[data-testid=f-check-valid]') && document.querySelector('[data-testid=f-policy]')?.dataset.admitted === 'true' && !document.querySelector('[data-testid=f-image-missing]')) || null").await;
        click(c, "[data-testid=f-submit]").await;
        wait_until(c, "the app view", Duration::from_secs(30), &format!("return location.hash === '#/app/{app}' || null")).await;
        wait_until(
            c,
            "3 instances ready",
            APP_UP_TIMEOUT,
            "const s = [...document.querySelectorAll('[data-testid=instances] tbody tr')].map(r => r.dataset.state); \
             return (s.length === 3 && s.every(x => x === 'ready')) ? s : null",
        )
        .await;

        // Send requests: the load balancer spreads them over the replicas, each named by its answer.
        fill(c, "send-count", "12").await;
        click(c, "[data-testid=send-requests]").await;
        let hits = wait_until(
            c,
            "12 answers naming their replica",
            Duration::from_secs(40),
            "const h = [...document.querySelectorAll('[data-testid=hit]')].map(e => e.dataset.instance); \
             return (h.length === 12 && h.every(Boolean)) ? h : null",
        )
        .await;
        let distinct: std::collections::BTreeSet<&str> =
            hits.as_array().expect("array").iter().filter_map(Value::as_str).collect();
        assert!(distinct.len() >= 2, "every request was answered by the same replica: {hits}");
        assert!(distinct.iter().all(|i| i.starts_with(&format!("{app}-"))), "answers from other apps: {hits}");
        screenshot(c, "window-app-1280-light.png").await;
        set_theme(c, "dark").await;
        screenshot(c, "window-app-1280-dark.png").await;
        set_theme(c, "light").await;

        nav(c, "home").await;
        wait_until(c, "the checklist complete", Duration::from_secs(15), "return document.querySelector('[data-testid=checklist-progress]').textContent.includes('5 of 5') || null").await;
        let card = text(c, &format!("[data-testid=app-card-{app}] [data-testid=card-ready]")).await;
        assert_eq!(card, "3/3", "the app's card on Home");
        c.execute("document.getElementById('checklist').open = true; return true", vec![]).await.expect("script");
        screenshot(c, "window-home-1280-light.png").await;
        set_theme(c, "dark").await;
        screenshot(c, "window-home-1280-dark.png").await;
        set_theme(c, "light").await;

        // The Scaling view: 3 instances in the topology, 5 after a scale from the view.
        click(c, &format!("[data-testid=app-card-{app}] [data-part=scaling]")).await;
        wait_visible(c, "view-scaling").await;
        let topo = "[...document.querySelectorAll('[data-testid=topology] .topo-inst:not(.leaving)')].map(g => g.dataset.state)";
        wait_until(c, "3 instances in the topology", Duration::from_secs(15), &format!("const s = {topo}; return (s.length === 3 && s.every(x => x === 'ready')) ? s : null")).await;
        // An instance of the SVG topology is a focusable button: focus it and press Enter (WebDriver's element click
        // does not reach SVG groups in WebKit).
        c.execute(&format!("document.querySelector('[data-testid=topo-instance-{app}-2]').focus(); return true"), vec![])
            .await
            .expect("script");
        press(c, Key::Enter).await;
        wait_until(c, "the picked instance's probes and logs", Duration::from_secs(15),
            "const d = document.querySelector('[data-testid=topo-detail]'); return (!d.hidden && d.querySelector('[data-testid=topo-probe]') && !d.querySelector('[data-testid=topo-logs]').textContent.startsWith('loading')) || null").await;
        fill(c, "scaling-scale-input", "5").await;
        let typed = c.execute("return document.getElementById('scaling-scale-input').value", vec![]).await.unwrap();
        if typed != json!("5") {
            set_text(c, "scaling-scale-input", "5").await;
        }
        click(c, "[data-testid=scaling-scale-submit]").await;
        wait_until(c, "5 instances ready in the topology", APP_UP_TIMEOUT, &format!("const s = {topo}; return (s.length === 5 && s.every(x => x === 'ready')) ? s : null")).await;
        wait_until(c, "the 4 charts", Duration::from_secs(20), "return document.querySelectorAll('[data-testid=charts] .chart svg').length === 4 || null").await;
        // A long-lived connection (a WebSocket to the demo's /ws through the load balancer) is drawn as a dashed edge
        // to the instance that holds it, with its count.
        let lb = c.execute("return document.querySelector('[data-testid=topo-rps]').textContent", vec![]).await.expect("script");
        let address = lb.as_str().unwrap_or_default().split_whitespace().next().unwrap_or_default().to_string();
        let _socket = open_websocket(&address);
        let held = wait_until(c, "a long-lived connection in the topology", Duration::from_secs(20),
            "const e = document.querySelector('[data-testid^=topo-conn-]'); return e ? e.dataset.testid : null").await;
        assert!(held.as_str().unwrap_or_default().starts_with(&format!("topo-conn-{app}-")), "{held}");
        screenshot(c, "window-scaling-1280-light.png").await;
        set_theme(c, "dark").await;
        screenshot(c, "window-scaling-1280-dark.png").await;

        // 1024×700: nothing clipped (the widest rows wrap), in both themes.
        set_size(c, 1024, 700).await;
        assert_no_overflow(c).await;
        screenshot(c, "window-scaling-1024-dark.png").await;
        set_theme(c, "light").await;
        nav(c, "home").await;
        assert_no_overflow(c).await;
        screenshot(c, "window-home-1024-light.png").await;

        // Keyboard only: from the page's start, Tab to the app in the apps list, Enter; Tab to the replica box, type 2,
        // Enter.
        c.execute("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); return true", vec![]).await.expect("script");
        let link = format!("app-item-{app}");
        press_tab_until(c, &format!("return document.activeElement && document.activeElement.dataset.testid === '{link}'")).await;
        press(c, Key::Enter).await;
        wait_until(c, "the app opened by the keyboard", Duration::from_secs(10), &format!("return location.hash === '#/app/{app}' || null")).await;
        press_tab_until(c, "return document.activeElement && document.activeElement.id === 'scale-input'").await;
        let backspace = char::from(Key::Backspace);
        type_keys(c, &[backspace, backspace, backspace, backspace, '2']).await;
        let typed = c.execute("return document.getElementById('scale-input').value", vec![]).await.expect("script");
        assert_eq!(typed, json!("2"), "the replica box after typing");
        press(c, Key::Enter).await;
        wait_until(
            c,
            "the app scaled to 2 with the keyboard",
            APP_UP_TIMEOUT,
            "const s = [...document.querySelectorAll('[data-testid=instances] tbody tr')].map(r => r.dataset.state); \
             return (s.length === 2 && s.every(x => x === 'ready')) ? s : null",
        )
        .await;
        screenshot(c, "window-app-1024-light.png").await;
        set_theme(c, "dark").await;
        screenshot(c, "window-app-1024-dark.png").await;
        set_theme(c, "light").await;
        // The smallest window tauri.conf.json allows (900×600): Scale and Delete are still reachable, in every view.
        set_size(c, 900, 600).await;
        assert_no_overflow(c).await;
        for view in ["scaling", "home", "policies", "settings"] {
            nav(c, view).await;
            assert_no_overflow(c).await;
        }
        click(c, &format!("[data-testid=app-item-{app}]")).await;
        wait_visible(c, "view-app").await;
        set_size(c, 1280, 800).await;

        // Edit: the stored spec with an environment variable added; Apply rolls out revision 2.
        click(c, "[data-testid=edit-app]").await;
        wait_visible(c, "view-wizard").await;
        let stored = c.execute("return document.getElementById('f-yaml').value", vec![]).await.expect("script");
        let stored = stored.as_str().expect("text").to_string();
        assert!(stored.contains(&format!("name: {app}")) || stored.contains(&format!("name: \"{app}\"")), "Edit did not open the stored spec: {stored:?}");
        set_text(c, "f-yaml", &format!("{stored}env: {{ GREETING: hello }}\n")).await;
        wait_until(c, "the edit checked valid", Duration::from_secs(15), "return document.querySelector('[data-testid=f-check-valid]') ? true : null").await;
        screenshot(c, "window-edit-1280-light.png").await;
        click(c, "[data-testid=f-submit]").await;
        wait_until(c, "the app view after Apply", Duration::from_secs(30), &format!("return location.hash === '#/app/{app}' || null")).await;
        wait_until(
            c,
            "revision 2 rolled out",
            APP_UP_TIMEOUT,
            "const rows = [...document.querySelectorAll('[data-testid=instances] tbody tr')]; \
             return (document.getElementById('app-revision').textContent === 'revision 2' && rows.length === 2 && \
                     rows.every(r => r.dataset.state === 'ready' && r.textContent.includes('rev 2'))) || null",
        )
        .await;

        click(c, "[data-testid=delete-app]").await;
        click(c, "[data-testid=confirm-ok]").await;
        wait_until(c, "the app to leave the list", Duration::from_secs(30), &format!("return document.querySelector('[data-testid=app-item-{app}]') ? null : true")).await;
    })
    .await;
}

/// With no Docker engine the window still opens and says why nothing can run, naming the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_explains_an_unreachable_docker_engine() {
    let data_dir = tempfile::Builder::new().prefix("crane-gui-nodocker-").tempdir().expect("temporary data dir");
    let socket = data_dir.path().join("no-docker.sock");
    let docker_host = format!("unix://{}", socket.display());
    let dir = data_dir.path().to_path_buf();
    in_window(data_dir.path(), &[("DOCKER_HOST", &docker_host)], |client| async move {
        let c = &client;
        assert_eq!(text(c, "[data-testid=docker-status]").await, "Docker unreachable");
        let reason = text(c, "[data-testid=docker-banner]").await;
        assert!(reason.contains("no-docker.sock"), "the banner does not say which Docker address failed: {reason:?}");
        assert!(reason.contains("start Docker"), "the banner does not name the fix: {reason:?}");
        screenshot(c, "screenshot-docker-unreachable.png").await;
        presenter_keys(c).await;
        settings_and_token(c, &dir).await;
    })
    .await;
}

/// An instructor's lab in the window: the Labs view lists the shipped labs; loading "A rolling update that rolls
/// back" creates its app with progress, its steps show beside their checks, and the first check turns green once
/// the app's 3 instances are ready; Reset (with the in-page confirmation) removes exactly the lab's app. Then the
/// Scan dialog scans the demo image: no vulnerabilities, and the one hygiene finding that applies (no HEALTHCHECK).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instructor_loads_a_lab_its_first_check_turns_green_and_reset_removes_it() {
    let data_dir = tempfile::Builder::new().prefix("crane-gui-lab-").tempdir().expect("temporary data dir");
    // The lab's app has a fixed name; no other test loads this lab.
    let _containers = ContainerCleanup { app: "roll-web".to_string() };
    in_window(data_dir.path(), &[], |client| async move {
        let c = &client;
        let present = wait_until(
            c,
            "the checklist to know whether the demo image exists",
            Duration::from_secs(15),
            "const d = document.querySelector('#step-image-detail').textContent; return d ? document.querySelector('[data-testid=step-image]').dataset.done : null",
        )
        .await;
        if present == json!("false") {
            build_demo(c, "[data-testid=build-demo]").await;
        }
        nav(c, "labs").await;
        wait_until(
            c,
            "the shipped labs listed",
            Duration::from_secs(15),
            "return document.querySelectorAll('[data-testid=lab-list] > li').length >= 4 || null",
        )
        .await;
        click(c, "[data-testid=lab-load-rolling-update-rollback]").await;
        wait_visible(c, "lab-current-title").await;
        let title = text(c, "#lab-current-title").await;
        assert_eq!(title, "A rolling update that rolls back");
        let first = wait_until(
            c,
            "the lab's first check to turn green (roll-web: 3 ready instances)",
            APP_UP_TIMEOUT,
            "const li = document.querySelector('[data-testid=lab-step-1] [data-testid=lab-check-1]'); return (li && li.dataset.passed === 'true') ? li.textContent : null",
        )
        .await;
        assert!(first.as_str().unwrap_or("").contains("roll-web"), "{first}");
        let done = text(c, "[data-testid=lab-done]").await;
        assert!(done.starts_with("1 of 2 steps done"), "{done:?}");
        let second = text(c, "[data-testid=lab-step-2]").await;
        assert!(second.contains("rollout.failed") || second.contains("roll"), "step 2 shows its checks: {second}");
        screenshot(c, "window-labs-1280-light.png").await;

        click(c, "[data-testid=lab-reset]").await;
        click(c, "[data-testid=confirm-ok]").await;
        wait_until(
            c,
            "the lab reset (no lab loaded)",
            Duration::from_secs(60),
            "return document.querySelector('[data-testid=lab-current]').hidden || null",
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !labelled_containers("roll-web").is_empty() {
            assert!(Instant::now() < deadline, "the reset left roll-web's containers behind");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }

        // The Scan dialog on the demo image.
        nav(c, "settings").await;
        click(c, "[data-testid=scan-open]").await;
        fill(c, "scan-image", "crane-demo:0.1.0").await;
        click(c, "[data-testid=scan-start]").await;
        wait_until(
            c,
            "the scan result",
            Duration::from_secs(60),
            "const r = document.querySelector('[data-testid=scan-result]'); return (r && !r.hidden) || null",
        )
        .await;
        let counts = text(c, "[data-testid=scan-counts]").await;
        assert!(counts.contains("CRITICAL 0") && counts.contains("HIGH 0"), "{counts:?}");
        let hygiene = text(c, "[data-testid=scan-hygiene]").await;
        assert!(hygiene.contains("HEALTHCHECK"), "{hygiene:?}");
        let checks = wait_until(
            c,
            "the hygiene findings",
            Duration::from_secs(5),
            "return [...document.querySelectorAll('[data-testid=scan-hygiene] li')].map(li => li.dataset.testid).join(',') || null",
        )
        .await;
        assert_eq!(checks, json!("hygiene-no_healthcheck"), "the demo runs as 65534, is tagged, has no secrets");
        click(c, "[data-testid=scan-close]").await;
    })
    .await;
}

/// The admin adds a user in the Settings' Users dialog, sees their token once (and it works over REST with the
/// user's role), sees the change in the audit log with door `window`, and removes the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_manages_users_in_the_window() {
    let data_dir = tempfile::Builder::new().prefix("crane-gui-users-").tempdir().expect("temporary data dir");
    in_window(data_dir.path(), &[], |client| async move {
        let c = &client;
        nav(c, "settings").await;
        click(c, "[data-testid=users-open]").await;
        wait_until(
            c,
            "the users list",
            Duration::from_secs(10),
            "return document.querySelector('[data-user=admin]') ? true : null",
        )
        .await;
        fill(c, "user-name", "student-1").await;
        click(c, "[data-testid=user-add]").await;
        let token = wait_until(
            c,
            "the new user's token",
            Duration::from_secs(10),
            "const t = document.querySelector('[data-testid=user-token-value]'); \
             return (t.offsetParent !== null && t.textContent.startsWith('crane_')) ? t.textContent : null",
        )
        .await;
        let token = token.as_str().expect("text").to_string();
        wait_until(
            c,
            "the user in the list",
            Duration::from_secs(10),
            "return document.querySelector('[data-user=student-1]') ? true : null",
        )
        .await;
        let row = text(c, "[data-user=student-1]").await;
        assert!(row.contains("operator"), "the new user's row: {row:?}");
        // The token works over REST with the operator role: it reads, and user management is refused.
        let api_url = text(c, "[data-testid=api-url]").await;
        assert_eq!(http_get_status_as(&api_url, "/api/v1/apps", &token), "HTTP/1.1 200 OK");
        assert_eq!(http_get_status_as(&api_url, "/api/v1/users", &token), "HTTP/1.1 403 Forbidden");
        let audit = text(c, "[data-testid=audit-table]").await;
        assert!(audit.contains("user.create") && audit.contains("window") && audit.contains("student-1"), "{audit:?}");
        screenshot(c, "screenshot-users.png").await;

        click(c, "[data-testid=user-remove-student-1]").await;
        click(c, "[data-testid=confirm-ok]").await;
        wait_until(
            c,
            "the user to go",
            Duration::from_secs(10),
            "return document.querySelector('[data-user=student-1]') ? null : true",
        )
        .await;
        assert_eq!(http_get_status_as(&api_url, "/api/v1/apps", &token), "HTTP/1.1 401 Unauthorized");
        let audit = text(c, "[data-testid=audit-table]").await;
        assert!(audit.contains("user.remove"), "{audit:?}");
    })
    .await;
}

/// An admin reads, checks, edits, evaluates, resets and tests the policies in the window's Policies view (no Docker
/// needed: policies are the engine's own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_validated_saved_evaluated_and_reset_in_the_window() {
    let data_dir = tempfile::Builder::new().prefix("crane-gui-policies-").tempdir().expect("temporary data dir");
    in_window(data_dir.path(), &[], |client| async move { policies_scenario(&client).await }).await;
}

/// The marks `crane-bench window` reads (no Docker needed): with `CRANE_BENCH_MARKS` the window writes one
/// "interactive" line once it is ready (on Home), goes to `CRANE_BENCH_ROUTE`, and reports its counters every second;
/// a reload (the page becoming ready again) does not write a second interactive line. No timing is asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_marks_are_written_once_and_the_route_is_followed() {
    let data_dir = tempfile::Builder::new().prefix("crane-gui-marks-").tempdir().expect("temporary data dir");
    let marks_dir = tempfile::tempdir().expect("temporary dir");
    let marks = marks_dir.path().join("marks.jsonl");
    let marks_env = marks.to_str().expect("utf-8 path").to_string();
    let read = move |path: &Path| -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each mark is a JSON line"))
            .collect()
    };
    let env = [("CRANE_BENCH_MARKS", marks_env.as_str()), ("CRANE_BENCH_ROUTE", "#/settings")];
    let file = marks.clone();
    in_window(data_dir.path(), &env, |client| async move {
        let c = &client;
        wait_until(c, "the bench route", Duration::from_secs(20), "return location.hash === '#/settings' || null")
            .await;
        let stats_lines = |lines: &[Value]| lines.iter().filter(|l| l["kind"] == "stats").count();
        let deadline = Instant::now() + Duration::from_secs(20);
        while stats_lines(&read(&file)) < 2 {
            assert!(Instant::now() < deadline, "no counters reported: {:?}", read(&file));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let lines = read(&file);
        let interactive: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "interactive").collect();
        assert_eq!(interactive.len(), 1, "{lines:?}");
        assert_eq!(interactive[0]["view"], "home", "the interactive mark is taken on the view the window opened on");
        assert!(
            interactive[0]["refreshes"].as_u64().unwrap_or(0) >= 1,
            "interactive before the first fetch: {lines:?}"
        );
        let last = lines.iter().rev().find(|l| l["kind"] == "stats").expect("a stats line");
        assert_eq!(last["view"], "settings", "{lines:?}");
        assert!(last["unix_ms"].as_u64() > interactive[0]["unix_ms"].as_u64(), "{lines:?}");

        // A reload makes the page ready again: still one interactive line.
        c.execute("location.reload(); return true", vec![]).await.expect("script");
        tokio::time::sleep(Duration::from_millis(500)).await;
        wait_until(
            c,
            "the reloaded window",
            Duration::from_secs(30),
            "return document.body.dataset.ready === 'true' || null",
        )
        .await;
        let before = stats_lines(&read(&file));
        let deadline = Instant::now() + Duration::from_secs(20);
        while stats_lines(&read(&file)) < before + 2 {
            assert!(Instant::now() < deadline, "no counters after the reload: {:?}", read(&file));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let lines = read(&file);
        assert_eq!(lines.iter().filter(|l| l["kind"] == "interactive").count(), 1, "{lines:?}");
    })
    .await;
}

/// The admin opens the Alerts dialog, sees the shipped rules, is refused an invalid rule file with its line (nothing
/// saved), saves a rule that holds at once (no app exists), and sees its alert firing and the transition, with the
/// count on the header button. The evaluator runs every second here (`CRANE_ALERT_INTERVAL_MS`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_edits_alert_rules_and_sees_alerts_in_the_window() {
    let data_dir = tempfile::Builder::new().prefix("crane-gui-alerts-").tempdir().expect("temporary data dir");
    in_window(data_dir.path(), &[("CRANE_ALERT_INTERVAL_MS", "1000")], |client| async move {
        let c = &client;
        nav(c, "policies").await;
        click(c, "[data-testid=alerts-open]").await;
        wait_until(
            c,
            "the shipped rules",
            Duration::from_secs(10),
            "return document.getElementById('alert-rules-yaml').value.includes('AppDegraded') || null",
        )
        .await;
        assert!(text(c, "[data-testid=alert-rules-origin]").await.contains("as Crane ships them"));
        // The webhook receiver for an Alertmanager: its URL, and its token on request.
        wait_until(
            c,
            "the webhook URL",
            Duration::from_secs(10),
            "const t = document.getElementById('webhook-url').textContent; return t.endsWith('/api/v1/alerts/webhook') || null",
        )
        .await;
        click(c, "[data-testid=webhook-show]").await;
        let token = text(c, "[data-testid=webhook-token]").await;
        assert_eq!(token.len(), 64, "{token}");
        assert!(text(c, "[data-testid=webhook-config]").await.contains("webhook-token"));

        set_text(
            c,
            "alert-rules-yaml",
            "groups:\n  - name: t\n    rules:\n      - alert: NoApps\n        expr: crane_apps ==\n",
        )
        .await;
        click(c, "[data-testid=alert-rules-save]").await;
        let diag = wait_until(
            c,
            "the diagnostic",
            Duration::from_secs(10),
            "const d = document.querySelector('[data-testid=alert-rules-diagnostic]'); return d ? d.textContent : null",
        )
        .await;
        assert!(diag.as_str().unwrap_or_default().contains("line 5"), "{diag:?}");
        assert!(text(c, "[data-testid=alert-rules-origin]").await.contains("as Crane ships them"), "nothing saved");

        set_text(
            c,
            "alert-rules-yaml",
            "groups:\n  - name: t\n    rules:\n      - alert: NoApps\n        expr: crane_apps == 0\n        \
             annotations:\n          summary: no app yet\n",
        )
        .await;
        click(c, "[data-testid=alert-rules-validate]").await;
        wait_until(
            c,
            "the validation",
            Duration::from_secs(10),
            "return document.getElementById('alert-rules-status').textContent.includes('Valid: 1 rule') || null",
        )
        .await;
        click(c, "[data-testid=alert-rules-save]").await;
        wait_until(
            c,
            "the save",
            Duration::from_secs(10),
            "return document.getElementById('alert-rules-status').textContent.includes('Saved: 1 rule') || null",
        )
        .await;
        wait_until(
            c,
            "the alert to fire",
            Duration::from_secs(30),
            "return document.querySelector('[data-alert=NoApps][data-state=firing]') ? true : null",
        )
        .await;
        let row = text(c, "[data-alert=NoApps]").await;
        assert!(row.contains("firing") && row.contains("no app yet"), "{row:?}");
        let history = text(c, "[data-testid=alert-history-table]").await;
        assert!(history.contains("inactive → firing"), "{history:?}");
        assert_eq!(text(c, "[data-testid=alerts-count]").await, "1");
        screenshot(c, "screenshot-alerts.png").await;
    })
    .await;
}

async fn policies_scenario(c: &Client) {
    nav(c, "policies").await;
    click(c, "[data-testid=open-policies]").await;
    wait_until(
        c,
        "the three policies",
        Duration::from_secs(10),
        "return document.querySelectorAll('[data-testid^=policy-tab-]').length === 3 || null",
    )
    .await;
    let rego = c.execute("return document.getElementById('policy-rego').value", vec![]).await.expect("script");
    assert!(rego.as_str().unwrap_or_default().contains("package crane.admission"), "{rego}");

    // The sample input, evaluated by the shipped policy.
    click(c, "[data-testid=policy-eval]").await;
    wait_until(
        c,
        "an evaluation",
        Duration::from_secs(10),
        "const s = document.getElementById('policy-summary'); return (!s.hidden && s.textContent) || null",
    )
    .await;
    assert!(text(c, "[data-testid=policy-summary]").await.starts_with("admitted"));

    // A broken edit: validation names the line, and saving it is refused.
    let set =
        |id: &str, value: &str| format!("document.getElementById({}).value = {}; return true", json!(id), json!(value));
    c.execute(
        &set("policy-rego", "package crane.admission\n\ndeny contains msg if {\n  msg := concat(\", \"\n}\n"),
        vec![],
    )
    .await
    .expect("script");
    click(c, "[data-testid=policy-validate]").await;
    wait_until(
        c,
        "the diagnostics",
        Duration::from_secs(10),
        "return document.querySelector('[data-testid=policy-diagnostic]') ? true : null",
    )
    .await;
    let where_ = text(c, "[data-testid=policy-diagnostic] .where").await;
    assert!(where_.starts_with("admission.rego · line "), "{where_}");
    assert!(text(c, "[data-testid=policy-status]").await.starts_with("Invalid"));
    click(c, "[data-testid=policy-save]").await;
    wait_until(
        c,
        "the refusal",
        Duration::from_secs(10),
        "return document.getElementById('policy-status').textContent.includes('invalid') || null",
    )
    .await;
    assert_eq!(text(c, "[data-testid=policy-tab-admission] .badge").await, "shipped", "the running policy stayed");

    // A setting of the scaling policy, saved: the next decision follows it.
    click(c, "[data-testid=policy-tab-scaling]").await;
    c.execute(&set("policy-data", r#"{"max_replicas": 3}"#), vec![]).await.expect("script");
    click(c, "[data-testid=policy-save]").await;
    wait_until(
        c,
        "the save",
        Duration::from_secs(10),
        "return document.getElementById('policy-status').textContent.startsWith('Saved') || null",
    )
    .await;
    wait_until(c, "the edited badge", Duration::from_secs(10), "const b = document.querySelector('[data-testid=policy-tab-scaling] .badge'); return (b && b.textContent === 'edited') || null").await;
    click(c, "[data-testid=policy-eval]").await;
    wait_until(
        c,
        "the clamped decision",
        Duration::from_secs(10),
        "return document.getElementById('policy-summary').textContent.startsWith('clamped to 3') || null",
    )
    .await;
    screenshot(c, "screenshot-policies.png").await;

    // Back to the shipped version, then the unit tests.
    click(c, "[data-testid=policy-reset]").await;
    click(c, "[data-testid=confirm-ok]").await;
    wait_until(
        c,
        "the reset",
        Duration::from_secs(10),
        "return document.getElementById('policy-status').textContent.startsWith('Reset') || null",
    )
    .await;
    assert_eq!(text(c, "[data-testid=policy-tab-scaling] .badge").await, "shipped");
    click(c, "[data-testid=policy-test]").await;
    wait_until(
        c,
        "the tests",
        Duration::from_secs(20),
        "return document.getElementById('policy-status').textContent.startsWith('Tests:') || null",
    )
    .await;
    let status = text(c, "[data-testid=policy-status]").await;
    assert!(status.ends_with(" passed, 0 failed."), "{status}");
    click(c, "[data-testid=policies-close]").await;
}

async fn scenario(c: &Client, app: &str, data_dir: &Path) {
    // Header: Docker reachable, the engine on our temporary data directory (CRANE_DATA_DIR reached the app).
    let docker = text(c, "[data-testid=docker-status]").await;
    let detail = text(c, "[data-testid=docker-detail]").await;
    assert_eq!(docker, "Docker OK", "the header says Docker is not OK: {detail}");
    let shown_dir = c
        .execute("return document.querySelector('[data-testid=docker-detail]').dataset.dataDir", vec![])
        .await
        .expect("script");
    assert_eq!(
        shown_dir.as_str(),
        Some(data_dir.to_str().expect("utf-8 temp dir")),
        "the app did not use CRANE_DATA_DIR (tauri-driver passes its environment to the app)"
    );
    assert!(data_dir.join("api.json").is_file(), "the app did not announce its REST API in <data_dir>/api.json");
    nav(c, "settings").await;
    let api_url = text(c, "[data-testid=api-url]").await;
    assert!(api_url.starts_with("http://127.0.0.1:"), "the REST API URL is not shown: {api_url:?}");
    click(c, "[data-testid=show-token]").await;
    wait_until(c, "the API token", Duration::from_secs(5), "const t = document.querySelector('[data-testid=api-token]'); return (t.offsetParent !== null && t.textContent.length > 8) || null").await;
    click(c, "[data-testid=show-token]").await; // and hide it again

    // Build the demo image from Settings; progress arrives through crane://change.
    build_demo(c, "[data-testid=settings-build-demo]").await;

    // New app, with mistakes first: a client-side check, then a spec the engine rejects with diagnostics.
    click(c, "[data-testid=new-app]").await;
    wait_visible(c, "view-wizard").await;
    fill(c, "f-name", "Bad_Name!").await;
    click(c, "[data-testid=f-submit]").await;
    let name_error = text(c, ".field-error[data-for=name]").await;
    assert!(name_error.contains("not a valid name"), "no client-side name check: {name_error:?}");
    // The window checks the engine's rule (from `status`), length included, and says what it is.
    fill(c, "f-name", &format!("a{}", "b".repeat(40))).await;
    click(c, "[data-testid=f-submit]").await;
    let name_error = text(c, ".field-error[data-for=name]").await;
    assert!(name_error.contains("the limit is 40"), "the window's name limit is not the engine's: {name_error:?}");
    let hint = text(c, "[data-testid=f-name-hint]").await;
    assert!(hint.contains("at most 40 characters"), "the name hint does not come from the engine: {hint:?}");

    fill(c, "f-name", app).await;
    fill(c, "f-memory", "lots").await;
    click(c, "[data-testid=f-submit]").await;
    // Deploy's answer (not the live check of an earlier keystroke): the engine's diagnostics, naming the field.
    wait_until(
        c,
        "the engine's diagnostics",
        Duration::from_secs(15),
        "const f = document.querySelector('[data-testid=new-app-form]'); \
         return (f.dataset.state === 'rejected' && document.querySelectorAll('[data-testid=diagnostic]').length) || null",
    )
    .await;
    let diagnostics = text(c, "[data-testid=f-diagnostics]").await;
    assert!(diagnostics.contains("resources"), "the diagnostics do not name the field: {diagnostics:?}");
    screenshot(c, "screenshot-new-app-error.png").await;

    // The real thing: 1 replica, health checks, and an autoscaler (1..3 replicas, 5 req/s per replica) set in the
    // wizard; its YAML review shows the autoscaling line before Deploy.
    fill(c, "f-memory", "").await;
    fill(c, "f-replicas", "1").await;
    fill(c, "f-port", "8080").await;
    fill(c, "f-command", "/demo --port 8080").await;
    click(c, "[data-testid=f-health]").await; // HTTP liveness /health and readiness /ready
    click(c, "[data-testid=f-as]").await;
    fill(c, "f-as-min", "1").await;
    fill(c, "f-as-max", "3").await;
    c.execute("const s = document.getElementById('f-as-metric'); s.value = 'rps'; s.dispatchEvent(new Event('change', { bubbles: true })); return true", vec![])
        .await
        .expect("script");
    fill(c, "f-as-target", "5").await;
    fill(c, "f-as-stab", "10s").await;
    let yaml = wait_until(
        c,
        "the YAML review with autoscaling, checked valid",
        Duration::from_secs(15),
        "const y = document.getElementById('f-yaml').value; \
         return (y.includes('autoscaling: { min: 1, max: 3, metric: rps, target: 5') && document.querySelector('[data-testid=f-check-valid]')) ? y : null",
    )
    .await;
    eprintln!("the wizard's spec:\n{}", yaml.as_str().unwrap_or_default());
    click(c, "[data-testid=f-submit]").await;
    wait_until(
        c,
        "the app view after Deploy",
        Duration::from_secs(30),
        &format!("return location.hash === '#/app/{app}' || (document.querySelector('[data-testid=f-diagnostics]').hidden ? null : document.querySelector('[data-testid=f-diagnostics]').textContent)"),
    )
    .await;
    let hash = c.execute("return location.hash", vec![]).await.expect("script");
    assert_eq!(hash, json!(format!("#/app/{app}")), "Deploy did not open the app");
    wait_until(
        c,
        "the app in the list",
        Duration::from_secs(20),
        &format!("return document.querySelector('[data-testid=app-item-{app}]') ? true : null"),
    )
    .await;
    click(c, &format!("[data-testid=app-item-{app}]")).await;
    // The window acts as the built-in admin, so its apps are the admin's.
    wait_until(
        c,
        "the app's owner",
        Duration::from_secs(10),
        "return document.querySelector('[data-testid=app-owner]').textContent === 'owner admin' || null",
    )
    .await;
    let states = wait_until(
        c,
        "1 instance running or ready",
        APP_UP_TIMEOUT,
        "const s = [...document.querySelectorAll('[data-testid=instances] tbody tr')].map(r => r.dataset.state); \
         return (s.length === 1 && s.every(x => x === 'ready' || x === 'running')) ? s : null",
    )
    .await;
    eprintln!("instances: {states}");
    let url = text(c, "[data-testid=app-url]").await;
    assert!(url.starts_with("http://"), "the app's URL is not shown: {url:?}");
    // Each instance shows its probe state.
    let probes = wait_until(
        c,
        "the probe state of the instance",
        APP_UP_TIMEOUT,
        "const p = [...document.querySelectorAll('[data-testid=instance-probe]')].filter(e => !e.hidden).map(e => e.textContent); \
         return (p.length === 1 && p.every(t => t.includes('liveness ok') && t.includes('ready'))) ? p : null",
    )
    .await;
    eprintln!("probes: {probes}");
    // The URL the window shows serves the app (through Crane's load balancer).
    for _ in 0..6 {
        let status = http_get_status(&url);
        assert!(
            status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200"),
            "GET {url} answered {status:?}"
        );
    }
    // Traffic figures refresh on demand (the engine sends no change event per request).
    click(c, "#traffic-refresh").await;
    wait_until(
        c,
        "the traffic figures to count the 6 requests",
        Duration::from_secs(10),
        "const v = [...document.querySelectorAll('[data-testid=traffic] .stat')].find(s => s.textContent.includes('requests')); \
         return (v && parseInt(v.querySelector('.stat-value').textContent, 10) >= 6) || null",
    )
    .await;

    // Follow the logs so the screenshot shows some; the demo prints a line when it starts listening.
    click(c, "[data-testid=logs-follow]").await;
    wait_until(
        c,
        "the logs to follow",
        Duration::from_secs(10),
        "return (document.querySelector('[data-testid=logs-follow]').checked && !document.querySelector('[data-testid=logs-live]').hidden) || null",
    )
    .await;
    let _ = wait_until_soft(
        c,
        Duration::from_secs(8),
        "return document.querySelectorAll('[data-testid=logs] div:not(.note)').length >= 1 || null",
    )
    .await;

    // The newest event opens with its details.
    click(c, "[data-testid=event]").await;
    let details = text(c, "[data-testid=event-details]").await;
    assert!(details.starts_with('{'), "event details are not JSON: {details:?}");
    click(c, "[data-testid=event-dialog] button").await;

    autoscale_under_load(c, app).await;

    // Delete through the window, with the in-page confirmation.
    click(c, "[data-testid=delete-app]").await;
    click(c, "[data-testid=confirm-ok]").await;
    wait_until(
        c,
        "the app to leave the list",
        Duration::from_secs(30),
        &format!("return document.querySelector('[data-testid=app-item-{app}]') ? null : true"),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !labelled_containers(app).is_empty() {
        assert!(
            Instant::now() < deadline,
            "containers of {app} are still there after Delete: {:?}",
            labelled_containers(app)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The student's story in the Scaling view: the app's autoscaler (1..3 replicas, 5 req/s per replica, from the
/// wizard), the load generator started at 40 req/s for 20 s, the topology growing, the autoscaler's decisions and why,
/// and the charts.
async fn autoscale_under_load(c: &Client, app: &str) {
    click(c, "[data-testid=app-scaling-link]").await;
    wait_visible(c, "view-scaling").await;
    assert_eq!(text(c, "[data-testid=scaling-app]").await, app);
    wait_until(
        c,
        "the Autoscaler card",
        Duration::from_secs(20),
        "const a = document.querySelector('[data-testid=autoscaler]'); \
         return (a && !a.hidden && a.querySelector('[data-testid=autoscaler-policy]').textContent.includes('5 req/s per replica')) || null",
    )
    .await;
    // The policy as the engine applies it (typed fields, no YAML read in the window).
    let window = text(c, "[data-testid=autoscaler-policy] [data-field=scale-down-stabilization] .chip-value").await;
    assert_eq!(window, "10s", "the scale-down window shown is not the spec's");
    let policy = text(c, "[data-testid=autoscaler-policy]").await;
    assert!(!policy.contains("null") && !policy.contains("undefined"), "the policy shows a missing field: {policy:?}");
    let charts = wait_until(
        c,
        "the 4 charts (replicas, req/s, latency, CPU)",
        Duration::from_secs(20),
        "const n = document.querySelectorAll('[data-testid=charts] .chart svg').length; return n === 4 ? n : null",
    )
    .await;
    eprintln!("charts drawn: {charts}");

    // Load from the window.
    let start_disabled =
        c.execute("return document.querySelector('[data-testid=load-start]').disabled", vec![]).await.expect("script");
    assert_eq!(start_disabled, json!(false), "Start load is disabled for an app with a URL");
    fill(c, "load-rate", "40").await;
    fill(c, "load-duration", "20").await;
    let stats = "const s = window.__craneStats; return [s.refreshes, s.changes, Date.now()]";
    let before = c.execute(stats, vec![]).await.expect("script");
    click(c, "[data-testid=load-start]").await;
    wait_until(
        c,
        "the load generator to run",
        Duration::from_secs(15),
        "const l = document.querySelector('[data-testid=load]'); \
         return l.dataset.state === 'running' ? true : (document.querySelector('[data-testid=load-error]').textContent || null)",
    )
    .await;
    let error = text(c, "[data-testid=load-error]").await;
    assert!(error.is_empty(), "starting the load failed: {error}");
    wait_until(
        c,
        "live load numbers",
        Duration::from_secs(15),
        "const v = document.querySelector('[data-testid=load-rate-achieved] .stat-value'); \
         return (v && parseFloat(v.textContent) > 0) ? v.textContent : null",
    )
    .await;

    let seen = wait_until(
        c,
        "the autoscaler to add a replica (≥ 2 instances and an autoscale.scaled decision in the Autoscaler card)",
        SCALE_UP_TIMEOUT,
        "const rows = document.querySelectorAll('[data-testid=topology] .topo-inst:not(.leaving)').length; \
         const scaled = document.querySelectorAll('[data-testid=autoscaler-events] [data-kind=\"autoscale.scaled\"]').length; \
         const svg = document.querySelector('[data-testid=charts]').innerHTML.includes('<svg'); \
         return (rows >= 2 && scaled >= 1 && svg) ? { rows, scaled } : null",
    )
    .await;
    eprintln!("scaled up: {seen}");
    let decision = text(c, "[data-testid=autoscaler-decision]").await;
    assert!(decision.contains("rps"), "the latest decision does not say why: {decision:?}");
    // For the screenshot: the new instances ready, and some seconds of load in the charts (the run lasts 20 s).
    let _ = wait_until_soft(
        c,
        Duration::from_secs(20),
        "const s = [...document.querySelectorAll('[data-testid=topology] .topo-inst:not(.leaving)')].map(r => r.dataset.state); \
         const t = document.querySelector('[data-testid=load-time]').textContent; \
         return (s.length >= 2 && s.every(x => x === 'ready') && parseFloat(t) >= 12) || null",
    )
    .await;
    let drawn = c
        .execute("return document.querySelector('[data-testid=charts]').dataset.renderedAt", vec![])
        .await
        .expect("script");
    let _ = wait_until_soft(
        c,
        Duration::from_secs(6),
        &format!("return document.querySelector('[data-testid=charts]').dataset.renderedAt !== {drawn} || null"),
    )
    .await;
    scroll_to(c, "[data-testid=view-scaling]").await;
    screenshot(c, "screenshot-autoscaling.png").await;

    // Stop the load (unless its 20 s are already over) and read the report.
    let running = c
        .execute("return document.querySelector('[data-testid=load]').dataset.state === 'running'", vec![])
        .await
        .expect("script");
    if running == json!(true) {
        click(c, "[data-testid=load-stop]").await;
    }
    wait_until(
        c,
        "the load report",
        Duration::from_secs(30),
        "return document.querySelector('[data-testid=load]').dataset.state === 'done' || null",
    )
    .await;
    // The window's own work under load: change events received and coalesced refreshes run (at most 4 a second).
    let after = c.execute(stats, vec![]).await.expect("script");
    let delta = |i: usize| after[i].as_f64().unwrap_or(0.0) - before[i].as_f64().unwrap_or(0.0);
    let secs = delta(2) / 1000.0;
    eprintln!(
        "over the load run, {secs:.1} s: {:.1} change events/s, {:.2} refreshes/s",
        delta(1) / secs,
        delta(0) / secs
    );
    assert!(delta(0) / secs <= 4.5, "more than 4 refreshes a second: {before} → {after}");
    let report = text(c, "[data-testid=load-progress]").await;
    assert!(report.contains("p99"), "the load report does not show the percentiles: {report:?}");
    experiments_panel(c).await;
    click(c, "[data-testid=scaling-app-link]").await;
    wait_visible(c, "view-app").await;
}

/// The Experiments panel under the charts: a short run with the load generator's profile, another without load,
/// both ticked and compared (what differs, the four charts drawn by the engine with both runs named), the CSV
/// exported to a folder; keyboard-reachable controls, none cut off at 1024×700.
async fn experiments_panel(c: &Client) {
    scroll_to(c, "[data-testid=experiments]").await;
    // A run under the load generator's settings (2 s of 20 req/s), observed 1 s after the load.
    fill(c, "load-rate", "20").await;
    fill(c, "load-duration", "2").await;
    fill(c, "exp-name", "gui-a").await;
    fill(c, "exp-after", "1").await;
    click(c, "[data-testid=exp-record]").await;
    let run_done = |name: &str| {
        format!(
            "const r = document.querySelector('[data-testid=exp-run][data-name={name}]'); \
             const e = document.querySelector('[data-testid=exp-error]').textContent; \
             return e ? 'error: ' + e : (r && r.dataset.state === 'done' ? r.textContent : null)"
        )
    };
    let a = wait_until(c, "run gui-a to be recorded", Duration::from_secs(40), &run_done("gui-a")).await;
    assert!(!a.as_str().unwrap_or("").starts_with("error"), "recording gui-a failed: {a}");
    // Without load, for 2 s.
    click(c, "[data-testid=exp-with-load]").await;
    fill(c, "exp-duration", "2").await;
    fill(c, "exp-name", "gui-b").await;
    click(c, "[data-testid=exp-record]").await;
    let b = wait_until(c, "run gui-b to be recorded", Duration::from_secs(40), &run_done("gui-b")).await;
    assert!(!b.as_str().unwrap_or("").starts_with("error"), "recording gui-b failed: {b}");
    click(c, "[data-testid=exp-with-load]").await;

    // Both ticked, compared: the legend names each run and what differs.
    click(c, "[data-testid=exp-pick-gui-a]").await;
    click(c, "[data-testid=exp-pick-gui-b]").await;
    click(c, "[data-testid=exp-compare]").await;
    let drawn = wait_until(
        c,
        "the overlay: four charts naming both runs",
        Duration::from_secs(20),
        "const svgs = document.querySelectorAll('[data-testid=exp-charts] .chart svg'); \
         const t = document.querySelector('[data-testid=exp-charts]').textContent; \
         return (svgs.length === 4 && t.includes('gui-a: ') && t.includes('gui-b: ')) ? svgs.length : null",
    )
    .await;
    eprintln!("overlay charts drawn: {drawn}");
    let diff = text(c, "[data-testid=exp-diff]").await;
    assert!(diff.contains("gui-a: 20 req/s") && diff.contains("gui-b: ") && diff.contains("no load"), "{diff:?}");
    scroll_to(c, "[data-testid=exp-overlay]").await;
    screenshot(c, "screenshot-experiments.png").await;

    // The CSV export, into a folder of ours.
    let folder = std::env::temp_dir().join(format!("crane-gui-exports-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("export folder");
    fill(c, "exp-path", folder.to_str().expect("utf-8 temp dir")).await;
    click(c, "[data-testid=exp-export-csv]").await;
    let wrote = wait_until(
        c,
        "the CSV export",
        Duration::from_secs(15),
        "const t = document.querySelector('[data-testid=exp-exported]').textContent; \
         return t.startsWith('Wrote') || t.includes('cannot') || t.includes('path:') ? t : null",
    )
    .await;
    let file = folder.join("crane-gui-a-vs-gui-b.csv");
    let csv = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{wrote}: no {}: {e}", file.display()));
    assert!(csv.starts_with("run,app,t_s,at_ms,"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("gui-a,")) && csv.lines().any(|l| l.starts_with("gui-b,")), "{csv}");
    let _ = std::fs::remove_dir_all(&folder);

    // Keyboard: the compare button is reachable with Tab from a run's tick box; nothing is cut off at 1024×700.
    c.execute("document.querySelector('[data-testid=exp-pick-gui-b]').focus(); return true", vec![])
        .await
        .expect("script");
    press_tab_until(c, "return document.activeElement && document.activeElement.dataset.testid === 'exp-compare'")
        .await;
    set_size(c, 1024, 700).await;
    scroll_to(c, "[data-testid=experiments]").await;
    assert_no_overflow(c).await;
    set_size(c, 1280, 800).await;

    // Deleted through the panel, with the in-page confirmation.
    for name in ["gui-a", "gui-b"] {
        click(c, &format!("[data-testid=exp-delete-{name}]")).await;
        click(c, "[data-testid=confirm-ok]").await;
        wait_until(
            c,
            &format!("run {name} to go"),
            Duration::from_secs(10),
            &format!("return document.querySelector('[data-testid=exp-run][data-name={name}]') ? null : true"),
        )
        .await;
    }
}

// ---------------------------------------------------------------- WebDriver helpers

/// Scrolls the detail pane so the element `css` names is at its top.
/// The Settings dialog (needs no Docker): `allowUnsafe` with its warning and the header's *Unsafe mode*, the
/// allow-list refused with the engine's reason and then saved, and *Rotate token*, which names the file of the new
/// token (and *Show token* then shows the new one).
async fn settings_and_token(c: &Client, data_dir: &Path) {
    let visible = |id: &str| {
        format!("const e = document.getElementById('{id}'); return (e && !e.hidden && e.offsetParent !== null) || null")
    };
    let hidden = |id: &str| {
        format!(
            "const e = document.getElementById('{id}'); return (e && (e.hidden || e.offsetParent === null)) || null"
        )
    };
    wait_until(c, "no unsafe warning in the header", Duration::from_secs(5), &hidden("unsafe-pill")).await;
    nav(c, "settings").await;
    click(c, "[data-testid=open-settings]").await;
    wait_until(
        c,
        "the settings dialog",
        Duration::from_secs(5),
        "return document.getElementById('settings-dialog').open || null",
    )
    .await;
    wait_until(c, "no warning while the floor is on", Duration::from_secs(5), &hidden("s-unsafe-warning")).await;
    click(c, "[data-testid=s-unsafe]").await;
    wait_until(c, "the warning of what allowUnsafe allows", Duration::from_secs(5), &visible("s-unsafe-warning")).await;
    let warning = text(c, "[data-testid=s-unsafe-warning]").await;
    assert!(warning.contains("privileged") && warning.contains("root"), "{warning}");
    fill(c, "s-paths", "/etc").await;
    click(c, "[data-testid=s-save]").await;
    let error = wait_until(
        c,
        "the engine's refusal of /etc",
        Duration::from_secs(10),
        "const t = document.getElementById('s-error').textContent; return t.length ? t : null",
    )
    .await;
    assert!(error.as_str().unwrap_or_default().contains("`/etc` is a protected host path"), "{error}");
    fill(c, "s-paths", "/srv/data").await;
    screenshot(c, "screenshot-settings.png").await;
    click(c, "[data-testid=s-save]").await;
    wait_until(
        c,
        "the dialog to close",
        Duration::from_secs(10),
        "return !document.getElementById('settings-dialog').open || null",
    )
    .await;
    wait_until(c, "the header's Unsafe mode", Duration::from_secs(10), &visible("unsafe-pill")).await;

    // Reopened, the dialog shows what the engine stored; then the token is rotated.
    click(c, "[data-testid=unsafe-pill]").await;
    wait_until(
        c,
        "the settings dialog",
        Duration::from_secs(5),
        "return document.getElementById('settings-dialog').open || null",
    )
    .await;
    let stored = c
        .execute(
            "return [document.getElementById('s-unsafe').checked, document.getElementById('s-paths').value]",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(stored, json!([true, "/srv/data"]));
    let token_file = data_dir.join("token");
    let before = std::fs::read_to_string(&token_file).expect("the token file").trim().to_string();
    click(c, "[data-testid=rotate-token]").await;
    click(c, "[data-testid=confirm-ok]").await;
    wait_until(c, "the rotation's answer", Duration::from_secs(10), &visible("rotate-result")).await;
    let result = text(c, "[data-testid=rotate-result]").await;
    let after = std::fs::read_to_string(&token_file).expect("the token file").trim().to_string();
    assert_ne!(after, before, "the token file holds a new token");
    assert!(result.contains(&token_file.display().to_string()), "the window names where the new token is: {result}");
    assert!(!result.contains(&after), "the window does not print the token: {result}");
    click(c, "[data-testid=s-cancel]").await;
    click(c, "[data-testid=show-token]").await;
    let shown = wait_until(c, "the API token", Duration::from_secs(5), "const t = document.querySelector('[data-testid=api-token]'); return (t.offsetParent !== null && t.textContent.length > 8) ? t.textContent : null").await;
    assert_eq!(shown.as_str(), Some(after.as_str()), "Show token shows the new token");
    click(c, "[data-testid=show-token]").await;
}

async fn scroll_to(c: &Client, css: &str) {
    let script = format!(
        "const e = document.querySelector({}); const d = document.getElementById('views'); \
         d.scrollTop += e.getBoundingClientRect().top - d.getBoundingClientRect().top - 12; return true",
        json!(css)
    );
    c.execute(&script, vec![]).await.unwrap_or_else(|e| panic!("scrolling to {css}: {e}"));
}

/// For a projector: Ctrl + and Ctrl − zoom the window, Ctrl 0 resets; presenter mode sets text to at least 16 px and
/// folds the side columns away.
async fn presenter_keys(c: &Client) {
    let zoom = "return document.documentElement.dataset.zoom";
    c.execute("document.activeElement && document.activeElement.blur(); return true", vec![]).await.expect("script");
    let ctrl = char::from(Key::Control);
    let chord = |k: char| {
        KeyActions::new("keyboard".to_string())
            .then(KeyAction::Down { value: ctrl })
            .then(KeyAction::Down { value: k })
            .then(KeyAction::Up { value: k })
            .then(KeyAction::Up { value: ctrl })
    };
    c.perform_actions(chord('+')).await.expect("Ctrl +");
    c.perform_actions(chord('+')).await.expect("Ctrl +");
    assert_eq!(c.execute(zoom, vec![]).await.expect("script"), json!("1.25"), "Ctrl + twice");
    c.perform_actions(chord('-')).await.expect("Ctrl -");
    assert_eq!(c.execute(zoom, vec![]).await.expect("script"), json!("1.1"), "then Ctrl -");
    c.perform_actions(chord('0')).await.expect("Ctrl 0");
    assert_eq!(c.execute(zoom, vec![]).await.expect("script"), json!("1"), "Ctrl 0 resets");

    nav(c, "settings").await;
    click(c, "[data-testid=presenter-toggle]").await;
    let shown = c
        .execute(
            "const px = (sel) => parseFloat(getComputedStyle(document.querySelector(sel)).fontSize); \
             return { hint: px('#view-settings .hint'), button: px('[data-testid=open-settings]'), nav: px('[data-testid=nav-home]'), \
                      sidebar: document.querySelector('.sidebar').offsetParent !== null };",
            vec![],
        )
        .await
        .expect("script");
    for part in ["hint", "button", "nav"] {
        assert!(shown[part].as_f64().unwrap_or(0.0) >= 16.0, "presenter mode: {part} text under 16 px: {shown}");
    }
    assert_eq!(shown["sidebar"], json!(false), "presenter mode keeps the apps column: {shown}");
    click(c, "[data-testid=presenter-toggle]").await;
    nav(c, "home").await;
}

/// Opens a view from the navigation bar and waits until it shows.
async fn nav(c: &Client, view: &str) {
    click(c, &format!("[data-testid=nav-{view}]")).await;
    wait_visible(c, &format!("view-{view}")).await;
}

/// Waits until the view section `id` is shown.
async fn wait_visible(c: &Client, id: &str) {
    wait_until(
        c,
        &format!("#{id} to show"),
        Duration::from_secs(15),
        &format!(
            "const e = document.getElementById('{id}'); return (e && !e.hidden && e.offsetParent !== null) || null"
        ),
    )
    .await;
}

/// Clicks a *Build demo image* button and waits for the build to finish (it must succeed).
async fn build_demo(c: &Client, button: &str) {
    click(c, button).await;
    let state = wait_until(
        c,
        "the demo image build to finish",
        BUILD_TIMEOUT,
        "const s = document.querySelector('[data-testid=build-progress]').dataset.state; return (s === 'done' || s === 'failed') ? s : null",
    )
    .await;
    let step = text(c, "[data-testid=build-step]").await;
    assert_eq!(state, json!("done"), "building the demo image failed: {step}");
    click(c, "[data-testid=build-close]").await;
}

/// Opens a WebSocket to `/ws` at `address` (`host:port`) and returns the connection once the upgrade is answered
/// (`101`); it stays open until dropped.
fn open_websocket(address: &str) -> TcpStream {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(address).unwrap_or_else(|e| panic!("connect to {address}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("write the upgrade request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
        stream.read_exact(&mut byte).expect("read the upgrade answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "the WebSocket upgrade was not accepted: {head}");
    stream
}

/// Resizes the window (its viewport is what screenshots show).
async fn set_size(c: &Client, width: u32, height: u32) {
    c.set_window_size(width, height).await.unwrap_or_else(|e| panic!("resizing the window to {width}×{height}: {e}"));
    wait_until(
        c,
        "the new window size",
        Duration::from_secs(10),
        &format!("return Math.abs(window.innerWidth - {width}) < 40 || null"),
    )
    .await;
}

/// Switches the theme as the Settings toggle does (the choice the toggle cycles through).
async fn set_theme(c: &Client, theme: &str) {
    c.execute("document.documentElement.dataset.theme = arguments[0]; return true", vec![json!(theme)])
        .await
        .expect("script");
}

/// Fails when a control of the shown view is cut off by the window's right edge (the 1024×700 layout check).
async fn assert_no_overflow(c: &Client) {
    let clipped = c
        .execute(
            "const w = document.documentElement.clientWidth; \
             return [...document.querySelectorAll('button, a.btn, input, select, .nav a')] \
               .filter(e => e.offsetParent !== null && !e.closest('dialog') && !e.closest('.table-wrap')) \
               .filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > w + 1; }) \
               .map(e => e.dataset.testid || e.id || e.textContent.trim().slice(0, 30));",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(clipped, json!([]), "controls cut off at the window's edge");
}

/// Types `keys` with the keyboard (WebDriver key actions: they go where the focus is, as a person's typing does).
async fn type_keys(c: &Client, keys: &[char]) {
    let mut actions = KeyActions::new("keyboard".to_string());
    for &k in keys {
        actions = actions.then(KeyAction::Down { value: k }).then(KeyAction::Up { value: k });
    }
    c.perform_actions(actions).await.unwrap_or_else(|e| panic!("typing {keys:?}: {e}"));
}

/// Presses one key where the focus is.
async fn press(c: &Client, key: Key) {
    type_keys(c, &[char::from(key)]).await;
}

/// Presses Tab until `script` returns true (at most 80 times).
async fn press_tab_until(c: &Client, script: &str) {
    for _ in 0..80 {
        if c.execute(script, vec![]).await.expect("script") == json!(true) {
            return;
        }
        press(c, Key::Tab).await;
    }
    let focused =
        c.execute("const e = document.activeElement; return e ? e.outerHTML.slice(0, 200) : null", vec![]).await;
    panic!("Tab never reached the element ({script}); focus is on {focused:?}");
}

/// Runs `scenario` in the window started by tauri-driver on `data_dir` (with `env`), then stops the app as a
/// session manager would (SIGTERM: Crane must shut down cleanly, stopping the REST server and removing the api.json
/// it wrote; ending the WebDriver session instead would force-kill it) and ends the session — also when the scenario
/// panics, whose panic is raised again after. Returns whether Crane shut down cleanly.
async fn in_window<Fut: std::future::Future<Output = ()>>(
    data_dir: &Path,
    env: &[(&str, &str)],
    scenario: impl FnOnce(Client) -> Fut,
) -> bool {
    preflight();
    // One window at a time: several WebKit windows, their engines and Docker on a 2-core machine starve each other
    // (a policy test's 250 ms evaluation limit was missed that way). The lock is held until this window is closed.
    static ONE_WINDOW: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = ONE_WINDOW.lock().await;
    let driver = Driver::start(data_dir, env);
    let client = connect(&driver).await;
    let outcome = AssertUnwindSafe(async {
        // The window is up once app.js finished its first fetch.
        wait_until(
            &client,
            "the window to load",
            Duration::from_secs(30),
            "return document.body.dataset.ready === 'true' || null",
        )
        .await;
        scenario(client.clone()).await;
    })
    .catch_unwind()
    .await;
    let clean_exit = stop_app(data_dir);
    if let Err(e) = client.close().await {
        eprintln!("closing the WebDriver session: {e}");
    }
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    clean_exit
}

async fn connect(driver: &Driver) -> Client {
    let caps = json!({ "tauri:options": { "application": env!("CARGO_BIN_EXE_crane") } });
    let caps = caps.as_object().expect("object").clone();
    // tauri-driver listens before its WebKitWebDriver does: on a busy machine the first session request can find
    // nobody behind it and fail as a transport error. Such errors are retried for a while; others are not.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let result = ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await;
        match result {
            Ok(client) => return client,
            Err(e) if Instant::now() < deadline && e.to_string().contains("did not respond") => {
                eprintln!("tauri-driver is not ready yet ({e}); trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => panic!("tauri-driver did not open the Crane window: {e}; run the test under xvfb-run -a"),
        }
    }
}

/// Polls `script` (which returns null while not ready) until it returns a value, failing after `timeout`.
async fn wait_until(c: &Client, what: &str, timeout: Duration, script: &str) -> Value {
    match wait_until_soft(c, timeout, script).await {
        Some(v) => v,
        None => {
            let page = c
                .execute("return document.querySelector('main').innerText.slice(0, 3000)", vec![])
                .await
                .unwrap_or(Value::Null);
            let _ = screenshot_to(c, &std::env::temp_dir().join("crane-gui-failure.png")).await;
            panic!(
                "timed out after {timeout:?} waiting for {what}; screenshot in {}; the window shows:\n{}",
                std::env::temp_dir().join("crane-gui-failure.png").display(),
                page.as_str().unwrap_or_default()
            )
        }
    }
}

async fn wait_until_soft(c: &Client, timeout: Duration, script: &str) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        match c.execute(script, vec![]).await {
            Ok(Value::Null) => {}
            Ok(v) => return Some(v),
            Err(e) => eprintln!("script failed (retrying): {e}"),
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Clicks the element `css` names, finding it again when a redraw replaced it between finding and clicking.
async fn click(c: &Client, css: &str) {
    let mut attempts = 0;
    loop {
        let el = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        match el.click().await {
            Ok(()) => return,
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::StaleElementReference && attempts < 10 =>
            {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("clicking {css} failed: {e}"),
        }
    }
}

/// Types into a form field like a user (clearing it first).
async fn fill(c: &Client, id: &str, value: &str) {
    let el = c.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("no field #{id}: {e}"));
    el.clear().await.unwrap_or_else(|e| panic!("clearing #{id} failed: {e}"));
    if !value.is_empty() {
        el.send_keys(value).await.unwrap_or_else(|e| panic!("typing into #{id} failed: {e}"));
    }
}

/// Puts multi-line text into a textarea (WebDriver's typing does not keep newlines there), as a paste would.
async fn set_text(c: &Client, id: &str, value: &str) {
    let script = "const e = document.getElementById(arguments[0]); e.value = arguments[1]; \
                  e.dispatchEvent(new Event('input', { bubbles: true })); return true";
    c.execute(script, vec![json!(id), json!(value)]).await.unwrap_or_else(|e| panic!("setting #{id} failed: {e}"));
}

async fn text(c: &Client, css: &str) -> String {
    let script = format!("const e = document.querySelector({}); return e ? e.textContent.trim() : null", json!(css));
    match c.execute(&script, vec![]).await.expect("script") {
        Value::String(s) => s,
        _ => panic!("no element {css}"),
    }
}

/// Screenshot into `docs/` when `CRANE_SCREENSHOTS=1` (`make screenshots`), else into a temporary folder, so a plain
/// `make test` leaves the work tree clean (the picture is still taken: taking it is part of what is tested).
async fn screenshot(c: &Client, name: &str) {
    let dir = if std::env::var_os("CRANE_SCREENSHOTS").is_some_and(|v| v == "1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs")
    } else {
        std::env::temp_dir().join("crane-gui-screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let path = dir.join(name);
    screenshot_to(c, &path).await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
}

async fn screenshot_to(c: &Client, path: &Path) -> Result<(), String> {
    c.execute_async(
        "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
        vec![],
    )
    .await
    .map_err(|e| e.to_string())?;
    let png = c.screenshot().await.map_err(|e| e.to_string())?;
    std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
}

/// The status line of a plain `GET /` to `url` (`http://host:port`).
fn http_get_status(url: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    write!(stream, "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("send request");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string()
}

/// The status line of a `GET path` to `url` with a bearer token.
fn http_get_status_as(url: &str, path: &str, token: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
        .expect("send request");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string()
}

// ---------------------------------------------------------------- processes

/// Fails loudly, naming the fix, when something the test needs is missing.
fn preflight() {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        panic!(
            "no display: run the GUI test under Xvfb: xvfb-run -a -s \"-screen 0 1280x800x24\" cargo test -p crane-app --test gui \
             (apt-get install xvfb xauth)"
        );
    }
    if find_on_path("tauri-driver").is_none() {
        panic!("tauri-driver is not installed: cargo install tauri-driver --locked (and make sure ~/.cargo/bin is on PATH)");
    }
    if find_on_path("WebKitWebDriver").is_none() {
        panic!("WebKitWebDriver is not installed: apt-get install webkit2gtk-driver");
    }
    match Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "the Docker engine is not reachable ({}): start it (e.g. `sudo systemctl start docker` or `dockerd &`) or set DOCKER_HOST",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("the docker CLI is missing ({e}): install Docker (docker.io) and start the engine"),
    }
}

fn find_on_path(bin: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(bin)).find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// tauri-driver (which starts WebKitWebDriver, which starts the app with this environment).
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(data_dir: &Path, env: &[(&str, &str)]) -> Driver {
        let port = free_port();
        let native_port = free_port();
        let child = Command::new("tauri-driver")
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            // Inherited by WebKitWebDriver and then by the app: the engine uses a throwaway data directory and
            // the REST API a free loopback port.
            .env("CRANE_DATA_DIR", data_dir)
            .env("CRANE_API_LISTEN", "127.0.0.1:0")
            // The app logs to stderr, which shows up in the test output: warnings only, unless asked for more.
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("could not start tauri-driver: {e}; install it with cargo install tauri-driver --locked")
            });
        let driver = Driver { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tauri-driver did not listen on port {port} within 20 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }
}

impl Drop for Driver {
    /// SIGTERM (not SIGKILL): only then does tauri-driver stop its WebKitWebDriver, freeing the native port.
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: sending a signal to our own child process, whose pid we hold and have not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("tauri-driver ignored SIGTERM for 10 s; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGTERM to the app (its pid is in `<data_dir>/api.json`) and waits for `api.json` to disappear.
fn stop_app(data_dir: &Path) -> bool {
    let api_file = data_dir.join("api.json");
    let Some(pid) = std::fs::read_to_string(&api_file)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| v["pid"].as_i64())
    else {
        eprintln!("no pid in {}", api_file.display());
        return false;
    };
    // SAFETY: signalling the app process this test started (through tauri-driver), identified by its own api.json.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(15);
    while api_file.exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// Ids of the containers Crane made for `app`.
fn labelled_containers(app: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=io.crane.app={app}")])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
}

/// Removes whatever the test's app left behind (containers, networks) when the test failed midway.
struct ContainerCleanup {
    app: String,
}

impl Drop for ContainerCleanup {
    fn drop(&mut self) {
        let ids = labelled_containers(&self.app);
        if !ids.is_empty() {
            eprintln!("removing {} leftover container(s) of {}", ids.len(), self.app);
            let _ = Command::new("docker").args(["rm", "-f"]).args(&ids).output();
        }
        let label = format!("label=io.crane.app={}", self.app);
        if let Ok(out) = Command::new("docker").args(["network", "ls", "-q", "--filter", &label]).output() {
            let nets: Vec<String> =
                String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect();
            if !nets.is_empty() {
                let _ = Command::new("docker").args(["network", "rm"]).args(&nets).output();
            }
        }
    }
}
