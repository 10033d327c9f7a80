//! Pre-minting: every request of the plan becomes its final bytes — the JSON body with a fresh
//! code, the `Authorization` header, and its expectation — before the run starts, so the run
//! spends nothing on signatures and every code is used exactly once (the gateway refuses a
//! replayed nonce). Minting uses every core and shows progress for large pools.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http::HeaderValue;
use rand::RngCore as _;
use wire::api::VerifyRequest;
use wire::code::{base45, envelope, HolderClaims, Minter, Profile, Purpose, PREFIX};

use crate::population::Holder;
use crate::workload::{Expect, Input, Planned};

/// What the codes claim as their issuer (the minting platform).
pub const ISSUER: &str = "mianzheng-platform";
/// How long a minted code lives: the most the gateway accepts.
pub const CODE_LIFETIME_SECS: i64 = 600;
/// Pools at least this large report their minting progress.
const SHOW_PROGRESS_FROM: usize = 20_000;

/// One scenario of the mix, ready to mint for.
#[derive(Debug, Clone)]
pub struct ScenarioSetup {
    pub id: String,
    /// `Bearer <key>` of each venue the run presents codes at: the demo venue allowed the
    /// scenario, or the venues `--venues` registered.
    pub venues: Vec<HeaderValue>,
    /// Its holders, the most popular first.
    pub holders: Vec<Holder>,
}

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub body: Bytes,
    pub authorization: HeaderValue,
    pub expect: Expect,
    pub scenario: u16,
    pub input: Input,
}

/// The demo platform's signing key for `profile`.
pub fn demo_minter(profile: Profile) -> Result<Minter> {
    let keys = wire::keys::parse_signing_keys(gateway::demo::PLATFORM_SECRET)
        .context("the embedded demo platform keys")?;
    let key = keys
        .into_iter()
        .find(|k| k.algorithm() == profile.algorithm())
        .with_context(|| format!("the demo platform keys have no `{}` key", profile.name()))?;
    Ok(Minter::new(key))
}

/// A `Bearer` header value no venue has.
fn unknown_venue() -> HeaderValue {
    let mut random = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut random);
    HeaderValue::from_str(&format!("Bearer lt-unknown-venue-{}", hex_string(&random)))
        .expect("ASCII")
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The same code with the last byte of its COSE message — inside the signature or MAC —
/// changed by one bit.
pub fn tamper(code: &str) -> String {
    let text = envelope::unprefix(code, PREFIX).expect("a code we minted has our prefix");
    let mut cose = base45::decode(text).expect("a code we minted is base45");
    if let Some(last) = cose.last_mut() {
        *last ^= 0x01;
    }
    envelope::seal(&cose, PREFIX, false)
}

/// Mints the code of one planned request at `now` (Unix seconds). A replay gets no code of
/// its own: [`mint_all`] gives it its original's request.
pub fn prepare(
    minter: &Minter,
    scenarios: &[ScenarioSetup],
    planned: Planned,
    now: i64,
) -> Prepared {
    let setup = &scenarios[usize::from(planned.scenario)];
    let holder = &setup.holders[planned.holder as usize];
    let mut nonce = vec![0u8; 16];
    rand::thread_rng().fill_bytes(&mut nonce);
    let (issued_at, expires_at) = match planned.input {
        // Lived its whole (allowed) life and ended two minutes ago: past any clock skew.
        Input::ExpiredCode => (now - CODE_LIFETIME_SECS - 120, now - 120),
        _ => (now, now + CODE_LIFETIME_SECS),
    };
    let claims = HolderClaims {
        issuer: ISSUER.into(),
        subject: holder.handle.clone(),
        kind: holder.kind,
        city: Some(holder.city),
        issued_at,
        expires_at,
        nonce,
        scope: None,
        purpose: Purpose::Presentation,
        presenter: None,
        medium: Default::default(),
    };
    let mut code = minter.mint(&claims);
    if planned.input == Input::TamperedCode {
        code = tamper(&code);
    }
    let body = serde_json::to_vec(&VerifyRequest {
        code,
        scenario: setup.id.clone(),
    })
    .expect("a verify request serializes");
    let authorization = match planned.input {
        Input::UnknownVenue => unknown_venue(),
        _ => setup.venues[planned.venue as usize].clone(),
    };
    Prepared {
        body: Bytes::from(body),
        authorization,
        expect: planned.input.expectation(),
        scenario: planned.scenario,
        input: planned.input,
    }
}

