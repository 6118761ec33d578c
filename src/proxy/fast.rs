//! The fast path around hyper's client, for the common request: plain HTTP/1.1, no body, no
//! upgrade. The proxy writes the request head itself to a pooled upstream socket, parses the
//! response head with httparse and relays the body by its framing (length, chunked, or up to
//! the upstream's close), all in the request's own task: no connection task, no channel and
//! no second encoding of the request. Anything else (a request body, an upgrade, `CONNECT`)
//! takes hyper's client ([`super::pool::Pool::send`]).
//!
//! A socket goes back to its worker's pool when its response has ended cleanly and the
//! upstream keeps it alive; one the upstream closed while idle is dropped on checkout, and a
//! request that finds a reused socket closed before a byte of the answer came is sent once
//! more on a new one (it had no body, so nothing of it was consumed).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::{Frame, SizeHint};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::pool::Pool;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Every response body the proxy serves.
pub type Body = BoxBody<Bytes, BoxError>;

/// Response heads larger than this are refused (hyper's client allows about as much).
const MAX_HEAD: usize = 64 * 1024;
/// Response header lines parsed at most.
const MAX_HEADERS: usize = 128;
/// What one read of a body asks for at most.
const READ: usize = 64 * 1024;

/// What the proxy adds to a forwarded request.
pub struct Forwarded<'a> {
    /// The client's `Host` (also `X-Forwarded-Host`, and `Host` when the request had none).
    pub host: &'a [u8],
    /// The client's address (appended to `X-Forwarded-For`).
    pub peer_ip: Option<&'a [u8]>,
    /// `http` or `https` (`X-Forwarded-Proto`).
    pub proto: &'static str,
    /// The hop count the request leaves with (`X-Dev-Prism-Hops`).
    pub hops: u32,
}

/// The head to send upstream for `req` on the fast path, written from the client's headers
/// (no header map edited). `None`: the request takes hyper's client (a body, `CONNECT`, a
/// target that is not a path).
pub fn head<B: hyper::body::Body>(req: &Request<B>, fwd: &Forwarded<'_>) -> Option<Bytes> {
    if !req.body().is_end_stream() || req.method() == Method::CONNECT {
        return None;
    }
    // Upstreams get origin-form (`GET /path?query`), whatever form the client used.
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    if !(target.starts_with('/') || target == "*") {
        return None;
    }
    let headers = || {
        req.headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
    };
    Some(upstream_head(req.method().as_str(), target, headers, fwd))
}

/// The head to send upstream: origin-form request line, the client's headers without those
/// of one connection (names compared without case), `Host` kept, `X-Forwarded-Host/Proto/For`
/// and the hop count set. `headers` walks the client's headers (twice: once to size and read
/// `Connection`, once to write).
pub fn upstream_head<'h, I>(
    method: &str,
    target: &str,
    headers: impl Fn() -> I,
    fwd: &Forwarded<'_>,
) -> Bytes
where
    I: Iterator<Item = (&'h str, &'h [u8])>,
{
    use super::server::{hops_value, is_hop_name, HOPS};
    let is = |n: &str, name: &str| n.eq_ignore_ascii_case(name);
    // The header names a `Connection` header lists belong to the connection too.
    let mut named: Vec<&str> = Vec::new();
    let mut len = method.len() + target.len() + 128 + 2 * fwd.host.len();
    for (n, v) in headers() {
        len += n.len() + v.len() + 4;
        if is(n, "connection") {
            let tokens = std::str::from_utf8(v).unwrap_or("").split(',');
            named.extend(tokens.map(str::trim).filter(|t| !t.is_empty()));
        }
    }
    let mut b = BytesMut::with_capacity(len);
    let line = |b: &mut BytesMut, name: &[u8], value: &[u8]| {
        b.put_slice(name);
        b.put_slice(b": ");
        b.put_slice(value);
        b.put_slice(b"\r\n");
    };
    b.put_slice(method.as_bytes());
    b.put_u8(b' ');
    b.put_slice(target.as_bytes());
    b.put_slice(b" HTTP/1.1\r\n");
    let mut has_host = false;
    let mut has_length = false;
    let mut prev_for = None;
    for (n, v) in headers() {
        if is_hop_name(n) || named.iter().any(|t| is(n, t)) {
            continue;
        }
        if is(n, "x-forwarded-for") {
            prev_for = prev_for.or(Some(v));
            continue;
        }
        if is(n, "x-forwarded-host") || is(n, "x-forwarded-proto") || is(n, HOPS.as_str()) {
            continue;
        }
        has_host |= is(n, "host");
        has_length |= is(n, "content-length");
        line(&mut b, n.as_bytes(), v);
    }
    if !has_host {
        line(&mut b, b"host", fwd.host);
    }
    match (prev_for, fwd.peer_ip) {
        (Some(prev), Some(ip)) => {
            b.put_slice(b"x-forwarded-for: ");
            b.put_slice(prev);
            b.put_slice(b", ");
            b.put_slice(ip);
            b.put_slice(b"\r\n");
        }
        (Some(v), None) | (None, Some(v)) => line(&mut b, b"x-forwarded-for", v),
        (None, None) => {}
    }
    line(&mut b, b"x-forwarded-host", fwd.host);
    line(&mut b, b"x-forwarded-proto", fwd.proto.as_bytes());
    line(
        &mut b,
        HOPS.as_str().as_bytes(),
        hops_value(fwd.hops).as_bytes(),
    );
    // What hyper's client adds to a bodiless request of a method that usually has one.
    if matches!(method, "POST" | "PUT" | "PATCH") && !has_length {
        line(&mut b, b"content-length", b"0");
    }
    b.put_slice(b"\r\n");
    b.freeze()
}

