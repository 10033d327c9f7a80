//! The repository's demo material, recognised by fingerprints compiled into every build — with
//! or without the `demo` feature, which embeds the material itself — so that a production
//! gateway ([`crate::production`]) refuses it whether it comes embedded or from
//! `config/keys/…` and `config/venues.toml` by path. Only fingerprints live here: the hex
//! SHA-256 of each key's material ([`wire::keys::TrustedKey::fingerprint`]), of each demo
//! venue's key (what the store keeps of it) and of the demo admin token. A unit test
//! recomputes every one from the files under `config/`, so the list cannot drift from them.

use wire::keys::TrustedKey;

/// One demo key: its id and owner (to name it) and the fingerprint that recognises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoKey {
    pub kid: &'static str,
    pub owner: &'static str,
    pub fingerprint: &'static str,
    /// What the key is for, as an error names it.
    pub kind: DemoKeyKind,
}

/// Which demo key set a key belongs to, and so which command makes the real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoKeyKind {
    /// `config/keys/platform.{demo-secret,trust}.toml`: the platform's code-signing keys,
    /// including the HMAC secret.
    Platform,
    /// `config/keys/department-seals.{secret,trust}.toml`: the departments' seal keys.
    DepartmentSeal,
}

impl DemoKeyKind {
    /// What the key is, in an error.
    pub fn describe(self) -> &'static str {
        match self {
            DemoKeyKind::Platform => "demo platform key",
            DemoKeyKind::DepartmentSeal => "demo department seal key",
        }
    }
}

const fn platform(kid: &'static str, fingerprint: &'static str) -> DemoKey {
    DemoKey {
        kid,
        owner: "mianzheng-platform",
        fingerprint,
        kind: DemoKeyKind::Platform,
    }
}

const fn seal(kid: &'static str, owner: &'static str, fingerprint: &'static str) -> DemoKey {
    DemoKey {
        kid,
        owner,
        fingerprint,
        kind: DemoKeyKind::DepartmentSeal,
    }
}

/// The platform's demo keys (EdDSA, ES256, HMAC-SHA256, ES384, SM2).
pub const PLATFORM_KEYS: &[DemoKey] = &[
    platform(
        "13HiHuKilJg=",
        "d771e21ee2a294983909662f456d9d8232824aa86f5461a43125359998a7d7aa",
    ),
    platform(
        "SDdwkXN3sZg=",
        "483770917377b198736f66ab68779a615e8c7dff13ccb0093f2171b5591e9011",
    ),
    platform(
        "lEd5iGfNIr0=",
        "9f9930675c0b1a55c5651863c0a2b209a8177e9b729a47e3b8ce478a0f25daf5",
    ),
    platform(
        "6bX6FNj8V1E=",
        "e9b5fa14d8fc57518fd58650a89ce49c0446975fb3b57a1e2f8ae651119e2d54",
    ),
    platform(
        "0aS/slf0DAo=",
        "d1a4bfb257f40c0af55c18a93ee784012dc011790e0d8b60c948c3edd11ac21b",
    ),
];

/// The departments' demo seal keys.
pub const SEAL_KEYS: &[DemoKey] = &[
    seal(
        "nDSZvoAKx9c=",
        "administrative-approval",
        "9c3499be800ac7d77d986dbe6e74b42bb67c59145478bd90669896f001cca9d8",
    ),
    seal(
        "U+hLy9wlCow=",
        "civil-affairs",
        "53e84bcbdc250a8c21fb51be73ef0d916925486c9842bbd4cb17c1e97b014e6b",
    ),
    seal(
        "8MnA9RR22ng=",
        "disabled-persons-federation",
        "f0c9c0f51476da785e0cd42cd47c1fc38f5938dce45cf0b038f173bb636be9b2",
    ),
    seal(
        "AMAdee28LOo=",
        "education",
        "00c01d79edbc2cea911cc8f8c89f238d89aba81d1e08989055474c5d447ad2fc",
    ),
    seal(
        "Ni533/hkXfw=",
        "emergency-management",
        "362e77dff8645dfc39a164599a0cfcb743644434455f560e4bd637f6d19e8b50",
    ),
    seal(
        "aS4mu0HuQNc=",
        "health",
        "692e26bb41ee40d74c58230c07172899b42bbc83075b23dfe09267e70a49288f",
    ),
    seal(
        "ElCQ0a+RkX0=",
        "healthcare-security",
        "125090d1af91917d0da0747ab67b13e4487af7af8c3bf87f4b5efd4e7e4d535c",
    ),
    seal(
        "RkAS1uoU4RY=",
        "housing-construction",
        "464012d6ea14e116a70adafd59534816a71c0ffbad2bab1adf7bacc179e10336",
    ),
    seal(
        "2EBSDl+Z7DA=",
        "human-resources-social-security",
        "d840520e5f99ec30e5ce0945b83d4f1c416d05d08f4c2dbd5692923938efda20",
    ),
    seal(
        "epgqsUzYSiw=",
        "market-regulation",
        "7a982ab14cd84a2c558441f5f61fd866881811317294e35500c18c31f8964d11",
    ),
    seal(
        "CNjBej31YnE=",
        "medical-institutions",
        "08d8c17a3df5627194da1e685c7b2e8700c0424491c23e7a17c271fa77df391f",
    ),
    seal(
        "idYKUDl/sRQ=",
        "national-hub",
        "89d60a50397fb1144438655dc3f2f5290cf392b97ffd7c73a20638a5ea0c3bd1",
    ),
    seal(
        "R8i4Z5Pb+wY=",
        "natural-resources",
        "47c8b86793dbfb06f1b10bd1599c989ce7c6c0a715bfeef020a74c563260b867",
    ),
    seal(
        "5ueivtiomzc=",
        "public-security",
        "e6e7a2bed8a89b37ba36a0b25f6f1c242c94555220d24cf078c21d9635eaa4db",
    ),
];

