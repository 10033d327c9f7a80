//! Load shedding on the verify route: an adaptive limit on the verifications in flight, additive
//! increase and multiplicative decrease (AIMD, as TCP's congestion window and Netflix's
//! concurrency-limits do it). A verification is admitted while fewer than the limit are in
//! flight; beyond it, it is refused at once — before its body is read or its code spent — with
//! 503 `gateway.overloaded` and `Retry-After`, so an overloaded gateway answers the excess in
//! microseconds instead of queueing everything until every answer is late.
//!
//! The limit follows how long an admitted verification kept the gateway itself busy: its whole
//! time minus what it waited for departments ([`UpstreamWait`]; a slow department has its own
//! deadline and breaker and is no reason to refuse venues whose answers are cached). When that
//! time passes `target`, the limit shrinks by a tenth, at most once per `target` (a stall of a
//! few hundred milliseconds, a slow `fsync`, costs a few tenths, far above what is in flight);
//! a timely answer while the limit was at least half used adds `1 / limit` (one per limit's
//! worth of timely answers), and one while less than half was used adds 1 (the limit
//! constrained nothing: stalls at a light load must not ratchet it down, while under overload,
//! where nearly every admission finds the limit in use, such answers are too few to matter).
//! It never falls below `min` — a gateway with fewer verifications in flight never sheds — nor
//! rises above `max`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;

/// `[limits] verify_target_ms`, `verify_min_in_flight`, `verify_max_in_flight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionSettings {
    /// The gateway's own time for one verification beyond which it is overloaded.
    pub target: Duration,
    /// The limit never falls below this.
    pub min: usize,
    /// Nor rises above this (it starts here).
    pub max: usize,
}

/// The shared limit and the verifications in flight.
#[derive(Debug)]
pub struct Admission {
    settings: AdmissionSettings,
    in_flight: AtomicUsize,
    /// The whole part of the limit, read on every arrival.
    limit: AtomicUsize,
    state: Mutex<Limit>,
    /// `mz_verify_in_flight_limit`.
    gauge: Gauge,
}

#[derive(Debug)]
struct Limit {
    value: f64,
    last_decrease: Option<Instant>,
}

/// One admitted verification; dropping it leaves the limit as it is (a verification that ended
/// in an error before it was timed), [`Admitted::finish`] reports its time.
#[derive(Debug)]
pub struct Admitted<'a> {
    admission: &'a Admission,
    /// The limit was at least half used when it was admitted: a timely answer may raise it.
    busy: bool,
}

/// What one verification waited for departments (the fan-out, all of them at once).
#[derive(Debug, Default)]
pub struct UpstreamWait(AtomicU64);

impl UpstreamWait {
    pub fn add(&self, waited: Duration) {
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

impl Admission {
    pub fn new(settings: AdmissionSettings, gauge: Gauge) -> Admission {
        gauge.set(i64::try_from(settings.max).unwrap_or(i64::MAX));
        Admission {
            settings,
            gauge,
            in_flight: AtomicUsize::new(0),
            limit: AtomicUsize::new(settings.max),
            state: Mutex::new(Limit {
                value: settings.max as f64,
                last_decrease: None,
            }),
        }
    }

    /// Admits a verification, or `None` when the limit is reached.
    pub fn try_admit(&self) -> Option<Admitted<'_>> {
        let limit = self.limit.load(Ordering::Relaxed);
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if before >= limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Admitted {
            admission: self,
            busy: before * 2 >= limit,
        })
    }

