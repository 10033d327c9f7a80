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
//!
//! The limit sees a verification only once its handler runs. Before that, a request waits for
//! the runtime: its connection's task is woken when the bytes arrive and queued behind every
//! other ready task, and on a saturated core that queue — not the handlers — is where the time
//! goes (measured: at twice saturation, refusals themselves took up to 0.9 s, all of it spent
//! waiting to be read). So the admission also watches that queue: [`QueueDelay`] is a task that
//! asks to be woken every [`QueueDelay::PERIOD`] and records how late it ran, which is how long a
//! task now waits for its turn. When that delay has exceeded the threshold
//! (`verify_queue_delay_ms`) [`QueueDelay::STANDING`] times in a row — a standing queue, not one
//! stall (CoDel's rule: act on a delay that persists, not on a burst) — new verifications are
//! refused at once until a measurement comes back under it. A threshold of zero — the default —
//! turns the gate off: at twice saturation (`loadtest overload`, HMAC, one core) it measured no
//! better than the limit alone (refusals p99 0.49 s with it, 0.41 s without), the refusals
//! themselves being most of the core's work; it stays as a setting to measure with.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
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

/// How long a task that became ready waits before it runs, as measured by
/// [`QueueDelay::watch`], and whether that wait has become a standing queue.
#[derive(Debug)]
pub struct QueueDelay {
    /// `[limits] verify_queue_delay_ms`: a delay beyond it is late (zero: never).
    threshold: Duration,
    micros: AtomicU64,
    /// Late measurements in a row.
    late_in_a_row: AtomicU32,
    /// `mz_runtime_queue_delay_seconds`.
    gauge: Gauge<f64, AtomicU64>,
}

impl QueueDelay {
    /// How often the watcher asks to be woken.
    pub const PERIOD: Duration = Duration::from_millis(5);
    /// Late measurements in a row that make a standing queue: a delay that lasted at least
    /// this many periods (and as many thresholds), not one stall of the thread.
    pub const STANDING: u32 = 4;

    pub fn new(threshold: Duration, gauge: Gauge<f64, AtomicU64>) -> QueueDelay {
        QueueDelay {
            threshold,
            micros: AtomicU64::new(0),
            late_in_a_row: AtomicU32::new(0),
            gauge,
        }
    }

    /// The delay last measured.
    pub fn get(&self) -> Duration {
        Duration::from_micros(self.micros.load(Ordering::Relaxed))
    }

    /// The queue has stood above the threshold for [`Self::STANDING`] measurements in a row.
    pub fn standing(&self) -> bool {
        !self.threshold.is_zero() && self.late_in_a_row.load(Ordering::Relaxed) >= Self::STANDING
    }

    fn record(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.micros.store(micros, Ordering::Relaxed);
        if delay > self.threshold {
            self.late_in_a_row.fetch_add(1, Ordering::Relaxed);
        } else {
            self.late_in_a_row.store(0, Ordering::Relaxed);
        }
        self.gauge.set(delay.as_secs_f64());
    }

    /// Measures the delay on the current runtime every [`Self::PERIOD`], for as long as the
    /// delay is used by someone. The timer wakes at millisecond granularity, so up to about a
    /// millisecond of the lateness is the timer's, not the queue's.
    pub fn watch(delay: &Arc<QueueDelay>) -> tokio::task::JoinHandle<()> {
        let delay: Weak<QueueDelay> = Arc::downgrade(delay);
        tokio::spawn(async move {
            loop {
                let asked = Instant::now();
                tokio::time::sleep(Self::PERIOD).await;
                let late = asked.elapsed().saturating_sub(Self::PERIOD);
                match delay.upgrade() {
                    Some(delay) => delay.record(late),
                    None => return,
                }
            }
        })
    }
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
    /// The queue-delay gate, when configured.
    queue: Option<Arc<QueueDelay>>,
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
    /// An admission, watching the runtime's queue through `queue` when given (kept measured by
    /// [`QueueDelay::watch`]).
    pub fn new(
        settings: AdmissionSettings,
        gauge: Gauge,
        queue: Option<Arc<QueueDelay>>,
    ) -> Admission {
        gauge.set(i64::try_from(settings.max).unwrap_or(i64::MAX));
        Admission {
            settings,
            gauge,
            queue,
            in_flight: AtomicUsize::new(0),
            limit: AtomicUsize::new(settings.max),
            state: Mutex::new(Limit {
                value: settings.max as f64,
                last_decrease: None,
            }),
        }
    }

