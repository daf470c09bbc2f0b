//! TLS settings and errors (Tornado's `ssl_options`), for rustls under
//! [`IoStream`](crate::stream::IoStream).
//!
//! A [`TlsConfig`] is one side's rustls configuration plus the handshake timeout.
//! Servers load a certificate chain and key from PEM ([`TlsConfig::server_from_pem_files`])
//! or take a ready `rustls::ServerConfig`; clients verify against the system roots by
//! default, or against [`ClientTlsOptions::ca_certs`], or not at all
//! ([`ClientTlsOptions::validate_cert`] `= false`). Failures are [`Error::Tls`] with a
//! [`TlsErrorKind`] naming the cause. The same [`ClientTlsOptions`] configure the HTTP
//! client's `https://` and the WebSocket client's `wss://`
//! ([`WebSocketOptions::tls`](crate::websocket::WebSocketOptions::tls)).
//!
//! The crypto provider is rustls' `ring`.
//!
//! ```
//! # fn main() -> squall::Result<()> {
//! use squall::tls::{ClientTlsOptions, TlsConfig};
//! let insecure = TlsConfig::client(&ClientTlsOptions::default().validate_cert(false))?;
//! assert!(!insecure.is_server());
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};

pub use crate::error::tls_error::{TlsError, TlsErrorKind};
use crate::error::{Error, Result};

/// The rustls crate squall is built with, for building configurations by hand.
pub use rustls;

/// Default limit on how long a TLS handshake may take before the stream is closed with
/// [`Error::Timeout`].
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The ALPN protocol id of HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The crypto provider squall builds its configurations with (rustls' `ring`).
// rustls from 0.23.48 deprecates `ring::default_provider` (no post-quantum key
// exchange); `ring` is the provider squall is built on, so a newer lock file must not
// turn that into a warning (the fuzz crate's already has it).
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

impl TlsError {
    /// Classifies a rustls error from a handshake.
    pub(crate) fn from_rustls(e: &rustls::Error) -> Self {
        use rustls::Error as R;
        let kind = match e {
            R::InvalidCertificate(c) => match c {
                CertificateError::UnknownIssuer => TlsErrorKind::UnknownIssuer,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsErrorKind::HostnameMismatch,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    TlsErrorKind::Expired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    TlsErrorKind::NotYetValid
                }
                _ => TlsErrorKind::BadCertificate,
            },
            R::NoCertificatesPresented => TlsErrorKind::CertificateRequired,
            R::AlertReceived(rustls::AlertDescription::CertificateRequired) => {
                TlsErrorKind::CertificateRequired
            }
            R::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
                | rustls::InvalidMessage::UnknownProtocolVersion,
            )
            | R::PeerSentOversizedRecord => TlsErrorKind::NotTls,
            _ => TlsErrorKind::HandshakeFailure,
        };
        TlsError::new(kind, e.to_string())
    }
}

fn config_error(detail: impl Into<String>) -> Error {
    Error::Tls(TlsError::new(TlsErrorKind::Config, detail))
}

#[derive(Clone)]
pub(crate) enum Side {
    Server(Arc<ServerConfig>),
    Client(Arc<ClientConfig>),
}

/// One side's TLS configuration: a rustls `ServerConfig` or `ClientConfig`, and the
/// handshake timeout. Cheap to clone (the rustls configuration is shared).
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) side: Side,
    pub(crate) handshake_timeout: Duration,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server", &self.is_server())
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// A server side from a ready rustls configuration (set its `alpn_protocols`
    /// yourself; [`server_from_pem_files`](Self::server_from_pem_files) offers
    /// `http/1.1`).
    pub fn server(config: Arc<ServerConfig>) -> Self {
        TlsConfig {
            side: Side::Server(config),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// A client side from a ready rustls configuration.
    pub fn client_from_rustls(config: Arc<ClientConfig>) -> Self {
        TlsConfig {
            side: Side::Client(config),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// A client side built from `options`.
    ///
    /// # Errors
    /// [`Error::Tls`] with [`TlsErrorKind::Config`] if a PEM file cannot be read or
    /// parsed, or the client key does not match its certificate.
    pub fn client(options: &ClientTlsOptions) -> Result<Self> {
        Ok(Self::client_from_rustls(options.build()?))
    }

    /// A server presenting the certificate chain in `cert_pem` (leaf first) with the
    /// private key in `key_pem` (PKCS#8, PKCS#1 or SEC1), offering ALPN `http/1.1`,
    /// TLS 1.2 and 1.3.
    ///
    /// # Errors
    /// [`Error::Tls`] with [`TlsErrorKind::Config`] naming the file and the problem.
    pub fn server_from_pem_files(
        cert_pem: impl AsRef<Path>,
        key_pem: impl AsRef<Path>,
    ) -> Result<Self> {
        let certs = load_certs(cert_pem.as_ref())?;
        let key = load_key(key_pem.as_ref())?;
        Self::server_from_der(certs, key)
    }

    /// Like [`server_from_pem_files`](Self::server_from_pem_files), from PEM text.
    ///
    /// # Errors
    /// As [`server_from_pem_files`](Self::server_from_pem_files).
    pub fn server_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self> {
        let certs = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| config_error(format!("certificate PEM: {e}")))?;
        if certs.is_empty() {
            return Err(config_error("certificate PEM: no certificate found"));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| config_error(format!("private key PEM: {e}")))?;
        Self::server_from_der(certs, key)
    }

    fn server_from_der(
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| config_error(format!("certificate and key: {e}")))?;
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Ok(Self::server(Arc::new(config)))
    }

    /// Sets the handshake timeout (default [`DEFAULT_HANDSHAKE_TIMEOUT`]). There is
    /// always one: a peer that stalls mid-handshake is never waited on forever.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// True for a server side.
    pub fn is_server(&self) -> bool {
        matches!(self.side, Side::Server(_))
    }

    /// The server-side rustls configuration, if this is one.
    pub fn server_config(&self) -> Option<&Arc<ServerConfig>> {
        match &self.side {
            Side::Server(c) => Some(c),
            Side::Client(_) => None,
        }
    }

    /// The client-side rustls configuration, if this is one.
    pub fn client_config(&self) -> Option<&Arc<ClientConfig>> {
        match &self.side {
            Side::Client(c) => Some(c),
            Side::Server(_) => None,
        }
    }
}

/// Reads every certificate in a PEM file.
///
/// # Errors
/// [`Error::Tls`] ([`TlsErrorKind::Config`]) naming the file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| config_error(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(config_error(format!(
            "{}: no certificate found",
            path.display()
        )));
    }
    Ok(certs)
}

