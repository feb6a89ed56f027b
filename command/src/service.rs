//! Runs commands against the event store: load the stream, decide, append.
//!
//! This is cqrs-es's `CqrsFramework::execute_with_metadata` over postgres-es in
//! event-store mode, driven step by step so the caller learns the version and
//! global position it appended (the framework returns `()`), and without query
//! dispatch: read models are built by projectors that keep checkpoints.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore};
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventStore};
use postgres_es::PostgresEventRepository;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tracing::Instrument;
use uuid::Uuid;

use crate::aggregate::{Action, Actor, Customer, CustomerCommand, CustomerError};
use events::values::UserId;
use events::CustomerEvent;
use events::Role;
use store::data_keys::{DataKeys, KeyError};

/// What a command answers: the stream, its new version and the global position
/// of its last event (pass it back as `?min_position=` to read your own write).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Accepted {
    pub id: Uuid,
    pub version: u64,
    pub position: i64,
}

/// Request facts recorded in every event's metadata.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub correlation_id: String,
    pub idempotency_key: Option<String>,
    /// Set when a policy issues the command: the event that caused it.
    pub caused_by: Option<CausedBy>,
}

/// The event a policy's command follows from, and the person whose act it
/// completes (the policy itself is the command's actor).
#[derive(Debug, Clone)]
pub struct CausedBy {
    pub event_id: Uuid,
    pub on_behalf_of: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error(transparent)]
    Rejected(#[from] CustomerError),
    /// Another writer appended to the stream first (optimistic concurrency).
    #[error("the customer was changed concurrently; reload and retry")]
    Conflict,
    #[error("the event store is unreachable: {0}")]
    Unavailable(String),
    #[error("event store failure: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl From<AggregateError<CustomerError>> for ExecuteError {
    fn from(error: AggregateError<CustomerError>) -> Self {
        match error {
            AggregateError::UserError(rejected) => ExecuteError::Rejected(rejected),
            AggregateError::AggregateConflict => ExecuteError::Conflict,
            AggregateError::DatabaseConnectionError(error) => {
                ExecuteError::Unavailable(error.to_string())
            }
            AggregateError::DeserializationError(error)
            | AggregateError::UnexpectedError(error) => ExecuteError::Internal(error),
        }
    }
}

/// The one rule of `store::database_unavailable`: an unreachable
/// database is retryable, anything else is a fault.
impl From<sqlx::Error> for ExecuteError {
    fn from(error: sqlx::Error) -> Self {
        if store::database_unavailable(&error) {
            ExecuteError::Unavailable(error.to_string())
        } else {
            ExecuteError::Internal(Box::new(error))
        }
    }
}

pub struct CommandService {
    pool: PgPool,
    store: PersistedEventStore<PostgresEventRepository, Customer>,
    data_keys: DataKeys,
}

