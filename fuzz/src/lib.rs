//! The three inputs a stranger controls, as plain functions over bytes: a holder code as
//! scanned, a department's `records:query` answer, and the body of `POST /v1/verify`.
//!
//! The fuzz targets in `fuzz_targets/` call these; `wire/tests/fuzz_corpus.rs` includes this
//! file and feeds it every seed under `fuzz/corpus/`, so the corpora run on stable in CI without
//! cargo-fuzz. Each function must return (any verdict) and never panic. The keys are fixed
//! test keys (`keys()`), so seeds minted with them carry signatures, seals and MACs that verify
//! and the fuzzer can reach the checks after them.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use wire::api::VerifyRequest;
use wire::catalogue::Catalogue;
use wire::code::{VerifiedCode, Verifier};
use wire::issuer_api::{RecordQuery, RecordResponse};
use wire::keys::{SigningKey, TrustList};

/// The time every check is made at (2027-01-15T08:00:00Z): inside the seeds' windows.
pub const NOW: i64 = 1_800_000_000;

/// The fixed test keys: the platform's code keys (EdDSA, ES256, HMAC, then ES384 and SM2) and
/// two departments' seal keys (EdDSA, ES256). Secrets are public test values, never used outside
/// tests.
const KEYS: &str = r#"
[[key]]
kid = "ZnV6ei1lZA=="
owner = "platform"
alg = "EdDSA"
secret = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="

[[key]]
kid = "ZnV6ei1lcw=="
owner = "platform"
alg = "ES256"
secret = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="

[[key]]
kid = "ZnV6ei1obWFj"
owner = "platform"
alg = "HMAC256"
secret = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="

[[key]]
kid = "c2VhbC1wcw=="
owner = "public-security"
alg = "EdDSA"
secret = "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ="

[[key]]
kid = "c2VhbC1lZHU="
owner = "education"
alg = "ES256"
secret = "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU="

[[key]]
kid = "ZnV6ei1lczM4NA=="
owner = "platform"
alg = "ES384"
secret = "BgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYG"

[[key]]
kid = "ZnV6ei1zbTI="
owner = "platform"
alg = "SM2"
secret = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="
"#;

struct Fixture {
    keys: Vec<SigningKey>,
    verifier: Verifier,
    seals: TrustList,
    catalogue: Catalogue,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let keys = wire::keys::parse_signing_keys(KEYS).expect("the fixed test keys parse");
        let trusted = |owner: &str| {
            TrustList::new(
                keys.iter()
                    .filter(|k| (k.owner() == "platform") == (owner == "platform"))
                    .map(SigningKey::trusted),
            )
        };
        Fixture {
            verifier: Verifier::new(trusted("platform")),
            seals: trusted("departments"),
            catalogue: Catalogue::embedded(),
            keys,
        }
    })
}

/// The fixed test keys, for minting seeds (`owner` tells the platform's from the seals').
pub fn keys() -> &'static [SigningKey] {
    &fixture().keys
}

/// [`NOW`] as a time.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).expect("a valid time")
}

/// A holder code as scanned: decode (size, prefix, base45, zlib, COSE, claims), then the
/// checks (algorithm, key, signature or MAC, time window, holder claims, lifetime), for every
/// profile: EdDSA (detached and batched as well), ES256, ES384, SM2 (under its private-use
/// algorithm id) and HMAC.
pub fn code(data: &[u8]) -> Option<VerifiedCode> {
    let text = std::str::from_utf8(data).ok()?;
    let verifier = &fixture().verifier;
    let decoded = verifier.decode(text).ok()?;
    // The EdDSA path the gateway takes: the signature detached and checked on its own.
    if let Ok(Some(check)) = verifier.detach_signature(&decoded, now()) {
        let alone = check.verify();
        let batched = wire::keys::verify_ed25519_batch(&[&check, &check]);
        assert_eq!(
            batched,
            vec![alone; 2],
            "batched and single verdicts differ"
        );
    }
    verifier.check(&decoded, now()).ok()
}

/// A department's answer to `records:query`, as the gateway takes it: strict JSON, the
/// response checked against a query (the one it seems to answer), then each record's seal,
/// identifiers and fields against its certificate type.
pub fn department_answer(data: &[u8]) -> usize {
    let fixture = fixture();
    let Ok(response) = serde_json::from_slice::<RecordResponse>(data) else {
        return 0;
    };
    let query = RecordQuery {
        subject: response
            .records
            .first()
            .map(|r| r.subject.clone())
            .unwrap_or_default(),
        holder_kind: wire::catalogue::HolderKind::Person,
        certificates: response
            .records
            .iter()
            .map(|r| r.certificate.clone())
            .collect(),
        request_id: None,
        nonce: response.records.first().and_then(|r| r.query_nonce.clone()),
    };
    let _ = query.validate();
    let _ = response.answers(&query);
    let mut trusted = 0;
    for record in &response.records {
        let sealed = record.verify_seal(&fixture.seals, now()).is_ok();
        let identified = record.validate_identifiers().is_ok();
        let fits = fixture
            .catalogue
            .certificate(&record.certificate)
            .is_some_and(|cert| record.validate_fields(cert).is_ok());
        if sealed && identified && fits {
            trusted += 1;
        }
    }
    trusted
}

/// The body of `POST /v1/verify`: strict JSON, then the code it carries decoded and checked.
pub fn verify_body(data: &[u8]) -> Option<VerifiedCode> {
    let request = serde_json::from_slice::<VerifyRequest>(data).ok()?;
    let _ = fixture().catalogue.scenario(&request.scenario);
    code(request.code.as_bytes())
}
