//! A throw-away PKI generated at run time: a test CA, a server certificate for 127.0.0.1 and
//! localhost, and client certificates (for Magma's mutual TLS and HTTPS device pages).
//! Nothing is written to disk unless a caller does.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;

/// A certificate with its private key, in PEM and DER.
#[derive(Clone)]
pub struct Identity {
    /// Certificate PEM.
    pub cert_pem: String,
    /// PKCS#8 private key PEM.
    pub key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("key", &"***").finish()
    }
}

impl Identity {
    /// Certificate then key, as one PEM bundle (what `reqwest::Identity::from_pem` takes).
    pub fn bundle_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }

    /// The certificate chain for rustls.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert_der.clone()]
    }

    /// The key for rustls.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// A CA and what it signed.
pub struct TestPki {
    /// The CA certificate PEM (what clients and servers trust).
    pub ca_pem: String,
    ca_der: CertificateDer<'static>,
    ca_params: CertificateParams,
    ca_key: KeyPair,
    /// The server identity (SANs 127.0.0.1, ::1, localhost).
    pub server: Identity,
}

fn identity(params: CertificateParams, issuer: &Issuer<'_, &KeyPair>) -> Identity {
    let key = KeyPair::generate().expect("key generation");
    let cert = params.signed_by(&key, issuer).expect("signing");
    Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

impl TestPki {
    /// A new CA named `name` with a server certificate for loopback.
    pub fn generate(name: &str) -> TestPki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, name);
        let ca_key = KeyPair::generate().expect("key generation");
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-signing");
        let mut server_params = CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])
        .expect("server params");
        server_params
            .distinguished_name
            .push(DnType::CommonName, "efi-lab server");
        let server = identity(server_params, &Issuer::from_params(&ca_params, &ca_key));
        TestPki {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().clone(),
            ca_params,
            ca_key,
            server,
        }
    }

    /// A client certificate with this common name (e.g. `admin_operator`).
    pub fn client(&self, common_name: &str) -> Identity {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        identity(params, &Issuer::from_params(&self.ca_params, &self.ca_key))
    }

    /// The CA as a rustls trust anchor store.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .expect("CA certificate is valid");
        roots
    }

    /// A server config that presents the server certificate and, when `require_client` is
    /// true, demands a client certificate signed by this CA (mutual TLS).
    pub fn server_config(&self, require_client: bool) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocol versions");
        let builder = if require_client {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(self.roots()),
                provider,
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(
            builder
                .with_single_cert(self.server.chain(), self.server.key())
                .expect("server certificate and key match"),
        )
    }
}
