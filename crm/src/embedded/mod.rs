//! A private PostgreSQL server, run from the machine's installed server binaries.
//!
//! `crm serve` without `DATABASE_URL` should work out of the box, so instead of
//! asking operators to provision a database we initialise a cluster under the
//! data directory and run it on a loopback port:
//!
//! ```text
//! <data_dir>/pg/       the cluster (initdb output); also holds the Unix socket
//! <data_dir>/pg.log    the server log
//! <data_dir>/pg.port   the port, reused on later starts while it is free
//! ```
//!
//! The cluster uses `trust` authentication and listens on 127.0.0.1 only: it is
//! a convenience for single-machine setups, not a hardened deployment. Anyone
//! who can open a TCP connection to the loopback interface can connect as the
//! `postgres` superuser, so shared hosts should point `DATABASE_URL` at a
//! properly configured server instead.
//!
//! Unix-only: it relies on Unix ownership, permission bits and `pg_ctl`.
//!
//! The parts, in the order `start` needs them: `binaries` finds the installed
//! server programs; `server_user` picks the account to run them as when we are
//! root; `data_dir` prepares the directories and the log that account must be
//! able to use; `ports` picks the loopback port; `command_line` builds what
//! pg_ctl hands to /bin/sh; `server` runs the tools and owns the running server.

mod binaries;
mod command_line;
mod data_dir;
mod ports;
mod server;
mod server_user;
#[cfg(test)]
mod tests;

pub use server::EmbeddedPostgres;
