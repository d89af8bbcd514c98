//! The HTTP exporter's connector: plain TCP for `http://` endpoints, OpenSSL (the vendored one
//! the engine already links) for `https://`.
//!
//! The exporter's stock connector refuses any scheme but `http`. This one verifies the
//! collector's certificate and host name against the CA file in
//! `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` or `OTEL_EXPORTER_OTLP_CERTIFICATE` when one is set,
//! else against the system's roots: OpenSSL's own defaults (`SSL_CERT_FILE`, `SSL_CERT_DIR`)
//! plus the first bundle found where common distributions keep it, since the vendored
//! OpenSSL does not know their layout. Connections are pooled by the HTTP client above it.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use openssl::ssl::{SslConnector, SslMethod};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use crate::error::{Error, Result};

#[cfg(test)]
mod tests;

/// The variables naming the CA file, the traces-only one first.
const CERTIFICATE_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
];

/// Where distributions keep their CA bundle (Debian and Alpine, Fedora and RHEL, macOS and
/// others).
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

type Connecting = Pin<Box<dyn Future<Output = io::Result<Stream>> + Send>>;

/// Opens connections to the collector, over TLS for `https` URIs.
#[derive(Clone)]
pub(super) struct Connector {
    tls: Arc<SslConnector>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector trusting the configured CA file, else the system's roots.
    ///
    /// # Errors
    ///
    /// When the CA file named by a certificate variable cannot be read or holds no certificate.
    pub(super) fn from_env() -> Result<Self> {
        let ca_file = CERTIFICATE_VARIABLES.iter().find_map(|name| {
            let value = std::env::var_os(name)?;
            (!value.is_empty()).then_some((*name, value))
        });
        Self::new(ca_file)
    }

    /// A connector trusting only the CAs in `ca_file` (the variable that named it, and its
    /// value), or the system's roots without one.
    fn new(ca_file: Option<(&str, std::ffi::OsString)>) -> Result<Self> {
        let tls_error = |error: openssl::error::ErrorStack| {
            Error::Tracing(format!("cannot set up TLS for the OTLP exporter: {error}"))
        };
        let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(tls_error)?;
        match ca_file {
            Some((name, path)) => {
                // A fresh store, so only the named CAs are trusted.
                let store = openssl::x509::store::X509StoreBuilder::new()
                    .map_err(tls_error)?
                    .build();
                builder.set_cert_store(store);
                builder.set_ca_file(&path).map_err(|error| {
                    Error::Tracing(format!(
                        "cannot read the CA file {} named by {name}: {error}; set it to a PEM \
                         file of the CAs that signed the collector's certificate",
                        Path::new(&path).display()
                    ))
                })?;
            }
            None => {
                builder.set_default_verify_paths().map_err(tls_error)?;
                let defaults_set = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
                    .iter()
                    .any(|name| std::env::var_os(name).is_some());
                if !defaults_set {
                    if let Some(bundle) = SYSTEM_BUNDLES.iter().find(|p| Path::new(p).is_file()) {
                        // An unreadable bundle leaves OpenSSL's defaults, which may suffice.
                        let _ = builder.set_ca_file(bundle);
                    }
                }
            }
        }
        Ok(Self {
            tls: Arc::new(builder.build()),
        })
    }

    async fn connect(tls: Arc<SslConnector>, uri: Uri) -> io::Result<Stream> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
        let host = uri
            .host()
            .ok_or_else(|| invalid("the OTLP endpoint has no host"))?;
        // Brackets belong to the URI, not to the address.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let secure = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(invalid("the OTLP endpoint's scheme must be http or https")),
        };
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port)).await?;
        tcp.set_nodelay(true)?;
        if !secure {
            return Ok(Stream(TokioIo::new(Transport::Plain(tcp))));
        }
        let ssl = tls
            .configure()
            .and_then(|config| config.into_ssl(&host))
            .map_err(io::Error::other)?;
        let mut stream = SslStream::new(ssl, tcp).map_err(io::Error::other)?;
        Pin::new(&mut stream)
            .connect()
            .await
            .map_err(|error| io::Error::other(format!("TLS handshake with {host}: {error}")))?;
        Ok(Stream(TokioIo::new(Transport::Tls(Box::new(stream)))))
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(Self::connect(Arc::clone(&self.tls), uri))
    }
}

/// A connection to the collector, plain or encrypted.
enum Transport {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

/// A [`Transport`] as the HTTP client drives it.
pub(super) struct Stream(TokioIo<Transport>);

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl Read for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl Write for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
