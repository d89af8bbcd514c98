//! The TLS settings of the exporter's connections, from the standard `OTEL_*` variables, on
//! the vendored OpenSSL the engine already links (no second TLS stack in the gem).
//!
//! - Which CAs vouch for the collector: the PEM file in `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`
//!   or `OTEL_EXPORTER_OTLP_CERTIFICATE`, and only those; without one, the system's roots
//!   (OpenSSL's own defaults, `SSL_CERT_FILE` and `SSL_CERT_DIR`, plus the first bundle found
//!   where common distributions keep it, since the vendored OpenSSL does not know their
//!   layout).
//! - The client certificate a collector that wants mutual TLS checks: the PEM files in
//!   `OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE` (the certificate, then any chain) and
//!   `OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_KEY`, both or neither.
//!
//! Each file is read once, when the exporter starts; an unreadable or invalid one is an error
//! naming its variable and path, found then rather than at the first export.

use std::ffi::OsString;
use std::path::Path;

use openssl::pkey::PKey;
use openssl::ssl::{SslConnector, SslConnectorBuilder, SslMethod};

use crate::error::{Error, Result};

/// The variables naming the CA file, the traces-only one first.
const CERTIFICATE_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
];

/// The variables naming the client certificate file, the traces-only one first.
const CLIENT_CERTIFICATE_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
];

/// The variables naming the client key file, the traces-only one first.
const CLIENT_KEY_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
];

/// Where distributions keep their CA bundle (Debian and Alpine, Fedora and RHEL, macOS and
/// others).
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Which HTTP version a connection speaks, offered to the collector in the handshake (ALPN):
/// a gRPC server behind TLS expects `h2` there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    Http1,
    Http2,
}

/// A file named by a variable: the variable, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Named {
    pub(super) variable: &'static str,
    pub(super) path: OsString,
}

impl Named {
    /// The first of `variables` that is set and not empty.
    fn from_env(variables: &[&'static str]) -> Option<Self> {
        variables.iter().find_map(|variable| {
            let path = std::env::var_os(variable)?;
            (!path.is_empty()).then_some(Self { variable, path })
        })
    }

    fn display(&self) -> std::path::Display<'_> {
        Path::new(&self.path).display()
    }
}

/// What the variables ask of the exporter's TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Settings {
    /// The CA file to trust instead of the system's roots.
    pub(super) ca: Option<Named>,
    /// The client certificate file, then its key file.
    pub(super) client: Option<(Named, Named)>,
}

impl Settings {
    /// The settings the `OTEL_*` variables give.
    ///
    /// # Errors
    ///
    /// When only one of the client certificate and key variables is set.
    pub(super) fn from_env() -> Result<Self> {
        let certificate = Named::from_env(&CLIENT_CERTIFICATE_VARIABLES);
        let key = Named::from_env(&CLIENT_KEY_VARIABLES);
        let client = match (certificate, key) {
            (Some(certificate), Some(key)) => Some((certificate, key)),
            (None, None) => None,
            (Some(set), None) | (None, Some(set)) => {
                let missing = if set.variable.contains("KEY") {
                    CLIENT_CERTIFICATE_VARIABLES[1]
                } else {
                    CLIENT_KEY_VARIABLES[1]
                };
                return Err(Error::Tracing(format!(
                    "{} is set ({}) but {missing} is not; a client certificate needs both its \
                     certificate and its key, so set both or neither",
                    set.variable,
                    set.display()
                )));
            }
        };
        Ok(Self {
            ca: Named::from_env(&CERTIFICATE_VARIABLES),
            client,
        })
    }

    /// An OpenSSL client context with these settings, offering `protocol`.
    ///
    /// # Errors
    ///
    /// When a named file cannot be read or holds nothing usable, or the client key does not
    /// match the client certificate: each names its variable and path.
    pub(super) fn connector(&self, protocol: Protocol) -> Result<SslConnector> {
        let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(setup_failed)?;
        match &self.ca {
            Some(ca) => trust_only(&mut builder, ca)?,
            None => trust_the_system(&mut builder)?,
        }
        if let Some((certificate, key)) = &self.client {
            present(&mut builder, certificate, key)?;
        }
        let alpn: &[u8] = match protocol {
            Protocol::Http1 => b"\x08http/1.1",
            Protocol::Http2 => b"\x02h2",
        };
        builder.set_alpn_protos(alpn).map_err(setup_failed)?;
        Ok(builder.build())
    }
}

fn setup_failed(error: openssl::error::ErrorStack) -> Error {
    Error::Tracing(format!("cannot set up TLS for the OTLP exporter: {error}"))
}

/// Trusts only the CAs in `ca`: a fresh store, so the system's roots are not consulted.
fn trust_only(builder: &mut SslConnectorBuilder, ca: &Named) -> Result<()> {
    let store = openssl::x509::store::X509StoreBuilder::new()
        .map_err(setup_failed)?
        .build();
    builder.set_cert_store(store);
    builder.set_ca_file(&ca.path).map_err(|error| {
        Error::Tracing(format!(
            "cannot read the CA file {} named by {}: {error}; set it to a PEM file of the CAs \
             that signed the collector's certificate",
            ca.display(),
            ca.variable
        ))
    })
}

fn trust_the_system(builder: &mut SslConnectorBuilder) -> Result<()> {
    builder.set_default_verify_paths().map_err(setup_failed)?;
    let defaults_set = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    if !defaults_set {
        if let Some(bundle) = SYSTEM_BUNDLES.iter().find(|p| Path::new(p).is_file()) {
            // An unreadable bundle leaves OpenSSL's defaults, which may suffice.
            let _ = builder.set_ca_file(bundle);
        }
    }
    Ok(())
}

/// Presents `certificate` (and the chain after it in the file), signed for with `key`.
fn present(builder: &mut SslConnectorBuilder, certificate: &Named, key: &Named) -> Result<()> {
    builder
        .set_certificate_chain_file(&certificate.path)
        .map_err(|error| {
            Error::Tracing(format!(
                "cannot read the client certificate {} named by {}: {error}; set it to a PEM \
                 file holding the certificate the collector expects, then its chain",
                certificate.display(),
                certificate.variable
            ))
        })?;
    let unreadable = |reason: &dyn std::fmt::Display| {
        Error::Tracing(format!(
            "cannot read the client key {} named by {}: {reason}; set it to an unencrypted PEM \
             private key",
            key.display(),
            key.variable
        ))
    };
    let pem = std::fs::read(&key.path).map_err(|error| unreadable(&error))?;
    let private = PKey::private_key_from_pem(&pem).map_err(|error| unreadable(&error))?;
    // Read apart from the certificate, so a key that does not fit it says so.
    builder.set_private_key(&private).map_err(|error| {
        Error::Tracing(format!(
            "the client key {} named by {} does not match the client certificate {} named by \
             {}: {error}",
            key.display(),
            key.variable,
            certificate.display(),
            certificate.variable
        ))
    })
}
