-- Follow-ups (aggregate type `FollowUp`): their read model and their pending
-- reminders, written in the same transaction as each append (an inline
-- projection, as the directory's): a follow-up answered as completed or
-- cancelled has no reminder left at that instant, so a scheduler can never
-- fire one for it. The notifications inbox holds what reminders delivered.

-- A tenant's settings. "Today" of a follow-up list is the tenant's day, in
-- its time zone (an IANA name, checked by the service against the time zone
-- database it was built with). A tenant without a row has the defaults
-- (Asia/Shanghai); tenants whose tokens come from `crm token` have no row in
-- `tenants`, so this table does not reference it.
CREATE TABLE tenant_settings
(
    tenant_id  uuid PRIMARY KEY,
    time_zone  text        NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text        NOT NULL
);

CREATE TABLE follow_ups
(
    tenant_id       uuid        NOT NULL,
    follow_up_id    uuid        NOT NULL,
    customer_id     uuid        NOT NULL,
    activity_type   text        NOT NULL,
    subject         text        NOT NULL,
    -- Sealed with the customer's data key, as in the event: forgetting the
    -- customer erases them here too.
    notes           text,
    outcome         text,
    due_at          timestamptz NOT NULL,
    remind_before   integer     NOT NULL CHECK (remind_before BETWEEN 0 AND 10080),
    assignee        text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('open', 'done', 'cancelled')),
    opportunity_id  uuid,
    scheduled_by    text        NOT NULL,
    scheduled_at    timestamptz NOT NULL,
    completed_at    timestamptz,
    completed_by    text,
    cancel_reason   text,
    -- The activity the completion logged on the customer (the policy sets
    -- it); NULL while a completed follow-up's activity is still to be logged.
    activity_logged_at timestamptz,
    version         bigint      NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, follow_up_id)
);

-- My open follow-ups by due time (the home screen's counts and lists).
CREATE INDEX follow_ups_assignee_due ON follow_ups (tenant_id, assignee, status, due_at, follow_up_id);
-- A customer's follow-ups.
CREATE INDEX follow_ups_customer ON follow_ups (tenant_id, customer_id, due_at);
-- Completions whose activity is not logged yet (the policy's sweep).
CREATE INDEX follow_ups_unlogged ON follow_ups (completed_at)
    WHERE status = 'done' AND activity_logged_at IS NULL;

-- One row per open follow-up: when its assignee is to be reminded. A
-- scheduler claims due rows with FOR UPDATE SKIP LOCKED, writes the
-- notification and deletes the row in one transaction, so several instances
-- share the work and none fires a reminder twice.
CREATE TABLE follow_up_reminders
(
    tenant_id    uuid        NOT NULL,
    follow_up_id uuid        NOT NULL,
    fire_at      timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    assignee     text        NOT NULL,
    PRIMARY KEY (tenant_id, follow_up_id)
);

CREATE INDEX follow_up_reminders_fire_at ON follow_up_reminders (fire_at);

-- A person's inbox. `id` orders it and is the Server-Sent Events id a
-- reconnecting client resumes after (`Last-Event-ID`).
CREATE TABLE notifications
(
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    uuid        NOT NULL,
    recipient    text        NOT NULL,
    kind         text        NOT NULL,
    follow_up_id uuid,
    customer_id  uuid,
    subject      text        NOT NULL,
    due_at       timestamptz,
    -- When it was meant to reach the recipient, and whether it was late
    -- (fired after an outage or a restart).
    meant_for    timestamptz NOT NULL,
    late         boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    read_at      timestamptz,
    -- What makes it once: the follow-up and the due time it reminds of.
    dedupe_key   text        NOT NULL,
    UNIQUE (tenant_id, dedupe_key)
);

CREATE INDEX notifications_inbox ON notifications (tenant_id, recipient, id);
CREATE INDEX notifications_unread ON notifications (tenant_id, recipient) WHERE read_at IS NULL;
-- A follow-up's notifications (whether an escalation was sent).
CREATE INDEX notifications_follow_up ON notifications (tenant_id, follow_up_id) WHERE follow_up_id IS NOT NULL;

-- Automation rules per tenant: off until an admin switches one on. A rule's
-- settings are checked by the service (`automation::Rule`).
CREATE TABLE automation_rules
(
    tenant_id  uuid        NOT NULL,
    rule       text        NOT NULL,
    enabled    boolean     NOT NULL,
    settings   jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text        NOT NULL,
    PRIMARY KEY (tenant_id, rule)
);
