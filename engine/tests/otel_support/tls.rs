//! A throwaway PKI for the TLS receivers: a CA made for this run, a server certificate it
//! signed for 127.0.0.1 and a client certificate it signed, with the CA, the client
//! certificate and its key written to PEM files the exporter is pointed at. The receiver's
//! settings come in two kinds: TLS (any client) and mutual TLS (only a client whose
//! certificate the CA signed).

use std::path::PathBuf;

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{AlpnError, SslAcceptor, SslMethod, SslVerifyMode};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509Builder, X509Name, X509NameBuilder, X509};

/// The receiver's TLS settings and the files that make a client trust them and present a
/// certificate the receiver trusts.
pub struct TestPki {
    /// Server authentication only.
    pub acceptor: SslAcceptor,
    /// Also requires a client certificate signed by the CA.
    pub mutual: SslAcceptor,
    pub ca_file: PathBuf,
    pub client_certificate_file: PathBuf,
    pub client_key_file: PathBuf,
}

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("curve");
    PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey")
}

fn name(common: &str) -> X509Name {
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", common).expect("CN");
    name.build()
}

fn builder(serial: u32, subject: &X509Name, key: &PKey<Private>) -> X509Builder {
    let mut builder = X509Builder::new().expect("builder");
    builder.set_version(2).expect("v3");
    let serial = BigNum::from_u32(serial).expect("serial");
    builder
        .set_serial_number(&serial.to_asn1_integer().expect("serial"))
        .expect("serial");
    builder.set_subject_name(subject).expect("subject");
    builder.set_pubkey(key).expect("public key");
    builder
        .set_not_before(&Asn1Time::days_from_now(0).expect("now"))
        .expect("not before");
    builder
        .set_not_after(&Asn1Time::days_from_now(1).expect("tomorrow"))
        .expect("not after");
    builder
}

/// A CA and a server certificate for 127.0.0.1 signed by it; the CA goes to a file of its own.
pub fn generate() -> TestPki {
    let ca_key = key();
    let ca_name = name("prosody test CA");
    let mut ca = builder(1, &ca_name, &ca_key);
    ca.set_issuer_name(&ca_name).expect("issuer");
    ca.append_extension(BasicConstraints::new().critical().ca().build().expect("ca"))
        .expect("ca");
    ca.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .expect("usage"),
    )
    .expect("usage");
    ca.sign(&ca_key, MessageDigest::sha256()).expect("sign CA");
    let ca: X509 = ca.build();

    let server_key = key();
    let mut server = builder(2, &name("127.0.0.1"), &server_key);
    server.set_issuer_name(ca.subject_name()).expect("issuer");
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .dns("localhost")
        .build(&server.x509v3_context(Some(&ca), None))
        .expect("SAN");
    server.append_extension(san).expect("SAN");
    server
        .append_extension(ExtendedKeyUsage::new().server_auth().build().expect("EKU"))
        .expect("EKU");
    server
        .sign(&ca_key, MessageDigest::sha256())
        .expect("sign server");
    let server = server.build();

    let client_key = key();
    let mut client = builder(3, &name("prosody exporter"), &client_key);
    client.set_issuer_name(ca.subject_name()).expect("issuer");
    client
        .append_extension(ExtendedKeyUsage::new().client_auth().build().expect("EKU"))
        .expect("EKU");
    client
        .sign(&ca_key, MessageDigest::sha256())
        .expect("sign client");
    let client = client.build();

    // Files per PKI: a process may make several, and each must keep its own.
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = |what: &str, pem: Vec<u8>| {
        let path = std::env::temp_dir().join(format!(
            "prosody-otel-test-{what}-{}-{n}.pem",
            std::process::id()
        ));
        std::fs::write(&path, pem).expect("PEM file");
        path
    };
    TestPki {
        acceptor: acceptor(&server_key, &server, None),
        mutual: acceptor(&server_key, &server, Some(&ca)),
        ca_file: file("ca", ca.to_pem().expect("PEM")),
        client_certificate_file: file("client", client.to_pem().expect("PEM")),
        client_key_file: file(
            "client-key",
            client_key.private_key_to_pem_pkcs8().expect("PEM"),
        ),
    }
}

/// A server's TLS settings with `certificate`, offering HTTP/2 (gRPC) or HTTP/1.1 as the client
/// asks; with `clients_from`, only clients presenting a certificate that CA signed get in.
fn acceptor(key: &PKey<Private>, certificate: &X509, clients_from: Option<&X509>) -> SslAcceptor {
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).expect("TLS");
    acceptor.set_private_key(key).expect("key");
    acceptor.set_certificate(certificate).expect("certificate");
    acceptor.check_private_key().expect("matching key");
    acceptor.set_alpn_select_callback(|_, offered| {
        openssl::ssl::select_next_proto(b"\x02h2\x08http/1.1", offered).ok_or(AlpnError::NOACK)
    });
    if let Some(ca) = clients_from {
        let mut store = openssl::x509::store::X509StoreBuilder::new().expect("store");
        store.add_cert(ca.clone()).expect("CA");
        acceptor
            .set_verify_cert_store(store.build())
            .expect("client CAs");
        acceptor.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    }
    acceptor.build()
}