/// One demo venue of `config/venues.toml`: its id and the hex SHA-256 of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoVenue {
    pub id: &'static str,
    pub key_sha256: &'static str,
}

const fn venue(id: &'static str, key_sha256: &'static str) -> DemoVenue {
    DemoVenue { id, key_sha256 }
}

/// The demo venues; their keys are in the repository (in clear for most of them).
pub const VENUES: &[DemoVenue] = &[
    venue(
        "jinan-baotu-spring-park",
        "62f68691a3fadad8d1cf6c144fc0a0171aee02dfe6648b0cd12e239d6cd1aec7",
    ),
    venue(
        "qingdao-harbour-hotel",
        "7ab385990002935bd3d02abcdece1cec81046d4b11d34cb83f3e62e7d0555ea7",
    ),
    venue(
        "jinan-provincial-hospital",
        "e7dcf248f9a86a7786a717d917d29e1d607fb18e0d598e5ccaae0e0a902701f7",
    ),
    venue(
        "yantai-city-bank",
        "ad4e6784cebf96705166edd86c3bdadf97feed36d21d273783197ea7e277c375",
    ),
    venue(
        "weifang-car-rental",
        "0c2b0ee85144a8ef00dfbdedf00110010c05496a9fdb97eb58bb19018e5070a5",
    ),
    venue(
        "jinan-traffic-police",
        "4b730679d41e79ee431adc85c6409c91a94573dbd7609eae44f566b1c13a81d2",
    ),
    venue(
        "linyi-public-security-hall",
        "53c6afee6f0bdf5ae60e4d150ff549a112d3068afbd7f655b1ce4a138ee13f15",
    ),
    venue(
        "zibo-civil-affairs-registry",
        "60abaad65f238ea289bf800378a879b39a0488de25fb41bae55dc8f6e1e71e73",
    ),
    venue(
        "jining-hr-market",
        "ef6ec0b0732b5daba7096b3d5405e14b7cb84842d584b231ab7a5dcfc7fe72ba",
    ),
    venue(
        "taian-market-inspection",
        "d413e8cfa35600e336fe89f00e575e5ffa623f0c96711919e76952614e7b180b",
    ),
    venue(
        "province-trading-centre",
        "28779f32063c196bb601cc614e972d05956dad87f9a64cf20c007b3565aeada6",
    ),
    venue(
        "dezhou-real-estate-centre",
        "daf532b0b50d3cacfa3f2211e7fa6167bcea625f234484ed79dd4fc4c8d814ab",
    ),
    venue(
        "jinan-service-hall",
        "382683af85ea9131c1f0d10dd8be73f1b35d484e90c321e6ad33e2601efa587b",
    ),
    venue(
        "binzhou-museum",
        "95f576dbc1d57de70308b9c0befe01b35aad89296e39a392d25b0b9a0db66c03",
    ),
];

/// The hex SHA-256 of the demo admin token ([`crate::config::DEMO_ADMIN_TOKEN`]).
pub const ADMIN_TOKEN_SHA256: &str =
    "49cb69fac3cd819f9d3b95edc3d7923b937e7ec3cb1232986e5c39d60456c5a0";

/// The demo key `key` is, if it is one (by its material, whatever its id says).
pub fn demo_key(key: &TrustedKey) -> Option<&'static DemoKey> {
    let fingerprint = key.fingerprint();
    PLATFORM_KEYS
        .iter()
        .chain(SEAL_KEYS)
        .find(|demo| demo.fingerprint == fingerprint)
}

