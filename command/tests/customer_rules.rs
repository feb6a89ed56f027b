//! The Customer aggregate's rules in given/when/then form, without a database.

use std::str::FromStr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use rust_decimal::Decimal;
use uuid::Uuid;

use command::aggregate::{
    Action, Actor, Customer, CustomerCommand, CustomerError, Registration, MAX_TAGS,
};
use events::customer::{
    CustomerArchived, CustomerForgotten, CustomerRegistered, CustomerStageMoved, CustomerTagged,
};
use events::personal::Personal;
use events::values::{
    ActivityType, CustomerName, Money, OccurredAt, OrderRef, Probability, ShortText, Stage, Tag,
    UserId,
};
use events::CustomerEvent;
use web::Role;

type Rules = TestFramework<Customer>;

const TENANT: Uuid = Uuid::from_u128(0x11);
const OTHER_TENANT: Uuid = Uuid::from_u128(0x22);

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0)
        .single()
        .expect("valid instant")
}

fn user(id: &str) -> UserId {
    UserId::parse(id).expect("user id")
}

fn actor(role: Role, id: &str) -> Actor {
    Actor {
        tenant_id: TENANT,
        user_id: user(id),
        role,
    }
}

fn command(actor: Actor, action: Action) -> CustomerCommand {
    CustomerCommand {
        actor,
        now: now(),
        expected_version: None,
        action,
    }
}

fn by_owner(action: Action) -> CustomerCommand {
    command(actor(Role::Rep, "rep-1"), action)
}

fn money(text: &str) -> Money {
    Money::non_negative(Decimal::from_str(text).expect("decimal")).expect("money")
}

fn tag(text: &str) -> Tag {
    Tag::parse(text).expect("tag")
}

fn text(value: &str) -> ShortText {
    ShortText::parse(value).expect("text")
}

fn registered() -> CustomerEvent {
    registered_in(Stage::Lead)
}

fn registered_in(stage: Stage) -> CustomerEvent {
    CustomerEvent::CustomerRegistered(CustomerRegistered {
        tenant_id: TENANT,
        name: Personal::Clear(CustomerName::parse("张三").expect("name")),
        phone: None,
        email: None,
        company: Some(text("星辰科技")),
        industry: None,
        position: None,
        source: None,
        owner_id: user("rep-1"),
        tags: vec![],
        deal_value: money("50000"),
        stage,
        probability: stage.default_probability(),
        registered_at: now() - Duration::days(3),
    })
}

fn moved(from: Stage, to: Stage) -> CustomerEvent {
    CustomerEvent::CustomerStageMoved(CustomerStageMoved {
        from,
        to,
        deal_value: money("50000"),
        probability: to.default_probability(),
        reason: None,
    })
}

fn move_to(stage: Stage, reason: Option<&str>) -> Action {
    Action::MoveStage {
        stage,
        deal_value: None,
        probability: None,
        reason: reason.map(text),
        occurred_at: None,
    }
}

fn dated(instant: DateTime<Utc>) -> Option<OccurredAt> {
    Some(OccurredAt::new(instant).expect("a date after 2000"))
}

fn move_on(stage: Stage, instant: DateTime<Utc>) -> Action {
    Action::MoveStage {
        stage,
        deal_value: None,
        probability: None,
        reason: None,
        occurred_at: dated(instant),
    }
}

fn activity_on(instant: DateTime<Utc>) -> Action {
    Action::LogActivity {
        activity_type: ActivityType::Call,
        subject: Some(text("回访")),
        notes: None,
        occurred_at: dated(instant),
        value: None,
    }
}

fn registered_on(instant: DateTime<Utc>) -> CustomerEvent {
    let CustomerEvent::CustomerRegistered(mut registered) = registered() else {
        unreachable!("registered() is a registration");
    };
    registered.registered_at = instant;
    CustomerEvent::CustomerRegistered(registered)
}

