//! The fast path between a real hyper server (the proxy's client side) and a scripted
//! loopback upstream: every framing, interim answers, closes, pooled sockets the upstream
//! closed, pipelined requests, large bodies.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::*;
use crate::proxy::pool::tests::{numbered_upstream, read_head};
use crate::proxy::pool::{connector, Pool};

const BIG: usize = 5 * 1024 * 1024;

/// An upstream answering by path; every body names the connection's number (1, 2, …).
pub(crate) fn upstream() -> (u16, Arc<AtomicUsize>) {
    numbered_upstream(serve)
}

fn serve(mut s: std::net::TcpStream, n: usize) {
    while let Some(head) = read_head(&mut s) {
        let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
        let body = format!("conn {n}");
        let plain = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Up: yes\r\n\r\n{body}",
            body.len()
        );
        let out: Vec<u8> = match path.as_str() {
            "/echo" => {
                let b = head.to_ascii_lowercase();
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{b}", b.len()).into()
            }
            "/chunked" => format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, x-secret\r\nX-Secret: 1\r\n\r\n5\r\nhello\r\n8;ext=1\r\n, {body}\r\n0\r\nX-Trailer: t\r\n\r\n"
            )
            .into(),
            "/nocontent" => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            "/notmodified" => b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\nETag: \"x\"\r\n\r\n".to_vec(),
            "/interim" => format!("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n{plain}").into(),
            "/big" => {
                let mut v = format!("HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\n\r\n").into_bytes();
                v.extend((0..BIG).map(|i| (i % 251) as u8));
                v
            }
            "/eof" => {
                let _ = s.write_all(format!("HTTP/1.1 200 OK\r\n\r\n{body} until close").as_bytes());
                return;
            }
            "/close" => {
                let _ = s.write_all(
                    format!("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len())
                        .as_bytes(),
                );
                return;
            }
            "/drop" => {
                let _ = s.write_all(plain.as_bytes());
                return;
            }
            "/cut" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
                return;
            }
            _ => plain.into(),
        };
        if head.starts_with("HEAD ") {
            let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let _ = s.write_all(&out[..end]);
        } else if s.write_all(&out).is_err() {
            return;
        }
    }
}

/// A hyper server whose every request takes the fast path to `up` (what the proxy's forward
/// does for a bodiless request); its address.
async fn proxy(up: u16) -> (SocketAddr, Arc<Pool<Incoming>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pool: Arc<Pool<Incoming>> = Pool::new(connector());
    let p = pool.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let pool = p.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let pool = pool.clone();
                    async move {
                        let host = HeaderValue::from_static("web.s.p.localhost");
                        let ip = HeaderValue::from_static("127.0.0.1");
                        let fwd = Forwarded {
                            host: host.as_bytes(),
                            peer_ip: Some(ip.as_bytes()),
                            proto: "http",
                            hops: 1,
                        };
                        let head =
                            head(&req, &fwd).expect("a bodiless request takes the fast path");
                        let up_host: Arc<str> = "127.0.0.1".into();
                        let resp = match send(&pool, &up_host, up, head, req.method()).await {
                            Ok(r) => r,
                            Err(e) => super::super::server::text(StatusCode::BAD_GATEWAY, e),
                        };
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await
                {
                    eprintln!("server: {e:?}");
                }
            });
        }
    });
    (addr, pool)
}

/// One client connection to the proxy.
async fn client(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn ask(
    c: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    method: Method,
    path: &str,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "web.s.p.localhost")
        .body(Empty::new())
        .unwrap();
    let resp = c.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, body)
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn every_framing_passes_and_keep_alive_sockets_are_reused() {
    let (up, count) = upstream();
    let (addr, _pool) = proxy(up).await;
    let mut c = client(addr).await;
    // Content-Length, kept alive: the same upstream connection twice.
    let (s, h, b) = ask(&mut c, Method::GET, "/").await;
    assert_eq!((s, text(&b)), (StatusCode::OK, "conn 1"));
    assert_eq!(h["x-up"], "yes");
    assert_eq!(text(&ask(&mut c, Method::GET, "/").await.2), "conn 1");
    // Chunked, with an extension and a trailer: decoded, re-framed by the server; the
    // header the upstream's Connection names is not passed on; the socket is reused after.
    let (s, h, b) = ask(&mut c, Method::GET, "/chunked").await;
    assert_eq!((s, text(&b)), (StatusCode::OK, "hello, conn 1"));
    assert!(
        h.get("x-secret").is_none() && h.get("connection").is_none(),
        "{h:?}"
    );
    assert_eq!(text(&ask(&mut c, Method::GET, "/").await.2), "conn 1");
    // HEAD: the length of what GET would send, no body; 204 and 304: no body.
    let (s, h, b) = ask(&mut c, Method::HEAD, "/").await;
    assert_eq!(
        (s, h["content-length"].to_str().unwrap(), b.len()),
        (StatusCode::OK, "6", 0)
    );
    let (s, _, b) = ask(&mut c, Method::GET, "/nocontent").await;
    assert_eq!((s, b.len()), (StatusCode::NO_CONTENT, 0));
    let (s, h, b) = ask(&mut c, Method::GET, "/notmodified").await;
    assert_eq!((s, b.len()), (StatusCode::NOT_MODIFIED, 0));
    assert_eq!(h["etag"], "\"x\"");
    // An interim 103 is skipped.
    let (s, _, b) = ask(&mut c, Method::GET, "/interim").await;
    assert_eq!((s, text(&b)), (StatusCode::OK, "conn 1"));
    assert_eq!(text(&ask(&mut c, Method::GET, "/").await.2), "conn 1");
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "one upstream connection so far"
    );
    // Connection: close, and a body up to the close: the socket is not reused.
    let (s, h, b) = ask(&mut c, Method::GET, "/close").await;
    assert_eq!((s, text(&b)), (StatusCode::OK, "conn 1"));
    assert!(h.get("connection").is_none());
    assert_eq!(
        text(&ask(&mut c, Method::GET, "/eof").await.2),
        "conn 2 until close"
    );
    assert_eq!(text(&ask(&mut c, Method::GET, "/").await.2), "conn 3");
}

