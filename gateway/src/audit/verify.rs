//! `gateway audit verify`: re-walks every stored chain (one per node) and its checkpoints, a page
//! of entries at a time, and judges what it found against the trust an operator brings.
//!
//! # Trust
//!
//! The store is written by whoever operates the database, so nothing in it vouches for itself:
//! a node key is trusted only when it is in an anchor file given to the verifier (written by
//! the node, append-only, shipped elsewhere — [`super::anchor`]) or in a public key file the
//! operator gives (`--node-keys`). The store's `node_keys` table only tells the verifier which
//! keys exist, so that it can say "registered but not anchored" rather than "unknown".
//!
//! # What fails ([`Finding`])
//!
//! - a chain break (an edited, deleted, inserted or renumbered row; a checkpoint whose signature
//!   or head does not match) — [`VerifyStoreError::Broken`];
//! - entries and no checkpoint by a trusted key at all;
//! - entries that no trusted checkpoint covers although older than a few checkpoint intervals.
//!   A checkpoint covers every entry of its chain up to its seq (each hash covers everything
//!   before it), and every entry of another chain up to the head it witnessed there: a node
//!   signs the head it chained at every interval when it appended, and once more at shutdown,
//!   so an idle or stopped node leaves nothing uncovered;
//! - checkpoints signed by a key that is not trusted, or by a key after the anchor retired it;
//! - with an anchor: an anchored checkpoint missing from the store or different there, or a
//!   registered key whose public half differs from the anchored one.
//!
//! Checkpoints in the store that no anchor given holds are reported, not failed: their keys are
//! trusted, so they cannot be forged, only left out of an anchor (a node's anchor written
//! after a failure, or another node's anchor not given).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use store::{Checkpoint, Store, StoreError};
use wire::keys::TrustList;

use super::anchor::Anchor;
use super::chain::{chain_label, ChainBreak, ChainReport, ChainWalker, Witness};
use super::hash::{self, ChainHash};

/// Entries read per query.
const PAGE: u32 = 1000;

/// Why a verification of the store did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyStoreError {
    /// The chain is broken (tampering, or a bug): where and how.
    #[error(transparent)]
    Broken(#[from] ChainBreak),
    /// The store could not be read; nothing is known about the chain.
    #[error("cannot read the audit log")]
    Store(#[from] StoreError),
    /// The store records a chain hash this build does not know.
    #[error("the store's audit chain is hashed with {0}")]
    UnknownHash(String),
}

/// The hash the stored chain is written with, as the store records it (SHA-256 when it records
/// none: no node has written to it yet).
pub async fn stored_chain_hash(store: &Store) -> Result<ChainHash, VerifyStoreError> {
    match store.setting(hash::SETTING).await? {
        None => Ok(ChainHash::Sha256),
        Some(name) => name.parse().map_err(VerifyStoreError::UnknownHash),
    }
}

/// What a walk of the whole log checked: each chain's report, in chain order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    pub chains: Vec<ChainReport>,
}

impl LogReport {
    /// Entries checked, over every chain.
    pub fn entries(&self) -> u64 {
        self.chains.iter().map(|c| c.entries).sum()
    }

    /// Checkpoints checked, over every chain.
    pub fn checkpoints(&self) -> u64 {
        self.chains.iter().map(|c| c.checkpoints).sum()
    }

    /// The report of chain `chain`.
    pub fn chain(&self, chain: &str) -> Option<&ChainReport> {
        self.chains.iter().find(|c| c.chain == chain)
    }
}

impl fmt::Display for LogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entries() == 0 {
            return write!(
                f,
                "audit log empty: 0 entries, {} checkpoints verified",
                self.checkpoints()
            );
        }
        write!(
            f,
            "audit log intact: {} chains, {} entries, {} checkpoints verified",
            self.chains.len(),
            self.entries(),
            self.checkpoints()
        )?;
        for chain in &self.chains {
            write!(f, "\n  {chain}")?;
        }
        Ok(())
    }
}

/// Checks every stored entry and checkpoint, trusting the node keys in `trust` — the chain walks
/// alone, without [`audit_store`]'s judgement of coverage and keys.
///
/// Checkpoints are read first and entries after, so every checkpoint names heads that are
/// already stored, even while nodes keep appending; entries appended during the walk are
/// checked too. Memory: one page of entries plus the checkpoints.
pub async fn verify_store(store: &Store, trust: &TrustList) -> Result<LogReport, VerifyStoreError> {
    let checkpoints = store.checkpoints().await?;
    Ok(walk(store, checkpoints, trust, &BTreeMap::new()).await?.0)
}

