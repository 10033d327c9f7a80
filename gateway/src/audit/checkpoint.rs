//! Checkpoints: at a fixed interval (and on shutdown) a node signs the head of its own chain it
//! knows to be committed — chain, seq, head hash, entry count, time, node — with its own key
//! (Ed25519, or SM2 for a chain hashed with SM3: [`node_key_algorithm`]), so a chain rewritten or
//! cut short after that point no longer matches a signature only the node can make. The same
//! signature covers the heads of the other nodes' chains as the store showed them at that time
//! (`witnessed`): a chain cut short below a head another node witnessed is found even when its
//! own node's checkpoints were deleted with it.
//!
//! # Signed message
//!
//! Version 2, every checkpoint of a node's own chain:
//!
//! ```text
//! "mianzheng-audit-checkpoint/2" || str(chain) || i64(seq) || head_hash (32 bytes) || i64(count)
//!   || i64(at, microseconds since the Unix epoch) || str(node) || str(kid)
//!   || u32(number of witnessed heads) || (str(chain) || i64(seq) || hash (32 bytes))...
//! ```
//!
//! Version 1, the checkpoints of the one chain every node shared before chains were per node
//! (chain `""`, nothing witnessed), as they were signed then:
//!
//! ```text
//! "mianzheng-audit-checkpoint/1" || i64(seq) || head_hash (32 bytes) || i64(count)
//!   || i64(at, microseconds since the Unix epoch) || str(node) || str(kid)
//! ```
//!
//! with the integer and string encodings of [`super::chain`]. `kid` is the key id in base64, as
//! key files and trust lists write it.
//!
//! The node key lives in the data folder as `node-key.toml` (mode 0600), created on first start;
//! its public half is written beside it as `node-key.pub.toml`, a trust-list file. The key is
//! pinned ([`pin_node_key`]): registered in the store's `node_keys` (where `gateway audit verify`
//! finds every node's key) and in the node's anchor ([`super::anchor`]), and never made again
//! silently — a node whose registered key file is missing or replaced refuses to start, and
//! only `gateway audit rotate-node-key` ([`rotate_node_key`]) replaces it on purpose.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use store::{ChainHead, Checkpoint, NodeKey, Store, StoreError};
use wire::keys::{Algorithm, KeyError, KeyId, SigningKey, TrustList, Validity};
use wire::secret_file;

use super::anchor::{AnchorError, AnchorLine, AnchorSink};
use super::hash::ChainHash;

/// The domain string signed before every checkpoint of a node's own chain.
pub const DOMAIN: &[u8] = b"mianzheng-audit-checkpoint/2";

/// The domain string of the checkpoints of the shared chain of before (version 1).
pub const DOMAIN_V1: &[u8] = b"mianzheng-audit-checkpoint/1";

/// The node's private checkpoint key in the data folder.
pub const NODE_KEY_FILE: &str = "node-key.toml";

/// The node key's public half, a trust-list file.
pub const NODE_TRUST_FILE: &str = "node-key.pub.toml";

/// What the signature covers: every field of the checkpoint but the signature.
fn message(checkpoint: &Checkpoint) -> Vec<u8> {
    let c = checkpoint;
    let legacy = c.chain.is_empty() && c.witnessed.is_empty();
    let mut m = Vec::with_capacity(128 + c.node.len() + c.kid.len() + 48 * c.witnessed.len());
    let put_str = |m: &mut Vec<u8>, s: &str| {
        m.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
        m.extend_from_slice(s.as_bytes());
    };
    if legacy {
        m.extend_from_slice(DOMAIN_V1);
    } else {
        m.extend_from_slice(DOMAIN);
        put_str(&mut m, &c.chain);
    }
    m.extend_from_slice(&c.seq.to_be_bytes());
    m.extend_from_slice(&c.head_hash);
    m.extend_from_slice(&c.count.to_be_bytes());
    m.extend_from_slice(&c.at.timestamp_micros().to_be_bytes());
    put_str(&mut m, &c.node);
    put_str(&mut m, &c.kid);
    if !legacy {
        let n = u32::try_from(c.witnessed.len()).unwrap_or(u32::MAX);
        m.extend_from_slice(&n.to_be_bytes());
        for head in &c.witnessed {
            put_str(&mut m, &head.chain);
            m.extend_from_slice(&head.seq.to_be_bytes());
            m.extend_from_slice(&head.hash);
        }
    }
    m
}

