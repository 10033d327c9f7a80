//! A circuit breaker per department backend: after N consecutive failures it opens for a
//! back-off (doubling up to a maximum, with jitter); while open, requirements of that backend
//! answer `unavailable` at once instead of waiting out the deadline. When the back-off ends one
//! probe is let through (half-open); its result closes or re-opens the breaker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng as _;

/// What the breaker says about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: go ahead.
    Allowed,
    /// Half-open: go ahead, you are the probe.
    Probe,
    /// Open: do not call.
    Refused,
}

/// The breaker's state, as operators see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct Inner {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probing: bool,
    backoff: Duration,
}

/// Thresholds of a breaker.
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    pub failures: u32,
    pub open: Duration,
    pub open_max: Duration,
}

#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Breaker {
        Breaker {
            settings,
            inner: Mutex::new(Inner {
                consecutive_failures: 0,
                open_until: None,
                probing: false,
                backoff: settings.open,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves only counters behind: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn admit(&self, now: Instant) -> Admission {
        let mut s = self.lock();
        match s.open_until {
            None => Admission::Allowed,
            Some(until) if now < until => Admission::Refused,
            Some(_) if s.probing => Admission::Refused,
            Some(_) => {
                s.probing = true;
                Admission::Probe
            }
        }
    }

    pub fn on_success(&self) {
        let mut s = self.lock();
        s.consecutive_failures = 0;
        s.open_until = None;
        s.probing = false;
        s.backoff = self.settings.open;
    }

    pub fn on_failure(&self, now: Instant) {
        let mut s = self.lock();
        s.consecutive_failures = s.consecutive_failures.saturating_add(1);
        let reopen = s.probing;
        if reopen || s.consecutive_failures >= self.settings.failures {
            if reopen {
                s.backoff = (s.backoff * 2).min(self.settings.open_max);
            }
            let jitter = rand::thread_rng().gen_range(0.8..1.2);
            s.open_until = Some(now + s.backoff.mul_f64(jitter));
            s.probing = false;
        }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        let s = self.lock();
        match s.open_until {
            None => BreakerState::Closed,
            Some(until) if now < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerSettings {
            failures: 3,
            open: Duration::from_secs(10),
            open_max: Duration::from_secs(40),
        })
    }

    #[test]
    fn opens_after_consecutive_failures_and_probes_after_the_backoff() {
        let b = breaker();
        let t0 = Instant::now();
        for _ in 0..2 {
            b.on_failure(t0);
        }
        assert_eq!(
            b.admit(t0),
            Admission::Allowed,
            "two failures keep it closed"
        );
        b.on_failure(t0);
        assert_eq!(b.admit(t0), Admission::Refused);
        assert_eq!(b.state(t0), BreakerState::Open);
        let later = t0 + Duration::from_secs(13);
        assert_eq!(b.admit(later), Admission::Probe);
        assert_eq!(b.admit(later), Admission::Refused, "one probe at a time");
        b.on_success();
        assert_eq!(b.admit(later), Admission::Allowed);
        assert_eq!(b.state(later), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_with_a_longer_backoff() {
        let b = breaker();
        let t0 = Instant::now();
        for _ in 0..3 {
            b.on_failure(t0);
        }
        let t1 = t0 + Duration::from_secs(13);
        assert_eq!(b.admit(t1), Admission::Probe);
        b.on_failure(t1);
        assert_eq!(b.admit(t1 + Duration::from_secs(9)), Admission::Refused);
        // The back-off doubled to 20 s (±20 %): still open after 15 s.
        assert_eq!(b.admit(t1 + Duration::from_secs(15)), Admission::Refused);
        assert_eq!(b.admit(t1 + Duration::from_secs(25)), Admission::Probe);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let b = breaker();
        let t0 = Instant::now();
        b.on_failure(t0);
        b.on_failure(t0);
        b.on_success();
        b.on_failure(t0);
        b.on_failure(t0);
        assert_eq!(b.admit(t0), Admission::Allowed);
    }
}
