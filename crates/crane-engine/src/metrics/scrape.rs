//! Reading one instance's `/metrics`, bounded: the instance runs whatever image the user chose, so its answer is
//! hostile input. No redirects are followed, the whole exchange has a deadline, the body is read incrementally and
//! dropped beyond [`MAX_SCRAPE_BYTES`], and a page with more than [`MAX_SCRAPE_SAMPLES`] samples is not parsed.

use std::time::Duration;

/// The whole scrape (connect, headers, body) must finish within this.
pub(crate) const SCRAPE_TIMEOUT: Duration = Duration::from_millis(800);
/// Largest `/metrics` body read (1 MiB); a larger one is abandoned.
pub(crate) const MAX_SCRAPE_BYTES: usize = 1024 * 1024;
/// Most samples one scrape may hold.
pub(crate) const MAX_SCRAPE_SAMPLES: usize = 10_000;

/// Why a scrape gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ScrapeError {
    /// The request failed: connection refused, timed out, reset.
    #[error("request failed: {0}")]
    Request(String),
    /// The answer was a redirect, which is not followed.
    #[error("answered with a redirect ({0}); redirects are not followed")]
    Redirect(u16),
    /// The answer was not a success.
    #[error("answered with status {0}")]
    Status(u16),
    /// The body is larger than the cap.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// The page holds more samples than the cap.
    #[error("more than {0} samples")]
    TooManySamples(usize),
    /// The body is not text, or not the Prometheus text format.
    #[error("not the Prometheus text format: {0}")]
    Format(String),
}

/// The client scrapes use: no redirects, the deadline on the whole exchange.
pub(crate) fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().timeout(SCRAPE_TIMEOUT).redirect(reqwest::redirect::Policy::none()).build()
}

/// Fetches `url` and returns its body as text, reading at most `max_bytes` (abandoning the request beyond that).
pub(crate) async fn fetch_bounded(
    client: &reqwest::Client,
    url: &str,
    max_bytes: usize,
) -> Result<String, ScrapeError> {
    let request_failed = |e: reqwest::Error| ScrapeError::Request(e.to_string());
    let mut response = client.get(url).send().await.map_err(request_failed)?;
    let status = response.status();
    if status.is_redirection() {
        return Err(ScrapeError::Redirect(status.as_u16()));
    }
    if !status.is_success() {
        return Err(ScrapeError::Status(status.as_u16()));
    }
    if response.content_length().is_some_and(|n| n > max_bytes as u64) {
        return Err(ScrapeError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_failed)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(ScrapeError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| ScrapeError::Format("the body is not UTF-8 text".to_string()))
}

/// The number of samples in a Prometheus text page, refusing one with more than `max_samples` before parsing it
/// (the parser allocates per sample).
pub(crate) fn count_samples(text: &str, max_samples: usize) -> Result<usize, ScrapeError> {
    let lines = text.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).count();
    if lines > max_samples {
        return Err(ScrapeError::TooManySamples(max_samples));
    }
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .map_err(|e| ScrapeError::Format(e.to_string()))?;
    Ok(scrape.samples.len())
}

/// Scrapes `url` within every bound and returns how many samples it holds.
pub(crate) async fn scrape(client: &reqwest::Client, url: &str) -> Result<usize, ScrapeError> {
    let text = fetch_bounded(client, url, MAX_SCRAPE_BYTES).await?;
    count_samples(&text, MAX_SCRAPE_SAMPLES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A tiny HTTP/1.1 server (one request per connection) on a loopback port: `/redirect` answers 302, `/huge` announces and sends 8 MiB,
    /// `/endless` streams without a length until the client hangs up, `/slow` trickles forever, `/many` holds
    /// 20,000 samples, `/ok` three.
    fn serve() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut request_line = String::new();
                    let _ = reader.read_line(&mut request_line);
                    let mut header = String::new();
                    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                        header.clear();
                    }
                    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let chunk = vec![b'#'; 64 * 1024];
                    let _ = match path.as_str() {
                        "/redirect" => stream.write_all(
                            b"HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        ),
                        "/huge" => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8388608\r\nConnection: close\r\n\r\n");
                            (0..128).try_for_each(|_| stream.write_all(&chunk))
                        }
                        "/endless" => {
                            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                            loop {
                                if stream.write_all(&chunk).is_err() {
                                    break Ok(());
                                }
                            }
                        }
                        "/slow" => {
                            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                            loop {
                                if stream.write_all(b"# still here\n").is_err() {
                                    break Ok(());
                                }
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                        "/many" | "/ok" => {
                            let n = if path == "/many" { 20_000 } else { 3 };
                            let body: String = (0..n).map(|i| format!("m{{i=\"{i}\"}} 1\n")).collect();
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            );
                            stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()))
                        }
                        _ => stream
                            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                    };
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn scrapes_give_up_on_hostile_answers() {
        let base = serve();
        let client = client().unwrap();
        assert_eq!(scrape(&client, &format!("{base}/ok")).await, Ok(3));
        assert_eq!(scrape(&client, &format!("{base}/redirect")).await, Err(ScrapeError::Redirect(302)));
        assert_eq!(scrape(&client, &format!("{base}/huge")).await, Err(ScrapeError::TooLarge(MAX_SCRAPE_BYTES)));
        assert_eq!(scrape(&client, &format!("{base}/endless")).await, Err(ScrapeError::TooLarge(MAX_SCRAPE_BYTES)));
        assert_eq!(
            scrape(&client, &format!("{base}/many")).await,
            Err(ScrapeError::TooManySamples(MAX_SCRAPE_SAMPLES))
        );
        assert_eq!(scrape(&client, &format!("{base}/missing")).await, Err(ScrapeError::Status(404)));
        // A body that never ends but stays small is cut by the deadline.
        let started = std::time::Instant::now();
        let slow = scrape(&client, &format!("{base}/slow")).await;
        assert!(matches!(slow, Err(ScrapeError::Request(_))), "{slow:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        // The reason reads as a sentence.
        assert_eq!(
            ScrapeError::Redirect(302).to_string(),
            "answered with a redirect (302); redirects are not followed"
        );
    }
}
