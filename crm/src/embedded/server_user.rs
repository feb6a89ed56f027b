//! Who the server runs as. PostgreSQL refuses to run as root, so when `crm`
//! is root the tools must drop to an unprivileged account, and everything that
//! creates files for the server needs to know which one.

use std::fs;
use std::os::unix::fs::MetadataExt;

use anyhow::{anyhow, Result};

/// Both the OS account the server runs as when we are root and the database superuser.
pub(super) const SERVER_USER: &str = "postgres";

/// An unprivileged account to run the server as (PostgreSQL refuses to run as root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ServerUser {
    pub(super) uid: u32,
    pub(super) gid: u32,
}

/// /proc/self is owned by the effective uid; where it cannot be read (e.g.
/// macOS) assume not root and let PostgreSQL complain if that is wrong.
pub(super) fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

pub(super) fn server_user() -> Result<ServerUser> {
    let no_user = || {
        anyhow!(
            "running as root, and PostgreSQL refuses to run as root, but there is no `{SERVER_USER}` \
             system user to run it as. Create an unprivileged `{SERVER_USER}` user (installing the \
             postgresql package usually does), run crm as a non-root user, or set DATABASE_URL to \
             use an existing server"
        )
    };
    let passwd = fs::read_to_string("/etc/passwd").map_err(|_| no_user())?;
    parse_passwd_user(&passwd, SERVER_USER).ok_or_else(no_user)
}

/// Finds `name` in /etc/passwd contents (`name:password:uid:gid:gecos:home:shell`).
fn parse_passwd_user(passwd: &str, name: &str) -> Option<ServerUser> {
    passwd
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .find_map(|line| {
            let mut fields = line.split(':');
            if fields.next()? != name {
                return None;
            }
            let _password = fields.next()?;
            let uid = fields.next()?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some(ServerUser { uid, gid })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment
postgresql:x:998:998::/nonexistent:/usr/sbin/nologin

postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash
";

    #[test]
    fn passwd_lookup_matches_the_whole_name() {
        assert_eq!(
            parse_passwd_user(PASSWD, "postgres"),
            Some(ServerUser { uid: 101, gid: 104 })
        );
        assert_eq!(
            parse_passwd_user(PASSWD, "root"),
            Some(ServerUser { uid: 0, gid: 0 })
        );
        assert_eq!(parse_passwd_user(PASSWD, "postgre"), None);
        assert_eq!(parse_passwd_user(PASSWD, "nobody"), None);
    }

    #[test]
    fn passwd_lookup_skips_malformed_lines() {
        assert_eq!(
            parse_passwd_user("postgres:x:abc:1::/:/bin/sh", "postgres"),
            None
        );
        assert_eq!(parse_passwd_user("postgres:x", "postgres"), None);
    }
}
