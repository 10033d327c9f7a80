//! What to send: the scenario mix, the request plan (which scenario, which holder, which input
//! — valid or one of the bad kinds), and what each request expects back. Pure: the plan is a
//! function of the mix, the holders and a seeded random generator, and the check of an answer
//! a function of the expectation, the status and the body.

use std::fmt;
use std::str::FromStr;

use rand::distributions::{Distribution as _, WeightedIndex};
use rand::seq::SliceRandom as _;
use rand::Rng;
use serde::{Deserialize, Serialize};
use wire::api::Verdict;

use crate::population::Zipf;

/// `--mix park-entry-senior:70,hotel-check-in:30`: scenarios and their relative weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    pub entries: Vec<MixEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixEntry {
    pub scenario: String,
    pub weight: u32,
}

impl FromStr for Mix {
    type Err = String;

    /// `scenario:weight` separated by commas; a bare `scenario` weighs 1.
    fn from_str(text: &str) -> Result<Mix, String> {
        let mut entries: Vec<MixEntry> = Vec::new();
        for part in text.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(format!(
                    "`{text}` has an empty entry (expected `scenario:weight,...`)"
                ));
            }
            let (scenario, weight) = match part.split_once(':') {
                Some((s, w)) => (
                    s.trim(),
                    w.trim()
                        .parse::<u32>()
                        .map_err(|_| format!("the weight of `{part}` is not a whole number"))?,
                ),
                None => (part, 1),
            };
            if scenario.is_empty() {
                return Err(format!("`{part}` names no scenario"));
            }
            if entries.iter().any(|e| e.scenario == scenario) {
                return Err(format!("scenario `{scenario}` appears twice"));
            }
            entries.push(MixEntry {
                scenario: scenario.to_string(),
                weight,
            });
        }
        if entries.iter().all(|e| e.weight == 0) {
            return Err(format!("`{text}` gives every scenario weight 0"));
        }
        Ok(Mix { entries })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{}", e.scenario, e.weight)?;
        }
        Ok(())
    }
}

/// What a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A fresh code of a holder who passes the scenario.
    Valid,
    /// A valid code with one bit of its signature flipped.
    TamperedCode,
    /// A code whose validity ended two minutes before it was minted.
    ExpiredCode,
    /// A valid code presented with a key no venue has.
    UnknownVenue,
    /// The code of an earlier request of the run, presented again after that one was answered.
    Replayed,
}

impl Input {
    pub const ALL: [Input; 5] = [
        Input::Valid,
        Input::TamperedCode,
        Input::ExpiredCode,
        Input::UnknownVenue,
        Input::Replayed,
    ];
    /// The bad kinds, in the order `--bad` deals them out.
    pub const BAD: [Input; 3] = [Input::TamperedCode, Input::ExpiredCode, Input::UnknownVenue];

    pub fn name(self) -> &'static str {
        match self {
            Input::Valid => "valid",
            Input::TamperedCode => "tampered_code",
            Input::ExpiredCode => "expired_code",
            Input::UnknownVenue => "unknown_venue",
            Input::Replayed => "replayed",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// What the gateway must answer to this input.
    pub fn expectation(self) -> Expect {
        match self {
            Input::Valid => Expect::Verdict(Verdict::Pass),
            Input::TamperedCode => Expect::BadSignature,
            Input::ExpiredCode => Expect::Problem {
                status: 422,
                code: "code.expired",
            },
            Input::UnknownVenue => Expect::Problem {
                status: 401,
                code: "venue.unknown",
            },
            Input::Replayed => Expect::Problem {
                status: 409,
                code: "code.replayed",
            },
        }
    }
}

/// What a request expects back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// 200 with this overall verdict.
    Verdict(Verdict),
    /// A problem with this status and machine code.
    Problem { status: u16, code: &'static str },
    /// 422 `code.bad_signature`, or a 400 `code.*` (a flipped bit may land in the structure).
    BadSignature,
    /// Any 2xx: the baseline, which answers everything alike.
    Served,
    /// A request the gateway shed under load: 503 `gateway.overloaded`, which must say when to
    /// retry (whether the answer had `Retry-After`).
    Shed { retry_after: bool },
}

/// The problem code of a verification shed under load.
pub const OVERLOADED: &str = "gateway.overloaded";

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Verdict(v) => write!(f, "200 {}", v.as_str()),
            Expect::Problem { status, code } => write!(f, "{status} {code}"),
            Expect::BadSignature => f.write_str("422 code.bad_signature or 400 code.*"),
            Expect::Served => f.write_str("2xx"),
            Expect::Shed { .. } => write!(f, "503 {OVERLOADED} with Retry-After"),
        }
    }
}

