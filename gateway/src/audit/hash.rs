//! The hash function of the audit chain: SHA-256 (the default) or SM3 (GB/T 32905), for
//! deployments whose commercial-cryptography assessment (密评) asks for the national algorithms.
//!
//! A chain has one hash from its first entry to its last. The store records it as the deployment
//! setting [`SETTING`] (a log written before the setting existed is SHA-256: the store's
//! migration 8 says so), every node must be configured with it (`audit.hash`; a node configured
//! with another refuses to start), and `gateway audit verify` reads it from the store.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use sha2::Sha256;
use sm3::Sm3;

/// The deployment setting that records the chain's hash.
pub const SETTING: &str = "audit_hash";

/// The hash function of the audit chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainHash {
    /// SHA-256 (FIPS 180-4).
    #[default]
    Sha256,
    /// SM3 (GB/T 32905-2016).
    Sm3,
}

impl ChainHash {
    pub const ALL: [ChainHash; 2] = [ChainHash::Sha256, ChainHash::Sm3];

    /// The name in configuration files and in the store's setting.
    pub fn name(self) -> &'static str {
        match self {
            ChainHash::Sha256 => "sha256",
            ChainHash::Sm3 => "sm3",
        }
    }

    /// A hasher of this function, empty.
    pub fn hasher(self) -> ChainHasher {
        match self {
            ChainHash::Sha256 => ChainHasher::Sha256(Sha256::default()),
            ChainHash::Sm3 => ChainHasher::Sm3(Sm3::default()),
        }
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ChainHash {
    type Err = String;

    fn from_str(s: &str) -> Result<ChainHash, String> {
        ChainHash::ALL
            .into_iter()
            .find(|h| h.name() == s)
            .ok_or_else(|| format!("unknown audit chain hash `{s}` (expected sha256 or sm3)"))
    }
}

/// A running hash of either function; both give 32 bytes.
#[derive(Debug, Clone)]
pub enum ChainHasher {
    Sha256(Sha256),
    Sm3(Sm3),
}

impl ChainHasher {
    pub fn update(&mut self, bytes: impl AsRef<[u8]>) {
        use sha2::Digest as _;
        match self {
            ChainHasher::Sha256(h) => h.update(bytes),
            ChainHasher::Sm3(h) => h.update(bytes),
        }
    }

    pub fn finalize(self) -> [u8; 32] {
        use sha2::Digest as _;
        match self {
            ChainHasher::Sha256(h) => h.finalize().into(),
            ChainHasher::Sm3(h) => h.finalize().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(hash: ChainHash, bytes: &[u8]) -> String {
        let mut h = hash.hasher();
        h.update(bytes);
        hex::encode(h.finalize())
    }

    #[test]
    fn both_functions_give_their_published_digests() {
        // FIPS 180-4 example "abc", and GB/T 32905-2016 Appendix A example 1 ("abc").
        assert_eq!(
            digest(ChainHash::Sha256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            digest(ChainHash::Sm3, b"abc"),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn names_round_trip_and_strangers_are_named() {
        for hash in ChainHash::ALL {
            assert_eq!(hash.name().parse::<ChainHash>(), Ok(hash));
        }
        let err = "sha3".parse::<ChainHash>().expect_err("unknown");
        assert!(err.contains("`sha3`") && err.contains("sm3"), "{err}");
    }
}
