//! The token verifier against the demo identity provider, over real HTTP on 127.0.0.1: good
//! tokens, every reason to refuse one, key rotation, unknown-key floods, the provider down, and
//! the provider's own token endpoint. Outcomes and counters are asserted, never timings.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::{
    DemoHolder, DemoIdentityProvider, Identity, IdentityProviderConfig, TokenError, TokenVerifier,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wire::catalogue::model::HolderKind;

const AUDIENCE: &str = "mianzheng-platform";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn holders() -> Vec<DemoHolder> {
    vec![
        DemoHolder {
            username: "zhangsan".into(),
            password: "correct horse".into(),
            subject: "demo-000001".into(),
            kind: HolderKind::Person,
            city: Some(370100),
            name: "张三".into(),
        },
        DemoHolder {
            username: "acme".into(),
            password: "battery staple".into(),
            subject: "org.000042".into(),
            kind: HolderKind::Organisation,
            city: None,
            name: "Acme Trading Co.".into(),
        },
    ]
}

async fn provider() -> DemoIdentityProvider {
    DemoIdentityProvider::start(loopback(), None, holders())
        .await
        .expect("the demo provider starts")
}

fn config(idp: &DemoIdentityProvider) -> IdentityProviderConfig {
    IdentityProviderConfig::new(idp.issuer(), AUDIENCE, idp.jwks_url())
}

fn verifier(idp: &DemoIdentityProvider) -> TokenVerifier {
    TokenVerifier::new(config(idp)).expect("a valid configuration")
}

