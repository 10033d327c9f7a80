//! The holder in the audit log: a keyed hash of the subject handle, never the handle itself.
//!
//! HMAC-SHA256 under a deployment secret shared by every node (so one holder has one hash on
//! all nodes and "who checked me" finds every entry), unknown to whoever reads the database (so
//! a hash cannot be reversed by hashing candidate ID numbers).

use std::path::Path;

use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;

/// Hashes subject handles for the audit log. Cheap to clone; the key is never printed.
#[derive(Clone)]
pub struct SubjectHasher {
    /// The MAC keyed once; each hash clones this state.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for SubjectHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectHasher(..)")
    }
}

impl SubjectHasher {
    /// A hasher under `key`, the deployment's audit secret (at least 32 random bytes).
    pub fn new(key: &[u8]) -> SubjectHasher {
        SubjectHasher {
            keyed: <Hmac<Sha256>>::new_from_slice(key).expect("hmac takes any key length"),
        }
    }

    /// HMAC-SHA256(key, subject as UTF-8).
    pub fn hash(&self, subject: &str) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(subject.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// The subject-hash secret in `path` (64 hex digits), created at random (mode 0600) when the
/// file does not exist yet. Every node sharing a store must be given the same file.
pub fn load_or_create_subject_key(path: &Path) -> std::io::Result<Vec<u8>> {
    if !path.exists() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let existing = wire::secret_file::Existing::Keep;
        match wire::secret_file::write(path, hex::encode(key).as_bytes(), existing) {
            Ok(()) => {}
            // Another process created it first: read theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    let text = std::fs::read_to_string(path)?;
    match hex::decode(text.trim()) {
        Ok(key) if key.len() >= 32 => Ok(key),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("`{}` must hold at least 32 bytes as hex", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::SubjectHasher;

    #[test]
    fn same_key_same_hash_other_key_other_hash() {
        let a = SubjectHasher::new(&[1; 32]);
        let b = SubjectHasher::new(&[2; 32]);
        assert_eq!(a.hash("110101199003070000"), a.hash("110101199003070000"));
        assert_ne!(a.hash("110101199003070000"), a.hash("110101199003070001"));
        assert_ne!(a.hash("110101199003070000"), b.hash("110101199003070000"));
        assert_eq!(format!("{a:?}"), "SubjectHasher(..)");
    }

    #[test]
    fn the_subject_key_is_created_once_and_the_owners_only() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("data").join("subject-key");
        let first = super::load_or_create_subject_key(&path).expect("create");
        assert_eq!(first.len(), 32);
        assert_eq!(
            super::load_or_create_subject_key(&path).expect("load"),
            first
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
