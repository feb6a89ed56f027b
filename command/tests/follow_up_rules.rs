//! The FollowUp aggregate's rules in given/when/then form, without a
//! database. (The aggregate folds events with when they happened, which
//! cqrs-es's test framework cannot pass, so the three steps are spelled out
//! here.)

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use command::follow_up::{
    Actor, FollowUp, FollowUpAction, FollowUpCommand, FollowUpError, Plan, DUE_PAST_GRACE,
};
use events::follow_up::{
    FollowUpCancelled, FollowUpCompleted, FollowUpEvent, FollowUpReassigned, FollowUpRescheduled,
    FollowUpScheduled, ReminderLead,
};
use events::personal::Personal;
use events::values::{ActivityType, OccurredAt, ShortText, TextField, UserId};
use events::Role;

const TENANT: Uuid = Uuid::from_u128(0x11);
const CUSTOMER: Uuid = Uuid::from_u128(0x22);

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 8, hour, 0, 0)
        .single()
        .expect("instant")
}

/// When commands are decided in these tests.
fn now() -> DateTime<Utc> {
    at(9)
}

fn login(id: &str) -> UserId {
    UserId::parse(id).expect("login")
}

fn text(field: TextField, raw: &str) -> ShortText {
    field.parse(raw).expect("text")
}

fn actor(role: Role, id: &str) -> Actor {
    Actor {
        tenant_id: TENANT,
        user_id: login(id),
        role,
    }
}

fn rep() -> Actor {
    actor(Role::Rep, "rep-zhang")
}

fn plan(due_at: DateTime<Utc>) -> Plan {
    Plan {
        customer_id: CUSTOMER,
        activity_type: ActivityType::Call,
        subject: text(TextField::SUBJECT, "回访报价"),
        notes: None,
        due_at,
        assignee: None,
        remind_before: ReminderLead::minutes(15).expect("lead"),
        opportunity_id: None,
    }
}

fn scheduled() -> FollowUpEvent {
    FollowUpEvent::FollowUpScheduled(FollowUpScheduled {
        tenant_id: TENANT,
        customer_id: CUSTOMER,
        activity_type: ActivityType::Call,
        subject: text(TextField::SUBJECT, "回访报价"),
        notes: None,
        due_at: at(14),
        assignee: login("rep-zhang"),
        remind_before_minutes: ReminderLead::minutes(15).expect("lead"),
        opportunity_id: None,
    })
}

fn completed(hour: u32) -> FollowUpEvent {
    FollowUpEvent::FollowUpCompleted(FollowUpCompleted {
        outcome: None,
        completed_at: at(hour),
    })
}

fn cancelled() -> FollowUpEvent {
    FollowUpEvent::FollowUpCancelled(FollowUpCancelled {
        reason: text(TextField::REASON, "客户已签约"),
    })
}

/// Given these events (each happened at 08:00)…
fn given(events: Vec<FollowUpEvent>) -> FollowUp {
    let mut follow_up = FollowUp::default();
    for event in events {
        follow_up.apply(event, at(8));
    }
    follow_up
}

/// …when `actor` asks for `action` at [`now`]…
fn when(
    mut follow_up: FollowUp,
    actor: Actor,
    action: FollowUpAction,
) -> Result<Option<FollowUpEvent>, FollowUpError> {
    follow_up.decide_and_apply(FollowUpCommand {
        actor,
        now: now(),
        expected_version: None,
        action,
    })
}

fn complete(completed_at: Option<DateTime<Utc>>) -> FollowUpAction {
    FollowUpAction::Complete {
        outcome: None,
        completed_at: completed_at.map(|instant| OccurredAt::new(instant).expect("instant")),
    }
}

