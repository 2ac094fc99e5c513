//! TLS configurations, the server-side acceptor and the typed TLS errors.

use std::borrow::ToOwned;
use std::fmt;
use std::io;
use std::path::Path;
use std::string::{String, ToString};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use std::vec::Vec;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::driver::Error;

/// What went wrong in TLS: the handshake (certificates, alerts, a peer that does not speak
/// TLS) or the configuration.
///
/// ```
/// use wsproto::driver::tls::TlsError;
///
/// let e = TlsError::from(wsproto::driver::tls::rustls::Error::InvalidCertificate(
///     wsproto::driver::tls::rustls::CertificateError::UnknownIssuer,
/// ));
/// assert!(matches!(e, TlsError::UnknownIssuer));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TlsError {
    /// The peer's certificate does not chain to a trusted root: a self-signed certificate, or
    /// one from a private CA missing from the root store (give your own
    /// [`ClientConfig`] with that CA).
    UnknownIssuer,
    /// The peer's certificate is valid, but not for the name we connected to.
    NameMismatch {
        /// The name we connected to (the URL's host).
        expected: String,
        /// The names the certificate is valid for (empty when unknown).
        presented: Vec<String>,
    },
    /// The peer's certificate has expired.
    Expired,
    /// The peer's certificate is not valid yet.
    NotValidYet,
    /// The peer's certificate is unacceptable for another reason (revoked, bad signature, not
    /// for a server, …).
    InvalidCertificate(rustls::CertificateError),
    /// The peer sent no certificate (a server that requires client certificates).
    NoCertificate,
    /// The peer ended the handshake with a fatal alert: it refused us. `UnknownCA` or
    /// `BadCertificate`: it does not trust our certificate; `HandshakeFailure` or
    /// `ProtocolVersion`: no common cipher suite or version; `NoApplicationProtocol`: no common
    /// ALPN protocol.
    AlertReceived(rustls::AlertDescription),
    /// The peer does not speak TLS: its bytes are not TLS records (a plain `ws://` or HTTP
    /// peer on the other end).
    NotTls,
    /// The peer closed the connection during the TLS handshake: it does not speak TLS (a plain
    /// server waiting for an HTTP request), or it gave up on us without an alert.
    HandshakeEof,
    /// The peer speaks TLS, but we could not agree (protocol versions, cipher suites, ALPN,
    /// a peer that broke the protocol).
    Incompatible(rustls::Error),
    /// The URL's host cannot be a TLS server name.
    InvalidServerName(String),
    /// A certificate, key or configuration could not be used.
    InvalidConfig(String),
    /// Any other TLS failure.
    Other(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::UnknownIssuer => f.write_str(
                "the peer's certificate is not signed by a trusted certificate authority \
                 (unknown issuer)",
            ),
            TlsError::NameMismatch {
                expected,
                presented,
            } => {
                write!(f, "the peer's certificate is not valid for {expected:?}")?;
                if !presented.is_empty() {
                    write!(f, " but for {}", presented.join(", "))?;
                }
                f.write_str(" (name mismatch)")
            }
            TlsError::Expired => f.write_str("the peer's certificate has expired"),
            TlsError::NotValidYet => f.write_str("the peer's certificate is not valid yet"),
            TlsError::InvalidCertificate(e) => write!(f, "the peer's certificate is invalid: {e}"),
            TlsError::NoCertificate => f.write_str("the peer sent no certificate"),
            TlsError::AlertReceived(alert) => {
                write!(f, "the peer refused the TLS handshake (alert {alert:?})")
            }
            TlsError::NotTls => {
                f.write_str("the peer does not speak TLS (a plain ws:// or HTTP server or client?)")
            }
            TlsError::HandshakeEof => f.write_str(
                "the peer closed the connection during the TLS handshake (does it speak TLS?)",
            ),
            TlsError::Incompatible(e) => write!(f, "the peer's TLS does not fit ours: {e}"),
            TlsError::InvalidServerName(host) => {
                write!(f, "{host:?} cannot be a TLS server name")
            }
            TlsError::InvalidConfig(why) => write!(f, "unusable TLS configuration: {why}"),
            TlsError::Other(e) => write!(f, "TLS failed: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Incompatible(e) | TlsError::Other(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        use rustls::CertificateError as C;
        use rustls::Error as E;
        match e {
            E::InvalidCertificate(C::UnknownIssuer) => TlsError::UnknownIssuer,
            E::InvalidCertificate(C::NotValidForName) => TlsError::NameMismatch {
                expected: String::new(),
                presented: Vec::new(),
            },
            E::InvalidCertificate(C::NotValidForNameContext {
                expected,
                presented,
            }) => TlsError::NameMismatch {
                expected: expected.to_str().into_owned(),
                presented,
            },
            E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => TlsError::Expired,
            E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
                TlsError::NotValidYet
            }
            E::InvalidCertificate(other) => TlsError::InvalidCertificate(other),
            E::NoCertificatesPresented => TlsError::NoCertificate,
            E::AlertReceived(alert) => TlsError::AlertReceived(alert),
            // The first bytes were not a TLS record header: HTTP text, for instance.
            E::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
                | rustls::InvalidMessage::UnknownProtocolVersion,
            ) => TlsError::NotTls,
            e @ (E::PeerIncompatible(_)
            | E::PeerMisbehaved(_)
            | E::NoApplicationProtocol
            | E::InvalidMessage(_)
            | E::InappropriateMessage { .. }
            | E::InappropriateHandshakeMessage { .. }
            | E::PeerSentOversizedRecord) => TlsError::Incompatible(e),
            other => TlsError::Other(other),
        }
    }
}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Error::Tls(e)
    }
}