/// Given a history with when each event happened (as the service folds a
/// stream from its metadata), when `command`, then the rules' answer.
fn given_dated(
    history: Vec<(CustomerEvent, DateTime<Utc>)>,
    command: CustomerCommand,
) -> Result<Option<CustomerEvent>, CustomerError> {
    let mut customer = Customer::default();
    for (event, occurred_at) in history {
        customer.apply_at(event, Some(occurred_at));
    }
    customer.decide_and_apply(command)
}

fn days_ago(days: i64) -> DateTime<Utc> {
    now() - Duration::days(days)
}

fn refused_on_occurred_at(result: Result<Option<CustomerEvent>, CustomerError>, needle: &str) {
    match result {
        Err(CustomerError::Invalid {
            field: "occurred_at",
            message,
        }) => assert!(message.contains(needle), "{message}"),
        other => panic!("expected a refusal on occurred_at, got {other:?}"),
    }
}

fn purchase(amount: &str, order_ref: Option<&str>, occurred_at: Option<DateTime<Utc>>) -> Action {
    Action::RecordPurchase {
        amount: Money::positive(Decimal::from_str(amount).expect("decimal")).expect("amount"),
        category: text("软件"),
        occurred_at: occurred_at.and_then(dated),
        order_ref: order_ref.map(|r| OrderRef::parse(r).expect("order ref")),
    }
}

fn registration(owner: Option<&str>, tags: Vec<Tag>) -> Action {
    Action::Register(Registration {
        name: CustomerName::parse("李四").expect("name"),
        phone: None,
        email: None,
        company: None,
        industry: None,
        position: None,
        source: None,
        owner_id: owner.map(user),
        tags,
        deal_value: None,
        occurred_at: None,
    })
}

async fn expect_error(given: Vec<CustomerEvent>, when: CustomerCommand, error: CustomerError) {
    Rules::with(())
        .given(given)
        .when_async(when)
        .await
        .then_expect_error(error);
}

async fn expect_events(given: Vec<CustomerEvent>, when: CustomerCommand) -> Vec<CustomerEvent> {
    Rules::with(())
        .given(given)
        .when_async(when)
        .await
        .inspect_result()
        .expect("command accepted")
}

#[tokio::test]
async fn a_rep_registering_a_customer_becomes_its_owner() {
    let events = expect_events(vec![], by_owner(registration(None, vec![]))).await;
    let [CustomerEvent::CustomerRegistered(registered)] = events.as_slice() else {
        panic!("expected one CustomerRegistered, got {events:?}");
    };
    assert_eq!(registered.owner_id, user("rep-1"));
    assert_eq!(registered.stage, Stage::Lead);
    assert_eq!(registered.tenant_id, TENANT);
    assert_eq!(registered.registered_at, now());
}

#[tokio::test]
async fn a_rep_cannot_register_a_customer_for_someone_else() {
    expect_error(
        vec![],
        by_owner(registration(Some("rep-2"), vec![])),
        CustomerError::Forbidden("a rep registers customers as their own owner".into()),
    )
    .await;
}

#[tokio::test]
async fn a_manager_may_register_for_a_rep() {
    let events = expect_events(
        vec![],
        command(
            actor(Role::Manager, "boss"),
            registration(Some("rep-2"), vec![]),
        ),
    )
    .await;
    assert!(
        matches!(&events[..], [CustomerEvent::CustomerRegistered(r)] if r.owner_id == user("rep-2"))
    );
}

#[tokio::test]
async fn registration_allows_at_most_twenty_distinct_tags() {
    let twenty: Vec<Tag> = (0..MAX_TAGS).map(|i| tag(&format!("t{i}"))).collect();
    let mut with_duplicate = twenty.clone();
    with_duplicate.push(tag("t0"));
    expect_events(vec![], by_owner(registration(None, with_duplicate))).await;
    let mut too_many = twenty;
    too_many.push(tag("extra"));
    expect_error(
        vec![],
        by_owner(registration(None, too_many)),
        CustomerError::Invalid {
            field: "tags",
            message: "at most 20 tags per customer".into(),
        },
    )
    .await;
}