/// Reads the first private key in a PEM file.
///
/// # Errors
/// [`Error::Tls`] ([`TlsErrorKind::Config`]) naming the file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| config_error(format!("{}: {e}", path.display())))
}

/// How a client verifies servers and identifies itself (Tornado's `validate_cert`,
/// `ca_certs`, `client_cert`, `client_key`). Equal options make equal configurations,
/// so connection pools key on them.
///
/// ```
/// use squall::tls::ClientTlsOptions;
/// let o = ClientTlsOptions::default().ca_certs("ca.pem");
/// assert!(o.validates_cert());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ClientTlsOptions {
    /// Trust these roots (a PEM file) instead of the system's.
    pub ca_certs: Option<PathBuf>,
    /// Verify the server's chain and name (default `true`).
    pub validate_cert: bool,
    /// A client certificate chain (PEM) to present, with [`client_key`](Self::client_key).
    pub client_cert: Option<PathBuf>,
    /// The private key (PEM) of [`client_cert`](Self::client_cert).
    pub client_key: Option<PathBuf>,
    /// ALPN protocols to offer (default: `http/1.1`).
    pub alpn: Vec<Vec<u8>>,
}

impl Default for ClientTlsOptions {
    fn default() -> Self {
        ClientTlsOptions {
            ca_certs: None,
            validate_cert: true,
            client_cert: None,
            client_key: None,
            alpn: vec![ALPN_HTTP11.to_vec()],
        }
    }
}

impl ClientTlsOptions {
    /// Trust the roots in this PEM file instead of the system's.
    pub fn ca_certs(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_certs = Some(path.into());
        self
    }

    /// Whether to verify the server certificate (default `true`).
    pub fn validate_cert(mut self, yes: bool) -> Self {
        self.validate_cert = yes;
        self
    }

    /// Present this client certificate chain and key (PEM files).
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some(cert.into());
        self.client_key = Some(key.into());
        self
    }

    /// ALPN protocols to offer.
    pub fn alpn(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = protocols;
        self
    }

    /// True if the server's certificate will be verified.
    pub fn validates_cert(&self) -> bool {
        self.validate_cert
    }

    /// Builds the rustls configuration.
    ///
    /// # Errors
    /// [`Error::Tls`] ([`TlsErrorKind::Config`]) if a file cannot be read or parsed.
    pub fn build(&self) -> Result<Arc<ClientConfig>> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(e.to_string()))?;
        let builder = if !self.validate_cert {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerifier(provider())))
        } else {
            let roots = match &self.ca_certs {
                Some(path) => {
                    let mut roots = RootCertStore::empty();
                    for cert in load_certs(path)? {
                        roots
                            .add(cert)
                            .map_err(|e| config_error(format!("{}: {e}", path.display())))?;
                    }
                    Arc::new(roots)
                }
                None => system_roots(),
            };
            builder.with_root_certificates(roots)
        };
        let mut config = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
                .map_err(|e| config_error(format!("client certificate and key: {e}")))?,
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(config_error(
                    "a client certificate needs its key and vice versa",
                ))
            }
        };
        config.alpn_protocols = self.alpn.clone();
        Ok(Arc::new(config))
    }
}

/// The system's trust roots (loaded once per process), or the Mozilla roots bundled
/// with `webpki-roots` when the system has none.
pub fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                log::debug!("system trust roots: {e}");
            }
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                log::info!("no system trust roots found: using the bundled Mozilla roots");
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            Arc::new(roots)
        })
        .clone()
}

