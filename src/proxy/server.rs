//! The proxy's server: one loopback port per address family serving HTTP/1.1 and, told apart
//! by the first byte, TLS; each request routed by `Host` against a table the engine's event
//! stream keeps fresh.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

use super::pool::{Failed, Pool};

use super::routes::{self, Decision, Route, Table, Target};
use crate::adapters::Engine;
use crate::error::{Error, Result};
use crate::ui::Ui;

use super::fast::Body;

/// How long a table is trusted when no event arrives (events drop it at once).
const TTL: Duration = Duration::from_secs(2);
/// The hop counter a request carries through the proxy (508 past [`routes::MAX_HOPS`]).
pub(super) const HOPS: HeaderName = HeaderName::from_static("x-dev-prism-hops");
/// How often the focus directory's mtime is looked at: `proxy focus` renames a file into it,
/// which makes the table stale within this time (a `stat` per request cost more than the
/// rest of the routing), and at once when `proxy focus` then asks for the status (as it does).
const FOCUS_CHECK: Duration = Duration::from_millis(20);

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

/// The cached table and a generation count events bump, so a listing that started before an
/// event never overwrites the invalidation.
#[derive(Default)]
struct Cache {
    table: Option<(Instant, Arc<Table>)>,
    generation: u64,
    /// The focus directory's mtime when the table was built: `proxy focus` renames a file into
    /// it, which makes the table stale (looked at every [`FOCUS_CHECK`]).
    focus: Option<std::time::SystemTime>,
    /// When the focus directory's mtime was last looked at, and whether it still matched.
    focus_checked: Option<Instant>,
}

fn focus_stamp() -> Option<std::time::SystemTime> {
    std::fs::metadata(super::state_dir().join("focus"))
        .and_then(|m| m.modified())
        .ok()
}

pub(super) struct Shared {
    engine: std::sync::Arc<dyn Engine>,
    ui: Ui,
    pub(super) port: u16,
    pub(super) header_timeout: Duration,
    cache: Mutex<Cache>,
    /// Serialises refreshes: one listing at a time, the others wait for its table.
    refresh: tokio::sync::Mutex<()>,
    /// The last table, read by the TLS resolver (which cannot wait).
    last: Mutex<Arc<Table>>,
    tls: OnceLock<std::result::Result<tokio_rustls::TlsAcceptor, String>>,
    /// When each session's last request was recorded.
    activity: super::activity::Throttle,
}