/// Signs `head`, the head of a chain of `count` entries, at `at` (cut to whole microseconds) as
/// node `node`, naming the other chains' heads `witnessed`.
pub fn sign_checkpoint(
    key: &SigningKey,
    head: &ChainHead,
    count: i64,
    at: DateTime<Utc>,
    node: &str,
    witnessed: Vec<ChainHead>,
) -> Checkpoint {
    let mut checkpoint = Checkpoint {
        chain: head.chain.clone(),
        seq: head.seq,
        head_hash: head.hash,
        count,
        at: store::micros(at),
        node: node.to_owned(),
        kid: key.kid().to_string(),
        signature: Vec::new(),
        witnessed,
    };
    checkpoint.signature = key.sign(&message(&checkpoint));
    checkpoint
}

/// Why a checkpoint's signature does not check out.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("key id `{0}` is not base64")]
    BadKid(String),
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("key `{kid}` is a {algorithm} key; node keys are EdDSA or SM2")]
    NotANodeKey { kid: String, algorithm: Algorithm },
}

/// The algorithms a node's checkpoint key may have.
pub const NODE_KEY_ALGORITHMS: [Algorithm; 2] = [Algorithm::EdDsa, Algorithm::Sm2];

/// The algorithm of a node key made for a chain hashed with `hash`: SM2 (whose signatures hash
/// with SM3) beside SM3, Ed25519 otherwise. A key made before keeps signing until it is rotated.
pub fn node_key_algorithm(hash: ChainHash) -> Algorithm {
    match hash {
        ChainHash::Sha256 => Algorithm::EdDsa,
        ChainHash::Sm3 => Algorithm::Sm2,
    }
}

/// Checks a checkpoint's signature with the node key its `kid` names in `trust` (an Ed25519 or
/// SM2 key valid at the checkpoint's time). Whether it matches the chain is
/// [`super::ChainWalker`]'s job.
pub fn verify_checkpoint(
    checkpoint: &Checkpoint,
    trust: &TrustList,
) -> Result<(), CheckpointError> {
    let kid = B64
        .decode(&checkpoint.kid)
        .map_err(|_| CheckpointError::BadKid(checkpoint.kid.clone()))?;
    let key = trust.find(&KeyId::new(kid), checkpoint.at)?;
    let msg = message(checkpoint);
    let algorithm = key.algorithm();
    if !NODE_KEY_ALGORITHMS.contains(&algorithm) {
        return Err(CheckpointError::NotANodeKey {
            kid: checkpoint.kid.clone(),
            algorithm,
        });
    }
    key.verify(algorithm, &msg, &checkpoint.signature)?;
    Ok(())
}

