//! `cranectl` as a user runs it: the binary, a real `cranectl serve` child process, temporary data directories.
//! The Docker part needs a reachable Docker engine and fails, saying so, without one (never skips); it creates one
//! app with a unique name and always deletes it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn cranectl(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cranectl"));
    command.env_remove("CRANE_DATA_DIR").arg("--data-dir").arg(data_dir);
    command
}

fn run(data_dir: &Path, args: &[&str]) -> Output {
    cranectl(data_dir).args(args).stdin(Stdio::null()).output().expect("cranectl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
fn ok(data_dir: &Path, args: &[&str]) -> String {
    let out = run(data_dir, args);
    assert!(
        out.status.success(),
        "cranectl {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn help_works_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["--help"]);
    assert!(out.contains("Examples:"), "{out}");
    for command in [
        "apply",
        "create",
        "check",
        "images",
        "get",
        "describe",
        "scale",
        "delete",
        "logs",
        "load",
        "chart",
        "demo-image",
        "status",
        "serve",
        "completion",
        "audit",
    ] {
        let out = ok(dir.path(), &[command, "--help"]);
        assert!(out.contains("Example"), "`{command} --help` has no example:\n{out}");
    }
    for command in [
        &["rollout"][..],
        &["rollout", "history"],
        &["rollout", "undo"],
        &["rollout", "status"],
        &["export"],
        &["export", "nginx"],
        &["nginx"],
        &["nginx", "manage"],
        &["nginx", "unmanage"],
        &["token"],
        &["token", "rotate"],
        &["token", "create"],
        &["token", "ls"],
        &["token", "revoke"],
        &["user"],
        &["user", "add"],
        &["user", "ls"],
        &["user", "rm"],
        &["settings"],
        &["settings", "set"],
        &["policy"],
        &["policy", "list"],
        &["policy", "get"],
        &["policy", "set"],
        &["policy", "validate"],
        &["policy", "reset"],
        &["policy", "eval"],
        &["policy", "test"],
        &["alerts"],
        &["alerts", "rules"],
        &["alerts", "apply"],
        &["alerts", "reset"],
        &["alerts", "export"],
        &["alerts", "active"],
        &["alerts", "history"],
        &["alerts", "webhook"],
        &["lab"],
        &["lab", "list"],
        &["lab", "load"],
        &["lab", "status"],
        &["lab", "reset"],
        &["experiment"],
        &["experiment", "record"],
        &["experiment", "stop"],
        &["experiment", "list"],
        &["experiment", "show"],
        &["experiment", "overlay"],
        &["experiment", "export"],
        &["experiment", "delete"],
    ] {
        let out = ok(dir.path(), &[command, &["--help"]].concat());
        assert!(out.contains("Example"), "`{} --help` has no example:\n{out}", command.join(" "));
    }
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["scale", "web", "many"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid value 'many'"));
}

#[test]
fn completion_script() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["completion", "bash"]);
    assert!(out.contains("cranectl"), "{out}");
    for shell in ["zsh", "fish", "powershell"] {
        assert!(ok(dir.path(), &["completion", shell]).contains("cranectl"), "{shell}");
    }
}

#[test]
fn no_engine_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["get", "apps"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("no Crane engine is running for data dir"), "{err}");
    assert!(err.contains("(no api.json)") && err.contains("cranectl serve"), "{err}");
}

#[test]
fn stale_api_file_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    std::fs::write(dir.path().join("api.json"), format!("{{\"url\": \"http://127.0.0.1:{port}\", \"pid\": 1}}"))
        .unwrap();
    std::fs::write(dir.path().join("token"), "0".repeat(64)).unwrap();
    let out = run(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("no Crane engine is running for data dir") && err.contains("stale"), "{err}");
}

/// A program that took the port a crashed engine left in api.json: it answers every request (with `answer`) and
/// records what it received.
fn squatter(answer: &'static str) -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&request).into_owned());
            let response = format!(
                "{answer}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                r#"{"proof": "00"}"#.len(),
                r#"{"proof": "00"}"#
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, rx)
}

/// After a crash api.json names a port another program may take: cranectl asks it to prove it holds the token,
/// and refuses before sending the token.
#[test]
fn stale_api_file_never_sends_the_token_to_a_stranger() {
    for answer in ["HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found", "HTTP/1.1 401 Unauthorized"] {
        let dir = tempfile::tempdir().unwrap();
        let (port, received) = squatter(answer);
        std::fs::write(dir.path().join("api.json"), format!("{{\"url\": \"http://127.0.0.1:{port}\", \"pid\": 1}}"))
            .unwrap();
        let token = "7".repeat(64);
        std::fs::write(dir.path().join("token"), &token).unwrap();
        for args in [&["status"][..], &["get", "apps"], &["token", "rotate"]] {
            let out = run(dir.path(), args);
            assert_eq!(out.status.code(), Some(1), "{answer} {args:?}");
            let err = text(&out.stderr);
            assert!(err.contains("is not the Crane engine of data dir") && err.contains("token was not sent"), "{err}");
        }
        let requests: Vec<String> = received.try_iter().collect();
        assert!(!requests.is_empty(), "cranectl asked the squatter to prove itself");
        for request in &requests {
            assert!(!request.to_ascii_lowercase().contains("authorization"), "the token was sent:\n{request}");
            assert!(!request.contains(&token), "the token was sent:\n{request}");
            assert!(request.starts_with("GET /api/v1/hello?nonce="), "{request}");
        }
    }
}

/// The status line of a GET with a bearer token, over a plain socket (no client library in these tests).
fn raw_get(url: &str, path: &str, token: &str) -> String {
    use std::io::Read;
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.lines().next().unwrap_or_default().to_string()
}

