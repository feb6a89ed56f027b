//! `crm seed` against a real PostgreSQL (`#[sqlx::test]` gives each test its
//! own database): the seeded store has the asked shape, every stream's hash
//! chain verifies, personal data is sealed with keys the service can open,
//! every stream loads through the real aggregate, and the histories are ones
//! the real rules would have produced.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use indicatif::ProgressBar;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use command::aggregate::{Action, Actor, CustomerCommand, Registration, MAX_TAGS};
use command::{CommandService, RequestContext};
use crm::seed::{self, SeedOptions, SeedReport};
use events::personal::{DataKey, MasterKey, Personal};
use events::values::{ActivityType, Money, OccurredAt, ShortText, Stage, UserId};
use events::CustomerEvent;
use store::chain::{load_stream, verify_stream, ChainedEvent};
use store::data_keys::DataKeys;
use web::Role;

fn master_key() -> MasterKey {
    MasterKey::from_hex(&MasterKey::generate_hex()).expect("master key")
}

/// Seeds as the service stores data: sealed with keys wrapped by `master`.
async fn seed_store(pool: &PgPool, options: &SeedOptions, master: &MasterKey) -> SeedReport {
    let progress = ProgressBar::hidden();
    let report = seed::run(pool, options, master, &progress)
        .await
        .expect("seeding succeeds");
    assert_eq!(
        progress.position(),
        report.customers,
        "progress per customer"
    );
    report
}

/// Every customer's data key, through the service's key store.
async fn data_keys(keys: &DataKeys, customers: &[Uuid]) -> HashMap<Uuid, DataKey> {
    keys.load(customers)
        .await
        .expect("keys load and unwrap")
        .into_iter()
        .map(|(customer, key)| (customer, key.expect("every seeded customer has a key")))
        .collect()
}

/// The payload with its personal fields opened, as the audit views show it.
fn revealed(event: &ChainedEvent, key: &DataKey) -> CustomerEvent {
    let customer = Uuid::parse_str(&event.aggregate_id).expect("customer id");
    let mut value: Value = serde_json::from_str(&event.payload).expect("payload JSON");
    DataKey::reveal_json(Some(key), customer, &mut value);
    serde_json::from_value(value).expect("revealed payload deserialises")
}

fn clear<T>(personal: Personal<T>) -> T {
    match personal {
        Personal::Clear(value) => value,
        Personal::Sealed(_) => panic!("a personal field did not open"),
    }
}

fn sealed<T>(personal: &Personal<T>) -> bool {
    matches!(personal, Personal::Sealed(_))
}

/// Whether every personal field of a stored event is ciphertext.
fn is_sealed(event: &CustomerEvent) -> bool {
    match event {
        CustomerEvent::CustomerRegistered(registered) => {
            sealed(&registered.name)
                && registered.phone.iter().all(sealed)
                && registered.email.iter().all(sealed)
        }
        CustomerEvent::CustomerProfileUpdated(update) => {
            update.name.iter().all(sealed)
                && update.phone.iter().flatten().all(sealed)
                && update.email.iter().flatten().all(sealed)
        }
        CustomerEvent::ActivityLogged(activity) => activity.notes.iter().all(sealed),
        _ => true,
    }
}

/// Every stream, registration first, with its tenant, in append order.
async fn streams(pool: &PgPool) -> Vec<(String, Uuid)> {
    sqlx::query_as(
        "SELECT aggregate_id, tenant_id FROM events WHERE sequence = 1 ORDER BY global_position",
    )
    .fetch_all(pool)
    .await
    .expect("streams")
}

fn payload(event: &ChainedEvent) -> CustomerEvent {
    serde_json::from_str(&event.payload).unwrap_or_else(|error| {
        panic!(
            "{} #{} does not deserialise ({error}): {}",
            event.aggregate_id, event.sequence, event.payload
        )
    })
}

fn metadata(event: &ChainedEvent) -> BTreeMap<String, String> {
    serde_json::from_str(&event.metadata).unwrap_or_else(|error| {
        panic!(
            "metadata of {} #{} is not an object of strings ({error}): {}",
            event.aggregate_id, event.sequence, event.metadata
        )
    })
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text} is not RFC 3339: {error}"))
        .with_timezone(&Utc)
}