/// How an answer failed its expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    UnexpectedStatus,
    UnexpectedVerdict,
    /// The status was right but the body was not what it should be (no verdict, wrong code).
    UnexpectedBody,
}

/// What was read from an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The overall verdict of a 200 verify response.
    pub verdict: Option<Verdict>,
    /// `None` when the expectation held; else how it failed and what came instead.
    pub mismatch: Option<(MismatchKind, String)>,
}

#[derive(Deserialize)]
struct VerdictOnly {
    verdict: Verdict,
}

#[derive(Deserialize)]
struct CodeOnly {
    code: String,
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(160).collect();
    if text.chars().count() > 160 {
        s.push('…');
    }
    s
}

impl Expect {
    /// Checks an answer. Only what the expectation needs is parsed (a verdict, or a problem's
    /// code), so checking costs the generator little.
    pub fn check(self, status: u16, body: &[u8]) -> Checked {
        let verdict = || {
            if status == 200 {
                serde_json::from_slice::<VerdictOnly>(body)
                    .ok()
                    .map(|v| v.verdict)
            } else {
                None
            }
        };
        let problem_code = || {
            serde_json::from_slice::<CodeOnly>(body)
                .ok()
                .map(|p| p.code)
        };
        let got = |verdict: Option<Verdict>| match verdict {
            Some(v) => format!("{status} {}", v.as_str()),
            None => match problem_code() {
                Some(code) => format!("{status} {code}"),
                None => format!("{status} {}", snippet(body)),
            },
        };
        match self {
            // The baseline answers everything alike: nothing to parse.
            Expect::Served => Checked {
                verdict: None,
                mismatch: (!(200..300).contains(&status))
                    .then(|| (MismatchKind::UnexpectedStatus, got(None))),
            },
            Expect::Verdict(want) => {
                let v = verdict();
                let mismatch = match v {
                    _ if status != 200 => Some((MismatchKind::UnexpectedStatus, got(None))),
                    None => Some((MismatchKind::UnexpectedBody, got(None))),
                    Some(v) if v != want => Some((MismatchKind::UnexpectedVerdict, got(Some(v)))),
                    Some(_) => None,
                };
                Checked {
                    verdict: v,
                    mismatch,
                }
            }
            Expect::Problem { status: want, code } => {
                let v = verdict();
                let mismatch = if status != want {
                    Some((MismatchKind::UnexpectedStatus, got(v)))
                } else if problem_code().as_deref() != Some(code) {
                    Some((MismatchKind::UnexpectedBody, got(None)))
                } else {
                    None
                };
                Checked {
                    verdict: v,
                    mismatch,
                }
            }
            Expect::Shed { retry_after } => {
                let mismatch = if status != 503 {
                    Some((MismatchKind::UnexpectedStatus, got(None)))
                } else if problem_code().as_deref() != Some(OVERLOADED) {
                    Some((MismatchKind::UnexpectedBody, got(None)))
                } else if !retry_after {
                    Some((
                        MismatchKind::UnexpectedBody,
                        format!("503 {OVERLOADED} without Retry-After"),
                    ))
                } else {
                    None
                };
                Checked {
                    verdict: None,
                    mismatch,
                }
            }
            Expect::BadSignature => {
                let v = verdict();
                let code = problem_code();
                let held = match (status, code.as_deref()) {
                    (422, Some("code.bad_signature")) => true,
                    (400, Some(c)) => c.starts_with("code."),
                    _ => false,
                };
                let mismatch = match (held, status) {
                    (true, _) => None,
                    (false, 400 | 422) => Some((MismatchKind::UnexpectedBody, got(None))),
                    (false, _) => Some((MismatchKind::UnexpectedStatus, got(v))),
                };
                Checked {
                    verdict: v,
                    mismatch,
                }
            }
        }
    }
}

/// One request of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// Index into the mix.
    pub scenario: u16,
    /// Index (popularity rank) into that scenario's holders.
    pub holder: u32,
    /// Index into that scenario's venues.
    pub venue: u32,
    pub input: Input,
    /// For [`Input::Replayed`]: the position of the request whose code it sends again.
    pub original: Option<u32>,
}

