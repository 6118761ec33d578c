//! What JSON-RPC requires of a server that rmcp does not do: a line that is not JSON gets a
//! parse error (-32700, id null), and a `tools/call` whose `arguments` is not an object gets
//! invalid params (-32602) — rmcp drops the first silently and answers the second "method not
//! found". The client's lines pass through [`filter`] on their way to rmcp; the answers it
//! makes go out through the same [`Lines`] writer as rmcp's own, whole lines only, so the two
//! never interleave on stdout.

use std::pin::Pin;
use std::task::{Context, Poll};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// The answer to `line` that the server gives itself, or `None` to pass it on to rmcp.
pub fn own_answer(line: &[u8]) -> Option<Value> {
    let text = line.trim_ascii();
    if text.is_empty() {
        return None;
    }
    let message: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => {
            return Some(json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {"code": -32700, "message": format!("Parse error: {e}")},
            }))
        }
    };
    let id = message.get("id").filter(|id| !id.is_null())?;
    if message.get("method").and_then(Value::as_str) != Some("tools/call") {
        return None;
    }
    let params = message.get("params");
    let arguments = params.and_then(|p| p.get("arguments"));
    let bad = match (params, arguments) {
        (Some(p), _) if !p.is_object() => Some("params must be an object"),
        (_, Some(a)) if !a.is_object() && !a.is_null() => Some("arguments must be an object"),
        _ => None,
    }?;
    Some(json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": -32602, "message": format!("Invalid params: {bad}")},
    }))
}

/// Copies the client's lines from `input` to `to_rmcp`, answering those [`own_answer`] takes
/// through `out`. Ends (closing `to_rmcp`, which rmcp sees as the end of input) when `input`
/// ends.
pub async fn filter<R, W>(input: R, mut to_rmcp: W, out: mpsc::UnboundedSender<Vec<u8>>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        match own_answer(&line) {
            Some(answer) => {
                let mut text = answer.to_string().into_bytes();
                text.push(b'\n');
                if out.send(text).is_err() {
                    break;
                }
            }
            None => {
                if to_rmcp.write_all(&line).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to_rmcp.shutdown().await;
}

/// Writes whole lines, in order, from every sender to `out` (stdout).
pub async fn write_lines<W: AsyncWrite + Unpin>(
    mut out: W,
    mut lines: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    while let Some(line) = lines.recv().await {
        if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
            break;
        }
    }
}

/// rmcp's output: bytes are gathered until a newline and sent on as one whole line.
pub struct Lines {
    pending: Vec<u8>,
    out: mpsc::UnboundedSender<Vec<u8>>,
}

impl Lines {
    pub fn new(out: mpsc::UnboundedSender<Vec<u8>>) -> Lines {
        Lines {
            pending: Vec::new(),
            out,
        }
    }
}

impl AsyncWrite for Lines {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if self.out.send(line).is_err() {
                return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let _ = self.out.send(rest);
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_what_rmcp_would_not() {
        let parse = own_answer(b"{not json\n").unwrap();
        assert_eq!(parse["error"]["code"], -32700);
        assert_eq!(parse["id"], Value::Null);
        for args in [r#""x""#, "[1]", "3"] {
            let line = format!(
                r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"list","arguments":{args}}}}}"#
            );
            let a = own_answer(line.as_bytes()).unwrap();
            assert_eq!(
                (a["id"].clone(), a["error"]["code"].clone()),
                (json!(7), json!(-32602))
            );
        }
        let params = own_answer(br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":[]}"#);
        assert_eq!(params.unwrap()["id"], "a");
        // What rmcp answers itself passes through.
        for ok in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list","arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list"}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":"odd"}"#,
            "",
            "\r\n",
        ] {
            assert_eq!(own_answer(ok.as_bytes()), None, "{ok}");
        }
    }
}
