//! The migrations in `schema/` are embedded at compile time (`sqlx::migrate!`
//! and `#[sqlx::test(migrations = ...)]`): rebuild when one is added or changed.
fn main() {
    println!("cargo:rerun-if-changed=../schema");
}