impl Planned {
    /// A valid request of `holder` for `scenario` at the scenario's first venue.
    pub fn valid(scenario: u16, holder: u32) -> Planned {
        Planned {
            scenario,
            holder,
            venue: 0,
            input: Input::Valid,
            original: None,
        }
    }
}

/// `count` requests: scenarios by weight, holders by their scenario's Zipf, and exactly
/// `round(bad × count)` bad inputs at random positions, dealt out in turn among the bad kinds
/// (so a small run still has each kind).
pub fn plan<R: Rng + ?Sized>(
    weights: &[u32],
    holders: &[Zipf],
    bad: f64,
    count: usize,
    rng: &mut R,
) -> Vec<Planned> {
    assert_eq!(
        weights.len(),
        holders.len(),
        "one holder choice per scenario"
    );
    let pick =
        WeightedIndex::new(weights).expect("the mix has a positive weight (checked when parsed)");
    let mut planned: Vec<Planned> = (0..count)
        .map(|_| {
            let scenario = pick.sample(rng);
            Planned::valid(scenario as u16, holders[scenario].sample(rng) as u32)
        })
        .collect();
    let n_bad = ((bad * count as f64).round() as usize).min(count);
    let mut positions: Vec<usize> = (0..count).collect();
    let (chosen, _) = positions.partial_shuffle(rng, n_bad);
    for (i, &position) in chosen.iter().enumerate() {
        planned[position].input = Input::BAD[i % Input::BAD.len()];
    }
    planned
}

/// Spreads the requests over their scenario's venues, uniformly (`venues[scenario]` of them;
/// the first when a scenario has one).
pub fn spread_over_venues<R: Rng + ?Sized>(planned: &mut [Planned], venues: &[usize], rng: &mut R) {
    for request in planned.iter_mut() {
        let n = venues[usize::from(request.scenario)].max(1);
        request.venue = rng.gen_range(0..n) as u32;
    }
}

/// Turns `round(share × count)` requests at random positions into replays: each sends again
/// the code of the nearest valid request at least `gap` positions before it, from the same
/// venue. With at most `gap` requests in flight at once (one per connection), that request
/// was answered before the replay is sent, so the replay must be refused as `code.replayed`.
/// A position with no valid request far enough before it stays as planned.
pub fn add_replays<R: Rng + ?Sized>(planned: &mut [Planned], share: f64, gap: usize, rng: &mut R) {
    let count = planned.len();
    if count <= gap || share <= 0.0 {
        return;
    }
    let wanted = ((share * count as f64).round() as usize).min(count - gap);
    let mut positions: Vec<usize> = (gap..count)
        .filter(|&p| planned[p].input == Input::Valid)
        .collect();
    let (chosen, _) = positions.partial_shuffle(rng, wanted);
    let mut chosen = chosen.to_vec();
    // In order, so an original chosen later is already a replay when looked for.
    chosen.sort_unstable();
    for position in chosen {
        let original = (0..=position - gap)
            .rev()
            .find(|&q| planned[q].input == Input::Valid);
        if let Some(q) = original {
            planned[position] = Planned {
                input: Input::Replayed,
                original: Some(q as u32),
                ..planned[q]
            };
        }
    }
}