/// The demo venue whose key hashes to `key_hash` (as the store keeps it), if any.
pub fn demo_venue(key_hash: &[u8; 32]) -> Option<&'static DemoVenue> {
    let hex_hash = hex::encode(key_hash);
    VENUES.iter().find(|v| v.key_sha256 == hex_hash)
}

/// Whether `token` is the repository's demo admin token.
pub fn is_demo_admin_token(token: &str) -> bool {
    use sha2::{Digest as _, Sha256};
    hex::encode(Sha256::digest(token.as_bytes())) == ADMIN_TOKEN_SHA256
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::keys::{parse_signing_keys, SigningKey, TrustList};

    fn repository_file(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../config")
            .join(name);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading `{}`: {e}", path.display()))
    }

    /// (kid, owner, fingerprint) of every key of a trust list and of a secret key file.
    fn fingerprints(trust: &str, secret: &str) -> Vec<(String, String, String)> {
        let mut from_trust: Vec<_> = TrustList::parse(&repository_file(trust))
            .expect("trust list")
            .keys()
            .map(|k| (k.kid().to_string(), k.owner().to_owned(), k.fingerprint()))
            .collect();
        let mut from_secret: Vec<_> = parse_signing_keys(&repository_file(secret))
            .expect("secret keys")
            .iter()
            .map(SigningKey::trusted)
            .map(|k| (k.kid().to_string(), k.owner().to_owned(), k.fingerprint()))
            .collect();
        from_trust.sort();
        from_secret.sort();
        assert_eq!(from_trust, from_secret, "{trust} matches {secret}");
        from_trust
    }

    fn listed(keys: &[DemoKey]) -> Vec<(String, String, String)> {
        let mut listed: Vec<_> = keys
            .iter()
            .map(|k| {
                (
                    k.kid.to_owned(),
                    k.owner.to_owned(),
                    k.fingerprint.to_owned(),
                )
            })
            .collect();
        listed.sort();
        listed
    }

    #[test]
    fn the_fingerprints_are_those_of_the_files_under_config() {
        assert_eq!(
            listed(PLATFORM_KEYS),
            fingerprints("keys/platform.trust.toml", "keys/platform.demo-secret.toml")
        );
        assert_eq!(
            listed(SEAL_KEYS),
            fingerprints(
                "keys/department-seals.trust.toml",
                "keys/department-seals.secret.toml"
            )
        );

        #[derive(serde::Deserialize)]
        struct File {
            venue: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            id: String,
            key_sha256: Option<String>,
            demo_key: Option<String>,
        }
        let file: File = toml::from_str(&repository_file("venues.toml")).expect("venues.toml");
        let mut from_file: Vec<(String, String)> = file
            .venue
            .into_iter()
            .map(|v| {
                let hash = match (v.key_sha256, v.demo_key) {
                    (Some(hash), None) => hash,
                    (None, Some(key)) => hex::encode(crate::venues::hash_key(&key)),
                    _ => panic!("venue `{}`: one of key_sha256 and demo_key", v.id),
                };
                (v.id, hash)
            })
            .collect();
        let mut listed: Vec<(String, String)> = VENUES
            .iter()
            .map(|v| (v.id.to_owned(), v.key_sha256.to_owned()))
            .collect();
        from_file.sort();
        listed.sort();
        assert_eq!(listed, from_file);

        let shipped: toml::Table =
            toml::from_str(&repository_file("gateway.toml")).expect("gateway.toml");
        let token = shipped["admin"]["token"].as_str().expect("admin.token");
        assert_eq!(token, crate::config::DEMO_ADMIN_TOKEN);
        assert!(is_demo_admin_token(token));
        assert!(!is_demo_admin_token("a-token-of-our-own-0123456789"));
    }

    #[test]
    fn demo_keys_are_recognised_by_their_material_and_fresh_keys_are_not() {
        let trust = TrustList::parse(&repository_file("keys/platform.trust.toml")).expect("trust");
        for key in trust.keys() {
            let demo = demo_key(key).expect("a demo key");
            assert_eq!(demo.kind, DemoKeyKind::Platform);
            assert_eq!(demo.kid, key.kid().to_string());
        }
        for alg in wire::code::Profile::ALL.map(wire::code::Profile::algorithm) {
            let fresh = SigningKey::generate(alg, "mianzheng-platform", Default::default())
                .expect("generate");
            assert_eq!(demo_key(&fresh.trusted()), None);
        }
        let park = crate::venues::hash_key("demo-park-7f3c9a1e");
        assert_eq!(
            demo_venue(&park).map(|v| v.id),
            Some("jinan-baotu-spring-park")
        );
        assert_eq!(demo_venue(&crate::venues::hash_key("mzv_fresh")), None);
    }
}
