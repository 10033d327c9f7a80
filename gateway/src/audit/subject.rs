//! The holder in the audit log: a keyed hash of the subject handle, never the handle itself.
//!
//! HMAC-SHA256 under a deployment secret shared by every node (so one holder has one hash on
//! all nodes and "who checked me" finds every entry), unknown to whoever reads the database (so
//! a hash cannot be reversed by hashing candidate ID numbers).

use hmac::{Hmac, Mac as _};
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
}
