//! The fuzz corpora as ordinary tests: every seed under `fuzz/corpus/<target>/` is fed to the
//! target's entry point (`fuzz/src/lib.rs`, included here), which must not panic. CI runs this
//! on stable, without cargo-fuzz. `write_seeds` (ignored) mints the seed corpus with the fixed
//! test keys: `cargo test -p wire --test fuzz_corpus -- --ignored write_seeds`.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz_entry;

use std::path::PathBuf;

use coset::{CoseSign1Builder, HeaderBuilder, TaggedCborSerializable as _};
use wire::catalogue::HolderKind;
use wire::code::{envelope, HolderClaims, Minter, Purpose, PREFIX};
use wire::issuer_api::{FieldValue, Record, RecordResponse, RecordStatus};
use wire::keys::{Algorithm, SigningKey};

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let bytes = std::fs::read(&path).expect("a seed file");
            (path, bytes)
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

#[test]
fn code_corpus_runs_without_panic() {
    let mut verified = 0;
    for (_, seed) in seeds("code") {
        verified += usize::from(fuzz_entry::code(&seed).is_some());
    }
    assert!(
        verified > 0,
        "some seeds are valid codes, so the checks past decoding run"
    );
}

#[test]
fn department_answer_corpus_runs_without_panic() {
    let mut trusted = 0;
    for (_, seed) in seeds("department_answer") {
        trusted += fuzz_entry::department_answer(&seed);
    }
    assert!(trusted > 0, "some seeds are sealed records that hold");
}

#[test]
fn verify_body_corpus_runs_without_panic() {
    let mut verified = 0;
    for (_, seed) in seeds("verify_body") {
        verified += usize::from(fuzz_entry::verify_body(&seed).is_some());
    }
    assert!(verified > 0, "some seeds carry valid codes");
}

fn holder(issued_at: i64, expires_at: i64, scope: Option<Vec<String>>) -> HolderClaims {
    HolderClaims {
        issuer: "mianzheng-platform".into(),
        subject: "fuzz-000001".into(),
        kind: HolderKind::Person,
        city: Some(370100),
        issued_at,
        expires_at,
        nonce: vec![9; 16],
        scope,
        purpose: Purpose::Presentation,
        presenter: None,
        medium: Default::default(),
    }
}

/// SM2 codes whose signatures break the rules in each way a verifier must refuse: `r` or `s`
/// zero or not below the order, truncated, signed under another user ID.
fn bad_sm2_codes(key: &SigningKey, claims: &HolderClaims) -> Vec<String> {
    let mut payload = Vec::new();
    ciborium::ser::into_writer(&claims.to_value(), &mut payload).expect("cbor");
    let mut protected = HeaderBuilder::new()
        .key_id(key.kid().as_bytes().to_vec())
        .build();
    protected.alg = Some(wire::code::cose::header_algorithm(Algorithm::Sm2));
    let code = |signature: &dyn Fn(&[u8]) -> Vec<u8>| {
        let cose = CoseSign1Builder::new()
            .protected(protected.clone())
            .payload(payload.clone())
            .create_signature(b"", signature)
            .build()
            .to_tagged_vec()
            .expect("cose");
        envelope::seal(&cose, PREFIX, false)
    };
    let order = hex::decode("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123")
        .expect("hex");
    // The fixed SM2 key (its scalar is 32 sevens) signing under a user ID one digit off.
    let other_user = |data: &[u8]| {
        use sm2::dsa::signature::Signer as _;
        let secret = sm2::dsa::SigningKey::from_slice("1234567812345679", &[7; 32]).expect("key");
        let signature: sm2::dsa::Signature = secret.sign(data);
        signature.to_bytes().to_vec()
    };
    vec![
        code(&|data| [&[0; 32][..], &key.sign(data)[32..]].concat()),
        code(&|data| [&key.sign(data)[..32], &[0; 32][..]].concat()),
        code(&|data| [&key.sign(data)[..32], &order[..]].concat()),
        code(&|data| [&order[..], &key.sign(data)[32..]].concat()),
        code(&|data| key.sign(data)[..63].to_vec()),
        code(&other_user),
    ]
}

#[test]
#[ignore = "writes the seed corpus; run by hand"]
fn write_seeds() {
    let now = fuzz_entry::NOW;
    let keys = fuzz_entry::keys();
    let (platform, seals): (Vec<_>, Vec<_>) = keys.iter().partition(|k| k.owner() == "platform");
    let mut codes = Vec::new();
    for &key in &platform {
        for compress in [false, true] {
            let minter = Minter::new(key.clone()).compress(compress);
            codes.push(minter.mint(&holder(now - 10, now + 110, None)));
            codes.push(minter.mint(&holder(
                now - 10,
                now + 110,
                Some(vec!["senior-citizen-card".into()]),
            )));
        }
        let minter = Minter::new(key.clone());
        codes.push(minter.mint(&holder(now - 1000, now - 500, None)));
        codes.push(minter.mint(&holder(i64::MIN, i64::MAX, None)));
        codes.push(minter.mint(&holder(now + 20, now + 10, None)));
    }
    let sm2 = platform
        .iter()
        .find(|k| k.algorithm() == Algorithm::Sm2)
        .expect("an SM2 key");
    codes.extend(bad_sm2_codes(sm2, &holder(now - 10, now + 110, None)));
    let write = |target: &str, name: String, bytes: &[u8]| {
        let dir = corpus(target);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        std::fs::write(dir.join(name), bytes).expect("seed written");
    };
    for (i, code) in codes.iter().enumerate() {
        write("code", format!("code-{i:02}"), code.as_bytes());
        let body = serde_json::json!({"code": code, "scenario": "park-entry-senior"});
        write(
            "verify_body",
            format!("body-{i:02}"),
            body.to_string().as_bytes(),
        );
    }
    write(
        "verify_body",
        "extra-field".into(),
        br#"{"code":"MZ1:x","scenario":"s","x":1}"#,
    );

    let at = fuzz_entry::now();
    let mut records = Vec::new();
    for seal_key in seals {
        let certificate = match seal_key.owner() {
            "public-security" => "resident-id-card",
            _ => "degree-certificate",
        };
        let mut found = Record::not_found(certificate, seal_key.owner(), "fuzz-000001", at);
        found.seal(seal_key);
        records.push(found.clone());
        let mut valid = Record::not_found(certificate, seal_key.owner(), "fuzz-000001", at);
        valid.status = RecordStatus::Valid;
        valid.valid_from = chrono::NaiveDate::from_ymd_opt(2020, 1, 1);
        valid.valid_until = chrono::NaiveDate::from_ymd_opt(2040, 1, 1);
        valid.licence_id = Some("x".into());
        valid.holder_name = Some("张三".into());
        valid
            .fields
            .insert("note".into(), FieldValue::Text("text".into()));
        valid.seal(seal_key);
        records.push(valid);
    }
    for (i, record) in records.iter().enumerate() {
        let response = RecordResponse {
            backend: format!("{}/370000", record.department),
            records: vec![record.clone()],
        };
        let json = serde_json::to_vec(&response).expect("json");
        write("department_answer", format!("answer-{i:02}"), &json);
    }
    let both = RecordResponse {
        backend: "public-security/370000".into(),
        records: records.clone(),
    };
    write(
        "department_answer",
        "answer-all".into(),
        &serde_json::to_vec(&both).expect("json"),
    );
}