#[tokio::test]
async fn tagging_beyond_twenty_tags_is_refused() {
    let mut given = vec![registered()];
    given.extend((0..MAX_TAGS).map(|i| {
        CustomerEvent::CustomerTagged(CustomerTagged {
            tag: tag(&format!("t{i}")),
        })
    }));
    expect_error(
        given.clone(),
        by_owner(Action::Tag(tag("one-more"))),
        CustomerError::Invalid {
            field: "tag",
            message: "at most 20 tags per customer".into(),
        },
    )
    .await;
    // An existing tag is not a new one: nothing happens.
    assert!(expect_events(given, by_owner(Action::Tag(tag("t3"))))
        .await
        .is_empty());
}

#[tokio::test]
async fn moving_to_the_current_stage_is_refused() {
    expect_error(
        vec![registered()],
        by_owner(move_to(Stage::Lead, None)),
        CustomerError::Invalid {
            field: "stage",
            message: "customer is already in lead".into(),
        },
    )
    .await;
}

#[tokio::test]
async fn moving_stage_uses_the_stage_default_probability() {
    let events = expect_events(vec![registered()], by_owner(move_to(Stage::Proposal, None))).await;
    assert_eq!(events, vec![moved(Stage::Lead, Stage::Proposal)]);
}

#[tokio::test]
async fn moving_stage_keeps_a_given_probability_and_deal_value() {
    let action = Action::MoveStage {
        stage: Stage::Negotiation,
        deal_value: Some(money("88000")),
        probability: Some(Probability::new(Decimal::from_str("0.65").expect("d")).expect("p")),
        reason: None,
        occurred_at: None,
    };
    let events = expect_events(vec![registered()], by_owner(action)).await;
    let [CustomerEvent::CustomerStageMoved(moved)] = events.as_slice() else {
        panic!("expected a stage move");
    };
    assert_eq!(moved.deal_value, money("88000"));
    assert_eq!(
        moved.probability.value(),
        Decimal::from_str("0.65").expect("d")
    );
}

#[tokio::test]
async fn closed_lost_is_reachable_from_any_open_stage() {
    for stage in [
        Stage::Lead,
        Stage::Qualified,
        Stage::Proposal,
        Stage::Negotiation,
    ] {
        let events = expect_events(
            vec![registered_in(stage)],
            by_owner(move_to(Stage::ClosedLost, None)),
        )
        .await;
        assert_eq!(events, vec![moved(stage, Stage::ClosedLost)]);
    }
}

#[tokio::test]
async fn reopening_a_closed_deal_goes_only_to_lead_or_qualified() {
    for closed in [Stage::ClosedWon, Stage::ClosedLost] {
        for target in [Stage::Proposal, Stage::Negotiation] {
            expect_error(
                vec![registered(), moved(Stage::Lead, closed)],
                by_owner(move_to(target, Some("客户重新询价"))),
                CustomerError::Invalid {
                    field: "stage",
                    message: format!("a {closed} deal can only be reopened to lead or qualified"),
                },
            )
            .await;
        }
        for target in [Stage::Lead, Stage::Qualified] {
            let events = expect_events(
                vec![registered(), moved(Stage::Lead, closed)],
                by_owner(move_to(target, Some("客户重新询价"))),
            )
            .await;
            assert_eq!(events.len(), 1);
        }
    }
}

#[tokio::test]
async fn reopening_needs_a_reason() {
    expect_error(
        vec![registered(), moved(Stage::Lead, Stage::ClosedWon)],
        by_owner(move_to(Stage::Qualified, None)),
        CustomerError::Invalid {
            field: "reason",
            message: "reopening a closed deal needs a reason".into(),
        },
    )
    .await;
}

