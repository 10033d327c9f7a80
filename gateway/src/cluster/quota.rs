//! Venue quotas held for the venue as a whole, however its traffic is split between gateway
//! nodes: a venue contracted for `rate_per_sec` gets that rate from all the nodes together (and
//! its burst of two seconds' worth once), not that rate from each of them.
//!
//! **Engine.** One token bucket per venue in Redis (rate = the venue's `rate_per_sec`,
//! capacity = its burst), updated atomically by one Lua script ([`BUCKET_SCRIPT`], run by its
//! SHA) that reads Redis's own `TIME`, so the nodes' clocks do not matter. A node does not ask
//! Redis per request: it takes a *chunk* — `quotas.chunk_ms` worth of the rate, at least one
//! token, at most the burst — and spends it locally, one atomic decrement per request
//! ([`HeldTokens`]). When its tokens run out it asks for the next chunk; one call per venue is in
//! flight on a node at a time and the requests that arrive meanwhile wait for its answer.
//! Tokens a node has held for `quotas.lease_ms` are dropped unspent, so a node cannot bank
//! them. An empty bucket answers how long until its next token: the venue gets 429 with that as
//! `Retry-After` (at least 1 s), and the node answers the venue's requests from that memory,
//! without asking again, for that long or one chunk length, whichever is longer — the tokens
//! meanwhile stay in the bucket for whichever node asks next. The key (`quotas.key_prefix` +
//! venue id) expires once the bucket would have refilled anyway.
//!
//! **The bound.** Write `r` for the rate, `b` for the burst, `c` for the chunk and `N` for the
//! nodes. Over any window of `T` seconds the bucket hands out at most `r·T + b` tokens, and a
//! node may spend, on top, the tokens it took before the window began: at most one chunk,
//! since it asks for the next one only when its tokens are spent or dropped. So the venue is
//! admitted at most `r·T + b + N·c`; with the default 50 ms chunk, four nodes add 0.2 s worth
//! of the rate — 2 % over a 10 s window. Tokens are only ever lost the other way: a chunk whose
//! lease ends unspent (a node whose share of the venue's traffic is under one chunk per lease)
//! and a call that timed out after Redis had counted it.
//!
//! **When Redis is unreachable** — a call fails or takes longer than
//! `quotas.call_timeout_ms` — the node never fails open: it admits each venue through a local
//! limiter at its share of the quota, `rate / live nodes` rounded up (at least 1; burst two
//! seconds' worth of that), logs one warning, counts the fallback
//! (`mz_quota_fallbacks_total`, `mz_quota_mode`), says so in `/readyz`, tries Redis again every
//! `quotas.probe_interval_ms` in the background and goes back to the bucket by itself. The
//! shares add up to the quota (plus one request per second per node from rounding up) as long
//! as the live-node count is right; each change of mode may add one burst. A Redis restart
//! (it keeps nothing on disk) refills every bucket: one more burst. Without any Redis
//! configured the node admits its share the same way, for good ([`Mode::Local`]).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use dashmap::DashMap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Script};
use tokio::sync::Notify;

use crate::config::GatewayConfig;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// A venue's rate quota: `rate_per_sec`, with a burst of [`BURST_SECS`] seconds' worth.
pub type Limiter = DefaultDirectRateLimiter;

/// A venue may send this many seconds' worth of its rate at once.
pub const BURST_SECS: u32 = 2;

/// The burst of a quota of `rate` requests per second (at least 1).
pub fn burst(rate: u32) -> u32 {
    rate.max(1).saturating_mul(BURST_SECS)
}

/// A quota of `rate` requests per second (at least 1), burst [`BURST_SECS`] seconds' worth, on
/// this node alone.
pub fn limiter(rate: u32) -> Limiter {
    let rate = NonZeroU32::new(rate.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst(rate.get())).unwrap_or(rate);
    RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
}

/// The bucket: `KEYS[1]` is the venue's key; `ARGV` are the rate (tokens per second), the
/// capacity (the burst) and the tokens wanted. Returns `{granted, wait_us}`: `wait_us` is how
/// long until the next token when nothing was granted. The state is a hash of the fractional
/// `tokens` and the time `at` they were counted, in microseconds of Redis's clock; a clock
/// that steps back refills nothing until it has caught up.
pub const BUCKET_SCRIPT: &str = r"
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens, at = capacity, now
elseif now > at then
  tokens = tokens + (now - at) * rate / 1000000
  at = now