/// A `cranectl serve` child, stopped with SIGTERM when dropped (also when a test fails).
struct Server {
    child: Child,
    data_dir: PathBuf,
    banner: String,
}

impl Server {
    fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    /// The same with extra environment variables for the engine.
    fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        std::fs::create_dir_all(data_dir).unwrap();
        // The engine's log goes to a file, shown when the test fails.
        let log = std::fs::File::create(data_dir.with_extension("serve.log")).expect("log file");
        let mut child = cranectl(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("cranectl serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut server = Server { child, data_dir: data_dir.to_path_buf(), banner: String::new() };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !data_dir.join("api.json").exists() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("cranectl serve exited early: {status}");
            }
            assert!(Instant::now() < deadline, "no api.json after 120 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        BufReader::new(stdout).read_line(&mut server.banner).expect("banner");
        server
    }

    /// Sends SIGTERM and waits for the exit.
    fn stop(&mut self) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.data_dir.with_extension("serve.log")).unwrap_or_default();
            eprintln!("--- cranectl serve log ---\n{log}--- end of log ---");
        }
    }
}

/// Deletes the app when dropped, whatever the test did.
struct AppCleanup<'a> {
    data_dir: &'a Path,
    name: String,
}

impl Drop for AppCleanup<'_> {
    fn drop(&mut self) {
        let _ = run(self.data_dir, &["delete", &self.name]);
    }
}

