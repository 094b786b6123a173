//! TLS to PostgreSQL: libpq's `sslmode` semantics on rustls (ring provider), built once per
//! backend by [`PostgresTls::new`] for the pool and for `kagami-migrate`'s connection.
//!
//! | `sslmode` | TLS | certificate check |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | when the server offers it, else plaintext | none; the chain when a CA file is set |
//! | `require` | always | none; the chain when a CA file is set (libpq does the same) |
//! | `verify-ca` | always | the chain, not the host name |
//! | `verify-full` | always | the chain and the host name |
//!
//! "None" still checks the handshake signatures, so the connection is encrypted to whoever
//! holds the presented certificate's key — against a passive eavesdropper, not against an
//! active man in the middle. The chain is checked against the CA file when one is set, else
//! against Mozilla's root list (`webpki-roots`): a private CA must be given as the CA file.

use std::{fmt, path::Path, path::PathBuf, str::FromStr, sync::Arc};

use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{CryptoProvider, WebPkiSupportedAlgorithms},
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::PostgresConfig;

/// How a connection to PostgreSQL is protected: libpq's `sslmode` values (`allow` is not
/// supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SslMode {
    /// Plaintext.
    Disable,
    /// TLS when the server offers it, plaintext when it refuses; the certificate is not
    /// checked unless a CA file is set (libpq's default).
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is not checked unless a CA file is set.
    Require,
    /// TLS, with the certificate chain checked against the roots; any host name.
    VerifyCa,
    /// TLS, with the certificate chain checked against the roots and the certificate valid
    /// for the host connected to.
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling (`verify-full`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// The driver's mode: it negotiates, the verifier decides what is checked.
    pub(super) const fn driver_mode(self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as Driver;
        match self {
            Self::Disable => Driver::Disable,
            Self::Prefer => Driver::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => Driver::Require,
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = TlsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return Err(TlsError::InvalidSslMode(s.to_owned())),
        })
    }
}

/// What is wrong with the TLS settings.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Not one of the supported `sslmode` values.
    #[error(
        "invalid sslmode {0:?}: expected one of disable, prefer, require, verify-ca, verify-full"
    )]
    InvalidSslMode(String),
    /// The CA file cannot be read or holds no PEM certificate.
    #[error("cannot read CA certificates from {path}")]
    RootCertFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The CA file holds a certificate that is not a usable trust anchor.
    #[error("{path} holds no usable CA certificate")]
    NoRootCert {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the settings.
    #[error("cannot set up TLS")]
    Rustls(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The TLS connector for a [`PostgresConfig`]: rustls on the ring provider, with the
/// certificate verifier its `sslmode` and CA file call for (see the module table).
#[derive(Clone)]
pub struct PostgresTls {
    connector: MakeRustlsConnect,
    mode: SslMode,
}

impl fmt::Debug for PostgresTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresTls")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl PostgresTls {
    /// Builds the connector, reading the CA file if one is set. Binaries call it at
    /// start-up to report a bad CA file before connecting; the backends call it again.
    ///
    /// # Errors
    /// [`TlsError::RootCertFile`] / [`TlsError::NoRootCert`] for an unreadable or empty CA
    /// file; [`TlsError::Rustls`] if rustls refuses the protocol settings.
    pub fn new(config: &PostgresConfig) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = match &config.ssl_root_cert {
            Some(path) => Some(load_roots(path)?),
            None if matches!(config.ssl_mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
                Some(rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                })
            }
            None => None,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match (config.ssl_mode, roots) {
            (_, None) | (SslMode::Disable, _) => Arc::new(EncryptOnly {
                algorithms: provider.signature_verification_algorithms,
            }),
            (SslMode::VerifyFull, Some(roots)) => webpki(roots, &provider)?,
            (SslMode::Prefer | SslMode::Require | SslMode::VerifyCa, Some(roots)) => {
                Arc::new(ChainOnly(webpki(roots, &provider)?))
            }
        };
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.into()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Self {
            connector: MakeRustlsConnect::new(client),
            mode: config.ssl_mode,
        })
    }

    /// The `sslmode` this connector was built for.
    pub const fn mode(&self) -> SslMode {
        self.mode
    }

    /// The driver's `MakeTlsConnect`.
    pub(super) fn connector(&self) -> MakeRustlsConnect {
        self.connector.clone()
    }
}

fn load_roots(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::RootCertFile {
            path: path.to_owned(),
            source,
        })?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TlsError::NoRootCert {
            path: path.to_owned(),
        });
    }
    Ok(roots)
}

fn webpki(
    roots: rustls::RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|e| TlsError::Rustls(e.into()))
}