/// How a response's body ends (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// This many bytes are left.
    Length(u64),
    Chunked(Chunk),
    /// Up to the upstream's close (the socket is not reused).
    Close,
}

/// Where a chunked body's decoding stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Chunk {
    Size,
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines up to the empty line (trailers are dropped, as hop-by-hop framing).
    Trailer,
}

/// What the bytes at the start of a chunked body are, from where its decoding stands.
pub(super) enum Step {
    /// This many bytes of framing (a size line, a chunk's CRLF, a trailer line).
    Frame(usize),
    /// This many bytes of data.
    Data(usize),
    /// This many bytes of framing end the body (the empty line after the trailers).
    End(usize),
    /// More bytes are needed to tell.
    More,
}

/// A chunk size line or a trailer line longer than this fails the body (else an upstream
/// could make the proxy buffer without end; hyper's own limit on extensions is as much).
const MAX_LINE: usize = 16 * 1024;

/// One step through a chunked body: what the first of `bytes` are, `chunk` moved past them.
/// A framing line must end with CRLF and hold no other CR or LF (the front relays these
/// lines: a bare LF, a line's end to many clients, would frame the body differently there).
pub(super) fn chunk_step(chunk: &mut Chunk, bytes: &[u8]) -> io::Result<Step> {
    Ok(match *chunk {
        Chunk::Size => match httparse::parse_chunk_size(bytes) {
            // httparse takes any byte in an extension, a bare LF included.
            Ok(httparse::Status::Complete((used, _))) if bytes[..used - 2].contains(&b'\n') => {
                return Err(bad("a chunk size line with a bare LF"))
            }
            Ok(httparse::Status::Complete((used, size))) => {
                *chunk = if size == 0 {
                    Chunk::Trailer
                } else {
                    Chunk::Data(size)
                };
                Step::Frame(used)
            }
            Ok(httparse::Status::Partial) if bytes.len() > MAX_LINE => {
                return Err(bad("a chunk size line longer than 16 KiB"))
            }
            Ok(httparse::Status::Partial) => Step::More,
            Err(_) => return Err(bad("an invalid chunk size")),
        },
        Chunk::Data(_) if bytes.is_empty() => Step::More,
        Chunk::Data(left) => {
            let n = (bytes.len() as u64).min(left);
            *chunk = if n == left {
                Chunk::DataEnd
            } else {
                Chunk::Data(left - n)
            };
            Step::Data(n as usize)
        }
        Chunk::DataEnd if bytes.len() < 2 => Step::More,
        Chunk::DataEnd if &bytes[..2] != b"\r\n" => return Err(bad("a chunk without its CRLF")),
        Chunk::DataEnd => {
            *chunk = Chunk::Size;
            Step::Frame(2)
        }
        // Trailer lines up to the empty line.
        Chunk::Trailer => match bytes.iter().position(|&b| b == b'\n') {
            Some(lf) if lf == 0 || bytes[..lf - 1].contains(&b'\r') || bytes[lf - 1] != b'\r' => {
                return Err(bad("a trailer line not ended by CRLF"))
            }
            Some(1) => Step::End(2),
            Some(lf) => Step::Frame(lf + 1),
            None if bytes.len() > MAX_LINE => return Err(bad("a trailer line longer than 16 KiB")),
            None => Step::More,
        },
    })
}

