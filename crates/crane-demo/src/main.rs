//! The demo workload: a tiny HTTP/1.1 server, standard library only, that Crane packages into a `FROM scratch` image
//! (`crane-demo:<version>`) so every test and lab runs offline.
//!
//! Endpoints: `GET /` (names the instance), `/health`, `/ready`, `/work?ms=N` (burns CPU), `/metrics` (Prometheus
//! text), and `POST /admin/{health/fail,health/ok,ready/off,ready/on,exit?code=N}` switches. Options make it crash,
//! fail its health check or start unready after a delay, which is how the labs provoke the orchestrator.
//! `POST /admin/metrics/{huge?mb=N,endless,redirect,normal}` makes `/metrics` hostile (a page of N MiB, one without
//! end, a redirect to the Docker API's port), which is how tests and `crane-bench hostile` check the engine's scraper.
//!
//! Traffic beyond request/response, for the load balancer: `GET /ws` is a WebSocket echo, a connection that opens
//! with the HTTP/2 preface is served as h2c (prior knowledge) on the same port, `GET /stream?n=N&ms=M` streams N
//! lines M ms apart (DATA frames over HTTP/2, chunks over HTTP/1.1), and `--tcp-echo PORT` adds a raw TCP listener
//! that echoes each line prefixed with the instance name (`web-1: hello`).
//!
//! It runs as PID 1 in its container, where the kernel ignores SIGTERM unless a handler is installed; the handler
//! below exits at once so `docker stop` does not wait out its grace period.

mod app;
mod h2;
mod http;
mod ws;

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::{After, State};

/// How long an idle keep-alive connection is kept before its thread gives up.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

const USAGE: &str = "usage: crane-demo [--port P] [--tcp-echo P] [--exit-after-ms N] [--exit-code C] \
                     [--fail-health-after-ms N] [--not-ready-for-ms N]\n\
                     crane-demo check [PORT] [PATH]   (exit 0 when GET PATH answers 2xx/3xx; for exec probes)\n\
                     env: PORT (default 8080), CRANE_INSTANCE (default: the hostname)";

/// Command-line options.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    /// Listening port.
    port: u16,
    /// Exit after this long (a crash-looping container).
    exit_after_ms: Option<u64>,
    /// Code used by `exit_after_ms`.
    exit_code: i32,
    /// Start failing `/health` after this long.
    fail_health_after_ms: Option<u64>,
    /// Answer 503 on `/ready` for this long after start.
    not_ready_for_ms: Option<u64>,
    /// Also listen on this port as a raw TCP line echo.
    tcp_echo: Option<u16>,
}

/// Parses the arguments (without the program name); `env_port` is the `PORT` variable.
fn parse_options(args: &[String], env_port: Option<&str>) -> Result<Options, String> {
    let port = match env_port {
        Some(p) => p.parse().map_err(|_| format!("PORT={p:?} is not a port number"))?,
        None => 8080,
    };
    let mut opts = Options {
        port,
        exit_after_ms: None,
        exit_code: 1,
        fail_health_after_ms: None,
        not_ready_for_ms: None,
        tcp_echo: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag.as_str(), None),
        };
        if name == "--help" || name == "-h" {
            return Err(USAGE.to_string());
        }
        let value = match inline.or_else(|| it.next().cloned()) {
            Some(v) => v,
            None => return Err(format!("{name} needs a value\n{USAGE}")),
        };
        let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{name} expects a whole number, got {v:?}"));
        match name {
            "--port" => {
                opts.port = value.parse().map_err(|_| format!("--port expects a port number, got {value:?}"))?
            }
            "--exit-after-ms" => opts.exit_after_ms = Some(number(&value)?),
            "--exit-code" => {
                opts.exit_code = value.parse().map_err(|_| format!("--exit-code expects an integer, got {value:?}"))?
            }
            "--tcp-echo" => {
                opts.tcp_echo =
                    Some(value.parse().map_err(|_| format!("--tcp-echo expects a port number, got {value:?}"))?)
            }
            "--fail-health-after-ms" => opts.fail_health_after_ms = Some(number(&value)?),
            "--not-ready-for-ms" => opts.not_ready_for_ms = Some(number(&value)?),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    Ok(opts)
}

