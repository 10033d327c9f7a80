//! Statistics: what one request produced ([`Sample`], sent by value from the workers), the
//! [`Recorder`] the collector folds them into (HDR histograms and counters), and the
//! [`Summary`] computed from it — pure functions, no I/O, no clock.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use wire::api::Verdict;

use crate::workload::{Input, MismatchKind};

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, to 3 significant digits.
const HIGHEST_MICROS: u64 = 600_000_000;
/// Mismatches listed in full; the rest are only counted.
pub const MISMATCHES_LISTED: usize = 10;

/// A request that got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// No connection could be made.
    Connect,
    /// No complete answer within `--timeout`.
    Timeout,
    /// The connection broke while the request was under way.
    Transport,
}

/// What one request produced, sent by value from a worker to the collector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Position in the plan.
    pub index: u64,
    pub scenario: u16,
    pub input: Input,
    /// From the send (closed loop) or the intended send time (open loop) to the full answer.
    pub latency: Duration,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Answered {
        status: u16,
        verdict: Option<Verdict>,
        /// Set when the answer failed its expectation: how, expected what, got what.
        mismatch: Option<Box<Mismatch>>,
    },
    Failed(Failure),
}

/// An answer that failed its expectation, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub request: u64,
    /// Filled in by the [`Recorder`] when the worker leaves it empty.
    pub scenario: String,
    pub input: Input,
    pub kind: MismatchKind,
    pub expected: String,
    pub got: String,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

/// Requests that got no verdict they expected, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Errors {
    pub connect: u64,
    pub timeout: u64,
    pub transport: u64,
    pub unexpected_status: u64,
    pub unexpected_verdict: u64,
    pub unexpected_body: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.connect
            + self.timeout
            + self.transport
            + self.unexpected_status
            + self.unexpected_verdict
            + self.unexpected_body
    }
}

/// Why the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Every planned request was sent (`-n`).
    Completed,
    /// `-z` elapsed.
    Duration,
    /// The pre-minted codes ran out before `-z` elapsed (raise `--max-requests`).
    CodesExhausted,
}

/// One scenario's share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioSummary {
    pub requests: u64,
    pub latency_ms: Percentiles,
}

/// The figures of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Requests sent (answered or not).
    pub requests: u64,
    /// Requests answered with any HTTP status.
    pub answered: u64,
    pub elapsed_secs: f64,
    /// Answered requests per second of the run.
    pub throughput_rps: f64,
    /// Latency of the answered requests.
    pub latency_ms: Percentiles,
    /// Answers by HTTP status ("200", "401", ...).
    pub by_status: BTreeMap<String, u64>,
    /// Latency of the answers of each status: how fast a refusal (429, 503) came, and the
    /// admitted requests' latency apart from it.
    #[serde(default)]
    pub latency_ms_by_status: BTreeMap<String, Percentiles>,
    /// 200 answers by overall verdict ("pass", "fail", "unavailable").
    pub by_verdict: BTreeMap<String, u64>,
    /// Requests by input ("valid", "tampered_code", "expired_code", "unknown_venue").
    pub by_input: BTreeMap<String, u64>,
    pub by_scenario: BTreeMap<String, ScenarioSummary>,
    pub errors: Errors,
    /// Requests whose expectation was checked, and how many held. A request that got no
    /// answer counts as failed.
    pub expectations_checked: u64,
    pub expectations_failed: u64,
    /// Bad inputs and replays answered with the refusal they expected: the gateway doing its
    /// job, counted apart from failures.
    #[serde(default)]
    pub refused_as_expected: u64,
    /// Requests shed under load (503 `gateway.overloaded` with `Retry-After`), in a phase that
    /// expects it (`overload`); elsewhere a 503 is a failure.
    #[serde(default)]
    pub shed: u64,
    /// The first few mismatches.
    pub mismatches: Vec<Mismatch>,
    pub stop: Stop,
    /// The answered requests' latencies in doubling buckets, from the first that holds any to
    /// the one holding the slowest.
    #[serde(default)]
    pub latency_histogram: Vec<LatencyBucket>,
}

