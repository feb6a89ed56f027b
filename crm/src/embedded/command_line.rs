//! What pg_ctl's command line can carry. pg_ctl runs the server through
//! /bin/sh, so the options need shell quoting and the data directory must be
//! free of characters the shell would interpret; the Unix socket path has a
//! length limit of its own.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// `sun_path` capacity minus the terminating NUL; PostgreSQL refuses longer socket paths.
#[cfg(target_os = "linux")]
const MAX_SOCKET_PATH: usize = 107;
#[cfg(not(target_os = "linux"))]
const MAX_SOCKET_PATH: usize = 103;

/// The `pg_ctl -o` string. pg_ctl passes it through /bin/sh, hence the quoting;
/// `-k ''` disables the Unix socket when the path would be too long.
pub(super) fn server_options(port: u16, socket_dir: Option<&str>) -> String {
    let socket_dir = socket_dir.map_or_else(|| "''".to_owned(), shell_quote);
    format!("-p {port} -c listen_addresses=127.0.0.1 -k {socket_dir}")
}

pub(super) fn socket_path_fits(dir: &str, port: u16) -> bool {
    format!("{dir}/.s.PGSQL.{port}").len() <= MAX_SOCKET_PATH
}

/// Single-quotes for /bin/sh: `'` becomes `'\''`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// pg_ctl puts -D and -l inside double quotes in a shell command, where these
/// characters would be interpreted; refuse them up front with a clear message.
pub(super) fn ensure_shell_safe(path: &Path) -> Result<()> {
    let text = path
        .to_str()
        .with_context(|| format!("the data directory {} is not valid UTF-8", path.display()))?;
    if let Some(bad) = text
        .chars()
        .find(|c| matches!(c, '"' | '$' | '`' | '\\' | '\n'))
    {
        bail!(
            "the data directory {text:?} contains {bad:?}, which pg_ctl cannot handle; set CRM_DATA_DIR to a plainer path"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_options_quote_the_socket_dir() {
        assert_eq!(
            server_options(5433, Some("/tmp/it's data/pg")),
            r"-p 5433 -c listen_addresses=127.0.0.1 -k '/tmp/it'\''s data/pg'"
        );
        assert_eq!(
            server_options(5433, None),
            "-p 5433 -c listen_addresses=127.0.0.1 -k ''"
        );
    }

    #[test]
    fn long_socket_paths_are_detected() {
        assert!(socket_path_fits("/srv/crm/data/pg", 65535));
        assert!(!socket_path_fits(&format!("/{}", "d".repeat(100)), 5432));
    }

    #[test]
    fn shell_hostile_paths_are_refused() {
        assert!(ensure_shell_safe(Path::new("/srv/my data/crm")).is_ok());
        assert!(ensure_shell_safe(Path::new("/srv/$HOME")).is_err());
        assert!(ensure_shell_safe(Path::new("/srv/\"x\"")).is_err());
    }
}
