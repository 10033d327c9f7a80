//! The anchor: an append-only file of JSON lines where a node writes its public checkpoint key
//! when it registers it and every checkpoint it signs — a copy of what the store holds that the
//! store's operator cannot rewrite once it has been shipped elsewhere (or the file made
//! append-only with `chattr +a`). `gateway audit verify --anchor FILE` checks the store against
//! it, and trusts the node keys it names.
//!
//! # Lines
//!
//! ```text
//! {"kind":"node_key","node":"…","kid":"…","public_key":"<trust-list TOML>","at":"…"}
//! {"kind":"node_key_retired","node":"…","kid":"…","at":"…"}
//! {"kind":"checkpoint","chain":"…","seq":…,"head_hash":"<hex>","count":…,"at":"…","node":"…",
//!  "kid":"…","signature":"<base64>","witnessed":[{"chain":"…","seq":…,"hash":"<hex>"},…]}
//! ```
//!
//! A checkpoint line written before chains were per node has no `chain` (the shared chain `""`)
//! and no `witnessed`.
//!
//! Times are RFC 3339 in UTC with microseconds. The file is opened with `O_APPEND` for each line,
//! which is written with one `write` and then `fsync`ed, so lines from a restarted node (or from
//! several nodes appending to one shared file) never interleave, a line is on disk before the
//! checkpoint counts as written, and the file may be rotated away while the node runs.

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::{ChainHead, Checkpoint};

/// The default file name of the anchor in the data folder (`audit.anchor_file`).
pub const ANCHOR_FILE: &str = "audit-anchor.jsonl";

/// One line of the anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AnchorLine {
    /// A node registered (or, at a restart, confirmed) its checkpoint key.
    NodeKey {
        node: String,
        kid: String,
        /// The trust-list TOML holding the one public key.
        public_key: String,
        at: DateTime<Utc>,
    },
    /// A node's key was replaced on purpose: it verifies only checkpoints signed up to `at`.
    NodeKeyRetired {
        node: String,
        kid: String,
        at: DateTime<Utc>,
    },
    /// A checkpoint as the node signed it.
    Checkpoint {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        chain: String,
        seq: i64,
        head_hash: String,
        count: i64,
        at: DateTime<Utc>,
        node: String,
        kid: String,
        signature: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        witnessed: Vec<AnchoredHead>,
    },
}

/// Another chain's head a checkpoint witnessed, as a line names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchoredHead {
    chain: String,
    seq: i64,
    hash: String,
}

fn hash_from_hex(text: &str) -> Option<[u8; 32]> {
    hex::decode(text)
        .ok()
        .and_then(|h| <[u8; 32]>::try_from(h).ok())
}

impl AnchorLine {
    /// The line recording `checkpoint`.
    pub fn of_checkpoint(checkpoint: &Checkpoint) -> AnchorLine {
        AnchorLine::Checkpoint {
            chain: checkpoint.chain.clone(),
            seq: checkpoint.seq,
            head_hash: hex::encode(checkpoint.head_hash),
            count: checkpoint.count,
            at: checkpoint.at,
            node: checkpoint.node.clone(),
            kid: checkpoint.kid.clone(),
            signature: B64.encode(&checkpoint.signature),
            witnessed: checkpoint
                .witnessed
                .iter()
                .map(|h| AnchoredHead {
                    chain: h.chain.clone(),
                    seq: h.seq,
                    hash: hex::encode(h.hash),
                })
                .collect(),
        }
    }
}

