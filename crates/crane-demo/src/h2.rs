//! h2c: HTTP/2 without TLS, prior knowledge (RFC 9113 §3.3), standard library only — enough for the load balancer's
//! checks and benchmarks. A connection whose first bytes are the HTTP/2 preface is served here: every request
//! stream is answered on its own thread through the same routes as HTTP/1.1, and `GET /stream` sends its lines as
//! separate DATA frames over time. Flow control is honoured (the demo waits for window updates); server push,
//! priorities and trailers are not used.
//!
//! HPACK (RFC 7541): requests are decoded with the static and dynamic tables and Huffman strings; responses are
//! written as literals without indexing, so the demo never needs the client's table.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, Write};
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::app::{After, State};
use crate::http::Request;

/// The client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// The largest frame payload (the protocol's default, which the demo never raises).
const MAX_FRAME: usize = 16_384;
/// The largest header block accepted (HEADERS plus CONTINUATIONs).
const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// The initial flow-control window of connections and streams.
const INITIAL_WINDOW: i64 = 65_535;
/// How long a response waits for the client to open its flow-control window before giving up.
const WINDOW_WAIT: Duration = Duration::from_secs(30);

/// Flow-control windows the response threads share.
struct Flow {
    connection: i64,
    streams: HashMap<u32, i64>,
    initial: i64,
    closed: bool,
}

/// One HTTP/2 connection's writing side.
struct Connection {
    writer: Mutex<TcpStream>,
    flow: Mutex<Flow>,
    opened: Condvar,
}

impl Connection {
    fn frame(&self, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> io::Result<()> {
        let len = payload.len() as u32;
        let mut frame = Vec::with_capacity(9 + payload.len());
        frame.extend_from_slice(&len.to_be_bytes()[1..]);
        frame.push(kind);
        frame.push(flags);
        frame.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        frame.extend_from_slice(payload);
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.write_all(&frame)
    }

    /// Sends `data` on `stream` as DATA frames within the flow-control windows; `end` closes the stream.
    fn send_data(&self, stream: u32, data: &[u8], end: bool) -> io::Result<()> {
        let mut rest = data;
        loop {
            let take = {
                let mut flow = self.flow.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if flow.closed {
                        return Err(io::Error::other("connection closed"));
                    }
                    let Some(&window) = flow.streams.get(&stream) else {
                        return Err(io::Error::other("stream reset by the client"));
                    };
                    let available = flow.connection.min(window).min(MAX_FRAME as i64).max(0) as usize;
                    if available > 0 || rest.is_empty() {
                        let take = available.min(rest.len());
                        flow.connection -= take as i64;
                        flow.streams.insert(stream, window - take as i64);
                        break take;
                    }
                    let (next, timeout) =
                        self.opened.wait_timeout(flow, WINDOW_WAIT).unwrap_or_else(|e| e.into_inner());
                    if timeout.timed_out() {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "flow-control window stayed closed"));
                    }
                    flow = next;
                }
            };
            let (chunk, tail) = rest.split_at(take);
            let last = tail.is_empty();
            self.frame(DATA, if last && end { END_STREAM } else { 0 }, stream, chunk)?;
            if last {
                return Ok(());
            }
            rest = tail;
        }
    }

    /// Sends the response head; `end` when there is no body.
    fn send_head(&self, stream: u32, status: u16, headers: &[(String, String)], end: bool) -> io::Result<()> {
        let mut block = Vec::new();
        // `:status` as a literal without indexing, its name from static entry 8.
        encode_int(&mut block, 8, 4, 0x00);
        encode_string(&mut block, &status.to_string());
        for (name, value) in headers {
            block.push(0x00);
            encode_string(&mut block, &name.to_ascii_lowercase());
            encode_string(&mut block, value);
        }
        self.frame(HEADERS, END_HEADERS | if end { END_STREAM } else { 0 }, stream, &block)
    }

    fn finish(&self, stream: u32) {
        self.flow.lock().unwrap_or_else(|e| e.into_inner()).streams.remove(&stream);
    }
}