    /// Admits a verification, or `None` when the runtime's queue is too long or the limit is
    /// reached.
    pub fn try_admit(&self) -> Option<Admitted<'_>> {
        if self.queue.as_ref().is_some_and(|q| q.standing()) {
            return None;
        }
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

    fn admission(settings: AdmissionSettings) -> (Admission, Arc<QueueDelay>) {
        admission_with(settings, Duration::from_millis(5))
    }

    fn admission_with(
        settings: AdmissionSettings,
        threshold: Duration,
    ) -> (Admission, Arc<QueueDelay>) {
        let queue = Arc::new(QueueDelay::new(threshold, Gauge::default()));
        let admission = Admission::new(settings, Gauge::default(), Some(Arc::clone(&queue)));
        (admission, queue)
    }

    #[test]
    fn beyond_the_limit_a_verification_is_refused_until_one_in_flight_ends() {
        let (admission, _) = admission(SETTINGS);
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
        let (admission, _) = admission(SETTINGS);
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
        let (admission, _) = admission(SETTINGS);
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

    #[test]
    fn while_the_runtime_queue_stands_every_new_verification_is_refused() {
        let (gated, queue) = admission(SETTINGS);
        let late = Duration::from_millis(6);
        for _ in 1..QueueDelay::STANDING {
            queue.record(late);
            assert!(
                gated.try_admit().is_some(),
                "a few late measurements: a stall"
            );
        }
        queue.record(Duration::from_millis(5));
        queue.record(late);
        assert!(
            gated.try_admit().is_some(),
            "one at the threshold in between: no standing queue"
        );
        for _ in 0..QueueDelay::STANDING {
            queue.record(late);
        }
        assert!(gated.try_admit().is_none(), "standing: refused");
        assert_eq!(gated.in_flight(), 0, "a refusal holds no place");
        queue.record(Duration::from_micros(300));
        assert!(gated.try_admit().is_some(), "drained: admitted again");

        let (ungated, queue) = admission_with(SETTINGS, Duration::ZERO);
        for _ in 0..10 {
            queue.record(Duration::from_secs(1));
        }
        assert!(ungated.try_admit().is_some(), "zero turns the gate off");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_watcher_measures_how_long_a_ready_task_waits_and_stops_with_its_delay() {
        let queue = Arc::new(QueueDelay::new(Duration::from_millis(5), Gauge::default()));
        let watcher = QueueDelay::watch(&queue);
        // Let the watcher take its first measurement on an idle runtime.
        tokio::time::sleep(QueueDelay::PERIOD * 3).await;
        // A task that holds the only thread for 60 ms: the watcher, due meanwhile, waits.
        tokio::spawn(async { std::thread::sleep(Duration::from_millis(60)) })
            .await
            .expect("the blocking task");
        // The watcher runs as soon as the thread is free, and its next measurement (an idle
        // one) comes a period later: look until it has been seen.
        let mut seen = Duration::ZERO;
        for _ in 0..2000 {
            seen = seen.max(queue.get());
            if seen >= Duration::from_millis(40) {
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(
            seen >= Duration::from_millis(40),
            "measured at most {seen:?} behind a 60 ms stall"
        );
        drop(queue);
        tokio::time::timeout(Duration::from_secs(5), watcher)
            .await
            .expect("the watcher ends once nobody reads the delay")
            .expect("the watcher does not panic");
    }
}