fn manager_of(tenant_id: Uuid) -> Actor {
    Actor {
        tenant_id,
        user_id: UserId::parse("manager-1").expect("user id"),
        role: Role::Manager,
    }
}

#[sqlx::test(migrations = "../schema")]
async fn options_that_do_not_add_up_write_nothing(pool: PgPool) {
    let options = SeedOptions {
        tenants: 3,
        customers: 100,
        largest_tenant: 10,
        events_per_customer: 8,
        seed: 1,
    };
    let error = seed::run(&pool, &options, &master_key(), &ProgressBar::hidden())
        .await
        .expect_err("a largest tenant smaller than the others is refused");
    assert!(error.to_string().contains("largest tenant"), "{error}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored, 0);
}

#[sqlx::test(migrations = "../schema")]
async fn seeded_store_is_sized_as_asked_chained_and_loadable(pool: PgPool) {
    let options = SeedOptions {
        tenants: 3,
        customers: 300,
        largest_tenant: 150,
        events_per_customer: 8,
        seed: 2024,
    };
    let master = master_key();
    let report = seed_store(&pool, &options, &master).await;
    let now = Utc::now();

    // Sizes: customers per tenant exactly, events roughly customers × 8.
    assert_eq!(report.customers, 300);
    assert_eq!(report.tenants.len(), 3);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(u64::try_from(stored).ok(), Some(report.events));
    assert!(
        (2_160..=2_640).contains(&report.events),
        "{} events for 300 customers × 8",
        report.events
    );
    let streams = streams(&pool).await;
    let mut per_tenant: HashMap<Uuid, usize> = HashMap::new();
    for (_, tenant) in &streams {
        *per_tenant.entry(*tenant).or_default() += 1;
    }
    let sizes: Vec<usize> = report
        .tenants
        .iter()
        .map(|tenant| per_tenant.get(tenant).copied().unwrap_or(0))
        .collect();
    assert_eq!(sizes, vec![150, 75, 75]);

    // One data key per customer, of the customer's tenant, which the
    // service's key store unwraps with the master key.
    let keys = DataKeys::new(pool.clone(), master);
    let key_tenants: Vec<(Uuid, Uuid)> =
        sqlx::query_as("SELECT customer_id, tenant_id FROM customer_keys")
            .fetch_all(&pool)
            .await
            .expect("keys");
    let key_tenants: HashMap<Uuid, Uuid> = key_tenants.into_iter().collect();
    assert_eq!(key_tenants.len(), streams.len());
    let customers: Vec<Uuid> = streams
        .iter()
        .map(|(id, _)| Uuid::parse_str(id).expect("customer id"))
        .collect();
    let data_keys = data_keys(&keys, &customers).await;

    // Every stream: chain, contract, sealing, metadata, times; then a real command.
    let service = CommandService::new(pool.clone(), keys);
    let mut mix = Mix::default();
    // Facts entered after bookkeeping that happened later: imported history.
    let mut imported = 0;
    for ((id, tenant), customer) in streams.iter().zip(&customers) {
        assert_eq!(key_tenants.get(customer), Some(tenant));
        let key = &data_keys[customer];
        let events = load_stream(&pool, "Customer", id).await.expect("stream");
        verify_stream(&events).unwrap_or_else(|broken| panic!("{id}: {broken:?}"));
        let mut previous: Option<DateTime<Utc>> = None;
        let mut latest: Option<DateTime<Utc>> = None;
        for event in &events {
            let stored = payload(event);
            assert!(is_sealed(&stored), "clear personal data: {}", event.payload);
            let decoded = revealed(event, key);
            assert_eq!(event.event_type, decoded.type_name());
            assert_eq!(event.event_version, "1");
            let metadata = metadata(event);
            let keys: Vec<&str> = metadata.keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                [
                    "actor",
                    "command",
                    "correlation_id",
                    "occurred_at",
                    "role",
                    "tenant_id"
                ]
            );
            assert_eq!(metadata["tenant_id"], tenant.to_string());
            assert!(metadata["correlation_id"].starts_with("seed-"));
            let role: Role = metadata["role"].parse().expect("role");
            if role == Role::Rep {
                assert!(metadata["actor"].starts_with("rep-"), "{metadata:?}");
            }
            let text = &metadata["occurred_at"];
            assert!(
                text.ends_with('Z') && text.len() == "2025-01-01T00:00:00.000000Z".len(),
                "occurred_at {text} is RFC 3339 with micros in UTC"
            );
            let at = instant(text);
            assert!(at <= now, "{id} #{} in the future", event.sequence);
            assert!(at >= now - Duration::days(731), "{id} older than two years");
            // Facts happen in the order planned, after the registration;
            // an imported customer's bookkeeping (tags, profile, owner)
            // happened when it was entered, after facts dated earlier.
            let fact = matches!(
                decoded,
                CustomerEvent::CustomerRegistered(_)
                    | CustomerEvent::CustomerStageMoved(_)
                    | CustomerEvent::ActivityLogged(_)
                    | CustomerEvent::PurchaseRecorded(_)
            );
            if fact {
                assert!(
                    previous.is_none_or(|previous| previous < at),
                    "{id} #{}: facts must happen in order",
                    event.sequence
                );
                if latest.is_some_and(|latest| latest > at) {
                    imported += 1;
                }
                previous = Some(at);
            } else {
                assert!(
                    previous.is_some_and(|registered| registered < at),
                    "{id} #{}: after the registration",
                    event.sequence
                );
            }
            latest = latest.max(Some(at));
            mix.record(&decoded, &metadata, at, now);
        }
        mix.finish_customer(now);

        let accepted = service
            .execute(
                *customer,
                CustomerCommand {
                    actor: manager_of(*tenant),
                    now,
                    expected_version: Some(events.len() as u64),
                    action: Action::LogActivity {
                        activity_type: ActivityType::Call,
                        subject: Some(ShortText::parse("回访").expect("subject")),
                        notes: None,
                        occurred_at: None,
                        value: None,
                    },
                },
                &RequestContext {
                    correlation_id: "seed-test".to_owned(),
                    idempotency_key: None,
                    caused_by: None,
                },
            )
            .await
            .unwrap_or_else(|error| panic!("{id} does not accept a command: {error}"));
        assert_eq!(accepted.version, events.len() as u64 + 1);
    }

    // The JSON is stored as the service stores it (jsonb's rendering), so a
    // seeded event and a service event look alike byte for byte.
    let unlike: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events
          WHERE payload::text <> payload::jsonb::text OR metadata::text <> metadata::jsonb::text",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(
        unlike, 0,
        "stored JSON differs from the service's rendering"
    );

    mix.assert_realistic();
    assert!(imported > 0, "no customer was entered after the fact");
}