/// Serves one h2c connection whose preface is next in `reader`, until the client closes it.
pub fn serve(mut reader: impl BufRead, writer: TcpStream, state: &Arc<State>) {
    let mut preface = [0u8; 24];
    if reader.read_exact(&mut preface).is_err() || preface != PREFACE {
        return;
    }
    let connection = Arc::new(Connection {
        writer: Mutex::new(writer),
        flow: Mutex::new(Flow {
            connection: INITIAL_WINDOW,
            streams: HashMap::new(),
            initial: INITIAL_WINDOW,
            closed: false,
        }),
        opened: Condvar::new(),
    });
    // SETTINGS_MAX_CONCURRENT_STREAMS = 100: one thread per stream, so bounded.
    if connection.frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]).is_ok() {
        let _ = read_frames(&mut reader, &connection, state);
    }
    connection.flow.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
    connection.opened.notify_all();
}

fn read_frames(reader: &mut impl BufRead, connection: &Arc<Connection>, state: &Arc<State>) -> io::Result<()> {
    let mut decoder = Decoder::new();
    // A header block still waiting for its CONTINUATION frames: stream, END_STREAM, bytes so far.
    let mut pending: Option<(u32, bool, Vec<u8>)> = None;
    loop {
        let mut head = [0u8; 9];
        reader.read_exact(&mut head)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        if len > MAX_FRAME {
            // FRAME_SIZE_ERROR.
            let _ = connection.frame(GOAWAY, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 6]);
            return Ok(());
        }
        let mut payload = vec![0u8; len];
        reader.read_exact(&mut payload)?;
        match kind {
            SETTINGS if flags & ACK == 0 => {
                for setting in payload.chunks_exact(6) {
                    let id = u16::from_be_bytes([setting[0], setting[1]]);
                    let value = i64::from(u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]]));
                    if id == 4 {
                        // SETTINGS_INITIAL_WINDOW_SIZE changes every open stream's window by the difference.
                        let mut flow = connection.flow.lock().unwrap_or_else(|e| e.into_inner());
                        let delta = value - flow.initial;
                        flow.initial = value;
                        for window in flow.streams.values_mut() {
                            *window += delta;
                        }
                    }
                }
                connection.opened.notify_all();
                connection.frame(SETTINGS, ACK, 0, &[])?;
            }
            PING if flags & ACK == 0 => connection.frame(PING, ACK, 0, &payload)?,
            WINDOW_UPDATE if payload.len() == 4 => {
                let increment =
                    i64::from(u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff);
                let mut flow = connection.flow.lock().unwrap_or_else(|e| e.into_inner());
                if stream == 0 {
                    flow.connection += increment;
                } else if let Some(window) = flow.streams.get_mut(&stream) {
                    *window += increment;
                }
                drop(flow);
                connection.opened.notify_all();
            }
            HEADERS => {
                let mut block = &payload[..];
                let mut pad = 0;
                if flags & PADDED != 0 && !block.is_empty() {
                    pad = usize::from(block[0]);
                    block = &block[1..];
                }
                if flags & PRIORITY != 0 {
                    block = block.get(5..).unwrap_or(&[]);
                }
                let block = block.get(..block.len().saturating_sub(pad)).unwrap_or(&[]).to_vec();
                pending = Some((stream, flags & END_STREAM != 0, block));
                if flags & END_HEADERS != 0 {
                    let (stream, _, block) = pending.take().unwrap_or_default();
                    start_stream(connection, state, &mut decoder, stream, &block)?;
                }
            }
            CONTINUATION => {
                if let Some((_, _, block)) = pending.as_mut() {
                    block.extend_from_slice(&payload);
                    if block.len() > MAX_HEADER_BLOCK {
                        return Ok(());
                    }
                }
                if flags & END_HEADERS != 0 {
                    if let Some((stream, _, block)) = pending.take() {
                        start_stream(connection, state, &mut decoder, stream, &block)?;
                    }
                }
            }
            DATA if !payload.is_empty() => {
                // Request bodies are read and dropped; give the client its window back.
                let increment = (len as u32).to_be_bytes();
                connection.frame(WINDOW_UPDATE, 0, 0, &increment)?;
                if flags & END_STREAM == 0 {
                    connection.frame(WINDOW_UPDATE, 0, stream, &increment)?;
                }
            }
            RST_STREAM => {
                connection.finish(stream);
                connection.opened.notify_all();
            }
            GOAWAY => return Ok(()),
            _ => {}
        }
    }
}

