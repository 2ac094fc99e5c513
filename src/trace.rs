//! `tracing` instrumentation behind the `tracing` feature.
//!
//! Each macro expands to the matching `tracing` macro when the feature is on and to nothing
//! otherwise: its arguments are not even evaluated then, so the hot paths cost nothing.
//!
//! Levels: frames (sent and received) at `trace`; handshake outcomes, closes, protocol errors,
//! timeouts and unexpected ends of input at `debug` (the caller also gets these as errors, and a
//! server must not log at `warn` for every misbehaving peer).

/// A `trace`-level event (frame headers).
#[cfg(feature = "tracing")]
#[allow(unused_macros)]
macro_rules! ws_trace {
    ($($arg:tt)*) => { ::tracing::trace!($($arg)*) };
}
#[cfg(not(feature = "tracing"))]
#[allow(unused_macros)]
macro_rules! ws_trace {
    ($($arg:tt)*) => {
        ()
    };
}

/// A `debug`-level event (handshake outcomes, closes, errors, timeouts).
#[cfg(feature = "tracing")]
#[allow(unused_macros)]
macro_rules! ws_debug {
    ($($arg:tt)*) => { ::tracing::debug!($($arg)*) };
}
#[cfg(not(feature = "tracing"))]
#[allow(unused_macros)]
macro_rules! ws_debug {
    ($($arg:tt)*) => {
        ()
    };
}

/// A driver's span for one connection: `websocket` with `role` and `peer` (recorded later with
/// [`record_peer!`] where the driver knows it).
#[cfg(all(feature = "tracing", feature = "std"))]
#[allow(unused_macros)]
macro_rules! conn_span {
    ($role:expr) => {
        ::tracing::debug_span!(
            "websocket",
            role = ?$role,
            peer = ::tracing::field::Empty
        )
    };
}
#[cfg(all(not(feature = "tracing"), feature = "std"))]
#[allow(unused_macros)]
macro_rules! conn_span {
    ($role:expr) => {
        $crate::trace::ConnSpan
    };
}

/// Records the peer (`host:port` or an address) on a span made by [`conn_span!`].
#[cfg(all(feature = "tracing", feature = "std"))]
#[allow(unused_macros)]
macro_rules! record_peer {
    ($span:expr, $peer:expr) => {{
        $span.record("peer", ::tracing::field::display($peer));
    }};
}
#[cfg(all(not(feature = "tracing"), feature = "std"))]
#[allow(unused_macros)]
macro_rules! record_peer {
    ($span:expr, $peer:expr) => {
        ()
    };
}

/// Enters a span made by [`conn_span!`] until the end of the enclosing block. Sync code only:
/// never across an `.await`.
#[cfg(all(feature = "tracing", feature = "std"))]
#[allow(unused_macros)]
macro_rules! enter_span {
    ($span:expr) => {
        let span = $span.clone();
        let _entered = span.enter();
    };
}
#[cfg(all(not(feature = "tracing"), feature = "std"))]
#[allow(unused_macros)]
macro_rules! enter_span {
    ($span:expr) => {
        let _ = &$span;
    };
}

/// Runs a future inside a span made by [`conn_span!`] (`tracing::Instrument`), or as it is.
#[cfg(all(feature = "tracing", feature = "std"))]
#[allow(unused_macros)]
macro_rules! instrument {
    ($future:expr, $span:expr) => {
        ::tracing::Instrument::instrument($future, $span.clone())
    };
}
#[cfg(all(not(feature = "tracing"), feature = "std"))]
#[allow(unused_macros)]
macro_rules! instrument {
    ($future:expr, $span:expr) => {
        $future
    };
}

/// The span a driver keeps for its connection (a `tracing::Span`, or nothing).
#[cfg(all(feature = "tracing", feature = "std"))]
#[allow(dead_code)] // used by the drivers only
pub(crate) type ConnSpan = ::tracing::Span;
/// The span a driver keeps for its connection (a `tracing::Span`, or nothing).
#[cfg(all(not(feature = "tracing"), feature = "std"))]
#[derive(Clone, Debug, Default)]
#[allow(dead_code)] // used by the drivers only
pub(crate) struct ConnSpan;

#[cfg(feature = "std")]
#[allow(unused_imports)]
pub(crate) use {conn_span, enter_span, instrument, record_peer};
#[allow(unused_imports)]
pub(crate) use {ws_debug, ws_trace};
