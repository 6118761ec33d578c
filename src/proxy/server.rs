//! The proxy's server: one loopback port per address family serving HTTP/1.1 and, told apart
//! by the first byte, TLS; each request routed by `Host` against a table the engine's event
//! stream keeps fresh.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

use super::routes::{self, Decision, Route, Table, Target};
use crate::adapters::Engine;
use crate::error::{Error, Result};
use crate::ui::Ui;

type Body = BoxBody<Bytes, hyper::Error>;

/// How long a table is trusted when no event arrives (events drop it at once).
const TTL: Duration = Duration::from_secs(2);
/// The hop counter a request carries through the proxy (508 past [`routes::MAX_HOPS`]).
const HOPS: &str = "x-dev-prism-hops";

/// What the server is told at start.
pub struct Options {
    pub port: u16,
    /// Exit after this long with no running session container.
    pub idle_exit: Duration,
    /// How long a client may take to send a request's headers (hyper's own default: 30 s).
    pub header_timeout: Duration,
}

impl Options {
    /// From the environment: `DEV_PRISM_PROXY_PORT`, `DEV_PRISM_PROXY_IDLE_EXIT` (seconds,
    /// default 1800), `DEV_PRISM_PROXY_HEADER_TIMEOUT_MS` (default 30000).
    pub fn from_env() -> Options {
        let num = |key: &str, default: u64| {
            std::env::var(key)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        };
        Options {
            port: super::port(),
            idle_exit: Duration::from_secs(num("DEV_PRISM_PROXY_IDLE_EXIT", 1800)),
            header_timeout: Duration::from_millis(num("DEV_PRISM_PROXY_HEADER_TIMEOUT_MS", 30_000)),
        }
    }
}

/// Resolves upstream names: `localhost` (a wildcard binding) to both loopback addresses
/// without asking the system, anything else (a remote engine's host) through it.
#[derive(Clone)]
struct Resolve;

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

/// The cached table and a generation count events bump, so a listing that started before an
/// event never overwrites the invalidation.
#[derive(Default)]
struct Cache {
    table: Option<(Instant, Arc<Table>)>,
    generation: u64,
    /// The focus directory's mtime when the table was built: `proxy focus` renames a file into
    /// it, which makes the table stale at once.
    focus: Option<std::time::SystemTime>,
}

fn focus_stamp() -> Option<std::time::SystemTime> {
    std::fs::metadata(super::state_dir().join("focus"))
        .and_then(|m| m.modified())
        .ok()
}

struct Shared {
    engine: std::sync::Arc<dyn Engine>,
    ui: Ui,
    port: u16,
    header_timeout: Duration,
    cache: Mutex<Cache>,
    /// Serialises refreshes: one listing at a time, the others wait for its table.
    refresh: tokio::sync::Mutex<()>,
    /// The last table, read by the TLS resolver (which cannot wait).
    last: Mutex<Arc<Table>>,
    connector: HttpConnector<Resolve>,
    client: Client<HttpConnector<Resolve>, Incoming>,
    tls: OnceLock<std::result::Result<tokio_rustls::TlsAcceptor, String>>,
    /// When each session's last request was recorded.
    activity: super::activity::Throttle,
}

impl Shared {
    fn invalidate(&self) {
        if let Ok(mut c) = self.cache.lock() {
            c.table = None;
            c.generation += 1;
        }
    }

    fn cached(&self) -> (Option<Arc<Table>>, u64) {
        let c = self.cache.lock().expect("cache lock");
        let fresh = c
            .table
            .as_ref()
            .filter(|(at, _)| at.elapsed() < TTL && c.focus == focus_stamp())
            .map(|(_, t)| t.clone());
        (fresh, c.generation)
    }

    /// The table: the cached one while fresh, else one container listing.
    async fn table(&self) -> Result<Arc<Table>> {
        if let (Some(t), _) = self.cached() {
            return Ok(t);
        }
        let _one = self.refresh.lock().await;
        let (fresh, generation) = self.cached();
        if let Some(t) = fresh {
            return Ok(t);
        }
        let stamp = focus_stamp();
        let containers = self.engine.all_sessions().await?;
        let table = Arc::new(routes::table(&containers, &super::focus::all()));
        if let Ok(mut c) = self.cache.lock() {
            if c.generation == generation {
                c.table = Some((Instant::now(), table.clone()));
                c.focus = stamp;
            }
        }
        if let Ok(mut l) = self.last.lock() {
            *l = table.clone();
        }
        Ok(table)
    }