/// Decodes a request's headers and answers it on a thread of its own.
fn start_stream(
    connection: &Arc<Connection>,
    state: &Arc<State>,
    decoder: &mut Decoder,
    stream: u32,
    block: &[u8],
) -> io::Result<()> {
    let Ok(fields) = decoder.decode(block) else {
        // COMPRESSION_ERROR: the connection cannot continue.
        let _ = connection.frame(GOAWAY, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 9]);
        return Err(io::Error::other("bad header block"));
    };
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let target = field(":path");
    let (path, query) = target.split_once('?').map_or((target.clone(), String::new()), |(p, q)| (p.into(), q.into()));
    let request = Request {
        method: field(":method"),
        path,
        query,
        version: "HTTP/2".to_string(),
        headers: fields.iter().filter(|(k, _)| !k.starts_with(':')).cloned().collect(),
    };
    {
        let mut flow = connection.flow.lock().unwrap_or_else(|e| e.into_inner());
        let initial = flow.initial;
        flow.streams.insert(stream, initial);
    }
    let connection = connection.clone();
    let state = state.clone();
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let status = respond(&connection, &state, stream, &request).unwrap_or(0);
        connection.finish(stream);
        println!(
            "{} {} {} {:.1}ms (h2)",
            request.method,
            request.path,
            status,
            started.elapsed().as_secs_f64() * 1000.0
        );
    });
    Ok(())
}

/// Answers one request stream; returns the status sent.
fn respond(connection: &Connection, state: &State, stream: u32, request: &Request) -> io::Result<u16> {
    if request.path == "/stream" && request.method == "GET" {
        let (count, every) = match stream_params(request) {
            Ok(params) => params,
            Err(message) => {
                connection.send_head(stream, 400, &[("content-type".into(), "text/plain".into())], false)?;
                connection.send_data(stream, message.as_bytes(), true)?;
                return Ok(400);
            }
        };
        let headers = [
            ("content-type".to_string(), "text/plain; charset=utf-8".to_string()),
            ("x-crane-instance".to_string(), state.instance.clone()),
        ];
        connection.send_head(stream, 200, &headers, false)?;
        if count == 0 {
            connection.send_data(stream, &[], true)?;
        }
        for i in 1..=count {
            connection.send_data(stream, stream_line(&state.instance, i, count).as_bytes(), i == count)?;
            if i < count {
                std::thread::sleep(Duration::from_millis(every));
            }
        }
        return Ok(200);
    }
    let (response, after) = state.handle(request);
    if response.generated.is_some() {
        let body = "the hostile /metrics pages are served over HTTP/1.1 only\n";
        connection.send_head(stream, 501, &[("content-type".into(), "text/plain".into())], false)?;
        connection.send_data(stream, body.as_bytes(), true)?;
        return Ok(501);
    }
    let mut headers = vec![
        ("content-type".to_string(), response.content_type.to_string()),
        ("content-length".to_string(), response.body.len().to_string()),
    ];
    headers.extend(response.headers.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let head_only = request.method == "HEAD" || response.body.is_empty();
    connection.send_head(stream, response.status, &headers, head_only)?;
    if !head_only {
        connection.send_data(stream, &response.body, true)?;
    }
    if let After::Exit(code) = after {
        println!("exiting with code {code} (POST /admin/exit)");
        std::process::exit(code);
    }
    Ok(response.status)
}

/// `GET /stream?n=N&ms=M`: N lines (default 5, at most 1,000), M milliseconds apart (default 100, at most 10,000).
pub fn stream_params(request: &Request) -> Result<(u64, u64), String> {
    let number = |name: &str, default: u64, max: u64| match request.query_param(name) {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(format!("{name} must be a whole number from 0 to {max}, got {v:?}\n")),
        },
    };
    Ok((number("n", 5, 1_000)?, number("ms", 100, 10_000)?))
}

/// Line `i` of `n` of a `/stream` answer.
pub fn stream_line(instance: &str, i: u64, n: u64) -> String {
    format!("chunk {i} of {n} from {instance}\n")
}

