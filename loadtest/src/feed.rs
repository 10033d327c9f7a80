//! Where a phase's requests come from: a pool minted before it starts (every command but
//! `soak`), or parts minted as it goes by a thread of their own, a few parts ahead of the
//! requests being sent, so a run may last hours although a code lives ten minutes at most.
//! Either way request `i` is one fixed request: the driver asks by index.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::Notify;

use crate::codes::Prepared;

/// Parts minted ahead of the part being sent. With parts of 20 s of requests, a code is
/// sent within about a minute of its minting, far inside its ten minutes.
const PARTS_AHEAD: u64 = 2;
/// Parts kept behind the newest one asked for: a worker that took its index late still finds it.
const PARTS_BEHIND: u64 = 2;

/// A phase's requests.
#[derive(Debug, Clone)]
pub enum Requests {
    /// Minted before the phase; with `cycle`, request `i` is `pool[i % len]`, otherwise the
    /// phase ends when the pool does.
    Pool { pool: Arc<[Prepared]>, cycle: bool },
    /// Minted as the phase goes, without end.
    Minted(Arc<Minting>),
}

impl Requests {
    /// A pool that ends the phase when it runs out.
    pub fn pool(pool: Arc<[Prepared]>) -> Requests {
        Requests::Pool { pool, cycle: false }
    }

    /// How many requests there are, if they end.
    pub fn count(&self) -> Option<u64> {
        match self {
            Requests::Pool { pool, cycle: false } => Some(pool.len() as u64),
            Requests::Pool { cycle: true, .. } | Requests::Minted(_) => None,
        }
    }

    /// Request `i`, waiting for its part to be minted; `None` past the end of a pool.
    pub async fn get(&self, i: u64) -> Option<Prepared> {
        match self {
            Requests::Pool { pool, cycle } => {
                let len = pool.len() as u64;
                if len == 0 || (!cycle && i >= len) {
                    return None;
                }
                Some(pool[(i % len) as usize].clone())
            }
            Requests::Minted(minting) => minting.get(i).await,
        }
    }
}

/// Parts of `part_size` requests, part `n` holding requests `n × part_size ..`, minted by
/// [`Minting::start`]'s thread while the phase goes.
#[derive(Debug)]
pub struct Minting {
    part_size: u64,
    window: Mutex<Window>,
    /// A part was added (the workers wait on it).
    minted: Notify,
    /// A later part was asked for, or the phase ended (the minting thread waits on it).
    asked: Condvar,
}

#[derive(Debug, Default)]
struct Window {
    /// The number of `parts[0]`.
    first: u64,
    parts: VecDeque<Arc<[Prepared]>>,
    /// The highest part a worker asked for.
    asked: u64,
    ended: bool,
}

impl Minting {
    /// Starts minting parts of `part_size` requests on a thread of its own — `mint(n)` makes
    /// part `n` — which ends when the returned handle's [`Minting::end`] is called.
    pub fn start(
        part_size: u64,
        mint: impl Fn(u64) -> Arc<[Prepared]> + Send + 'static,
    ) -> Arc<Minting> {
        let part_size = part_size.max(1);
        let minting = Arc::new(Minting {
            part_size,
            window: Mutex::new(Window::default()),
            minted: Notify::new(),
            asked: Condvar::new(),
        });
        let this = Arc::clone(&minting);
        std::thread::Builder::new()
            .name("minting".into())
            .spawn(move || this.mint_parts(mint))
            .expect("starting the minting thread");
        minting
    }

    fn mint_parts(&self, mint: impl Fn(u64) -> Arc<[Prepared]>) {
        for part in 0.. {
            {
                let mut window = self.window.lock().expect("the window's lock");
                while !window.ended && part > window.asked + PARTS_AHEAD {
                    window = self.asked.wait(window).expect("the window's lock");
                }
                if window.ended {
                    return;
                }
            }
            let minted = mint(part);
            let mut window = self.window.lock().expect("the window's lock");
            window.parts.push_back(minted);
            let newest = window.first + window.parts.len() as u64 - 1;
            while newest - window.first > PARTS_AHEAD + PARTS_BEHIND {
                window.parts.pop_front();
                window.first += 1;
            }
            drop(window);
            self.minted.notify_waiters();
        }
    }

    /// Stops the minting thread (after the part it is minting).
    pub fn end(&self) {
        self.window.lock().expect("the window's lock").ended = true;
        self.asked.notify_all();
        self.minted.notify_waiters();
    }

    /// Request `i`, once its part is minted; `None` when the phase ended first, or when the
    /// part was already dropped (a worker more than [`PARTS_BEHIND`] parts late).
    async fn get(&self, i: u64) -> Option<Prepared> {
        let part = i / self.part_size;
        loop {
            // Registered before looking, so a part added in between still wakes this worker.
            let minted = self.minted.notified();
            tokio::pin!(minted);
            minted.as_mut().enable();
            {
                let mut window = self.window.lock().expect("the window's lock");
                if part > window.asked {
                    window.asked = part;
                    self.asked.notify_all();
                }
                if part < window.first {
                    return None;
                }
                if let Some(p) = window.parts.get((part - window.first) as usize) {
                    return Some(p[(i % self.part_size) as usize].clone());
                }
                if window.ended {
                    return None;
                }
            }
            minted.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::run::Workload;

    fn workload() -> Arc<Workload> {
        let cli = crate::cli::Cli::try_parse_from([
            "loadtest",
            "--target",
            "http://127.0.0.1:1",
            "--population",
            "20",
            "--profile",
            "hmac",
        ])
        .expect("parses");
        Arc::new(Workload::prepare(&cli.run.measure.load.workload, 4).expect("a workload"))
    }

    fn code(p: &Prepared) -> String {
        serde_json::from_slice::<wire::api::VerifyRequest>(&p.body)
            .expect("a verify request")
            .code
    }

    #[tokio::test]
    async fn parts_are_minted_as_the_run_asks_each_code_once_and_old_parts_are_let_go() {
        let w = workload();
        let minting = Minting::start(10, move |n| w.mint_part(&w.plan_part(n, 10)));
        let requests = Requests::Minted(Arc::clone(&minting));
        assert_eq!(requests.count(), None, "no end");
        let mut codes = std::collections::HashSet::new();
        for i in 0..100 {
            let p = requests.get(i).await.expect("minted on demand");
            assert!(codes.insert(code(&p)), "request {i}: a code of its own");
        }
        // Ten parts on, the first is let go: memory stays bounded however long the run.
        assert!(requests.get(0).await.is_none());
        assert!(requests.get(95).await.is_some(), "a recent part is kept");
        minting.end();
        assert!(
            requests.get(10_000).await.is_none(),
            "after the end nothing more is minted"
        );
    }

    #[tokio::test]
    async fn a_pool_ends_unless_it_cycles() {
        let w = workload();
        let pool = w.mint(&w.plan(3), "test");
        let once = Requests::pool(Arc::clone(&pool));
        assert_eq!(once.count(), Some(3));
        assert!(once.get(2).await.is_some() && once.get(3).await.is_none());
        let cycling = Requests::Pool { pool, cycle: true };
        assert_eq!(cycling.count(), None);
        let (first, fourth) = (
            cycling.get(0).await.expect("0"),
            cycling.get(3).await.expect("3"),
        );
        assert_eq!(first.body, fourth.body, "the pool again from its start");
    }
}
