//! A deliberately small HTTP/1.1 subset: enough to parse one request at a time from a keep-alive connection and to
//! write a response with a `Content-Length`. No chunked request bodies, no pipelining guarantees beyond "one request
//! after another on the same connection".

use std::io::{self, BufRead, Read, Write};

/// Largest request head (request line plus headers) accepted, so a misbehaving client cannot exhaust memory.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest request body read (and discarded); the demo has no endpoint that needs one.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method, as sent (`GET`, `POST`…).
    pub method: String,
    /// Path without the query string (`/work`).
    pub path: String,
    /// Query string without the `?`, empty when absent.
    pub query: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// Headers with lower-cased names, in order.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter (no percent-decoding: the demo's parameters are numbers).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }

    /// Whether the connection should stay open after the response (HTTP/1.1 default, HTTP/1.0 opt-in).
    pub fn keep_alive(&self) -> bool {
        let connection = self.header("connection").map(|v| v.to_ascii_lowercase());
        match connection.as_deref() {
            Some(v) if v.contains("close") => false,
            Some(v) if v.contains("keep-alive") => true,
            _ => self.version == "HTTP/1.1",
        }
    }
}

/// Why a request could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection cleanly between requests.
    Closed,
    /// The request was malformed; answer 400 and close.
    Malformed(&'static str),
    /// The socket failed (including read timeouts on idle keep-alive connections).
    Io,
}

/// Reads one request (head and body) from a buffered connection.
pub fn read_request(reader: &mut impl BufRead) -> Result<Request, ReadError> {
    let mut head_bytes = 0usize;
    let mut line = String::new();
    // Tolerate stray empty lines before a request line, as RFC 9112 recommends.
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|_| ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        head_bytes += n;
        if head_bytes > MAX_HEAD_BYTES {
            return Err(ReadError::Malformed("request head too large"));
        }
        if !line.trim_end().is_empty() {
            break;
        }
    }
    let request_line = line.trim_end().to_string();
    let (method, target, version) = parse_request_line(&request_line)?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|_| ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Malformed("connection closed inside the request head"));
        }
        head_bytes += n;
        if head_bytes > MAX_HEAD_BYTES {
            return Err(ReadError::Malformed("request head too large"));
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').ok_or(ReadError::Malformed("header without ':'"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    let request = Request { method: method.to_string(), path, query, version: version.to_string(), headers };
    if request.header("transfer-encoding").is_some() {
        return Err(ReadError::Malformed("chunked request bodies are not supported"));
    }
    if let Some(length) = request.header("content-length") {
        let length: usize = length.parse().map_err(|_| ReadError::Malformed("invalid Content-Length"))?;
        if length > MAX_BODY_BYTES {
            return Err(ReadError::Malformed("request body too large"));
        }
        // The body is read and dropped so the next request on the connection starts at the right byte.
        io::copy(&mut reader.take(length as u64), &mut io::sink()).map_err(|_| ReadError::Io)?;
    }
    Ok(request)
}

fn parse_request_line(line: &str) -> Result<(&str, &str, &str), ReadError> {
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Malformed("request line is not 'METHOD TARGET VERSION'"));
    };
    if !target.starts_with('/') {
        return Err(ReadError::Malformed("request target must start with '/'"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(ReadError::Malformed("only HTTP/1.0 and HTTP/1.1 are supported"));
    }
    Ok((method, target, version))
}

/// A response ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type` value.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// A body generated while it is written instead of `body` (the hostile `/metrics` switches).
    pub generated: Option<Generated>,
}

/// A body written line by line as it is sent, so a huge or endless answer costs the demo no memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generated {
    /// Exactly this many bytes of Prometheus sample lines, announced in `Content-Length`.
    Sized(u64),
    /// Sample lines without end (no `Content-Length`; the connection closes when the reader gives up).
    Endless,
}

/// One generated Prometheus sample line, different for every `i`.
fn generated_line(i: u64) -> String {
    format!("demo_padding{{i=\"{i:012}\"}} 1\n")
}

