//! Keep-alive connections to upstreams: one pool per worker thread (so a request, its upstream
//! connection and its client connection are driven on one thread, with no wake-ups across
//! threads), keyed by the upstream's host and port. A connection goes back to its pool when
//! the response's body has ended; a connection the upstream closed while idle is dropped on
//! checkout, and a request it refused before a byte was sent is retried once on a new one.

use std::future::Future;
use std::net::{Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;

/// An idle connection older than this is closed (what the pooled client did before).
const IDLE: Duration = Duration::from_secs(90);
/// Idle connections kept per upstream (nginx's `keepalive 64` in the benchmark).
const MAX_IDLE: usize = 64;

/// Resolves upstream names: `localhost` (a wildcard binding) to both loopback addresses
/// without asking the system, anything else (a remote engine's host) through it.
#[derive(Clone)]
pub struct Resolve;

impl tower_service::Service<Name> for Resolve {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future =
        Pin<Box<dyn Future<Output = std::io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let host = name.as_str().to_string();
        Box::pin(async move {
            if host == "localhost" {
                return Ok(vec![
                    SocketAddr::from(([127, 0, 0, 1], 0)),
                    SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
                ]
                .into_iter());
            }
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(found.into_iter())
        })
    }
}

/// The connector every upstream connection is made with: TCP_NODELAY, 5 s to connect, both
/// loopback families for `localhost`.
pub fn connector() -> HttpConnector<Resolve> {
    let mut c = HttpConnector::new_with_resolver(Resolve);
    c.set_nodelay(true);
    c.set_connect_timeout(Some(Duration::from_secs(5)));
    c
}

/// An idle connection to `host:port`: hyper's sender, or a plain socket of the fast path
/// ([`super::fast`]) between exchanges.
struct Idle<C> {
    host: Arc<str>,
    port: u16,
    conn: C,
    since: Instant,
}

/// The most recently used idle connection to `host:port` that `usable` accepts (younger than
/// [`IDLE`]); the ones it refuses on the way are dropped.
fn take<C>(
    idle: &mut Vec<Idle<C>>,
    host: &str,
    port: u16,
    usable: impl Fn(&C) -> bool,
) -> Option<C> {
    while let Some(i) = idle
        .iter()
        .rposition(|c| c.port == port && &*c.host == host)
    {
        let c = idle.remove(i);
        if c.since.elapsed() < IDLE && usable(&c.conn) {
            return Some(c.conn);
        }
    }
    None
}

/// Whether an idle socket's upstream has neither closed it nor sent anything since it went
/// idle (a `recv` that would block says so; none is made while the reactor saw nothing).
fn quiet(s: &tokio::net::TcpStream) -> bool {
    matches!(s.try_read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Keeps `conn` (at most [`MAX_IDLE`] per upstream, the oldest dropped); drops the entries
/// older than [`IDLE`] or that `open` refuses.
fn put<C>(idle: &mut Vec<Idle<C>>, host: Arc<str>, port: u16, conn: C, open: impl Fn(&C) -> bool) {
    let now = Instant::now();
    if idle
        .first()
        .is_some_and(|c| now.duration_since(c.since) >= IDLE)
    {
        idle.retain(|c| now.duration_since(c.since) < IDLE && open(&c.conn));
    }
    let same = idle
        .iter()
        .filter(|c| c.port == port && c.host == host)
        .count();
    if same >= MAX_IDLE {
        if let Some(oldest) = idle.iter().position(|c| c.port == port && c.host == host) {
            idle.remove(oldest);
        }
    }
    idle.push(Idle {
        host,
        port,
        conn,
        since: now,
    });
}

/// One worker's idle upstream connections; `B` is the request body (the client's, streamed).
/// hyper's connections and the fast path's sockets are kept apart (a socket handed to hyper
/// never comes back).
pub struct Pool<B = Incoming> {
    idle: Mutex<Vec<Idle<SendRequest<B>>>>,
    raw: Mutex<Vec<Idle<tokio::net::TcpStream>>>,
    connector: HttpConnector<Resolve>,
}

/// Why a request got no response.
pub enum Failed {
    /// No connection could be made.
    Connect(String),
    /// The connection failed during the exchange.
    Exchange(hyper::Error),
}

impl<B> Pool<B> {
    /// The most recently used idle socket to `host:port` whose upstream has neither closed
    /// it nor sent anything since (one `recv` that would block says so).
    pub(super) fn raw_checkout(&self, host: &str, port: u16) -> Option<tokio::net::TcpStream> {
        let mut idle = self.raw.lock().ok()?;
        take(&mut idle, host, port, quiet)
    }

    /// Drops the idle connections older than [`IDLE`] or that their upstream closed: without
    /// a request to the same upstream they would otherwise stay (in CLOSE_WAIT, or holding a
    /// dev server's connection) until the next one. Each worker calls it every few seconds.
    pub(super) fn sweep(&self) {
        let now = Instant::now();
        let young = |since: Instant| now.duration_since(since) < IDLE;
        if let Ok(mut idle) = self.idle.lock() {
            idle.retain(|c| young(c.since) && !c.conn.is_closed());
        }
        if let Ok(mut raw) = self.raw.lock() {
            raw.retain(|c| young(c.since) && quiet(&c.conn));
        }
    }

    /// Idle connections kept: (hyper's, the fast path's).
    #[cfg(test)]
    pub(super) fn idle_counts(&self) -> (usize, usize) {
        let idle = self.idle.lock().map_or(0, |i| i.len());
        (idle, self.raw.lock().map_or(0, |r| r.len()))
    }

    /// Keeps `stream` for the next exchange with `host:port`.
    pub(super) fn raw_checkin(&self, host: Arc<str>, port: u16, stream: tokio::net::TcpStream) {
        if let Ok(mut idle) = self.raw.lock() {
            put(&mut idle, host, port, stream, |_| true);
        }
    }

    /// The most recently used idle connection to `host:port` that is still open.
    fn checkout(&self, host: &str, port: u16) -> Option<SendRequest<B>> {
        let mut idle = self.idle.lock().ok()?;
        take(&mut idle, host, port, |s| !s.is_closed())
    }

    fn checkin(&self, host: Arc<str>, port: u16, sender: SendRequest<B>) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            put(&mut idle, host, port, sender, |s| !s.is_closed());
        }
    }
}