fn field_of(result: Result<Option<FollowUpEvent>, FollowUpError>) -> &'static str {
    match result {
        Err(FollowUpError::Invalid { field, .. }) => field,
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn a_rep_schedules_for_itself_by_default() {
    let event = when(given(vec![]), rep(), FollowUpAction::Schedule(plan(at(14))));
    assert_eq!(event, Ok(Some(scheduled())));
}

#[test]
fn a_due_time_in_the_past_is_refused_beyond_a_minute_of_grace() {
    let past = now() - DUE_PAST_GRACE - Duration::seconds(1);
    let refused = when(given(vec![]), rep(), FollowUpAction::Schedule(plan(past)));
    assert_eq!(field_of(refused), "due_at");
    let within = now() - Duration::seconds(30);
    assert!(when(given(vec![]), rep(), FollowUpAction::Schedule(plan(within))).is_ok());
    let far = now() + Duration::days(800);
    assert_eq!(
        field_of(when(
            given(vec![]),
            rep(),
            FollowUpAction::Schedule(plan(far))
        )),
        "due_at"
    );
}

#[test]
fn a_rep_may_not_schedule_for_another_rep_but_a_manager_may() {
    let mut for_li = plan(at(14));
    for_li.assignee = Some(login("rep-li"));
    let refused = when(
        given(vec![]),
        rep(),
        FollowUpAction::Schedule(for_li.clone()),
    );
    assert!(matches!(refused, Err(FollowUpError::Forbidden(_))));
    let by_manager = when(
        given(vec![]),
        actor(Role::Manager, "boss"),
        FollowUpAction::Schedule(for_li),
    );
    assert!(matches!(
        by_manager,
        Ok(Some(FollowUpEvent::FollowUpScheduled(FollowUpScheduled { ref assignee, .. }))) if assignee.as_str() == "rep-li"
    ));
}

#[test]
fn scheduling_twice_onto_one_stream_is_a_conflict() {
    let again = when(
        given(vec![scheduled()]),
        rep(),
        FollowUpAction::Schedule(plan(at(14))),
    );
    assert_eq!(again, Err(FollowUpError::AlreadyExists));
}

#[test]
fn an_auditor_changes_nothing_and_another_tenant_sees_nothing() {
    let auditor = when(
        given(vec![scheduled()]),
        actor(Role::Auditor, "audit"),
        complete(None),
    );
    assert!(matches!(auditor, Err(FollowUpError::Forbidden(_))));
    let stranger = Actor {
        tenant_id: Uuid::from_u128(0x99),
        ..rep()
    };
    assert_eq!(
        when(given(vec![scheduled()]), stranger, complete(None)),
        Err(FollowUpError::NotFound)
    );
    assert_eq!(
        when(given(vec![]), rep(), complete(None)),
        Err(FollowUpError::NotFound)
    );
}

#[test]
fn if_match_must_name_the_version() {
    let mut follow_up = given(vec![scheduled()]);
    let refused = follow_up.decide_and_apply(FollowUpCommand {
        actor: rep(),
        now: now(),
        expected_version: Some(3),
        action: complete(None),
    });
    assert_eq!(
        refused,
        Err(FollowUpError::VersionMismatch {
            expected: 3,
            actual: 1
        })
    );
}

#[test]
fn completing_records_when_and_completing_again_changes_nothing() {
    let done = when(given(vec![scheduled()]), rep(), complete(None));
    assert_eq!(done, Ok(Some(completed(9))));
    let again = when(
        given(vec![scheduled(), completed(9)]),
        rep(),
        complete(None),
    );
    assert_eq!(again, Ok(None));
}

#[test]
fn a_completion_is_not_dated_in_the_future_nor_before_the_scheduling() {
    let ahead = when(given(vec![scheduled()]), rep(), complete(Some(at(10))));
    assert_eq!(field_of(ahead), "completed_at");
    let before = when(given(vec![scheduled()]), rep(), complete(Some(at(7))));
    assert_eq!(field_of(before), "completed_at");
    let earlier_today = when(given(vec![scheduled()]), rep(), complete(Some(at(8))));
    assert_eq!(earlier_today, Ok(Some(completed(8))));
}

#[test]
fn the_outcome_is_kept_for_sealing() {
    let done = when(
        given(vec![scheduled()]),
        rep(),
        FollowUpAction::Complete {
            outcome: Some(text(TextField::OUTCOME, "同意下周见面")),
            completed_at: None,
        },
    );
    let Ok(Some(FollowUpEvent::FollowUpCompleted(completed))) = done else {
        panic!("{done:?}")
    };
    assert_eq!(
        completed.outcome,
        Some(Personal::Clear(text(TextField::OUTCOME, "同意下周见面")))
    );
}

#[test]
fn closed_follow_ups_no_longer_change() {
    for closed in [completed(9), cancelled()] {
        for action in [
            FollowUpAction::Reschedule {
                due_at: at(16),
                remind_before: None,
                reason: None,
            },
            FollowUpAction::Reassign {
                assignee: login("rep-li"),
            },
        ] {
            let refused = when(
                given(vec![scheduled(), closed.clone()]),
                actor(Role::Manager, "boss"),
                action,
            );
            assert!(
                matches!(refused, Err(FollowUpError::Rule(_))),
                "{refused:?}"
            );
        }
    }
    let cancel_done = when(
        given(vec![scheduled(), completed(9)]),
        rep(),
        FollowUpAction::Cancel {
            reason: text(TextField::REASON, "不需要了"),
        },
    );
    assert!(matches!(cancel_done, Err(FollowUpError::Rule(_))));
    let complete_cancelled = when(given(vec![scheduled(), cancelled()]), rep(), complete(None));
    assert!(matches!(complete_cancelled, Err(FollowUpError::Rule(_))));
    let cancel_again = when(
        given(vec![scheduled(), cancelled()]),
        rep(),
        FollowUpAction::Cancel {
            reason: text(TextField::REASON, "再取消"),
        },
    );
    assert_eq!(cancel_again, Ok(None));
}

#[test]
fn rescheduling_moves_the_reminder_and_keeps_the_lead_unless_given() {
    let mut follow_up = given(vec![scheduled()]);
    assert_eq!(
        follow_up.reminder_due(),
        Some(at(14) - Duration::minutes(15))
    );
    let moved = follow_up.decide_and_apply(FollowUpCommand {
        actor: rep(),
        now: now(),
        expected_version: Some(1),
        action: FollowUpAction::Reschedule {
            due_at: at(16),
            remind_before: None,
            reason: Some(text(TextField::REASON, "客户出差")),
        },
    });
    assert_eq!(
        moved,
        Ok(Some(FollowUpEvent::FollowUpRescheduled(
            FollowUpRescheduled {
                due_at: at(16),
                previous_due_at: at(14),
                remind_before_minutes: ReminderLead::minutes(15).expect("lead"),
                reason: Some(text(TextField::REASON, "客户出差")),
            }
        )))
    );
    assert_eq!(
        follow_up.reminder_due(),
        Some(at(16) - Duration::minutes(15))
    );
    let same = when(
        given(vec![scheduled()]),
        rep(),
        FollowUpAction::Reschedule {
            due_at: at(14),
            remind_before: None,
            reason: None,
        },
    );
    assert_eq!(same, Ok(None));
    let past = when(
        given(vec![scheduled()]),
        rep(),
        FollowUpAction::Reschedule {
            due_at: at(7),
            remind_before: None,
            reason: None,
        },
    );
    assert_eq!(field_of(past), "due_at");
}

#[test]
fn only_managers_and_admins_reassign() {
    let by_rep = when(
        given(vec![scheduled()]),
        rep(),
        FollowUpAction::Reassign {
            assignee: login("rep-li"),
        },
    );
    assert!(matches!(by_rep, Err(FollowUpError::Forbidden(_))));
    let by_manager = when(
        given(vec![scheduled()]),
        actor(Role::Manager, "boss"),
        FollowUpAction::Reassign {
            assignee: login("rep-li"),
        },
    );
    assert_eq!(
        by_manager,
        Ok(Some(FollowUpEvent::FollowUpReassigned(
            FollowUpReassigned {
                assignee: login("rep-li"),
                previous_assignee: login("rep-zhang"),
            }
        )))
    );
    let to_the_same = when(
        given(vec![scheduled()]),
        rep(),
        FollowUpAction::Reassign {
            assignee: login("rep-zhang"),
        },
    );
    assert_eq!(to_the_same, Ok(None));
}

#[test]
fn a_closed_follow_up_has_no_reminder() {
    assert_eq!(given(vec![scheduled(), completed(9)]).reminder_due(), None);
    assert_eq!(given(vec![scheduled(), cancelled()]).reminder_due(), None);
}