impl Shared {
    pub(super) fn new(
        engine: std::sync::Arc<dyn Engine>,
        ui: Ui,
        port: u16,
        header_timeout: Duration,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            engine,
            ui,
            port,
            header_timeout,
            cache: Mutex::new(Cache::default()),
            refresh: tokio::sync::Mutex::new(()),
            last: Mutex::new(Arc::new(Table::default())),
            tls: OnceLock::new(),
            activity: Default::default(),
        })
    }

    fn invalidate(&self) {
        if let Ok(mut c) = self.cache.lock() {
            c.table = None;
            c.generation += 1;
        }
    }

    /// The next request looks at the focus directory's mtime, however recently it was.
    fn recheck_focus(&self) {
        if let Ok(mut c) = self.cache.lock() {
            c.focus_checked = None;
        }
    }

    fn cached(&self) -> (Option<Arc<Table>>, u64) {
        let mut c = self.cache.lock().expect("cache lock");
        let now = Instant::now();
        let Some((_, table)) = c
            .table
            .as_ref()
            .filter(|(at, _)| now.saturating_duration_since(*at) < TTL)
        else {
            return (None, c.generation);
        };
        let table = table.clone();
        if c.focus_checked
            .is_some_and(|t| now.saturating_duration_since(t) < FOCUS_CHECK)
        {
            return (Some(table), c.generation);
        }
        if c.focus != focus_stamp() {
            return (None, c.generation);
        }
        c.focus_checked = Some(now);
        (Some(table), c.generation)
    }

    /// The table: the cached one while fresh, else one container listing.
    pub(super) async fn table(&self) -> Result<Arc<Table>> {
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
                c.focus_checked = Some(Instant::now());
            }
        }
        if let Ok(mut l) = self.last.lock() {
            *l = table.clone();
        }
        Ok(table)
    }

    /// Records a request for the route's session: at most once per
    /// [`super::activity::EVERY`], written on the blocking pool (never awaited here).
    pub(super) fn record_activity(&self, route: &Route) {
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
    let workers = Arc::new(workers(opts.header_timeout)?);
    let shared = Shared::new(engine, ui.clone(), opts.port, opts.header_timeout);
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
        tokio::spawn(accept(shared.clone(), workers.clone(), listener));
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

/// Resolves once no session container has run for `idle`. An engine that does not answer
/// counts as none running (the proxy can see none): a proxy whose engine went away for good
/// (a removed context, a stopped VM) ends like an idle one instead of living forever, and one
/// whose engine comes back within the idle time carries on.
async fn idle_exit(shared: Arc<Shared>, idle: Duration) {
    let tick = (idle / 4).clamp(Duration::from_millis(200), Duration::from_secs(60));
    let mut last_running = Instant::now();
    let mut said = false;
    loop {
        tokio::time::sleep(tick).await;
        match shared.table().await {
            Ok(t) if t.any_running => {
                last_running = Instant::now();
                said = false;
            }
            Ok(_) => said = false,
            Err(e) => {
                if !said {
                    shared.ui.warn(&format!(
                        "the engine does not answer ({}): counted as no session running",
                        e.message()
                    ));
                    said = true;
                }
            }
        }
        if last_running.elapsed() >= idle {
            return;
        }
    }
}

/// A thread with a runtime of its own, serving the client connections handed to it, with its
/// own pool of upstream connections.
struct Worker {
    runtime: tokio::runtime::Handle,
    pool: Arc<Pool>,
}

/// One worker per core. Each client connection lives on one worker, with its requests and
/// their upstream connections: nothing wakes a task on another thread (measured against
/// tokio's work-stealing runtime and a shared pool: docs/benchmarks.md).
fn workers(header_timeout: Duration) -> Result<Vec<Worker>> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tick = (header_timeout / 2).max(Duration::from_millis(10));
    let connector = super::pool::connector();
    (0..n)
        .map(|i| {
            let (tx, rx) = std::sync::mpsc::channel();
            let pool = Pool::new(connector.clone());
            let tended = pool.clone();
            std::thread::Builder::new()
                .name(format!("proxy-{i}"))
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => {
                            let _ = tx.send(Ok(rt.handle().clone()));
                            rt.block_on(tend(tick, tended));
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                })
                .map_err(|e| Error::failure(format!("cannot start a proxy thread: {e}")))?;
            let runtime = rx
                .recv()
                .map_err(|e| Error::failure(format!("cannot start a proxy thread: {e}")))?
                .map_err(|e| Error::failure(format!("cannot start the async runtime: {e}")))?;
            Ok(Worker { runtime, pool })
        })
        .collect()
}

/// A worker's own chores, every `tick` (half the header timeout): its pool swept of idle
/// connections that closed or aged ([`Pool::sweep`]); and, by sleeping, a timer that always
/// expires before any header timeout set after it. hyper arms a header timer for every
/// request, and tokio wakes its driver through an eventfd write whenever a new timer expires
/// before every armed one (with none armed, always); with this one armed, a request's timer
/// never does: one system call and one spurious `epoll_wait` return less per request
/// (measured: docs/benchmarks.md "Proxy").
async fn tend(tick: Duration, pool: Arc<Pool>) {
    loop {
        tokio::time::sleep(tick).await;
        pool.sweep();
    }
}

/// Accepts connections and hands them to the workers in turn.
async fn accept(shared: Arc<Shared>, workers: Arc<Vec<Worker>>, listener: TcpListener) {
    let mut next = 0usize;
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Registered again with the worker's runtime.
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        let worker = &workers[next % workers.len()];
        next = next.wrapping_add(1);
        let (shared, pool) = (shared.clone(), worker.pool.clone());
        worker.runtime.spawn(async move {
            if let Ok(stream) = TcpStream::from_std(stream) {
                connection(shared, pool, stream, peer).await;
            }
        });
    }
}

/// One client connection: TLS when its first byte opens a TLS handshake, else plain HTTP.
async fn connection(shared: Arc<Shared>, pool: Arc<Pool>, stream: TcpStream, peer: SocketAddr) {
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
        serve_http(shared, pool, TokioIo::new(tls), peer, "https").await;
    } else {
        super::front::serve(shared, pool, stream, peer).await;
    }
}