end
tokens = math.min(tokens, capacity)
local granted = math.min(want, math.floor(tokens))
local wait = 0
if granted < 1 then
  granted = 0
  wait = math.ceil((1 - tokens) * 1000000 / rate)
end
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.0f', at))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
return {granted, wait}
";

/// Bound on connecting to Redis (at start and in the background, never on a request).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The most tokens a node holds for one venue (what [`HeldTokens`] can count).
const MAX_HELD: u32 = (1 << TOKEN_BITS) - 1;
const TOKEN_BITS: u32 = 24;

/// How this node holds venue quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In Redis, for every node together.
    Shared,
    /// Redis is configured and unreachable: this node admits its share until it answers again.
    Fallback,
    /// No Redis configured: this node admits its share.
    Local,
}

impl Mode {
    /// The metric label and the word `/readyz` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Shared => "shared",
            Mode::Fallback => "fallback",
            Mode::Local => "local",
        }
    }

    fn from_u8(v: u8) -> Mode {
        match v {
            0 => Mode::Shared,
            1 => Mode::Fallback,
            _ => Mode::Local,
        }
    }
}

/// The `[quotas]` settings with the Redis URL resolved (`MIANZHENG_REDIS_URL` or the file).
#[derive(Debug, Clone)]
pub struct QuotaSettings {
    pub redis_url: Option<String>,
    pub key_prefix: String,
    pub chunk: Duration,
    pub lease: Duration,
    pub call_timeout: Duration,
    pub probe_interval: Duration,
}

impl QuotaSettings {
    pub fn from_config(config: &GatewayConfig) -> QuotaSettings {
        let q = &config.quotas;
        QuotaSettings {
            redis_url: config.redis_url(),
            key_prefix: q.key_prefix.clone(),
            chunk: Duration::from_millis(q.chunk_ms),
            lease: Duration::from_millis(q.lease_ms),
            call_timeout: Duration::from_millis(q.call_timeout_ms),
            probe_interval: Duration::from_millis(q.probe_interval_ms),
        }
    }
}

impl Default for QuotaSettings {
    fn default() -> QuotaSettings {
        QuotaSettings::from_config(&GatewayConfig::default())
    }
}

/// What a node takes from a venue's bucket per call: `chunk` worth of `rate`, at least one
/// token, at most the burst.
pub fn chunk_size(rate: u32, chunk: Duration, burst: u32) -> u32 {
    let worth = u64::from(rate) * chunk.as_millis() as u64 / 1000;
    let most = burst.clamp(1, MAX_HELD);
    u32::try_from(worth).unwrap_or(u32::MAX).clamp(1, most)
}

/// A node's share of a venue's `rate` when it admits on its own: the rate over the live
/// nodes, rounded up, at least 1 — never unlimited, never zero.
pub fn share(rate: u32, live_nodes: u32) -> u32 {
    rate.div_ceil(live_nodes.max(1)).max(1)
}

/// The venue quotas of this node. Clone it freely: clones share one state.
#[derive(Clone)]
pub struct Quotas {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quotas")
            .field("mode", &self.mode())
            .field("venues", &self.shared.venues.len())
            .finish()
    }
}

struct Shared {
    settings: QuotaSettings,
    redis: Option<Redis>,
    /// A [`Mode`] as `u8`.
    mode: AtomicU8,
    live_nodes: Arc<AtomicU32>,
    metrics: Metrics,
    /// Milliseconds on this node's monotonic clock count from here (lease ends, refusals).
    epoch: Instant,
    /// Quota state by venue id, kept across venue-cache refreshes; replaced when the rate
    /// changes.
    venues: DashMap<String, Arc<VenueQuota>>,
    /// Why and since when Redis is unreachable, for `/readyz`.
    lost: Mutex<Option<(Instant, String)>>,
}

struct Redis {
    client: Client,
    /// `None` while unreachable. The number tells connections apart, so a late failure on an
    /// old connection does not drop a new one.
    connection: ArcSwapOption<(u64, MultiplexedConnection)>,
    connections: AtomicU64,
    script: Script,
    /// The URL with its password hidden.
    shown: String,
    /// Wakes the prober when the node falls back.
    lost: Notify,
}

/// A failed call to Redis: it answered with an error, or not within the bound.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("not connected")]
    NotConnected,
}

/// What the bucket answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    Granted(u32),
    /// Empty: the next token comes in `wait`.
    Empty {
        wait: Duration,
    },
}