/// The claims of a good token for the person holder.
fn claims(idp: &DemoIdentityProvider) -> Value {
    let now = now();
    json!({
        "iss": idp.issuer(), "aud": AUDIENCE, "sub": "demo-000001",
        "exp": now + 600, "iat": now, "nbf": now,
        "name": "张三", "holder_kind": "person", "city": 370100,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn zhangsan(expires_at: i64) -> Identity {
    Identity {
        subject: "demo-000001".into(),
        kind: HolderKind::Person,
        city: Some(370100),
        name: Some("张三".into()),
        expires_at,
    }
}

async fn refusal(verifier: &TokenVerifier, token: &str) -> TokenError {
    verifier
        .verify(token, now())
        .await
        .expect_err("the token is refused")
}

/// A compact JWS from raw parts (header and payload JSON, signature bytes).
fn compact(header: &Value, payload: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// A P-256 key of the test's own, as jsonwebtoken signs with it.
fn foreign_ec_key() -> EncodingKey {
    use p256::pkcs8::EncodePrivateKey as _;
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    EncodingKey::from_ec_der(secret.to_pkcs8_der().expect("pkcs8").as_bytes())
}

fn sign(alg: Algorithm, kid: &str, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, key).expect("signs")
}

// ---------------------------------------------------------------- good tokens

#[tokio::test]
async fn a_good_token_verifies_into_its_identity() {
    let idp = provider().await;
    let verifier = verifier(&idp);
    let claims = claims(&idp);
    let exp = claims["exp"].as_i64().expect("exp");
    let token = idp.mint(claims);
    assert_eq!(verifier.verify(&token, now()).await, Ok(zhangsan(exp)));
    // The keys are cached: a second token costs no fetch.
    assert_eq!(verifier.verify(&token, now()).await, Ok(zhangsan(exp)));
    assert_eq!(verifier.fetches(), 1);
    assert_eq!(verifier.fetch_failures(), 0);
    assert_eq!(idp.jwks_requests(), 1);
    assert_eq!(verifier.key_ids(), [idp.kid()]);

    let organisation = json!({
        "iss": idp.issuer(), "aud": ["someone-else", AUDIENCE], "sub": "org.000042",
        "exp": exp, "iat": now(), "holder_kind": "organisation",
    });
    assert_eq!(
        verifier.verify(&idp.mint(organisation), now()).await,
        Ok(Identity {
            subject: "org.000042".into(),
            kind: HolderKind::Organisation,
            city: None,
            name: None,
            expires_at: exp,
        })
    );
}

#[tokio::test]
async fn the_token_endpoint_issues_tokens_the_verifier_accepts() {
    let idp = provider().await;
    let verifier = verifier(&idp);
    let before = now();
    let (status, answer) = post_token(
        &idp,
        &[
            ("grant_type", "password"),
            ("username", "zhangsan"),
            ("password", "correct horse"),
            ("client_id", AUDIENCE),
        ],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 600);
    let token = answer["access_token"].as_str().expect("an access token");
    let identity = verifier.verify(token, now()).await.expect("accepted");
    assert_eq!(identity.subject, "demo-000001");
    assert_eq!(identity.kind, HolderKind::Person);
    assert_eq!(identity.city, Some(370100));
    assert_eq!(identity.name.as_deref(), Some("张三"));
    assert!((before + 600..=now() + 600).contains(&identity.expires_at));
    assert_eq!(idp.tokens_issued(), 1);

    // Issued for another client: not for this platform.
    let (status, answer) = post_token(
        &idp,
        &[
            ("grant_type", "password"),
            ("username", "acme"),
            ("password", "battery staple"),
            ("client_id", "another-client"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let token = answer["access_token"].as_str().expect("an access token");
    assert_eq!(
        refusal(&verifier, token).await,
        TokenError::WrongAudience {
            expected: AUDIENCE.into()
        }
    );
}

#[tokio::test]
async fn the_token_endpoint_refuses_per_rfc_6749() {
    let idp = provider().await;
    let form = |username: &'static str, password: &'static str, grant: &'static str| {
        vec![
            ("grant_type", grant),
            ("username", username),
            ("password", password),
            ("client_id", AUDIENCE),
        ]
    };
    for (fields, error) in [
        (form("zhangsan", "wrong", "password"), "invalid_grant"),
        (form("nobody", "correct horse", "password"), "invalid_grant"),
        (
            form("zhangsan", "correct horse", "client_credentials"),
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "password"), ("username", "zhangsan")],
            "invalid_request",
        ),
    ] {
        let (status, answer) = post_token(&idp, &fields).await;
        assert_eq!(status, 400, "{fields:?}");
        assert_eq!(answer["error"], error, "{fields:?}: {answer}");
    }
    assert_eq!(idp.tokens_issued(), 0);
}

#[tokio::test]
async fn discovery_names_the_endpoints() {
    let idp = provider().await;
    let (status, body) = get(&format!("{}/.well-known/openid-configuration", idp.url())).await;
    assert_eq!(status, 200);
    let document: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(document["issuer"], idp.issuer());
    assert_eq!(document["jwks_uri"], idp.jwks_url());
    assert_eq!(document["token_endpoint"], idp.token_url());
    assert_eq!(
        document["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    let (status, body) = get(&idp.jwks_url()).await;
    assert_eq!(status, 200);
    let jwks: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(jwks, idp.jwks());
    assert_eq!(jwks["keys"][0]["kid"], idp.kid());
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");

    let behind_a_proxy = DemoIdentityProvider::start(
        loopback(),
        Some("https://id.demo.example/realms/holders/".into()),
        holders(),
    )
    .await
    .expect("starts");
    assert_eq!(
        behind_a_proxy.issuer(),
        "https://id.demo.example/realms/holders"
    );
}

// ---------------------------------------------------------------- refusals

#[tokio::test]
async fn a_tampered_payload_is_a_bad_signature() {
    let idp = provider().await;
    let verifier = verifier(&idp);
    let token = idp.mint(claims(&idp));
    let parts: Vec<&str> = token.split('.').collect();
    let forged = with(claims(&idp), "sub", json!("demo-999999"));
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged.to_string()),
        parts[2]
    );
    assert_eq!(
        refusal(&verifier, &tampered).await,
        TokenError::BadSignature { kid: idp.kid() }
    );
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64url");
    signature[10] ^= 1;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    assert_eq!(
        refusal(&verifier, &flipped).await.code(),
        "token.bad_signature"
    );
}

#[tokio::test]
async fn time_issuer_and_audience() {
    let idp = provider().await;
    let verifier = verifier(&idp);
    let expired_at = now() - 3600;
    let expired = idp.mint(with(claims(&idp), "exp", json!(expired_at)));
    let error = refusal(&verifier, &expired).await;
    assert_eq!(error, TokenError::Expired { expired_at });
    assert_eq!(error.code(), "token.expired");

    // Within the 30 s leeway.
    let just_expired = idp.mint(with(claims(&idp), "exp", json!(now() - 5)));
    assert!(verifier.verify(&just_expired, now()).await.is_ok());

    let later = now() + 3600;
    let early = idp.mint(with(claims(&idp), "nbf", json!(later)));
    assert_eq!(
        refusal(&verifier, &early).await,
        TokenError::NotYetValid { not_before: later }
    );

    let elsewhere = idp.mint(with(claims(&idp), "aud", json!("another-client")));
    let error = refusal(&verifier, &elsewhere).await;
    assert_eq!(error.code(), "token.wrong_audience");
    assert!(error.to_string().contains(AUDIENCE), "{error}");

    let other_issuer = idp.mint(with(claims(&idp), "iss", json!("https://evil.example")));
    assert_eq!(
        refusal(&verifier, &other_issuer).await,
        TokenError::WrongIssuer {
            expected: idp.issuer().into(),
            actual: "https://evil.example".into()
        }
    );

    let mut no_exp = claims(&idp);
    no_exp.as_object_mut().map(|m| m.remove("exp"));
    assert_eq!(
        refusal(&verifier, &idp.mint(no_exp)).await,
        TokenError::MissingClaim("exp")
    );
    assert_eq!(verifier.fetches(), 1);
}

#[tokio::test]
async fn alg_none_and_hmac_are_never_accepted() {
    let idp = provider().await;
    let verifier = verifier(&idp);
    let kid = idp.kid();
    let payload = claims(&idp);

    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": kid}).to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    assert_eq!(refusal(&verifier, &none).await.code(), "token.malformed");
    let none_signed = compact(&json!({"alg": "none", "kid": kid}), &payload, b"x");
    assert_eq!(
        refusal(&verifier, &none_signed).await,
        TokenError::ForbiddenAlgorithm { alg: "none".into() }
    );

    // The classic confusion: HMAC keyed with the provider's public key, as published.
    let public_jwk = idp.jwks()["keys"][0].to_string();
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let token = sign(
            alg,
            &kid,
            &payload,
            &EncodingKey::from_secret(public_jwk.as_bytes()),
        );
        let error = refusal(&verifier, &token).await;
        assert_eq!(error.code(), "token.forbidden_algorithm", "{alg:?}");
    }

    // An asymmetric algorithm other than the provider key's.
    let rs256 = compact(&json!({"alg": "RS256", "kid": kid}), &payload, &[0; 256]);
    assert_eq!(
        refusal(&verifier, &rs256).await,
        TokenError::AlgorithmMismatch {
            alg: "RS256".into(),
            kid: kid.clone()
        }
    );
    let es384 = compact(&json!({"alg": "ES384", "kid": kid}), &payload, &[0; 96]);
    assert_eq!(
        refusal(&verifier, &es384).await.code(),
        "token.unsupported_algorithm"
    );
    // Nothing but the one fetch for the provider's key was needed to refuse all of these.
    assert_eq!(verifier.fetches(), 1);
}

#[tokio::test]
async fn another_key_under_the_providers_kid_is_a_bad_signature() {
    let idp = provider().await;
    let verifier = verifier(&idp);
    let token = sign(
        Algorithm::ES256,
        &idp.kid(),
        &claims(&idp),
        &foreign_ec_key(),
    );
    assert_eq!(
        refusal(&verifier, &token).await,
        TokenError::BadSignature { kid: idp.kid() }
    );
}

#[tokio::test]
async fn the_holder_claims_are_checked() {
    let idp = provider().await;
    let verifier = verifier(&idp);
    for sub in [
        json!(""),
        json!("a b"),
        json!("x".repeat(65)),
        json!("张三"),
        json!(1),
    ] {
        let token = idp.mint(with(claims(&idp), "sub", sub.clone()));
        assert_eq!(
            refusal(&verifier, &token).await.code(),
            "token.bad_subject",
            "{sub}"
        );
    }
    for kind in [json!("Person"), json!("company"), json!(1)] {
        let token = idp.mint(with(claims(&idp), "holder_kind", kind.clone()));
        assert_eq!(
            refusal(&verifier, &token).await,
            TokenError::BadHolderKind,
            "{kind}"
        );
    }
    for city in [
        json!(37010),
        json!(3701000),
        json!("370100"),
        json!(-370100),
    ] {
        let token = idp.mint(with(claims(&idp), "city", city.clone()));
        assert_eq!(
            refusal(&verifier, &token).await,
            TokenError::BadCity,
            "{city}"
        );
    }
}

#[tokio::test]
async fn garbage_tokens_are_malformed() {
    let idp = provider().await;
    let verifier = verifier(&idp);
    for garbage in ["", "Bearer x", "a.b.c", "a.b.c.d.e", &"x".repeat(20_000)] {
        assert_eq!(
            refusal(&verifier, garbage).await.code(),
            "token.malformed",
            "{garbage:.40}"
        );
    }
    // A signed payload that is not a JSON object.
    let header = json!({"alg": "ES256", "kid": idp.kid()});
    let not_json = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode("[1,2]"),
        URL_SAFE_NO_PAD.encode([0u8; 64])
    );
    assert!(matches!(
        refusal(&verifier, &not_json).await,
        TokenError::BadSignature { .. } | TokenError::Malformed(_)
    ));
}

// ---------------------------------------------------------------- the key cache

#[tokio::test]
async fn a_rotated_key_costs_exactly_one_refetch() {
    let idp = provider().await;
    let verifier = verifier(&idp);
    let old_token = idp.mint(claims(&idp));
    assert!(verifier.verify(&old_token, now()).await.is_ok());
    assert_eq!(verifier.fetches(), 1);

    let old_kid = idp.kid();
    let new_kid = idp.rotate_key();
    assert_ne!(old_kid, new_kid);
    let new_token = idp.mint(claims(&idp));
    assert!(verifier.verify(&new_token, now()).await.is_ok());
    assert_eq!(verifier.fetches(), 2);
    assert_eq!(verifier.counts().unknown_key_refetches, 1);
    assert!(verifier.verify(&new_token, now()).await.is_ok());
    assert_eq!(verifier.fetches(), 2);
    assert_eq!(verifier.key_ids(), [new_kid]);

    // The old key left the JWKS: its tokens are refused, and asking again so soon is not
    // allowed.
    assert_eq!(
        refusal(&verifier, &old_token).await,
        TokenError::UnknownKey { kid: old_kid }
    );
    assert_eq!(verifier.fetches(), 2);
    assert_eq!(verifier.counts().refetches_throttled, 1);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_the_provider_one_request() {
    let idp = provider().await;
    let verifier = verifier(&idp);
    assert!(verifier
        .verify(&idp.mint(claims(&idp)), now())
        .await
        .is_ok());
    assert_eq!(verifier.fetches(), 1);
    let key = foreign_ec_key();
    for i in 0..50 {
        let token = sign(
            Algorithm::ES256,
            &format!("made-up-{i}"),
            &claims(&idp),
            &key,
        );
        assert_eq!(refusal(&verifier, &token).await.code(), "token.unknown_key");
    }
    let counts = verifier.counts();
    assert_eq!(counts.fetches, 2, "{counts:?}");
    assert_eq!(counts.unknown_key_refetches, 1);
    assert_eq!(counts.refetches_throttled, 49);
    assert_eq!(idp.jwks_requests(), 2);
    // The provider's own tokens still verify.
    assert!(verifier
        .verify(&idp.mint(claims(&idp)), now())
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_verifications_share_one_fetch() {
    let idp = provider().await;
    let verifier = Arc::new(verifier(&idp));
    let token = idp.mint(claims(&idp));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let verifier = verifier.clone();
        let token = token.clone();
        tasks.spawn(async move { verifier.verify(&token, now()).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert!(result.expect("task").is_ok());
    }
    assert_eq!(verifier.fetches(), 1);
    assert_eq!(idp.jwks_requests(), 1);

    // After a rotation, concurrent tokens of the new key share one refetch too.
    idp.rotate_key();
    let token = idp.mint(claims(&idp));
    for _ in 0..32 {
        let verifier = verifier.clone();
        let token = token.clone();
        tasks.spawn(async move { verifier.verify(&token, now()).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert!(result.expect("task").is_ok());
    }
    assert_eq!(verifier.fetches(), 2);
}

#[tokio::test]
async fn known_keys_serve_while_the_provider_is_down() {
    let idp = provider().await;
    // Keys are stale at once, so every verification wants a refetch.
    let verifier = TokenVerifier::new(IdentityProviderConfig {
        refresh: Duration::ZERO,
        ..config(&idp)
    })
    .expect("config");
    let token = idp.mint(claims(&idp));
    assert!(verifier.verify(&token, now()).await.is_ok());
    assert_eq!((verifier.fetches(), verifier.fetch_failures()), (1, 0));

    idp.set_available(false);
    assert!(verifier.verify(&token, now()).await.is_ok());
    assert_eq!((verifier.fetches(), verifier.fetch_failures()), (2, 1));
    // A provider that just failed is not asked again at once.
    for _ in 0..10 {
        assert!(verifier.verify(&token, now()).await.is_ok());
    }
    assert_eq!((verifier.fetches(), verifier.fetch_failures()), (2, 1));
    assert!(matches!(
        verifier.refresh().await,
        Err(platform::FetchError::Status { status: 503, .. })
    ));
    assert_eq!(verifier.fetch_failures(), 2);

    idp.set_available(true);
    assert_eq!(verifier.refresh().await, Ok(1));
    assert!(verifier.verify(&token, now()).await.is_ok());
}

#[tokio::test]
async fn past_max_stale_the_provider_is_unavailable() {
    let idp = provider().await;
    let verifier = TokenVerifier::new(IdentityProviderConfig {
        refresh: Duration::ZERO,
        max_stale: Duration::ZERO,
        ..config(&idp)
    })
    .expect("config");
    let token = idp.mint(claims(&idp));
    assert!(verifier.verify(&token, now()).await.is_ok());

    idp.set_available(false);
    assert!(verifier.refresh().await.is_err());
    let error = refusal(&verifier, &token).await;
    assert_eq!(error, TokenError::ProviderUnavailable);
    assert_eq!(error.code(), "token.provider_unavailable");
    assert_eq!(error.http_status(), 503);
    assert_eq!(verifier.fetch_failures(), 1);

    idp.set_available(true);
    assert_eq!(verifier.refresh().await, Ok(1));
    assert!(verifier.verify(&token, now()).await.is_ok());
}

#[tokio::test]
async fn without_keys_ever_fetched_the_provider_is_unavailable() {
    let idp = provider().await;
    idp.set_available(false);
    let verifier = verifier(&idp);
    let token = idp.mint(claims(&idp));
    assert_eq!(
        refusal(&verifier, &token).await,
        TokenError::ProviderUnavailable
    );
    // The next one is not let through to the provider again at once.
    assert_eq!(
        refusal(&verifier, &token).await,
        TokenError::ProviderUnavailable
    );
    assert_eq!((verifier.fetches(), verifier.fetch_failures()), (1, 1));

    // Nobody listening at all.
    let closed = {
        let listener = std::net::TcpListener::bind(loopback()).expect("bind");
        listener.local_addr().expect("addr")
    };
    let verifier = TokenVerifier::new(IdentityProviderConfig::new(
        idp.issuer(),
        AUDIENCE,
        format!("http://{closed}/jwks.json"),
    ))
    .expect("config");
    assert_eq!(
        refusal(&verifier, &token).await,
        TokenError::ProviderUnavailable
    );
    assert!(matches!(
        verifier.refresh().await,
        Err(platform::FetchError::Unreachable { .. })
    ));
}

#[tokio::test]
async fn a_garbage_jwks_keeps_the_old_keys() {
    let idp = provider().await;
    let jwks = StaticServer::start(200, idp.jwks().to_string().into_bytes()).await;
    let verifier = TokenVerifier::new(IdentityProviderConfig::new(
        idp.issuer(),
        AUDIENCE,
        jwks.url(),
    ))
    .expect("config");
    let token = idp.mint(claims(&idp));
    assert!(verifier.verify(&token, now()).await.is_ok());

    for (status, body, expected) in [
        (200, b"<html>maintenance</html>".to_vec(), "not a JWKS"),
        (200, br#"{"keys": []}"#.to_vec(), "no key fit"),
        (
            200,
            br#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]}"#.to_vec(),
            "symmetric",
        ),
        (200, vec![b' '; 2 * 1024 * 1024], "over 1048576 bytes"),
        (502, b"bad gateway".to_vec(), "HTTP 502"),
    ] {
        jwks.set(status, body);
        let error = verifier.refresh().await.expect_err("no keys in that");
        assert!(error.to_string().contains(expected), "{error}");
        assert_eq!(verifier.key_ids(), [idp.kid()]);
        assert!(verifier.verify(&token, now()).await.is_ok());
    }
    assert_eq!(verifier.fetch_failures(), 5);
}

#[tokio::test]
async fn the_algorithm_comes_from_the_providers_key() {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let idp = provider().await;
    let ed = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let jwks = json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(ed.verifying_key().as_bytes()),
    }]});
    let server = StaticServer::start(200, jwks.to_string().into_bytes()).await;
    let verifier = TokenVerifier::new(IdentityProviderConfig::new(
        idp.issuer(),
        AUDIENCE,
        server.url(),
    ))
    .expect("config");
    let key = EncodingKey::from_ed_der(ed.to_pkcs8_der().expect("pkcs8").as_bytes());
    let claims = claims(&idp);
    let exp = claims["exp"].as_i64().expect("exp");
    let token = sign(Algorithm::EdDSA, "ed-1", &claims, &key);
    assert_eq!(verifier.verify(&token, now()).await, Ok(zhangsan(exp)));

    // The same key id with ES256: not the algorithm of that key.
    let es256 = sign(Algorithm::ES256, "ed-1", &claims, &foreign_ec_key());
    assert_eq!(
        refusal(&verifier, &es256).await,
        TokenError::AlgorithmMismatch {
            alg: "ES256".into(),
            kid: "ed-1".into()
        }
    );
}

#[tokio::test]
async fn the_demo_provider_checks_what_it_is_given() {
    let mut bad_subject = holders();
    bad_subject[0].subject = "has space".into();
    let mut twice = holders();
    twice[1].username = "zhangsan".into();
    for holders in [bad_subject, twice] {
        assert!(matches!(
            DemoIdentityProvider::start(loopback(), None, holders).await,
            Err(platform::identity_provider::StartError::Holder { .. })
        ));
    }
    assert!(matches!(
        DemoIdentityProvider::start(SocketAddr::from(([0, 0, 0, 0], 0)), None, holders()).await,
        Err(platform::identity_provider::StartError::NotLoopback(_))
    ));
    let idp = provider().await;
    let url = idp.url();
    idp.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
            .await
            .is_err()
    );
}

// ---------------------------------------------------------------- helpers: HTTP

async fn post_token(idp: &DemoIdentityProvider, fields: &[(&str, &str)]) -> (u16, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::post(idp.token_url())
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = client.request(request).await.expect("the provider answers");
    let status = response.status().as_u16();
    assert_eq!(
        response.headers().get(http::header::CACHE_CONTROL),
        Some(&http::HeaderValue::from_static("no-store"))
    );
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&body).expect("a JSON answer"),
    )
}

async fn get(url: &str) -> (u16, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = client.request(request).await.expect("an answer");
    let status = response.status().as_u16();
    (
        status,
        response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes(),
    )
}

/// A loopback server answering every request with one status and body, changeable: a JWKS
/// endpoint that can be made to serve garbage.
struct StaticServer {
    addr: SocketAddr,
    answer: Arc<Mutex<(u16, Vec<u8>)>>,
    task: tokio::task::JoinHandle<()>,
}

impl StaticServer {
    async fn start(status: u16, body: Vec<u8>) -> StaticServer {
        let listener = tokio::net::TcpListener::bind(loopback())
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let answer = Arc::new(Mutex::new((status, body)));
        let shared = answer.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let answer = shared.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let (status, body) = answer.lock().expect("lock").clone();
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&body).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        StaticServer { addr, answer, task }
    }

    fn url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    fn set(&self, status: u16, body: Vec<u8>) {
        *self.answer.lock().expect("lock") = (status, body);
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
