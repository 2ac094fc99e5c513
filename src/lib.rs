//! # wsproto
//!
//! A sans-IO implementation of the WebSocket protocol (RFC 6455, with permessage-deflate from
//! RFC 7692): a [`handshake`] state machine for each role and a [`Connection`] state machine.
//! They take byte slices in and give events and bytes out. There are no sockets, threads,
//! clocks or async runtime inside, so any event loop can drive them: blocking `std::net`, tokio,
//! mio, io_uring, an embedded network stack.
//!
//! - **Handshake**: [`ClientHandshake`] / [`ServerHandshake`] parse the HTTP/1.1 Upgrade
//!   incrementally and hand over a ready [`Connection`], including any bytes that followed.
//! - **Connection**: feed it with [`Connection::receive`] (or the zero-copy
//!   [`read_buf`](Connection::read_buf) / [`commit`](Connection::commit)), take [`Event`]s from
//!   [`Connection::poll_event`], queue messages with `send_*`, and write out what
//!   [`Connection::output`] holds. Time enters as a value: [`Connection::poll_timeout`] /
//!   [`Connection::handle_timeout`].
//! - **Hot path**: unmasking is SIMD with runtime dispatch, UTF-8 validation uses `simdutf8`
//!   incrementally (invalid text fails as soon as the bad byte arrives), and received payloads
//!   are handed out as [`Bytes`] split from the receive buffer without a copy.
//!
//! # A complete client and server
//!
//! Over blocking TCP sockets, driving the sans-IO core directly (ready-made drivers live in the
//! optional `blocking` and `tokio` features):
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{TcpListener, TcpStream};
//! use wsproto::handshake::{AcceptOptions, ClientHandshake, ClientOutcome, ClientRequest, ServerHandshake};
//! use wsproto::{CloseCode, Connection, Event, Message};
//!
//! /// Writes everything the connection has queued.
//! fn flush(tcp: &mut TcpStream, conn: &mut Connection) -> std::io::Result<()> {
//!     while conn.buffered_output() > 0 {
//!         let n = tcp.write(conn.output())?;
//!         conn.consume_output(n);
//!     }
//!     Ok(())
//! }
//!
//! /// Reads once from the socket into the connection.
//! fn fill(tcp: &mut TcpStream, conn: &mut Connection) -> std::io::Result<()> {
//!     let n = tcp.read(conn.read_buf())?;
//!     if n == 0 { conn.receive_eof() } else { conn.commit(n) }
//!     Ok(())
//! }
//!
//! // An echo server for one connection.
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = std::thread::spawn(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     let (mut tcp, _) = listener.accept()?;
//!     let mut handshake = ServerHandshake::new();
//!     let mut buf = [0u8; 4096];
//!     loop {
//!         let n = tcp.read(&mut buf)?;
//!         if handshake.receive(&buf[..n])?.is_some() { break; }
//!     }
//!     let (response, mut conn) = handshake.accept(AcceptOptions::new())?;
//!     tcp.write_all(&response)?;
//!     while !conn.should_close_transport() {
//!         while let Some(event) = conn.poll_event()? {
//!             match event {
//!                 Event::Text(text) => conn.send(Message::Text(text))?,
//!                 Event::Binary(data) => conn.send(Message::Binary(data))?,
//!                 _ => {} // pongs and the close reply are queued automatically
//!             }
//!         }
//!         flush(&mut tcp, &mut conn)?;
//!         if !conn.should_close_transport() { fill(&mut tcp, &mut conn)?; }
//!     }
//!     Ok(()) // dropping the socket closes TCP: the server closes first (RFC 6455 §7.1.1)
//! });
//!
//! // A client: handshake, one message, its echo, a clean close.
//! let mut tcp = TcpStream::connect(addr)?;
//! let mut handshake = ClientHandshake::new(ClientRequest::from_url(&format!("ws://{addr}/"))?);
//! tcp.write_all(handshake.request_bytes())?;
//! let mut buf = [0u8; 4096];
//! let mut conn = loop {
//!     let n = tcp.read(&mut buf)?;
//!     match handshake.receive(&buf[..n])? {
//!         ClientOutcome::Accepted { connection, .. } => break connection,
//!         ClientOutcome::Partial => continue,
//!         rejected => panic!("{rejected:?}"),
//!     }
//! };
//! conn.send_text("hello")?;
//! flush(&mut tcp, &mut conn)?;
//! let echo = loop {
//!     if let Some(Event::Text(text)) = conn.poll_event()? { break text; }
//!     fill(&mut tcp, &mut conn)?;
//! };
//! assert_eq!(echo, "hello");
//! conn.close(CloseCode::NORMAL, "done")?;
//! flush(&mut tcp, &mut conn)?;
//! while !conn.should_close_transport() {
//!     fill(&mut tcp, &mut conn)?;
//!     while let Some(event) = conn.poll_event()? {
//!         assert!(matches!(event, Event::Close(Some(ref f)) if f.code == CloseCode::NORMAL));
//!     }
//! }
//! server.join().unwrap().unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors
//!
//! | call | error | what it means, what to do |
//! | --- | --- | --- |
//! | [`ClientHandshake::receive`], [`ServerHandshake::receive`] / [`accept`](crate::handshake::ServerHandshake::accept) / [`reject`](crate::handshake::ServerHandshake::reject), [`ClientRequest`] and [`AcceptOptions`](handshake::AcceptOptions) builders | [`HandshakeError`] | no connection exists yet. For a request a server received, [`status`](crate::handshake::HandshakeError::status) / [`response`](crate::handshake::HandshakeError::response) is the HTTP answer to write; otherwise the caller's input was invalid (nothing was sent) |
//! | [`Connection::poll_event`] | [`Error`] (once) | the connection has ended: [`Error::Protocol`] holds the peer's [`ProtocolError`] (its close frame is queued: write the output, then close the transport); EOF and timers end it without one |
//! | [`Connection::send`], `send_*` (`send_ping`, `send_text_fragment`, …), [`close`](crate::Connection::close), `close_without_code` | [`SendError`] | the call was refused and nothing was queued; the connection is unchanged |
//! | every driver call in `wsproto::driver` (features `blocking`, `tokio`) | `wsproto::driver::Error` | one enum wrapping all of the above plus the transport's `std::io::Error`, a refused handshake and "closed"; converts into `std::io::Error` for `?` in I/O code |
//!
//! The split follows who acts: a [`SendError`] is the caller's to fix and leaves the connection
//! usable, an [`Error`] means the connection is over (and carries no caller input), a
//! [`ProtocolError`] is the detail of one `Error` kind that decides the close code, and a
//! [`HandshakeError`] carries HTTP semantics (status, response) that frames do not have. The
//! sans-IO calls return exactly one of them each, so a `match` never sees variants that cannot
//! happen; only the drivers, which make all of these calls, unite them.
//!
//! # Module map
//!
//! Each layer uses only the ones below it, and no module imports one that imports it back.
//!
//! | module | owns |
//! | --- | --- |
//! | `driver` (features `blocking`, `tokio`) | drivers: the handshake and the connection over a real stream, via the public API only |
//! | [`handshake`] | the opening handshake: `client.rs`, `server.rs` (request validation), `accept.rs` (keys), `headers.rs` (header lists, token and extension grammar), `response.rs` (every response written, error responses included), `scan.rs` (incremental head reading), `url.rs`, `http.rs` (the `http` crate conversions) |
//! | [`connection`] | the [`Connection`] state machine: `mod.rs` (the public API), `closing.rs` (the closing handshake, failure and end of input: every transition, and [`State`]), `reader.rs` (the input buffer and the frame and message in progress; the only code that consumes a frame's payload), `recv.rs` (frame parsing, message assembly, events), `send.rs` (frame encoding, fragmentation, close frames), `output.rs` (the output queue), `timers.rs` (keepalive, close timeout) |
//! | [`extensions`] | extension negotiation and permessage-deflate |
//! | `frame` (private) | frame header parsing and encoding |
//! | `mask` (private) | masking, SIMD with runtime dispatch (`unsafe`, audited) |
//! | `utf8` (private) | incremental UTF-8 validation and [`Utf8Bytes`] (one audited `unsafe` conversion) |
//! | `message`, `close`, `error`, `config`, `random` (private, re-exported at the root) | [`Event`] / [`Message`], [`CloseCode`] / [`CloseFrame`], the error types, [`Config`], [`RandomSource`] |
//!
//! # Features
//!
//! | feature | what |
//! | --- | --- |
//! | `std` (default) | mask keys from ChaCha12 seeded by OS entropy ([`OsRandom`]), `std::error::Error`, `IoSlice` output |
//! | `deflate` | permessage-deflate (RFC 7692) via `flate2` |
//! | `http` | conversions to and from the `http` crate's request and response types |
//! | `blocking`, `tokio` | drivers over `std::io` and tokio streams |
//! | `hyper`, `axum` | upgrade hyper 1.x / axum 0.8 requests, HTTP/1.1 and HTTP/2 (RFC 8441) |
//! | `h2` | a client over HTTP/2 extended CONNECT (RFC 8441) with the `h2` crate |
//! | `tracing` | `tracing` events (no_std too): frames at `trace`; handshake outcomes, closes (code, reason, initiator), protocol errors (close code), timeouts at `debug`; a `websocket` span (role, peer) per driver connection. Nothing compiled in without it |
//!
//! Without default features the crate is `no_std` + `alloc`; supply a [`RandomSource`] for a
//! client's mask keys.
#![no_std]
// `unsafe` is allowed in two audited places only: `mask/` (SIMD) and `Utf8Bytes::as_str`.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod close;
mod config;
pub mod connection;
#[cfg(any(feature = "blocking", feature = "tokio"))]
pub mod driver;
mod error;
pub mod extensions;
mod frame;
pub mod handshake;
#[allow(unsafe_code)]
mod mask;
mod message;
mod random;
mod trace;
mod utf8;

pub use bytes::{Bytes, BytesMut};
pub use close::{CloseCode, CloseFrame, MAX_CLOSE_REASON};
pub use config::{CloseReply, Config, Role};
pub use connection::{Connection, State};
pub use error::{Error, ProtocolError, SendError};
pub use handshake::{
    ClientHandshake, ClientOutcome, ClientRequest, HandshakeError, ServerHandshake,
};
/// Test hook (feature `__internal-test-hooks`, for the crate's benches and fuzz targets): every
/// masking path. Not part of the API.
#[cfg(feature = "__internal-test-hooks")]
#[doc(hidden)]
pub use mask::paths as __mask_paths;
pub use message::{Event, Message, MessageKind};
#[cfg(feature = "std")]
pub use random::OsRandom;
pub use random::RandomSource;
pub use utf8::Utf8Bytes;
