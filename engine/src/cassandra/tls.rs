//! TLS to Cassandra (`cassandra_tls`, `cassandra_tls_ca`), through the same statically built
//! OpenSSL that librdkafka uses.

use std::path::Path;

use openssl::ssl::{SslContext, SslContextBuilder, SslMethod, SslVerifyMode};

use crate::config::Config;
use crate::error::{Error, Result};

/// Where Linux distributions keep their bundle of trusted CAs. The OpenSSL compiled into the
/// gem knows only its own build-time directory, which hosts do not have, so without
/// `cassandra_tls_ca` (or `SSL_CERT_FILE`) the first of these that exists is used.
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The TLS context for `config`, or `None` when TLS is off. The server's certificate and host
/// name are always checked.
///
/// # Errors
///
/// [`Error::Cassandra`] naming `cassandra_tls_ca` when its file cannot be read as PEM, or
/// saying that no trusted CAs were found.
pub(crate) fn context(config: &Config) -> Result<Option<SslContext>> {
    if !config.cassandra_tls && config.cassandra_tls_ca.is_none() {
        return Ok(None);
    }
    let failed = |reason: String| Error::Cassandra {
        operation: "connect",
        reason,
    };
    let mut builder = SslContextBuilder::new(SslMethod::tls_client())
        .map_err(|error| failed(format!("could not set up TLS: {error}")))?;
    builder.set_verify(SslVerifyMode::PEER);
    let bundle = match &config.cassandra_tls_ca {
        Some(path) => Some(path.clone()),
        None if std::env::var_os("SSL_CERT_FILE").is_some() => None,
        None => SYSTEM_BUNDLES
            .iter()
            .find(|path| Path::new(path).is_file())
            .map(|path| (*path).to_owned()),
    };
    match bundle {
        Some(path) => builder.set_ca_file(&path).map_err(|error| {
            failed(format!(
                "cannot read the CAs in `cassandra_tls_ca` ({path}) as PEM: {error}"
            ))
        })?,
        None => builder.set_default_verify_paths().map_err(|error| {
            failed(format!(
                "no trusted CAs for Cassandra's certificate (set `cassandra_tls_ca`): {error}"
            ))
        })?,
    }
    Ok(Some(builder.build()))
}
