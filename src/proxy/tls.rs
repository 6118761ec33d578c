//! HTTPS: a local CA (P-256, made on first use in the state directory) and one leaf
//! certificate per name, minted when a client first asks for it by SNI and kept in memory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::{Error, Result};

/// The CA's distinguished name: the issuer of every leaf.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "dev-prism local CA");
    dn.push(DnType::OrganizationName, "dev-prism");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// The local CA: loaded from `ca.pem` + `ca-key.pem` in the state directory, or made there.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// Loads the CA, making it first when the state directory has none.
    pub fn load_or_make() -> Result<Ca> {
        let dir = super::ensure_state_dir()?;
        let (cert, key) = (super::ca_cert_path(), dir.join("ca-key.pem"));
        let fail = |what: &str, e: rcgen::Error| {
            Error::failure(format!("cannot {what} the proxy's local CA: {e}"))
        };
        let key_pair = if key.exists() && cert.exists() {
            let pem = read(&key)?;
            KeyPair::from_pem(&pem).map_err(|e| fail("read", e))?
        } else {
            let key_pair = KeyPair::generate().map_err(|e| fail("make", e))?;
            let ca = ca_params()
                .self_signed(&key_pair)
                .map_err(|e| fail("make", e))?;
            super::write_private(&key, key_pair.serialize_pem().as_bytes())?;
            super::write_private(&cert, ca.pem().as_bytes())?;
            key_pair
        };
        Ok(Ca {
            issuer: Issuer::new(ca_params(), key_pair),
        })
    }

    /// A leaf certificate and key for `name`, signed by the CA.
    fn mint(&self, name: &str) -> std::result::Result<CertifiedKey, String> {
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let mut params =
            CertificateParams::new(vec![name.to_string()]).map_err(|e| e.to_string())?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.use_authority_key_identifier_extension = true;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| e.to_string())?;
        let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let signing =
            rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| e.to_string())?;
        Ok(CertifiedKey::new(vec![cert.der().clone()], signing))
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))
}

/// Mints a certificate for each name a client asks for by SNI, when `allowed` says the proxy
/// answers it; keeps them for the proxy's lifetime.
pub struct Resolver {
    ca: Ca,
    certs: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    allowed: Box<dyn Fn(&str) -> bool + Send + Sync>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?.to_ascii_lowercase();
        if !(self.allowed)(&name) {
            return None;
        }
        let mut certs = self.certs.lock().ok()?;
        if let Some(c) = certs.get(&name) {
            return Some(c.clone());
        }
        let minted = Arc::new(self.ca.mint(&name).ok()?);
        certs.insert(name, minted.clone());
        Some(minted)
    }
}

/// The TLS side of the proxy's port: HTTP/1.1 only, certificates from [`Resolver`].
pub fn acceptor(
    allowed: Box<dyn Fn(&str) -> bool + Send + Sync>,
) -> Result<tokio_rustls::TlsAcceptor> {
    let ca = Ca::load_or_make()?;
    let resolver = Resolver {
        ca,
        certs: Mutex::new(HashMap::new()),
        allowed,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::failure(format!("cannot set up TLS: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