/// Sends `head` (from [`head`]) to `host:port` on a pooled socket, else a new one, and
/// returns the response with its body streaming from the socket. `Err`: no response head came
/// (the caller answers 502 with the reason).
pub async fn send<B>(
    pool: &Arc<Pool<B>>,
    host: &Arc<str>,
    port: u16,
    head: Bytes,
    method: &Method,
) -> Result<Response<Body>, String>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let answer = exchange(pool, host, port, &head).await?;
    Ok(respond(pool, host, port, answer, method))
}

/// An upstream's answer: its socket, the head (as sent, with the parse of its lines), and
/// what came after the head in the same reads.
pub(super) struct Answer {
    pub stream: TcpStream,
    pub head: Bytes,
    pub raw: RawHead,
    pub buf: BytesMut,
}

/// Sends `head` to `host:port` on a pooled socket, else a new one, and reads the answer's
/// head (interim 1xx answers skipped). A reused socket the upstream had closed before a byte
/// of the answer came is replaced once (the request had no body: nothing of it was used).
pub(super) async fn exchange<B>(
    pool: &Arc<Pool<B>>,
    host: &Arc<str>,
    port: u16,
    head: &[u8],
) -> Result<Answer, String>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut retried = false;
    loop {
        let (mut stream, reused) = match pool.raw_checkout(host, port) {
            Some(s) if !retried => (s, true),
            _ => (pool.dial(host, port).await?.into_inner(), false),
        };
        let mut buf = BytesMut::with_capacity(8 * 1024);
        let got = match stream.write_all(head).await {
            Ok(()) => read_head(&mut stream, &mut buf).await,
            Err(e) => Err(e),
        };
        match got {
            Ok(Some((head, raw))) => {
                return Ok(Answer {
                    stream,
                    head,
                    raw,
                    buf,
                })
            }
            // A reused socket the upstream had closed: once more on a new one.
            Ok(None) | Err(_) if reused && buf.is_empty() => retried = true,
            Ok(None) => return Err("the upstream closed the connection without an answer".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// What an answer's head says of its body and its connection.
pub(super) struct Facts {
    /// `Transfer-Encoding` was given; whether its last coding is `chunked`.
    pub chunked: Option<bool>,
    /// `Content-Length` (its values all agree).
    pub length: Option<u64>,
    /// The socket may carry another exchange after this one.
    pub keep_alive: bool,
    /// Header names the answer's `Connection` lists (they belong to the connection).
    pub named: Vec<HeaderName>,
}

/// A parsed response head: the response's parts (body still empty) and its framing facts.
struct Parsed {
    status: StatusCode,
    version: Version,
    /// Without the headers of one connection.
    headers: HeaderMap,
    facts: Facts,
}

/// Reads and parses a response head into `buf` (which keeps what follows it), skipping
/// interim 1xx answers. `Ok(None)`: the upstream closed before a byte came.
async fn read_head(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> io::Result<Option<(Bytes, RawHead)>> {
    loop {
        if let Some((len, raw)) = parse_head(buf)? {
            let head = buf.split_to(len).freeze();
            // Interim answers (100, 102, 103) are not relayed; a 101 to a request that asked
            // for no upgrade is a broken upstream.
            if raw.status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(bad("a 101 answer to a request without Upgrade"));
            }
            if !raw.status.is_informational() {
                return Ok(Some((head, raw)));
            }
            continue;
        }
        if buf.len() >= MAX_HEAD {
            return Err(bad("the answer's head is larger than 64 KiB"));
        }
        buf.reserve(8 * 1024);
        if stream.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(bad(
                    "the upstream closed the connection inside the answer's head",
                ))
            };
        }
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// What [`parse_head`] found: header lines as offsets into the head (so they can be shared
/// out of its bytes once it is split off the buffer).
pub(super) struct RawHead {
    pub status: StatusCode,
    pub version: Version,
    pub lines: Vec<(HeaderName, usize, usize)>,
}

impl RawHead {
    /// What the head says of the body and the connection. `Err`: it contradicts itself.
    pub fn facts(&self, head: &[u8]) -> io::Result<Facts> {
        let mut facts = Facts {
            chunked: None,
            length: None,
            keep_alive: self.version != Version::HTTP_10,
            named: Vec::new(),
        };
        for (name, start, end) in &self.lines {
            let value = std::str::from_utf8(&head[*start..*end]).unwrap_or("");
            if *name == hyper::header::CONNECTION {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        facts.keep_alive = false;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        facts.keep_alive = true;
                    } else if let Ok(n) = HeaderName::try_from(token) {
                        facts.named.push(n);
                    }
                }
            } else if *name == hyper::header::TRANSFER_ENCODING {
                let last = value.rsplit(',').next().unwrap_or("");
                facts.chunked = Some(last.trim().eq_ignore_ascii_case("chunked"));
            } else if *name == hyper::header::CONTENT_LENGTH {
                for part in value.split(',') {
                    let n: u64 = part
                        .trim()
                        .parse()
                        .map_err(|_| bad("an invalid Content-Length"))?;
                    if facts.length.is_some_and(|l| l != n) {
                        return Err(bad("differing Content-Length values"));
                    }
                    facts.length = Some(n);
                }
            }
        }
        Ok(facts)
    }

    fn into_parsed(self, head: &Bytes) -> io::Result<Parsed> {
        let facts = self.facts(head)?;
        let mut headers = HeaderMap::with_capacity(self.lines.len());
        for (name, start, end) in self.lines {
            if super::server::is_hop(&name) || facts.named.contains(&name) {
                continue;
            }
            let value = HeaderValue::from_maybe_shared(head.slice(start..end))
                .map_err(|_| bad("an invalid header value"))?;
            headers.append(name, value);
        }
        Ok(Parsed {
            status: self.status,
            version: self.version,
            headers,
            facts,
        })
    }
}

/// Parses the head at the start of `buf`: `None` while incomplete.
fn parse_head(buf: &[u8]) -> io::Result<Option<(usize, RawHead)>> {
    let mut lines = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut lines);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(bad(&format!("an invalid answer head ({e})"))),
    };
    let status =
        StatusCode::from_u16(resp.code.unwrap_or(0)).map_err(|_| bad("an invalid status"))?;
    let version = if resp.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let base = buf.as_ptr() as usize;
    let mut out = Vec::with_capacity(resp.headers.len());
    for h in resp.headers.iter() {
        let name =
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| bad("an invalid header name"))?;
        let start = h.value.as_ptr() as usize - base;
        out.push((name, start, start + h.value.len()));
    }
    Ok(Some((
        len,
        RawHead {
            status,
            version,
            lines: out,
        },
    )))
}