pub(super) async fn serve_http<I>(
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    io: I,
    peer: SocketAddr,
    scheme: &'static str,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let timeout = shared.header_timeout;
    // Made once per connection, not per request.
    let client = Client {
        shared,
        pool,
        peer_ip: HeaderValue::from_str(&peer.ip().to_string()).ok(),
        scheme,
    };
    let client = Arc::new(client);
    let svc = hyper::service::service_fn(move |req| {
        let client = client.clone();
        async move {
            let mut resp = handle(&client, req).await;
            resp.headers_mut().insert(
                PROXY_HEADER,
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

/// What a request's handling needs from its connection.
struct Client {
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    /// The peer's address as `X-Forwarded-For` gives it.
    peer_ip: Option<HeaderValue>,
    scheme: &'static str,
}

pub(super) fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|n| match n {}).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn handle(client: &Client, req: Request<Incoming>) -> Response<Body> {
    let shared = &client.shared;
    let scheme = client.scheme;
    let hops = req.headers().get(HOPS).map_or(0, |v| hops_of(v.as_bytes()));
    // A clone of a header value shares its bytes.
    let host = req.headers().get(hyper::header::HOST).cloned().or_else(|| {
        req.uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let host_str = host.as_ref().and_then(|v| v.to_str().ok());
    // "Who answers on this port?" (`create`, `start` and `apply` ask it once they ran) needs no
    // routes: answered before the table, which after the session's own events means listing
    // every session on the engine first (0.2–0.4 s at 40 sessions on Podman, measured).
    if host_str == Some(crate::adapters::proxy::PROBE_HOST) {
        return text(
            StatusCode::MISDIRECTED_REQUEST,
            "dev-prism proxy: this name is the proxy's own probe\n".into(),
        );
    }
    // Which engine it serves (`create`, `start` and `apply` ask before they make anything):
    // no routes needed either.
    if host_str == Some(routes::STATUS_HOST) && req.uri().path() == routes::ENDPOINT_PATH {
        return json(serde_json::json!({
            "pid": std::process::id(),
            "port": shared.port,
            "endpoint": &shared.engine.endpoint().host,
            "version": env!("CARGO_PKG_VERSION"),
        }));
    }
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
    match routes::decide(&table, host_str, hops, port) {
        Decision::Forward(route) => {
            shared.record_activity(&route);
            let host = host.unwrap_or_else(|| HeaderValue::from_static(""));
            forward(client, req, &route, host, hops).await
        }
        Decision::Status => {
            // `proxy focus` asks for the status once it has written the focus file.
            shared.recheck_focus();
            status(&table, port, &shared.engine.endpoint().host)
        }
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
        return "The proxy knows no session names yet (a session whose containers were made without a name keeps none: `dev-prism plan` in its directory says how to give it one).\n".into();
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
    json(serde_json::json!({
        "pid": std::process::id(),
        "port": port,
        "endpoint": endpoint,
        "version": env!("CARGO_PKG_VERSION"),
        "names": t.routes.keys().collect::<Vec<_>>(),
    }))
}

fn json(body: serde_json::Value) -> Response<Body> {
    let mut r = text(StatusCode::OK, format!("{body}\n"));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub(super) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(super) const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub(super) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(super) const PROXY_HEADER: HeaderName = HeaderName::from_static(super::HEADER);

/// Whether `n` belongs to one connection (RFC 9110 §7.6.1), never forwarded.
pub(super) fn is_hop(n: &HeaderName) -> bool {
    is_hop_name(n.as_str())
}

/// The headers that belong to one connection (RFC 9110 §7.6.1), never forwarded.
const HOP: [&str; 9] = [
    "connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "proxy-authenticate",
    "proxy-authorization",
    "keep-alive",
    "proxy-connection",
];

/// [`is_hop`] for a name as the client wrote it (any case).
pub(super) fn is_hop_name(n: &str) -> bool {
    // `eq_ignore_ascii_case` compares the lengths first: most names are told apart by that.
    HOP.iter().any(|h| n.eq_ignore_ascii_case(h))
}

/// The header names a `Connection` header lists besides `close`, `keep-alive` and `upgrade`
/// (they belong to the connection too).
pub(super) fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect()
}

/// Headers that belong to one connection (RFC 9110 §7.6.1), and those it names.
fn strip_hop_headers(headers: &mut HeaderMap) {
    // Most messages have none: one pass over the names instead of a removal per name.
    if !headers.keys().any(is_hop) {
        return;
    }
    if headers.contains_key(hyper::header::CONNECTION) {
        for n in connection_named(headers) {
            headers.remove(n);
        }
    }
    for n in HOP {
        headers.remove(n);
    }
}

/// The hop count an `X-Dev-Prism-Hops` value says (0 when it says none).
pub(super) fn hops_of(value: &[u8]) -> u32 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `X-Dev-Prism-Hops` values without formatting (a forwarded request has fewer than
/// [`routes::MAX_HOPS`]).
pub(super) fn hops_value(hops: u32) -> HeaderValue {
    match hops {
        1 => HeaderValue::from_static("1"),
        2 => HeaderValue::from_static("2"),
        3 => HeaderValue::from_static("3"),
        n => HeaderValue::from(n),
    }
}

/// The 502's text for a route whose upstream gave no answer (`host`: the client's `Host`).
pub(super) fn unreachable_text(route: &Route, host: &str, e: &str) -> String {
    let Target::Up {
        host: up_host,
        port: up_port,
        needs_forward,
    } = &route.target
    else {
        unreachable!("decide forwards only running targets")
    };
    let name = routes::host_name(host);
    let hint = match needs_forward {
        Some(engine_host) => format!(
            "Its ports are published on {engine_host}'s loopback: run `dev-prism forward {}` to bring them here.\n",
            route.dir
        ),
        None => format!(
            "Is the service still starting? `dev-prism info {}` shows its state.\n",
            route.dir
        ),
    };
    format!(
        "dev-prism proxy: {name} (session {}) does not answer at {}:{up_port}: {e}\n{hint}",
        route.dir,
        crate::desired::address::url_host(up_host),
    )
}

async fn forward(
    client: &Client,
    mut req: Request<Incoming>,
    route: &Route,
    host: HeaderValue,
    hops: u32,
) -> Response<Body> {
    let Target::Up {
        host: up_host,
        port: up_port,
        ..
    } = &route.target
    else {
        unreachable!("decide forwards only running targets")
    };
    let up_port = *up_port;
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
    let unreachable = |e: String| {
        text(
            StatusCode::BAD_GATEWAY,
            unreachable_text(route, host.to_str().unwrap_or(""), &e),
        )
    };
    // A request without a body or an upgrade: the fast path, around hyper's client (its head
    // written from the client's headers, no header map edited).
    if client_upgrade.is_none() {
        let forwarded = super::fast::Forwarded {
            host: host.as_bytes(),
            peer_ip: client.peer_ip.as_ref().map(HeaderValue::as_bytes),
            proto: client.scheme,
            hops: hops + 1,
        };
        if let Some(head) = super::fast::head(&req, &forwarded) {
            return match super::fast::send(&client.pool, up_host, up_port, head, req.method()).await
            {
                Ok(resp) => resp,
                Err(e) => unreachable(e),
            };
        }
    }
    // Upstreams get origin-form (`GET /path?query`), whatever form the client used.
    if req.uri().scheme().is_some() || req.uri().authority().is_some() {
        let origin = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .unwrap_or_else(|_| hyper::Uri::from_static("/"));
        *req.uri_mut() = origin;
    }
    let headers = req.headers_mut();
    strip_hop_headers(headers);
    let xff = match headers
        .get(X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .zip(client.peer_ip.as_ref().and_then(|v| v.to_str().ok()))
    {
        Some((prev, ip)) => HeaderValue::from_str(&format!("{prev}, {ip}")).ok(),
        None => client.peer_ip.clone(),
    };
    if let Some(v) = xff {
        headers.insert(X_FORWARDED_FOR, v);
    }
    if !headers.contains_key(hyper::header::HOST) {
        headers.insert(hyper::header::HOST, host.clone());
    }
    headers.insert(X_FORWARDED_HOST, host.clone());
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(client.scheme));
    headers.insert(HOPS, hops_value(hops + 1));
    if let Some(u) = &upgrade {
        headers.insert(hyper::header::UPGRADE, u.clone());
        headers.insert(
            hyper::header::CONNECTION,
            HeaderValue::from_static("upgrade"),
        );
    }
    let Some(client_upgrade) = client_upgrade else {
        return match client.pool.send(up_host, up_port, req).await {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_headers(&mut parts.headers);
                Response::from_parts(parts, body.map_err(Into::into).boxed())
            }
            Err(Failed::Connect(e)) => unreachable(e),
            Err(Failed::Exchange(e)) => unreachable(crate::error::chain(&e)),
        };
    };
    // An upgrade (WebSocket, HMR): its own upstream connection, then bytes both ways for as
    // long as both sides keep it open (no idle timeout).
    let io = match client.pool.dial(up_host, up_port).await {
        Ok(io) => io,
        Err(e) => return unreachable(e),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(io).await {
        Ok(x) => x,
        Err(e) => return unreachable(crate::error::chain(&e)),
    };
    tokio::spawn(conn.with_upgrades());
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
        return Response::from_parts(parts, body.map_err(Into::into).boxed());
    }
    let (mut parts, body) = resp.into_parts();
    strip_hop_headers(&mut parts.headers);
    Response::from_parts(parts, body.map_err(Into::into).boxed())
}
