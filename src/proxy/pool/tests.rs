//! The pool against a loopback upstream that numbers its connections.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::{BodyExt, Empty};

use super::*;

/// A loopback upstream that numbers its connections (1, 2, …) and runs `serve` on each in a
/// thread of its own; the count of connections made so far. Shared with the fast path's tests.
pub(crate) fn numbered_upstream(serve: fn(std::net::TcpStream, usize)) -> (u16, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
            std::thread::spawn(move || serve(stream, n));
        }
    });
    (port, count)
}

/// The next request head on `s` (up to its blank line), `None` once the client closed.
pub(crate) fn read_head(s: &mut impl Read) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap_or(0) == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// An upstream answering each request with its connection's number; `/drop` closes the
/// connection after answering, `/long` announces 10 bytes and sends 2.
fn upstream() -> (u16, Arc<AtomicUsize>) {
    numbered_upstream(|mut s, n| {
        while let Some(head) = read_head(&mut s) {
            if head.starts_with("GET /long") {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
                continue;
            }
            let body = n.to_string();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if head.starts_with("GET /drop") {
                return;
            }
        }
    })
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", "up")
        .body(Empty::new())
        .unwrap()
}

async fn text(pool: &Arc<Pool<Empty<Bytes>>>, host: &Arc<str>, port: u16, path: &str) -> String {
    let Ok(resp) = pool.send(host, port, get(path)).await else {
        panic!("{path}: no response")
    };
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn connections_are_reused_after_their_body_ends_and_replaced_when_closed_or_cut() {
    let (port, count) = upstream();
    let pool: Arc<Pool<Empty<Bytes>>> = Pool::new(connector());
    let host: Arc<str> = "127.0.0.1".into();
    assert_eq!(text(&pool, &host, port, "/").await, "1");
    assert_eq!(text(&pool, &host, port, "/").await, "1", "kept alive");
    // The upstream closes its end while the connection idles: the next request takes a new
    // one instead of failing.
    assert_eq!(text(&pool, &host, port, "/drop").await, "1");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(text(&pool, &host, port, "/").await, "2");
    // A body dropped before its end leaves the connection out of the pool.
    let resp = pool.send(&host, port, get("/long")).await.ok().unwrap();
    drop(resp);
    assert_eq!(text(&pool, &host, port, "/").await, "3");
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn a_sweep_drops_the_idle_sockets_whose_upstream_closed_and_keeps_the_others() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let pool: Arc<Pool<Empty<Bytes>>> = Pool::new(connector());
    let host: Arc<str> = "127.0.0.1".into();
    let mut far = Vec::new();
    for _ in 0..2 {
        let near = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        far.push(listener.accept().unwrap().0);
        pool.raw_checkin(host.clone(), port, near);
    }
    pool.sweep();
    assert_eq!(pool.idle_counts(), (0, 2), "both open: both kept");
    // The upstream closes one of them; the reactor sees it at its next turn.
    drop(far.remove(0));
    tokio::time::sleep(Duration::from_millis(100)).await;
    pool.sweep();
    assert_eq!(pool.idle_counts(), (0, 1), "the closed one dropped");
    // The one left is the open one.
    let kept = pool.raw_checkout(&host, port).expect("the open socket");
    kept.try_write(b"x").unwrap();
    let mut byte = [0u8; 1];
    std::io::Read::read_exact(&mut far[0], &mut byte).unwrap();
    assert_eq!(&byte, b"x");
}