    /// The limit now (a gauge for the metrics).
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Verifications in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn finished(&self, own: Duration, busy: bool, now: Instant) {
        let AdmissionSettings { target, min, max } = self.settings;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if own > target {
            let due = state
                .last_decrease
                .is_none_or(|last| now.saturating_duration_since(last) >= target);
            if due {
                state.value = (state.value * 0.9).max(min as f64);
                state.last_decrease = Some(now);
            }
        } else if busy {
            state.value = (state.value + 1.0 / state.value).min(max as f64);
        } else {
            state.value = (state.value + 1.0).min(max as f64);
        }
        let whole = state.value as usize;
        if self.limit.swap(whole, Ordering::Relaxed) != whole {
            self.gauge.set(i64::try_from(whole).unwrap_or(i64::MAX));
        }
    }
}

impl Admitted<'_> {
    /// Reports the verification's whole time and what of it went to departments.
    pub fn finish(self, total: Duration, upstream: Duration) {
        let own = total.saturating_sub(upstream);
        self.admission.finished(own, self.busy, Instant::now());
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.admission.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: AdmissionSettings = AdmissionSettings {
        target: Duration::from_millis(20),
        min: 4,
        max: 10,
    };

    #[test]
    fn beyond_the_limit_a_verification_is_refused_until_one_in_flight_ends() {
        let admission = Admission::new(SETTINGS, Gauge::default());
        let admitted: Vec<_> = (0..10)
            .map(|_| admission.try_admit().expect("admitted"))
            .collect();
        assert!(admission.try_admit().is_none(), "the eleventh");
        assert_eq!(admission.in_flight(), 10);
        drop(admitted);
        assert_eq!(admission.in_flight(), 0);
        assert!(admission.try_admit().is_some());
    }

    #[test]
    fn late_answers_shrink_the_limit_to_its_floor_and_timely_busy_ones_raise_it_again() {
        let admission = Admission::new(SETTINGS, Gauge::default());
        let start = Instant::now();
        // A late answer takes a tenth; a second within `target` of the first does not.
        admission.finished(Duration::from_millis(30), true, start);
        assert_eq!(admission.limit(), 9);
        admission.finished(
            Duration::from_millis(30),
            true,
            start + Duration::from_millis(5),
        );
        assert_eq!(admission.limit(), 9);
        for step in 1..40 {
            admission.finished(
                Duration::from_millis(30),
                true,
                start + Duration::from_millis(20 * step),
            );
        }
        assert_eq!(admission.limit(), SETTINGS.min, "never below the floor");
        let admitted: Vec<_> = (0..4)
            .map(|_| admission.try_admit().expect("admitted"))
            .collect();
        assert!(admission.try_admit().is_none());
        drop(admitted);

        // Timely answers while busy raise it a little at a time, up to the ceiling.
        admission.finished(Duration::from_millis(1), true, start);
        assert_eq!(admission.limit(), SETTINGS.min, "4.25");
        for _ in 0..200 {
            admission.finished(Duration::from_millis(1), true, start);
        }
        assert_eq!(admission.limit(), SETTINGS.max, "never above the ceiling");
        // Shrunk again, then timely answers with little in flight: one more each.
        for step in 0..10 {
            admission.finished(
                Duration::from_millis(30),
                true,
                start + Duration::from_millis(1000 + 20 * step),
            );
        }
        assert_eq!(admission.limit(), SETTINGS.min);
        admission.finished(Duration::from_millis(1), false, start);
        assert_eq!(admission.limit(), SETTINGS.min + 1, "the load has passed");
    }

    #[test]
    fn time_spent_waiting_for_departments_is_not_the_gateways() {
        let admission = Admission::new(SETTINGS, Gauge::default());
        let admitted = admission.try_admit().expect("admitted");
        let upstream = UpstreamWait::default();
        upstream.add(Duration::from_millis(400));
        admitted.finish(Duration::from_millis(410), upstream.get());
        assert_eq!(admission.limit(), SETTINGS.max, "10 ms of its own: timely");
        let admitted = admission.try_admit().expect("admitted");
        admitted.finish(Duration::from_millis(410), Duration::ZERO);
        assert_eq!(admission.limit(), 9, "410 ms of its own: late");
        assert_eq!(admission.in_flight(), 0);
    }
}