#[tokio::test]
async fn a_purchase_is_recorded_with_its_amount() {
    let events = expect_events(vec![registered()], by_owner(purchase("999.99", None, None))).await;
    let [CustomerEvent::PurchaseRecorded(recorded)] = events.as_slice() else {
        panic!("expected a purchase");
    };
    assert_eq!(recorded.amount.to_string(), "999.99");
    assert_eq!(recorded.occurred_at, now());
}

#[tokio::test]
async fn a_repeated_order_ref_appends_nothing_and_answers_with_the_first_purchase() {
    let first = expect_events(
        vec![registered()],
        by_owner(purchase("100", Some("PO-1"), None)),
    )
    .await;
    let mut history = vec![registered()];
    history.extend(first);
    let again = by_owner(purchase("100", Some("PO-1"), None));
    assert!(expect_events(history.clone(), again.clone())
        .await
        .is_empty());

    let mut customer = Customer::default();
    for event in history {
        cqrs_es::Aggregate::apply(&mut customer, event);
    }
    cqrs_es::Aggregate::apply(&mut customer, registered_tag_event("vip"));
    assert_eq!(customer.version(), 3);
    assert_eq!(
        customer.sequence_answering(&again.action),
        2,
        "the purchase's own sequence"
    );
}

fn registered_tag_event(name: &str) -> CustomerEvent {
    CustomerEvent::CustomerTagged(CustomerTagged { tag: tag(name) })
}

#[tokio::test]
async fn activities_and_purchases_may_be_dated_at_most_five_minutes_ahead() {
    let limit = now() + Duration::minutes(5);
    expect_events(
        vec![registered()],
        by_owner(purchase("1", None, Some(limit))),
    )
    .await;
    let too_late = limit + Duration::seconds(1);
    let error = CustomerError::Invalid {
        field: "occurred_at",
        message: "must not be more than 5 minutes in the future".into(),
    };
    expect_error(
        vec![registered()],
        by_owner(purchase("1", None, Some(too_late))),
        error.clone(),
    )
    .await;
    let activity = Action::LogActivity {
        activity_type: ActivityType::Call,
        subject: Some(text("回访")),
        notes: None,
        occurred_at: dated(too_late),
        value: None,
    };
    expect_error(vec![registered()], by_owner(activity), error).await;
}

#[tokio::test]
async fn an_archived_customer_accepts_no_further_command() {
    let archived = vec![
        registered(),
        CustomerEvent::CustomerArchived(CustomerArchived { reason: None }),
    ];
    for action in [
        move_to(Stage::Qualified, None),
        purchase("10", None, None),
        Action::Tag(tag("x")),
        Action::Archive { reason: None },
    ] {
        expect_error(archived.clone(), by_owner(action), CustomerError::Archived).await;
    }
}

#[tokio::test]
async fn another_tenant_sees_no_customer() {
    let stranger = Actor {
        tenant_id: OTHER_TENANT,
        user_id: user("boss"),
        role: Role::Admin,
    };
    expect_error(
        vec![registered()],
        command(stranger, move_to(Stage::Qualified, None)),
        CustomerError::NotFound,
    )
    .await;
}

#[tokio::test]
async fn a_rep_cannot_touch_another_reps_customer() {
    expect_error(
        vec![registered()],
        command(actor(Role::Rep, "rep-2"), move_to(Stage::Qualified, None)),
        CustomerError::NotFound,
    )
    .await;
}

#[tokio::test]
async fn only_managers_and_admins_reassign() {
    let assign = Action::Assign {
        owner_id: user("rep-2"),
    };
    expect_error(
        vec![registered()],
        by_owner(assign.clone()),
        CustomerError::Forbidden("only a manager or admin may reassign customers".into()),
    )
    .await;
    for role in [Role::Manager, Role::Admin] {
        let events = expect_events(
            vec![registered()],
            command(actor(role, "boss"), assign.clone()),
        )
        .await;
        assert_eq!(events.len(), 1);
    }
}

