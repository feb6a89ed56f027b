//! The tenant's directory, read: users, teams, and `GET /v1/me`. Served from
//! the directory tables, which the write side keeps in the transaction of
//! each append, so an answer never lags a command.
//!
//! Everyone of the tenant may list its users and teams (a rep picks an owner
//! or a teammate); phone and e-mail are shown to admins and to the user
//! itself only.

pub(crate) mod me;
pub(crate) mod teams;
pub(crate) mod users;
