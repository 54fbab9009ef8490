//! Passing bytes both ways between a client and a backend, for upgraded HTTP connections (WebSockets) and tcp
//! ports, counting them as they go so the metrics show live traffic.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::metrics::Counters;

/// Size of the buffer of each direction.
const BUFFER: usize = 16 * 1024;

/// Copies client → backend and backend → client until the backend side ends (or either side fails). When the client
/// stops sending, the backend is told so (half-close) and its answer still flows back; when the backend closes,
/// the client connection is closed, as NGINX's `stream` module does. Bytes are added to `app` and `instance` as
/// they pass: client → backend as `bytes_in`, backend → client as `bytes_out`.
pub(crate) async fn splice<C, B>(client: C, backend: B, app: &Counters, instance: &Counters)
where
    C: AsyncRead + AsyncWrite,
    B: AsyncRead + AsyncWrite,
{
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut backend_read, mut backend_write) = tokio::io::split(backend);
    let up = async {
        let sent = pump(&mut client_read, &mut backend_write, |n| {
            app.add_bytes_in(n);
            instance.add_bytes_in(n);
        })
        .await;
        if sent.is_ok() {
            // The client half-closed: wait for the backend to finish its answer.
            std::future::pending::<()>().await;
        }
    };
    let down = pump(&mut backend_read, &mut client_write, |n| {
        app.add_bytes_out(n);
        instance.add_bytes_out(n);
    });
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
    let _ = client_write.shutdown().await;
    let _ = backend_write.shutdown().await;
}

/// Copies `from` into `to` until `from` ends, then shuts `to`'s writing side down.
async fn pump<R, W>(from: &mut R, to: &mut W, mut count: impl FnMut(u64)) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; BUFFER];
    loop {
        let n = from.read(&mut buffer).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        to.write_all(&buffer[..n]).await?;
        count(n as u64);
    }
}
