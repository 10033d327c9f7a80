//! Readiness: whether the node should receive traffic (starting, ready, draining) and the lines
//! `/readyz` adds to a ready answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::shutdown::Shutdown;

/// Whether the gateway should receive traffic: set ready once startup is done; draining
/// overrides it for good.
#[derive(Debug, Clone)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
    shutdown: Shutdown,
    details: Details,
}

/// A line `/readyz` adds to a ready answer, made at each request.
pub type Detail = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone, Default)]
struct Details(Arc<RwLock<Vec<Detail>>>);

impl std::fmt::Debug for Details {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.read().map_or(0, |d| d.len());
        write!(f, "Details({n})")
    }
}

/// What `/readyz` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyState {
    Starting,
    Ready,
    Draining,
}

impl ReadyState {
    /// Every state, in the order a node goes through them.
    pub const ALL: [ReadyState; 3] = [
        ReadyState::Starting,
        ReadyState::Ready,
        ReadyState::Draining,
    ];

    /// The problem `/readyz` answers 503 with in this state, as its code and title; `None` when
    /// ready.
    pub fn refusal(self) -> Option<(&'static str, &'static str)> {
        match self {
            ReadyState::Ready => None,
            ReadyState::Starting => Some(("admin.starting", "The gateway is starting")),
            ReadyState::Draining => Some(("admin.draining", "The gateway is shutting down")),
        }
    }
}

impl Readiness {
    /// Not ready until [`Readiness::set_ready`].
    pub fn new(shutdown: Shutdown) -> Readiness {
        Readiness {
            ready: Arc::new(AtomicBool::new(false)),
            shutdown,
            details: Details::default(),
        }
    }

    /// Adds a line to every ready answer (a degraded mode the node still serves in).
    pub fn add_detail(&self, detail: Detail) {
        self.details
            .0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(detail);
    }

    /// `ready`, then the details, a line each.
    pub(crate) fn ready_text(&self) -> String {
        let details = self.details.0.read().unwrap_or_else(|e| e.into_inner());
        details
            .iter()
            .fold("ready\n".to_string(), |mut text, detail| {
                text.push_str(&detail());
                text.push('\n');
                text
            })
    }

    /// Startup is complete (configuration loaded, listeners bound, caches warm enough).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn state(&self) -> ReadyState {
        if self.shutdown.is_draining() {
            ReadyState::Draining
        } else if self.ready.load(Ordering::Acquire) {
            ReadyState::Ready
        } else {
            ReadyState::Starting
        }
    }
}