/// The entries of a chain after the last trusted checkpoint that covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncovered {
    pub chain: String,
    pub first_seq: i64,
    pub last_seq: i64,
    /// The earliest `at` among them.
    pub oldest: DateTime<Utc>,
    /// The nodes that wrote them.
    pub nodes: BTreeSet<String>,
}

/// Walks every chain — those the log holds entries of, and those `checkpoints` name — each with
/// its own checkpoints and the heads other chains' checkpoints witnessed in it, noting the
/// entries of each chain after the seq `covered_to` gives it (all of them when it gives none).
async fn walk(
    store: &Store,
    checkpoints: Vec<Checkpoint>,
    trust: &TrustList,
    covered_to: &BTreeMap<String, i64>,
) -> Result<(LogReport, Vec<Uncovered>), VerifyStoreError> {
    let hash = stored_chain_hash(store).await?;
    let mut chains: BTreeSet<String> = store.audit_chains().await?.into_iter().collect();
    let mut own: BTreeMap<String, Vec<Checkpoint>> = BTreeMap::new();
    let mut witnessed: BTreeMap<String, Vec<Witness>> = BTreeMap::new();
    for checkpoint in checkpoints {
        for witness in Witness::all_of(&checkpoint) {
            witnessed
                .entry(witness.head.chain.clone())
                .or_default()
                .push(witness);
        }
        own.entry(checkpoint.chain.clone())
            .or_default()
            .push(checkpoint);
    }
    chains.extend(own.keys().cloned());
    chains.extend(witnessed.keys().cloned());
    let mut reports = Vec::with_capacity(chains.len());
    let mut uncovered = Vec::new();
    for chain in chains {
        let covered = covered_to.get(&chain).copied().unwrap_or(0);
        let mut walker = ChainWalker::new(
            &chain,
            own.remove(&chain).unwrap_or_default(),
            witnessed.remove(&chain).unwrap_or_default(),
            trust,
            hash,
        );
        let mut tail: Option<Uncovered> = None;
        let mut from = 1;
        loop {
            let page = store.audit_range(&chain, from, PAGE).await?;
            let Some(last) = page.last() else {
                break;
            };
            from = last.seq.saturating_add(1);
            for entry in &page {
                walker.push(entry)?;
                if entry.seq > covered {
                    let u = tail.get_or_insert_with(|| Uncovered {
                        chain: chain.clone(),
                        first_seq: entry.seq,
                        last_seq: entry.seq,
                        oldest: entry.at,
                        nodes: BTreeSet::new(),
                    });
                    u.last_seq = entry.seq;
                    u.oldest = u.oldest.min(entry.at);
                    u.nodes.insert(entry.node.clone());
                }
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
        reports.push(walker.finish()?);
        uncovered.extend(tail);
    }
    Ok((LogReport { chains: reports }, uncovered))
}

/// What [`audit_store`] trusts and how strict it is.
#[derive(Debug, Clone)]
pub struct VerifyPolicy {
    /// Node keys trusted outright (`--node-keys` files).
    pub node_keys: TrustList,
    /// The anchor files given, read; `None`: none given.
    pub anchor: Option<Anchor>,
    /// Now, for the age of uncovered entries.
    pub now: DateTime<Utc>,
    /// Uncovered entries older than this are a gap (a few checkpoint intervals).
    pub uncovered_after: TimeDelta,
}

/// A reason `gateway audit verify` fails, besides a broken chain.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// Entries, and no checkpoint by a trusted key.
    NoCheckpoints { entries: u64 },
    /// Entries older than the policy allows that no trusted checkpoint covers.
    Uncovered {
        uncovered: Uncovered,
        after: TimeDelta,
    },
    /// Checkpoints signed by a key neither anchored nor given with `--node-keys`.
    UntrustedKey {
        node: String,
        kid: String,
        checkpoints: usize,
        /// Whether the store's `node_keys` registers it.
        registered: bool,
    },
    /// A checkpoint signed after the anchor retired its key.
    SignedAfterRetirement {
        node: String,
        kid: String,
        seq: i64,
        retired: DateTime<Utc>,
    },
    /// An anchored checkpoint the store does not hold.
    AnchoredMissing {
        node: String,
        seq: i64,
        at: DateTime<Utc>,
    },
    /// An anchored checkpoint the store holds with other contents.
    AnchoredDiffers {
        node: String,
        seq: i64,
        at: DateTime<Utc>,
    },
    /// The store registers another public key under an anchored key id.
    RegisteredKeyDiffers { node: String, kid: String },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const TRUST_HINT: &str = "give the nodes' anchors with `--anchor FILE` (each node's \
                                  `audit.anchor_file`) or their public keys with `--node-keys \
                                  FILE` (each node's `node-key.pub.toml`)";
        match self {
            Finding::NoCheckpoints { entries } => write!(
                f,
                "no checkpoint signed by a trusted node key covers the {entries} entries: the \
                 checkpoints were deleted, never written, or signed by keys not trusted here — \
                 {TRUST_HINT}"
            ),
            Finding::Uncovered { uncovered: u, after } => write!(
                f,
                "entries seq {}..={} of {} (written by {}; the oldest at {}) are covered by no \
                 checkpoint although older than {} s: a node signs the head it appended every \
                 `audit.checkpoint_interval_secs` and at shutdown, so they were appended behind \
                 the nodes' back, their checkpoints were deleted, or the node that wrote them was \
                 killed before its next checkpoint and no other node has checkpointed since",
                u.first_seq,
                u.last_seq,
                chain_label(&u.chain),
                u.nodes
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                u.oldest,
                after.num_seconds()
            ),
            Finding::UntrustedKey {
                node,
                kid,
                checkpoints,
                registered: true,
            } => write!(
                f,
                "{checkpoints} checkpoint(s) by node `{node}` are signed with key `{kid}`, which \
                 the store registers but no anchor or key file given vouches for (the store's \
                 operator could have registered it): {TRUST_HINT}"
            ),
            Finding::UntrustedKey {
                node,
                kid,
                checkpoints,
                registered: false,
            } => write!(
                f,
                "{checkpoints} checkpoint(s) by node `{node}` are signed with key `{kid}`, which \
                 is neither registered in the store nor in any anchor or key file given: {TRUST_HINT}"
            ),
            Finding::SignedAfterRetirement {
                node,
                kid,
                seq,
                retired,
            } => write!(
                f,
                "the checkpoint of seq {seq} by node `{node}` is signed with key `{kid}` after \
                 the key was retired at {retired}"
            ),
            Finding::AnchoredMissing { node, seq, at } => write!(
                f,
                "the anchored checkpoint of seq {seq} by node `{node}` at {at} is not in the \
                 store: it was deleted"
            ),
            Finding::AnchoredDiffers { node, seq, at } => write!(
                f,
                "the checkpoint of seq {seq} by node `{node}` at {at} differs in the store from \
                 the anchored one: it was rewritten"
            ),
            Finding::RegisteredKeyDiffers { node, kid } => write!(
                f,
                "the store registers another public key for node `{node}`'s key `{kid}` than \
                 the anchor holds: the store's `node_keys` was rewritten"
            ),
        }
    }
}

