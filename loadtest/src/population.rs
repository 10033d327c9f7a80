//! Who shows a code: holders of the synthetic population (the same one the gateway's embedded
//! department backends serve, by seed) who pass a scenario today, and a Zipf-skewed choice among
//! them, so a few holders come often and most rarely, and caches behave as in life.
//!
//! "Passes" is decided with the gateway's own decision stage ([`gateway::verify::decide`]) on
//! the records the population generates, so the load tester and the gateway cannot disagree on
//! the rules, only on the answer.

use std::sync::Arc;

use anyhow::{ensure, Result};
use chrono::NaiveDate;
use gateway::verify::decide;
use gateway::verify::fetch::Answer;
use issuer::population::{Population, MAX_SEARCH};
use rand::Rng;
use wire::api::Verdict;
use wire::catalogue::model::{CityCode, HolderKind, Scenario};
use wire::catalogue::Catalogue;

/// Handles the load tester picks are `lt-0`, `lt-1`, ...: the same prefix for every scenario,
/// so a holder who passes two scenarios is the same holder in both (as in life).
pub const HANDLE_PREFIX: &str = "lt-";

/// One holder, with what their code must claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub handle: String,
    pub kind: HolderKind,
    /// The home city, which routes city-level certificates.
    pub city: CityCode,
}

/// Whether `handle` passes `scenario` on `today`, by the gateway's rules, on the records the
/// responsible department backends would return.
pub fn passes(
    population: &Population,
    catalogue: &Catalogue,
    scenario: &Scenario,
    handle: &str,
    today: NaiveDate,
) -> bool {
    scenario.requirements.iter().all(|requirement| {
        population
            .record_in(
                catalogue,
                handle,
                scenario.holder,
                &requirement.certificate,
                today,
            )
            .is_some_and(|record| {
                let answer = Answer::Record {
                    record: Arc::new(record),
                    stale: false,
                };
                decide::requirement(requirement, &answer, today).verdict == Verdict::Pass
            })
    })
}

/// Who may show a code for a scenario today: holders who pass it by the gateway's rules
/// ([`passes`]) and whose home city is offered everything it asks. The gateway answers
/// `not_offered` where its rollout plan does not offer a certificate yet; the shipped plan is
/// assumed (skipped when it does not fit the catalogue).
#[derive(Debug)]
pub struct Candidates<'a> {
    population: &'a Population,
    catalogue: &'a Catalogue,
    scenario: &'a Scenario,
    plan: Option<wire::rollout::Plan>,
    today: NaiveDate,
}

impl<'a> Candidates<'a> {
    pub fn new(
        population: &'a Population,
        catalogue: &'a Catalogue,
        scenario: &'a Scenario,
        today: NaiveDate,
    ) -> Candidates<'a> {
        let plan =
            wire::rollout::Plan::parse(wire::rollout::EMBEDDED, "config/rollout.toml", catalogue)
                .ok();
        Candidates {
            population,
            catalogue,
            scenario,
            plan,
            today,
        }
    }

    /// `handle` as a holder who passes the scenario, if they do.
    pub fn holder(&self, handle: &str) -> Option<Holder> {
        let scenario = self.scenario;
        let city = self.population.holder(handle, scenario.holder).home_city();
        let offered_at_home = self.plan.as_ref().is_none_or(|plan| {
            scenario.requirements.iter().all(|r| {
                plan.offered(&r.certificate, city, &scenario.id, self.today) != Some(false)
            })
        });
        (offered_at_home
            && passes(
                self.population,
                self.catalogue,
                scenario,
                handle,
                self.today,
            ))
        .then(|| Holder {
            handle: handle.to_string(),
            kind: scenario.holder,
            city,
        })
    }
}

/// The first `n` holders (by handle number) who pass `scenario` on `today`.
pub fn passing_holders(
    population: &Population,
    catalogue: &Catalogue,
    scenario: &Scenario,
    n: usize,
    today: NaiveDate,
) -> Result<Vec<Holder>> {
    let candidates = Candidates::new(population, catalogue, scenario, today);
    let mut holders = Vec::with_capacity(n);
    population.find_handles(HANDLE_PREFIX, n, |h| {
        let found = candidates.holder(h);
        let passes = found.is_some();
        holders.extend(found);
        passes
    });
    ensure!(
        holders.len() == n,
        "only {} of the first {MAX_SEARCH} holders pass `{}` today; lower `--population` (asked for {n})",
        holders.len(),
        scenario.id
    );
    Ok(holders)
}

