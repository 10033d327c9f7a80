//! Fault knobs: break a backend on purpose, at start (config) or at run time
//! (`PUT /admin/faults`), for one backend or all of them.
//!
//! - **latency**: every answer waits a fixed time, or a time drawn uniformly from a range;
//! - **error rate**: that fraction of queries is answered `503 backend.unavailable` (after the
//!   latency, like a backend that timed out inside);
//! - **down**: every query is answered `503 backend.unavailable` at once, before its body is
//!   read. One listener serves many backends, so a single backend cannot refuse connections;
//!   a gateway sees the same thing as from a load balancer in front of a dead backend.
//!
//! The draws come from one RNG that a test can seed ([`Faults::new`]), so "30 % errors" gives
//! the same sequence of answers in every run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng as _;
use serde::{Deserialize, Serialize};

/// Longest latency a knob may add: a minute (beyond that a gateway has long given up).
pub const MAX_LATENCY_MS: u64 = 60_000;

/// Added latency: `{"fixed_ms": 50}` or `{"min_ms": 10, "max_ms": 80}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Latency {
    Fixed { fixed_ms: u64 },
    Uniform { min_ms: u64, max_ms: u64 },
}

/// The faults of one backend (or of all, as the default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Fraction of queries answered 503, `0.0..=1.0`.
    #[serde(default)]
    pub error_rate: f64,
    /// Answer every query 503 at once.
    #[serde(default)]
    pub down: bool,
}

/// Every backend's faults: `all` applies to any backend not named in `backends` (a named
/// backend's spec replaces `all`, it does not add to it). Backends are named
/// `<department>/<province|city code>`.
///
/// ```toml
/// [faults.all]
/// latency = { min_ms = 2, max_ms = 10 }
/// [faults.backends."health/province"]
/// down = true
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    #[serde(default)]
    pub all: FaultSpec,
    #[serde(default)]
    pub backends: BTreeMap<String, FaultSpec>,
}

/// What to do with one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    pub down: bool,
    pub delay: Duration,
    pub fail: bool,
}

impl FaultSpec {
    /// Checks the knobs' ranges; says which one is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "`error_rate` must be between 0 and 1, not {}",
                self.error_rate
            ));
        }
        match self.latency {
            Some(Latency::Fixed { fixed_ms }) if fixed_ms > MAX_LATENCY_MS => {
                Err(format!("`fixed_ms` must be at most {MAX_LATENCY_MS}"))
            }
            Some(Latency::Uniform { min_ms, max_ms }) if min_ms > max_ms => {
                Err("`min_ms` must not exceed `max_ms`".to_string())
            }
            Some(Latency::Uniform { max_ms, .. }) if max_ms > MAX_LATENCY_MS => {
                Err(format!("`max_ms` must be at most {MAX_LATENCY_MS}"))
            }
            _ => Ok(()),
        }
    }

    /// Draws the decision for one query.
    pub fn decide(&self, rng: &mut impl rand::Rng) -> Decision {
        let delay_ms = match self.latency {
            None => 0,
            Some(Latency::Fixed { fixed_ms }) => fixed_ms,
            Some(Latency::Uniform { min_ms, max_ms }) => rng.gen_range(min_ms..=max_ms),
        };
        Decision {
            down: self.down,
            delay: Duration::from_millis(delay_ms),
            fail: self.error_rate > 0.0 && rng.gen::<f64>() < self.error_rate,
        }
    }
}

impl FaultPlan {
    /// Checks every spec and that each named backend is one of `known`.
    pub fn validate(&self, mut known: impl FnMut(&str) -> bool) -> Result<(), String> {
        self.all
            .validate()
            .map_err(|e| format!("faults.all: {e}"))?;
        for (name, spec) in &self.backends {
            if !known(name) {
                return Err(format!(
                    "faults.backends: no backend `{name}` is served here"
                ));
            }
            spec.validate()
                .map_err(|e| format!("faults.backends.`{name}`: {e}"))?;
        }
        Ok(())
    }