impl<B> Pool<B>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    pub fn new(connector: HttpConnector<Resolve>) -> Arc<Pool<B>> {
        Arc::new(Pool {
            idle: Mutex::new(Vec::new()),
            raw: Mutex::new(Vec::new()),
            connector,
        })
    }

    /// A new connection to `host:port` (its connection task runs on this thread's runtime).
    async fn connect(&self, host: &str, port: u16) -> Result<SendRequest<B>, String> {
        let io = self.dial(host, port).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| crate::error::chain(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// A TCP connection to `host:port` (`host` an IP address or a name).
    pub async fn dial(
        &self,
        host: &str,
        port: u16,
    ) -> Result<TokioIo<tokio::net::TcpStream>, String> {
        let host = crate::desired::address::url_host(host);
        let uri: hyper::Uri = format!("http://{host}:{port}/")
            .parse()
            .map_err(|e| format!("{e}"))?;
        let mut connector = self.connector.clone();
        tower_service::Service::call(&mut connector, uri)
            .await
            .map_err(|e| crate::error::chain(&e))
    }

    /// Sends `req` (origin-form, its `Host` kept) to `host:port` on an idle connection, else a
    /// new one; the response's body returns the connection here when it ends.
    pub async fn send(
        self: &Arc<Self>,
        host: &Arc<str>,
        port: u16,
        req: Request<B>,
    ) -> Result<Response<Pooled<B>>, Failed> {
        let mut req = req;
        // An idle connection the upstream closed meanwhile refuses the request before sending
        // a byte: then once more on a new connection.
        let mut fresh = false;
        loop {
            let mut sender = match self.checkout(host, port) {
                Some(s) => s,
                None => {
                    fresh = true;
                    self.connect(host, port).await.map_err(Failed::Connect)?
                }
            };
            if sender.ready().await.is_err() {
                if fresh {
                    return Err(Failed::Connect("the connection closed at once".into()));
                }
                continue;
            }
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let pooled = Pooled {
                        body,
                        back: Some((self.clone(), host.clone(), port, sender)),
                        ended: false,
                    };
                    return Ok(Response::from_parts(parts, pooled));
                }
                Err(mut e) => match e.take_message() {
                    Some(back) if !fresh => req = back,
                    _ => return Err(Failed::Exchange(e.into_error())),
                },
            }
        }
    }
}

/// Where a connection goes back to: its pool, under its upstream's host and port.
type Back<B> = (Arc<Pool<B>>, Arc<str>, u16, SendRequest<B>);

/// A response body from a pooled connection: passes frames through unchanged and returns the
/// connection to its pool once the body has ended (a body dropped before its end closes it).
pub struct Pooled<B = Incoming> {
    body: Incoming,
    back: Option<Back<B>>,
    ended: bool,
}

impl<B> Body for Pooled<B>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.ended = true,
            Poll::Ready(Some(Err(_))) => self.back = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl<B> Drop for Pooled<B> {
    fn drop(&mut self) {
        if let Some((pool, host, port, sender)) = self.back.take() {
            if self.ended || self.body.is_end_stream() {
                pool.checkin(host, port, sender);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