/// Zipf's law over ranks `0..n`: rank `k` is chosen with probability proportional to
/// `1 / (k + 1)^s`. Sampling is a binary search in the cumulative distribution (exact, and
/// `O(log n)`; the table costs 8 bytes a rank).
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// `n` ranks (at least 1) with exponent `s` (at least 0; 0 is uniform).
    pub fn new(n: usize, s: f64) -> Zipf {
        let n = n.max(1);
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for k in 0..n {
            total += ((k + 1) as f64).powf(-s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }

    pub fn len(&self) -> usize {
        self.cdf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cdf.is_empty()
    }

    /// The probability of rank `k`.
    pub fn probability(&self, k: usize) -> f64 {
        match k {
            0 => self.cdf[0],
            k if k < self.cdf.len() => self.cdf[k] - self.cdf[k - 1],
            _ => 0.0,
        }
    }

    /// A rank in `0..n`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let u: f64 = rng.gen();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng as _;

    use super::*;

    fn frequencies(z: &Zipf, draws: usize) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(7);
        let mut counts = vec![0usize; z.len()];
        for _ in 0..draws {
            counts[z.sample(&mut rng)] += 1;
        }
        counts
            .into_iter()
            .map(|c| c as f64 / draws as f64)
            .collect()
    }

    #[test]
    fn zipf_probabilities_follow_the_law() {
        let z = Zipf::new(1000, 1.0);
        let harmonic: f64 = (1..=1000).map(|k| 1.0 / k as f64).sum();
        assert!((z.probability(0) - 1.0 / harmonic).abs() < 1e-12);
        assert!((z.probability(0) / z.probability(1) - 2.0).abs() < 1e-9);
        assert!((z.probability(9) / z.probability(99) - 10.0).abs() < 1e-9);
        let sum: f64 = (0..1000).map(|k| z.probability(k)).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        assert_eq!(z.probability(1000), 0.0);
    }

    #[test]
    fn zipf_samples_match_the_probabilities() {
        let z = Zipf::new(100, 1.0);
        let f = frequencies(&z, 200_000);
        for k in [0, 1, 4, 20, 99] {
            let p = z.probability(k);
            // Five standard deviations of a binomial share: never flaky with the fixed seed,
            // and would catch an off-by-one rank.
            let sd = (p * (1.0 - p) / 200_000.0).sqrt();
            assert!((f[k] - p).abs() < 5.0 * sd, "rank {k}: {} vs {p}", f[k]);
        }
        assert!(f[0] > f[1] && f[1] > f[10]);
    }

    #[test]
    fn zipf_zero_is_uniform_and_one_rank_always_wins() {
        let z = Zipf::new(4, 0.0);
        for k in 0..4 {
            assert!((z.probability(k) - 0.25).abs() < 1e-12);
        }
        let f = frequencies(&z, 40_000);
        assert!(f.iter().all(|&x| (x - 0.25).abs() < 0.02), "{f:?}");
        let one = Zipf::new(1, 1.2);
        let mut rng = StdRng::seed_from_u64(1);
        assert!((0..100).all(|_| one.sample(&mut rng) == 0));
        // A steep exponent concentrates on the head.
        let steep = Zipf::new(1000, 3.0);
        assert!(steep.probability(0) > 0.8);
    }

    #[test]
    fn the_passing_holders_pass_by_the_gateways_rules() {
        let catalogue = Catalogue::embedded();
        let population = Population::new(1);
        let today = wire::calendar::china_today(chrono::Utc::now());
        let scenario = catalogue.scenario("park-entry-senior").expect("scenario");
        let holders = passing_holders(&population, &catalogue, scenario, 5, today).expect("found");
        assert_eq!(holders.len(), 5);
        for h in &holders {
            assert!(h.handle.starts_with(HANDLE_PREFIX));
            assert_eq!(h.kind, HolderKind::Person);
            assert!(population.person(&h.handle).age_on(today) >= 60);
            assert_eq!(population.person(&h.handle).home_city, h.city);
        }
        // Not everyone passes: the search skipped someone.
        let last: usize = holders[4].handle[HANDLE_PREFIX.len()..]
            .parse()
            .expect("number");
        assert!(last > 4);
    }
}
