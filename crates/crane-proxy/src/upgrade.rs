//! `Upgrade` requests (WebSockets, RFC 9110 §7.8): the request goes to one backend over a connection of its own;
//! when the backend answers `101 Switching Protocols`, both connections are handed back by hyper and spliced until
//! either side closes. The spliced connection counts as a long-lived connection of the app and of the backend, and
//! holds its backend, so a removed instance drains it and closes it when the drain timeout passes.

use std::sync::Arc;

use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::http::uri::PathAndQuery;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use tower_service::Service;

use crate::balance::BackendState;
use crate::forward::{page_response, strip_hop_by_hop, Exchange, Inner, RequestBody, ResponseBody};

/// The protocol an HTTP/1.1 request asks to switch to (`Connection: upgrade` with an `Upgrade` header), if any.
pub(crate) fn requested<B>(request: &Request<B>) -> Option<HeaderValue> {
    if request.version() != Version::HTTP_11 {
        return None;
    }
    let connection_upgrade = request
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade"))));
    connection_upgrade.then(|| request.headers().get(header::UPGRADE).cloned()).flatten()
}

/// Sends the upgrade request to `backend` and, on `101`, starts splicing the two connections.
pub(crate) async fn forward(
    mut exchange: Exchange,
    backend: Arc<BackendState>,
    mut head: Parts,
    path: PathAndQuery,
    protocol: HeaderValue,
    client: OnUpgrade,
) -> Response<ResponseBody> {
    let shared = exchange.shared().clone();
    // The hop-by-hop headers were removed; the two that make this an upgrade go to the backend again.
    head.version = Version::HTTP_11;
    head.headers.remove(header::TE);
    head.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    head.headers.insert(header::UPGRADE, protocol);
    head.uri = Uri::from(path);
    let addr = backend.backend.addr;
    let now_ms = shared.started.elapsed().as_millis() as u64;
    let target = Uri::builder().scheme("http").authority(addr.to_string()).path_and_query("/").build();
    let opened = match target {
        Ok(target) => shared.connector.clone().call(target).await,
        Err(e) => Err(std::io::Error::other(e.to_string())),
    };
    let stream = match opened {
        Ok(stream) => stream,
        Err(e) => {
            backend.connect_failed(now_ms);
            return failed(exchange, &backend, &e.to_string());
        }
    };
    let handshake = hyper::client::conn::http1::Builder::new().handshake(stream).await;
    let (mut sender, connection) = match handshake {
        Ok(pair) => pair,
        Err(e) => return failed(exchange, &backend, &e.to_string()),
    };
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::trace!("upgrade connection to the backend ended: {e}");
        }
    });
    let sent = tokio::time::timeout(
        shared.config.request_timeout,
        sender.send_request(Request::from_parts(head, RequestBody::Empty)),
    )
    .await;
    let mut response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return failed(exchange, &backend, &e.to_string()),
        Err(_) => {
            let page = format!(
                "Instance '{}' of app '{}' did not answer the upgrade request within {:?}.\n",
                backend.backend.name, shared.config.app, shared.config.request_timeout
            );
            return page_response(exchange, StatusCode::GATEWAY_TIMEOUT, page.into(), false);
        }
    };
    backend.answered();
    exchange.status = response.status().as_u16();
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The backend refused the upgrade: its answer is an ordinary response.
        let (mut head, body) = response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        return Response::from_parts(head, ResponseBody { inner: Inner::Upstream(body), exchange: Some(exchange) });
    }
    let upstream = hyper::upgrade::on(&mut response);
    let (mut head, _) = response.into_parts();
    let upgrade = head.headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut head.headers);
    head.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Some(upgrade) = upgrade {
        head.headers.insert(header::UPGRADE, upgrade);
    }
    let second = shared.started.elapsed().as_secs();
    shared.app.connection_opened(second);
    backend.counters.connection_opened(second);
    tokio::spawn(async move {
        match tokio::try_join!(client, upstream) {
            Ok((client, upstream)) => {
                crate::splice::splice(TokioIo::new(client), TokioIo::new(upstream), &shared.app, &backend.counters)
                    .await;
            }
            Err(e) => tracing::debug!(app = %shared.config.app, "upgrade did not complete: {e}"),
        }
        backend.counters.connection_closed();
        shared.app.connection_closed();
        // `backend` is held until here, so a removed instance stays draining while the connection lives.
        drop(backend);
    });
    Response::from_parts(head, ResponseBody { inner: Inner::Page(None), exchange: Some(exchange) })
}

fn failed(exchange: Exchange, backend: &BackendState, why: &str) -> Response<ResponseBody> {
    let app = &exchange.shared().config.app;
    let page = format!(
        "Crane could not pass the upgrade request to instance '{}' of app '{app}': {why}.\n\
         Check the instance in the window or with `cranectl get instances {app}`.\n",
        backend.backend.name
    );
    page_response(exchange, StatusCode::BAD_GATEWAY, page.into(), false)
}
