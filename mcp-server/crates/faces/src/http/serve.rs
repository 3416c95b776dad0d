//! The server loop of both listeners (the main one and `CONVERRA_METRICS_ADDR`): hyper-util's
//! connection builder under the axum router, with what `axum::serve` lacks — a header-read
//! timeout, an idle timeout and a cap on open connections (`docs/security.md`, "Third review").
//!
//! Why one timer of our own per connection rather than hyper's: hyper's HTTP/1
//! `header_read_timeout` also runs while a keep-alive connection waits for its next request (it
//! cannot be shorter than the idle timeout without cutting idle clients early) and arms a fresh
//! boxed timer for every request; HTTP/2 has no idle timeout at all (its keep-alive pings only
//! close a peer that stopped answering). Here the connection's I/O and its requests note what
//! happens in a [`Pulse`] (a few relaxed atomics: no clock is read per request or per read),
//! and one interval per connection, four ticks to the shorter timeout, reads it:
//! - a connection is *idle* when no request is in flight and no byte moved. An answer is in
//!   flight until its body ends, so an open SSE answer (an agent's stream, a slow provider's
//!   first token) is never idle however long it stays silent;
//! - a *head is being read* from the moment a connection opens, or from bytes arriving on an
//!   HTTP/1 connection with nothing in flight, until the request reaches the router: a client
//!   that sends half a head, or drips it, is closed after the header-read timeout.
//!
//! Either way nothing is in flight, so the connection is simply dropped. The cap is a
//! semaphore taken *before* `accept`: at the cap, new connections wait in the kernel's accept
//! queue (4,096 deep) instead of being accepted and costing a descriptor each.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, Version};
use axum::routing::future::RouteFuture;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, MissedTickBehavior};

/// How long a client may take and how many connections a listener holds
/// (`CONVERRA_HEADER_READ_TIMEOUT_SECS`, `CONVERRA_IDLE_TIMEOUT_SECS`, `CONVERRA_MAX_CONNECTIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From a connection's first byte (or its opening) to a whole request head.
    pub header_read: Duration,
    /// No request in flight and no byte moving for this long closes a connection.
    pub idle: Duration,
    /// Connections served at once; `None`: half the open-file soft limit when serving starts
    /// (after `serve` raised it), since a relayed stream holds two descriptors.
    pub max_connections: Option<usize>,
}

impl Default for Limits {
    /// 30 s for a head (hyper's own default); 120 s idle, longer than the usual clients keep an
    /// idle pooled connection (reqwest 90 s, httpx 5 s), so they drop it before the server does
    /// and never send on a connection that is being closed.
    fn default() -> Self {
        Self { header_read: Duration::from_secs(30), idle: Duration::from_secs(120), max_connections: None }
    }
}

impl Limits {
    /// The connection cap: the configured one, or half the open-file soft limit now.
    pub fn max_connections(&self) -> usize {
        let cap = self.max_connections.unwrap_or_else(|| match rlimit::Resource::NOFILE.get() {
            Ok((soft, _)) => usize::try_from(soft / 2).unwrap_or(usize::MAX),
            Err(_) => 1024,
        });
        cap.clamp(1, Semaphore::MAX_PERMITS)
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and lets every
/// open connection finish what it is answering (as `axum::serve`'s graceful shutdown did).
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: impl Future<Output = ()>) {
    let cap = limits.max_connections();
    let permits = Arc::new(Semaphore::new(cap));
    let builder = Arc::new(Builder::new(TokioExecutor::new()));
    let clock = Clock::new(&limits);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut warned: Option<Instant> = None;
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if warned.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(
                        max_connections = cap,
                        "the connection limit is reached: new connections wait in the accept queue (CONVERRA_MAX_CONNECTIONS)"
                    );
                    warned = Some(Instant::now());
                }
                tokio::select! {
                    permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Nagle's algorithm would hold small answers back ~40 ms on keep-alive connections.
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(tcp, peer, router.clone(), builder.clone(), graceful.watcher(), clock, permit));
    }
    drop(listener);
    graceful.shutdown().await;
}

