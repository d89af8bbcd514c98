//! A throwaway PKI for the HTTPS receiver: a CA made for this run, and a certificate it signed
//! for 127.0.0.1, with the CA written to a PEM file the exporter is pointed at.

use std::path::PathBuf;

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509Builder, X509Name, X509NameBuilder, X509};

/// The receiver's TLS settings and the CA file that makes a client trust them.
pub struct TestPki {
    pub acceptor: SslAcceptor,
    pub ca_file: PathBuf,
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

    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).expect("TLS");
    acceptor.set_private_key(&server_key).expect("key");
    acceptor.set_certificate(&server).expect("certificate");
    acceptor.check_private_key().expect("matching key");
    // One file per PKI: a process may make several, and each must keep its own CA.
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ca_file = std::env::temp_dir().join(format!(
        "prosody-otel-test-ca-{}-{n}.pem",
        std::process::id()
    ));
    std::fs::write(&ca_file, ca.to_pem().expect("PEM")).expect("CA file");
    TestPki {
        acceptor: acceptor.build(),
        ca_file,
    }
}