/// How the body of a response to `method` with this status and these facts ends; `None`: it
/// has none.
pub(super) fn framing(method: &str, status: StatusCode, facts: &Facts) -> Option<Framing> {
    if method == "HEAD" || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return None;
    }
    Some(match (facts.chunked, facts.length) {
        (Some(true), _) => Framing::Chunked(Chunk::Size),
        (Some(false), _) | (None, None) => Framing::Close,
        (None, Some(n)) => Framing::Length(n),
    })
}

/// The response for the client, its body reading on from the answer's buffer and socket;
/// the socket goes back to the pool at once when the whole body is already in the buffer.
fn respond<B>(
    pool: &Arc<Pool<B>>,
    host: &Arc<str>,
    port: u16,
    answer: Answer,
    method: &Method,
) -> Response<Body>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let Answer {
        stream,
        head,
        raw,
        mut buf,
    } = answer;
    let parsed = match raw.into_parsed(&head) {
        Ok(p) => p,
        Err(e) => return broken(&e),
    };
    let framing = framing(method.as_str(), parsed.status, &parsed.facts);
    let keep = parsed.facts.keep_alive && !matches!(framing, Some(Framing::Close));
    let mut resp = Response::new(());
    *resp.status_mut() = parsed.status;
    *resp.version_mut() = parsed.version;
    *resp.headers_mut() = parsed.headers;
    let give_back = |buf: &BytesMut, stream: TcpStream| {
        // Bytes beyond the answer: the upstream is out of step; the socket is not reused.
        if keep && buf.is_empty() {
            pool.raw_checkin(host.clone(), port, stream);
        }
    };
    let body: Body = match framing {
        None | Some(Framing::Length(0)) => {
            give_back(&buf, stream);
            Empty::new().map_err(|n| match n {}).boxed()
        }
        Some(Framing::Length(n)) if buf.len() as u64 >= n => {
            let bytes = buf.split_to(n as usize).freeze();
            give_back(&buf, stream);
            Full::new(bytes).map_err(|n| match n {}).boxed()
        }
        Some(framing) => Streamed {
            stream: Some(stream),
            buf,
            framing,
            keep,
            back: Some((pool.clone() as Arc<dyn CheckIn>, host.clone(), port)),
            done: false,
        }
        .map_err(Into::into)
        .boxed(),
    };
    resp.map(|()| body)
}

