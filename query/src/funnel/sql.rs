//! The SQL of the funnel and the segments: which customers they count, the
//! sums per (stage, furthest rank), the top cards, the lifecycle counts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::figures::{CustomerCard, StageGroup};
use crate::visibility::Visibility;

/// The customers a funnel or the segments count: visible, not archived,
/// and for a funnel perhaps of one owner and registered in a period.
pub(super) struct Scope<'a> {
    pub visibility: &'a Visibility,
    pub owner_id: Option<&'a str>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl<'a> Scope<'a> {
    /// Every visible customer not archived.
    pub fn visible(visibility: &'a Visibility) -> Self {
        Scope {
            visibility,
            owner_id: None,
            from: None,
            to: None,
        }
    }

    /// `WHERE` conditions on `rm_customers` for the scope's customers.
    fn push_filters(&self, builder: &mut QueryBuilder<'_, Postgres>) {
        builder
            .push(" WHERE tenant_id = ")
            .push_bind(self.visibility.tenant_id)
            .push(" AND NOT archived");
        self.visibility.push_owner_filter(builder);
        if let Some(owner) = self.owner_id {
            builder.push(" AND owner_id = ").push_bind(owner.to_owned());
        }
        if let Some(from) = self.from {
            builder.push(" AND registered_at >= ").push_bind(from);
        }
        if let Some(to) = self.to {
            builder.push(" AND registered_at < ").push_bind(to);
        }
    }
}

/// Sums per (stage, furthest rank), which give both the stage figures and
/// the reach. Without a period they come from the totals the projection
/// keeps per owner; a period needs each customer's registration time, so
/// then one pass over the customers.
pub(super) async fn stage_groups(
    pool: &PgPool,
    scope: &Scope<'_>,
) -> Result<Vec<StageGroup>, sqlx::Error> {
    let mut builder = QueryBuilder::<Postgres>::new("WITH groups AS (");
    if scope.from.is_none() && scope.to.is_none() {
        builder
            .push(
                "SELECT stage, furthest_rank, customers, total_value, weighted_value,
                        stay_micros, stay_counts
                   FROM rm_funnel_totals WHERE tenant_id = ",
            )
            .push_bind(scope.visibility.tenant_id);
        scope.visibility.push_owner_filter(&mut builder);
        if let Some(owner) = scope.owner_id {
            builder.push(" AND owner_id = ").push_bind(owner.to_owned());
        }
    } else {
        builder.push(
            "SELECT stage, furthest_rank, 1 AS customers, deal_value AS total_value,
                    deal_value * probability AS weighted_value, stay_micros, stay_counts
               FROM rm_customers",
        );
        scope.push_filters(&mut builder);
    }
    builder.push(
        ") SELECT stage, furthest_rank, sum(customers)::bigint,
                  coalesce(sum(total_value), 0), coalesce(sum(weighted_value), 0),
                  ARRAY[sum(stay_micros[1]), sum(stay_micros[2]), sum(stay_micros[3]),
                        sum(stay_micros[4]), sum(stay_micros[5]), sum(stay_micros[6])]::bigint[],
                  ARRAY[sum(stay_counts[1]), sum(stay_counts[2]), sum(stay_counts[3]),
                        sum(stay_counts[4]), sum(stay_counts[5]), sum(stay_counts[6])]::bigint[]
             FROM groups GROUP BY stage, furthest_rank",
    );
    type Group = (String, i16, i64, Decimal, Decimal, Vec<i64>, Vec<i64>);
    let rows: Vec<Group> = builder.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                stage,
                furthest_rank,
                customers,
                total_value,
                weighted_value,
                stay_micros,
                stay_counts,
            )| {
                StageGroup {
                    stage,
                    furthest_rank,
                    customers,
                    total_value,
                    weighted_value,
                    stay_micros,
                    stay_counts,
                }
            },
        )
        .collect())
}

/// Per stage, the top `cards` by deal value, straight from the (tenant,
/// stage, deal_value) index.
pub(super) async fn top_cards(
    pool: &PgPool,
    scope: &Scope<'_>,
    cards: i64,
) -> Result<Vec<CustomerCard>, sqlx::Error> {
    let mut builder = QueryBuilder::<Postgres>::new(
        "SELECT card.* FROM unnest(ARRAY['lead', 'qualified', 'proposal', 'negotiation',
                                         'closed_won', 'closed_lost']) AS wanted(stage)
         CROSS JOIN LATERAL (
            SELECT id, name, company, deal_value, probability, owner_id,
                   (SELECT d.display_name FROM directory_users d
                     WHERE d.tenant_id = rm_customers.tenant_id
                       AND d.login = rm_customers.owner_id) AS owner_name,
                   last_activity_at, tags[1:2] AS tags, stage
              FROM rm_customers",
    );
    scope.push_filters(&mut builder);
    builder
        .push(" AND stage = wanted.stage ORDER BY deal_value DESC, id LIMIT ")
        .push_bind(cards)
        .push(") AS card");
    builder.build_query_as().fetch_all(pool).await
}

/// The scope's customers per lifecycle as of `as_of`.
pub(super) async fn lifecycle_counts(
    pool: &PgPool,
    scope: &Scope<'_>,
    as_of: DateTime<Utc>,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    // Only the columns segments read: the search columns are wide.
    let mut builder = QueryBuilder::<Postgres>::new(
        "WITH scope AS (SELECT purchase_count, total_amount, last_purchase_at, last_contact_at
           FROM rm_customers",
    );
    scope.push_filters(&mut builder);
    builder.push(") ");
    builder
        .push("SELECT crm_lifecycle(purchase_count, total_amount, last_purchase_at, last_contact_at, ")
        .push_bind(as_of)
        .push(") AS lifecycle, count(*)::bigint FROM scope GROUP BY 1");
    let counts = builder
        .build_query_as::<(String, i64)>()
        .fetch_all(pool)
        .await?;
    Ok(counts.into_iter().collect())
}
