//! The end of the client's input, seen by the server itself: rmcp lets calls still running at
//! end of input finish for a few seconds (to send their answers), so a `create` that ends
//! meanwhile would leave a session that no client will ever hear of. A call that changes a
//! session and still runs when the input ends is cancelled at once instead (Ctrl-C for its
//! child: `create` rolls back).

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::watch;

/// `inner`, reporting its end (a read of zero bytes) to [`Ended`].
pub struct Watched<R> {
    inner: R,
    ended: watch::Sender<bool>,
}

/// Resolves once the watched input has ended.
#[derive(Clone)]
pub struct Ended(watch::Receiver<bool>);

pub fn watch<R>(inner: R) -> (Watched<R>, Ended) {
    let (ended, rx) = watch::channel(false);
    (Watched { inner, ended }, Ended(rx))
}

impl Ended {
    pub async fn wait(mut self) {
        if self.0.wait_for(|e| *e).await.is_err() {
            // The input's reader is gone: the server is ending, so is the input.
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Watched<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(())))
            && buf.filled().len() == before
            && buf.remaining() > 0
        {
            self.ended.send_replace(true);
        }
        read
    }
}