/// The 502 for an answer whose head contradicts itself.
pub(super) fn broken(e: &io::Error) -> Response<Body> {
    super::server::text(StatusCode::BAD_GATEWAY, broken_text(e))
}

pub(super) fn broken_text(e: &io::Error) -> String {
    format!("dev-prism proxy: the upstream's answer is broken: {e}\n")
}

/// Where a socket goes back to (the pool's request-body type does not matter here).
trait CheckIn: Send + Sync {
    fn checkin(&self, host: Arc<str>, port: u16, stream: TcpStream);
}

impl<B: Send + 'static> CheckIn for Pool<B>
where
    Pool<B>: Send + Sync,
{
    fn checkin(&self, host: Arc<str>, port: u16, stream: TcpStream) {
        self.raw_checkin(host, port, stream);
    }
}

/// A response body read from the upstream socket as the client takes it (never buffered
/// beyond one read). A body dropped before its end closes the socket.
struct Streamed {
    stream: Option<TcpStream>,
    buf: BytesMut,
    framing: Framing,
    keep: bool,
    back: Option<(Arc<dyn CheckIn>, Arc<str>, u16)>,
    done: bool,
}

impl Streamed {
    /// One more read into the buffer: `Ok(0)` at the upstream's close.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(stream) = self.stream.as_ref() else {
            return Poll::Ready(Ok(0));
        };
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(READ);
        }
        loop {
            ready!(stream.poll_read_ready(cx))?;
            match stream.try_read_buf(&mut self.buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    }

    /// The body has ended: the socket goes back when it may carry another exchange.
    fn finish(&mut self) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        self.give_back();
        Poll::Ready(None)
    }

    fn give_back(&mut self) {
        self.done = true;
        if let (Some(stream), Some((pool, host, port))) = (self.stream.take(), self.back.take()) {
            if self.keep && self.buf.is_empty() {
                pool.checkin(host, port, stream);
            }
        }
    }

    fn data(&mut self, n: usize) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        Poll::Ready(Some(Ok(Frame::data(self.buf.split_to(n).freeze()))))
    }
}

pub(super) fn cut() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the upstream closed the connection inside the body",
    )
}

impl hyper::body::Body for Streamed {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let me = &mut *self;
        if me.done {
            return Poll::Ready(None);
        }
        loop {
            match me.framing {
                Framing::Length(0) => return me.finish(),
                Framing::Length(left) => {
                    if !me.buf.is_empty() {
                        let n = (me.buf.len() as u64).min(left);
                        me.framing = Framing::Length(left - n);
                        let frame = me.data(n as usize);
                        // The server stops asking once the length is served: the socket
                        // goes back with the last frame.
                        if n == left {
                            me.give_back();
                        }
                        return frame;
                    }
                }
                Framing::Close => {
                    if !me.buf.is_empty() {
                        let n = me.buf.len();
                        return me.data(n);
                    }
                }
                Framing::Chunked(ref mut chunk) => match chunk_step(chunk, &me.buf) {
                    Ok(Step::Frame(n)) => {
                        me.buf.advance(n);
                        continue;
                    }
                    Ok(Step::Data(n)) => return me.data(n),
                    Ok(Step::End(n)) => {
                        me.buf.advance(n);
                        return me.finish();
                    }
                    Ok(Step::More) => {}
                    Err(e) => return Poll::Ready(Some(Err(e))),
                },
            }
            let before = me.buf.len();
            match ready!(me.poll_fill(cx)) {
                Ok(0) if me.framing == Framing::Close => return me.finish(),
                Ok(0) => return Poll::Ready(Some(Err(cut()))),
                Ok(_) => debug_assert!(me.buf.len() > before),
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.framing == Framing::Length(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
