//! The one place the process decides to stop.
//!
//! A [`Shutdown`] is a cloneable handle. Once it is triggered — by SIGTERM or Ctrl-C through
//! [`Shutdown::listen_for_signals`], or by [`Shutdown::trigger`] in tests — the process is
//! *draining*: `/readyz` answers 503 at once so load balancers stop sending, every listener
//! stops accepting, open connections finish what they are doing (bounded by the server's
//! drain timeout), and then `main` returns. Draining never reverses. The node's periodic tasks
//! tick through [`Shutdown::every`], which stops ticking when draining starts.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Interval, MissedTickBehavior};

/// The clock of a periodic task; see [`Shutdown::every`].
#[derive(Debug)]
pub struct Every {
    interval: Interval,
    shutdown: Shutdown,
}

impl Every {
    /// Waits for the next tick: `true` when it is time, `false` once draining has started.
    pub async fn tick(&mut self) -> bool {
        tokio::select! {
            biased;
            () = self.shutdown.wait() => false,
            _ = self.interval.tick() => true,
        }
    }
}

/// Cloneable handle on the process-wide "we are stopping" flag.
#[derive(Debug, Clone)]
pub struct Shutdown {
    // Held in an Arc so every clone shares one flag and `wait` never sees a closed channel.
    draining: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A handle that is not draining yet.
    pub fn new() -> Shutdown {
        let (draining, _) = watch::channel(false);
        Shutdown {
            draining: Arc::new(draining),
        }
    }

    /// Starts draining. Idempotent: the second call does nothing.
    pub fn trigger(&self) {
        self.draining.send_if_modified(|draining| {
            let changed = !*draining;
            *draining = true;
            changed
        });
    }

    /// True from the moment draining starts; cheap enough for every `/readyz`.
    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// Resolves once draining has started (at once if it already has). Cancel-safe.
    pub async fn wait(&self) {
        let mut draining = self.draining.subscribe();
        // The sender lives as long as `self`, so the channel cannot close under us.
        let _ = draining.wait_for(|draining| *draining).await;
    }

    /// A periodic task's clock: `while every.tick().await { … }` runs the body every `period`,
    /// the first time one period from now, until draining starts. A body that overruns delays
    /// the next tick instead of bunching the missed ones.
    pub fn every(&self, period: Duration) -> Every {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Every {
            interval,
            shutdown: self.clone(),
        }
    }

    /// Spawns the task that turns SIGTERM or Ctrl-C (SIGINT) into [`Shutdown::trigger`].
    /// A second signal while draining ends the process at once (exit status 130), for the
    /// operator who does not want to wait for slow connections.
    ///
    /// Call once, from `main`, inside the runtime.
    pub fn listen_for_signals(&self) -> JoinHandle<()> {
        let shutdown = self.clone();
        tokio::spawn(async move {
            match wait_for_signal().await {
                Ok(name) => tracing::info!("received {name}: draining"),
                Err(e) => {
                    // Without signal handlers the process can still be stopped, just not
                    // gracefully; say so once and keep serving.
                    tracing::error!("cannot listen for shutdown signals: {e}");
                    return;
                }
            }
            shutdown.trigger();
            if let Ok(name) = wait_for_signal().await {
                tracing::warn!("received {name} again while draining: exiting now");
                std::process::exit(130);
            }
        })
    }
}

/// Waits for SIGTERM or SIGINT and says which arrived.
#[cfg(unix)]
async fn wait_for_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => Ok("SIGTERM"),
        _ = int.recv() => Ok("SIGINT"),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> std::io::Result<&'static str> {
    tokio::signal::ctrl_c().await?;
    Ok("Ctrl-C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn trigger_is_seen_by_every_clone_and_wakes_waiters() {
        let shutdown = Shutdown::new();
        let other = shutdown.clone();
        assert!(!other.is_draining());

        let waiter = tokio::spawn({
            let other = other.clone();
            async move { other.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());

        shutdown.trigger();
        assert!(other.is_draining());
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter wakes")
            .expect("the waiter does not panic");
    }

    #[tokio::test]
    async fn wait_after_trigger_returns_at_once_and_trigger_is_idempotent() {
        let shutdown = Shutdown::new();
        shutdown.trigger();
        shutdown.trigger();
        // Resolves without anyone triggering again.
        tokio::time::timeout(Duration::from_secs(5), shutdown.wait())
            .await
            .expect("already draining");
        assert!(shutdown.is_draining());
    }

    #[tokio::test(start_paused = true)]
    async fn every_ticks_a_period_apart_until_draining() {
        let shutdown = Shutdown::new();
        let start = tokio::time::Instant::now();
        let mut every = shutdown.every(Duration::from_secs(10));
        assert!(every.tick().await);
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(10),
            "the first tick is a period away"
        );
        assert!(every.tick().await);
        assert_eq!(start.elapsed(), Duration::from_secs(20));
        shutdown.trigger();
        assert!(!every.tick().await, "no tick once draining");
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(20),
            "and no wait for it either"
        );
    }
}
