//! Finding the PostgreSQL server programs already installed on the machine:
//! distributions put them in different places (and Debian one directory per
//! major version), and running them from there is what lets `crm serve` work
//! without a database being provisioned first.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{anyhow, bail, Result};
use tokio::process::Command;
use tracing::debug;

/// Overrides binary discovery with an explicit directory.
const PG_BIN_ENV: &str = "CRM_PG_BIN";
/// The three programs we run; a directory is only usable if it has all of them.
const REQUIRED_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
/// Where Debian/Ubuntu install one `bin/` per major version.
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";

const NOT_FOUND: &str = "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. \
Install them (Debian/Ubuntu: `apt-get install postgresql`; Fedora/RHEL: `dnf install postgresql-server`; \
macOS: `brew install postgresql@16`), or set CRM_PG_BIN to the directory that contains them, \
or set DATABASE_URL to use an existing server.";

/// `CRM_PG_BIN`, then `pg_config --bindir`, then the newest
/// /usr/lib/postgresql/*/bin, then wherever `initdb` on PATH lives.
pub(super) async fn find_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(PG_BIN_ENV).filter(|dir| !dir.is_empty()) {
        // An explicit choice that does not work is an error, not a hint to guess.
        let dir = PathBuf::from(dir);
        if has_server_binaries(&dir) {
            return Ok(dir);
        }
        bail!(
            "{PG_BIN_ENV}={} does not contain initdb, pg_ctl and postgres",
            dir.display()
        );
    }
    let versions = fs::read_dir(DEBIAN_PG_ROOT)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    let candidates = candidate_bin_dirs(
        pg_config_bindir().await,
        Path::new(DEBIAN_PG_ROOT),
        versions,
        initdb_dirs_on_path(),
    );
    let found = candidates.into_iter().find(|dir| has_server_binaries(dir));
    if let Some(dir) = &found {
        debug!(bin_dir = %dir.display(), "found PostgreSQL server binaries");
    }
    found.ok_or_else(|| anyhow!(NOT_FOUND))
}

/// Orders the discovered candidates by preference (pure, so it can be tested).
fn candidate_bin_dirs(
    pg_config: Option<PathBuf>,
    versioned_root: &Path,
    mut versions: Vec<String>,
    on_path: Vec<PathBuf>,
) -> Vec<PathBuf> {
    // Highest version first; names that are not versions (e.g. "common") are skipped.
    versions.retain(|name| version_key(name).is_some());
    versions.sort_by_key(|name| std::cmp::Reverse(version_key(name)));
    pg_config
        .into_iter()
        .chain(
            versions
                .iter()
                .map(|version| versioned_root.join(version).join("bin")),
        )
        .chain(on_path)
        .collect()
}

/// "9.6" -> [9, 6], "16" -> [16]; compares numerically so 16 > 9.6.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// `pg_config --bindir`, if pg_config exists and answers.
async fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .output()
        .await
        .ok()?;
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    (output.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// Directories of every `initdb` on PATH: the directory as found, then the one
/// its symlink resolves to (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin).
fn initdb_dirs_on_path() -> Vec<PathBuf> {
    let Some(path) = std::env::var_os("PATH") else {
        return Vec::new();
    };
    let mut dirs = Vec::new();
    for dir in std::env::split_paths(&path) {
        let initdb = dir.join("initdb");
        if !is_executable(&initdb) {
            continue;
        }
        dirs.push(dir);
        if let Some(real_dir) = fs::canonicalize(&initdb)
            .ok()
            .and_then(|real| real.parent().map(Path::to_path_buf))
        {
            if !dirs.contains(&real_dir) {
                dirs.push(real_dir);
            }
        }
    }
    dirs
}

fn has_server_binaries(dir: &Path) -> bool {
    REQUIRED_BINARIES
        .iter()
        .all(|program| is_executable(&dir.join(program)))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_ordered_by_preference() {
        let root = Path::new("/usr/lib/postgresql");
        let candidates = candidate_bin_dirs(
            Some(PathBuf::from("/opt/pg/bin")),
            root,
            vec!["9.6".into(), "16".into(), "common".into(), "15".into()],
            vec![PathBuf::from("/usr/local/bin")],
        );
        assert_eq!(
            candidates,
            vec![
                PathBuf::from("/opt/pg/bin"),
                PathBuf::from("/usr/lib/postgresql/16/bin"),
                PathBuf::from("/usr/lib/postgresql/15/bin"),
                PathBuf::from("/usr/lib/postgresql/9.6/bin"),
                PathBuf::from("/usr/local/bin"),
            ]
        );
    }

    #[test]
    fn candidates_without_pg_config() {
        let candidates = candidate_bin_dirs(None, Path::new("/x"), vec![], vec![]);
        assert!(candidates.is_empty());
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_key("16") > version_key("9.6"));
        assert!(version_key("10") > version_key("9"));
        assert_eq!(version_key("common"), None);
        assert_eq!(version_key(""), None);
    }
}
