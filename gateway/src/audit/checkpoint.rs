//! Checkpoints: at a fixed interval (and on shutdown) a node signs the chain head it knows to be
//! committed — seq, head hash, entry count, time, node — with its own Ed25519 key, so a chain
//! rewritten or cut short after that point no longer matches a signature only the node can make.
//!
//! # Signed message (version 1)
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
//! its public half is written beside it as `node-key.pub.toml`, a trust-list file: the verifier of
//! a shared log needs every node's.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use store::Checkpoint;
use wire::keys::{Algorithm, KeyError, KeyId, SigningKey, TrustList, Validity};
use wire::secret_file;

/// The domain string signed before every checkpoint.
pub const DOMAIN: &[u8] = b"mianzheng-audit-checkpoint/1";

/// The node's private checkpoint key in the data folder.
pub const NODE_KEY_FILE: &str = "node-key.toml";

/// The node key's public half, a trust-list file.
pub const NODE_TRUST_FILE: &str = "node-key.pub.toml";

/// What the signature covers: every field of the checkpoint but the signature.
fn message(
    seq: i64,
    head_hash: &[u8; 32],
    count: i64,
    at: DateTime<Utc>,
    node: &str,
    kid: &str,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 32 + 24 + node.len() + kid.len() + 8);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(head_hash);
    m.extend_from_slice(&count.to_be_bytes());
    m.extend_from_slice(&at.timestamp_micros().to_be_bytes());
    for s in [node, kid] {
        m.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
        m.extend_from_slice(s.as_bytes());
    }
    m
}

/// Signs the head (`seq`, `head_hash`) of a chain of `count` entries at `at` (cut to whole
/// microseconds) as node `node`.
pub fn sign_checkpoint(
    key: &SigningKey,
    seq: i64,
    head_hash: [u8; 32],
    count: i64,
    at: DateTime<Utc>,
    node: &str,
) -> Checkpoint {
    let at = store::micros(at);
    let kid = key.kid().to_string();
    let signature = key.sign(&message(seq, &head_hash, count, at, node, &kid));
    Checkpoint {
        seq,
        head_hash,
        count,
        at,
        node: node.to_owned(),
        kid,
        signature,
    }
}

/// Why a checkpoint's signature does not check out.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("key id `{0}` is not base64")]
    BadKid(String),
    #[error("{0}")]
    Key(#[from] KeyError),
}

/// Checks a checkpoint's signature with the node key its `kid` names in `trust` (an Ed25519 key
/// valid at the checkpoint's time). Whether it matches the chain is [`super::ChainWalker`]'s job.
pub fn verify_checkpoint(
    checkpoint: &Checkpoint,
    trust: &TrustList,
) -> Result<(), CheckpointError> {
    let kid = B64
        .decode(&checkpoint.kid)
        .map_err(|_| CheckpointError::BadKid(checkpoint.kid.clone()))?;
    let key = trust.find(&KeyId::new(kid), checkpoint.at)?;
    let msg = message(
        checkpoint.seq,
        &checkpoint.head_hash,
        checkpoint.count,
        checkpoint.at,
        &checkpoint.node,
        &checkpoint.kid,
    );
    key.verify(Algorithm::EdDsa, &msg, &checkpoint.signature)?;
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
    #[error("node key file `{}` must hold exactly one EdDSA signing key", path.display())]
    NotOneEd25519 { path: PathBuf },
}

/// The node's checkpoint key: `data_dir/node-key.toml`, created with a fresh Ed25519 key (owner
/// `node`, mode 0600) on first start. Also (re)writes `data_dir/node-key.pub.toml`, the public
/// half as a trust-list file for `gateway audit verify`.
pub fn load_or_create_node_key(data_dir: &Path, node: &str) -> Result<SigningKey, NodeKeyError> {
    let path = data_dir.join(NODE_KEY_FILE);
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| NodeKeyError::Write { path, source }
    };
    std::fs::create_dir_all(data_dir).map_err(write_err(data_dir))?;
    if !path.exists() {
        let key = SigningKey::generate(Algorithm::EdDsa, node, Validity::default())?;
        // A concurrent start either wins or reads the winner's key, never half a file.
        let toml = wire::keys::signing_keys_to_toml(&[key]);
        match secret_file::write(&path, toml.as_bytes(), secret_file::Existing::Keep) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(write_err(&path)(e)),
        }
    }
    let mut keys = wire::keys::load_signing_keys(&path)?;
    let key = match (keys.pop(), keys.is_empty()) {
        (Some(key), true) if key.algorithm() == Algorithm::EdDsa => key,
        _ => return Err(NodeKeyError::NotOneEd25519 { path }),
    };
    let public = data_dir.join(NODE_TRUST_FILE);
    std::fs::write(&public, TrustList::new([key.trusted()]).to_toml())
        .map_err(write_err(&public))?;
    Ok(key)
}

/// The trust list for checkpoints: the public halves of `keys` (this node's, and any other
/// node's loaded with [`TrustList::load`] from its `node-key.pub.toml`).
pub fn node_trust<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> TrustList {
    TrustList::new(keys.into_iter().map(SigningKey::trusted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_verifies_and_any_change_does_not() {
        let key =
            SigningKey::generate(Algorithm::EdDsa, "node-a", Validity::default()).expect("key");
        let trust = node_trust([&key]);
        let cp = sign_checkpoint(&key, 10, [3; 32], 10, store::now(), "node-a");
        verify_checkpoint(&cp, &trust).expect("valid");
        let edits: Vec<fn(&mut Checkpoint)> = vec![
            |c| c.seq += 1,
            |c| c.head_hash[0] ^= 1,
            |c| c.count -= 1,
            |c| c.at += chrono::TimeDelta::microseconds(1),
            |c| c.node = "node-b".into(),
            |c| c.signature[0] ^= 1,
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
        let first = load_or_create_node_key(&data, "node-a").expect("create");
        let again = load_or_create_node_key(&data, "node-a").expect("load");
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
        let cp = sign_checkpoint(&again, 1, [1; 32], 1, store::now(), "node-a");
        verify_checkpoint(&cp, &trust).expect("verifies with the public file");
    }
}