/// The TLS failure an I/O error carries: rustls (and tokio-rustls) report a failed handshake
/// or record as an [`io::Error`] of kind `InvalidData` wrapping a [`rustls::Error`].
pub(crate) fn from_io(e: &io::Error) -> Option<TlsError> {
    e.get_ref()?
        .downcast_ref::<rustls::Error>()
        .map(|tls| TlsError::from(tls.clone()))
}

/// An I/O error from a TLS stream as a driver [`Error`]: [`Error::Tls`] when TLS failed.
pub(crate) fn io_error(e: io::Error) -> Error {
    match from_io(&e) {
        Some(tls) => Error::Tls(tls),
        None => Error::Io(e),
    }
}

/// An I/O error from a TLS handshake as a driver [`Error`]: [`Error::Tls`] when TLS failed or
/// the peer closed the connection before the handshake finished.
pub(crate) fn handshake_error(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof
        && e.get_ref().is_none_or(|inner| !inner.is::<rustls::Error>())
    {
        return Error::Tls(TlsError::HandshakeEof);
    }
    io_error(e)
}

/// rustls' `ring` provider.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// ALPN for a WebSocket handshake, which is HTTP/1.1 (RFC 6455).
fn alpn() -> Vec<Vec<u8>> {
    std::vec![b"http/1.1".to_vec()]
}

/// A client configuration trusting `roots`, with ALPN `http/1.1` and the `ring` provider: for
/// [`Options::tls_config`](crate::driver::Options::tls_config) when the server's certificate comes
/// from a private CA.
///
/// ```
/// use wsproto::driver::Options;
/// use wsproto::driver::tls::{client_config, rustls::RootCertStore};
///
/// let mut roots = RootCertStore::empty();
/// // roots.add(my_ca_certificate)?;
/// let options = Options::default().tls_config(client_config(roots)?);
/// # Ok::<(), wsproto::driver::tls::TlsError>(())
/// ```
pub fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::from)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

/// The configuration `connect` uses for `wss://` unless
/// [`Options::tls_config`](crate::driver::Options::tls_config) gives one: the webpki-roots root
/// store, ALPN `http/1.1`, the `ring` provider. Made once and shared.
pub fn default_client_config() -> Result<Arc<ClientConfig>, TlsError> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    if let Some(config) = DEFAULT.get() {
        return Ok(Arc::clone(config));
    }
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = client_config(roots)?;
    Ok(Arc::clone(DEFAULT.get_or_init(|| config)))
}

