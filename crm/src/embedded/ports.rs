//! Which loopback port the server listens on. Reusing the last one keeps the
//! database URL stable across restarts; postmaster.pid tells the port of a
//! server we adopt after a crash.

use std::net::{Ipv4Addr, TcpListener};

use anyhow::{Context, Result};
use tracing::info;

/// The stored port if nothing listens on it, else a fresh one from the kernel.
/// There is a small window before the server binds it; pg_ctl then fails and
/// the next start picks another port.
pub(super) fn choose_port(stored: Option<u16>) -> Result<u16> {
    if let Some(port) = stored {
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
        info!(
            port,
            "the stored PostgreSQL port is taken; choosing another"
        );
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot find a free TCP port on 127.0.0.1")?;
    Ok(listener
        .local_addr()
        .context("cannot read the chosen port")?
        .port())
}

pub(super) fn parse_port(text: &str) -> Option<u16> {
    text.trim().parse().ok().filter(|&port| port != 0)
}

/// postmaster.pid line 4 is the port (PID, data dir, start time, port, ...).
pub(super) fn pid_file_port(text: &str) -> Option<u16> {
    text.lines().nth(3).and_then(parse_port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_parsed_strictly() {
        assert_eq!(parse_port("5433\n"), Some(5433));
        assert_eq!(parse_port("0"), None);
        assert_eq!(parse_port("70000"), None);
        assert_eq!(parse_port(""), None);
        let pid_file =
            "4242\n/data/pg\n1700000000\n5433\n/data/pg\n127.0.0.1\n  1234  5\nready   \n";
        assert_eq!(pid_file_port(pid_file), Some(5433));
        assert_eq!(pid_file_port("4242\n"), None);
    }
}
