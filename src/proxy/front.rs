//! The plain-HTTP front: a client connection's common requests (HTTP/1.1, no body, no
//! upgrade, to a running session) are read, forwarded and answered here as bytes, without
//! hyper's server. The request head is parsed once (httparse), the upstream head written from
//! it ([`fast::upstream_head`]), and the answer's head rewritten line by line with its body
//! relayed in its own framing: a length, chunks (trailers included), or up to the upstream's
//! close (then the client's connection closes too).
//!
//! Every other request (a body, an upgrade, HTTP/1.0, `Expect`, a head it would refuse, and
//! every answer the proxy gives itself: status, 404, 421, 502 of a stopped session, 503, 508)
//! hands the connection, with the bytes read so far, to hyper's server
//! ([`super::server::serve_http`]) for good. A request is answered by one of the two, never
//! half by each: nothing of a request is consumed before it is known to be this front's.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use hyper::header::{CONTENT_LENGTH, TRAILER, TRANSFER_ENCODING};
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::fast::{self, Answer, Chunk, Framing, Step};
use super::pool::Pool;
use super::routes::{self, Decision, Target};
use super::server::{self, Shared};
use crate::adapters::proxy::PROBE_HOST;

/// Request heads larger than this go to hyper's server (which allows more, or refuses).
const MAX_HEAD: usize = 64 * 1024;
/// Request header lines parsed here at most (hyper's server's own limit).
const MAX_HEADERS: usize = 100;
/// Request targets longer than this go to hyper's server (which refuses them).
const MAX_TARGET: usize = u16::MAX as usize - 1;
/// What one read of an answer's body asks for at least.
const READ: usize = 64 * 1024;

/// What becomes of the connection after one request.
enum Next {
    /// The next request is read here.
    Read,
    /// The connection ends (the client asked, the body ran to the upstream's close, or a
    /// side failed).
    Close,
    /// The request is hyper's: the connection goes to hyper's server with its bytes.
    HandOff,
}

/// Serves a plain-HTTP client connection: here while its requests are this front's, then (at
/// the first that is not) through hyper's server.
pub(super) async fn serve(
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    mut stream: TcpStream,
    peer: SocketAddr,
) {
    let peer_ip = peer.ip().to_string();
    let mut buf = BytesMut::with_capacity(8 * 1024);
    loop {
        // As hyper's server: the header timeout runs from the wait for a request's head
        // (which also ends a connection idle for that long).
        let deadline = tokio::time::Instant::now() + shared.header_timeout;
        let next = loop {
            let mut lines = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut lines);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let next = answer(&shared, &pool, &mut stream, &req, &peer_ip).await;
                    if let Next::Read = next {
                        // A pipelined request already read is parsed before reading more.
                        buf.advance(len);
                    }
                    break next;
                }
                Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
                _ => break Next::HandOff,
            }
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(8 * 1024);
            }
            match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                // Closed, failed, or too slow to send a head: hyper's server closes too.
                _ => break Next::Close,
            }
        };
        match next {
            Next::Read => {}
            Next::Close => return linger(stream).await,
            Next::HandOff => {
                let io = TokioIo::new(Rewind {
                    read: buf.freeze(),
                    io: stream,
                });
                return server::serve_http(shared, pool, io, peer, "http").await;
            }
        }
    }
}

/// How long a connection the front ends is read (and what comes discarded) after its FIN.
const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

/// Ends a connection: a FIN after what was written, then what the client still sends is read
/// and discarded until it closes too (at most [`LINGER`]). A socket closed with bytes unread
/// sends a reset, and the kernel drops what it had not sent yet: the answer cut short at the
/// client (nginx's lingering close; hyper's server reads ahead and so avoids it).
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut scratch = [0u8; 4096];
    let drain = async {
        while let Ok(n) = stream.read(&mut scratch).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// A request this front answers: its parts the forward needs.
struct Ask<'b> {
    method: &'b str,
    target: &'b str,
    host: &'b str,
    hops: u32,
    /// The client asked to close the connection after the answer.
    close: bool,
}

impl<'b> Ask<'b> {
    /// `None`: hyper's server takes the request.
    fn of(req: &httparse::Request<'_, 'b>) -> Option<Ask<'b>> {
        let method = req.method.filter(|m| *m != "CONNECT")?;
        let target = req
            .path
            .filter(|p| p.starts_with('/') && as_hyper_takes(p))?;
        if req.version != Some(1) {
            return None;
        }
        let (mut host, mut hops, mut close, mut length) = (None, None, false, false);
        for h in req.headers.iter() {
            let is = |name: &str| h.name.eq_ignore_ascii_case(name);
            if is("host") {
                // One `Host`, as hyper's `to_str` would read it.
                let visible = h
                    .value
                    .iter()
                    .all(|&c| c == b'\t' || (0x20..0x7f).contains(&c));
                if host.is_some() || !visible {
                    return None;
                }
                host = Some(std::str::from_utf8(h.value).ok()?);
            } else if is("content-length") {
                // A second one (hyper's server passes one on) or a body: hyper's.
                if length || h.value.trim_ascii() != b"0" {
                    return None;
                }
                length = true;
            } else if is("transfer-encoding") || is("upgrade") || is("expect") {
                return None;
            } else if is("connection") {
                for token in std::str::from_utf8(h.value).ok()?.split(',') {
                    let token = token.trim();
                    if token.eq_ignore_ascii_case("upgrade") {
                        return None;
                    }
                    close |= token.eq_ignore_ascii_case("close");
                }
            } else if hops.is_none() && is(server::HOPS.as_str()) {
                hops = Some(server::hops_of(h.value));
            }
        }
        Some(Ask {
            method,
            target,
            host: host?,
            hops: hops.unwrap_or(0),
            close,
        })
    }
}