/// Why the anchor cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error(
        "cannot open the audit anchor `{}` for appending (set its place with `audit.anchor_file`)",
        path.display()
    )]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot append to the audit anchor `{}`", path.display())]
    Append {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the audit anchor `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the audit anchor `{}` line {line} is not an anchor record: {message}", path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Where a node appends its anchor lines. The file is opened for each line, so it may be moved
/// away (logrotate's `create`) at any time: the next line starts a new file, headed by the
/// node's key line. Cheap to clone; clones share the key line.
#[derive(Debug, Clone)]
pub struct AnchorSink {
    path: PathBuf,
    /// Written first into a file that is empty: every anchor file names the node's key.
    key_line: Arc<Mutex<Option<AnchorLine>>>,
}

impl AnchorSink {
    /// The anchor at `path`, created (with its folder) now if need be, so that a path that
    /// cannot be written to fails at start.
    pub fn open(path: &Path) -> Result<AnchorSink, AnchorError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| AnchorError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let sink = AnchorSink {
            path: path.to_path_buf(),
            key_line: Arc::default(),
        };
        sink.open_for_append()?;
        Ok(sink)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_for_append(&self) -> Result<File, AnchorError> {
        OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|source| AnchorError::Open {
                path: self.path.clone(),
                source,
            })
    }

    /// Appends `line` and waits until it is on disk (blocking: call it off the async workers,
    /// or through [`AnchorSink::append_async`]). A `node_key` line is also remembered, to head
    /// the next file if this one is moved away.
    pub fn append(&self, line: &AnchorLine) -> Result<(), AnchorError> {
        let mut key_line = self
            .key_line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if matches!(line, AnchorLine::NodeKey { .. }) {
            *key_line = Some(line.clone());
        }
        let mut file = self.open_for_append()?;
        let append_err = |source| AnchorError::Append {
            path: self.path.clone(),
            source,
        };
        let mut text = String::new();
        if file.metadata().map_err(append_err)?.len() == 0 {
            if let Some(key) = key_line.as_ref().filter(|k| *k != line) {
                text.push_str(&serde_json::to_string(key).expect("an anchor line serializes"));
                text.push('\n');
            }
        }
        text.push_str(&serde_json::to_string(line).expect("an anchor line serializes"));
        text.push('\n');
        // One write: with O_APPEND it lands whole at the end, whoever else appends.
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(append_err)
    }

    /// [`AnchorSink::append`] on tokio's blocking pool. A runtime shutting down before the
    /// write ran is an append that did not happen, not a panic.
    pub async fn append_async(&self, line: AnchorLine) -> Result<(), AnchorError> {
        let sink = self.clone();
        let path = self.path.clone();
        match tokio::task::spawn_blocking(move || sink.append(&line)).await {
            Ok(appended) => appended,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(AnchorError::Append {
                path,
                source: std::io::Error::new(std::io::ErrorKind::Interrupted, e),
            }),
        }
    }
}

/// What one or more anchor files hold, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Anchor {
    /// `node_key` lines.
    pub keys: Vec<AnchoredKey>,
    /// `node_key_retired` lines: (node, kid, when).
    pub retired: Vec<(String, String, DateTime<Utc>)>,
    /// `checkpoint` lines.
    pub checkpoints: Vec<Checkpoint>,
}

/// A node key as an anchor names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchoredKey {
    pub node: String,
    pub kid: String,
    pub public_key: String,
    pub at: DateTime<Utc>,
}

impl Anchor {
    /// Reads the anchor at `path` and adds its lines to this one. A last line cut short (the
    /// node stopped in the middle of a write) is skipped; any other bad line is an error.
    pub fn read(&mut self, path: &Path) -> Result<(), AnchorError> {
        let read_err = |source| AnchorError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(read_err)?;
        let mut lines = BufReader::new(file).lines().enumerate().peekable();
        while let Some((index, line)) = lines.next() {
            let line = line.map_err(read_err)?;
            if line.trim().is_empty() {
                continue;
            }
            let parsed = serde_json::from_str::<AnchorLine>(&line)
                .map_err(|e| e.to_string())
                .and_then(|l| self.add(l));
            match parsed {
                Ok(()) => {}
                Err(_) if lines.peek().is_none() && !ends_with_newline(path) => {
                    tracing::warn!(path = %path.display(), line = index + 1,
                        "the audit anchor's last line is cut short; skipped");
                }
                Err(message) => {
                    return Err(AnchorError::Malformed {
                        path: path.to_path_buf(),
                        line: index + 1,
                        message,
                    })
                }
            }
        }
        Ok(())
    }

    fn add(&mut self, line: AnchorLine) -> Result<(), String> {
        match line {
            AnchorLine::NodeKey {
                node,
                kid,
                public_key,
                at,
            } => self.keys.push(AnchoredKey {
                node,
                kid,
                public_key,
                at,
            }),
            AnchorLine::NodeKeyRetired { node, kid, at } => self.retired.push((node, kid, at)),
            AnchorLine::Checkpoint {
                chain,
                seq,
                head_hash,
                count,
                at,
                node,
                kid,
                signature,
                witnessed,
            } => {
                let head_hash =
                    hash_from_hex(&head_hash).ok_or("`head_hash` is not 32 bytes of hex")?;
                let witnessed = witnessed
                    .into_iter()
                    .map(|h| {
                        Some(ChainHead {
                            hash: hash_from_hex(&h.hash)?,
                            chain: h.chain,
                            seq: h.seq,
                        })
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or("a witnessed `hash` is not 32 bytes of hex")?;
                let signature = B64
                    .decode(&signature)
                    .map_err(|_| "`signature` is not base64")?;
                self.checkpoints.push(Checkpoint {
                    chain,
                    seq,
                    head_hash,
                    count,
                    at: store::micros(at),
                    node,
                    kid,
                    signature,
                    witnessed,
                });
            }
        }
        Ok(())
    }

    /// When `node`'s key `kid` was retired according to the anchor, if it was.
    pub fn retired_at(&self, node: &str, kid: &str) -> Option<DateTime<Utc>> {
        self.retired
            .iter()
            .filter(|(n, k, _)| n == node && k == kid)
            .map(|&(_, _, at)| at)
            .min()
    }
}

fn ends_with_newline(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.last() == Some(&b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(seq: i64) -> Checkpoint {
        Checkpoint {
            chain: "node-a".into(),
            seq,
            head_hash: [seq as u8; 32],
            count: seq,
            at: store::now(),
            node: "node-a".into(),
            kid: "a2lk".into(),
            signature: vec![1, 2, 3],
            witnessed: vec![ChainHead {
                chain: "node-b".into(),
                seq: 2,
                hash: [2; 32],
            }],
        }
    }

    #[test]
    fn lines_appended_are_read_back_in_order() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("sub").join(ANCHOR_FILE);
        let sink = AnchorSink::open(&path).expect("open");
        let key = AnchorLine::NodeKey {
            node: "node-a".into(),
            kid: "a2lk".into(),
            public_key: "[[key]]\n".into(),
            at: store::now(),
        };
        sink.append(&key).expect("key");
        let (three, five) = (checkpoint(3), checkpoint(5));
        sink.append(&AnchorLine::of_checkpoint(&three))
            .expect("checkpoint");
        // Re-opened (a restart): appended after, never truncated.
        AnchorSink::open(&path)
            .expect("reopen")
            .append(&AnchorLine::of_checkpoint(&five))
            .expect("checkpoint");
        let mut anchor = Anchor::default();
        anchor.read(&path).expect("read");
        assert_eq!(anchor.keys.len(), 1);
        assert_eq!(anchor.checkpoints, vec![three.clone(), five]);

        // Moved away (rotated): the next line starts a new file headed by the key.
        std::fs::rename(&path, dir.path().join("rotated.jsonl")).expect("rotate");
        sink.append(&AnchorLine::of_checkpoint(&three))
            .expect("checkpoint");
        let mut fresh = Anchor::default();
        fresh.read(&path).expect("read");
        assert_eq!((fresh.keys.len(), fresh.checkpoints.len()), (1, 1));
    }

    #[test]
    fn a_checkpoint_line_of_before_per_node_chains_reads_as_the_shared_chain() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join(ANCHOR_FILE);
        let line = format!(
            r#"{{"kind":"checkpoint","seq":4,"head_hash":"{}","count":4,"at":"2026-11-01T00:00:00.000001Z","node":"node-a","kid":"a2lk","signature":"AQID"}}"#,
            hex::encode([4u8; 32])
        );
        std::fs::write(&path, format!("{line}\n")).expect("write");
        let mut anchor = Anchor::default();
        anchor.read(&path).expect("read");
        let [old] = anchor.checkpoints.as_slice() else {
            panic!("one checkpoint: {:?}", anchor.checkpoints);
        };
        assert_eq!((old.chain.as_str(), old.seq), ("", 4));
        assert!(old.witnessed.is_empty());
        // Written back, it is the same line.
        let again = serde_json::to_string(&AnchorLine::of_checkpoint(old)).expect("json");
        assert_eq!(again, line);
    }

    #[test]
    fn a_cut_last_line_is_skipped_and_a_bad_line_elsewhere_is_an_error() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join(ANCHOR_FILE);
        let good = serde_json::to_string(&AnchorLine::of_checkpoint(&checkpoint(1))).expect("json");
        std::fs::write(&path, format!("{good}\n{}", &good[..20])).expect("write");
        let mut anchor = Anchor::default();
        anchor.read(&path).expect("cut last line skipped");
        assert_eq!(anchor.checkpoints.len(), 1);
        std::fs::write(&path, format!("{}\n{good}\n", &good[..20])).expect("write");
        let err = Anchor::default().read(&path).expect_err("bad line");
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