    /// The spec that applies to `backend`.
    pub fn spec_for(&self, backend: &str) -> &FaultSpec {
        self.backends.get(backend).unwrap_or(&self.all)
    }

    fn is_quiet(&self) -> bool {
        self.all == FaultSpec::default()
            && self.backends.values().all(|s| s == &FaultSpec::default())
    }
}

/// The live fault plan of a running issuer, shared by all its backends.
#[derive(Debug)]
pub struct Faults {
    plan: RwLock<Arc<FaultPlan>>,
    rng: Mutex<StdRng>,
}

impl Faults {
    /// `seed` makes the draws reproducible (tests); without it they come from the OS.
    pub fn new(plan: FaultPlan, seed: Option<u64>) -> Faults {
        let rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        Faults {
            plan: RwLock::new(Arc::new(plan)),
            rng: Mutex::new(rng),
        }
    }

    pub fn plan(&self) -> Arc<FaultPlan> {
        self.plan.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the whole plan (the caller has validated it).
    pub fn replace(&self, plan: FaultPlan) {
        *self.plan.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(plan);
    }

    /// The decision for one query to `backend`.
    pub fn decide(&self, backend: &str) -> Decision {
        let plan = self.plan();
        if plan.is_quiet() {
            return Decision::default();
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        plan.spec_for(backend).decide(&mut *rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_error_rates_are_reproducible_and_near_their_rate() {
        let spec = FaultSpec {
            error_rate: 0.3,
            ..FaultSpec::default()
        };
        let run = |seed| {
            let faults = Faults::new(
                FaultPlan {
                    all: spec.clone(),
                    backends: BTreeMap::new(),
                },
                Some(seed),
            );
            (0..2000)
                .map(|_| faults.decide("health/province").fail)
                .collect::<Vec<_>>()
        };
        let a = run(5);
        assert_eq!(a, run(5));
        let failures = a.iter().filter(|f| **f).count();
        assert!((500..=700).contains(&failures), "{failures}");
    }

    #[test]
    fn latency_stays_in_its_range() {
        let mut rng = StdRng::seed_from_u64(1);
        let spec = FaultSpec {
            latency: Some(Latency::Uniform {
                min_ms: 10,
                max_ms: 20,
            }),
            ..FaultSpec::default()
        };
        for _ in 0..500 {
            let d = spec.decide(&mut rng).delay;
            assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(20));
        }
        let fixed = FaultSpec {
            latency: Some(Latency::Fixed { fixed_ms: 7 }),
            ..FaultSpec::default()
        };
        assert_eq!(fixed.decide(&mut rng).delay, Duration::from_millis(7));
    }

    #[test]
    fn a_named_backend_replaces_the_default() {
        let plan: FaultPlan = toml::from_str(
            r#"
            all = { latency = { fixed_ms = 5 } }
            [backends."health/province"]
            down = true
            "#,
        )
        .expect("toml");
        let faults = Faults::new(plan, Some(1));
        assert!(faults.decide("health/province").down);
        assert_eq!(faults.decide("health/province").delay, Duration::ZERO);
        let other = faults.decide("education/province");
        assert!(!other.down);
        assert_eq!(other.delay, Duration::from_millis(5));
    }

    #[test]
    fn bad_knobs_are_refused() {
        let bad = |json: &str| {
            serde_json::from_str::<FaultPlan>(json)
                .map_err(|e| e.to_string())
                .and_then(|p| p.validate(|n| n == "health/province"))
                .is_err()
        };
        assert!(bad(r#"{"all": {"error_rate": 1.5}}"#));
        assert!(bad(r#"{"all": {"latency": {"min_ms": 9, "max_ms": 3}}}"#));
        assert!(bad(r#"{"all": {"latency": {"fixed_ms": 600000}}}"#));
        assert!(bad(r#"{"backends": {"nope/province": {"down": true}}}"#));
        assert!(bad(r#"{"all": {"slow": true}}"#));
        assert!(!bad(r#"{"backends": {"health/province": {"down": true}}}"#));
    }
}