/// An accept that failed: a connection reset before it was accepted is nothing; anything else
/// (out of descriptors, despite the cap: provider connections hold some too) waits a second
/// for connections to close, as `axum::serve` did.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One connection, from accept to close; it holds its `permit` until then.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    builder: Arc<Builder<TokioExecutor>>,
    watcher: Watcher,
    clock: Clock,
    _permit: OwnedSemaphorePermit,
) {
    let pulse = Arc::new(Pulse::default());
    let io = TokioIo::new(Metered { tcp, pulse: pulse.clone() });
    let service = Serve { router, peer, pulse: pulse.clone() };
    let mut conn = std::pin::pin!(watcher.watch(builder.serve_connection_with_upgrades(io, service)));
    let mut ticks = tokio::time::interval_at(Instant::now() + clock.tick, clock.tick);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut watch = Watch::new(clock);
    loop {
        tokio::select! {
            biased;
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::trace!(%peer, error = %e, "connection ended");
                }
                return;
            }
            _ = ticks.tick() => if let Some(why) = watch.expired(&pulse) {
                tracing::debug!(%peer, why, "closing a connection");
                return;
            }
        }
    }
}

/// What a connection's timer reads, noted by its I/O ([`Metered`]) and its requests
/// ([`InFlight`]).
#[derive(Default)]
struct Pulse {
    /// A byte was read or written since the timer last looked.
    moved: AtomicBool,
    /// A byte was read while no request was in flight (a head arriving) since the timer looked.
    heard: AtomicBool,
    /// Requests that reached the router, and those whose answer has ended.
    begun: AtomicUsize,
    ended: AtomicUsize,
    /// The connection speaks HTTP/2, where bytes between requests are the protocol's own
    /// (settings, window updates, pings) rather than a head.
    http2: AtomicBool,
}

impl Pulse {
    fn idle(&self) -> bool {
        self.begun.load(Relaxed) == self.ended.load(Relaxed)
    }
}

/// A request from the router's call until its answer's body ended (or was dropped).
struct InFlight(Arc<Pulse>);

impl InFlight {
    fn begin(pulse: &Arc<Pulse>) -> Self {
        pulse.begun.fetch_add(1, Relaxed);
        Self(pulse.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.ended.fetch_add(1, Relaxed);
    }
}

/// The per-connection hyper service: the router, with the peer address every request carries
/// (the web face's sign-in bucket counts attempts per client address).
struct Serve {
    router: Router,
    peer: SocketAddr,
    pulse: Arc<Pulse>,
}

impl hyper::service::Service<Request<Incoming>> for Serve {
    type Response = Response<Answered>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, mut req: Request<Incoming>) -> Answer {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        if req.version() == Version::HTTP_2 {
            self.pulse.http2.store(true, Relaxed);
        }
        let in_flight = InFlight::begin(&self.pulse);
        // Routers are always ready; a clone is an `Arc`'s (as `axum::serve` does per request).
        let route = tower::Service::call(&mut self.router.clone(), req);
        Answer { route, in_flight: Some(in_flight) }
    }
}

/// The router's answer on its way; its body then carries the request's [`InFlight`].
struct Answer {
    route: RouteFuture<Infallible>,
    in_flight: Option<InFlight>,
}

impl Future for Answer {
    type Output = Result<Response<Answered>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Ok(response) = ready!(Pin::new(&mut this.route).poll(cx));
        let in_flight = this.in_flight.take();
        Poll::Ready(Ok(response.map(|body| Answered { body, _in_flight: in_flight })))
    }
}

/// An answer's body, which keeps its request in flight until it is dropped.
struct Answered {
    body: Body,
    _in_flight: Option<InFlight>,
}

impl HttpBody for Answered {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket, noting in the [`Pulse`] that bytes moved.
struct Metered {
    tcp: TcpStream,
    pulse: Arc<Pulse>,
}

impl Metered {
    fn wrote(&self, polled: &Poll<io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.pulse.moved.store(true, Relaxed);
        }
    }
}

impl AsyncRead for Metered {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.pulse.moved.store(true, Relaxed);
            if self.pulse.idle() {
                self.pulse.heard.store(true, Relaxed);
            }
        }
        polled
    }
}

impl AsyncWrite for Metered {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// The timeouts in ticks: four to the shorter one, so each fires within a quarter of the
/// shorter timeout after it is due.
#[derive(Debug, Clone, Copy)]
struct Clock {
    tick: Duration,
    header_ticks: u32,
    idle_ticks: u32,
}

impl Clock {
    fn new(limits: &Limits) -> Self {
        let tick = (limits.header_read.min(limits.idle) / 4).max(Duration::from_millis(10));
        let ticks = |timeout: Duration| u32::try_from(timeout.as_nanos().div_ceil(tick.as_nanos())).unwrap_or(u32::MAX);
        Self { tick, header_ticks: ticks(limits.header_read), idle_ticks: ticks(limits.idle) }
    }
}

/// One connection's timer: what the ticks so far have seen.
struct Watch {
    clock: Clock,
    /// Ticks since a head started arriving, while one is (a new connection starts with one).
    head: Option<u32>,
    /// Ticks with nothing in flight and no byte moved, in a row.
    quiet: u32,
    /// Requests begun, at the last tick.
    begun: usize,
}

impl Watch {
    fn new(clock: Clock) -> Self {
        Self { clock, head: Some(0), quiet: 0, begun: 0 }
    }