/// Whether hyper's server takes `target` as it came, by the `http` crate's URI rules beyond
/// what httparse checked: no fragment (`#`, which it drops), no `<` or `>`, no backquote in the
/// path, no `"` in the query (it refuses those). Browsers percent-encode all of them.
fn as_hyper_takes(target: &str) -> bool {
    let mut in_query = false;
    target.len() <= MAX_TARGET
        && target.bytes().all(|b| match b {
            b'#' | b'<' | b'>' => false,
            b'?' => {
                in_query = true;
                true
            }
            b'`' => in_query,
            b'"' => !in_query,
            _ => true,
        })
}

/// Answers one request here, or says it is hyper's.
async fn answer(
    shared: &Shared,
    pool: &Arc<Pool>,
    client: &mut TcpStream,
    req: &httparse::Request<'_, '_>,
    peer_ip: &str,
) -> Next {
    let Some(ask) = Ask::of(req) else {
        return Next::HandOff;
    };
    // The probe and the endpoint: hyper's server answers them without listing the sessions
    // (asked right after a session's own events, or with the engine gone).
    if ask.host == PROBE_HOST || ask.host == routes::STATUS_HOST {
        return Next::HandOff;
    }
    let Ok(table) = shared.table().await else {
        return Next::HandOff;
    };
    let Decision::Forward(route) = routes::decide(&table, Some(ask.host), ask.hops, shared.port)
    else {
        return Next::HandOff;
    };
    shared.record_activity(&route);
    let Target::Up { host, port, .. } = &route.target else {
        return Next::HandOff;
    };
    let fwd = fast::Forwarded {
        host: ask.host.as_bytes(),
        peer_ip: Some(peer_ip.as_bytes()),
        proto: "http",
        hops: ask.hops + 1,
    };
    let headers = || req.headers.iter().map(|h| (h.name, h.value));
    let head = fast::upstream_head(ask.method, ask.target, headers, &fwd);
    let next = match fast::exchange(pool, host, *port, &head).await {
        Ok(answer) => relay(pool, host, *port, client, answer, ask.method, ask.close).await,
        Err(e) => {
            let text = server::unreachable_text(&route, ask.host, &e);
            let head_only = ask.method == "HEAD";
            say(client, StatusCode::BAD_GATEWAY, &text, head_only, ask.close).await
        }
    };
    match next {
        Next::Read if ask.close => Next::Close,
        next => next,
    }
}

/// Writes one of the proxy's own plain-text answers (its head alone to a `HEAD`, whose answer
/// has no body).
async fn say(
    client: &mut TcpStream,
    status: StatusCode,
    text: &str,
    head_only: bool,
    close: bool,
) -> Next {
    let mut out = BytesMut::with_capacity(text.len() + 160);
    status_line(&mut out, status);
    out.put_slice(b"content-type: text/plain; charset=utf-8\r\ncontent-length: ");
    out.put_slice(text.len().to_string().as_bytes());
    out.put_slice(b"\r\n");
    end_head(&mut out, close);
    if !head_only {
        out.put_slice(text.as_bytes());
    }
    match client.write_all(&out).await {
        Ok(()) if !close => Next::Read,
        _ => Next::Close,
    }
}

fn status_line(out: &mut BytesMut, status: StatusCode) {
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.put_slice(b"\r\n");
}

/// The proxy's own header, `Connection: close` when the connection ends after this answer,
/// and the head's end.
fn end_head(out: &mut BytesMut, close: bool) {
    out.put_slice(server::PROXY_HEADER.as_str().as_bytes());
    out.put_slice(b": ");
    out.put_slice(env!("CARGO_PKG_VERSION").as_bytes());
    out.put_slice(b"\r\n");
    if close {
        out.put_slice(b"connection: close\r\n");
    }
    out.put_slice(b"\r\n");
}

