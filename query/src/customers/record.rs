//! The cached customer record: a visible customer's read-model row with the
//! summary of its facts, what a detail or a profile is computed from (and
//! what the read cache keeps).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use events::values::ActivityType;
use projector::profile::{self, Activity, Facts, Profile, Purchase};
use web::ApiError;

use super::summary::{push_visibility, CustomerSummary, SUMMARY_COLUMNS};
use crate::visibility::Visibility;

/// A visible customer's row, with the summary of its facts the projection
/// keeps (what the profile as of now needs).
#[derive(sqlx::FromRow)]
pub(crate) struct CustomerRecord {
    #[sqlx(flatten)]
    pub(super) summary: CustomerSummary,
    pub(super) stage_entered_at: DateTime<Utc>,
    pub(super) purchase_count: i32,
    pub(super) total_amount: Decimal,
    first_purchase_at: Option<DateTime<Utc>>,
    last_purchase_at: Option<DateTime<Utc>>,
    purchase_categories: Vec<String>,
    purchase_category_counts: Vec<i32>,
    activity_types: Vec<String>,
}

impl CustomerRecord {
    pub(crate) fn summary_id(&self) -> Uuid {
        self.summary.id
    }

    /// Roughly the memory the record holds, for the read cache's budget.
    pub(crate) fn approximate_bytes(&self) -> usize {
        let summary = &self.summary;
        let required = [
            &summary.name,
            &summary.owner_id,
            &summary.stage,
            &summary.lifecycle,
        ]
        .map(|text| text.len());
        let optional = [
            &summary.company,
            &summary.phone,
            &summary.email,
            &summary.industry,
            &summary.position,
            &summary.source,
        ]
        .map(|text| text.as_ref().map_or(0, String::len));
        let lists: usize = summary
            .tags
            .iter()
            .chain(&self.purchase_categories)
            .chain(&self.activity_types)
            .map(|text| text.len() + std::mem::size_of::<String>())
            .sum();
        std::mem::size_of::<Self>()
            + required.iter().sum::<usize>()
            + optional.iter().sum::<usize>()
            + lists
            + self.purchase_category_counts.len() * std::mem::size_of::<i32>()
    }

    fn facts_summary(&self) -> profile::Summary {
        let purchase_count = usize::try_from(self.purchase_count).unwrap_or(0);
        profile::Summary {
            registered_at: self.summary.registered_at,
            purchase_count,
            // The sum of no purchases is a plain 0, as when summing the history.
            total_amount: if purchase_count == 0 {
                Decimal::ZERO
            } else {
                self.total_amount
            },
            first_purchase_at: self.first_purchase_at,
            last_purchase_at: self.last_purchase_at,
            last_contact_at: self.summary.last_contact_at,
            categories: self
                .purchase_categories
                .iter()
                .zip(&self.purchase_category_counts)
                .map(|(category, count)| (category.clone(), usize::try_from(*count).unwrap_or(0)))
                .collect(),
            activity_types: self
                .activity_types
                .iter()
                .filter_map(|kind| kind.parse::<ActivityType>().ok())
                .collect(),
        }
    }

    /// The profile at `as_of`: from the row's summary when every fact is
    /// known by then (the usual "now"), else from the histories.
    pub(super) async fn profile(
        &self,
        pool: &PgPool,
        as_of: DateTime<Utc>,
    ) -> Result<Profile, ApiError> {
        if self.summary.last_contact_at <= as_of {
            return Ok(profile::profile_of(&self.facts_summary(), as_of));
        }
        let facts = facts(pool, self.summary.id, self.summary.registered_at).await?;
        Ok(profile::profile(&facts, as_of))
    }
}

/// The record of customer `id` if the caller may see it, else 404.
pub(super) async fn visible_record(
    pool: &PgPool,
    visibility: &Visibility,
    id: Uuid,
) -> Result<CustomerRecord, ApiError> {
    let mut builder = QueryBuilder::<Postgres>::new("SELECT ");
    builder.push(SUMMARY_COLUMNS).push_bind(Utc::now()).push(
        ") AS lifecycle, stage_entered_at, purchase_count, total_amount, first_purchase_at,
             last_purchase_at, purchase_categories, purchase_category_counts, activity_types
             FROM rm_customers",
    );
    push_visibility(&mut builder, visibility);
    builder.push(" AND id = ").push_bind(id);
    builder
        .build_query_as()
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| ApiError::NotFound("customer not found".into()))
}

/// A customer's purchase and activity histories, for a profile in the past.
async fn facts(pool: &PgPool, id: Uuid, registered_at: DateTime<Utc>) -> Result<Facts, ApiError> {
    let purchases: Vec<(DateTime<Utc>, Decimal, String)> = sqlx::query_as(
        "SELECT occurred_at, amount, category FROM rm_purchases WHERE customer_id = $1 ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let activities: Vec<(DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT occurred_at, activity_type FROM rm_activities WHERE customer_id = $1 ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Facts {
        registered_at,
        purchases: purchases
            .into_iter()
            .map(|(occurred_at, amount, category)| Purchase {
                occurred_at,
                amount,
                category,
            })
            .collect(),
        activities: activities
            .into_iter()
            .filter_map(|(occurred_at, kind)| {
                kind.parse::<ActivityType>()
                    .ok()
                    .map(|activity_type| Activity {
                        occurred_at,
                        activity_type,
                    })
            })
            .collect(),
    })
}