impl Quotas {
    /// Connects to Redis when one is configured, and starts the background task that tries it
    /// again while it is unreachable (it stops with `shutdown`). An unreachable Redis does not
    /// fail the start — the node begins in [`Mode::Fallback`] — a malformed URL does.
    ///
    /// `live_nodes` is how many gateway nodes share the venues' quotas now; `app::start` keeps
    /// it updated. A node admitting on its own takes that share of each quota.
    pub async fn start(
        settings: QuotaSettings,
        live_nodes: Arc<AtomicU32>,
        metrics: Metrics,
        shutdown: Shutdown,
    ) -> Result<Quotas, String> {
        let Some(url) = settings.redis_url.clone() else {
            return Ok(Quotas::local(settings, live_nodes, metrics));
        };
        let client = Client::open(url.as_str())
            .map_err(|e| format!("the quotas' Redis `{}`: {e}", store::redact(&url)))?;
        let quotas = Quotas::new(
            settings,
            Some(Redis {
                client,
                connection: ArcSwapOption::empty(),
                connections: AtomicU64::new(0),
                script: Script::new(BUCKET_SCRIPT),
                shown: store::redact(&url),
                lost: Notify::new(),
            }),
            live_nodes,
            metrics,
        );
        let shared = &quotas.shared;
        match shared.connect().await {
            Ok(()) => shared.set_mode(Mode::Shared),
            Err(e) => shared.fall_back(None, &e),
        }
        tokio::spawn(Arc::clone(shared).probe(shutdown));
        Ok(quotas)
    }

    /// Quotas without Redis: each venue gets its share on this node ([`Mode::Local`]).
    pub fn local(settings: QuotaSettings, live_nodes: Arc<AtomicU32>, metrics: Metrics) -> Quotas {
        let quotas = Quotas::new(settings, None, live_nodes, metrics);
        quotas.shared.set_mode(Mode::Local);
        quotas
    }

    /// One node alone with default settings: what a venue read from a file, and not served
    /// through the registry, counts against.
    pub fn standalone() -> &'static Quotas {
        static STANDALONE: OnceLock<Quotas> = OnceLock::new();
        STANDALONE.get_or_init(|| {
            Quotas::local(
                QuotaSettings::default(),
                Arc::new(AtomicU32::new(1)),
                Metrics::new(),
            )
        })
    }

    fn new(
        settings: QuotaSettings,
        redis: Option<Redis>,
        live_nodes: Arc<AtomicU32>,
        metrics: Metrics,
    ) -> Quotas {
        Quotas {
            shared: Arc::new(Shared {
                settings,
                redis,
                mode: AtomicU8::new(Mode::Local as u8),
                live_nodes,
                metrics,
                epoch: Instant::now(),
                venues: DashMap::new(),
                lost: Mutex::new(None),
            }),
        }
    }

    pub fn mode(&self) -> Mode {
        self.shared.mode()
    }

    /// `live_nodes` as given to [`Quotas::start`].
    pub fn live_nodes(&self) -> &Arc<AtomicU32> {
        &self.shared.live_nodes
    }

    /// The quota of venue `id` at `rate` requests per second, shared with earlier look-ups of
    /// the same venue (a fresh one when its rate changed).
    pub fn venue(&self, id: &str, rate: u32) -> Arc<VenueQuota> {
        let mut entry = self
            .shared
            .venues
            .entry(id.to_owned())
            .or_insert_with(|| self.untracked(id, rate));
        if entry.rate != rate {
            *entry = self.untracked(id, rate);
        }
        Arc::clone(&entry)
    }

    /// A quota for `id` that this node does not keep (a venue read from a file).
    pub fn untracked(&self, id: &str, rate: u32) -> Arc<VenueQuota> {
        let rate = rate.max(1);
        let burst = burst(rate);
        Arc::new(VenueQuota {
            shared: Arc::clone(&self.shared),
            key: format!("{}{id}", self.shared.settings.key_prefix),
            rate,
            burst,
            chunk: chunk_size(rate, self.shared.settings.chunk, burst),
            held: HeldTokens::default(),
            refused_until: AtomicU64::new(0),
            refill: tokio::sync::Mutex::new(()),
            local: ArcSwapOption::empty(),
        })
    }

    /// One line for `/readyz`: the mode, and in a degraded mode why and what each venue gets.
    pub fn describe(&self) -> String {
        let shared = &self.shared;
        let nodes = shared.live_nodes.load(Ordering::Relaxed).max(1);
        let share = if nodes == 1 {
            "each venue gets its whole quota on this node (one live node)".to_string()
        } else {
            format!("each venue gets 1/{nodes} of its quota on this node ({nodes} live nodes)")
        };
        match (self.mode(), &shared.redis) {
            (Mode::Shared, Some(redis)) => format!("quotas: shared (redis {})", redis.shown),
            (Mode::Fallback, Some(redis)) => {
                let lost = shared.lost.lock().unwrap_or_else(|e| e.into_inner());
                let (since, why) = lost
                    .as_ref()
                    .map(|(at, why)| (at.elapsed().as_secs(), why.as_str()))
                    .unwrap_or((0, "unknown"));
                format!(
                    "quotas: fallback: redis {} unreachable for {since} s ({why}); {share}",
                    redis.shown
                )
            }
            _ => format!("quotas: local: no redis configured; {share}"),
        }
    }
}

