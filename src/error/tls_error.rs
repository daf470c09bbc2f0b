//! [`TlsError`] and [`TlsErrorKind`]: a TLS failure, for [`Error::Tls`].

use std::fmt;

use super::Error;

/// What went wrong in a TLS handshake, for a caller to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The peer's certificate chain does not lead to a trusted root.
    UnknownIssuer,
    /// The certificate is valid, but not for the name that was asked for.
    HostnameMismatch,
    /// The certificate has expired.
    Expired,
    /// The certificate is not valid yet.
    NotYetValid,
    /// Another certificate problem (bad encoding, signature, purpose, revoked, ...).
    BadCertificate,
    /// The server requires a client certificate and none was presented.
    CertificateRequired,
    /// The handshake failed for another reason (no common protocol or cipher suite, an
    /// alert from the peer, the peer closed the connection, ...).
    HandshakeFailure,
    /// The peer does not speak TLS (e.g. plain HTTP on the other end).
    NotTls,
    /// The local configuration is unusable (PEM file missing or malformed, key does
    /// not match the certificate, bad server name, ...).
    Config,
}

impl TlsErrorKind {
    fn describe(self) -> &'static str {
        match self {
            TlsErrorKind::UnknownIssuer => "certificate verify failed: unknown issuer",
            TlsErrorKind::HostnameMismatch => "certificate verify failed: hostname mismatch",
            TlsErrorKind::Expired => "certificate verify failed: certificate has expired",
            TlsErrorKind::NotYetValid => "certificate verify failed: certificate is not yet valid",
            TlsErrorKind::BadCertificate => "certificate verify failed",
            TlsErrorKind::CertificateRequired => "client certificate required",
            TlsErrorKind::HandshakeFailure => "TLS handshake failed",
            TlsErrorKind::NotTls => "peer does not speak TLS",
            TlsErrorKind::Config => "TLS configuration error",
        }
    }
}

/// A TLS failure: a [`TlsErrorKind`] and the details.
///
/// ```
/// use squall::tls::{TlsError, TlsErrorKind};
/// let e = TlsError::new(TlsErrorKind::NotTls, "server does not speak TLS");
/// assert!(e.to_string().contains("does not speak TLS"));
/// assert!(!e.is_certificate_problem());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    kind: TlsErrorKind,
    detail: String,
}

impl TlsError {
    /// An error of `kind` with `detail` for humans.
    pub fn new(kind: TlsErrorKind, detail: impl Into<String>) -> Self {
        TlsError {
            kind,
            detail: detail.into(),
        }
    }

    /// The cause.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    /// The details (rustls' own message, the file that failed, ...).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// True for problems with the peer's certificate (curl's exit code 60).
    pub fn is_certificate_problem(&self) -> bool {
        matches!(
            self.kind,
            TlsErrorKind::UnknownIssuer
                | TlsErrorKind::HostnameMismatch
                | TlsErrorKind::Expired
                | TlsErrorKind::NotYetValid
                | TlsErrorKind::BadCertificate
        )
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            f.write_str(self.kind.describe())
        } else {
            write!(f, "{} ({})", self.kind.describe(), self.detail)
        }
    }
}

impl std::error::Error for TlsError {}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Error::Tls(e)
    }
}