/// What a realistic store contains; counted over every seeded event.
#[derive(Debug, Default)]
struct Mix {
    event_types: BTreeMap<&'static str, usize>,
    commands: BTreeSet<String>,
    activity_types: BTreeSet<String>,
    closed_lost: usize,
    reopened: usize,
    skipped_stages: usize,
    categories: BTreeSet<String>,
    lifecycles: BTreeMap<&'static str, usize>,
    // The current customer.
    stage: Option<Stage>,
    tags: BTreeSet<String>,
    order_refs: BTreeSet<String>,
    purchases: Vec<(DateTime<Utc>, Decimal)>,
    last_contact: Option<DateTime<Utc>>,
}

impl Mix {
    fn record(
        &mut self,
        event: &CustomerEvent,
        metadata: &BTreeMap<String, String>,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        *self.event_types.entry(event.type_name()).or_default() += 1;
        self.commands.insert(metadata["command"].clone());
        match event {
            CustomerEvent::CustomerRegistered(registered) => {
                let name = clear(registered.name.clone());
                let name = name.as_str();
                assert!((2..=4).contains(&name.chars().count()), "name {name}");
                assert!(registered.owner_id.as_str().starts_with("rep-"));
                if let Some(phone) = registered.phone.clone().map(clear) {
                    let phone = phone.as_str();
                    assert!(phone.len() == 11 && phone.starts_with('1'), "{phone}");
                }
                assert_eq!(registered.registered_at, at);
                self.stage = Some(registered.stage);
                self.tags = registered
                    .tags
                    .iter()
                    .map(|tag| tag.as_str().to_owned())
                    .collect();
                self.last_contact = Some(at);
            }
            CustomerEvent::CustomerStageMoved(moved) => {
                assert_eq!(Some(moved.from), self.stage, "from is the current stage");
                assert_ne!(moved.from, moved.to);
                if moved.from.is_closed() {
                    assert!(matches!(moved.to, Stage::Lead | Stage::Qualified));
                    assert!(moved.reason.is_some(), "reopening needs a reason");
                    self.reopened += 1;
                } else if moved.to != Stage::ClosedLost
                    && Stage::ALL.iter().position(|s| *s == moved.to)
                        > Stage::ALL
                            .iter()
                            .position(|s| *s == moved.from)
                            .map(|p| p + 1)
                {
                    self.skipped_stages += 1;
                }
                if moved.to == Stage::ClosedLost {
                    self.closed_lost += 1;
                }
                self.stage = Some(moved.to);
            }
            CustomerEvent::ActivityLogged(activity) => {
                assert_eq!(activity.occurred_at, at);
                self.activity_types
                    .insert(format!("{:?}", activity.activity_type));
                self.last_contact = self.last_contact.max(Some(at));
            }
            CustomerEvent::PurchaseRecorded(purchase) => {
                assert_eq!(purchase.occurred_at, at);
                let amount = purchase.amount.amount();
                assert!(
                    amount >= Decimal::new(99, 0) && amount <= Decimal::new(50_000, 0),
                    "amount {amount}"
                );
                if let Some(order_ref) = &purchase.order_ref {
                    assert!(
                        self.order_refs.insert(order_ref.as_str().to_owned()),
                        "order_ref {order_ref} repeated"
                    );
                }
                self.categories
                    .insert(purchase.category.as_str().to_owned());
                self.purchases.push((at, amount));
                self.last_contact = self.last_contact.max(Some(at));
            }
            CustomerEvent::CustomerTagged(tagged) => {
                assert!(self.tags.insert(tagged.tag.as_str().to_owned()), "re-tag");
                assert!(self.tags.len() <= MAX_TAGS);
            }
            CustomerEvent::CustomerUntagged(untagged) => {
                assert!(self.tags.remove(untagged.tag.as_str()), "untag absent tag");
            }
            CustomerEvent::CustomerProfileUpdated(update) => assert!(!update.is_empty()),
            CustomerEvent::CustomerAssigned(assigned) => {
                assert_ne!(assigned.owner_id, assigned.previous_owner_id);
                assert!(matches!(metadata["role"].as_str(), "manager" | "admin"));
            }
            CustomerEvent::CustomerArchived(_) | CustomerEvent::CustomerForgotten(_) => {
                panic!("seeded customers are neither archived nor forgotten")
            }
        }
        assert!(at <= now);
    }