/// Runs [`BUCKET_SCRIPT`] once on `connection`.
pub async fn take(
    script: &Script,
    connection: &mut MultiplexedConnection,
    key: &str,
    rate: u32,
    burst: u32,
    want: u32,
) -> Result<Chunk, redis::RedisError> {
    let (granted, wait_us): (i64, i64) = script
        .key(key)
        .arg(rate)
        .arg(burst)
        .arg(want)
        .invoke_async(connection)
        .await?;
    Ok(match u32::try_from(granted) {
        Ok(n) if n > 0 => Chunk::Granted(n.min(want)),
        _ => Chunk::Empty {
            wait: Duration::from_micros(wait_us.max(1) as u64),
        },
    })
}

impl Shared {
    fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::Acquire))
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Release);
        self.metrics.quota_mode(mode.as_str());
    }

    /// Redis failed on connection `connection` (`None`: on connecting): the node admits its
    /// share until the prober reaches Redis again. Logged and counted once per loss.
    fn fall_back(&self, connection: Option<u64>, error: &CallError) {
        let Some(redis) = &self.redis else { return };
        if let Some(id) = connection {
            let current = redis.connection.load();
            if current.as_ref().map(|c| c.0) != Some(id) {
                return; // an older connection; its loss was handled already
            }
        }
        let was = self.mode.swap(Mode::Fallback as u8, Ordering::AcqRel);
        redis.connection.store(None);
        if Mode::from_u8(was) == Mode::Fallback {
            return;
        }
        tracing::warn!(
            redis = %redis.shown,
            error = %error,
            live_nodes = self.live_nodes.load(Ordering::Relaxed),
            "Redis unreachable: venue quotas fall back to this node's share (quota / live nodes) until it answers again"
        );
        *self.lost.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), error.to_string()));
        self.metrics.quota_fallback();
        self.metrics.quota_mode(Mode::Fallback.as_str());
        redis.lost.notify_one();
    }

    /// A new connection, with the script loaded, replaces the current one.
    async fn connect(&self) -> Result<(), CallError> {
        let Some(redis) = &self.redis else {
            return Err(CallError::NotConnected);
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(self.settings.call_timeout));
        let connecting = async {
            let mut connection = redis
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            redis
                .script
                .prepare_invoke()
                .load_async(&mut connection)
                .await?;
            Ok::<_, redis::RedisError>(connection)
        };
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| CallError::Timeout(CONNECT_TIMEOUT))??;
        let id = redis.connections.fetch_add(1, Ordering::Relaxed);
        redis.connection.store(Some(Arc::new((id, connection))));
        Ok(())
    }

    /// While the node is in fallback, tries Redis every probe interval; back in shared mode
    /// once it answers.
    async fn probe(self: Arc<Self>, shutdown: Shutdown) {
        let Some(redis) = &self.redis else {
            return;
        };
        let interval = self.settings.probe_interval;
        loop {
            tokio::select! {
                _ = redis.lost.notified() => {}
                _ = shutdown.wait() => return,
            }
            while self.mode() == Mode::Fallback {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = shutdown.wait() => return,
                }
                match self.connect().await {
                    Ok(()) => {
                        let lost = self.lost.lock().unwrap_or_else(|e| e.into_inner()).take();
                        let secs = lost.map_or(0, |(at, _)| at.elapsed().as_secs());
                        tracing::info!(
                            redis = %redis.shown,
                            "Redis answers again after {secs} s: venue quotas are shared again"
                        );
                        self.set_mode(Mode::Shared);
                    }
                    Err(e) => {
                        tracing::debug!(redis = %redis.shown, error = %e, "Redis still unreachable");
                        if let Some((_, why)) =
                            self.lost.lock().unwrap_or_else(|e| e.into_inner()).as_mut()
                        {
                            *why = e.to_string();
                        }
                    }
                }
            }
        }
    }

    /// Takes up to `want` tokens from bucket `key`, on the current connection, within the call
    /// bound. On failure, also says which connection failed.
    async fn take_chunk(
        &self,
        key: &str,
        rate: u32,
        burst: u32,
        want: u32,
    ) -> Result<Chunk, (Option<u64>, CallError)> {
        let redis = self.redis.as_ref().ok_or((None, CallError::NotConnected))?;
        let current = redis.connection.load();
        let (id, mut connection) = match current.as_ref() {
            Some(c) => (c.0, c.1.clone()),
            None => return Err((None, CallError::NotConnected)),
        };
        drop(current);
        let timeout = self.settings.call_timeout;
        let call = take(&redis.script, &mut connection, key, rate, burst, want);
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(chunk)) => Ok(chunk),
            Ok(Err(e)) => Err((Some(id), CallError::Redis(e))),
            Err(_) => Err((Some(id), CallError::Timeout(timeout))),
        }
    }
}