/// Answers whose latency is at least the previous bucket's bound and below `below_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyBucket {
    pub below_ms: f64,
    pub count: u64,
}

/// Doubling buckets (below 1 µs, 2 µs, 4 µs, …) of a histogram in microseconds, without the empty
/// ones before the first answer; empty buckets between answers are kept, so the shape shows.
pub fn doubling_buckets(h: &Histogram<u64>) -> Vec<LatencyBucket> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut buckets: Vec<LatencyBucket> = h
        .iter_log(1, 2.0)
        // A step ends at the highest value below the next power of two.
        .map(|step| LatencyBucket {
            below_ms: (step.value_iterated_to() + 1) as f64 / 1000.0,
            count: step.count_since_last_iteration(),
        })
        .skip_while(|bucket| bucket.count == 0)
        .collect();
    while buckets.last().is_some_and(|bucket| bucket.count == 0) {
        buckets.pop();
    }
    buckets
}

/// An empty latency histogram in microseconds, with the bounds every histogram here has.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_MICROS, 3).expect("static bounds are valid")
}

/// The least-squares line through `points`: (slope, intercept); `None` for fewer than two
/// points or points all at one x.
pub fn least_squares(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    Some((slope, mean_y - slope * mean_x))
}

/// Folds samples into histograms and counters.
#[derive(Debug, Clone)]
pub struct Recorder {
    scenarios: Vec<String>,
    latency: Histogram<u64>,
    by_scenario: Vec<Histogram<u64>>,
    by_status: BTreeMap<u16, u64>,
    latency_by_status: BTreeMap<u16, Histogram<u64>>,
    by_verdict: BTreeMap<&'static str, u64>,
    by_input: [u64; Input::ALL.len()],
    errors: Errors,
    requests: u64,
    refused_as_expected: u64,
    shed: u64,
    mismatches: Vec<Mismatch>,
}

impl Recorder {
    /// A recorder for these scenarios (the mix, by index).
    pub fn new(scenarios: Vec<String>) -> Recorder {
        Recorder {
            by_scenario: scenarios.iter().map(|_| histogram()).collect(),
            scenarios,
            latency: histogram(),
            by_status: BTreeMap::new(),
            latency_by_status: BTreeMap::new(),
            by_verdict: BTreeMap::new(),
            by_input: [0; Input::ALL.len()],
            errors: Errors::default(),
            requests: 0,
            refused_as_expected: 0,
            shed: 0,
            mismatches: Vec::new(),
        }
    }

    pub fn record(&mut self, sample: Sample) {
        self.requests += 1;
        self.by_input[sample.input.index()] += 1;
        match sample.outcome {
            Outcome::Failed(failure) => match failure {
                Failure::Connect => self.errors.connect += 1,
                Failure::Timeout => self.errors.timeout += 1,
                Failure::Transport => self.errors.transport += 1,
            },
            Outcome::Answered {
                status,
                verdict,
                mismatch,
            } => {
                let micros = u64::try_from(sample.latency.as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1);
                self.latency.saturating_record(micros);
                if let Some(h) = self.by_scenario.get_mut(usize::from(sample.scenario)) {
                    h.saturating_record(micros);
                }
                *self.by_status.entry(status).or_default() += 1;
                self.latency_by_status
                    .entry(status)
                    .or_insert_with(histogram)
                    .saturating_record(micros);
                if mismatch.is_none() && status == 503 {
                    // Only a phase that expects shedding takes a 503 without a mismatch.
                    self.shed += 1;
                } else if mismatch.is_none() && sample.input != Input::Valid {
                    self.refused_as_expected += 1;
                }
                if let Some(v) = verdict {
                    *self.by_verdict.entry(v.as_str()).or_default() += 1;
                }
                if let Some(m) = mismatch {
                    match m.kind {
                        MismatchKind::UnexpectedStatus => self.errors.unexpected_status += 1,
                        MismatchKind::UnexpectedVerdict => self.errors.unexpected_verdict += 1,
                        MismatchKind::UnexpectedBody => self.errors.unexpected_body += 1,
                    }
                    if self.mismatches.len() < MISMATCHES_LISTED {
                        let mut m = *m;
                        if m.scenario.is_empty() {
                            m.scenario = self.scenario_name(sample.scenario).to_string();
                        }
                        self.mismatches.push(m);
                    }
                }
            }
        }
    }