    /// Classifies the customer by the RFM lifecycle formula of docs/design.md §5.
    fn finish_customer(&mut self, now: DateTime<Utc>) {
        let days = |at: DateTime<Utc>| (now - at).num_days();
        let contact = self.last_contact.map_or(i64::MAX, days);
        let lifecycle = if self.purchases.is_empty() {
            if contact <= 180 {
                "prospect"
            } else {
                "lost"
            }
        } else {
            let count = self.purchases.len() as i64;
            let last = self
                .purchases
                .iter()
                .map(|(at, _)| *at)
                .max()
                .map_or(0, days);
            let total: Decimal = self.purchases.iter().map(|(_, amount)| *amount).sum();
            let r = (6 - last / 30).clamp(1, 5);
            let f = (count / 2 + 1).clamp(1, 5);
            let thousands = i64::try_from((total / Decimal::ONE_THOUSAND).floor().mantissa())
                .unwrap_or(i64::MAX);
            let m = (thousands + 1).clamp(1, 5);
            if count == 1 && contact <= 60 {
                "new"
            } else if r >= 4 && f >= 4 && m >= 4 {
                "loyal"
            } else if r >= 4 && f >= 3 {
                "active"
            } else if r <= 1 && contact > 180 {
                "lost"
            } else if r <= 2 && f >= 2 {
                "at_risk"
            } else {
                "active"
            }
        };
        *self.lifecycles.entry(lifecycle).or_default() += 1;
        self.order_refs.clear();
        self.purchases.clear();
        self.tags.clear();
        self.stage = None;
        self.last_contact = None;
    }