/// The warm-up: every holder of every scenario once, valid codes, in rank order (the popular
/// first), the scenarios interleaved.
pub fn warm_plan(holders_per_scenario: &[usize]) -> Vec<Planned> {
    let most = holders_per_scenario.iter().copied().max().unwrap_or(0);
    let mut planned = Vec::with_capacity(holders_per_scenario.iter().sum());
    for rank in 0..most {
        for (scenario, &n) in holders_per_scenario.iter().enumerate() {
            if rank < n {
                planned.push(Planned::valid(scenario as u16, rank as u32));
            }
        }
    }
    planned
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng as _;

    use super::*;

    #[test]
    fn mixes_parse_with_weights_and_refuse_nonsense() {
        let mix: Mix = "park-entry-senior:70, hotel-check-in:30"
            .parse()
            .expect("valid");
        assert_eq!(mix.entries.len(), 2);
        assert_eq!(mix.entries[1].scenario, "hotel-check-in");
        assert_eq!(mix.entries[1].weight, 30);
        assert_eq!(mix.to_string(), "park-entry-senior:70,hotel-check-in:30");
        let bare: Mix = "hotel-check-in".parse().expect("valid");
        assert_eq!(bare.entries[0].weight, 1);
        for (text, expected) in [
            ("a:x", "not a whole number"),
            ("a:-1", "not a whole number"),
            ("a:1,,b:2", "empty entry"),
            (":3", "names no scenario"),
            ("a:1,a:2", "appears twice"),
            ("a:0,b:0", "weight 0"),
        ] {
            let err = text.parse::<Mix>().expect_err(text);
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn plans_follow_the_weights_and_deal_out_bad_inputs_exactly() {
        let mut rng = StdRng::seed_from_u64(3);
        let zipfs = [Zipf::new(10, 1.0), Zipf::new(5, 1.0)];
        let p = plan(&[50, 50], &zipfs, 0.1, 200, &mut rng);
        assert_eq!(p.len(), 200);
        let bad: Vec<_> = p.iter().filter(|r| r.input != Input::Valid).collect();
        assert_eq!(bad.len(), 20);
        for kind in Input::BAD {
            let n = bad.iter().filter(|r| r.input == kind).count();
            assert!((6..=7).contains(&n), "{kind:?}: {n}");
        }
        let first = p.iter().filter(|r| r.scenario == 0).count();
        assert!((70..=130).contains(&first), "{first}");
        assert!(p
            .iter()
            .all(|r| (r.holder as usize) < zipfs[r.scenario as usize].len()));
        // Same seed, same plan.
        assert_eq!(
            p,
            plan(&[50, 50], &zipfs, 0.1, 200, &mut StdRng::seed_from_u64(3))
        );
        // A zero weight is never chosen.
        let only_second = plan(&[0, 1], &zipfs, 0.0, 50, &mut rng);
        assert!(only_second
            .iter()
            .all(|r| r.scenario == 1 && r.input == Input::Valid));
    }

    #[test]
    fn the_warm_plan_visits_every_holder_once() {
        let w = warm_plan(&[3, 1]);
        let pairs: Vec<(u16, u32)> = w.iter().map(|r| (r.scenario, r.holder)).collect();
        assert_eq!(pairs, [(0, 0), (1, 0), (0, 1), (0, 2)]);
    }

    #[test]
    fn answers_are_checked_against_their_expectation() {
        let pass = br#"{"verification_id":"v-1","scenario":"s","verdict":"pass","holder":{"kind":"person"},"requirements":[],"decided_at":"2026-01-01T00:00:00Z"}"#;
        let fail = br#"{"verdict":"fail"}"#;
        let problem = |code: &str| {
            format!(r#"{{"type":"t","title":"x","status":422,"code":"{code}"}}"#).into_bytes()
        };
        let valid = Input::Valid.expectation();
        assert_eq!(
            valid.check(200, pass),
            Checked {
                verdict: Some(Verdict::Pass),
                mismatch: None
            }
        );
        let c = valid.check(200, fail);
        assert_eq!(c.verdict, Some(Verdict::Fail));
        assert_eq!(
            c.mismatch.map(|m| m.0),
            Some(MismatchKind::UnexpectedVerdict)
        );
        let c = valid.check(429, &problem("venue.rate_limited"));
        assert_eq!(
            c.mismatch,
            Some((
                MismatchKind::UnexpectedStatus,
                "429 venue.rate_limited".into()
            ))
        );
        assert_eq!(
            valid.check(200, b"<html>").mismatch.map(|m| m.0),
            Some(MismatchKind::UnexpectedBody)
        );

        let expired = Input::ExpiredCode.expectation();
        assert_eq!(expired.check(422, &problem("code.expired")).mismatch, None);
        assert_eq!(
            expired
                .check(422, &problem("code.bad_signature"))
                .mismatch
                .map(|m| m.0),
            Some(MismatchKind::UnexpectedBody)
        );
        assert_eq!(
            expired.check(200, pass).mismatch,
            Some((MismatchKind::UnexpectedStatus, "200 pass".into()))
        );

        let tampered = Input::TamperedCode.expectation();
        assert_eq!(
            tampered.check(422, &problem("code.bad_signature")).mismatch,
            None
        );
        assert_eq!(
            tampered.check(400, &problem("code.bad_cbor")).mismatch,
            None
        );
        assert!(tampered
            .check(422, &problem("code.expired"))
            .mismatch
            .is_some());
        assert!(tampered
            .check(409, &problem("code.replayed"))
            .mismatch
            .is_some());

        let unknown = Input::UnknownVenue.expectation();
        assert_eq!(unknown.check(401, &problem("venue.unknown")).mismatch, None);

        assert_eq!(Expect::Served.check(200, b"anything").mismatch, None);
        assert!(Expect::Served.check(503, b"").mismatch.is_some());
    }
}