/// Parses `host` as the name to verify and send as SNI.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .map_err(|e| config_error(format!("invalid server name {host:?}: {e}")))
}

/// `validate_cert = false`: accepts any certificate, still checks the handshake
/// signatures (so the connection is at least bound to the presented key).
#[derive(Debug)]
struct NoVerifier(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What a finished handshake agreed on (Tornado's `SSLIOStream` exposes the same through
/// the `ssl.SSLSocket`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The negotiated protocol version (TLS 1.2 or 1.3).
    pub version: Option<rustls::ProtocolVersion>,
    /// The negotiated ALPN protocol, if any.
    pub alpn: Option<Vec<u8>>,
    /// The peer's certificate chain, leaf first (empty if it presented none).
    pub peer_certificates: Vec<CertificateDer<'static>>,
    /// The name the client asked for with SNI (on a server), or the name verified (on a
    /// client).
    pub server_name: Option<String>,
    /// The negotiated cipher suite.
    pub cipher_suite: Option<rustls::CipherSuite>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: rustls::Error) -> TlsErrorKind {
        TlsError::from_rustls(&e).kind()
    }

    #[test]
    fn rustls_errors_are_classified_by_cause() {
        use rustls::Error as R;
        let cert = |c| kind(R::InvalidCertificate(c));
        assert_eq!(
            cert(CertificateError::UnknownIssuer),
            TlsErrorKind::UnknownIssuer
        );
        assert_eq!(
            cert(CertificateError::NotValidForName),
            TlsErrorKind::HostnameMismatch
        );
        assert_eq!(cert(CertificateError::Expired), TlsErrorKind::Expired);
        assert_eq!(
            cert(CertificateError::NotValidYet),
            TlsErrorKind::NotYetValid
        );
        assert_eq!(
            cert(CertificateError::BadSignature),
            TlsErrorKind::BadCertificate
        );
        assert_eq!(
            kind(R::NoCertificatesPresented),
            TlsErrorKind::CertificateRequired
        );
        assert_eq!(
            kind(R::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
            )),
            TlsErrorKind::NotTls
        );
        assert_eq!(
            kind(R::AlertReceived(rustls::AlertDescription::HandshakeFailure)),
            TlsErrorKind::HandshakeFailure
        );
        let e = TlsError::from_rustls(&R::InvalidCertificate(CertificateError::UnknownIssuer));
        assert!(e.is_certificate_problem());
        assert!(e
            .to_string()
            .starts_with("certificate verify failed: unknown issuer ("));
        assert!(!TlsError::new(TlsErrorKind::NotTls, "").is_certificate_problem());
        assert_eq!(
            Error::from(TlsError::new(TlsErrorKind::NotTls, "")).to_string(),
            "peer does not speak TLS"
        );
    }

    fn config_kind<T: fmt::Debug>(r: Result<T>) -> TlsErrorKind {
        match r {
            Err(Error::Tls(e)) => e.kind(),
            other => panic!("expected a TLS error, got {other:?}"),
        }
    }

    #[test]
    fn bad_pem_and_files_are_configuration_errors() {
        assert_eq!(
            config_kind(TlsConfig::server_from_pem(b"", b"")),
            TlsErrorKind::Config
        );
        let garbage = b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        assert_eq!(
            config_kind(TlsConfig::server_from_pem(garbage, b"")),
            TlsErrorKind::Config
        );
        let e = TlsConfig::server_from_pem_files("/nonexistent/c.pem", "/nonexistent/k.pem")
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/c.pem"), "{e}");
        let half = ClientTlsOptions {
            client_cert: Some("/nonexistent/c.pem".into()),
            ..ClientTlsOptions::default()
        };
        assert_eq!(config_kind(half.build()), TlsErrorKind::Config);
        assert_eq!(
            config_kind(
                ClientTlsOptions::default()
                    .ca_certs("/nonexistent/ca.pem")
                    .build()
            ),
            TlsErrorKind::Config
        );
        assert_eq!(config_kind(server_name("bad name!")), TlsErrorKind::Config);
        assert!(server_name("[::1]").is_ok());
    }

    #[test]
    fn equal_options_are_equal_keys_and_defaults_verify() {
        let a = ClientTlsOptions::default().ca_certs("ca.pem");
        assert_eq!(a, ClientTlsOptions::default().ca_certs("ca.pem"));
        assert_ne!(a, ClientTlsOptions::default());
        assert!(ClientTlsOptions::default().validates_cert());
        assert!(!ClientTlsOptions::default()
            .validate_cert(false)
            .validates_cert());
        // Building with the system roots (or the bundled ones) always works.
        let c = TlsConfig::client(&ClientTlsOptions::default()).unwrap();
        assert_eq!(
            c.client_config().unwrap().alpn_protocols,
            vec![b"http/1.1".to_vec()]
        );
        assert!(c.server_config().is_none() && !c.is_server());
    }
}