/// What [`audit_store`] found in a chain that walked cleanly.
#[derive(Debug, Clone)]
pub struct AuditFindings {
    /// What the walk checked.
    pub report: LogReport,
    /// Why verification fails; empty: it passes.
    pub findings: Vec<Finding>,
    /// Worth knowing, not a failure.
    pub notes: Vec<String>,
}

impl AuditFindings {
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Walks the stored chain (a break is [`VerifyStoreError::Broken`]) with every checkpoint whose
/// key `policy` trusts — the store's and the anchor's — and judges coverage, keys and anchor
/// as the module doc says.
pub async fn audit_store(
    store: &Store,
    policy: &VerifyPolicy,
) -> Result<AuditFindings, VerifyStoreError> {
    let stored = store.checkpoints().await?;
    let registered = store.node_keys().await?;
    let mut findings = Vec::new();
    let mut notes = Vec::new();

    // The trusted keys: given ones, and anchored ones.
    let mut trust = policy.node_keys.clone();
    let mut anchored_public: BTreeMap<&str, &str> = BTreeMap::new();
    if let Some(anchor) = &policy.anchor {
        for key in &anchor.keys {
            // A node writes its key at every start: read each key once.
            if anchored_public.contains_key(key.kid.as_str()) {
                continue;
            }
            match TrustList::parse(&key.public_key) {
                Ok(list) => {
                    for k in list.keys().filter(|k| k.kid().to_string() == key.kid) {
                        trust.insert(k.clone());
                    }
                    anchored_public.insert(&key.kid, &key.public_key);
                }
                Err(e) => notes.push(format!(
                    "the anchored key `{}` of node `{}` is not readable ({e}); ignored",
                    key.kid, key.node
                )),
            }
        }
    }
    let trusted_kids: BTreeSet<String> = trust.keys().map(|k| k.kid().to_string()).collect();
    for key in &registered {
        match anchored_public.get(key.kid.as_str()) {
            Some(public) if *public != key.public_key => {
                findings.push(Finding::RegisteredKeyDiffers {
                    node: key.node.clone(),
                    kid: key.kid.clone(),
                });
            }
            _ => {}
        }
    }

    // Every checkpoint: the store's, and the anchor's the store lacks. A checkpoint is found by
    // its slot (chain, seq, node, time): a node signs a seq at most once a microsecond.
    let slot = |c: &Checkpoint| (c.chain.clone(), c.seq, c.node.clone(), c.at);
    let stored_by_slot: HashMap<_, &Checkpoint> = stored.iter().map(|c| (slot(c), c)).collect();
    let mut all = stored.clone();
    if let Some(anchor) = &policy.anchor {
        let mut anchored_slots = HashSet::new();
        for anchored in &anchor.checkpoints {
            if !anchored_slots.insert(slot(anchored)) {
                continue;
            }
            match stored_by_slot.get(&slot(anchored)) {
                Some(&same) if same == anchored => continue,
                Some(_) => findings.push(Finding::AnchoredDiffers {
                    node: anchored.node.clone(),
                    seq: anchored.seq,
                    at: anchored.at,
                }),
                None => findings.push(Finding::AnchoredMissing {
                    node: anchored.node.clone(),
                    seq: anchored.seq,
                    at: anchored.at,
                }),
            }
            // The chain must still hash to the anchored head.
            all.push(anchored.clone());
        }
        let mut unanchored: BTreeMap<&str, usize> = BTreeMap::new();
        for c in stored.iter().filter(|c| !anchored_slots.contains(&slot(c))) {
            *unanchored.entry(&c.node).or_default() += 1;
        }
        for (node, n) in unanchored {
            notes.push(format!(
                "{n} checkpoint(s) by node `{node}` in the store are in no anchor given"
            ));
        }
    }

    // Untrusted keys are findings of their own; the walk checks the trusted checkpoints.
    let (trusted, untrusted): (Vec<Checkpoint>, Vec<Checkpoint>) =
        all.into_iter().partition(|c| trusted_kids.contains(&c.kid));
    let mut by_key: BTreeMap<(String, String), usize> = BTreeMap::new();
    for c in &untrusted {
        *by_key.entry((c.node.clone(), c.kid.clone())).or_default() += 1;
    }
    for ((node, kid), checkpoints) in by_key {
        let registered = registered.iter().any(|k| k.kid == kid);
        findings.push(Finding::UntrustedKey {
            node,
            kid,
            checkpoints,
            registered,
        });
    }
    if let Some(anchor) = &policy.anchor {
        for c in &trusted {
            if let Some(retired) = anchor.retired_at(&c.node, &c.kid) {
                if c.at > retired {
                    findings.push(Finding::SignedAfterRetirement {
                        node: c.node.clone(),
                        kid: c.kid.clone(),
                        seq: c.seq,
                        retired,
                    });
                }
            }
        }
    }

    // How far each chain is covered: by its own checkpoints, and by heads others witnessed.
    let mut covered_to: BTreeMap<String, i64> = BTreeMap::new();
    for c in &trusted {
        let heads =
            std::iter::once((&c.chain, c.seq)).chain(c.witnessed.iter().map(|h| (&h.chain, h.seq)));
        for (chain, seq) in heads {
            let to = covered_to.entry(chain.clone()).or_insert(seq);
            *to = (*to).max(seq);
        }
    }
    let any_trusted = !trusted.is_empty();
    let (report, uncovered) = walk(store, trusted, &trust, &covered_to).await?;
    if report.entries() > 0 && !any_trusted {
        findings.push(Finding::NoCheckpoints {
            entries: report.entries(),
        });
    } else {
        let horizon = policy.now.checked_sub_signed(policy.uncovered_after);
        for u in uncovered {
            if horizon.is_some_and(|horizon| u.oldest < horizon) {
                findings.push(Finding::Uncovered {
                    uncovered: u,
                    after: policy.uncovered_after,
                });
            } else {
                notes.push(format!(
                    "entries seq {}..={} of {}, the newest, are not covered by a checkpoint yet \
                     (the oldest at {})",
                    u.first_seq,
                    u.last_seq,
                    chain_label(&u.chain),
                    u.oldest
                ));
            }
        }
    }
    Ok(AuditFindings {
        report,
        findings,
        notes,
    })
}