    /// Requests recorded so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Errors so far (any kind).
    pub fn errors(&self) -> u64 {
        self.errors.total()
    }

    /// Percentiles of the answers so far (for the progress line).
    pub fn latency(&self) -> Percentiles {
        percentiles(&self.latency)
    }

    /// The scenario name of an index, for mismatch reports.
    pub fn scenario_name(&self, index: u16) -> &str {
        self.scenarios
            .get(usize::from(index))
            .map_or("?", String::as_str)
    }

    /// The summary of everything recorded, over `elapsed`.
    pub fn summary(&self, elapsed: Duration, stop: Stop) -> Summary {
        let answered = self.latency.len();
        Summary {
            requests: self.requests,
            answered,
            elapsed_secs: elapsed.as_secs_f64(),
            throughput_rps: throughput(answered, elapsed),
            latency_ms: percentiles(&self.latency),
            by_status: self
                .by_status
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            latency_ms_by_status: self
                .latency_by_status
                .iter()
                .map(|(s, h)| (s.to_string(), percentiles(h)))
                .collect(),
            by_verdict: self
                .by_verdict
                .iter()
                .map(|(v, n)| (v.to_string(), *n))
                .collect(),
            by_input: Input::ALL
                .iter()
                .filter(|i| self.by_input[i.index()] > 0)
                .map(|i| (i.name().to_string(), self.by_input[i.index()]))
                .collect(),
            by_scenario: self
                .scenarios
                .iter()
                .zip(&self.by_scenario)
                .filter(|(_, h)| !h.is_empty())
                .map(|(s, h)| {
                    (
                        s.clone(),
                        ScenarioSummary {
                            requests: h.len(),
                            latency_ms: percentiles(h),
                        },
                    )
                })
                .collect(),
            errors: self.errors,
            expectations_checked: self.requests,
            expectations_failed: self.errors.total(),
            refused_as_expected: self.refused_as_expected,
            shed: self.shed,
            mismatches: self.mismatches.clone(),
            stop,
            latency_histogram: doubling_buckets(&self.latency),
        }
    }
}

/// p50, p90, p99, p99.9, max and mean of a histogram in microseconds, as milliseconds.
pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    Percentiles {
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p99: ms(h.value_at_quantile(0.99)),
        p99_9: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
        mean: h.mean() / 1000.0,
    }
}