#[tokio::test]
async fn auditors_change_nothing() {
    expect_error(
        vec![registered()],
        command(actor(Role::Auditor, "audit"), Action::Tag(tag("x"))),
        CustomerError::Forbidden("role auditor is read-only".into()),
    )
    .await;
}

#[tokio::test]
async fn if_match_must_name_the_current_version() {
    let mut stale = by_owner(move_to(Stage::Qualified, None));
    stale.expected_version = Some(0);
    expect_error(
        vec![registered()],
        stale,
        CustomerError::VersionMismatch {
            expected: 0,
            actual: 1,
        },
    )
    .await;
    let mut current = by_owner(move_to(Stage::Qualified, None));
    current.expected_version = Some(1);
    assert_eq!(expect_events(vec![registered()], current).await.len(), 1);
}

#[tokio::test]
async fn an_empty_profile_update_is_refused() {
    expect_error(
        vec![registered()],
        by_owner(Action::UpdateProfile(Default::default())),
        CustomerError::Rule("the update changes nothing: give at least one field".into()),
    )
    .await;
}

#[tokio::test]
async fn commands_on_an_unknown_customer_find_nothing() {
    expect_error(
        vec![],
        by_owner(move_to(Stage::Qualified, None)),
        CustomerError::NotFound,
    )
    .await;
}

fn forget() -> Action {
    Action::Forget {
        reason: text("客户依据个人信息保护法要求删除"),
    }
}

fn forgotten() -> CustomerEvent {
    CustomerEvent::CustomerForgotten(CustomerForgotten {
        reason: text("客户依据个人信息保护法要求删除"),
    })
}

#[tokio::test]
async fn only_an_admin_erases_personal_data() {
    for role in [Role::Rep, Role::Manager] {
        let who = if role == Role::Rep { "rep-1" } else { "boss" };
        expect_error(
            vec![registered()],
            command(actor(role, who), forget()),
            CustomerError::Forbidden("only an admin may erase a customer's personal data".into()),
        )
        .await;
    }
    let events = expect_events(
        vec![registered()],
        command(actor(Role::Admin, "root"), forget()),
    )
    .await;
    assert_eq!(events, vec![forgotten()]);
}

#[tokio::test]
async fn erasing_twice_changes_nothing_and_works_on_archived_customers() {
    let admin = || command(actor(Role::Admin, "root"), forget());
    assert!(expect_events(vec![registered(), forgotten()], admin())
        .await
        .is_empty());
    let archived = vec![
        registered(),
        CustomerEvent::CustomerArchived(CustomerArchived { reason: None }),
    ];
    assert_eq!(expect_events(archived, admin()).await, vec![forgotten()]);
}

#[tokio::test]
async fn a_forgotten_customer_accepts_no_further_command() {
    expect_error(
        vec![registered(), forgotten()],
        by_owner(move_to(Stage::Qualified, None)),
        CustomerError::Forgotten,
    )
    .await;
}

// When things happened: facts may be dated in the past, within bounds.

#[tokio::test]
async fn a_customer_may_be_registered_when_the_relationship_began() {
    let began = days_ago(400);
    let Action::Register(mut registration) = registration(None, vec![]) else {
        unreachable!("a registration");
    };
    registration.occurred_at = dated(began);
    let events = expect_events(vec![], by_owner(Action::Register(registration))).await;
    let [CustomerEvent::CustomerRegistered(registered)] = events.as_slice() else {
        panic!("expected one CustomerRegistered, got {events:?}");
    };
    assert_eq!(registered.registered_at, began);
}

#[tokio::test]
async fn a_registration_may_be_dated_at_most_five_minutes_ahead() {
    let Action::Register(mut registration) = registration(None, vec![]) else {
        unreachable!("a registration");
    };
    registration.occurred_at = dated(now() + Duration::minutes(5) + Duration::seconds(1));
    expect_error(
        vec![],
        by_owner(Action::Register(registration)),
        CustomerError::Invalid {
            field: "occurred_at",
            message: "must not be more than 5 minutes in the future".into(),
        },
    )
    .await;
}

