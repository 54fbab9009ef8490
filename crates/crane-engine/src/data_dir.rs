//! The data directory: private to its user, and used by one engine at a time.
//!
//! The directory holds the bearer token and the state database, so another local user must not be able to read or
//! replace anything in it: a new directory is created 0700, and an existing one owned by another user or writable
//! by group or others is refused. `<data dir>/engine.lock` carries an exclusive `flock(2)` for the engine's life, so
//! a second engine on the same directory fails to start instead of fighting the first over the same apps.
//!
//! **Architecture Invariant:** an engine starts only after [`prepare`] succeeded, and keeps its [`Lock`] until it
//! shuts down.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};

/// File in the data directory that carries the engine lock (and the pid of the engine holding it).
pub const LOCK_FILE: &str = "engine.lock";

/// The exclusive lock on a data directory; released when dropped (or when the process ends, whatever its way).
#[derive(Debug)]
pub(crate) struct Lock {
    /// The open lock file; closing it releases the `flock`.
    _file: File,
}

/// Makes the data directory safe to use (creating it 0700 when missing) and takes its engine lock.
pub(crate) fn prepare(dir: &Path) -> Result<Lock> {
    secure(dir)?;
    lock(dir)
}

/// Creates `dir` with mode 0700, or checks that an existing `dir` belongs to this user and is not writable by others.
pub(crate) fn secure(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let refuse = |why: String| {
            EngineError::DataDir(format!(
                "the data directory {} {why}; other local users could read or replace the API token and the \
                 state there. Fix: `chown $(id -un) {0} && chmod 700 {0}`, or pass another --data-dir",
                dir.display()
            ))
        };
        match std::fs::metadata(dir) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| cannot_create(dir, e))?;
                // `mode` is filtered by the umask and only applies to the last component; set it exactly.
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| cannot_create(dir, e))?;
            }
            Err(err) => return Err(cannot_create(dir, err)),
            Ok(meta) if !meta.is_dir() => return Err(refuse("is not a directory".into())),
            Ok(meta) => {
                // SAFETY: geteuid(2) has no preconditions and cannot fail.
                let me = unsafe { libc::geteuid() };
                if meta.uid() != me {
                    return Err(refuse(format!("is owned by user id {}, not by this user ({me})", meta.uid())));
                }
                let mode = meta.mode() & 0o777;
                if mode & 0o022 != 0 {
                    return Err(refuse(format!("is writable by group or others (mode {mode:03o})")));
                }
                if mode != 0o700 {
                    // Ours and not writable by others: only readable bits to drop, which we may do.
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                        .map_err(|e| cannot_create(dir, e))?;
                }
            }
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(|e| cannot_create(dir, e))?;
    Ok(())
}

fn cannot_create(dir: &Path, err: std::io::Error) -> EngineError {
    EngineError::DataDir(format!("cannot create the data directory {}: {err}", dir.display()))
}

/// Takes the exclusive lock of `dir` without waiting; when another engine holds it, says which process.
pub(crate) fn lock(dir: &Path) -> Result<Lock> {
    let path: PathBuf = dir.join(LOCK_FILE);
    let io_err = |e: std::io::Error| EngineError::DataDir(format!("cannot use the lock file {}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options.open(&path).map_err(io_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock(2) on a descriptor this function owns; LOCK_NB makes it return at once.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io_err(err));
            }
            let mut text = String::new();
            let _ = (&file).take(32).read_to_string(&mut text);
            let pid = text.trim();
            let pid = if pid.is_empty() { "unknown".to_string() } else { pid.to_string() };
            return Err(EngineError::DataDir(format!(
                "another Crane engine (pid {pid}) uses this data directory ({}): one is already running there; stop \
                 it (or talk to it with cranectl), or pass another --data-dir",
                dir.display()
            )));
        }
    }
    // The lock is ours: record who holds it, for the message a second engine shows.
    file.set_len(0).and_then(|()| file.rewind()).map_err(io_err)?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes()).map_err(io_err)?;
    Ok(Lock { _file: file })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o777
    }

    #[test]
    fn new_dir_is_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/data");
        secure(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        // Readable by others but ours: tightened.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        secure(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn writable_by_others_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        for bits in [0o777, 0o770, 0o702] {
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(bits)).unwrap();
            let err = secure(tmp.path()).unwrap_err().to_string();
            assert!(err.contains(&tmp.path().display().to_string()), "{err}");
            assert!(err.contains("chmod 700") && err.contains("writable by group or others"), "{err}");
            assert_eq!(mode(tmp.path()), bits, "nothing changed");
        }
    }

    #[test]
    fn owned_by_another_user_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(tmp.path(), Some(65534), Some(65534)).unwrap();
            assert_eq!(std::fs::metadata(tmp.path()).unwrap().uid(), 65534);
        } else {
            // Not root: a directory of another user is the root-owned /.
            let err = secure(Path::new("/")).unwrap_err().to_string();
            assert!(err.contains("owned by user id 0"), "{err}");
            return;
        }
        let err = secure(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("owned by user id 65534") && err.contains("chmod 700"), "{err}");
    }

    #[test]
    fn second_lock_names_the_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let first = prepare(tmp.path()).unwrap();
        let err = prepare(tmp.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("another Crane engine (pid {}) uses this data directory", std::process::id())),
            "{err}"
        );
        assert_eq!(mode(&tmp.path().join(LOCK_FILE)), 0o600);
        drop(first);
        prepare(tmp.path()).unwrap();
    }
}
