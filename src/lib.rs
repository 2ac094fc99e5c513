//! # wsproto
//!
//! A sans-IO implementation of the WebSocket protocol (RFC 6455).
//!
//! CRATE-DOCS-PLACEHOLDER
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod close;
mod config;
pub mod connection;
mod error;
pub mod frame;
mod mask;
mod message;
mod random;
mod utf8;

pub use bytes::Bytes;
pub use close::{CloseCode, CloseFrame, MAX_CLOSE_REASON};
pub use config::{CloseReply, Config, Role};
pub use connection::{Connection, State};
pub use error::{Error, ProtocolError, SendError};
#[doc(hidden)]
pub use mask::paths as __mask_paths;
pub use message::{Event, Message, MessageKind, Utf8Bytes};
#[cfg(feature = "std")]
pub use random::OsRandom;
pub use random::RandomSource;