    /// Records a request for the route's session: at most once per
    /// [`super::activity::EVERY`], written on the blocking pool (never awaited here).
    fn record_activity(&self, route: &Route) {
        if let Some(project) = &route.project {
            if self.activity.due(project, Instant::now()) {
                let project = project.clone();
                tokio::task::spawn_blocking(move || super::activity::record(&project));
            }
        }
    }

    fn tls(self: &Arc<Self>) -> std::result::Result<tokio_rustls::TlsAcceptor, String> {
        let me = Arc::downgrade(self);
        self.tls
            .get_or_init(|| {
                let allowed = Box::new(move |name: &str| {
                    let Some(me) = me.upgrade() else { return false };
                    let table = me.last.lock().map(|t| t.clone()).unwrap_or_default();
                    table
                        .domains
                        .iter()
                        .any(|d| name.ends_with(&format!(".{d}")))
                });
                super::tls::acceptor(allowed).map_err(|e| e.message())
            })
            .clone()
    }
}

/// Serves until a signal, or until no session container has run for `idle_exit`. Records its
/// pid in the state directory while it runs.
pub async fn serve(engine: std::sync::Arc<dyn Engine>, opts: Options, ui: &Ui) -> Result<i32> {
    super::ensure_state_dir()?;
    let v4 = TcpListener::bind(("127.0.0.1", opts.port)).await.map_err(|e| {
        Error::failure(format!("cannot listen on 127.0.0.1:{}: {e}", opts.port)).with_hint(
            "another program (or another dev-prism proxy) holds the port: `dev-prism proxy status` says which; DEV_PRISM_PROXY_PORT picks another",
        )
    })?;
    let v6 = match TcpListener::bind((Ipv6Addr::LOCALHOST, opts.port)).await {
        Ok(l) => Some(l),
        Err(e) => {
            ui.warn(&format!("not listening on [::1]:{}: {e}", opts.port));
            None
        }
    };
    let pid_file = super::daemon::PidFile::write(opts.port)?;
    let mut connector = HttpConnector::new_with_resolver(Resolve);
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    let client = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector.clone());
    let shared = Arc::new(Shared {
        engine,
        ui: ui.clone(),
        port: opts.port,
        header_timeout: opts.header_timeout,
        cache: Mutex::new(Cache::default()),
        refresh: tokio::sync::Mutex::new(()),
        last: Mutex::new(Arc::new(Table::default())),
        connector,
        client,
        tls: OnceLock::new(),
        activity: Default::default(),
    });
    ui.status(&format!(
        "dev-prism proxy (pid {}) on http://127.0.0.1:{port}{}; engine {}",
        std::process::id(),
        if v6.is_some() {
            format!(" and http://[::1]:{}", opts.port)
        } else {
            String::new()
        },
        shared.engine.endpoint().host,
        port = opts.port,
    ));
    tokio::spawn(watch_events(shared.clone()));
    for listener in std::iter::once(v4).chain(v6) {
        tokio::spawn(accept(shared.clone(), listener));
    }
    let mut term = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut hup = signal(tokio::signal::unix::SignalKind::hangup())?;
    let code = tokio::select! {
        _ = term.recv() => 0,
        _ = int.recv() => 0,
        _ = hup.recv() => 0,
        _ = idle_exit(shared.clone(), opts.idle_exit) => {
            ui.status(&format!(
                "no session has run for {} s: the proxy ends",
                opts.idle_exit.as_secs()
            ));
            0
        }
    };
    drop(pid_file);
    Ok(code)
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind)
        .map_err(|e| Error::failure(format!("cannot watch signals: {e}")))
}

