//! The files under the data directory. When we are root they must end up
//! usable by the server user without opening the data directory to everyone,
//! and a cluster left behind by another account must be handed over; a path
//! the server user cannot reach is reported up front rather than as an
//! obscure initdb failure.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::server_user::{ServerUser, SERVER_USER};

/// Whether `user` may search (traverse) a directory with these owner and mode
/// bits. Only the primary group counts: privileges are dropped without
/// supplementary groups.
fn can_traverse(mode: u32, owner: u32, group: u32, user: ServerUser) -> bool {
    let bit = if owner == user.uid {
        0o100
    } else if group == user.gid {
        0o010
    } else {
        0o001
    };
    mode & bit != 0
}

/// Creates the data directory and returns its absolute path. When we are root,
/// makes sure the server user can reach it: the data directory itself gets
/// search permission if it lacks it (search only, not listing), but its parents
/// are left alone; an unreachable parent is reported instead.
pub(super) fn prepare_data_dir(data_dir: &Path, run_as: Option<ServerUser>) -> Result<PathBuf> {
    fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let data_dir = fs::canonicalize(data_dir)
        .with_context(|| format!("cannot resolve the data directory {}", data_dir.display()))?;
    let Some(user) = run_as else {
        return Ok(data_dir);
    };
    let meta = fs::metadata(&data_dir)
        .with_context(|| format!("cannot inspect {}", data_dir.display()))?;
    if !can_traverse(meta.mode(), meta.uid(), meta.gid(), user) {
        let mode = meta.permissions().mode() | 0o111;
        fs::set_permissions(&data_dir, fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot make {} searchable", data_dir.display()))?;
    }
    for dir in data_dir.ancestors().skip(1) {
        let meta =
            fs::metadata(dir).with_context(|| format!("cannot inspect {}", dir.display()))?;
        if !can_traverse(meta.mode(), meta.uid(), meta.gid(), user) {
            bail!(
                "the data directory {} is inside {}, which the `{SERVER_USER}` user (uid {}) cannot enter \
                 (mode {:o}); PostgreSQL runs as that user. Set CRM_DATA_DIR to a directory outside it \
                 (e.g. /var/lib/crm), or set DATABASE_URL to use an existing server",
                data_dir.display(),
                dir.display(),
                user.uid,
                meta.mode() & 0o7777
            );
        }
    }
    Ok(data_dir)
}

/// Creates `pg/` with the 0700 mode PostgreSQL insists on, owned by the server user.
pub(super) fn prepare_cluster_dir(cluster_dir: &Path, run_as: Option<ServerUser>) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(cluster_dir) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => {
            return Err(error).with_context(|| format!("cannot create {}", cluster_dir.display()))
        }
    }
    if let Some(user) = run_as {
        let meta = fs::symlink_metadata(cluster_dir)
            .with_context(|| format!("cannot inspect {}", cluster_dir.display()))?;
        if meta.uid() != user.uid || meta.gid() != user.gid {
            // A cluster created by someone else (e.g. an earlier non-root run)
            // must be handed over entirely, or the server cannot open its files.
            chown_tree(cluster_dir, user)?;
        }
    }
    Ok(())
}

/// Pre-creates the log so the server user can append to it even though it
/// cannot write to the (root-owned) data directory.
pub(super) fn prepare_log_file(log_file: &Path, run_as: Option<ServerUser>) -> Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log_file)
        .with_context(|| format!("cannot create {}", log_file.display()))?;
    if let Some(user) = run_as {
        std::os::unix::fs::chown(log_file, Some(user.uid), Some(user.gid)).with_context(|| {
            format!(
                "cannot hand {} to the {SERVER_USER} user",
                log_file.display()
            )
        })?;
    }
    Ok(())
}

/// Recursive chown that never follows symlinks (tablespace links point elsewhere).
fn chown_tree(root: &Path, user: ServerUser) -> Result<()> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        std::os::unix::fs::lchown(&path, Some(user.uid), Some(user.gid))
            .with_context(|| format!("cannot hand {} to the {SERVER_USER} user", path.display()))?;
        let meta = fs::symlink_metadata(&path)
            .with_context(|| format!("cannot inspect {}", path.display()))?;
        if meta.is_dir() {
            for entry in
                fs::read_dir(&path).with_context(|| format!("cannot list {}", path.display()))?
            {
                pending.push(
                    entry
                        .with_context(|| format!("cannot list {}", path.display()))?
                        .path(),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_uses_the_matching_permission_class() {
        let user = ServerUser { uid: 101, gid: 104 };
        assert!(!can_traverse(0o700, 0, 0, user)); // /root
        assert!(can_traverse(0o711, 0, 0, user));
        assert!(can_traverse(0o750, 0, 104, user)); // group member
        assert!(!can_traverse(0o705, 0, 104, user)); // group bits win over other
        assert!(can_traverse(0o700, 101, 0, user)); // owner
    }
}
