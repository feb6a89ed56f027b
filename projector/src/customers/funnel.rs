//! Funnel totals per (tenant, owner, stage, furthest rank), kept by the
//! customers projection in the same transaction as `rm_customers`: each batch
//! takes its customers' old rows out and puts their new rows in.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::row::CustomerRow;

pub const TABLE: &str = "rm_funnel_totals";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Group {
    tenant_id: Uuid,
    owner_id: String,
    stage: String,
    furthest_rank: i16,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
struct Figures {
    customers: i64,
    #[serde(with = "rust_decimal::serde::str")]
    total_value: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    weighted_value: Decimal,
    stay_micros: [i64; 6],
    stay_counts: [i64; 6],
}

impl Figures {
    fn is_zero(&self) -> bool {
        *self == Figures::default()
    }
}

#[derive(Serialize)]
struct DeltaRow<'a> {
    tenant_id: Uuid,
    owner_id: &'a str,
    stage: &'a str,
    furthest_rank: i16,
    #[serde(flatten)]
    figures: &'a Figures,
}

/// How a batch changes the totals.
#[derive(Debug, Default)]
pub(crate) struct Deltas(HashMap<Group, Figures>);

impl Deltas {
    /// Takes a customer's row as it was before the batch out of its group.
    pub(crate) fn remove(&mut self, row: &CustomerRow) {
        self.add(row, -1);
    }

    /// Puts a customer's row after the batch into its group.
    pub(crate) fn insert(&mut self, row: &CustomerRow) {
        self.add(row, 1);
    }

    fn add(&mut self, row: &CustomerRow, sign: i64) {
        if row.archived {
            return;
        }
        let figures = self
            .0
            .entry(Group {
                tenant_id: row.tenant_id,
                owner_id: row.owner_id.clone(),
                stage: row.stage.clone(),
                furthest_rank: row.furthest_rank,
            })
            .or_default();
        let factor = Decimal::from(sign);
        figures.customers += sign;
        figures.total_value += row.deal_value * factor;
        figures.weighted_value += row.deal_value * row.probability * factor;
        for (total, stay) in figures.stay_micros.iter_mut().zip(&row.stay_micros) {
            *total = total.saturating_add(stay.saturating_mul(sign));
        }
        for (total, stays) in figures.stay_counts.iter_mut().zip(&row.stay_counts) {
            *total += i64::from(*stays) * sign;
        }
    }

    /// Adds the changes to the table named with `suffix` and drops the groups
    /// left without customers.
    pub(crate) async fn write(
        &self,
        conn: &mut PgConnection,
        suffix: &str,
    ) -> Result<(), sqlx::Error> {
        let rows: Vec<DeltaRow> = self
            .0
            .iter()
            .filter(|(_, figures)| !figures.is_zero())
            .map(|(group, figures)| DeltaRow {
                tenant_id: group.tenant_id,
                owner_id: &group.owner_id,
                stage: &group.stage,
                furthest_rank: group.furthest_rank,
                figures,
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let json = crate::storable::to_json(&rows)
            .map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
        let table = format!("{TABLE}{suffix}");
        sqlx::query(&format!(
            "INSERT INTO {table} AS t
             SELECT * FROM jsonb_populate_recordset(NULL::{table}, $1::text::jsonb)
                 ON CONFLICT (tenant_id, owner_id, stage, furthest_rank) DO UPDATE
                SET customers = t.customers + excluded.customers,
                    total_value = t.total_value + excluded.total_value,
                    weighted_value = t.weighted_value + excluded.weighted_value,
                    stay_micros = ARRAY(SELECT a + b
                                          FROM unnest(t.stay_micros, excluded.stay_micros)
                                               WITH ORDINALITY AS s(a, b, i)
                                         ORDER BY i),
                    stay_counts = ARRAY(SELECT a + b
                                          FROM unnest(t.stay_counts, excluded.stay_counts)
                                               WITH ORDINALITY AS s(a, b, i)
                                         ORDER BY i)"
        ))
        .bind(json)
        .execute(&mut *conn)
        .await?;
        let mut tenants: Vec<Uuid> = rows.iter().map(|row| row.tenant_id).collect();
        tenants.sort_unstable();
        tenants.dedup();
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE tenant_id = ANY($1) AND customers = 0"
        ))
        .bind(&tenants)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// Replaces the totals in the table named with `suffix` by sums over the
/// customers (a rebuild, once its customer rows are all written).
pub(crate) async fn recompute(conn: &mut PgConnection, suffix: &str) -> Result<(), sqlx::Error> {
    let table = format!("{TABLE}{suffix}");
    sqlx::query(&format!("DELETE FROM {table}"))
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "INSERT INTO {table}
         SELECT tenant_id, owner_id, stage, furthest_rank, count(*), sum(deal_value),
                sum(deal_value * probability),
                ARRAY[sum(stay_micros[1]), sum(stay_micros[2]), sum(stay_micros[3]),
                      sum(stay_micros[4]), sum(stay_micros[5]), sum(stay_micros[6])]::bigint[],
                ARRAY[sum(stay_counts[1]), sum(stay_counts[2]), sum(stay_counts[3]),
                      sum(stay_counts[4]), sum(stay_counts[5]), sum(stay_counts[6])]::bigint[]
           FROM rm_customers{suffix}
          WHERE NOT archived
          GROUP BY tenant_id, owner_id, stage, furthest_rank"
    ))
    .execute(conn)
    .await?;
    Ok(())
}
