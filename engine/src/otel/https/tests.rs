use std::ffi::OsString;

use hyper::Uri;
use tokio::net::TcpListener;

use super::Connector;

// The PKI the HTTPS receiver of the integration tests uses, shared rather than copied.
#[path = "../../../tests/otel_support/tls.rs"]
#[allow(dead_code, unreachable_pub)]
mod pki;

/// Accepts one TLS connection with `pki`'s server certificate and reports whether its
/// handshake succeeded.
async fn serve_once(pki: pki::TestPki) -> (Uri, tokio::task::JoinHandle<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri: Uri = format!("https://{}/v1/traces", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let accepted = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ssl = openssl::ssl::Ssl::new(pki.acceptor.context()).unwrap();
        let mut stream = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
        std::pin::Pin::new(&mut stream).accept().await.is_ok()
    });
    (uri, accepted)
}

fn trusting(pki: &pki::TestPki) -> Connector {
    let file = OsString::from(pki.ca_file.as_os_str());
    Connector::new(Some(("OTEL_EXPORTER_OTLP_CERTIFICATE", file))).unwrap()
}

#[tokio::test]
async fn connects_to_a_collector_whose_ca_it_trusts() {
    let pki = pki::generate();
    let connector = trusting(&pki);
    let (uri, accepted) = serve_once(pki).await;
    assert!(Connector::connect(connector.tls, uri).await.is_ok());
    assert!(accepted.await.unwrap());
}

#[tokio::test]
async fn refuses_a_collector_signed_by_another_ca() {
    let (trusted, other) = (pki::generate(), pki::generate());
    let connector = trusting(&trusted);
    let (uri, _accepted) = serve_once(other).await;
    let error = Connector::connect(connector.tls, uri).await.err().unwrap();
    assert!(error.to_string().contains("TLS handshake"), "{error}");
}

#[tokio::test]
async fn refuses_a_collector_the_system_roots_do_not_vouch_for() {
    let connector = Connector::new(None).unwrap();
    let (uri, _accepted) = serve_once(pki::generate()).await;
    assert!(Connector::connect(connector.tls, uri).await.is_err());
}

#[test]
fn an_unreadable_ca_file_is_an_error_naming_the_variable_and_the_file() {
    let missing = OsString::from("/nonexistent/otel-ca.pem");
    let error = Connector::new(Some(("OTEL_EXPORTER_OTLP_CERTIFICATE", missing)))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"), "{error}");
    assert!(error.contains("/nonexistent/otel-ca.pem"), "{error}");
}