/// A node key that cannot be read or created.
#[derive(Debug, thiserror::Error)]
pub enum NodeKeyError {
    #[error("cannot write the node key `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("node key file `{}` must hold exactly one EdDSA or SM2 signing key", path.display())]
    NotOneNodeKey { path: PathBuf },
    /// The store has a key for this node, and its file is gone.
    #[error(
        "node `{node}` has checkpoint key `{kid}` registered in the store, but its key file `{}` \
         is missing; a new key is not made silently (it could sign a rewritten audit chain \
         anew): start the node with the data folder that holds its key (`data.dir` of the file \
         given with `--config`), or replace the key on purpose with `gateway audit \
         rotate-node-key --node {node} --config FILE` (the old key stays valid for the \
         checkpoints it signed)",
        path.display()
    )]
    Missing {
        node: String,
        kid: String,
        path: PathBuf,
    },
    /// The store has another key for this node than its file holds.
    #[error(
        "the key file `{}` holds checkpoint key `{found}`, but node `{node}` has key \
         `{registered}` registered in the store: start the node with the data folder that holds \
         its key (`data.dir` of the file given with `--config`), give this node a name of its \
         own (`audit.node`), or replace the key on purpose with `gateway audit rotate-node-key \
         --node {node} --config FILE`",
        path.display()
    )]
    Differs {
        node: String,
        registered: String,
        found: String,
        path: PathBuf,
    },
    /// Another live node holds this node's name (and so the key registered for it).
    #[error(transparent)]
    NameTaken(Box<crate::cluster::membership::JoinError>),
    #[error("cannot register the node's checkpoint key in the store")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Anchor(#[from] AnchorError),
}

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> NodeKeyError {
    let path = path.to_path_buf();
    move |source| NodeKeyError::Write { path, source }
}

/// The node's checkpoint key: `data_dir/node-key.toml`, created with a fresh Ed25519 key (owner
/// `node`, mode 0600) on first start. Also (re)writes `data_dir/node-key.pub.toml`, the public
/// half as a trust-list file for `gateway audit verify --node-keys`. [`pin_node_key`] is what a
/// node starts with: it refuses to make a key the store does not expect.
pub fn load_or_create_node_key(
    data_dir: &Path,
    node: &str,
    algorithm: Algorithm,
) -> Result<SigningKey, NodeKeyError> {
    let path = data_dir.join(NODE_KEY_FILE);
    std::fs::create_dir_all(data_dir).map_err(write_error(data_dir))?;
    if !path.exists() {
        let key = SigningKey::generate(algorithm, node, Validity::default())?;
        // A concurrent start either wins or reads the winner's key, never half a file.
        let toml = wire::keys::signing_keys_to_toml(&[key]);
        match secret_file::write(&path, toml.as_bytes(), secret_file::Existing::Keep) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(write_error(&path)(e)),
        }
    }
    let key = read_node_key(&path)?;
    write_public_half(data_dir, &key)?;
    Ok(key)
}

/// The one node key (Ed25519 or SM2) of the key file at `path`.
fn read_node_key(path: &Path) -> Result<SigningKey, NodeKeyError> {
    let mut keys = wire::keys::load_signing_keys(path)?;
    match (keys.pop(), keys.is_empty()) {
        (Some(key), true) if NODE_KEY_ALGORITHMS.contains(&key.algorithm()) => Ok(key),
        _ => Err(NodeKeyError::NotOneNodeKey {
            path: path.to_path_buf(),
        }),
    }
}

fn write_public_half(data_dir: &Path, key: &SigningKey) -> Result<(), NodeKeyError> {
    let public = data_dir.join(NODE_TRUST_FILE);
    std::fs::write(&public, TrustList::new([key.trusted()]).to_toml()).map_err(write_error(&public))
}

/// The store's record of `key` as node `node`'s checkpoint key, registered at `at`.
pub fn registration(key: &SigningKey, node: &str, at: DateTime<Utc>) -> NodeKey {
    NodeKey {
        node: node.to_owned(),
        kid: key.kid().to_string(),
        public_key: TrustList::new([key.trusted()]).to_toml(),
        registered_at: store::micros(at),
        retired_at: None,
    }
}

fn anchor_line(registered: &NodeKey) -> AnchorLine {
    AnchorLine::NodeKey {
        node: registered.node.clone(),
        kid: registered.kid.clone(),
        public_key: registered.public_key.clone(),
        at: registered.registered_at,
    }
}

