//! The front between a raw client and the scripted upstream of the fast path's tests, with
//! a fake engine holding one running session: requests answered here, requests handed to
//! hyper's server with their bytes, pipelining, each framing, closes and the header timeout.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::adapters::fake::FakeEngine;
use crate::compose::labels;
use crate::observed::State;
use crate::proxy::fast::tests::upstream;
use crate::proxy::routes::tests::container;

const HOST: &str = "web.s.p.localhost";

/// A front serving one running session (`web.s.p.localhost` → `127.0.0.1:up`); its address.
async fn front(up: u16, header_timeout: Duration) -> SocketAddr {
    front_and_engine(up, header_timeout).await.0
}

/// [`front`] and its fake engine (which records the calls made to it).
async fn front_and_engine(up: u16, header_timeout: Duration) -> (SocketAddr, FakeEngine) {
    let engine = FakeEngine::default();
    let mut web = container("web", "s.p", "/work/s", State::Running, &[(80, up)]);
    web.labels
        .insert(labels::MANAGED.to_string(), "true".to_string());
    engine.state.lock().unwrap().containers.push(web);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ui = crate::ui::Ui::new(true, false, crate::ui::ColorChoice::Never, false);
    let shared = Shared::new(Arc::new(engine.clone()), ui, addr.port(), header_timeout);
    let pool = Pool::new(super::super::pool::connector());
    tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            tokio::spawn(serve(shared.clone(), pool.clone(), stream, peer));
        }
    });
    (addr, engine)
}