/// Events per second over `elapsed` (0 for an empty interval).
pub fn throughput(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// `a / b`, or `None` when `b` is zero (a ratio the report leaves blank).
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite()).then(|| a / b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(i: u64, micros: u64, status: u16, verdict: Option<Verdict>) -> Sample {
        Sample {
            index: i,
            scenario: (i % 2) as u16,
            input: Input::Valid,
            latency: Duration::from_micros(micros),
            outcome: Outcome::Answered {
                status,
                verdict,
                mismatch: None,
            },
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = histogram();
        for v in 1..=10_000u64 {
            h.record(v).expect("in range");
        }
        let p = percentiles(&h);
        // HDR keeps 3 significant digits: within 0.1 %.
        let near = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(near(p.p50, 5.0), "{p:?}");
        assert!(near(p.p90, 9.0), "{p:?}");
        assert!(near(p.p99, 9.9), "{p:?}");
        assert!(near(p.p99_9, 9.99), "{p:?}");
        assert!(near(p.max, 10.0), "{p:?}");
        assert!(near(p.mean, 5.0005), "{p:?}");
        assert_eq!(percentiles(&histogram()), Percentiles::default());
    }

    #[test]
    fn latencies_fall_into_doubling_buckets_from_the_first_answer_to_the_last() {
        assert!(doubling_buckets(&histogram()).is_empty());
        let mut h = histogram();
        for micros in [300, 310, 500, 5_000] {
            h.record(micros).expect("in range");
        }
        let buckets = doubling_buckets(&h);
        let bounds: Vec<f64> = buckets.iter().map(|b| b.below_ms).collect();
        let counts: Vec<u64> = buckets.iter().map(|b| b.count).collect();
        assert_eq!(bounds, [0.512, 1.024, 2.048, 4.096, 8.192]);
        assert_eq!(counts, [3, 0, 0, 0, 1]);
    }

    #[test]
    fn one_slow_answer_shows_in_the_tail_only() {
        let mut r = Recorder::new(vec!["a".into(), "b".into()]);
        for i in 0..999 {
            r.record(answered(i, 500, 200, Some(Verdict::Pass)));
        }
        r.record(answered(999, 2_000_000, 200, Some(Verdict::Pass)));
        let s = r.summary(Duration::from_secs(2), Stop::Completed);
        assert!((s.latency_ms.p50 - 0.5).abs() < 0.001);
        assert!((s.latency_ms.p99 - 0.5).abs() < 0.001);
        assert!((s.latency_ms.max - 2000.0).abs() < 2.0);
        assert_eq!(s.throughput_rps, 500.0);
        assert_eq!(s.by_scenario["a"].requests, 500);
    }

    #[test]
    fn outcomes_are_counted_by_status_verdict_input_and_error() {
        let mut r = Recorder::new(vec!["s".into()]);
        r.record(answered(0, 100, 200, Some(Verdict::Pass)));
        r.record(answered(1, 100, 200, Some(Verdict::Fail)));
        r.record(Sample {
            index: 2,
            scenario: 0,
            input: Input::ExpiredCode,
            latency: Duration::from_micros(100),
            outcome: Outcome::Answered {
                status: 422,
                verdict: None,
                mismatch: Some(Box::new(Mismatch {
                    request: 2,
                    scenario: "s".into(),
                    input: Input::ExpiredCode,
                    kind: MismatchKind::UnexpectedBody,
                    expected: "422 code.expired".into(),
                    got: "422 code.bad_signature".into(),
                })),
            },
        });
        r.record(Sample {
            index: 3,
            scenario: 0,
            input: Input::Valid,
            latency: Duration::ZERO,
            outcome: Outcome::Failed(Failure::Timeout),
        });
        r.record(Sample {
            index: 4,
            scenario: 0,
            input: Input::Replayed,
            latency: Duration::from_micros(100),
            outcome: Outcome::Answered {
                status: 409,
                verdict: None,
                mismatch: None,
            },
        });
        let s = r.summary(Duration::from_secs(1), Stop::Duration);
        assert_eq!((s.requests, s.answered), (5, 4));
        assert_eq!(s.by_status["200"], 2);
        assert_eq!(s.by_status["422"], 1);
        assert_eq!(s.latency_ms_by_status["409"].p50, 0.1);
        assert!(!s.latency_ms_by_status.contains_key("503"));
        assert_eq!((s.by_verdict["pass"], s.by_verdict["fail"]), (1, 1));
        assert_eq!((s.by_input["valid"], s.by_input["expired_code"]), (3, 1));
        assert_eq!(s.by_input["replayed"], 1);
        assert_eq!((s.errors.timeout, s.errors.unexpected_body), (1, 1));
        assert_eq!((s.expectations_checked, s.expectations_failed), (5, 2));
        // The replay refused as it should be; the expired code refused for the wrong reason
        // is a failure, not an expected refusal.
        assert_eq!(s.refused_as_expected, 1);
        assert_eq!(s.mismatches.len(), 1);
        assert_eq!(s.mismatches[0].got, "422 code.bad_signature");
    }

    #[test]
    fn ratios_and_throughput_handle_zero() {
        assert_eq!(throughput(10, Duration::ZERO), 0.0);
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
    }

    #[test]
    fn the_least_squares_line_goes_through_points_on_a_line() {
        let (slope, intercept) =
            least_squares(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0), (3.0, 7.0)]).expect("a line");
        assert!((slope - 2.0).abs() < 1e-12 && (intercept - 1.0).abs() < 1e-12);
        assert_eq!(least_squares(&[(1.0, 1.0)]), None);
        assert_eq!(least_squares(&[(1.0, 1.0), (1.0, 2.0)]), None, "one x");
    }
}