/// Drops the table on every event about a dev-prism container; reconnects when the stream
/// ends (the table's TTL covers the gap).
async fn watch_events(shared: Arc<Shared>) {
    loop {
        {
            let mut events = std::pin::pin!(shared.engine.session_events());
            while let Some(event) = events.next().await {
                shared.invalidate();
                if event.is_err() {
                    break;
                }
            }
        }
        shared.invalidate();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Resolves once no session container has run for `idle`.
async fn idle_exit(shared: Arc<Shared>, idle: Duration) {
    let tick = (idle / 4).clamp(Duration::from_millis(200), Duration::from_secs(60));
    let mut last_running = Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        match shared.table().await {
            Ok(t) if t.any_running => last_running = Instant::now(),
            // An engine that does not answer keeps the proxy: its sessions may come back.
            Err(_) => last_running = Instant::now(),
            Ok(_) => {}
        }
        if last_running.elapsed() >= idle {
            return;
        }
    }
}

async fn accept(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(shared.clone(), stream, peer));
    }
}

/// One client connection: TLS when its first byte opens a TLS handshake, else plain HTTP.
async fn connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(shared.header_timeout, stream.peek(&mut first)).await;
    if !matches!(peeked, Ok(Ok(1))) {
        return;
    }
    if first[0] == 0x16 {
        let acceptor = match shared.tls() {
            Ok(a) => a,
            Err(e) => {
                shared.ui.warn(&format!("TLS from {peer} refused: {e}"));
                return;
            }
        };
        let Ok(Ok(tls)) =
            tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
        else {
            return;
        };
        serve_http(shared, TokioIo::new(tls), peer, "https").await;
    } else {
        serve_http(shared, TokioIo::new(stream), peer, "http").await;
    }
}

async fn serve_http<I>(shared: Arc<Shared>, io: I, peer: SocketAddr, scheme: &'static str)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let timeout = shared.header_timeout;
    let svc = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move {
            let mut resp = handle(shared, req, peer, scheme).await;
            resp.headers_mut().insert(
                super::HEADER,
                HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
            );
            Ok::<_, Infallible>(resp)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(io, svc)
        .with_upgrades()
        .await;
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|n| match n {}).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
    scheme: &'static str,
) -> Response<Body> {
    let hops: u32 = req
        .headers()
        .get(HOPS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    let table = match shared.table().await {
        Ok(t) => t,
        Err(e) => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "dev-prism proxy: cannot list the sessions: {}\n",
                    e.message()
                ),
            )
        }
    };
    let port = shared.port;
    match routes::decide(&table, host.as_deref(), hops, port) {
        Decision::Forward(route) => {
            shared.record_activity(&route);
            let name = routes::host_name(host.as_deref().unwrap_or(""));
            forward(&shared, req, route, &name, host.unwrap_or_default(), peer, scheme, hops).await
        }
        Decision::Status => status(&table, port, &shared.engine.endpoint().host),
        Decision::Unknown(name) => text(
            StatusCode::NOT_FOUND,
            format!(
                "dev-prism proxy: no session answers at {name}.\n{}",
                known(&table, port, scheme)
            ),
        ),
        Decision::NotFocused { project } => text(
            StatusCode::NOT_FOUND,
            format!(
                "dev-prism proxy: no session of project {project} is focused.\nRun `dev-prism proxy focus DIR` with the session's directory to reach it at this name.\n{}",
                known(&table, port, scheme)
            ),
        ),
        Decision::Stopped { name, dir } => text(
            StatusCode::BAD_GATEWAY,
            format!(
                "dev-prism proxy: {name} belongs to the session in {dir}, which is not running.\nRun `dev-prism start {dir}` to start it; this name keeps working.\n"
            ),
        ),
        Decision::Misdirected(name) => text(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "dev-prism proxy: `{name}` is not a name under {} (names outside the proxy's domains are refused).\n",
                table.domains.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        ),
        Decision::Loop => looped(hops),
    }
}

fn looped(hops: u32) -> Response<Body> {
    text(
        StatusCode::LOOP_DETECTED,
        format!("dev-prism proxy: this request has looped back through the proxy ({hops} hops).\n"),
    )
}

/// The names the proxy knows, one URL a line.
fn known(t: &Table, port: u16, scheme: &str) -> String {
    if t.routes.is_empty() {
        return "The proxy knows no session names yet (sessions made before the proxy existed get none: `dev-prism destroy` and `create` again).\n".into();
    }
    let mut s = String::from("Sessions it knows:\n");
    let mut by_dir: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, r) in &t.routes {
        by_dir.entry(&r.dir).or_default().push(name);
    }
    for (dir, names) in by_dir {
        s.push_str(&format!("  {dir}\n"));
        for n in names {
            s.push_str(&format!("    {scheme}://{n}:{port}/\n"));
        }
    }
    s
}