/// Appends an HPACK integer with an `prefix`-bit prefix; `flags` fills the bits above it.
fn encode_int(out: &mut Vec<u8>, value: usize, prefix: u8, flags: u8) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// Appends a string literal without Huffman coding.
fn encode_string(out: &mut Vec<u8>, text: &str) {
    encode_int(out, text.len(), 7, 0x00);
    out.extend_from_slice(text.as_bytes());
}

/// The HPACK static table (RFC 7541 Appendix A), entries 1 to 61.
const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The default (and largest accepted) dynamic table size.
const TABLE_SIZE: usize = 4096;

/// An HPACK decoder: the dynamic table of one connection.
struct Decoder {
    table: VecDeque<(String, String)>,
    size: usize,
    max: usize,
}

impl Decoder {
    fn new() -> Decoder {
        Decoder { table: VecDeque::new(), size: 0, max: TABLE_SIZE }
    }

    fn get(&self, index: usize) -> Result<(String, String), &'static str> {
        match index {
            0 => Err("index 0"),
            1..=61 => Ok((STATIC_TABLE[index - 1].0.to_string(), STATIC_TABLE[index - 1].1.to_string())),
            _ => self.table.get(index - 62).cloned().ok_or("index past the dynamic table"),
        }
    }

    fn insert(&mut self, name: String, value: String) {
        self.size += name.len() + value.len() + 32;
        self.table.push_front((name, value));
        self.evict();
    }

    fn evict(&mut self) {
        while self.size > self.max {
            let Some((name, value)) = self.table.pop_back() else { break };
            self.size -= name.len() + value.len() + 32;
        }
    }

    fn decode(&mut self, mut block: &[u8]) -> Result<Vec<(String, String)>, &'static str> {
        let mut fields = Vec::new();
        while let Some(&first) = block.first() {
            if first & 0x80 != 0 {
                let index = decode_int(&mut block, 7)?;
                fields.push(self.get(index)?);
            } else if first & 0x40 != 0 {
                let index = decode_int(&mut block, 6)?;
                let name = if index == 0 { decode_string(&mut block)? } else { self.get(index)?.0 };
                let value = decode_string(&mut block)?;
                self.insert(name.clone(), value.clone());
                fields.push((name, value));
            } else if first & 0x20 != 0 {
                let size = decode_int(&mut block, 5)?;
                if size > TABLE_SIZE {
                    return Err("table size above the limit");
                }
                self.max = size;
                self.evict();
            } else {
                let index = decode_int(&mut block, 4)?;
                let name = if index == 0 { decode_string(&mut block)? } else { self.get(index)?.0 };
                let value = decode_string(&mut block)?;
                fields.push((name, value));
            }
        }
        Ok(fields)
    }
}

fn decode_int(block: &mut &[u8], prefix: u8) -> Result<usize, &'static str> {
    let (&first, rest) = block.split_first().ok_or("truncated integer")?;
    *block = rest;
    let max = (1usize << prefix) - 1;
    let mut value = usize::from(first) & max;
    if value < max {
        return Ok(value);
    }
    let mut shift = 0;
    loop {
        let (&byte, rest) = block.split_first().ok_or("truncated integer")?;
        *block = rest;
        value += usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        if shift > 21 {
            return Err("integer too large");
        }
    }
}

fn decode_string(block: &mut &[u8]) -> Result<String, &'static str> {
    let huffman = block.first().ok_or("truncated string")? & 0x80 != 0;
    let len = decode_int(block, 7)?;
    if len > block.len() {
        return Err("truncated string");
    }
    let (bytes, rest) = block.split_at(len);
    *block = rest;
    let bytes = if huffman { decode_huffman(bytes)? } else { bytes.to_vec() };
    String::from_utf8(bytes).map_err(|_| "header is not UTF-8")
}