#[test]
fn no_fact_is_dated_before_2000() {
    // The bound is the value's: the rules never see an earlier date.
    assert!(OccurredAt::new(OccurredAt::earliest() - Duration::microseconds(1)).is_err());
    let earliest = OccurredAt::new(OccurredAt::earliest()).expect("the earliest date");
    let Action::Register(mut registration) = registration(None, vec![]) else {
        unreachable!("a registration");
    };
    registration.occurred_at = Some(earliest);
    let decided = given_dated(vec![], by_owner(Action::Register(registration)));
    assert!(matches!(
        decided,
        Ok(Some(CustomerEvent::CustomerRegistered(ref registered)))
            if registered.registered_at == OccurredAt::earliest()
    ));
}

#[test]
fn stage_moves_may_be_dated_in_the_past_in_order() {
    let history = vec![
        (registered_on(days_ago(90)), days_ago(90)),
        (moved(Stage::Lead, Stage::Qualified), days_ago(60)),
    ];
    let decided = given_dated(history, by_owner(move_on(Stage::Proposal, days_ago(30))));
    assert_eq!(
        decided.expect("accepted"),
        Some(moved(Stage::Qualified, Stage::Proposal))
    );
}

#[test]
fn a_stage_move_dated_before_the_previous_one_is_refused() {
    let history = vec![
        (registered_on(days_ago(90)), days_ago(90)),
        (moved(Stage::Lead, Stage::Qualified), days_ago(60)),
    ];
    let decided = given_dated(history, by_owner(move_on(Stage::Proposal, days_ago(61))));
    refused_on_occurred_at(decided, "when the customer entered qualified");
}

#[test]
fn a_stage_move_dated_before_the_registration_is_refused() {
    let history = vec![(registered_on(days_ago(90)), days_ago(90))];
    let decided = given_dated(history, by_owner(move_on(Stage::Qualified, days_ago(91))));
    refused_on_occurred_at(decided, "when the customer was registered");
}

#[test]
fn activities_and_purchases_dated_before_the_registration_are_refused() {
    let history = || vec![(registered_on(days_ago(90)), days_ago(90))];
    let before = days_ago(90) - Duration::seconds(1);
    refused_on_occurred_at(
        given_dated(history(), by_owner(activity_on(before))),
        "when the customer was registered",
    );
    refused_on_occurred_at(
        given_dated(history(), by_owner(purchase("10", None, Some(before)))),
        "when the customer was registered",
    );
}

#[test]
fn old_activities_and_purchases_may_be_logged_after_newer_facts() {
    // History is often entered late: last month's visit after today's move.
    let history = || {
        vec![
            (registered_on(days_ago(90)), days_ago(90)),
            (moved(Stage::Lead, Stage::Qualified), days_ago(2)),
        ]
    };
    let visit = given_dated(history(), by_owner(activity_on(days_ago(30))));
    assert!(matches!(
        visit,
        Ok(Some(CustomerEvent::ActivityLogged(ref logged))) if logged.occurred_at == days_ago(30)
    ));
    let order = given_dated(
        history(),
        by_owner(purchase("10", None, Some(days_ago(45)))),
    );
    assert!(matches!(
        order,
        Ok(Some(CustomerEvent::PurchaseRecorded(ref recorded))) if recorded.occurred_at == days_ago(45)
    ));
}

#[test]
fn an_undated_stage_move_happens_when_it_is_decided() {
    let history = vec![(registered_on(days_ago(90)), days_ago(90))];
    let mut customer = Customer::default();
    for (event, at) in history {
        customer.apply_at(event, Some(at));
    }
    customer
        .decide_and_apply(by_owner(move_to(Stage::Qualified, None)))
        .expect("moved now");
    // The next move may not be dated before it.
    let decided = customer.decide_and_apply(by_owner(move_on(Stage::Proposal, days_ago(1))));
    refused_on_occurred_at(decided, "when the customer entered qualified");
}
