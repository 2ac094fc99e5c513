//! Test certificates made at run time with rcgen: a CA, a leaf it signs for `localhost` and
//! 127.0.0.1, and a leaf for another name. Nothing is checked in, so nothing expires.
#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use wsproto::driver::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate with its private key, in PEM and DER.
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS #8 PEM.
    pub key_pem: String,
    /// The certificate chain, DER (the leaf only: the CA is the trust anchor).
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key, DER.
    pub key: PrivateKeyDer<'static>,
}

/// A test CA and the leaves it signed.
pub struct TestPki {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The CA certificate, DER.
    pub ca: CertificateDer<'static>,
    /// A server certificate for `localhost` and 127.0.0.1.
    pub localhost: Leaf,
    /// A server certificate for `other.test` only.
    pub other: Leaf,
}

impl TestPki {
    /// A fresh CA and leaves (ECDSA P-256).
    pub fn generate() -> TestPki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "wsproto test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(params, ca_key);
        TestPki {
            ca_pem: ca_cert.pem(),
            ca: ca_cert.der().clone(),
            localhost: leaf(&issuer, &["localhost", "127.0.0.1"]),
            other: leaf(&issuer, &["other.test"]),
        }
    }
}

fn leaf(issuer: &Issuer<'_, KeyPair>, names: &[&str]) -> Leaf {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        chain: vec![cert.der().clone()],
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}
