//! The `customers` projection: one row per customer plus its purchases,
//! activities and completed funnel stays. A batch is folded in memory
//! (`fold`) and written with a handful of set-based statements. The funnel
//! totals are part of it ([`funnel`]).

mod fold;
pub(crate) mod funnel;
mod history;
mod row;
mod stages;

pub use fold::replay;
pub use row::CustomerRow;
pub use stages::{rank, stay_index};

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use events::personal::DataKey;
use events::CustomerEvent;

use crate::copy::{copy_rows, insert_json, Rows};
use crate::profile::{Activity, Facts, Purchase};
use fold::Changes;
use funnel::Deltas;
use store::source::StoredEvent;

/// Tables this projection owns (rebuilds swap all of them together).
pub const TABLES: &[&str] = &[
    "rm_customers",
    "rm_purchases",
    "rm_activities",
    "rm_stage_stays",
    funnel::TABLE,
];

/// What the profile formulas read, from one stream's events.
pub fn facts(registered_at: DateTime<Utc>, events: &[StoredEvent]) -> Facts {
    let mut facts = Facts {
        registered_at,
        purchases: Vec::new(),
        activities: Vec::new(),
    };
    for stored in events {
        match &stored.event {
            CustomerEvent::PurchaseRecorded(purchase) => facts.purchases.push(Purchase {
                occurred_at: purchase.occurred_at,
                amount: purchase.amount.amount(),
                category: purchase.category.to_string(),
            }),
            CustomerEvent::ActivityLogged(activity) => facts.activities.push(Activity {
                occurred_at: activity.occurred_at,
                activity_type: activity.activity_type,
            }),
            _ => {}
        }
    }
    facts
}

/// Applies a batch to the tables named with `suffix` ("" live, "_rebuild" during a rebuild).
pub async fn apply(
    conn: &mut PgConnection,
    suffix: &str,
    batch: &[StoredEvent],
    keys: &HashMap<Uuid, Option<DataKey>>,
    existing_rows: Rows,
) -> Result<(), sqlx::Error> {
    let existing: Vec<CustomerRow> = if existing_rows == Rows::Existing {
        let mut ids: Vec<Uuid> = batch.iter().map(|stored| stored.customer_id).collect();
        ids.sort_unstable();
        ids.dedup();
        sqlx::query_as(&format!(
            "SELECT * FROM rm_customers{suffix} WHERE id = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?
    } else {
        Vec::new()
    };
    let mut funnel = Deltas::default();
    for row in &existing {
        funnel.remove(row);
    }
    let mut changes = Changes {
        keys: keys.clone(),
        customers: existing.into_iter().map(|row| (row.id, row)).collect(),
        ..Changes::default()
    };
    for stored in batch {
        // Replay safety: an event the row already reflects changes nothing.
        let seen = changes
            .customers
            .get(&stored.customer_id)
            .is_some_and(|row| row.version >= stored.sequence);
        if !seen {
            changes.apply(stored);
        }
    }
    let rows: Vec<&CustomerRow> = changes.customers.values().collect();
    match existing_rows {
        Rows::Fresh => {
            copy_rows(conn, &format!("rm_customers{suffix}"), rows.iter().copied()).await?;
            copy_rows(conn, &format!("rm_purchases{suffix}"), &changes.purchases).await?;
            copy_rows(conn, &format!("rm_activities{suffix}"), &changes.activities).await?;
            copy_rows(conn, &format!("rm_stage_stays{suffix}"), &changes.stays).await?;
        }
        Rows::Existing => {
            for row in &rows {
                funnel.insert(row);
            }
            funnel.write(conn, suffix).await?;
            let touched: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
            sqlx::query(&format!(
                "DELETE FROM rm_customers{suffix} WHERE id = ANY($1)"
            ))
            .bind(&touched)
            .execute(&mut *conn)
            .await?;
            insert_json(conn, &format!("rm_customers{suffix}"), &rows, false).await?;
            insert_json(
                conn,
                &format!("rm_purchases{suffix}"),
                &changes.purchases,
                true,
            )
            .await?;
            insert_json(
                conn,
                &format!("rm_activities{suffix}"),
                &changes.activities,
                true,
            )
            .await?;
            insert_json(
                conn,
                &format!("rm_stage_stays{suffix}"),
                &changes.stays,
                true,
            )
            .await?;
        }
    }
    Ok(())
}

/// Removes the rows of `customers` (and their share of the funnel totals),
/// so that their streams can be folded again from the first event.
pub(crate) async fn reset(conn: &mut PgConnection, customers: &[Uuid]) -> Result<(), sqlx::Error> {
    let existing: Vec<CustomerRow> =
        sqlx::query_as("SELECT * FROM rm_customers WHERE id = ANY($1)")
            .bind(customers)
            .fetch_all(&mut *conn)
            .await?;
    let mut funnel = Deltas::default();
    for row in &existing {
        funnel.remove(row);
    }
    funnel.write(conn, "").await?;
    for (table, key) in [
        ("rm_customers", "id"),
        ("rm_purchases", "customer_id"),
        ("rm_activities", "customer_id"),
        ("rm_stage_stays", "customer_id"),
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE {key} = ANY($1)"))
            .bind(customers)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