/// The tokens a node holds for one venue and when its lease on them ends, in one atomic word
/// (lease end in milliseconds in the high 40 bits, tokens in the low 24), so taking one is a
/// single compare-and-swap. Times are the caller's (injected in tests).
#[derive(Debug, Default)]
pub struct HeldTokens(AtomicU64);

impl HeldTokens {
    fn pack(until_ms: u64, tokens: u32) -> u64 {
        (until_ms << TOKEN_BITS) | u64::from(tokens.min(MAX_HELD))
    }

    fn unpack(word: u64) -> (u64, u32) {
        (word >> TOKEN_BITS, (word & u64::from(MAX_HELD)) as u32)
    }

    /// Takes one token, unless none is left or the lease has ended at `now_ms`.
    pub fn take(&self, now_ms: u64) -> bool {
        let mut word = self.0.load(Ordering::Acquire);
        loop {
            let (until, tokens) = HeldTokens::unpack(word);
            if tokens == 0 || now_ms >= until {
                return false;
            }
            let next = HeldTokens::pack(until, tokens - 1);
            match self
                .0
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    /// Holds `tokens` until `until_ms`, replacing what was held (only done once nothing was
    /// left to take).
    pub fn hold(&self, tokens: u32, until_ms: u64) {
        self.0
            .store(HeldTokens::pack(until_ms, tokens), Ordering::Release);
    }

    /// Tokens held and not expired at `now_ms`.
    pub fn left(&self, now_ms: u64) -> u32 {
        let (until, tokens) = HeldTokens::unpack(self.0.load(Ordering::Acquire));
        if now_ms < until {
            tokens
        } else {
            0
        }
    }
}

/// One venue's quota on this node: the tokens it holds from the shared bucket, what the bucket
/// last refused, and its local limiter for when it admits on its own.
pub struct VenueQuota {
    shared: Arc<Shared>,
    key: String,
    rate: u32,
    burst: u32,
    chunk: u32,
    held: HeldTokens,
    /// Until then (milliseconds from the epoch) the bucket is known to be empty.
    refused_until: AtomicU64,
    /// One call to the bucket at a time; requests that find no tokens wait for it.
    refill: tokio::sync::Mutex<()>,
    /// The limiter at this node's share, with the share it was made for.
    local: ArcSwapOption<(u32, Limiter)>,
}

impl std::fmt::Debug for VenueQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VenueQuota")
            .field("key", &self.key)
            .field("rate", &self.rate)
            .field("chunk", &self.chunk)
            .finish()
    }
}

impl VenueQuota {
    /// Takes one request from the venue's quota, or says how long to wait: from the tokens
    /// this node holds, else from the shared bucket (the request may wait for that call), else
    /// — no Redis, or Redis unreachable — from this node's share.
    pub async fn admit(&self) -> Result<(), Duration> {
        let shared = &self.shared;
        if shared.mode() != Mode::Shared {
            return self.admit_locally();
        }
        if let Some(decided) = self.decided_here(shared.now_ms()) {
            return decided;
        }
        let _refill = self.refill.lock().await;
        // Whoever held the lock before may have brought tokens, or an empty answer.
        let asked_at = shared.now_ms();
        if let Some(decided) = self.decided_here(asked_at) {
            return decided;
        }
        if shared.mode() != Mode::Shared {
            return self.admit_locally();
        }
        match shared
            .take_chunk(&self.key, self.rate, self.burst, self.chunk)
            .await
        {
            Ok(Chunk::Granted(n)) => {
                let lease = shared.settings.lease.as_millis() as u64;
                self.held.hold(n - 1, asked_at + lease);
                Ok(())
            }
            Ok(Chunk::Empty { wait }) => {
                let quiet = wait.max(shared.settings.chunk).as_millis() as u64;
                self.refused_until
                    .store(shared.now_ms() + quiet.max(1), Ordering::Release);
                Err(wait)
            }
            Err((connection, error)) => {
                shared.fall_back(connection, &error);
                self.admit_locally()
            }
        }
    }

