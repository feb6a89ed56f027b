//! The engine: every [`RUN_INTERVAL`], for each tenant that switched a rule
//! on, the rows whose threshold instant has passed, and what the rule does
//! about each (see the crate's docs for why each acts once).

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use command::follow_up::{
    Actor, FollowUpAction, FollowUpCommand, FollowUpError, FollowUpFailure, FollowUpService, Plan,
};
use command::RequestContext;
use events::follow_up::ReminderLead;
use events::values::{ActivityType, TextField, UserId};
use events::Role;
use projector::profile::{profile_of, Summary};

use crate::rules::{self, Rule, RuleSettings};

/// How often the engine looks.
pub const RUN_INTERVAL: Duration = Duration::from_secs(60);
/// Rows a rule acts on per tenant and pass; the rest wait for the next.
const BATCH: i64 = 500;
/// The namespace of the stream ids of rules' follow-ups.
const RULE_NAMESPACE: Uuid = Uuid::from_u128(0x6372_6d2d_7275_6c65_2d66_6f6c_6c6f_7775);
/// The channel the notification feeds listen on (`notify::NOTIFICATIONS_CHANNEL`).
const NOTIFICATIONS_CHANNEL: &str = "crm_notifications";

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub follow_ups: usize,
    pub notifications: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Command(#[from] FollowUpFailure),
}

/// Applies the enabled rules every [`RUN_INTERVAL`] until `shutdown`.
pub async fn run(service: FollowUpService, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        match run_once(&service, Utc::now()).await {
            Ok(pass) if pass != Pass::default() => {
                tracing::info!(
                    follow_ups = pass.follow_ups,
                    notifications = pass.notifications,
                    "automation rules acted"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "an automation pass failed; the next one retries"),
        }
        tokio::select! {
            changed = shutdown.changed() => if changed.is_err() { break },
            () = tokio::time::sleep(RUN_INTERVAL) => {}
        }
    }
}

/// One pass of every enabled rule of every tenant, as of `now`.
pub async fn run_once(service: &FollowUpService, now: DateTime<Utc>) -> Result<Pass, EngineError> {
    let now = now.trunc_subsecs(6);
    let pool = service.pool();
    let mut pass = Pass::default();
    for (tenant, settings) in rules::enabled(pool, Rule::UncontactedLead).await? {
        pass.follow_ups += uncontacted_leads(service, tenant, settings, now).await?;
    }
    for (tenant, _) in rules::enabled(pool, Rule::TurnedAtRisk).await? {
        pass.follow_ups += turned_at_risk(service, tenant, now).await?;
    }
    for (tenant, settings) in rules::enabled(pool, Rule::OverdueEscalation).await? {
        pass.notifications += overdue_escalations(pool, tenant, settings, now).await?;
    }
    Ok(pass)
}

/// Schedules the rule's follow-up `key` names; answers whether it was new.
async fn schedule(
    service: &FollowUpService,
    rule: Rule,
    key: &str,
    tenant_id: Uuid,
    plan: Plan,
    now: DateTime<Utc>,
) -> Result<bool, EngineError> {
    let id = Uuid::new_v5(
        &RULE_NAMESPACE,
        format!("{}:{key}", rule.as_str()).as_bytes(),
    );
    let actor = Actor {
        tenant_id,
        user_id: UserId::parse(&rule.actor())
            .map_err(|error| FollowUpFailure::Internal(error.into()))?,
        role: Role::Admin,
    };
    let command = FollowUpCommand {
        actor,
        now,
        expected_version: None,
        action: FollowUpAction::Schedule(plan),
    };
    let request = RequestContext {
        correlation_id: format!("{}:{key}", rule.actor()),
        idempotency_key: None,
        caused_by: None,
    };
    match service.execute(id, command, &request).await {
        Ok(_) => Ok(true),
        // Scheduled by an earlier pass, or by another instance right now
        // (its append won the stream's first sequence).
        Err(
            FollowUpFailure::Rejected(FollowUpError::AlreadyExists) | FollowUpFailure::Conflict,
        ) => Ok(false),
        // The customer was archived, erased or handed to an inactive owner
        // since the read model said otherwise: nothing to do for it.
        Err(FollowUpFailure::Rejected(refused)) => {
            tracing::info!(rule = rule.as_str(), key, %refused, "the rule's follow-up is not scheduled");
            Ok(false)
        }
        Err(failure) => Err(failure.into()),
    }
}

