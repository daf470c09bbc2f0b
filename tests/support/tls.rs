//! Certificates made in the tests with `rcgen` (a CA, leaves for names, expired ones,
//! client certificates), written to PEM files under the target's temporary directory,
//! and the squall TLS configurations built from them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use squall::tls::{ClientTlsOptions, TlsConfig, TlsErrorKind};

/// A fresh directory for one test's files.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "tls-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A certificate and its key, as PEM, and where they were written.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl Leaf {
    pub fn certs(&self) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap()
    }

    /// A squall server configuration presenting this certificate (ALPN http/1.1).
    pub fn server_config(&self) -> TlsConfig {
        TlsConfig::server_from_pem_files(&self.cert_path, &self.key_path).unwrap()
    }
}

/// A test certificate authority.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub cert_pem: String,
    pub cert_path: PathBuf,
    dir: PathBuf,
}

pub enum Validity {
    Now,
    Expired,
}

impl TestCa {
    pub fn new(tag: &str) -> Self {
        let dir = temp_dir(tag);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("squall test CA {tag}"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        let cert_pem = cert.pem();
        let cert_path = dir.join("ca.pem");
        std::fs::write(&cert_path, &cert_pem).unwrap();
        TestCa {
            issuer: Issuer::new(params, key),
            cert_pem,
            cert_path,
            dir,
        }
    }

    /// A fresh CA named after `tag`, and a `localhost` server certificate it issued.
    pub fn with_localhost(tag: &str) -> (TestCa, Leaf) {
        let ca = TestCa::new(tag);
        let leaf = ca.leaf(&["localhost"]);
        (ca, leaf)
    }

    /// A server certificate for `names` that expired.
    pub fn expired_leaf(&self, names: &[&str]) -> Leaf {
        self.issue(
            names,
            Validity::Expired,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        self.issue(names, Validity::Now, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate.
    pub fn client_leaf(&self, name: &str) -> Leaf {
        self.issue(&[name], Validity::Now, ExtendedKeyUsagePurpose::ClientAuth)
    }

    pub fn issue(&self, names: &[&str], validity: Validity, eku: ExtendedKeyUsagePurpose) -> Leaf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        params.extended_key_usages = vec![eku];
        if let Validity::Expired = validity {
            params.not_before = date_time_ymd(2019, 1, 1);
            params.not_after = date_time_ymd(2020, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let n = N.fetch_add(1, Ordering::Relaxed);
        let cert_path = self.dir.join(format!("leaf{n}.pem"));
        let key_path = self.dir.join(format!("leaf{n}.key"));
        let cert_pem = cert.pem();
        let key_pem = key.serialize_pem();
        std::fs::write(&cert_path, &cert_pem).unwrap();
        std::fs::write(&key_path, &key_pem).unwrap();
        Leaf {
            cert_pem,
            key_pem,
            cert_path,
            key_path,
        }
    }

    /// Client options trusting this CA only.
    pub fn client_options(&self) -> ClientTlsOptions {
        ClientTlsOptions::default().ca_certs(&self.cert_path)
    }

    /// A squall client configuration trusting this CA only.
    pub fn client_config(&self) -> TlsConfig {
        TlsConfig::client(&self.client_options()).unwrap()
    }

    /// A rustls root store holding this CA (for blocking rustls peers).
    pub fn roots(&self) -> Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.cert_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        Arc::new(roots)
    }
}

/// A blocking rustls client configuration trusting `ca` (for peers in threads).
pub fn blocking_client_config(ca: &TestCa) -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder_with_provider(squall::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(ca.roots())
            .with_no_client_auth(),
    )
}

/// Completes a blocking client handshake on `tcp`, flushing whatever `conn` has queued
/// (application data written before the handshake leaves with its Finished message).
pub fn finish_handshake(conn: &mut rustls::ClientConnection, tcp: &mut std::net::TcpStream) {
    while conn.is_handshaking() || conn.wants_write() {
        if conn.wants_write() {
            conn.write_tls(tcp).unwrap();
        } else {
            conn.read_tls(tcp).unwrap();
            conn.process_new_packets().unwrap();
        }
    }
}

/// A server configuration presenting `leaf` that asks for a client certificate issued by
/// `ca` (and, unless `optional`, refuses a client without one).
pub fn client_auth_config(ca: &TestCa, leaf: &Leaf, optional: bool) -> TlsConfig {
    let provider = squall::tls::provider();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(ca.roots(), provider.clone());
    let verifier = if optional {
        verifier.allow_unauthenticated()
    } else {
        verifier
    };
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier.build().unwrap())
        .with_single_cert(leaf.certs(), leaf.key())
        .unwrap();
    TlsConfig::server(Arc::new(config))
}

/// The kind of a TLS failure, `None` for a success or another error.
pub fn tls_kind<T>(r: &squall::Result<T>) -> Option<TlsErrorKind> {
    match r {
        Err(squall::Error::Tls(e)) => Some(e.kind()),
        _ => None,
    }
}
