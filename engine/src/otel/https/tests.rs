use std::ffi::OsString;

use hyper::Uri;
use tokio::net::TcpListener;

use super::super::tls::{Named, Protocol, Settings};
use super::Connector;

// The PKI the HTTPS receiver of the integration tests uses, shared rather than copied.
#[path = "../../../tests/otel_support/tls.rs"]
#[allow(dead_code, unreachable_pub)]
mod pki;

/// Accepts one TLS connection with `pki`'s server certificate and reports whether its
/// handshake succeeded.
async fn serve_once(pki: pki::TestPki) -> (Uri, tokio::task::JoinHandle<bool>) {
    serve_once_with(pki.acceptor).await
}

/// Accepts one TLS connection with `acceptor` and reports whether its handshake succeeded
/// (a rejected client certificate fails it) and a byte could be exchanged.
async fn serve_once_with(
    acceptor: openssl::ssl::SslAcceptor,
) -> (Uri, tokio::task::JoinHandle<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri: Uri = format!("https://{}/v1/traces", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let accepted = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ssl = openssl::ssl::Ssl::new(acceptor.context()).unwrap();
        let mut stream = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
        std::pin::Pin::new(&mut stream).accept().await.is_ok()
    });
    (uri, accepted)
}

fn named(variable: &'static str, path: impl Into<OsString>) -> Named {
    Named {
        variable,
        path: path.into(),
    }
}

fn trusting_ca(pki: &pki::TestPki) -> Settings {
    Settings {
        ca: Some(named("OTEL_EXPORTER_OTLP_CERTIFICATE", &pki.ca_file)),
        client: None,
    }
}

fn trusting(pki: &pki::TestPki) -> Connector {
    Connector::new(&trusting_ca(pki), Protocol::Http1).unwrap()
}

/// Trusting `pki`'s CA and presenting its client certificate.
fn presenting(pki: &pki::TestPki) -> Settings {
    Settings {
        client: Some((
            named(
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                &pki.client_certificate_file,
            ),
            named("OTEL_EXPORTER_OTLP_CLIENT_KEY", &pki.client_key_file),
        )),
        ..trusting_ca(pki)
    }
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
    let connector = Connector::new(&Settings::default(), Protocol::Http1).unwrap();
    let (uri, _accepted) = serve_once(pki::generate()).await;
    assert!(Connector::connect(connector.tls, uri).await.is_err());
}

#[test]
fn an_unreadable_ca_file_is_an_error_naming_the_variable_and_the_file() {
    let settings = Settings {
        ca: Some(named(
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "/nonexistent/otel-ca.pem",
        )),
        client: None,
    };
    let error = Connector::new(&settings, Protocol::Http1)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"), "{error}");
    assert!(error.contains("/nonexistent/otel-ca.pem"), "{error}");
}

#[tokio::test]
async fn a_mutual_tls_collector_rejects_a_client_without_a_certificate() {
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let pki = pki::generate();
        let connector = Connector::new(&trusting_ca(&pki), protocol).unwrap();
        let (uri, accepted) = serve_once_with(pki.mutual).await;
        // Under TLS 1.3 the client may finish its side before the server refuses it.
        let _ = Connector::connect(connector.tls, uri).await;
        assert!(!accepted.await.unwrap(), "{protocol:?}: rejected");
    }
}

#[tokio::test]
async fn a_mutual_tls_collector_accepts_a_client_presenting_its_certificate() {
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let pki = pki::generate();
        let connector = Connector::new(&presenting(&pki), protocol).unwrap();
        let (uri, accepted) = serve_once_with(pki.mutual).await;
        assert!(Connector::connect(connector.tls, uri).await.is_ok());
        assert!(accepted.await.unwrap(), "{protocol:?}: accepted");
    }
}

#[test]
fn a_client_certificate_without_its_key_is_an_error_naming_both_variables() {
    let vars = [
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
        "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    ];
    let _lock = ENV
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for var in vars {
        std::env::remove_var(var);
    }
    std::env::set_var("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/tmp/c.pem");
    let error = Settings::from_env().err().unwrap().to_string();
    std::env::remove_var("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE");
    assert!(
        error.contains("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"),
        "{error}"
    );
    assert!(error.contains("/tmp/c.pem"), "{error}");
    assert!(error.contains("OTEL_EXPORTER_OTLP_CLIENT_KEY"), "{error}");
}

/// Serialises the tests that set process variables.
static ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn unreadable_or_mismatched_client_files_are_errors_naming_the_variable_and_the_file() {
    let (pki, other) = (pki::generate(), pki::generate());
    let missing = |settings: Settings| {
        Connector::new(&settings, Protocol::Http2)
            .err()
            .unwrap()
            .to_string()
    };
    let mut no_certificate = presenting(&pki);
    if let Some((certificate, _)) = &mut no_certificate.client {
        certificate.path = "/nonexistent/client.pem".into();
    }
    let error = missing(no_certificate);
    assert!(
        error.contains("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
        "{error}"
    );
    assert!(error.contains("/nonexistent/client.pem"), "{error}");

    let mut not_a_key = presenting(&pki);
    if let Some((_, key)) = &mut not_a_key.client {
        key.path = pki.ca_file.clone().into();
    }
    let error = missing(not_a_key);
    assert!(error.contains("OTEL_EXPORTER_OTLP_CLIENT_KEY"), "{error}");
    assert!(error.contains(&*pki.ca_file.to_string_lossy()), "{error}");

    let mut mismatched = presenting(&pki);
    if let Some((_, key)) = &mut mismatched.client {
        key.path = other.client_key_file.clone().into();
    }
    let error = missing(mismatched);
    assert!(error.contains("does not match"), "{error}");
    assert!(
        error.contains(&*other.client_key_file.to_string_lossy()),
        "{error}"
    );
    assert!(
        error.contains("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
        "{error}"
    );
}