    /// A held token, or the bucket's last refusal while it lasts; `None`: ask the bucket.
    fn decided_here(&self, now_ms: u64) -> Option<Result<(), Duration>> {
        if self.held.take(now_ms) {
            return Some(Ok(()));
        }
        let until = self.refused_until.load(Ordering::Acquire);
        (now_ms < until).then(|| Err(Duration::from_millis(until - now_ms)))
    }

    /// Takes one request from this node's own limiter for the venue, at its share of the quota
    /// (the whole quota on a node alone), without asking the shared bucket: what the node does
    /// without Redis.
    pub fn admit_locally(&self) -> Result<(), Duration> {
        let share = share(self.rate, self.shared.live_nodes.load(Ordering::Relaxed));
        let current = self.local.load();
        let limiter = match current.as_ref() {
            Some(l) if l.0 == share => Arc::clone(l),
            _ => {
                let fresh = Arc::new((share, limiter(share)));
                self.local.store(Some(Arc::clone(&fresh)));
                fresh
            }
        };
        limiter.1.check().map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        })
    }

    /// The requests per second this quota admits, for all nodes together.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// What this node takes from the bucket per call.
    pub fn chunk(&self) -> u32 {
        self.chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_the_rate_over_the_chunk_length_at_least_one_at_most_the_burst() {
        let ms = Duration::from_millis;
        assert_eq!(chunk_size(40, ms(50), 80), 2);
        assert_eq!(chunk_size(200, ms(50), 400), 10);
        assert_eq!(
            chunk_size(10, ms(50), 20),
            1,
            "half a token rounds up to one"
        );
        assert_eq!(chunk_size(1, ms(1), 2), 1);
        assert_eq!(
            chunk_size(1000, ms(1000), 5),
            5,
            "never more than the burst"
        );
        assert_eq!(chunk_size(u32::MAX, ms(1000), u32::MAX), MAX_HELD);
    }

    #[test]
    fn the_share_is_the_quota_over_live_nodes_rounded_up_and_never_zero() {
        assert_eq!(share(40, 1), 40);
        assert_eq!(share(40, 2), 20);
        assert_eq!(share(40, 3), 14);
        assert_eq!(share(1, 4), 1);
        assert_eq!(share(40, 0), 40, "no lease seen yet: the node is alone");
        assert_eq!(share(0, 1), 1);
    }

    #[test]
    fn held_tokens_are_spent_once_and_dropped_when_the_lease_ends() {
        let held = HeldTokens::default();
        assert!(!held.take(0), "nothing held at first");
        held.hold(2, 1000);
        assert_eq!(held.left(10), 2);
        assert!(held.take(10));
        assert!(held.take(999));
        assert!(!held.take(999), "two tokens, two requests");

        held.hold(5, 2000);
        assert!(held.take(1500));
        assert_eq!(held.left(1999), 4);
        assert_eq!(held.left(2000), 0, "the lease ends: the rest is dropped");
        assert!(!held.take(2000));
        assert!(!held.take(5000));

        held.hold(MAX_HELD + 10, u64::MAX >> TOKEN_BITS);
        assert_eq!(held.left(0), MAX_HELD, "capped, not wrapped");
    }

    #[test]
    fn held_tokens_are_taken_exactly_once_across_threads() {
        let held = Arc::new(HeldTokens::default());
        held.hold(10_000, 1_000);
        let taken: usize = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let held = Arc::clone(&held);
                    s.spawn(move || (0..5_000).filter(|_| held.take(1)).count())
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("worker")).sum()
        });
        assert_eq!(taken, 10_000);
    }

    fn local_quotas(live_nodes: u32) -> (Quotas, Arc<AtomicU32>) {
        let live = Arc::new(AtomicU32::new(live_nodes));
        let quotas = Quotas::local(QuotaSettings::default(), Arc::clone(&live), Metrics::new());
        (quotas, live)
    }

    /// Requests admitted in a row, at once, out of `n`.
    async fn admitted(quota: &VenueQuota, n: usize) -> usize {
        let mut admitted = 0;
        for _ in 0..n {
            if quota.admit().await.is_ok() {
                admitted += 1;
            }
        }
        admitted
    }

    #[tokio::test]
    async fn without_redis_a_node_admits_its_share_and_follows_the_live_nodes() {
        let (quotas, live) = local_quotas(1);
        assert_eq!(quotas.mode(), Mode::Local);
        assert!(quotas.describe().starts_with("quotas: local"));
        // Rate 10, alone: its burst of 20 at once (a slow machine may add a refill or two).
        let quota = quotas.venue("venue-a", 10);
        let alone = admitted(&quota, 100).await;
        assert!((20..=25).contains(&alone), "{alone}");

        live.store(4, Ordering::Relaxed);
        assert!(quotas.describe().contains("1/4 of its quota"));
        let quarter = admitted(&quota, 100).await;
        assert!((6..=8).contains(&quarter), "share 3, burst 6: {quarter}");
        let wait = quota.admit().await.expect_err("refused past the burst");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
    }

    #[test]
    fn a_venue_keeps_its_quota_until_its_rate_changes() {
        let (quotas, _) = local_quotas(1);
        let a = quotas.venue("venue-a", 10);
        assert!(Arc::ptr_eq(&a, &quotas.venue("venue-a", 10)));
        let changed = quotas.venue("venue-a", 20);
        assert!(!Arc::ptr_eq(&a, &changed));
        assert_eq!((changed.rate(), changed.chunk()), (20, 1));
        assert_eq!(quotas.venue("venue-b", 400).chunk(), 20);
    }

    // ---- against the real Redis (127.0.0.1:6379, or MIANZHENG_TEST_REDIS_URL) --------------

    fn test_redis_url() -> String {
        std::env::var("MIANZHENG_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
    }

    /// Settings with a key prefix of this test's own, so tests never share a bucket.
    fn redis_settings(url: &str) -> QuotaSettings {
        QuotaSettings {
            redis_url: Some(url.to_owned()),
            key_prefix: format!("mz:test:{:016x}:", rand::random::<u64>()),
            // Generous: a loaded test machine must not look like a Redis outage.
            call_timeout: Duration::from_secs(2),
            probe_interval: Duration::from_millis(100),
            ..QuotaSettings::default()
        }
    }

    async fn connection(url: &str) -> MultiplexedConnection {
        Client::open(url)
            .expect("a Redis URL")
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("Redis at `{url}` (start redis-server): {e}"))
    }

    #[tokio::test]
    async fn the_bucket_grants_its_burst_then_refuses_with_the_wait_and_refills() {
        let url = test_redis_url();
        let mut redis = connection(&url).await;
        let script = Script::new(BUCKET_SCRIPT);
        let key = format!("mz:test:{:016x}:bucket", rand::random::<u64>());

        // Rate 1/s, burst 2: both tokens in one chunk, then nothing for about a second.
        assert_eq!(
            take(&script, &mut redis, &key, 1, 2, 5).await.expect("run"),
            Chunk::Granted(2)
        );
        match take(&script, &mut redis, &key, 1, 2, 5).await.expect("run") {
            Chunk::Empty { wait } => {
                assert!(
                    wait > Duration::ZERO && wait <= Duration::from_secs(1),
                    "{wait:?}"
                )
            }
            granted => panic!("an empty bucket granted {granted:?}"),
        }
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .expect("PTTL");
        assert!(ttl > 0 && ttl <= 3000, "expires when idle: {ttl} ms");

        // Rate 1000/s, burst 10: after 20 ms it is full again, and never fuller.
        let fast = format!("{key}:fast");
        assert_eq!(
            take(&script, &mut redis, &fast, 1000, 10, 100)
                .await
                .expect("run"),
            Chunk::Granted(10)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            take(&script, &mut redis, &fast, 1000, 10, 100)
                .await
                .expect("run"),
            Chunk::Granted(10)
        );
        // A small chunk leaves the rest in the bucket for the next node.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            take(&script, &mut redis, &fast, 1000, 10, 3)
                .await
                .expect("run"),
            Chunk::Granted(3)
        );
        assert!(matches!(
            take(&script, &mut redis, &fast, 1000, 10, 100)
                .await
                .expect("run"),
            Chunk::Granted(7..=10)
        ));
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .arg(&fast)
            .query_async(&mut redis)
            .await
            .expect("DEL");
    }

    #[tokio::test]
    async fn two_nodes_share_one_bucket_and_are_refused_together() {
        let settings = redis_settings(&test_redis_url());
        let node = || {
            Quotas::start(
                settings.clone(),
                Arc::new(AtomicU32::new(2)),
                Metrics::new(),
                Shutdown::new(),
            )
        };
        let (a, b) = (node().await.expect("a"), node().await.expect("b"));
        assert_eq!((a.mode(), b.mode()), (Mode::Shared, Mode::Shared));
        assert!(a.describe().starts_with("quotas: shared (redis "));

        // Rate 10, burst 20, chunks of one token: together the two nodes get the burst and
        // what refilled while they asked, not the burst each.
        let started = Instant::now();
        let (qa, qb) = (a.venue("park", 10), b.venue("park", 10));
        let mut admitted = 0;
        for _ in 0..60 {
            admitted += usize::from(qa.admit().await.is_ok());
            admitted += usize::from(qb.admit().await.is_ok());
        }
        let refilled = (10.0 * started.elapsed().as_secs_f64()).ceil() as usize;
        assert!(
            admitted >= 20 && admitted <= 20 + refilled + 2,
            "{admitted} admitted, {refilled} refilled"
        );
        let wait = qa.admit().await.expect_err("the venue is over its quota");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert_eq!(a.mode(), Mode::Shared, "no fallback on the way");
    }

    /// A port on 127.0.0.1 where nothing listens (just released).
    async fn closed_port() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        listener.local_addr().expect("address")
    }

    /// Forwards connections on `at` to the real Redis until the task is aborted.
    async fn forward(at: std::net::SocketAddr, to: String) -> tokio::task::JoinHandle<()> {
        let listener = tokio::net::TcpListener::bind(at)
            .await
            .expect("bind the port again");
        let to = to
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        tokio::spawn(async move {
            // Aborting this task drops the set, which closes every forwarded connection.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let to = to.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        })
    }

    #[tokio::test]
    async fn an_unreachable_redis_means_the_nodes_share_never_unlimited_then_recovery() {
        let at = closed_port().await;
        let settings = redis_settings(&format!("redis://{at}"));
        let metrics = Metrics::new();
        let live = Arc::new(AtomicU32::new(2));
        let shutdown = Shutdown::new();
        let quotas = Quotas::start(
            settings,
            Arc::clone(&live),
            metrics.clone(),
            shutdown.clone(),
        )
        .await
        .expect("an unreachable Redis does not fail the start");
        assert_eq!(quotas.mode(), Mode::Fallback);
        let said = quotas.describe();
        assert!(
            said.starts_with(&format!("quotas: fallback: redis redis://{at} unreachable"))
                && said.contains("1/2 of its quota"),
            "{said}"
        );
        let text = metrics.render();
        assert!(
            text.contains("mz_quota_mode{mode=\"fallback\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("mz_quota_fallbacks_total 1\n"), "{text}");

        // Rate 10 over 2 live nodes: share 5, burst 10 — not 20, and never all 100.
        let quota = quotas.venue("museum", 10);
        let share = admitted(&quota, 100).await;
        assert!((10..=12).contains(&share), "{share}");

        // Redis comes up on that port: the node is back on the shared bucket by itself.
        let forwarder = forward(at, test_redis_url()).await;
        tokio::time::timeout(Duration::from_secs(20), async {
            while quotas.mode() != Mode::Shared {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("back to shared mode");
        assert!(quotas.describe().starts_with("quotas: shared"));
        let text = metrics.render();
        assert!(
            text.contains("mz_quota_mode{mode=\"shared\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("mz_quota_mode{mode=\"fallback\"} 0\n"),
            "{text}"
        );
        // A fresh venue gets its whole burst from the bucket (chunks of one token).
        let fresh = quotas.venue("library", 10);
        let shared = admitted(&fresh, 40).await;
        assert!((20..=25).contains(&shared), "{shared}");

        // Redis goes away again: the first call that fails falls back, counted once more.
        forwarder.abort();
        let _ = forwarder.await;
        let next = quotas.venue("archive", 10);
        assert!(next.admit().await.is_ok(), "the share admits it");
        assert_eq!(quotas.mode(), Mode::Fallback);
        assert!(metrics.render().contains("mz_quota_fallbacks_total 2\n"));
        shutdown.trigger();
    }
}