/// A server configuration presenting `certs` (the leaf first, then intermediates) with `key`,
/// ALPN `http/1.1` and the `ring` provider, asking for no client certificate.
pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::from)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::InvalidConfig(e.to_string()))?;
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

/// The TLS server name for a URL's host (a DNS name or an IP address).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned()).map_err(|_| TlsError::InvalidServerName(host.into()))
}

/// The client configuration for `connect`: the one in the options, or the default.
pub(crate) fn client_config_for(
    options: &crate::driver::Options,
) -> Result<Arc<ClientConfig>, TlsError> {
    match &options.tls {
        Some(config) => Ok(Arc::clone(config)),
        None => default_client_config(),
    }
}

/// Runs the server side of TLS handshakes for a [`rustls::ServerConfig`], for either driver,
/// reporting failures as [`Error::Tls`].
///
/// Cheap to clone (the configuration is shared). The handshake is bounded by a timeout
/// (default 30 s, as [`Options::handshake_timeout`](crate::driver::Options::handshake_timeout)).
#[derive(Debug, Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    handshake_timeout: Option<Duration>,
}

impl TlsAcceptor {
    /// An acceptor for `config`. Set its `alpn_protocols` to `http/1.1` (as [`server_config`]
    /// does) if clients that send ALPN should see it confirmed.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        TlsAcceptor {
            config,
            handshake_timeout: Some(Duration::from_secs(30)),
        }
    }

    /// An acceptor presenting the certificate chain in the PEM file `cert` (the leaf first)
    /// with the private key in the PEM file `key` (PKCS #8, PKCS #1 or SEC1), via
    /// [`server_config`].
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, Error> {
        let pem_error = |what: &Path, e: rustls::pki_types::pem::Error| match e {
            rustls::pki_types::pem::Error::Io(e) => Error::Io(e),
            e => Error::Tls(TlsError::InvalidConfig(std::format!(
                "{}: {e}",
                what.display()
            ))),
        };
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let certs = CertificateDer::pem_file_iter(cert)
            .map_err(|e| pem_error(cert, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error(cert, e))?;
        if certs.is_empty() {
            return Err(Error::Tls(TlsError::InvalidConfig(std::format!(
                "{}: no certificate",
                cert.display()
            ))));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e))?;
        Ok(TlsAcceptor::new(server_config(certs, key)?))
    }

    /// Sets how long a TLS handshake may take (`None`: no limit). It fails with
    /// [`io::ErrorKind::TimedOut`] after that.
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The server configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// The handshake timeout.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.handshake_timeout
    }

    /// Runs the server's TLS handshake over an accepted `stream` and returns the TLS stream,
    /// for [`WebSocketStream::accept`](crate::driver::tokio::WebSocketStream::accept) (or `hyper`,
    /// or anything else).
    #[cfg(feature = "tokio")]
    pub async fn accept<S>(&self, stream: S) -> Result<tokio_rustls::server::TlsStream<S>, Error>
    where
        S: ::tokio::io::AsyncRead + ::tokio::io::AsyncWrite + Unpin,
    {
        super::tokio::accept(self, stream).await
    }

    /// Runs the server's TLS handshake over an accepted blocking `stream` (within the
    /// handshake timeout, with the stream's read timeout) and returns the TLS stream, for
    /// [`WebSocket::accept`](crate::driver::blocking::WebSocket::accept).
    #[cfg(feature = "blocking")]
    pub fn accept_blocking<T>(
        &self,
        stream: T,
    ) -> Result<rustls::StreamOwned<rustls::ServerConnection, T>, Error>
    where
        T: crate::driver::blocking::Transport,
    {
        super::blocking::accept(self, stream)
    }
}

/// The error for a TLS handshake that ran out of time.
pub(crate) fn tls_timed_out() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::TimedOut,
        "the TLS handshake timed out",
    ))
}
