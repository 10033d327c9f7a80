//! Venues' client certificates (mTLS). With `venues.client_ca` set, the public TLS listener
//! asks every client for a certificate and verifies any it is given against that CA (the
//! venue registry's own CA: it vouches which venue a certificate belongs to); a client may
//! still connect without one and use its bearer key. A certificate names its venue in a
//! subject alternative name of type URI, `urn:mianzheng:venue:<venue id>` ([`venue_uri`]);
//! exactly one such name, or the certificate names no venue.
//!
//! What a verified certificate is worth is decided in [`crate::verify::authenticate`]: it
//! authenticates its venue on its own, must agree with a bearer key sent beside it, and is
//! required for a venue bound to one.

use x509_cert::der::Decode as _;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;

/// The prefix of the URI that names a venue in its certificate.
pub const VENUE_URI_PREFIX: &str = "urn:mianzheng:venue:";

/// The subject alternative name (URI) a certificate of venue `id` carries.
pub fn venue_uri(id: &str) -> String {
    format!("{VENUE_URI_PREFIX}{id}")
}

/// A client certificate the listener verified against the venues' CA during the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    venue: Option<String>,
}

impl ClientCertificate {
    /// What the end-entity certificate `der` (already verified) says. A certificate that
    /// cannot be parsed, or names no venue or several, names none.
    pub fn from_der(der: &[u8]) -> ClientCertificate {
        ClientCertificate {
            venue: venue_named(der),
        }
    }

    /// The venue this certificate names.
    pub fn venue(&self) -> Option<&str> {
        self.venue.as_deref()
    }
}

fn venue_named(der: &[u8]) -> Option<String> {
    let certificate = x509_cert::Certificate::from_der(der).ok()?;
    let (_, names) = certificate.tbs_certificate.get::<SubjectAltName>().ok()??;
    let mut venues = names.0.iter().filter_map(|name| match name {
        GeneralName::UniformResourceIdentifier(uri) => uri
            .as_str()
            .strip_prefix(VENUE_URI_PREFIX)
            .filter(|id| !id.is_empty()),
        _ => None,
    });
    let venue = venues.next()?;
    venues.next().is_none().then(|| venue.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(names: &[&str]) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = names
            .iter()
            .map(|n| rcgen::SanType::URI(rcgen::Ia5String::try_from(n.to_string()).expect("IA5")))
            .collect();
        let key = rcgen::KeyPair::generate().expect("key");
        params
            .self_signed(&key)
            .expect("certificate")
            .der()
            .to_vec()
    }

    #[test]
    fn a_certificate_names_its_venue_in_one_uri() {
        let der = certificate(&["https://example.org", &venue_uri("jinan-park")]);
        assert_eq!(
            ClientCertificate::from_der(&der).venue(),
            Some("jinan-park")
        );
    }

    #[test]
    fn no_venue_uri_two_of_them_or_garbage_name_no_venue() {
        for der in [
            certificate(&[]),
            certificate(&["urn:mianzheng:venue:"]),
            certificate(&[&venue_uri("a"), &venue_uri("b")]),
            b"not a certificate".to_vec(),
        ] {
            assert_eq!(ClientCertificate::from_der(&der).venue(), None);
        }
    }
}