/// Relays an upstream's answer to the client: its head without the headers of one
/// connection, then its body as it comes. The upstream's socket goes back to the pool when
/// the answer ended cleanly and the upstream keeps it alive.
async fn relay(
    pool: &Arc<Pool>,
    host: &Arc<str>,
    port: u16,
    client: &mut TcpStream,
    answer: Answer,
    method: &str,
    close: bool,
) -> Next {
    let Answer {
        mut stream,
        head,
        raw,
        mut buf,
    } = answer;
    let facts = match raw.facts(&head) {
        Ok(f) => f,
        Err(e) => {
            return say(
                client,
                StatusCode::BAD_GATEWAY,
                &fast::broken_text(&e),
                method == "HEAD",
                close,
            )
            .await
        }
    };
    let framing = fast::framing(method, raw.status, &facts);
    // The upstream's socket is kept whether or not the client's connection ends.
    let keep = facts.keep_alive && framing != Some(Framing::Close);
    let close = close || framing == Some(Framing::Close);
    let mut out = BytesMut::with_capacity(head.len() + 128 + buf.len());
    status_line(&mut out, raw.status);
    for (name, start, end) in &raw.lines {
        // The body is relayed in its own framing: its `Transfer-Encoding` and `Trailer`
        // stay true (even when `Connection` names them); a length is written once below (a
        // chunked body's is dropped).
        let framing_header = *name == TRANSFER_ENCODING || *name == TRAILER;
        if (!framing_header && (server::is_hop(name) || facts.named.contains(name)))
            || *name == server::PROXY_HEADER
            || (*name == CONTENT_LENGTH && framing.is_some())
        {
            continue;
        }
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(&head[*start..*end]);
        out.put_slice(b"\r\n");
    }
    if let Some(Framing::Length(n)) = framing {
        out.put_slice(b"content-length: ");
        out.put_slice(n.to_string().as_bytes());
        out.put_slice(b"\r\n");
    }
    end_head(&mut out, close);
    let mut body = Body {
        upstream: &mut stream,
        buf: &mut buf,
        client,
        out,
    };
    let ended = match framing {
        None => body.flush().await,
        Some(Framing::Length(n)) => body.length(n).await,
        Some(Framing::Chunked(chunk)) => body.chunked(chunk).await,
        Some(Framing::Close) => body.until_close().await,
    };
    match ended {
        Ok(()) => {
            // Bytes beyond the answer: the upstream is out of step; the socket is not reused.
            if keep && buf.is_empty() {
                pool.raw_checkin(host.clone(), port, stream);
            }
            if close {
                Next::Close
            } else {
                Next::Read
            }
        }
        // A side failed or closed inside the body: the client's connection ends with it (as
        // hyper's server ends one whose body failed).
        Err(_) => Next::Close,
    }
}

/// An answer's body on its way: `out` holds what is to be written to the client next.
struct Body<'a> {
    upstream: &'a mut TcpStream,
    buf: &'a mut BytesMut,
    client: &'a mut TcpStream,
    out: BytesMut,
}

impl Body<'_> {
    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.client.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Moves `n` bytes of the buffer to what is written next.
    fn take(&mut self, n: usize) {
        self.out.extend_from_slice(&self.buf[..n]);
        self.buf.advance(n);
    }

    /// One more read of the upstream: `Ok(0)` at its close. Fails when the client leaves
    /// first (a quiet event stream would otherwise hold the upstream until its next event;
    /// hyper's server, and nginx, end the exchange at the client's close too).
    async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(READ);
        }
        tokio::select! {
            biased;
            read = self.upstream.read_buf(self.buf) => read,
            () = gone(self.client) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the client closed its connection inside the body",
            )),
        }
    }

    async fn length(&mut self, mut left: u64) -> io::Result<()> {
        loop {
            let n = (self.buf.len() as u64).min(left);
            self.take(n as usize);
            left -= n;
            self.flush().await?;
            if left == 0 {
                return Ok(());
            }
            if self.fill().await? == 0 {
                return Err(fast::cut());
            }
        }
    }

    async fn chunked(&mut self, mut chunk: Chunk) -> io::Result<()> {
        loop {
            // How much of the buffer belongs to the body, and whether it ends there.
            let (mut at, mut ended) = (0, false);
            while !ended {
                match fast::chunk_step(&mut chunk, &self.buf[at..])? {
                    Step::Frame(n) | Step::Data(n) => at += n,
                    Step::End(n) => (at, ended) = (at + n, true),
                    Step::More => break,
                }
            }
            self.take(at);
            self.flush().await?;
            if ended {
                return Ok(());
            }
            if self.fill().await? == 0 {
                return Err(fast::cut());
            }
        }
    }

    async fn until_close(&mut self) -> io::Result<()> {
        loop {
            let n = self.buf.len();
            self.take(n);
            self.flush().await?;
            if self.fill().await? == 0 {
                return Ok(());
            }
        }
    }
}

/// Resolves when the client has closed its side of the connection, or it failed; never while
/// it has sent more (a pipelined request, read after this answer).
async fn gone(client: &TcpStream) {
    match client.peek(&mut [0u8; 1]).await {
        Ok(0) | Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}

/// A connection handed to hyper's server with the bytes this front read of it: they are read
/// again first.
struct Rewind {
    read: Bytes,
    io: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(out.remaining());
            out.put_slice(&self.read[..n]);
            self.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, out)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