impl CommandService {
    pub fn new(pool: PgPool, data_keys: DataKeys) -> Self {
        let store =
            PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone()));
        Self {
            pool,
            store,
            data_keys,
        }
    }

    pub fn data_keys(&self) -> &DataKeys {
        &self.data_keys
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Decides `command` on the customer's stream and appends what it produces.
    /// A command that changes nothing (a repeated `order_ref`, an existing tag)
    /// appends nothing and answers with the event it stands for.
    pub async fn execute(
        &self,
        customer_id: Uuid,
        command: CustomerCommand,
        request: &RequestContext,
    ) -> Result<Accepted, ExecuteError> {
        let span = tracing::info_span!(
            "execute",
            customer_id = %customer_id,
            command = command.action.name(),
            actor = %command.actor.user_id,
        );
        self.execute_inner(customer_id, command, request)
            .instrument(span)
            .await
    }

    async fn execute_inner(
        &self,
        customer_id: Uuid,
        mut command: CustomerCommand,
        request: &RequestContext,
    ) -> Result<Accepted, ExecuteError> {
        // Instants in events have PostgreSQL's precision, so states replayed
        // from events equal the stored read models exactly.
        command.now = command.now.trunc_subsecs(6);
        if let Some(key) = &request.idempotency_key {
            // The append committed but the idempotency record was lost (crash in
            // between): the event itself remembers the key.
            if let Some(done) = self
                .find_keyed_append(command.actor.tenant_id, command.actor.user_id.as_str(), key)
                .await?
            {
                return Ok(done);
            }
        }
        let stream_id = customer_id.to_string();
        let mut context = self.load(&stream_id).await?;
        if command.actor.role == Role::Manager {
            if let Some(owner) = context.aggregate().owner_id() {
                self.require_managed(&command.actor, owner).await?;
            }
        }
        let sink = EventSink::<Customer>::default();
        let mut metadata = base_metadata(&command, request);
        let now = command.now;
        let command_tenant = command.actor.tenant_id;
        let action = command.action.clone();
        let occurred_at = action.occurred_at(now);
        context
            .aggregate()
            .handle(command, &(), &sink)
            .await
            .map_err(ExecuteError::Rejected)?;
        let mut events = sink.collect().await;
        let tenant_id = command_tenant;
        if let Some(owner) = events.iter().find_map(new_owner) {
            self.require_active_owner(tenant_id, owner).await?;
        }
        if let Action::Forget { reason } = &action {
            // Destroy first: if the append then fails, the data is erased anyway
            // and a retry appends the event; the reverse order could leave the
            // key alive behind a CustomerForgotten.
            self.data_keys
                .destroy(customer_id, tenant_id, reason.as_str())
                .await
                .map_err(key_error)?;
        }
        if events.iter().any(CustomerEvent::has_personal_data) {
            let key = self
                .data_keys
                .get_or_create(customer_id, tenant_id)
                .await
                .map_err(key_error)?;
            for event in &mut events {
                event.seal_personal(&key, customer_id);
            }
        }
        if events.is_empty() {
            let sequence = context.aggregate().sequence_answering(&action);
            return self.accepted(customer_id, sequence).await;
        }
        metadata.insert("occurred_at".into(), rfc3339(occurred_at));
        let committed = self
            .store
            .commit(events, context, metadata)
            .instrument(tracing::debug_span!("append"))
            .await?;
        let sequence = committed
            .last()
            .map_or(0, |envelope| envelope.sequence as u64);
        self.accepted(customer_id, sequence).await
    }

    /// The customer's stream folded as cqrs-es's `load_aggregate` folds it,
    /// each event with when it happened: the store's `occurred_at` column,
    /// which is the metadata's `occurred_at` or, for an event recorded
    /// without one, its `recorded_at`. So the rules see when the current
    /// stage began, for old streams too.
    async fn load(
        &self,
        stream_id: &str,
    ) -> Result<EventStoreAggregateContext<Customer>, ExecuteError> {
        let rows: Vec<(i64, serde_json::Value, DateTime<Utc>)> = sqlx::query_as(
            "SELECT sequence, payload, occurred_at FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2
              ORDER BY sequence",
        )
        .bind(Customer::TYPE)
        .bind(stream_id)
        .fetch_all(&self.pool)
        .await?;
        let mut context = EventStoreAggregateContext {
            aggregate_id: stream_id.to_owned(),
            aggregate: Customer::default(),
            current_sequence: 0,
            current_snapshot: None,
        };
        for (sequence, payload, occurred_at) in rows {
            let event: CustomerEvent = serde_json::from_value(payload)
                .map_err(|error| ExecuteError::Internal(Box::new(error)))?;
            context.current_sequence = usize::try_from(sequence)
                .map_err(|error| ExecuteError::Internal(Box::new(error)))?;
            context.aggregate.apply_at(event, Some(occurred_at));
        }
        Ok(context)
    }

    /// A manager changes only the customers of the teams it manages (and its
    /// own), once the tenant has a directory; others look absent, as on the
    /// read side.
    async fn require_managed(&self, actor: &Actor, owner: &UserId) -> Result<(), ExecuteError> {
        let scope =
            store::directory::managed_owners(&self.pool, actor.tenant_id, actor.user_id.as_str())
                .await?;
        match scope {
            Some(owners) if !owners.iter().any(|managed| managed == owner.as_str()) => {
                Err(ExecuteError::Rejected(CustomerError::NotFound))
            }
            _ => Ok(()),
        }
    }

    /// In a tenant with a directory, a customer's owner must be an active
    /// user of it. Tenants without one (their tokens come from `crm token`)
    /// name owners freely, as before the directory existed.
    async fn require_active_owner(
        &self,
        tenant_id: Uuid,
        owner: &UserId,
    ) -> Result<(), ExecuteError> {
        let (has_directory, active): (bool, Option<bool>) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM directory_users WHERE tenant_id = $1),
                    (SELECT active FROM directory_users WHERE tenant_id = $1 AND login = $2)",
        )
        .bind(tenant_id)
        .bind(owner.as_str())
        .fetch_one(&self.pool)
        .await?;
        if has_directory && active != Some(true) {
            return Err(ExecuteError::Rejected(CustomerError::Invalid {
                field: "owner_id",
                message: format!("{owner} is not an active user of this tenant"),
            }));
        }
        Ok(())
    }

    async fn accepted(&self, id: Uuid, sequence: u64) -> Result<Accepted, ExecuteError> {
        let position: i64 = sqlx::query_scalar(
            "SELECT global_position FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
        )
        .bind(Customer::TYPE)
        .bind(id.to_string())
        .bind(i64::try_from(sequence).unwrap_or(i64::MAX))
        .fetch_one(&self.pool)
        .await?;
        Ok(Accepted {
            id,
            version: sequence,
            position,
        })
    }

    async fn find_keyed_append(
        &self,
        tenant_id: Uuid,
        actor: &str,
        key: &str,
    ) -> Result<Option<Accepted>, ExecuteError> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT aggregate_id, sequence, global_position FROM events
              WHERE tenant_id = $1
                AND metadata ->> 'idempotency_key' = $2
                AND metadata ->> 'actor' = $3
              ORDER BY global_position DESC
              LIMIT 1",
        )
        .bind(tenant_id)
        .bind(key)
        .bind(actor)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(aggregate_id, sequence, position)| {
            let id = Uuid::parse_str(&aggregate_id)
                .map_err(|error| ExecuteError::Internal(Box::new(error)))?;
            Ok(Accepted {
                id,
                version: u64::try_from(sequence).unwrap_or(0),
                position,
            })
        })
        .transpose()
    }
}