/// Decodes a Huffman-coded string (RFC 7541 Appendix B); trailing padding is the EOS code's leading ones.
fn decode_huffman(bytes: &[u8]) -> Result<Vec<u8>, &'static str> {
    static CODES: OnceLock<HashMap<(u8, u32), u8>> = OnceLock::new();
    let codes = CODES.get_or_init(|| (0..256).map(|s| ((HUFFMAN_LENGTHS[s], HUFFMAN_CODES[s]), s as u8)).collect());
    let mut out = Vec::with_capacity(bytes.len() * 8 / 5);
    let (mut code, mut len) = (0u32, 0u8);
    for byte in bytes {
        for bit in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> bit) & 1);
            len += 1;
            if let Some(&symbol) = codes.get(&(len, code)) {
                out.push(symbol);
                code = 0;
                len = 0;
            } else if len > 30 {
                return Err("bad Huffman code");
            }
        }
    }
    if len > 7 || code != (1 << len) - 1 {
        return Err("bad Huffman padding");
    }
    Ok(out)
}

const HUFFMAN_CODES: [u32; 256] = [
    0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7, 0xfffffe8, 0xffffea,
    0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec, 0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0,
    0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3, 0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9,
    0xffffffa, 0xffffffb, 0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa, 0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16,
    0x17, 0x18, 0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc,
    0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
    0x6e, 0x6f, 0x70, 0x71, 0x72, 0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22, 0x7ffd, 0x3, 0x23, 0x4,
    0x24, 0x5, 0x25, 0x26, 0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7, 0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78,
    0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc, 0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3,
    0x3fffd4, 0x3fffd5, 0x7fffd9, 0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
    0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3, 0x7fffe4, 0x1fffdc, 0x3fffd8,
    0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef, 0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8,
    0x7fffe9, 0x1fffde, 0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec, 0x1fffe0,
    0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef, 0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4,
    0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1, 0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8,
    0x1ffffec, 0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed, 0x7fff2,
    0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2, 0x1fffe4, 0x1fffe5, 0x3ffffe8,
    0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5, 0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7,
    0x1fffe8, 0x7ffff3, 0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4, 0x3ffffeb,
    0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea, 0x7ffffeb, 0xffffffe, 0x7ffffec,
    0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
];

const HUFFMAN_LENGTHS: [u8; 256] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28,
    28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12,
    10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6,
    5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22,
    22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20,
    22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28,
    27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28,
    27, 27, 27, 27, 27, 26,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7541_request_examples_decode_with_the_dynamic_table() {
        // C.4.1 to C.4.3: three requests with Huffman coding, sharing one dynamic table.
        let hex = |s: &str| {
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect::<Vec<u8>>()
        };
        let mut decoder = Decoder::new();
        let first = decoder.decode(&hex("828684418cf1e3c2e5f23a6ba0ab90f4ff")).unwrap();
        assert_eq!(first[3], (":authority".into(), "www.example.com".into()));
        let second = decoder.decode(&hex("828684be5886a8eb10649cbf")).unwrap();
        assert_eq!(second[3], (":authority".into(), "www.example.com".into()));
        assert_eq!(second[4], ("cache-control".into(), "no-cache".into()));
        let third = decoder.decode(&hex("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf")).unwrap();
        assert_eq!(third[2], (":path".into(), "/index.html".into()));
        assert_eq!(third[4], ("custom-key".into(), "custom-value".into()));
        assert_eq!(decoder.table.len(), 3);
    }

    #[test]
    fn integers_round_trip_across_the_prefix() {
        for value in [0, 10, 30, 31, 127, 1337, 100_000] {
            let mut out = Vec::new();
            encode_int(&mut out, value, 5, 0);
            assert_eq!(decode_int(&mut &out[..], 5), Ok(value));
        }
    }

    #[test]
    fn stream_parameters_are_bounded() {
        let req = |q: &str| Request {
            method: "GET".into(),
            path: "/stream".into(),
            query: q.into(),
            version: "HTTP/2".into(),
            headers: vec![],
        };
        assert_eq!(stream_params(&req("")), Ok((5, 100)));
        assert_eq!(stream_params(&req("n=3&ms=0")), Ok((3, 0)));
        assert!(stream_params(&req("n=5000")).unwrap_err().contains("from 0 to 1000"));
        assert_eq!(stream_line("web-1", 2, 3), "chunk 2 of 3 from web-1\n");
    }
}
