//! A tiny HTTP/1.1 keep-alive server on 127.0.0.1:0, run on std threads so it neither shares the tokio runtime
//! under test nor shows up in its task count. It records when each request arrived and which User-Agent it had.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A running test server; its threads live until the test process ends.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    user_agents: Arc<Mutex<Vec<String>>>,
    open: Arc<AtomicUsize>,
}

impl TestServer {
    /// Serves every request with `status` after `delay`.
    pub fn start(status: u16, delay: Duration) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let server = TestServer {
            addr: listener.local_addr().unwrap(),
            arrivals: Arc::default(),
            user_agents: Arc::default(),
            open: Arc::default(),
        };
        let (arrivals, user_agents, open) = (server.arrivals.clone(), server.user_agents.clone(), server.open.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (arrivals, user_agents, open) = (arrivals.clone(), user_agents.clone(), open.clone());
                open.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || {
                    serve_connection(stream, status, delay, &arrivals, &user_agents);
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        server
    }

    /// `http://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// When each request arrived, in arrival order.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.arrivals.lock().unwrap().clone()
    }

    /// The User-Agent of each request.
    pub fn user_agents(&self) -> Vec<String> {
        self.user_agents.lock().unwrap().clone()
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

fn serve_connection(
    stream: TcpStream,
    status: u16,
    delay: Duration,
    arrivals: &Mutex<Vec<Instant>>,
    user_agents: &Mutex<Vec<String>>,
) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        // Read one request head (GET, no body); end of stream closes the connection.
        let mut line = String::new();
        let mut user_agent = String::new();
        let mut first = true;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if first {
                arrivals.lock().unwrap().push(Instant::now());
                first = false;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("user-agent") {
                    user_agent = value.trim().to_string();
                }
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        user_agents.lock().unwrap().push(user_agent);
        thread::sleep(delay);
        let response = format!("HTTP/1.1 {status} Test\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok");
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