/// This node's checkpoint key, pinned: when the store has a key registered for `node`, the key
/// file in `data_dir` must hold it (else [`NodeKeyError::Missing`] or
/// [`NodeKeyError::Differs`]; nothing is created); when it has none, the file's key (created
/// on first start) is registered. Either way the key is written to `anchor`, so that every
/// anchor file a node starts names the key its checkpoints are signed with.
pub async fn pin_node_key(
    store: &Store,
    data_dir: &Path,
    node: &str,
    algorithm: Algorithm,
    anchor: &AnchorSink,
) -> Result<SigningKey, NodeKeyError> {
    let path = data_dir.join(NODE_KEY_FILE);
    let registered = store.active_node_keys(node).await?;
    let key = match registered.first() {
        Some(first) => {
            if !path.exists() {
                return Err(refusal(
                    store,
                    node,
                    NodeKeyError::Missing {
                        node: node.to_owned(),
                        kid: first.kid.clone(),
                        path,
                    },
                )
                .await);
            }
            let key = read_node_key(&path)?;
            let kid = key.kid().to_string();
            if !registered.iter().any(|r| r.kid == kid) {
                return Err(refusal(
                    store,
                    node,
                    NodeKeyError::Differs {
                        node: node.to_owned(),
                        registered: first.kid.clone(),
                        found: kid,
                        path,
                    },
                )
                .await);
            }
            write_public_half(data_dir, &key)?;
            key
        }
        None => {
            let key = load_or_create_node_key(data_dir, node, algorithm)?;
            store
                .register_node_key(&registration(&key, node, store::now()))
                .await?;
            key
        }
    };
    let line = anchor_line(&registration(&key, node, store::now()));
    anchor.append_async(line).await?;
    Ok(key)
}

/// `error`, or — when another live node holds the name `node`, which explains a key that is not
/// this folder's better — that.
async fn refusal(store: &Store, node: &str, error: NodeKeyError) -> NodeKeyError {
    use crate::cluster::membership::JoinError;
    match store.live_nodes(store::now()).await {
        Ok(live) => match live.into_iter().find(|lease| lease.name == node) {
            Some(lease) => NodeKeyError::NameTaken(Box::new(JoinError::NameTaken {
                name: lease.name,
                instance: lease.instance,
                until: lease.expires_at,
            })),
            None => error,
        },
        Err(_) => error,
    }
}

/// Replaces node `node`'s checkpoint key on purpose (`gateway audit rotate-node-key`, with the
/// node stopped): a fresh key in `data_dir`, the keys registered before retired as of now in
/// the store and in `anchor` (they still verify the checkpoints they signed before), the new
/// one registered in both. Returns the retired key ids and the new key.
pub async fn rotate_node_key(
    store: &Store,
    data_dir: &Path,
    node: &str,
    algorithm: Algorithm,
    anchor: &AnchorSink,
) -> Result<(Vec<String>, SigningKey), NodeKeyError> {
    let path = data_dir.join(NODE_KEY_FILE);
    std::fs::create_dir_all(data_dir).map_err(write_error(data_dir))?;
    let key = SigningKey::generate(algorithm, node, Validity::default())?;
    let now = store::now();
    let old: Vec<String> = store
        .active_node_keys(node)
        .await?
        .into_iter()
        .map(|k| k.kid)
        .collect();
    store.retire_node_keys(node, now).await?;
    let registered = registration(&key, node, now);
    store.register_node_key(&registered).await?;
    let toml = wire::keys::signing_keys_to_toml(std::slice::from_ref(&key));
    secret_file::write(&path, toml.as_bytes(), secret_file::Existing::Replace)
        .map_err(write_error(&path))?;
    write_public_half(data_dir, &key)?;
    for kid in &old {
        anchor
            .append_async(AnchorLine::NodeKeyRetired {
                node: node.to_owned(),
                kid: kid.clone(),
                at: now,
            })
            .await?;
    }
    anchor.append_async(anchor_line(&registered)).await?;
    Ok((old, key))
}