/// Settings through the CLI: shown, changed one key at a time (each an event), a bad value or path refused with
/// what it takes, an unknown key a usage error naming the known ones; `status` warns while the floor is off.
#[test]
fn settings_show_and_set() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = Server::start(&data);
    let shown = ok(&data, &["settings"]);
    assert!(
        shown.contains("allowUnsafe") && shown.contains("false") && shown.contains("safety floor is on"),
        "{shown}"
    );
    assert!(shown.contains("hostPathAllow") && shown.contains("(none"), "{shown}");

    let set = ok(&data, &["settings", "set", "hostPathAllow", "/srv/data,/opt/x"]);
    assert!(set.contains("/srv/data, /opt/x (mounted read-only)"), "{set}");
    let set = ok(&data, &["settings", "set", "allowUnsafe", "true"]);
    assert!(set.contains("safety floor is OFF"), "{set}");
    let json: serde_json::Value = serde_json::from_str(&ok(&data, &["settings", "-o", "json"])).unwrap();
    assert_eq!(
        json,
        serde_json::json!({ "allow_unsafe": true, "host_path_allow": ["/srv/data", "/opt/x"], "alertmanager_url": null,
            "opa_url": null, "opa_policies": [] })
    );
    assert!(ok(&data, &["status"]).contains("Unsafe:     allowUnsafe is on"));
    ok(&data, &["settings", "set", "allowUnsafe", "false"]);
    ok(&data, &["settings", "set", "hostPathAllow", ""]);
    let json: serde_json::Value = serde_json::from_str(&ok(&data, &["settings", "-o", "json"])).unwrap();
    assert_eq!(json["allow_unsafe"], false);
    assert_eq!(json["host_path_allow"], serde_json::json!([]));
    assert!(!ok(&data, &["status"]).contains("Unsafe:"));
    // The services: an Alertmanager and an OPA server for admission, then none again.
    let set = ok(&data, &["settings", "set", "alertmanager_url", "http://127.0.0.1:9093/"]);
    assert!(set.contains("http://127.0.0.1:9093") && !set.contains("9093/"), "{set}");
    let out = run(&data, &["settings", "set", "opa_policies", "admission"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no opa_url is set"), "{}", text(&out.stderr));
    ok(&data, &["settings", "set", "opa_url", "http://127.0.0.1:8181"]);
    let set = ok(&data, &["settings", "set", "opa_policies", "admission"]);
    assert!(set.contains("opa_policies") && set.contains("admission"), "{set}");
    let listed = ok(&data, &["policy", "list", "-o", "json"]);
    assert!(listed.contains("\"opa_url\": \"http://127.0.0.1:8181\""), "{listed}");
    ok(&data, &["settings", "set", "opa_policies", ""]);
    ok(&data, &["settings", "set", "opa_url", ""]);
    ok(&data, &["settings", "set", "alertmanagerUrl", ""]);
    let json: serde_json::Value = serde_json::from_str(&ok(&data, &["settings", "-o", "json"])).unwrap();
    assert_eq!(json["alertmanager_url"], serde_json::Value::Null);
    assert_eq!(json["opa_url"], serde_json::Value::Null);

    let out = run(&data, &["settings", "set", "hostPathAllow", "/etc,relative"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("`/etc` is a protected host path") && err.contains("`relative` is not an absolute path"),
        "{err}"
    );
    let out = run(&data, &["settings", "set", "allowUnsafe", "maybe"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("allowUnsafe takes true or false"), "{}", text(&out.stderr));
    let out = run(&data, &["settings", "set", "allowunsafe", "true"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("[possible values: allowUnsafe, hostPathAllow, alertmanager_url, opa_url, opa_policies]"),
        "{err}"
    );

    let events: serde_json::Value =
        serde_json::from_str(&ok(&data, &["get", "events", "-o", "json", "--limit", "100"])).unwrap();
    let changes = events.as_array().unwrap().iter().filter(|e| e["kind"] == "settings.changed").count();
    assert_eq!(changes, 10, "{events:#}");
}

#[test]
fn serve_and_client_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    assert!(server.banner.starts_with("Crane API listening on http://127.0.0.1:"), "{}", server.banner);
    assert!(server.banner.contains("(token in ") && server.banner.contains("token)"), "{}", server.banner);

    let status = ok(&data, &["status"]);
    assert!(status.contains("API:") && status.contains("http://127.0.0.1:"), "{status}");
    let apps: serde_json::Value = serde_json::from_str(&ok(&data, &["get", "apps", "-o", "json"])).unwrap();
    assert_eq!(apps, serde_json::json!([]));
    assert!(ok(&data, &["get", "apps"]).contains("No apps found."));
    assert!(ok(&data, &["get", "events", "-o", "yaml"]).trim().starts_with('['));
    // Crane's own metrics, through the token like every other command.
    let metrics = ok(&data, &["get", "metrics"]);
    assert!(metrics.contains("# TYPE crane_apps gauge") && metrics.contains("\ncrane_apps 0\n"), "{metrics}");

    // Token rotation: the old token stops working at once, and cranectl finds the new one in the file.
    let token_file = data.join("token");
    let old = std::fs::read_to_string(&token_file).unwrap().trim().to_string();
    let url = server.banner.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_string();
    assert!(raw_get(&url, "/api/v1/status", &old).contains(" 200 "));
    let out = ok(&data, &["token", "rotate"]);
    assert!(out.contains(&token_file.display().to_string()) && out.contains("old token no longer works"), "{out}");
    let new = std::fs::read_to_string(&token_file).unwrap().trim().to_string();
    assert_ne!(new, old);
    assert!(raw_get(&url, "/api/v1/status", &old).contains(" 401 "), "the old token is refused");
    assert!(raw_get(&url, "/api/v1/status", &new).contains(" 200 "));
    assert!(ok(&data, &["status"]).contains("API:"));

    // A second engine on the same data dir is refused.
    let second = run(&data, &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(second.status.code(), Some(1));
    assert!(text(&second.stderr).contains("already running"), "{}", text(&second.stderr));

    // An invalid spec: every diagnostic as FILE:LINE:COL.
    let spec = dir.path().join("bad.yaml");
    std::fs::write(&spec, "name: t-cli-bad\nimage: crane-demo:0.1.0\nreplicas: 1\nbogus: 1\n").unwrap();
    let out = run(&data, &["apply", "-f", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:4:", spec.display())), "{err}");
    assert!(err.contains("bogus"), "{err}");
    // The same through stdin.
    let mut child =
        cranectl(&data).args(["apply", "-f", "-"]).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"name: t-cli-bad\nimage: crane-demo:0.1.0\nreplicas: 1\nbogus: 1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("<stdin>:4:"), "{}", text(&out.stderr));

    let out = run(&data, &["get", "app", "t-cli-no-such-app"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("t-cli-no-such-app"));

    policy_commands(dir.path(), &data);
    lab_and_file_commands(dir.path(), &data);

    let status: serde_json::Value = serde_json::from_str(&ok(&data, &["status", "-o", "json"])).unwrap();
    // Tests that need Docker fail without it; they never skip (a green run must mean the Docker part ran).
    assert!(
        status["docker_ok"] == true,
        "serve_and_client_commands needs a running Docker engine (tests that need Docker fail without it, never \
         skip); `cranectl status` reports: {}",
        status["docker"]
    );
    docker_flow(dir.path(), &data);
    lab_docker_flow(&data);

    let exit = server.stop().expect("serve stops on SIGTERM");
    assert!(exit.success(), "serve exited with {exit}");
    assert!(!data.join("api.json").exists(), "api.json is removed on shutdown");
    assert!(!server.data_dir.join("api.json").exists());
}

/// Runs cranectl with a user token (`CRANE_TOKEN`).
fn run_as(data_dir: &Path, token: &str, args: &[&str]) -> Output {
    cranectl(data_dir).env("CRANE_TOKEN", token).args(args).stdin(Stdio::null()).output().expect("cranectl runs")
}

/// The token a `user add` or `token create` printed: alone on the last line.
fn printed_token(stdout: &str) -> String {
    let token = stdout.lines().last().unwrap_or_default().trim().to_string();
    assert!(token.starts_with("crane_"), "no token on the last line:\n{stdout}");
    token
}

/// Users and their tokens from the command line: `user add` and `token create` print a token once, and cranectl
/// acts with it (`CRANE_TOKEN`) with its role; what cranectl changes is audited with door `cli`.
#[test]
fn users_tokens_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = Server::start(&data);

    let out = ok(&data, &["user", "add", "alice", "--role", "operator"]);
    assert!(out.starts_with("user/alice added with role operator\n"), "{out}");
    let alice = printed_token(&out);
    let vic = printed_token(&ok(&data, &["user", "add", "vic", "--role", "viewer"]));
    let users = ok(&data, &["user", "ls"]);
    assert!(users.starts_with("NAME") && users.contains("alice") && users.contains("operator"), "{users}");
    assert!(users.contains("vic ") && users.contains("viewer"), "{users}");

    // A viewer reads, and is refused a change with the rule and the fix.
    let out = run_as(&data, &vic, &["get", "apps"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run_as(&data, &vic, &["scale", "web", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("needs the operator role"), "{}", text(&out.stderr));
    let out = run_as(&data, &vic, &["user", "ls"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("needs the admin role"), "{}", text(&out.stderr));

    // An operator passes the role check (the app does not exist); an operator cannot make tokens.
    let out = run_as(&data, &alice, &["scale", "nope", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no app named 'nope'"), "{}", text(&out.stderr));
    let out = run_as(&data, &alice, &["token", "create", "--role", "operator"]);
    assert!(text(&out.stderr).contains("needs the admin role"), "{}", text(&out.stderr));

    // A token made for alice with a lower role acts with that role; more than hers is refused.
    let out = ok(&data, &["token", "create", "--role", "viewer", "--user", "alice", "--label", "dashboard"]);
    assert!(out.contains("for user alice with role viewer"), "{out}");
    let dashboard = printed_token(&out);
    let out = run_as(&data, &dashboard, &["scale", "nope", "2"]);
    assert!(text(&out.stderr).contains("needs the operator role"), "{}", text(&out.stderr));
    let out = run(&data, &["token", "create", "--role", "admin", "--user", "alice"]);
    assert_eq!(out.status.code(), Some(1));
    let tokens = ok(&data, &["token", "ls"]);
    assert!(tokens.contains("dashboard") && !tokens.contains(&dashboard), "{tokens}");
    let id = dashboard.split('_').nth(1).unwrap().to_string();
    assert!(tokens.contains(&id), "{tokens}");

    // Revoked: cranectl learns it from the hello check and does not send the token.
    assert_eq!(ok(&data, &["token", "revoke", &id]).trim(), format!("token/{id} revoked: it no longer works"));
    let out = run_as(&data, &dashboard, &["get", "apps"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("does not know the token"), "{}", text(&out.stderr));
    // Removing a user ends their tokens; the built-in admin stays.
    ok(&data, &["user", "rm", "alice"]);
    assert_eq!(run_as(&data, &alice, &["get", "apps"]).status.code(), Some(1));
    assert!(text(&run(&data, &["user", "rm", "admin"]).stderr).contains("cannot be removed"));

    // The audit log: every change cranectl asked for, with door `cli`.
    let rows: serde_json::Value = serde_json::from_str(&ok(&data, &["audit", "--user", "vic", "-o", "json"])).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (&rows[0]["door"], &rows[0]["action"], &rows[0]["app"], &rows[0]["error"], &rows[0]["role"]),
        (
            &serde_json::json!("cli"),
            &serde_json::json!("app.scale"),
            &serde_json::json!("web"),
            &serde_json::json!("forbidden"),
            &serde_json::json!("viewer")
        )
    );
    let table = ok(&data, &["audit", "--limit", "100"]);
    assert!(table.starts_with("AGE") && table.contains("DOOR"), "{table}");
    for line in [
        "admin   admin      cli    user.create",
        "alice   operator   cli    app.scale",
        "admin   admin      cli    token.revoke",
    ] {
        assert!(table.contains(line), "no `{line}` in\n{table}");
    }
    assert!(table.lines().skip(1).all(|l| l.contains(" cli ")), "{table}");
}

/// `cranectl policy …` against the running engine: list, test, eval, a refused broken policy with FILE:LINE:COL,
/// an edit that changes the next decision, reset.
/// Labs and files of several apps that create nothing: the list, a malformed lab refused with its files' lines, a
/// file of apps with an invalid document refused with the document and the line, no lab loaded.
fn lab_and_file_commands(work: &Path, data: &Path) {
    let list = ok(data, &["lab", "list"]);
    for id in ["self-healing", "scaling-under-load", "rolling-update-rollback", "policy-blocks-bad-deploy"] {
        assert!(list.contains(id), "{list}");
    }
    let labs: serde_json::Value = serde_json::from_str(&ok(data, &["lab", "list", "-o", "json"])).unwrap();
    assert_eq!(labs[0]["id"], "self-healing");
    assert_eq!(labs[0]["origin"], "shipped");

    let lab = work.join("bad-lab");
    std::fs::create_dir_all(lab.join("steps")).unwrap();
    std::fs::write(
        lab.join("lab.yaml"),
        "id: bad-lab\ntitle: Bad\nsummary: A broken lab.\nlevel: beginner\nresources:\n  apps: [apps/missing.yaml]\n\
         steps:\n  - title: One\n    text: steps/01.md\n    checks:\n      - event: {kind: instance.dead}\n",
    )
    .unwrap();
    std::fs::write(lab.join("steps/01.md"), "# One\n").unwrap();
    let out = run(data, &["lab", "load", lab.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("error: the lab is invalid (2 problems):"), "{err}");
    assert!(err.contains("lab.yaml:6:10: resources.apps[0]: the lab has no file `apps/missing.yaml`"), "{err}");
    assert!(err.contains("lab.yaml:11:23: steps[0].checks[0].event.kind: unknown event kind `instance.dead`"), "{err}");
    assert!(err.contains("did you mean `instance.died`?"), "{err}");
    assert!(ok(data, &["get", "apps"]).contains("No apps found."), "a refused lab creates nothing");

    let out = run(data, &["lab", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no lab is loaded"), "{}", text(&out.stderr));

    let file = work.join("apps.yaml");
    std::fs::write(
        &file,
        "name: t-cli-a\nimage: crane-demo:0.1.0\n---\nname: t-cli-b\nimage: crane-demo:0.1.0\nreplicas: x\n",
    )
    .unwrap();
    let out = run(data, &["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:6:11: document 2: replicas:", file.display())), "{err}");
    assert!(ok(data, &["get", "apps"]).contains("No apps found."), "an invalid file creates nothing");
    check_commands(work, data, &file);
}

/// `cranectl check`: the same problems `apply` would be refused with (line:column, document, fix) on stdout with
/// each app's preview, exit 1 and a one-line reason on stderr; a valid spec exits 0; JSON output; nothing created.
fn check_commands(work: &Path, data: &Path, file: &Path) {
    let out = run(data, &["check", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "an invalid file fails the check");
    let report = text(&out.stdout);
    let name = file.display().to_string();
    assert!(report.starts_with(&format!("{name}:6:11: document 2: replicas: ")), "{report}");
    assert!(report.contains(" — "), "the problem comes with its fix: {report}");
    assert!(report.contains("app/t-cli-a (document 1): valid; apply creates it\n"), "{report}");
    assert!(report.contains("document 2: does not parse (1 problem)\n"), "{report}");
    assert!(report.contains("  admission policy: admitted with warnings: no memory limit is set"), "{report}");
    assert!(report.ends_with(&format!("{name}: would not apply: 1 problem\n")), "{report}");
    assert_eq!(text(&out.stderr).trim(), format!("error: {name} would not apply: 1 problem"));

    let out = run(data, &["check", "-f", file.to_str().unwrap(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let check: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("check -o json prints JSON");
    assert_eq!(check["valid"], false);
    assert_eq!(check["diagnostics"][0]["document"], 2);
    assert_eq!(check["documents"][0]["name"], "t-cli-a");

    let good = work.join("good.yaml");
    std::fs::write(&good, "name: t-cli-c\nimage: crane-demo:0.1.0\n").unwrap();
    let report = ok(data, &["check", "-f", good.to_str().unwrap()]);
    assert!(report.starts_with("app/t-cli-c: valid; apply creates it\n  image crane-demo:0.1.0: "), "{report}");
    assert!(report.ends_with(&format!("{}: valid (1 app)\n", good.display())), "{report}");
    // Standard input, like apply.
    let mut child = cranectl(data)
        .args(["check", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"name: t-cli-c\nimage: crane-demo:0.1.0\nbogus: 1\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("<stdin>:3:1: bogus: "), "{}", text(&out.stdout));
    assert!(ok(data, &["get", "apps"]).contains("No apps found."), "checking creates nothing");
}

/// A shipped lab through the CLI on the real Docker engine: load, status, the student's denied deploy, reset.
fn lab_docker_flow(data: &Path) {
    // Should an assertion fail, the lab's app goes anyway (the engine's data directory is temporary).
    let _cleanup = AppCleanup { data_dir: data, name: "policy-web".to_string() };
    let out = ok(data, &["lab", "load", "policy-blocks-bad-deploy"]);
    assert!(out.starts_with("lab/policy-blocks-bad-deploy: A policy that blocks a bad deploy"), "{out}");
    let mut child =
        cranectl(data).args(["apply", "-f", "-"]).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"name: bad\nimage: crane-demo:0.1.0\nsecurity: { user: '1000', addCapabilities: [NET_BIND_SERVICE] }\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("capability \"NET_BIND_SERVICE\" is not allowed"), "{}", text(&out.stderr));
    // `check` says so before anyone tries (exit 1: an apply would be refused).
    let mut child = cranectl(data)
        .args(["check", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"name: bad\nimage: crane-demo:0.1.0\nsecurity: { user: '1000', addCapabilities: [NET_BIND_SERVICE] }\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(report.contains("  admission policy: denied — ") && report.contains("NET_BIND_SERVICE"), "{report}");
    assert!(text(&out.stderr).contains("the admission policy denies app/bad"), "{}", text(&out.stderr));
    let status = ok(data, &["lab", "status"]);
    assert!(status.contains("[x] 2. Try a bad deploy"), "{status}");
    let reset = ok(data, &["lab", "reset"]);
    assert!(reset.contains("removed policy-web") && reset.contains("restored the admission policy"), "{reset}");
    assert!(!ok(data, &["get", "apps"]).contains("policy-web"));
}

fn policy_commands(work: &Path, data: &Path) {
    let list = ok(data, &["policy", "list"]);
    for package in ["crane.admission", "crane.scaling", "crane.alerts"] {
        assert!(list.contains(package), "{list}");
    }
    let tests = ok(data, &["policy", "test"]);
    assert!(tests.contains("PASS  data.crane.admission_test.test_privileged_is_denied"), "{tests}");
    assert!(tests.trim_end().ends_with("passed, 0 failed"), "{tests}");
    assert!(ok(data, &["policy", "get", "admission"]).starts_with("# Crane's shipped admission policy"));

    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/samples");
    let privileged = samples.join("admission-privileged.json");
    let out = ok(data, &["policy", "eval", "admission", "-f", privileged.to_str().unwrap()]);
    assert!(out.starts_with("denied: "), "{out}");
    assert!(out.contains("privileged containers are not allowed"), "{out}");

    let bad = work.join("bad.rego");
    std::fs::write(&bad, "package crane.admission\n\ndeny contains msg if {\n  msg := concat(\", \"\n}\n").unwrap();
    let out = run(data, &["policy", "set", "admission", "-f", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("the policy is invalid") && err.contains(&format!("{}:", bad.display())), "{err}");
    let out = run(data, &["policy", "validate", "admission", "-f", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));

    let settings = work.join("scaling.json");
    std::fs::write(&settings, r#"{"max_replicas": 2}"#).unwrap();
    assert!(ok(data, &["policy", "set", "scaling", "--data", settings.to_str().unwrap()])
        .contains("policy/scaling changed"));
    let out = ok(data, &["policy", "eval", "scaling"]);
    assert!(out.starts_with("clamped to 2: "), "{out}");
    assert!(ok(data, &["policy", "list"]).contains("edited"));
    assert!(ok(data, &["policy", "reset", "scaling"]).contains("reset to the shipped version"));
    assert!(ok(data, &["policy", "eval", "scaling"]).starts_with("clamped to 20: "));
}

/// The alert commands against a real engine whose evaluator runs every second: the rules, a refused file with its
/// line, a rule that fires at once (no app exists), its alert and transition, the export that `promtool check rules`
/// accepts (Debian's `prometheus` package, installed by scripts/setup.sh; this test fails without it), reset.
#[test]
fn alerts_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = Server::start_with(&data, &[("CRANE_ALERT_INTERVAL_MS", "1000")]);

    let rules = ok(&data, &["alerts", "rules"]);
    assert!(rules.starts_with("Crane's shipped rules"), "{rules}");
    assert!(
        rules.contains("GROUP") && rules.contains("AppDegraded") && rules.contains("scale_up / scale_down"),
        "{rules}"
    );

    let bad = dir.path().join("bad.rules.yml");
    std::fs::write(&bad, "groups:\n  - name: t\n    rules:\n      - alert: NoApps\n        expr: crane_apps ==\n")
        .unwrap();
    let out = run(&data, &["alerts", "apply", "-f", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: the rule file is invalid (1 problem):"), "{err}");
    assert!(err.contains(&format!("{}:5:", bad.display())), "{err}");
    assert!(ok(&data, &["alerts", "rules"]).contains("AppDegraded"), "nothing changed");

    // The webhook receiver: its URL and its own token; --rotate replaces it.
    let out = ok(&data, &["alerts", "webhook"]);
    assert!(out.contains("/api/v1/alerts/webhook") && out.contains("webhook-token"), "{out}");
    let token = |out: &str| out.lines().find_map(|l| l.strip_prefix("token:")).map(|t| t.trim().to_string());
    let rotated = ok(&data, &["alerts", "webhook", "--rotate"]);
    assert!(rotated.contains("the token was replaced"), "{rotated}");
    assert_ne!(token(&out), token(&rotated));

    let good = dir.path().join("good.rules.yml");
    std::fs::write(
        &good,
        "groups:\n  - name: t\n    rules:\n      - alert: NoApps\n        expr: crane_apps == 0\n        \
         labels:\n          severity: info\n        firing_action: notify\n",
    )
    .unwrap();
    assert_eq!(ok(&data, &["alerts", "apply", "-f", good.to_str().unwrap()]), "alert rules configured: 1 rule\n");
    let rules = ok(&data, &["alerts", "rules"]);
    assert!(rules.contains("NoApps") && rules.contains("crane_apps == 0") && rules.contains("notify"), "{rules}");

    // No app exists and the rule has no `for`: it fires at the next evaluation.
    let deadline = Instant::now() + Duration::from_secs(60);
    let active = loop {
        let active = ok(&data, &["alerts", "active"]);
        if active.contains("firing") {
            break active;
        }
        assert!(Instant::now() < deadline, "NoApps did not fire within 60 s:\n{active}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(active.starts_with("ALERT") && active.contains("NoApps") && active.contains("severity=info"), "{active}");
    let history = ok(&data, &["alerts", "history"]);
    assert!(
        history.contains("NoApps") && history.contains("inactive → firing") && history.contains("notify"),
        "{history}"
    );
    let events = ok(&data, &["get", "events"]);
    assert!(events.contains("alert.firing") && events.contains("alert NoApps fires"), "{events}");

    let exported = ok(&data, &["alerts", "export"]);
    assert!(exported.contains("alert: NoApps") && exported.contains("crane_firing_action: notify"), "{exported}");
    let file = dir.path().join("exported.rules.yml");
    std::fs::write(&file, &exported).unwrap();
    let check = Command::new("promtool").args(["check", "rules"]).arg(&file).output().expect(
        "promtool runs (Debian's `prometheus` package; scripts/setup.sh installs it; this test fails without it)",
    );
    assert!(check.status.success(), "promtool refused the export:\n{}{}", text(&check.stdout), text(&check.stderr));

    assert!(ok(&data, &["alerts", "reset"]).starts_with("alert rules reset to Crane's shipped rules"));
    assert!(ok(&data, &["alerts", "rules"]).contains("AppDegraded"));
}

fn docker_flow(work: &Path, data: &Path) {
    let out = run(data, &["demo-image"]);
    assert!(out.status.success(), "demo-image failed: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("crane-demo"), "{}", text(&out.stdout));
    assert!(!text(&out.stderr).trim().is_empty(), "demo-image showed no progress");

    let name = format!("t-cli-{:08x}", rand::random::<u32>());
    let cleanup = AppCleanup { data_dir: data, name: name.clone() };
    let spec = work.join("app.yaml");
    std::fs::write(
        &spec,
        format!(
            "name: {name}\nimage: crane-demo:0.1.0\nreplicas: 2\ncommand: [\"/demo\", \"--port\", \"8080\"]\n\
             ports: [{{container: 8080}}]\n"
        ),
    )
    .unwrap();
    assert_eq!(ok(data, &["apply", "-f", spec.to_str().unwrap()]).trim(), format!("app/{name} created"));
    assert_eq!(ok(data, &["apply", "-f", spec.to_str().unwrap()]).trim(), format!("app/{name} unchanged"));
    let conflict = run(data, &["create", "-f", spec.to_str().unwrap()]);
    assert_eq!(conflict.status.code(), Some(1));

    let apps = ok(data, &["get", "apps"]);
    assert!(apps.starts_with("NAME") && apps.contains(&name), "{apps}");
    // The image list marks the demo image; a check of the running app's spec says an apply updates it.
    let images = ok(data, &["images"]);
    let header: Vec<&str> = images.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["IMAGE", "ID", "SIZE", "CREATED", "DEMO"], "{images}");
    let demo = images.lines().find(|l| l.starts_with("crane-demo:0.1.0 ")).unwrap_or_else(|| panic!("{images}"));
    assert!(demo.contains(" ago ") && demo.ends_with(" yes"), "{demo}");
    let listed: serde_json::Value = serde_json::from_str(&ok(data, &["images", "-o", "json"])).unwrap();
    assert!(listed.as_array().unwrap().iter().any(|i| i["reference"] == "crane-demo:0.1.0" && i["demo"] == true));
    let report = ok(data, &["check", "-f", spec.to_str().unwrap()]);
    assert!(report.starts_with(&format!("app/{name}: valid; apply updates it\n")), "{report}");
    assert!(report.contains("  image crane-demo:0.1.0: present\n"), "{report}");
    let instances = ok(data, &["get", "instances", &name]);
    assert!(instances.starts_with("NAME") && instances.contains("STATE"), "{instances}");
    assert!(instances.contains(&format!("{name}-1")) && instances.contains(&format!("{name}-2")), "{instances}");
    assert!(ok(data, &["describe", "app", &name]).contains("Instances:"));

    assert_eq!(ok(data, &["scale", &name, "3"]).trim(), format!("app/{name} scaled to 3"));
    let app: serde_json::Value = serde_json::from_str(&ok(data, &["get", "app", &name, "-o", "json"])).unwrap();
    assert_eq!(app["replicas"], 3);
    ok(data, &["logs", &name, "--tail", "5"]);
    ok(data, &["get", "events", "--app", &name]);

    rollout_and_export(work, data, &name, &spec);
    load_chart_and_metrics(work, data, &name);
    experiment_commands(work, data, &name);

    assert_eq!(ok(data, &["delete", &name]).trim(), format!("app/{name} deleted"));
    drop(cleanup);
    let gone = run(data, &["get", "app", &name]);
    assert_eq!(gone.status.code(), Some(1));
}

/// The revision of the `current` entry of `rollout history -o json`, and how many entries there are.
fn history(data: &Path, name: &str) -> (usize, u64) {
    let revisions: serde_json::Value = serde_json::from_str(&ok(data, &["rollout", "history", name, "-o", "json"]))
        .expect("rollout history -o json prints JSON");
    let revisions = revisions.as_array().expect("an array");
    let current: Vec<u64> =
        revisions.iter().filter(|r| r["current"] == true).map(|r| r["revision"].as_u64().unwrap()).collect();
    assert_eq!(current.len(), 1, "exactly one current revision: {revisions:?}");
    (revisions.len(), current[0])
}

/// Two revisions (a changed `env`), `rollout history`, `rollout undo`, `rollout status` and `export nginx`.
fn rollout_and_export(work: &Path, data: &Path, name: &str, spec: &Path) {
    assert_eq!(history(data, name), (1, 1));
    let mut yaml = std::fs::read_to_string(spec).unwrap();
    yaml.push_str("env: { GREETING: changed }\n");
    let changed = work.join("app-changed.yaml");
    std::fs::write(&changed, yaml).unwrap();
    assert_eq!(ok(data, &["apply", "-f", changed.to_str().unwrap()]).trim(), format!("app/{name} configured"));
    assert_eq!(history(data, name), (2, 2));
    let table = ok(data, &["rollout", "history", name]);
    assert!(table.starts_with("REVISION") && table.contains("CAUSE") && table.contains("CREATED"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");

    // An unknown revision is refused with the ones there are.
    let out = run(data, &["rollout", "undo", name, "--to", "9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no revision 9"), "{}", text(&out.stderr));

    assert_eq!(ok(data, &["rollout", "undo", name]).trim(), format!("app/{name} rolled back to revision 1"));
    assert_eq!(history(data, name), (2, 1));

    // The rollout back to revision 1 completes (the demo needs no probes to be ready).
    let out = ok(data, &["rollout", "status", name, "--watch"]);
    let last = out.lines().last().unwrap_or_default();
    assert!(last.contains("revision 1") && last.contains("complete"), "{out}");

    let config = ok(data, &["export", "nginx", name, "--listen", "18099"]);
    assert!(config.contains("upstream ") && config.contains("listen 127.0.0.1:18099"), "{config}");
    let file = work.join("nginx.conf");
    let out = ok(data, &["export", "nginx", name, "-f", file.to_str().unwrap()]);
    assert!(out.contains(&file.display().to_string()), "{out}");
    assert!(std::fs::read_to_string(&file).unwrap().contains("listen 127.0.0.1:8080"));

    assert!(ok(data, &["describe", "app", name]).contains("Rollout:"));
    let instances = ok(data, &["get", "instances", name]);
    assert!(instances.lines().next().unwrap().contains("PROBE") && instances.contains("REQUESTS"), "{instances}");
}

/// `load` (followed, detached, stopped, interrupted), `chart` and `get metrics` against the running app.
/// Two short runs (one under load, one without), compared and exported; a detached recording stopped; all deleted.
fn experiment_commands(work: &Path, data: &Path, name: &str) {
    let out = run(
        data,
        &["experiment", "record", name, "--name", "cli-a", "--rate", "20", "--duration", "2s", "--after", "1s"],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "experiment record failed:\nstdout: {stdout}\nstderr: {stderr}");
    assert!(
        stderr.contains(&format!("experiment/cli-a recording app/{name}: 20 req/s to / for 2s, then 1s")),
        "{stderr}"
    );
    assert!(stdout.starts_with(&format!("experiment/cli-a: app/{name}, done,")), "{stdout}");
    assert!(stdout.contains("(load finished)"), "{stdout}");
    let out = ok(data, &["experiment", "record", name, "--name", "cli-b", "--for", "2s"]);
    assert!(out.contains("(duration reached)") && out.contains("load: no load, 2s"), "{out}");
    let a: serde_json::Value = serde_json::from_str(&ok(data, &["experiment", "show", "cli-a", "-o", "json"])).unwrap();
    assert!(a["point_count"].as_u64().unwrap() >= 1, "{a}");
    assert_eq!(a["load"]["rate"], 20.0);
    assert!(ok(data, &["experiment", "show", "cli-a"]).contains("REPLICAS"));
    let list = ok(data, &["experiment", "list"]);
    assert!(list.starts_with("NAME") && list.contains("cli-a") && list.contains("cli-b"), "{list}");

    // Compared: what differs, and the charts on the same axes in a file.
    let svg = work.join("overlay.svg");
    let out = ok(data, &["experiment", "overlay", "cli-a", "cli-b", "--out", svg.to_str().unwrap()]);
    assert!(out.contains("cli-a: 20 req/s, load 2s") && out.contains("cli-b: ") && out.contains("no load"), "{out}");
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.starts_with("<svg") && drawn.contains("cli-a: ") && drawn.contains("cli-b: "), "both runs named");
    let csv = work.join("runs.csv");
    ok(data, &["experiment", "export", "cli-a", "cli-b", "--format", "csv", "--out", csv.to_str().unwrap()]);
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(csv
        .starts_with("run,app,t_s,at_ms,replicas,ready,rps,rps_per_replica,latency_p95_ms,cpu_percent,errors_per_s\n"));
    assert!(csv.lines().any(|l| l.starts_with("cli-a,")) && csv.lines().any(|l| l.starts_with("cli-b,")), "{csv}");
    let png = work.join("overlay.png");
    ok(data, &["experiment", "export", "cli-a", "--format", "png", "--out", png.to_str().unwrap()]);
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");

    // Detached, then stopped; bad input refused.
    let out = ok(data, &["experiment", "record", name, "--name", "cli-c", "--for", "60s", "--detach"]);
    assert!(out.contains("experiment stop cli-c"), "{out}");
    let busy = run(data, &["experiment", "record", name, "--for", "5s"]);
    assert_eq!(busy.status.code(), Some(1));
    assert!(text(&busy.stderr).contains("run 'cli-c'"), "{}", text(&busy.stderr));
    assert!(ok(data, &["experiment", "stop", "cli-c"]).contains("(stopped)"));
    assert_eq!(run(data, &["experiment", "record", name, "--after", "5s"]).status.code(), Some(2));
    let bad = run(data, &["experiment", "record", name, "--name", "Bad"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("name: `Bad` is not a valid run name"), "{}", text(&bad.stderr));
    for run_name in ["cli-a", "cli-b", "cli-c"] {
        assert_eq!(ok(data, &["experiment", "delete", run_name]).trim(), format!("experiment/{run_name} deleted"));
    }
}

fn load_chart_and_metrics(work: &Path, data: &Path, name: &str) {
    let out = run(data, &["load", name, "--rate", "50", "--duration", "3s"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "load failed:\nstdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.starts_with(&format!("load/{name} finished after")), "{stdout}");
    for part in ["sent", " ok", "error", "Achieved rate:", "p50", "p95", "p99", "Error kinds:"] {
        assert!(stdout.contains(part), "the report lacks {part:?}:\n{stdout}");
    }
    assert!(stderr.contains("started: 50 req/s for 3s"), "{stderr}");
    assert!(stderr.lines().any(|l| l.contains("s/3s") && l.contains("req/s  p95")), "no progress line:\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&ok(data, &["load", name, "--stop", "-o", "json"])).unwrap();
    assert!(report["running"] == false && report["sent"].as_f64().unwrap() > 0.0, "{report}");
    let described = ok(data, &["describe", "app", name]);
    assert!(described.contains("Load:       last run: "), "{described}");
    assert!(described.contains("Autoscaler: "), "{described}");

    // Detached, then stopped from another command.
    let out = ok(data, &["load", name, "--rate", "20", "--duration", "60s", "--detach"]);
    assert!(out.contains("started") && out.contains("--stop"), "{out}");
    let again = run(data, &["load", name, "--rate", "20", "--duration", "60s", "--detach"]);
    assert_eq!(again.status.code(), Some(1), "a second run while one runs is refused");
    assert!(text(&again.stderr).contains("already running"), "{}", text(&again.stderr));
    let out = ok(data, &["load", name, "--stop"]);
    assert!(out.starts_with(&format!("load/{name} stopped early after")), "{out}");

    // Ctrl-C stops the run in the engine before cranectl exits.
    let mut child = cranectl(data)
        .args(["load", name, "--rate", "20", "--duration", "60s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("started"), "{line}");
    line.clear();
    // The first progress line: the run is under way.
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("s/60s"), "{line}");
    // SAFETY: kill(2) on the pid of our own child process.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "load exited with {} after Ctrl-C", out.status);
    assert!(started.elapsed() < Duration::from_secs(20));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(&format!("load/{name} stopped early after")), "{stdout}");
    let status: serde_json::Value = serde_json::from_str(&ok(data, &["get", "app", name, "-o", "json"])).unwrap();
    assert_eq!(status["load"]["running"], false, "{status}");

    // Charts: SVG on stdout or in a file; an unknown chart is a usage error.
    let svg = ok(data, &["chart", name, "rps", "--range", "5m"]);
    assert!(svg.contains("<svg"), "{svg}");
    let file = work.join("cpu.svg");
    let out = ok(data, &["chart", name, "cpu", "-f", file.to_str().unwrap()]);
    assert!(out.contains(&file.display().to_string()), "{out}");
    assert!(std::fs::read_to_string(&file).unwrap().contains("<svg"));
    assert_eq!(run(data, &["chart", name, "disk"]).status.code(), Some(2));
    let bad = run(data, &["chart", name, "rps", "--range", "forever"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("range"), "{}", text(&bad.stderr));

    let metrics = ok(data, &["get", "metrics"]);
    assert!(metrics.contains("crane_app_replicas"), "{metrics}");
    let replicas = status["replicas"].as_u64().unwrap();
    assert!(metrics.contains(&format!("crane_app_replicas{{app=\"{name}\"}} {replicas}\n")), "{metrics}");
}