async fn uncontacted_leads(
    service: &FollowUpService,
    tenant_id: Uuid,
    settings: RuleSettings,
    now: DateTime<Utc>,
) -> Result<usize, EngineError> {
    let hours = settings.hours.unwrap_or(24);
    let cutoff = now - chrono::Duration::hours(i64::from(hours));
    let leads: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT c.id, c.owner_id FROM rm_customers c
          WHERE c.tenant_id = $1 AND c.stage = 'lead' AND NOT c.archived
            AND c.last_activity_at IS NULL AND c.registered_at <= $2
            AND NOT EXISTS (SELECT 1 FROM follow_ups f
                             WHERE f.tenant_id = c.tenant_id AND f.customer_id = c.id
                               AND f.scheduled_by = $3)
          ORDER BY c.registered_at LIMIT $4",
    )
    .bind(tenant_id)
    .bind(cutoff)
    .bind(Rule::UncontactedLead.actor())
    .bind(BATCH)
    .fetch_all(service.pool())
    .await?;
    let mut scheduled = 0;
    for (customer_id, owner) in leads {
        let Ok(owner) = UserId::parse(&owner) else {
            continue;
        };
        let plan = Plan {
            customer_id,
            activity_type: ActivityType::Call,
            subject: text(
                TextField::SUBJECT,
                &format!("联系新线索：登记 {hours} 小时内无人联系"),
            )?,
            notes: None,
            due_at: now,
            assignee: Some(owner),
            remind_before: ReminderLead::AT_DUE_TIME,
            opportunity_id: None,
        };
        let key = customer_id.to_string();
        if schedule(service, Rule::UncontactedLead, &key, tenant_id, plan, now).await? {
            scheduled += 1;
        }
    }
    Ok(scheduled)
}

#[derive(sqlx::FromRow)]
struct AtRisk {
    id: Uuid,
    owner_id: String,
    registered_at: DateTime<Utc>,
    purchase_count: i32,
    total_amount: Decimal,
    first_purchase_at: Option<DateTime<Utc>>,
    last_purchase_at: Option<DateTime<Utc>>,
    last_contact_at: DateTime<Utc>,
}