/// The instance name: `CRANE_INSTANCE`, else the hostname Docker writes to `/etc/hostname`.
fn instance_name() -> String {
    if let Ok(name) = std::env::var("CRANE_INSTANCE") {
        if !name.trim().is_empty() {
            return name.trim().to_string();
        }
    }
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Signal handling through the C library that std already links; no crate needed.
mod signals {
    use std::os::raw::c_int;

    const SIGINT: c_int = 2;
    const SIGTERM: c_int = 15;

    extern "C" {
        fn signal(signum: c_int, handler: usize) -> usize;
        fn write(fd: c_int, buf: *const u8, count: usize) -> isize;
        fn _exit(status: c_int) -> !;
    }

    extern "C" fn on_terminate(_signum: c_int) {
        // Only async-signal-safe calls here: write(2) and _exit(2).
        let msg = b"received termination signal, exiting\n";
        unsafe {
            write(1, msg.as_ptr(), msg.len());
            _exit(0);
        }
    }

    /// Makes SIGTERM and SIGINT end the process at once with code 0.
    pub fn exit_on_terminate() {
        let handler = on_terminate as extern "C" fn(c_int) as usize;
        // SAFETY: `signal` is the C library's; the handler only makes async-signal-safe calls.
        unsafe {
            signal(SIGTERM, handler);
            signal(SIGINT, handler);
        }
    }
}

/// `crane-demo check [PORT] [PATH]`: GETs `http://127.0.0.1:PORT/PATH` and exits 0 for a 2xx/3xx answer, 1
/// otherwise. The image has no shell or curl, so exec probes use this.
fn check(args: &[String]) -> i32 {
    use std::io::{Read, Write};
    let port = args.first().map(String::as_str).unwrap_or("8080");
    let path = args.get(1).map(String::as_str).unwrap_or("/health");
    let result = (|| -> std::io::Result<String> {
        let mut stream = TcpStream::connect(format!("127.0.0.1:{port}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = String::new();
        stream.take(256).read_to_string(&mut head)?;
        Ok(head.lines().next().unwrap_or("").to_string())
    })();
    match result {
        Ok(status) => {
            let code: u16 = status.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            println!("{path}: {status}");
            if (200..400).contains(&code) {
                0
            } else {
                1
            }
        }
        Err(e) => {
            println!("{path}: {e}");
            1
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("check") {
        std::process::exit(check(&args[1..]));
    }
    let opts = match parse_options(&args, std::env::var("PORT").ok().as_deref()) {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    signals::exit_on_terminate();

    let state = Arc::new(State::new(instance_name(), opts.not_ready_for_ms.is_none()));
    let addr = SocketAddr::from(([0, 0, 0, 0], opts.port));
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!("crane-demo {} listening on {addr} as {}", env!("CARGO_PKG_VERSION"), state.instance);

    if let Some(port) = opts.tcp_echo {
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        match TcpListener::bind(addr) {
            Ok(listener) => {
                println!("tcp echo listening on {addr}");
                let instance = state.instance.clone();
                std::thread::spawn(move || tcp_echo(listener, instance));
            }
            Err(e) => {
                eprintln!("cannot listen on {addr} for --tcp-echo: {e}");
                std::process::exit(1);
            }
        }
    }
    if let Some(ms) = opts.exit_after_ms {
        let code = opts.exit_code;
        after(ms, move || {
            println!("exiting with code {code} after {ms} ms (--exit-after-ms)");
            std::process::exit(code);
        });
    }
    if let Some(ms) = opts.fail_health_after_ms {
        let state = Arc::clone(&state);
        after(ms, move || {
            println!("health now fails (--fail-health-after-ms {ms})");
            state.healthy.store(false, Ordering::SeqCst);
        });
    }
    if let Some(ms) = opts.not_ready_for_ms {
        let state = Arc::clone(&state);
        after(ms, move || {
            println!("ready now (--not-ready-for-ms {ms})");
            state.ready.store(true, Ordering::SeqCst);
        });
    }

    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let state = Arc::clone(&state);
                std::thread::spawn(move || serve(stream, &state));
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

/// Runs `f` on its own thread after `ms` milliseconds.
fn after(ms: u64, f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        f();
    });
}

/// `--tcp-echo`: every connection gets each line it sends back, prefixed with the instance name.
fn tcp_echo(listener: TcpListener, instance: String) {
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let instance = instance.clone();
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
            let Ok(mut writer) = stream.try_clone() else { return };
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            // Lines are bounded so a client cannot grow the buffer without end.
            while matches!(std::io::Read::take(&mut reader, 64 * 1024).read_line(&mut line), Ok(n) if n > 0) {
                let text = line.trim_end_matches(['\r', '\n']);
                if writer.write_all(format!("{instance}: {text}\n").as_bytes()).is_err() {
                    return;
                }
                line.clear();
            }
        });
    }
}

/// Serves requests from one connection until it closes, asks to close, or idles out.
fn serve(stream: TcpStream, state: &Arc<State>) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    // A connection that opens with the HTTP/2 preface speaks h2c (prior knowledge).
    if reader.fill_buf().is_ok_and(|b| !b.is_empty() && h2::PREFACE.starts_with(&b[..b.len().min(h2::PREFACE.len())])) {
        h2::serve(reader, write_half, state);
        return;
    }
    let mut writer = BufWriter::new(write_half);
    loop {
        let req = match http::read_request(&mut reader) {
            Ok(req) => req,
            Err(http::ReadError::Malformed(why)) => {
                let _ = http::Response::text(400, format!("bad request: {why}\n")).write_to(&mut writer, false, false);
                println!("- - 400 ({why})");
                return;
            }
            Err(http::ReadError::Closed | http::ReadError::Io) => return,
        };
        let started = Instant::now();
        if req.path == "/ws" && ws::is_upgrade(&req) {
            let Some(head) = ws::handshake(&req, &state.instance) else {
                let _ = http::Response::text(400, "a WebSocket request needs Sec-WebSocket-Key\n").write_to(
                    &mut writer,
                    false,
                    false,
                );
                return;
            };
            if writer.write_all(head.as_bytes()).and_then(|_| writer.flush()).is_err() {
                return;
            }
            println!("GET /ws 101 (websocket)");
            let outcome = ws::echo(&mut reader, &mut writer);
            println!("websocket closed ({})", outcome.map_or_else(|e| e.to_string(), |_| "by the client".into()));
            return;
        }
        if req.path == "/stream" && req.method == "GET" {
            if stream_http1(&mut writer, &req, &state.instance).is_err() || !req.keep_alive() {
                return;
            }
            continue;
        }
        let (resp, after) = state.handle(&req);
        let keep_alive = req.keep_alive() && after == After::Continue && !resp.closes();
        let written = resp.write_to(&mut writer, keep_alive, req.method == "HEAD");
        println!("{} {} {} {:.1}ms", req.method, req.path, resp.status, started.elapsed().as_secs_f64() * 1000.0);
        if let After::Exit(code) = after {
            println!("exiting with code {code} (POST /admin/exit)");
            std::process::exit(code);
        }
        if written.is_err() || !keep_alive {
            return;
        }
    }
}

/// `GET /stream` over HTTP/1.1: the lines as chunks of a chunked response, flushed one by one.
fn stream_http1(writer: &mut impl Write, req: &http::Request, instance: &str) -> std::io::Result<()> {
    let (count, every) = match h2::stream_params(req) {
        Ok(params) => params,
        Err(message) => return http::Response::text(400, message).write_to(writer, req.keep_alive(), false),
    };
    let connection = if req.keep_alive() { "keep-alive" } else { "close" };
    write!(
        writer,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\
         X-Crane-Instance: {instance}\r\nConnection: {connection}\r\n\r\n"
    )?;
    writer.flush()?;
    for i in 1..=count {
        let line = h2::stream_line(instance, i, count);
        write!(writer, "{:x}\r\n{line}\r\n", line.len())?;
        writer.flush()?;
        if i < count {
            std::thread::sleep(Duration::from_millis(every));
        }
    }
    writer.write_all(b"0\r\n\r\n")?;
    writer.flush()?;
    println!("GET /stream 200 ({count} chunks)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn defaults() {
        let o = parse_options(&[], None).unwrap();
        assert_eq!(o.port, 8080);
        assert_eq!(o.exit_code, 1);
        assert_eq!(o.exit_after_ms, None);
    }

    #[test]
    fn env_port_then_flag_wins() {
        assert_eq!(parse_options(&[], Some("9000")).unwrap().port, 9000);
        assert_eq!(parse_options(&args("--port 9001"), Some("9000")).unwrap().port, 9001);
        assert_eq!(parse_options(&args("--port=9002"), None).unwrap().port, 9002);
    }

    #[test]
    fn all_flags() {
        let o = parse_options(
            &args("--exit-after-ms 200 --exit-code 3 --fail-health-after-ms 5 --not-ready-for-ms 7 --tcp-echo 9000"),
            None,
        )
        .unwrap();
        assert_eq!(o.exit_after_ms, Some(200));
        assert_eq!(o.exit_code, 3);
        assert_eq!(o.fail_health_after_ms, Some(5));
        assert_eq!(o.not_ready_for_ms, Some(7));
        assert_eq!(o.tcp_echo, Some(9000));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(parse_options(&args("--port"), None).unwrap_err().contains("needs a value"));
        assert!(parse_options(&args("--port x"), None).unwrap_err().contains("port number"));
        assert!(parse_options(&args("--bogus 1"), None).unwrap_err().contains("unknown option"));
        assert!(parse_options(&[], Some("http")).unwrap_err().contains("PORT"));
    }
}
