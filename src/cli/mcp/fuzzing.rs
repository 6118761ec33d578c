//! The server driven over in-memory pipes, for the fuzz target (`crate::fuzzing::mcp`).

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::ServiceExt;
use tokio::sync::RwLock;

use super::{eof, Server};
use crate::ui::Ui;

const HANDSHAKE: &str = concat!(
    r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fuzz","version":"0"}}}"#,
    "\n",
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    "\n",
);

/// Serves `input` after the handshake until it ends and every call has finished; returns what
/// the server wrote. Tool calls run a program that does not exist.
pub fn serve_bytes(input: &[u8]) -> Vec<u8> {
    let mut all = HANDSHAKE.as_bytes().to_vec();
    all.extend_from_slice(input);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let calls = Arc::new(RwLock::new(()));
        let (stdin, ended) = eof::watch(std::io::Cursor::new(all));
        let server = Server {
            exe: PathBuf::from("/nonexistent/dev-prism-fuzz"),
            calls: calls.clone(),
            ended,
            ui: Ui::new(true, false, Default::default(), false),
        };
        let (writer, mut reader) = tokio::io::duplex(1 << 16);
        let read = tokio::spawn(async move {
            let mut out = vec![];
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut out).await;
            out
        });
        if let Ok(service) = server.serve((stdin, writer)).await {
            let _ = service.waiting().await;
        }
        let _all_finished = calls.write().await;
        read.await.unwrap_or_default()
    })
}