/// Mints the whole plan on every core, `what` naming the pool in the progress line.
pub fn mint_all(
    minter: &Minter,
    scenarios: &[ScenarioSetup],
    plan: &[Planned],
    what: &str,
) -> Vec<Prepared> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    mint_on(threads, minter, scenarios, plan, Some(what))
}

/// Mints the plan on `threads` threads, showing progress under the name `what` (if any) for a
/// large plan.
pub fn mint_on(
    threads: usize,
    minter: &Minter,
    scenarios: &[ScenarioSetup],
    plan: &[Planned],
    what: Option<&str>,
) -> Vec<Prepared> {
    let started = Instant::now();
    let now = chrono::Utc::now().timestamp();
    let threads = threads.clamp(1, plan.len().max(1));
    let chunk = plan.len().div_ceil(threads).max(1);
    let done = AtomicUsize::new(0);
    let what = what.filter(|_| plan.len() >= SHOW_PROGRESS_FROM);
    let show = what.is_some();
    let what = what.unwrap_or_default();
    let parts: Vec<Vec<Prepared>> = std::thread::scope(|scope| {
        let workers: Vec<_> = plan
            .chunks(chunk)
            .map(|part| {
                let done = &done;
                scope.spawn(move || {
                    let mut out = Vec::with_capacity(part.len());
                    for (i, planned) in part.iter().enumerate() {
                        out.push(match planned.input {
                            Input::Replayed => replay_placeholder(planned),
                            _ => prepare(minter, scenarios, *planned, now),
                        });
                        if i % 1024 == 1023 {
                            done.fetch_add(1024, Ordering::Relaxed);
                        }
                    }
                    out
                })
            })
            .collect();
        if show {
            while !workers.iter().all(|w| w.is_finished()) {
                std::thread::sleep(Duration::from_millis(250));
                let n = done.load(Ordering::Relaxed).min(plan.len());
                eprint!(
                    "\rminting {what}: {n}/{} codes ({:.0}%)",
                    plan.len(),
                    100.0 * n as f64 / plan.len() as f64
                );
            }
        }
        workers
            .into_iter()
            .map(|w| w.join().expect("a minting thread does not panic"))
            .collect()
    });
    if show {
        eprintln!(
            "\rminting {what}: {} codes in {:.1} s            ",
            plan.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let mut pool: Vec<Prepared> = parts.into_iter().flatten().collect();
    for (position, planned) in plan.iter().enumerate() {
        if let Some(original) = planned.original {
            let original = &pool[original as usize];
            let (body, authorization) = (original.body.clone(), original.authorization.clone());
            pool[position].body = body;
            pool[position].authorization = authorization;
        }
    }
    pool
}

/// A replay before [`mint_all`] copies its original's request into it.
fn replay_placeholder(planned: &Planned) -> Prepared {
    Prepared {
        body: Bytes::new(),
        authorization: HeaderValue::from_static(""),
        expect: planned.input.expectation(),
        scenario: planned.scenario,
        input: planned.input,
    }
}

#[cfg(test)]
mod tests {
    use wire::catalogue::model::HolderKind;
    use wire::code::Verifier;

    use super::*;

    fn setup() -> Vec<ScenarioSetup> {
        vec![ScenarioSetup {
            id: "park-entry-senior".into(),
            venues: vec![
                HeaderValue::from_static("Bearer demo-park-7f3c9a1e"),
                HeaderValue::from_static("Bearer lt-second-venue"),
            ],
            holders: vec![Holder {
                handle: "lt-3".into(),
                kind: HolderKind::Person,
                city: 370100,
            }],
        }]
    }

    fn code_of(p: &Prepared) -> String {
        serde_json::from_slice::<VerifyRequest>(&p.body)
            .expect("request")
            .code
    }

    #[test]
    fn each_input_mints_what_it_promises() {
        let trust = gateway::demo::platform_trust().expect("trust");
        let verifier = Verifier::new(trust).max_lifetime(600);
        let now = chrono::Utc::now();
        for profile in Profile::ALL {
            let minter = demo_minter(profile).expect("key");
            let at = |input| Planned {
                input,
                ..Planned::valid(0, 0)
            };
            let valid = prepare(&minter, &setup(), at(Input::Valid), now.timestamp());
            let claims = verifier
                .verify(&code_of(&valid), now)
                .expect("valid code")
                .claims;
            assert_eq!(
                (claims.subject.as_str(), claims.city),
                ("lt-3", Some(370100))
            );
            assert_eq!(valid.authorization, "Bearer demo-park-7f3c9a1e");
            let second = Planned {
                venue: 1,
                ..Planned::valid(0, 0)
            };
            let at_second = prepare(&minter, &setup(), second, now.timestamp());
            assert_eq!(at_second.authorization, "Bearer lt-second-venue");

            let tampered = prepare(&minter, &setup(), at(Input::TamperedCode), now.timestamp());
            let err = verifier
                .verify(&code_of(&tampered), now)
                .expect_err("tampered");
            assert_eq!(err.code(), "code.bad_signature", "{profile:?}");

            let expired = prepare(&minter, &setup(), at(Input::ExpiredCode), now.timestamp());
            let err = verifier
                .verify(&code_of(&expired), now)
                .expect_err("expired");
            assert_eq!(err.code(), "code.expired");

            let unknown = prepare(&minter, &setup(), at(Input::UnknownVenue), now.timestamp());
            assert!(unknown
                .authorization
                .to_str()
                .expect("ascii")
                .starts_with("Bearer lt-unknown-venue-"));
            verifier
                .verify(&code_of(&unknown), now)
                .expect("the code itself is fine");
        }
    }

    #[test]
    fn every_minted_code_is_different_and_the_order_is_kept() {
        let minter = demo_minter(Profile::Hmac).expect("key");
        let plan: Vec<Planned> = (0..50)
            .map(|i| Planned {
                input: if i % 10 == 0 {
                    Input::ExpiredCode
                } else {
                    Input::Valid
                },
                ..Planned::valid(0, 0)
            })
            .collect();
        let pool = mint_all(&minter, &setup(), &plan, "test");
        assert_eq!(pool.len(), 50);
        let inputs: Vec<Input> = pool.iter().map(|p| p.input).collect();
        assert_eq!(inputs, plan.iter().map(|p| p.input).collect::<Vec<_>>());
        let mut codes: Vec<String> = pool.iter().map(code_of).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), 50);
    }

    #[test]
    fn a_replay_sends_its_originals_request_again() {
        let minter = demo_minter(Profile::Hmac).expect("key");
        let mut plan: Vec<Planned> = (0..20).map(|_| Planned::valid(0, 0)).collect();
        plan[3].venue = 1;
        plan[17] = Planned {
            input: Input::Replayed,
            original: Some(3),
            ..plan[3]
        };
        let pool = mint_all(&minter, &setup(), &plan, "test");
        assert_eq!(pool[17].body, pool[3].body);
        assert_eq!(pool[17].authorization, "Bearer lt-second-venue");
        assert_eq!(pool[17].input, Input::Replayed);
        assert_eq!(
            pool[17].expect,
            Expect::Problem {
                status: 409,
                code: "code.replayed"
            }
        );
        assert_ne!(pool[16].body, pool[3].body);
    }
}
