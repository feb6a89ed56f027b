//! Customer list and search, detail, timeline and profile.
//!
//! [`list`] serves the list with its filters and keyset cursor, [`detail`]
//! a customer and its profile from its [`record`] (kept by the read cache),
//! [`timeline`] its history; [`summary`] is the row and the conditions they
//! share.

pub(crate) mod detail;
pub(crate) mod list;
pub(crate) mod record;
mod summary;
pub(crate) mod timeline;
pub(crate) use summary::page_size;