    fn assert_realistic(&self) {
        for event_type in [
            "CustomerRegistered",
            "CustomerStageMoved",
            "ActivityLogged",
            "PurchaseRecorded",
            "CustomerTagged",
            "CustomerProfileUpdated",
            "CustomerAssigned",
        ] {
            assert!(
                self.event_types.contains_key(event_type),
                "no {event_type}: {:?}",
                self.event_types
            );
        }
        assert!(
            self.event_types["ActivityLogged"] > self.event_types["CustomerStageMoved"],
            "follow-ups dominate: {:?}",
            self.event_types
        );
        for command in [
            "RegisterCustomer",
            "MoveStage",
            "LogActivity",
            "RecordPurchase",
            "TagCustomer",
            "UpdateProfile",
            "AssignCustomer",
        ] {
            assert!(self.commands.contains(command), "{:?}", self.commands);
        }
        assert_eq!(self.activity_types.len(), 4, "{:?}", self.activity_types);
        assert!(self.closed_lost > 0 && self.reopened > 0 && self.skipped_stages > 0);
        assert!(self.categories.len() >= 5, "{:?}", self.categories);
        for lifecycle in ["prospect", "new", "active", "loyal", "at_risk", "lost"] {
            assert!(
                self.lifecycles.contains_key(lifecycle),
                "no {lifecycle} customer: {:?}",
                self.lifecycles
            );
        }
    }
}

/// The command that would have produced `event`, dated when it happened
/// (`occurred_at`, the event's metadata) where the command takes a date.
fn action_for(event: CustomerEvent, occurred_at: DateTime<Utc>) -> Action {
    let occurred_at = Some(OccurredAt::new(occurred_at).expect("a fact's date"));
    match event {
        CustomerEvent::CustomerRegistered(registered) => Action::Register(Registration {
            name: clear(registered.name),
            phone: registered.phone.map(clear),
            email: registered.email.map(clear),
            company: registered.company,
            industry: registered.industry,
            position: registered.position,
            source: registered.source,
            owner_id: Some(registered.owner_id),
            tags: registered.tags,
            // A registration without a deal value records Money::ZERO ("0");
            // an explicit 0 would record "0.00".
            deal_value: Some(registered.deal_value).filter(|deal| *deal != Money::ZERO),
            occurred_at,
        }),
        CustomerEvent::CustomerProfileUpdated(update) => Action::UpdateProfile(update),
        CustomerEvent::CustomerAssigned(assigned) => Action::Assign {
            owner_id: assigned.owner_id,
        },
        CustomerEvent::CustomerStageMoved(moved) => Action::MoveStage {
            stage: moved.to,
            deal_value: Some(moved.deal_value),
            probability: Some(moved.probability),
            reason: moved.reason,
            occurred_at,
        },
        CustomerEvent::ActivityLogged(activity) => Action::LogActivity {
            activity_type: activity.activity_type,
            subject: activity.subject,
            notes: activity.notes.map(clear),
            occurred_at: Some(OccurredAt::new(activity.occurred_at).expect("activity date")),
            value: activity.value,
        },
        CustomerEvent::PurchaseRecorded(purchase) => Action::RecordPurchase {
            amount: purchase.amount,
            category: purchase.category,
            occurred_at: Some(OccurredAt::new(purchase.occurred_at).expect("purchase date")),
            order_ref: purchase.order_ref,
        },
        CustomerEvent::CustomerTagged(tagged) => Action::Tag(tagged.tag),
        CustomerEvent::CustomerUntagged(untagged) => Action::Untag(untagged.tag),
        CustomerEvent::CustomerArchived(archived) => Action::Archive {
            reason: archived.reason,
        },
        CustomerEvent::CustomerForgotten(forgotten) => Action::Forget {
            reason: forgotten.reason,
        },
    }
}