#[tokio::test(flavor = "current_thread")]
async fn a_pooled_socket_the_upstream_closed_is_replaced_and_a_cut_body_fails() {
    let (up, _) = upstream();
    let (addr, _pool) = proxy(up).await;
    let mut c = client(addr).await;
    // The upstream closes its end after answering: the socket went back to the pool (the
    // answer said nothing of a close), the next request finds it closed and takes a new one.
    assert_eq!(text(&ask(&mut c, Method::GET, "/drop").await.2), "conn 1");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(text(&ask(&mut c, Method::GET, "/").await.2), "conn 2");
    // Closed between the check and the write (no time to notice): still answered.
    assert_eq!(text(&ask(&mut c, Method::GET, "/drop").await.2), "conn 2");
    assert_eq!(text(&ask(&mut c, Method::GET, "/").await.2), "conn 3");
    // A body cut short by the upstream ends the client's response in an error, not a
    // truncated success.
    let req = Request::get("/cut")
        .header("host", "web.s.p.localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    match c.send_request(req).await {
        // The server had not yet written the head when the body failed.
        Err(e) => assert!(e.is_incomplete_message(), "{e:?}"),
        Ok(resp) => assert!(resp.into_body().collect().await.is_err()),
    }
    // Nothing listens: no answer head, the caller's 502.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = gone.local_addr().unwrap().port();
    drop(gone);
    let (addr, _pool) = proxy(dead).await;
    let mut c = client(addr).await;
    assert_eq!(
        ask(&mut c, Method::GET, "/").await.0,
        StatusCode::BAD_GATEWAY
    );
}

#[tokio::test(flavor = "current_thread")]
async fn pipelined_requests_and_a_large_body_pass_in_order() {
    let (up, _) = upstream();
    let (addr, _pool) = proxy(up).await;
    // Three requests in one write; the answers come back in order, each whole.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let one = "GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n";
    let two = "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n";
    let three = "GET /interim HTTP/1.1\r\nHost: a\r\n\r\n";
    tokio::io::AsyncWriteExt::write_all(&mut s, format!("{one}{two}{three}").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&got).ends_with("conn 1") {
        let mut b = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, tokio::io::AsyncReadExt::read(&mut s, &mut b))
            .await
            .expect("all three answers within 10 s")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&b[..n]);
    }
    let got = String::from_utf8_lossy(&got);
    let heads: Vec<_> = got
        .match_indices("HTTP/1.1 200 OK")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(heads.len(), 3, "{got}");
    assert!(
        got[heads[0]..heads[1]].contains("5\r\nhello\r\n8\r\n, conn 1\r\n0\r\n\r\n"),
        "{got}"
    );
    assert!(
        got[heads[1]..heads[2]].contains("content-length: 6"),
        "{got}"
    );
    // A 5 MiB body streams through whole and in order.
    let mut c = client(addr).await;
    let (st, h, b) = ask(&mut c, Method::GET, "/big").await;
    assert_eq!((st, b.len()), (StatusCode::OK, BIG));
    assert_eq!(h["content-length"].to_str().unwrap(), BIG.to_string());
    assert!(b.iter().enumerate().all(|(i, x)| *x == (i % 251) as u8));
    assert_eq!(text(&ask(&mut c, Method::GET, "/").await.2), "conn 1");
}

#[test]
fn the_head_keeps_host_sets_forwarding_headers_and_drops_hop_headers() {
    let host = HeaderValue::from_static("web.s.p.localhost");
    let ip = HeaderValue::from_static("127.0.0.1");
    let fwd = Forwarded {
        host: host.as_bytes(),
        peer_ip: Some(ip.as_bytes()),
        proto: "https",
        hops: 2,
    };
    let req = Request::get("http://web.s.p.localhost/a?b=1")
        .header("host", "web.s.p.localhost")
        .header("connection", "keep-alive, x-private")
        .header("x-private", "1")
        .header("te", "trailers")
        .header("x-forwarded-for", "10.0.0.9")
        .header("x-forwarded-proto", "http")
        .header("accept", "*/*")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let h = head(&req, &fwd).unwrap();
    assert_eq!(
        text(&h),
        "GET /a?b=1 HTTP/1.1\r\nhost: web.s.p.localhost\r\naccept: */*\r\n\
         x-forwarded-for: 10.0.0.9, 127.0.0.1\r\nx-forwarded-host: web.s.p.localhost\r\n\
         x-forwarded-proto: https\r\nx-dev-prism-hops: 2\r\n\r\n"
    );
    // No Host (HTTP/1.0): the client's name is sent; a bodiless POST says its length.
    let req = Request::post("/p").body(Empty::<Bytes>::new()).unwrap();
    let h = head(&req, &fwd).unwrap();
    assert!(
        text(&h).contains("host: web.s.p.localhost\r\n"),
        "{}",
        text(&h)
    );
    assert!(text(&h).contains("content-length: 0\r\n"), "{}", text(&h));
    // A request with a body, or CONNECT, takes hyper's client.
    let req = Request::post("/p")
        .body(http_body_util::Full::new(Bytes::from_static(b"x")))
        .unwrap();
    assert!(head(&req, &fwd).is_none());
    let req = Request::connect("a:1").body(Empty::<Bytes>::new()).unwrap();
    assert!(head(&req, &fwd).is_none());
}