/// The trust list for checkpoints: the public halves of `keys` (this node's, and any other
/// node's loaded with [`TrustList::load`] from its `node-key.pub.toml`).
pub fn node_trust<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> TrustList {
    TrustList::new(keys.into_iter().map(SigningKey::trusted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(chain: &str, seq: i64, hash: u8) -> ChainHead {
        ChainHead {
            chain: chain.into(),
            seq,
            hash: [hash; 32],
        }
    }

    #[test]
    fn a_checkpoint_of_the_shared_chain_of_before_verifies_as_it_was_signed() {
        // Version 1, as a node signed it before chains were per node: no chain, nothing
        // witnessed, the old domain.
        let key =
            SigningKey::generate(Algorithm::EdDsa, "node-a", Validity::default()).expect("key");
        let at = store::micros(store::now());
        let kid = key.kid().to_string();
        let mut v1 = DOMAIN_V1.to_vec();
        v1.extend_from_slice(&7i64.to_be_bytes());
        v1.extend_from_slice(&[5; 32]);
        v1.extend_from_slice(&7i64.to_be_bytes());
        v1.extend_from_slice(&at.timestamp_micros().to_be_bytes());
        for s in ["node-a", kid.as_str()] {
            v1.extend_from_slice(&u32::try_from(s.len()).expect("short").to_be_bytes());
            v1.extend_from_slice(s.as_bytes());
        }
        let old = Checkpoint {
            chain: String::new(),
            seq: 7,
            head_hash: [5; 32],
            count: 7,
            at,
            node: "node-a".into(),
            kid,
            signature: key.sign(&v1),
            witnessed: vec![],
        };
        verify_checkpoint(&old, &node_trust([&key])).expect("a version 1 checkpoint");
        assert_eq!(
            sign_checkpoint(&key, &head("", 7, 5), 7, at, "node-a", vec![]),
            old,
            "the shared chain is still signed as version 1"
        );
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_any_change_does_not() {
        let key =
            SigningKey::generate(Algorithm::EdDsa, "node-a", Validity::default()).expect("key");
        let trust = node_trust([&key]);
        let cp = sign_checkpoint(
            &key,
            &head("node-a", 10, 3),
            10,
            store::now(),
            "node-a",
            vec![head("node-b", 4, 9)],
        );
        verify_checkpoint(&cp, &trust).expect("valid");
        let edits: Vec<fn(&mut Checkpoint)> = vec![
            |c| c.seq += 1,
            |c| c.head_hash[0] ^= 1,
            |c| c.count -= 1,
            |c| c.at += chrono::TimeDelta::microseconds(1),
            |c| c.node = "node-b".into(),
            |c| c.signature[0] ^= 1,
            |c| c.chain = "node-b".into(),
            |c| c.witnessed[0].seq += 1,
            |c| c.witnessed[0].hash[0] ^= 1,
            |c| c.witnessed[0].chain = "node-c".into(),
            |c| {
                c.witnessed.pop();
            },
            |c| c.witnessed.push(head("node-c", 1, 1)),
        ];
        for edit in edits {
            let mut forged = cp.clone();
            edit(&mut forged);
            assert!(verify_checkpoint(&forged, &trust).is_err(), "{forged:?}");
        }
        assert!(verify_checkpoint(&cp, &TrustList::default()).is_err());
    }

    #[test]
    fn the_node_key_is_created_once_private_and_reloaded() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let data = dir.path().join("data");
        let first = load_or_create_node_key(&data, "node-a", Algorithm::EdDsa).expect("create");
        let again = load_or_create_node_key(&data, "node-a", Algorithm::EdDsa).expect("load");
        assert_eq!(first.kid(), again.kid());
        assert_eq!(first.owner(), "node-a");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(data.join(NODE_KEY_FILE))
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let trust = TrustList::load(&data.join(NODE_TRUST_FILE)).expect("public half");
        let cp = sign_checkpoint(
            &again,
            &head("node-a", 1, 1),
            1,
            store::now(),
            "node-a",
            vec![],
        );
        verify_checkpoint(&cp, &trust).expect("verifies with the public file");
    }
}