/// Writes `requests` at once on one connection and reads until the front closes it.
async fn talk(addr: SocketAddr, requests: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(requests.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("the front closed the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// The head the upstream got for `GET /echo` with `extra` header lines (lowercased), through
/// a new front.
async fn echoed(extra: &str) -> String {
    let (up, _) = upstream();
    let addr = front(up, Duration::from_secs(30)).await;
    let t = talk(addr, &get("/echo", extra)).await;
    t.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// Two `GET /` on one connection, the second closing it: the transcript.
async fn twice(addr: SocketAddr) -> String {
    talk(
        addr,
        &[get("/", ""), get("/", "Connection: close\r\n")].concat(),
    )
    .await
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{extra}\r\n")
}

/// The answers in a transcript, split at their status lines (no body here holds one).
fn answers(transcript: &str) -> Vec<&str> {
    let starts: Vec<usize> = transcript
        .match_indices("HTTP/1.")
        .map(|(i, _)| i)
        .collect();
    starts
        .iter()
        .zip(starts.iter().skip(1).chain([&transcript.len()]))
        .map(|(&a, &b)| &transcript[a..b])
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn pipelined_requests_are_answered_here_in_each_framing_on_one_upstream_connection() {
    let (up, count) = upstream();
    let addr = front(up, Duration::from_secs(30)).await;
    let requests = [
        get("/", ""),
        get("/chunked", ""),
        get("/", "Content-Length: 0\r\n"),
        format!("HEAD / HTTP/1.1\r\nHost: {HOST}\r\n\r\n"),
        get("/nocontent", ""),
        get("/notmodified", ""),
        get("/interim", ""),
        get("/", "Connection: close\r\n"),
    ]
    .concat();
    let t = talk(addr, &requests).await;
    let a = answers(&t);
    assert_eq!(a.len(), 8, "{t}");
    // Answered here: no `date` (hyper's server adds one), the proxy's header on each.
    for answer in &a {
        assert!(answer.contains("x-dev-prism-proxy: "), "{answer}");
        assert!(!answer.to_ascii_lowercase().contains("date:"), "{answer}");
    }
    assert!(a[0].starts_with("HTTP/1.1 200 OK\r\n"), "{}", a[0]);
    assert!(a[0].contains("x-up: yes\r\n") && a[0].ends_with("\r\n\r\nconn 1"));
    assert!(a[0].contains("content-length: 6\r\n"), "{}", a[0]);
    // Chunked: relayed in its own framing, extension and trailer included; the header the
    // upstream's `Connection` names, and `Connection` itself, are not passed on.
    assert!(a[1].contains("transfer-encoding: chunked\r\n"), "{}", a[1]);
    assert!(
        a[1].ends_with("\r\n\r\n5\r\nhello\r\n8;ext=1\r\n, conn 1\r\n0\r\nX-Trailer: t\r\n\r\n"),
        "{}",
        a[1]
    );
    assert!(!a[1].contains("x-secret") && !a[1].contains("connection:"));
    assert!(a[2].ends_with("conn 1"));
    // HEAD: the length GET would have, no body; 204 and 304: none either.
    assert!(a[3].contains("content-length: 6\r\n") && a[3].ends_with("\r\n\r\n"));
    assert!(a[4].starts_with("HTTP/1.1 204 No Content\r\n") && a[4].ends_with("\r\n\r\n"));
    assert!(a[5].starts_with("HTTP/1.1 304 Not Modified\r\n") && a[5].ends_with("\r\n\r\n"));
    assert!(a[5].contains("etag: \"x\"\r\n"));
    // An interim 103 is not relayed.
    assert!(a[6].starts_with("HTTP/1.1 200 OK\r\n") && a[6].ends_with("conn 1"));
    // The client's close: said, then done.
    assert!(a[7].contains("connection: close\r\n") && a[7].ends_with("conn 1"));
    // The upstream's socket outlives the client's close: the next client is served on it.
    let t = talk(addr, &get("/", "Connection: close\r\n")).await;
    assert!(t.ends_with("conn 1"), "{t}");
    assert_eq!(count.load(Ordering::SeqCst), 1, "one upstream connection");
}

#[tokio::test(flavor = "current_thread")]
async fn the_upstream_gets_the_forwarded_headers_without_those_of_the_connection() {
    let echo = echoed(
        "Connection: close, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: 5\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: evil\r\nX-Dev-Prism-Hops: 1\r\nX-Kept: yes\r\n",
    )
    .await;
    assert!(echo.starts_with("get /echo http/1.1\r\n"), "{echo}");
    for kept in [
        "host: web.s.p.localhost\r\n",
        "x-kept: yes\r\n",
        "x-forwarded-for: 10.0.0.1, 127.0.0.1\r\n",
        "x-forwarded-host: web.s.p.localhost\r\n",
        "x-forwarded-proto: http\r\n",
        "x-dev-prism-hops: 2\r\n",
    ] {
        assert!(echo.contains(kept), "{kept:?} in {echo}");
    }
    for dropped in ["x-drop", "keep-alive", "connection", "evil"] {
        assert!(!echo.contains(dropped), "{dropped:?} in {echo}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_that_is_not_the_fronts_hands_the_connection_to_hyper_with_its_bytes() {
    let (up, count) = upstream();
    let addr = front(up, Duration::from_secs(30)).await;
    // Answered here, then an unknown name (hyper's 404), then hyper's fast path, then HTTP/1.0
    // (hyper again): all written at once, so the handed-over bytes hold three requests.
    let requests = [
        get("/", ""),
        "GET / HTTP/1.1\r\nHost: nope.s.p.localhost\r\n\r\n".to_string(),
        get("/", ""),
        format!("GET / HTTP/1.0\r\nHost: {HOST}\r\n\r\n"),
    ]
    .concat();
    let t = talk(addr, &requests).await;
    let a = answers(&t);
    assert_eq!(a.len(), 4, "{t}");
    assert!(
        a[0].ends_with("conn 1") && !a[0].contains("date:"),
        "{}",
        a[0]
    );
    assert!(a[1].starts_with("HTTP/1.1 404 Not Found\r\n"), "{}", a[1]);
    assert!(a[1].contains("no session answers at nope.s.p.localhost"));
    assert!(a[1].contains("date:"), "hyper's server answered: {}", a[1]);
    assert!(
        a[2].ends_with("conn 1") && a[2].contains("date:"),
        "{}",
        a[2]
    );
    assert!(a[3].ends_with("conn 1"), "{}", a[3]);
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "the pooled socket was shared"
    );
    // A request with a body goes to hyper at once.
    let t = talk(
        addr,
        &format!("POST /echo HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"),
    )
    .await;
    assert!(
        t.starts_with("HTTP/1.1 200 OK\r\n") && t.contains("date:"),
        "{t}"
    );
    assert!(
        t.contains("content-length: 3\r\n"),
        "the upstream saw the body's length: {t}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn closes_and_failures_end_the_connection_or_answer_502() {
    let (up, _) = upstream();
    let addr = front(up, Duration::from_secs(30)).await;
    // A body up to the upstream's close: the client's connection closes after it (the
    // request behind it is not answered).
    let t = talk(addr, &[get("/eof", ""), get("/", "")].concat()).await;
    assert_eq!(answers(&t).len(), 1, "{t}");
    assert!(
        t.contains("connection: close\r\n") && t.ends_with("conn 1 until close"),
        "{t}"
    );
    // A body cut short: the connection ends inside it.
    let t = talk(addr, &[get("/cut", ""), get("/", "")].concat()).await;
    assert!(
        t.contains("content-length: 10\r\n") && t.ends_with("\r\n\r\nab"),
        "{t}"
    );
    // An upstream that closes after answering: the next request gets a new socket.
    let t = talk(
        addr,
        &[get("/drop", ""), get("/", "Connection: close\r\n")].concat(),
    )
    .await;
    assert_eq!(answers(&t).len(), 2, "{t}");
    // 5 MiB by its length, intact.
    let t = {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(get("/big", "Connection: close\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        out
    };
    let start = t.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body = &t[start..];
    assert_eq!(body.len(), 5 * 1024 * 1024);
    assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    // An upstream that is gone: 502 naming the session, and the connection goes on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = front(dead, Duration::from_secs(30)).await;
    let t = twice(addr).await;
    let a = answers(&t);
    assert_eq!(a.len(), 2, "{t}");
    for answer in a {
        assert!(
            answer.starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
            "{answer}"
        );
        assert!(answer.contains("(session /work/s) does not answer at 127.0.0.1:"));
    }
    // A HEAD's 502 has its length and no body (the text would be read as the next answer).
    let t = talk(
        addr,
        &[
            format!("HEAD / HTTP/1.1\r\nHost: {HOST}\r\n\r\n"),
            get("/", "Connection: close\r\n"),
        ]
        .concat(),
    )
    .await;
    let a = answers(&t);
    assert_eq!(a.len(), 2, "{t}");
    assert!(a[0].starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{}", a[0]);
    assert!(
        a[0].contains("content-length: ") && a[0].ends_with("\r\n\r\n"),
        "{}",
        a[0]
    );
    assert!(a[1].starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{}", a[1]);
    assert!(a[1].ends_with("shows its state.\n"), "{}", a[1]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_head_slower_than_the_header_timeout_ends_the_connection() {
    let (up, _) = upstream();
    let addr = front(up, Duration::from_millis(300)).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {HOST}\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    assert!(
        matches!(read, Ok(Ok(0))),
        "closed without an answer: {out:?}"
    );
    // An idle connection ends too (after a first answer).
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(get("/", "").as_bytes()).await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    assert!(matches!(read, Ok(Ok(_))), "closed once idle");
    assert!(String::from_utf8_lossy(&out).ends_with("conn 1"));
}

/// An upstream that runs `serve` on each connection, in a thread of its own.
fn scripted(serve: impl Fn(std::net::TcpStream) + Send + Sync + 'static) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let serve = Arc::new(serve);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let serve = serve.clone();
            std::thread::spawn(move || serve(stream));
        }
    });
    port
}

/// An upstream that gives `answer` to every request.
fn answering(answer: &'static [u8]) -> u16 {
    scripted(move |mut s| {
        use std::io::Write;
        while crate::proxy::pool::tests::read_head(&mut s).is_some() {
            if s.write_all(answer).is_err() {
                return;
            }
        }
    })
}

#[tokio::test(flavor = "current_thread")]
async fn a_chunked_answer_keeps_its_transfer_encoding_whatever_its_connection_header_names() {
    // `Connection` naming `Transfer-Encoding` (nonsense, but an upstream may say it): the
    // body is relayed chunked, so the client must be told so, or it reads it up to a close
    // that never comes and takes the next answer for more of it.
    let up = answering(
        b"HTTP/1.1 200 OK\r\nConnection: transfer-encoding, trailer\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    let addr = front(up, Duration::from_secs(30)).await;
    let t = twice(addr).await;
    let a = answers(&t);
    assert_eq!(a.len(), 2, "{t}");
    for answer in a {
        assert!(
            answer.contains("transfer-encoding: chunked\r\n"),
            "{answer}"
        );
        assert!(
            answer.ends_with("\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
            "{answer}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_probe_and_the_endpoint_are_answered_without_listing_the_sessions() {
    // `create`/`start`/`apply` and `proxy stop` ask them right after the sessions' own events
    // (or with the engine gone): hyper's server answers them before any listing.
    let (up, _) = upstream();
    let (addr, engine) = front_and_engine(up, Duration::from_secs(30)).await;
    let probe = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        crate::adapters::proxy::PROBE_HOST
    );
    let t = talk(addr, &probe).await;
    assert!(t.starts_with("HTTP/1.1 421 "), "{t}");
    assert!(t.contains("x-dev-prism-proxy: "), "{t}");
    let endpoint = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        routes::ENDPOINT_PATH,
        routes::STATUS_HOST
    );
    let t = talk(addr, &endpoint).await;
    assert!(t.starts_with("HTTP/1.1 200 OK\r\n"), "{t}");
    assert!(t.contains("\"endpoint\":\"unix:///fake.sock\""), "{t}");
    let listed = engine
        .calls()
        .iter()
        .filter(|c| *c == "all_sessions")
        .count();
    assert_eq!(listed, 0, "{:?}", engine.calls());
}

#[tokio::test(flavor = "current_thread")]
async fn a_chunk_size_line_that_never_ends_ends_the_connection() {
    // 4 MiB of one chunk extension: the front gives up instead of buffering it all (and an
    // endless one for good).
    let up = scripted(|mut s| {
        use std::io::Write;
        if crate::proxy::pool::tests::read_head(&mut s).is_some() {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;");
            let junk = vec![b'a'; 64 * 1024];
            for _ in 0..64 {
                if s.write_all(&junk).is_err() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_secs(30));
        }
    });
    let addr = front(up, Duration::from_secs(30)).await;
    let t = talk(addr, &get("/", "")).await;
    assert!(
        t.ends_with("transfer-encoding: chunked\r\nx-dev-prism-proxy: 0.1.0\r\n\r\n"),
        "{t}"
    );
}

#[test]
fn chunk_framing_lines_end_with_crlf_and_are_bounded() {
    let step = |chunk: Chunk, bytes: &[u8]| {
        let mut c = chunk;
        fast::chunk_step(&mut c, bytes).map(|s| match s {
            Step::Frame(n) => format!("frame {n}"),
            Step::Data(n) => format!("data {n}"),
            Step::End(n) => format!("end {n}"),
            Step::More => "more".into(),
        })
    };
    assert_eq!(step(Chunk::Size, b"5;a=b\r\nhello").unwrap(), "frame 7");
    assert_eq!(step(Chunk::Trailer, b"X: y\r\n\r\n").unwrap(), "frame 6");
    assert_eq!(step(Chunk::Trailer, b"\r\n").unwrap(), "end 2");
    // A bare LF is a line's end to many clients: relayed, it would frame the body
    // differently there than here.
    assert!(step(Chunk::Size, b"5;a\nhello\r\n").is_err());
    assert!(step(Chunk::Trailer, b"X: y\n\r\n").is_err());
    assert!(step(Chunk::Trailer, b"\n").is_err());
    assert!(step(Chunk::Trailer, b"X: y\rz\r\n").is_err());
    // A line still open past 16 KiB.
    let long = [b"5;".as_slice(), &[b'a'; 16 * 1024]].concat();
    assert!(step(Chunk::Size, &long).is_err());
    let long = [b"X: ".as_slice(), &[b'a'; 16 * 1024]].concat();
    assert!(step(Chunk::Trailer, &long).is_err());
    assert_eq!(step(Chunk::Trailer, &long[..1000]).unwrap(), "more");
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_gone_inside_a_quiet_body_closes_the_upstream() {
    // An event stream that sends nothing for a while: the client leaves, and the upstream's
    // socket is closed then, not at the stream's next event (as hyper's server does).
    let (tx, rx) = std::sync::mpsc::channel::<bool>();
    let tx = std::sync::Mutex::new(tx);
    let up = scripted(move |mut s| {
        use std::io::{Read, Write};
        if crate::proxy::pool::tests::read_head(&mut s).is_some() {
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let closed = matches!(s.read(&mut [0u8; 16]), Ok(0));
            let _ = tx.lock().unwrap().send(closed);
        }
    });
    let addr = front(up, Duration::from_secs(30)).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(get("/events", "").as_bytes()).await.unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"hello\r\n") {
        let mut b = [0u8; 1024];
        let n = s.read(&mut b).await.unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&b[..n]);
    }
    drop(s);
    let closed = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(closed, Ok(true), "the upstream saw its socket closed");
}

#[tokio::test(flavor = "current_thread")]
async fn pipelined_requests_split_at_every_byte_are_answered_alike() {
    let (up, _) = upstream();
    let addr = front(up, Duration::from_secs(30)).await;
    let requests = [
        format!("\r\nHEAD / HTTP/1.1\r\nHost: {HOST}\r\n\r\n"),
        get("/chunked", "X-A: 1\r\n"),
        "GET / HTTP/1.1\r\nHost: nope.s.p.localhost\r\n\r\n".to_string(),
        get("/", "Connection: close\r\n"),
    ]
    .concat();
    for at in 0..=requests.len() {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        s.write_all(&requests.as_bytes()[..at]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
        s.write_all(&requests.as_bytes()[at..]).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
            .await
            .expect("the front closed the connection")
            .unwrap();
        let t = String::from_utf8_lossy(&out);
        let a = answers(&t);
        assert_eq!(a.len(), 4, "split at {at}: {t}");
        assert!(a[0].contains("content-length: 6\r\n") && a[0].ends_with("\r\n\r\n"));
        assert!(
            a[1].ends_with("\r\n0\r\nX-Trailer: t\r\n\r\n"),
            "at {at}: {}",
            a[1]
        );
        assert!(a[2].starts_with("HTTP/1.1 404 "), "at {at}: {}", a[2]);
        assert!(a[3].ends_with("conn 1"), "at {at}: {}", a[3]);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_repeated_content_length_reaches_the_upstream_once() {
    // As hyper's server passes it on: some upstreams (Node's parser) refuse a repeated
    // `Content-Length` even when the values agree.
    let echo = echoed("Content-Length: 0\r\nContent-Length: 0\r\nConnection: close\r\n").await;
    assert_eq!(echo.matches("content-length: 0\r\n").count(), 1, "{echo}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_ended_with_unread_bytes_still_delivers_the_whole_answer() {
    // The client sends more after a request the connection ends with, and reads slowly: the
    // front's socket closed with those bytes unread would send a reset, and the kernel would
    // drop what it had not sent yet (hyper's server read them and delivered it all).
    let (up, _) = upstream();
    let addr = front(up, Duration::from_secs(30)).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    s.write_all(get("/big", "Connection: close\r\n").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(get("/", "").as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut out = Vec::new();
    let read = s.read_to_end(&mut out).await;
    assert!(read.is_ok(), "{read:?} after {} bytes", out.len());
    let start = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(out.len() - start, 5 * 1024 * 1024);
}

#[tokio::test(flavor = "current_thread")]
async fn a_target_hypers_server_would_refuse_or_rewrite_goes_to_it() {
    // Browsers percent-encode these; hyper's server refuses `<`, `>`, a backquote in the path
    // and `"` in the query, and drops a fragment: the front leaves them to it rather than
    // forwarding them as they came.
    let (up, _) = upstream();
    let addr = front(up, Duration::from_secs(30)).await;
    for (target, answer) in [
        ("/a<b", "HTTP/1.1 400 "),
        ("/a`b", "HTTP/1.1 400 "),
        ("/?a\"b", "HTTP/1.1 400 "),
        ("/echo#frag", "get /echo http/1.1\r\n"),
    ] {
        let t = talk(
            addr,
            &format!("GET {target} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(t.contains(answer), "{target}: {t}");
        assert!(
            t.contains("date: "),
            "hyper's server answered {target}: {t}"
        );
    }
    // The rest stays here (what browsers send unencoded among it).
    let t = talk(
        addr,
        &get(
            "/a-b.c_d~e!$&'()*+,;=:@%20[]|^\"{}caf\u{e9}?x=/y&a[]=`{}|^",
            "Connection: close\r\n",
        ),
    )
    .await;
    assert!(
        t.starts_with("HTTP/1.1 200 OK\r\n") && t.contains("\r\n\r\nconn "),
        "{t}"
    );
    assert!(!t.contains("date: "), "{t}");
}
