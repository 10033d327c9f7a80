//! Secret files (signing keys, seal keys, trust lists holding MAC secrets, the audit's keys):
//! created readable and writable by their owner only (mode 0600 on Unix) from the first byte,
//! never written and then narrowed. Every crate that writes a secret writes it through here,
//! and every check that one is still owner-only ([`check_owner_only`]) is made here.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// What [`write`] does when the file exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Leave it and fail with [`io::ErrorKind::AlreadyExists`].
    Keep,
    /// Put the new file in its place (the old file's mode is not kept).
    Replace,
}

/// Creates `path` for writing, owner-only, failing with [`io::ErrorKind::AlreadyExists`] when
/// it exists.
pub fn create_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Writes `contents` to `path` as a secret file. The bytes go to a fresh owner-only file beside
/// `path`, which is then linked (or, with [`Existing::Replace`], renamed) into place: a reader
/// never sees half a file, two writers racing for a new file leave one whole winner, and a
/// replaced file never keeps a looser mode.
pub fn write(path: &Path, contents: &[u8], existing: Existing) -> io::Result<()> {
    let tmp = beside(path);
    let written = create_new(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    let placed = written.and_then(|()| match existing {
        Existing::Keep => std::fs::hard_link(&tmp, path),
        Existing::Replace => std::fs::rename(&tmp, path),
    });
    // Gone already after a rename; otherwise the link in place (or nothing) remains.
    let _ = std::fs::remove_file(&tmp);
    placed
}

/// A secret file that is not owner-only, or that could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum NotOwnerOnly {
    /// Group or others may read or write it.
    #[error("`{path}` ({what}) may be read by others than its owner (mode {mode:03o}): run `chmod 600 {path}`")]
    Loose {
        path: String,
        what: String,
        mode: u32,
    },
    #[error("cannot check `{path}` ({what}): {source}")]
    Unreadable {
        path: String,
        what: String,
        source: io::Error,
    },
}

/// Checks that the secret file `path` (`what` it holds, for the error) is readable by its
/// owner only: on Unix, no group or other permission bit (`mode & 0o077 == 0`). Elsewhere it
/// only checks that the file exists.
pub fn check_owner_only(path: &Path, what: &str) -> Result<(), NotOwnerOnly> {
    let metadata = std::fs::metadata(path).map_err(|source| NotOwnerOnly::Unreadable {
        path: path.display().to_string(),
        what: what.to_owned(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(NotOwnerOnly::Loose {
                path: path.display().to_string(),
                what: what.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = metadata;
    Ok(())
}

/// A name beside `path` no other writer uses: the process id and a random number.
fn beside(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(
        ".{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    path.with_file_name(name)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn secret_files_are_owner_only_and_replacing_does_not_keep_a_looser_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.toml");
        write(&path, b"first", Existing::Keep).expect("write");
        assert_eq!(mode(&path), 0o600);
        let again = write(&path, b"second", Existing::Keep).expect_err("exists");
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).expect("read"), b"first");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        write(&path, b"third", Existing::Replace).expect("replace");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read(&path).expect("read"), b"third");

        let other = dir.path().join("subject-key");
        drop(create_new(&other).expect("create"));
        assert_eq!(mode(&other), 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("list").count(),
            2,
            "no temporary file is left behind"
        );
    }

    #[test]
    fn a_secret_file_others_may_read_is_named_with_the_chmod_that_fixes_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("platform.trust.toml");
        write(&path, b"secret", Existing::Keep).expect("write");
        check_owner_only(&path, "codes.trust").expect("0600 is owner-only");
        for loose in [0o640, 0o604, 0o660, 0o644] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).expect("chmod");
            let err = check_owner_only(&path, "codes.trust")
                .expect_err("loose")
                .to_string();
            assert!(
                err.contains(&format!("chmod 600 {}", path.display())),
                "{err}"
            );
            assert!(
                err.contains("codes.trust") && err.contains(&format!("{loose:03o}")),
                "{err}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("chmod");
        check_owner_only(&path, "codes.trust").expect("0400 is owner-only");
        let missing = check_owner_only(&dir.path().join("nope"), "tls.key").expect_err("missing");
        assert!(missing.to_string().starts_with("cannot check"), "{missing}");
    }
}