fn status(t: &Table, port: u16, endpoint: &str) -> Response<Body> {
    let body = serde_json::json!({
        "pid": std::process::id(),
        "port": port,
        "endpoint": endpoint,
        "version": env!("CARGO_PKG_VERSION"),
        "names": t.routes.keys().collect::<Vec<_>>(),
    });
    let mut r = text(StatusCode::OK, format!("{body}\n"));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Headers that belong to one connection (RFC 9110 §7.6.1), and those it names.
fn strip_hop_headers(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(n);
    }
}

#[allow(clippy::too_many_arguments)]
async fn forward(
    shared: &Shared,
    mut req: Request<Incoming>,
    route: Route,
    name: &str,
    host: String,
    peer: SocketAddr,
    scheme: &'static str,
    hops: u32,
) -> Response<Body> {
    let Target::Up {
        host: up_host,
        port: up_port,
        needs_forward,
    } = route.target
    else {
        unreachable!("decide forwards only running targets")
    };
    let upgrade = req
        .headers()
        .get(hyper::header::UPGRADE)
        .cloned()
        .filter(|_| {
            req.headers()
                .get_all(hyper::header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| {
                    v.split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
                })
        });
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
    let authority = format!("{}:{up_port}", crate::desired::address::url_host(&up_host));
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let uri: hyper::Uri = match format!("http://{authority}{path}").parse() {
        Ok(u) => u,
        Err(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                "dev-prism proxy: bad request target\n".into(),
            )
        }
    };
    *req.uri_mut() = uri.clone();
    let headers = req.headers_mut();
    strip_hop_headers(headers);
    if let Ok(v) = HeaderValue::from_str(&host) {
        headers.insert("x-forwarded-host", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static(scheme));
    let ip = peer.ip().to_string();
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert(HOPS, HeaderValue::from(hops + 1));
    if let Some(u) = &upgrade {
        headers.insert(hyper::header::UPGRADE, u.clone());
        headers.insert(
            hyper::header::CONNECTION,
            HeaderValue::from_static("upgrade"),
        );
    }
    let unreachable = |e: String| {
        let hint = match &needs_forward {
            Some(engine_host) => format!(
                "Its ports are published on {engine_host}'s loopback: run `dev-prism forward {}` to bring them here.\n",
                route.dir
            ),
            None => format!(
                "Is the service still starting? `dev-prism info {}` shows its state.\n",
                route.dir
            ),
        };
        text(
            StatusCode::BAD_GATEWAY,
            format!(
                "dev-prism proxy: {name} (session {}) does not answer at {authority}: {e}\n{hint}",
                route.dir
            ),
        )
    };
    let Some(client_upgrade) = client_upgrade else {
        return match shared.client.request(req).await {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_headers(&mut parts.headers);
                Response::from_parts(parts, body.boxed())
            }
            Err(e) => unreachable(crate::error::chain(&e)),
        };
    };
    // An upgrade (WebSocket, HMR): its own upstream connection, then bytes both ways for as
    // long as both sides keep it open (no idle timeout).
    let mut connector = shared.connector.clone();
    let io = match tower_service::Service::call(&mut connector, uri).await {
        Ok(io) => io,
        Err(e) => return unreachable(crate::error::chain(&e)),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(io).await {
        Ok(x) => x,
        Err(e) => return unreachable(crate::error::chain(&e)),
    };
    tokio::spawn(conn.with_upgrades());
    // A connection of its own speaks origin-form (`GET /path`), as the pooled client does.
    if let Ok(origin) = path.parse() {
        *req.uri_mut() = origin;
    }
    let mut resp = match sender.send_request(req).await {
        Ok(r) => r,
        Err(e) => return unreachable(crate::error::chain(&e)),
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            if let (Ok(client), Ok(upstream)) = tokio::join!(client_upgrade, upstream_upgrade) {
                let _ = tokio::io::copy_bidirectional(
                    &mut TokioIo::new(client),
                    &mut TokioIo::new(upstream),
                )
                .await;
            }
        });
        let (parts, body) = resp.into_parts();
        return Response::from_parts(parts, body.boxed());
    }
    let (mut parts, body) = resp.into_parts();
    strip_hop_headers(&mut parts.headers);
    Response::from_parts(parts, body.boxed())
}