/// The owner an event gives its customer, if it gives one.
fn new_owner(event: &CustomerEvent) -> Option<&UserId> {
    match event {
        CustomerEvent::CustomerRegistered(registered) => Some(&registered.owner_id),
        CustomerEvent::CustomerAssigned(assigned) => Some(&assigned.owner_id),
        _ => None,
    }
}

fn key_error(error: KeyError) -> ExecuteError {
    match error {
        KeyError::Database(error) => error.into(),
        other => ExecuteError::Internal(Box::new(other)),
    }
}

fn base_metadata(command: &CustomerCommand, request: &RequestContext) -> HashMap<String, String> {
    let mut metadata = HashMap::from([
        ("tenant_id".to_owned(), command.actor.tenant_id.to_string()),
        ("actor".to_owned(), command.actor.user_id.to_string()),
        ("role".to_owned(), command.actor.role.as_str().to_owned()),
        ("command".to_owned(), command.action.name().to_owned()),
        ("correlation_id".to_owned(), request.correlation_id.clone()),
    ]);
    if let Some(key) = &request.idempotency_key {
        metadata.insert("idempotency_key".to_owned(), key.clone());
    }
    if let Some(cause) = &request.caused_by {
        metadata.insert("causation_id".to_owned(), cause.event_id.to_string());
        metadata.insert("on_behalf_of".to_owned(), cause.on_behalf_of.clone());
    }
    metadata
}

fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, true)
}