async fn turned_at_risk(
    service: &FollowUpService,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<usize, EngineError> {
    // One episode per last purchase: a customer that buys again and later
    // turns at risk again gets a new follow-up.
    let customers: Vec<AtRisk> = sqlx::query_as(
        "SELECT c.id, c.owner_id, c.registered_at, c.purchase_count, c.total_amount,
                c.first_purchase_at, c.last_purchase_at, c.last_contact_at
           FROM rm_customers c
          WHERE c.tenant_id = $1 AND NOT c.archived AND c.last_purchase_at IS NOT NULL
            AND crm_lifecycle(c.purchase_count, c.total_amount, c.last_purchase_at,
                              c.last_contact_at, $2) = 'at_risk'
            AND NOT EXISTS (SELECT 1 FROM follow_ups f
                             WHERE f.tenant_id = c.tenant_id AND f.customer_id = c.id
                               AND f.scheduled_by = $3
                               AND f.scheduled_at > c.last_purchase_at)
          ORDER BY c.last_purchase_at LIMIT $4",
    )
    .bind(tenant_id)
    .bind(now)
    .bind(Rule::TurnedAtRisk.actor())
    .bind(BATCH)
    .fetch_all(service.pool())
    .await?;
    let mut scheduled = 0;
    for customer in customers {
        let Ok(owner) = UserId::parse(&customer.owner_id) else {
            continue;
        };
        let profile = profile_of(
            &Summary {
                registered_at: customer.registered_at,
                purchase_count: usize::try_from(customer.purchase_count).unwrap_or(0),
                total_amount: customer.total_amount,
                first_purchase_at: customer.first_purchase_at,
                last_purchase_at: customer.last_purchase_at,
                last_contact_at: customer.last_contact_at,
                categories: Vec::new(),
                activity_types: Vec::new(),
            },
            now,
        );
        let actions = profile.recommended_actions.join("\n");
        let plan = Plan {
            customer_id: customer.id,
            activity_type: ActivityType::Visit,
            subject: text(TextField::SUBJECT, "客户转为流失风险：安排回访")?,
            notes: if actions.is_empty() {
                None
            } else {
                Some(text(TextField::NOTES, &actions)?)
            },
            due_at: now,
            assignee: Some(owner),
            remind_before: ReminderLead::AT_DUE_TIME,
            opportunity_id: None,
        };
        let episode = customer
            .last_purchase_at
            .map(|at| at.timestamp_micros())
            .unwrap_or_default();
        let key = format!("{}:{episode}", customer.id);
        if schedule(service, Rule::TurnedAtRisk, &key, tenant_id, plan, now).await? {
            scheduled += 1;
        }
    }
    Ok(scheduled)
}

/// Notifies the managers of the teams of each assignee whose follow-up is
/// overdue by the rule's days; answers how many notifications it wrote.
async fn overdue_escalations(
    pool: &PgPool,
    tenant_id: Uuid,
    settings: RuleSettings,
    now: DateTime<Utc>,
) -> Result<i64, EngineError> {
    let days = settings.days.unwrap_or(3);
    let overdue_for = chrono::Duration::days(i64::from(days));
    let mut tx = pool.begin().await?;
    let (written, recipients): (i64, Vec<String>) = sqlx::query_as(
        "WITH managers AS (
             SELECT DISTINCT f.tenant_id, f.follow_up_id, f.customer_id, f.subject, f.due_at,
                    m.login AS manager
               FROM follow_ups f
               JOIN directory_team_members t ON t.tenant_id = f.tenant_id AND t.login = f.assignee
               JOIN directory_team_members m ON m.tenant_id = t.tenant_id AND m.team_id = t.team_id
                                            AND m.role = 'manager' AND m.login <> f.assignee
              WHERE f.tenant_id = $1 AND f.status = 'open' AND f.due_at <= $2 - $3::interval
                AND NOT EXISTS (SELECT 1 FROM notifications n
                                 WHERE n.tenant_id = f.tenant_id AND n.follow_up_id = f.follow_up_id
                                   AND n.kind = 'follow_up_overdue' AND n.due_at = f.due_at
                                   AND n.recipient = m.login)
              ORDER BY f.due_at
              LIMIT $4),
         written AS (
             INSERT INTO notifications (tenant_id, recipient, kind, follow_up_id, customer_id,
                                        subject, due_at, meant_for, late, dedupe_key)
             SELECT tenant_id, manager, 'follow_up_overdue', follow_up_id, customer_id,
                    subject, due_at, due_at + $3::interval, false,
                    'escalation:' || follow_up_id || '@'
                        || floor(extract(epoch FROM due_at) * 1000000)::bigint || ':' || manager
               FROM managers
             ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
             RETURNING tenant_id, recipient)
         SELECT (SELECT count(*) FROM written),
                ARRAY(SELECT DISTINCT tenant_id::text || ':' || recipient FROM written)",
    )
    .bind(tenant_id)
    .bind(now)
    .bind(overdue_for)
    .bind(BATCH)
    .fetch_one(&mut *tx)
    .await?;
    if !recipients.is_empty() {
        sqlx::query("SELECT pg_notify($1, key) FROM unnest($2::text[]) AS key")
            .bind(NOTIFICATIONS_CHANNEL)
            .bind(&recipients)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(written)
}

/// A rule's own text for `field`.
fn text(field: TextField, raw: &str) -> Result<events::values::ShortText, EngineError> {
    field
        .parse(raw)
        .map_err(|error| FollowUpFailure::Internal(error.into()).into())
}