/// A payload, opened with its customer's key, without the ids the aggregate
/// mints (`Uuid::now_v7()`).
fn without_minted_ids(event: &ChainedEvent, key: &DataKey) -> Value {
    let mut value = serde_json::to_value(revealed(event, key)).expect("payload JSON");
    for body in value
        .as_object_mut()
        .into_iter()
        .flat_map(|o| o.values_mut())
    {
        if let Some(fields) = body.as_object_mut() {
            fields.remove("activity_id");
            fields.remove("purchase_id");
        }
    }
    value
}

/// The strongest check that histories obey the rules: every seeded event,
/// turned back into its command and issued by the recorded actor at the
/// recorded time, is accepted by the real aggregate and appends exactly the
/// same event (a rule violation would be rejected, a no-op would append
/// nothing), sealed by the service with the replica's own key.
#[sqlx::test(migrations = "../schema")]
async fn seeded_histories_are_what_the_real_rules_decide(pool: PgPool) {
    let options = SeedOptions {
        tenants: 2,
        customers: 80,
        largest_tenant: 40,
        events_per_customer: 12,
        seed: 99,
    };
    let master = master_key();
    let report = seed_store(&pool, &options, &master).await;
    assert_eq!(report.customers, 80);
    let keys = DataKeys::new(pool.clone(), master);
    let service = CommandService::new(pool.clone(), keys.clone());
    for (id, tenant) in streams(&pool).await {
        let original = load_stream(&pool, "Customer", &id).await.expect("stream");
        let customer = Uuid::parse_str(&id).expect("customer id");
        let key = data_keys(&keys, &[customer]).await[&customer].clone();
        let replica = Uuid::now_v7();
        for event in &original {
            let metadata = metadata(event);
            let actor = Actor {
                tenant_id: tenant,
                user_id: UserId::parse(&metadata["actor"]).expect("actor"),
                role: metadata["role"].parse().expect("role"),
            };
            let accepted = service
                .execute(
                    replica,
                    CustomerCommand {
                        actor,
                        now: instant(&metadata["occurred_at"]),
                        expected_version: Some(event.sequence as u64 - 1),
                        action: action_for(
                            revealed(event, &key),
                            instant(&metadata["occurred_at"]),
                        ),
                    },
                    &RequestContext {
                        correlation_id: metadata["correlation_id"].clone(),
                        idempotency_key: None,
                        caused_by: None,
                    },
                )
                .await
                .unwrap_or_else(|error| {
                    panic!(
                        "{id} #{} ({}) is refused by the rules: {error}",
                        event.sequence, event.event_type
                    )
                });
            assert_eq!(
                accepted.version, event.sequence as u64,
                "{id} #{} ({}) appended nothing",
                event.sequence, event.event_type
            );
        }
        let replayed = load_stream(&pool, "Customer", &replica.to_string())
            .await
            .expect("replica");
        assert_eq!(replayed.len(), original.len());
        let replica_key = data_keys(&keys, &[replica]).await[&replica].clone();
        for (seeded, decided) in original.iter().zip(&replayed) {
            assert_eq!(seeded.event_type, decided.event_type);
            assert_eq!(
                without_minted_ids(seeded, &key),
                without_minted_ids(decided, &replica_key),
                "{id} #{}",
                seeded.sequence
            );
            assert_eq!(
                seeded.metadata, decided.metadata,
                "{id} #{}",
                seeded.sequence
            );
        }
    }
}

/// Throughput on a realistic size; run in release mode:
/// `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test --release -p crm --test seed -- --ignored --nocapture`
/// (`CRM_SEED_BENCH_CUSTOMERS` changes the size; 10 events per customer).
#[sqlx::test(migrations = "../schema")]
#[ignore = "benchmark: run explicitly in release mode"]
async fn seed_throughput(pool: PgPool) {
    let customers = std::env::var("CRM_SEED_BENCH_CUSTOMERS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(50_000);
    let options = SeedOptions {
        tenants: 10,
        customers,
        largest_tenant: customers / 2,
        events_per_customer: 10,
        seed: 42,
    };
    let report = seed_store(&pool, &options, &master_key()).await;
    let seconds = report.elapsed.as_secs_f64();
    println!(
        "seeded {} customers, {} events in {seconds:.2} s: {:.0} events/s",
        report.customers,
        report.events,
        report.events as f64 / seconds
    );
}
