//! The formulas' constants (docs/design.md §5), in one place. The SQL
//! function `crm_lifecycle` (migration 0011) mirrors them; a test compares
//! the two at every boundary.

/// A day, in seconds.
pub const SECONDS_PER_DAY: i64 = 86_400;
/// A month, in days (recency scores, predicted value).
pub const DAYS_PER_MONTH: i64 = 30;
/// A customer without purchases stays a prospect this long after its last contact.
pub const PROSPECT_DAYS: i64 = 180;
/// A customer with one purchase is new this long after its last contact.
pub const NEW_DAYS: i64 = 60;
/// A customer with a recency score of 1 is lost after this much silence.
pub const LOST_DAYS: i64 = 180;
/// Churn risk: contact older than this adds 0.3 …
pub const CHURN_CONTACT_DAYS: i64 = 90;
/// … older than this another 0.3 …
pub const CHURN_SILENT_DAYS: i64 = 180;
/// … and no purchase within this adds 0.4.
pub const CHURN_PURCHASE_DAYS: i64 = 180;
/// Monetary score: one point per this many yuan.
pub const MONETARY_STEP_YUAN: i64 = 1_000;