impl Response {
    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: body.into().into_bytes(),
            generated: None,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes the response; `head_only` omits the body (HEAD requests) but keeps its length.
    pub fn write_to(&self, out: &mut impl Write, keep_alive: bool, head_only: bool) -> io::Result<()> {
        let length = match self.generated {
            None => Some(self.body.len() as u64),
            Some(Generated::Sized(n)) => Some(n),
            Some(Generated::Endless) => None,
        };
        let keep_alive = keep_alive && length.is_some();
        let mut head =
            format!("HTTP/1.1 {} {}\r\nContent-Type: {}\r\n", self.status, reason(self.status), self.content_type);
        if let Some(length) = length {
            head.push_str(&format!("Content-Length: {length}\r\n"));
        }
        head.push_str(if keep_alive { "Connection: keep-alive\r\n" } else { "Connection: close\r\n" });
        for (name, value) in &self.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        if head_only {
            return out.flush();
        }
        match self.generated {
            None => out.write_all(&self.body)?,
            Some(Generated::Sized(n)) => {
                let mut left = n;
                for i in 0.. {
                    if left == 0 {
                        break;
                    }
                    let line = generated_line(i);
                    let take = (line.len() as u64).min(left) as usize;
                    out.write_all(&line.as_bytes()[..take])?;
                    left -= take as u64;
                }
            }
            // Ends when the reader hangs up (the write fails).
            Some(Generated::Endless) => {
                for i in 0.. {
                    out.write_all(generated_line(i).as_bytes())?;
                }
            }
        }
        out.flush()
    }

    /// Whether the connection must close after this response (a body without a length).
    pub fn closes(&self) -> bool {
        self.generated == Some(Generated::Endless)
    }
}

/// Reason phrase of the status codes the demo uses.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Request, ReadError> {
        read_request(&mut io::BufReader::new(raw.as_bytes()))
    }

    #[test]
    fn generated_bodies_are_written_line_by_line() {
        let mut out = Vec::new();
        let response = Response { generated: Some(Generated::Sized(100)), ..Response::text(200, "") };
        response.write_to(&mut out, true, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("Content-Length: 100") && head.contains("keep-alive"), "{head}");
        assert_eq!(body.len(), 100);
        assert!(body.starts_with("demo_padding{i=\"000000000000\"} 1\n"), "{body}");
        // An endless body has no length, closes the connection, and stops when the reader does.
        struct Reader(usize);
        impl Write for Reader {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0 += buf.len();
                if self.0 > 10_000 {
                    return Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"));
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let endless = Response { generated: Some(Generated::Endless), ..Response::text(200, "") };
        assert!(endless.closes());
        assert!(endless.write_to(&mut Reader(0), true, false).is_err());
    }

    #[test]
    fn parses_request_line_headers_and_query() {
        let req = parse("GET /work?ms=25&x=1 HTTP/1.1\r\nHost: a\r\nX-Thing:  v \r\n\r\n").unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/work");
        assert_eq!(req.query_param("ms"), Some("25"));
        assert_eq!(req.query_param("x"), Some("1"));
        assert_eq!(req.query_param("y"), None);
        assert_eq!(req.header("x-thing"), Some("v"));
        assert_eq!(req.header("HOST"), Some("a"));
        assert!(req.keep_alive());
    }

    #[test]
    fn keep_alive_follows_version_and_connection_header() {
        assert!(!parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap().keep_alive());
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive());
        assert!(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap().keep_alive());
    }

    #[test]
    fn reads_consecutive_requests_and_skips_bodies() {
        let raw = "POST /admin/health/fail HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /health HTTP/1.1\r\n\r\n";
        let mut reader = io::BufReader::new(raw.as_bytes());
        assert_eq!(read_request(&mut reader).unwrap().path, "/admin/health/fail");
        assert_eq!(read_request(&mut reader).unwrap().path, "/health");
        assert!(matches!(read_request(&mut reader), Err(ReadError::Closed)));
    }

    #[test]
    fn rejects_malformed_requests() {
        for raw in [
            "GET\r\n\r\n",
            "GET / HTTP/2\r\n\r\n",
            "GET nopath HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nbad header\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n",
        ] {
            assert!(matches!(parse(raw), Err(ReadError::Malformed(_))), "{raw:?}");
        }
    }

    #[test]
    fn writes_content_length_and_headers() {
        let mut out = Vec::new();
        Response::text(200, "hi\n").with_header("X-Crane-Instance", "web-1").write_to(&mut out, true, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("Content-Length: 3\r\n"));
        assert!(text.contains("X-Crane-Instance: web-1\r\n"));
        assert!(text.ends_with("\r\n\r\nhi\n"));
    }
}