    /// Called once a tick: why the connection is to be closed now, if it is.
    fn expired(&mut self, pulse: &Pulse) -> Option<&'static str> {
        let moved = pulse.moved.swap(false, Relaxed);
        let heard = pulse.heard.swap(false, Relaxed);
        let begun = pulse.begun.load(Relaxed);
        let began = std::mem::replace(&mut self.begun, begun) != begun;
        if began || !pulse.idle() {
            self.head = None;
            self.quiet = 0;
            return None;
        }
        match &mut self.head {
            Some(ticks) => {
                *ticks += 1;
                if *ticks >= self.clock.header_ticks {
                    return Some("no whole request head within the header-read timeout");
                }
            }
            None if heard && !pulse.http2.load(Relaxed) => self.head = Some(0),
            None => {}
        }
        self.quiet = if moved { 0 } else { self.quiet + 1 };
        (self.quiet >= self.clock.idle_ticks).then_some("idle for the idle timeout")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(header: u64, idle: u64) -> Watch {
        let limits =
            Limits { header_read: Duration::from_secs(header), idle: Duration::from_secs(idle), max_connections: None };
        Watch::new(Clock::new(&limits))
    }

    /// Ticks until `watch` closes, with `step` run before each tick (at most `limit`).
    fn ticks_until_closed(watch: &mut Watch, pulse: &Pulse, limit: u32, step: impl Fn(&Pulse, u32)) -> Option<u32> {
        (1..=limit).find(|n| {
            step(pulse, *n);
            watch.expired(pulse).is_some()
        })
    }

    #[test]
    fn four_ticks_to_the_shorter_timeout() {
        let clock = Clock::new(&Limits {
            header_read: Duration::from_secs(2),
            idle: Duration::from_secs(10),
            max_connections: None,
        });
        assert_eq!((clock.tick, clock.header_ticks, clock.idle_ticks), (Duration::from_millis(500), 4, 20));
    }

    #[test]
    fn a_head_that_never_completes_closes_after_the_header_timeout_even_while_bytes_drip() {
        let pulse = Pulse::default();
        let dripping = |p: &Pulse, _| {
            p.moved.store(true, Relaxed);
            p.heard.store(true, Relaxed);
        };
        assert_eq!(ticks_until_closed(&mut watch(2, 10), &pulse, 100, dripping), Some(4));
        // On a connection that served a request, the next head starts with its first byte.
        let mut w = watch(2, 10);
        let pulse = Pulse::default();
        let served = |p: &Pulse, n| {
            if n == 1 {
                p.begun.fetch_add(1, Relaxed);
                p.ended.fetch_add(1, Relaxed);
            }
            if n >= 3 {
                dripping(p, n);
            }
        };
        assert_eq!(ticks_until_closed(&mut w, &pulse, 100, served), Some(3 + 4));
    }

    #[test]
    fn a_quiet_connection_closes_after_the_idle_timeout_but_never_while_an_answer_is_in_flight() {
        let mut w = watch(2, 10);
        let pulse = Arc::new(Pulse::default());
        let answer = InFlight::begin(&pulse);
        assert_eq!(ticks_until_closed(&mut w, &pulse, 200, |_, _| {}), None, "an open answer is never idle");
        drop(answer);
        assert_eq!(ticks_until_closed(&mut w, &pulse, 200, |_, _| {}), Some(20));
        // HTTP/2's own frames between requests move bytes: idle, not a head.
        let mut w = watch(2, 10);
        let pulse = Pulse::default();
        pulse.begun.store(1, Relaxed);
        pulse.ended.store(1, Relaxed);
        pulse.http2.store(true, Relaxed);
        let pings = |p: &Pulse, n| {
            if n < 5 {
                p.moved.store(true, Relaxed);
                p.heard.store(true, Relaxed);
            }
        };
        assert_eq!(ticks_until_closed(&mut w, &pulse, 200, pings), Some(4 + 20));
    }
}
