//! The process's budget of buffered request bytes (`CONVERRA_V1_BUFFER_BUDGET`):
//! each API body is read whole before it is forwarded, and a `/v1` body may be 32 MiB, so many
//! large bodies at once could take the process's memory. Every body the API faces read
//! (`rest::extract::read_body`) takes its bytes from this budget as they arrive — the announced
//! `content-length` at once, a chunked body chunk by chunk — and gives them back when the last
//! copy of the buffered body is dropped, after the provider call finished with it. A body that
//! does not fit in what is left is refused at once with `Error::Overloaded` (503 UNAVAILABLE,
//! `retry-after: 1`, in the API's own shape): never a wait, never a cut body.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use futures_util::StreamExt;

use converra_core::Error;

/// The budget of one app, shared by its requests (put into every request's extensions by the
/// app; a clone is a handle to the same count).
#[derive(Clone, Debug)]
pub struct BufferBudget(Arc<Count>);

#[derive(Debug)]
struct Count {
    total: usize,
    used: AtomicUsize,
}

impl BufferBudget {
    pub fn new(total: usize) -> Self {
        Self(Arc::new(Count { total, used: AtomicUsize::new(0) }))
    }

    /// Bytes held by buffered bodies now.
    pub fn in_use(&self) -> usize {
        self.0.used.load(Ordering::Acquire)
    }

    /// Reads `req`'s body whole, within `limit` (413 over it) and within what is left of the
    /// budget (503 `Overloaded` over it); the bytes stay counted while the returned body, or
    /// any clone or slice of it, lives.
    pub async fn read(&self, req: Request, limit: usize) -> Result<Bytes, Error> {
        // A body larger than the whole budget could never pass: it is too large, not early.
        let limit = limit.min(self.0.total);
        let announced = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if announced.is_some_and(|n| n > limit) {
            return Err(Error::PayloadTooLarge { limit });
        }
        let mut share = Share { count: self.0.clone(), bytes: 0 };
        // The announced length at once: one update of the count for the usual request.
        share.grow_to(announced.unwrap_or(0))?;
        let mut body = req.into_body().into_data_stream();
        let (mut first, mut joined): (Option<Bytes>, Option<Vec<u8>>) = (None, None);
        let mut len = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|_| unreadable())?;
            len += chunk.len();
            if len > limit {
                return Err(Error::PayloadTooLarge { limit });
            }
            share.grow_to(len)?;
            // One chunk is kept as it came; a second starts one buffer for them all.
            match (&mut first, &mut joined) {
                (None, None) => first = Some(chunk),
                (Some(one), None) => {
                    let mut all = Vec::with_capacity(announced.unwrap_or(0).max(len));
                    all.extend_from_slice(one);
                    all.extend_from_slice(&chunk);
                    (first, joined) = (None, Some(all));
                }
                (_, Some(all)) => all.extend_from_slice(&chunk),
            }
        }
        let bytes = joined.map(Bytes::from).or(first).unwrap_or_default();
        share.shrink_to(bytes.len());
        if share.bytes == 0 {
            return Ok(bytes);
        }
        Ok(Bytes::from_owner(Held { bytes, _share: share }))
    }
}

fn unreadable() -> Error {
    Error::Validation { field: None, message: "could not read the request body".into() }
}

/// Bytes of the budget one body holds, given back when dropped.
struct Share {
    count: Arc<Count>,
    bytes: usize,
}

impl Share {
    /// Holds `bytes` in all, or refuses when the budget has not that much left.
    fn grow_to(&mut self, bytes: usize) -> Result<(), Error> {
        let Some(more) = bytes.checked_sub(self.bytes).filter(|n| *n > 0) else { return Ok(()) };
        let total = self.count.total;
        self.count
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| used.checked_add(more).filter(|u| *u <= total))
            .map_err(|_| Error::Overloaded)?;
        self.bytes = bytes;
        Ok(())
    }

    fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.count.used.fetch_sub(self.bytes - bytes, Ordering::AcqRel);
            self.bytes = bytes;
        }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.shrink_to(0);
    }
}

/// A buffered body and the budget it holds: the owner behind the `Bytes` a face reads, so the
/// share goes back when the last clone or slice of the body is dropped.
struct Held {
    bytes: Bytes,
    _share: Share,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    fn request(body: Body, length: Option<usize>) -> Request {
        let mut builder = Request::builder().method("POST").uri("/v1/chat/completions");
        if let Some(n) = length {
            builder = builder.header(CONTENT_LENGTH, n);
        }
        builder.body(body).unwrap()
    }

    /// A body sent in chunks of `size` bytes without a `content-length`.
    fn chunked(chunks: usize, size: usize) -> Request {
        let parts = (0..chunks).map(move |i| Ok::<_, std::io::Error>(Bytes::from(vec![b'a' + i as u8; size])));
        request(Body::from_stream(futures_util::stream::iter(parts)), None)
    }

    #[tokio::test]
    async fn a_body_holds_its_bytes_until_its_last_copy_is_dropped() {
        let budget = BufferBudget::new(1000);
        let body = budget.read(request(Body::from(vec![b'x'; 600]), Some(600)), 10_000).await.unwrap();
        assert_eq!((body.len(), budget.in_use()), (600, 600));
        let slice = body.slice(10..20);
        drop(body);
        assert_eq!(budget.in_use(), 600, "a slice still holds the buffer");
        // What is left (400) is too little for another 600 bytes, announced or chunked.
        let refused = budget.read(request(Body::from(vec![b'y'; 600]), Some(600)), 10_000).await;
        assert!(matches!(refused, Err(Error::Overloaded)), "{refused:?}");
        let refused = budget.read(chunked(3, 200), 10_000).await;
        assert!(matches!(refused, Err(Error::Overloaded)), "{refused:?}");
        assert_eq!(budget.in_use(), 600, "a refused body gives back what it took");
        let small = budget.read(chunked(2, 150), 10_000).await.unwrap();
        assert_eq!(&small[..], [vec![b'a'; 150], vec![b'b'; 150]].concat());
        assert_eq!(budget.in_use(), 900);
        drop((slice, small));
        assert_eq!(budget.in_use(), 0);
        let again = budget.read(request(Body::from(vec![b'y'; 600]), Some(600)), 10_000).await.unwrap();
        assert_eq!((again.len(), budget.in_use()), (600, 600));
    }

    #[tokio::test]
    async fn over_the_limit_is_413_announced_or_not_and_an_empty_body_holds_nothing() {
        let budget = BufferBudget::new(1000);
        let over = budget.read(request(Body::from(vec![b'x'; 501]), Some(501)), 500).await;
        assert!(matches!(over, Err(Error::PayloadTooLarge { limit: 500 })), "{over:?}");
        let over = budget.read(chunked(3, 200), 500).await;
        assert!(matches!(over, Err(Error::PayloadTooLarge { limit: 500 })), "{over:?}");
        // Larger than the whole budget: it could never pass, so it is too large.
        let over = budget.read(chunked(6, 200), 10_000).await;
        assert!(matches!(over, Err(Error::PayloadTooLarge { limit: 1000 })), "{over:?}");
        let empty = budget.read(request(Body::empty(), Some(0)), 500).await.unwrap();
        assert!(empty.is_empty());
        assert_eq!(budget.in_use(), 0);
    }
}