/// `prefer`/`require` without a CA file: any certificate, but the handshake must be signed
/// by its key (so the session keys are not handed to a passive observer).
#[derive(Debug)]
struct EncryptOnly {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `verify-ca` (and `prefer`/`require` with a CA file): the full WebPKI check except the host
/// name. rustls checks the name last, after the chain, so a name mismatch means the chain
/// was valid.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Removes libpq's `sslmode` and `sslrootcert`, which the driver does not parse (it knows no
/// `verify-*` modes), from a `postgres://` URL's query or a `key=value` string, and returns
/// the rest with their values (percent-decoded from a URL).
pub(super) fn take_tls_params(conninfo: &str) -> (String, Option<String>, Option<String>) {
    let mut mode = None;
    let mut root_cert = None;
    let mut take = |key: &str, value: String| match key {
        "sslmode" => {
            mode = Some(value);
            true
        }
        "sslrootcert" => {
            root_cert = Some(value);
            true
        }
        _ => false,
    };
    let rest = if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
        match conninfo.split_once('?') {
            Some((base, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|pair| {
                        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                        let value = percent_encoding::percent_decode_str(value)
                            .decode_utf8_lossy()
                            .into_owned();
                        !take(key, value)
                    })
                    .collect();
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            None => conninfo.to_owned(),
        }
    } else {
        let mut rest = String::with_capacity(conninfo.len());
        let mut last = 0;
        for (start, end, key, value) in key_value_pairs(conninfo) {
            if take(key, value) {
                rest.push_str(&conninfo[last..start]);
                last = end;
            }
        }
        rest.push_str(&conninfo[last..]);
        rest
    };
    (rest, mode, root_cert)
}

/// The `key = value` pairs of a libpq connection string, each with its byte span: values
/// unquoted (up to white space) or in single quotes, with backslash escapes in both.
fn key_value_pairs(s: &str) -> Vec<(usize, usize, &str, String)> {
    let bytes = s.as_bytes();
    let mut pairs = Vec::new();
    let mut i = 0;
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_space(i);
        if i >= bytes.len() {
            return pairs;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &s[start..i];
        i = skip_space(i);
        if i >= bytes.len() || bytes[i] != b'=' {
            // Not a pair: the driver reports it; stop looking.
            return pairs;
        }
        i = skip_space(i + 1);
        let quoted = bytes.get(i) == Some(&b'\'');
        if quoted {
            i += 1;
        }
        let mut value = Vec::new();
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if i + 1 < bytes.len() => {
                    value.push(bytes[i + 1]);
                    i += 2;
                    continue;
                }
                b'\'' if quoted => {
                    i += 1;
                    break;
                }
                c if !quoted && c.is_ascii_whitespace() => break,
                c => value.push(c),
            }
            i += 1;
        }
        pairs.push((start, i, key, String::from_utf8_lossy(&value).into_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_parses_libpq_spellings_and_rejects_others() {
        for mode in [
            SslMode::Disable,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            assert_eq!(mode.as_str().parse::<SslMode>().unwrap(), mode);
        }
        let err = "verify_full".parse::<SslMode>().unwrap_err();
        assert!(matches!(&err, TlsError::InvalidSslMode(v) if v == "verify_full"));
        assert!(err.to_string().contains("verify-full"), "{err}");
    }

    #[test]
    fn tls_parameters_are_taken_from_a_url() {
        let (rest, mode, root) = take_tls_params(
            "postgres://u:p@db:5432/k?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca%20b.pem",
        );
        assert_eq!(rest, "postgres://u:p@db:5432/k?application_name=x");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/etc/ca b.pem"));
        let (rest, mode, root) = take_tls_params("postgresql://db/k?sslmode=require");
        assert_eq!(
            (rest.as_str(), mode.as_deref(), root),
            ("postgresql://db/k", Some("require"), None)
        );
        let (rest, mode, _) = take_tls_params("postgres://db/k");
        assert_eq!((rest.as_str(), mode), ("postgres://db/k", None));
    }

    #[test]
    fn tls_parameters_are_taken_from_a_key_value_string() {
        let (rest, mode, root) = take_tls_params(
            "host=db sslmode = verify-ca user=u sslrootcert='/etc/my ca\\'s.pem' dbname=k",
        );
        assert_eq!(rest, "host=db  user=u  dbname=k");
        assert_eq!(mode.as_deref(), Some("verify-ca"));
        assert_eq!(root.as_deref(), Some("/etc/my ca's.pem"));
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let mut config = PostgresConfig::from_parts("db", 5432, "k", "u", None);
        config.ssl_mode = SslMode::VerifyFull;
        config.ssl_root_cert = Some(PathBuf::from("/nonexistent/kagami-ca.pem"));
        let err = PostgresTls::new(&config).unwrap_err();
        assert!(matches!(err, TlsError::RootCertFile { .. }), "{err:?}");
        assert!(
            err.to_string().contains("/nonexistent/kagami-ca.pem"),
            "{err}"
        );
    }

    #[test]
    fn every_mode_builds_without_a_ca_file() {
        for mode in [
            SslMode::Disable,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            let mut config = PostgresConfig::from_parts("db", 5432, "k", "u", None);
            config.ssl_mode = mode;
            assert_eq!(PostgresTls::new(&config).unwrap().mode(), mode);
        }
    }
}
