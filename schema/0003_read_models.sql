-- Read models of the mini-program, built by projectors from the event store.
-- Each projection keeps its checkpoint, the (tx, global_position) pair of the
-- last event it applied, updated in the same transaction as its tables.

CREATE TABLE projection_checkpoints
(
    name       text PRIMARY KEY,
    tx         xid8        NOT NULL DEFAULT '0',
    position   bigint      NOT NULL DEFAULT 0,
    events     bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO projection_checkpoints (name) VALUES ('customers'), ('timeline');

-- Wakes projectors when events commit (delivered at commit; one per statement).
CREATE FUNCTION events_notify() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('crm_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();

-- One row per customer: profile, funnel position and the purchase/contact
-- facts the RFM formulas need (scores themselves depend on the instant asked
-- about, so they are computed at query time, never stored).
CREATE TABLE rm_customers
(
    id                uuid PRIMARY KEY,
    tenant_id         uuid        NOT NULL,
    name              text        NOT NULL,
    phone             text,
    email             text,
    company           text,
    industry          text,
    position          text,
    source            text,
    owner_id          text        NOT NULL,
    stage             text        NOT NULL,
    deal_value        numeric(15, 2) NOT NULL,
    probability       numeric(5, 4)  NOT NULL,
    tags              text[]      NOT NULL DEFAULT '{}',
    archived          boolean     NOT NULL DEFAULT false,
    registered_at     timestamptz NOT NULL,
    stage_entered_at  timestamptz NOT NULL,
    -- Highest funnel rank ever reached (lead 0 … closed_won 4; closed_lost is not progress).
    furthest_rank     smallint    NOT NULL DEFAULT 0,
    last_activity_at  timestamptz,
    last_contact_at   timestamptz NOT NULL,
    purchase_count    integer     NOT NULL DEFAULT 0,
    total_amount      numeric(20, 2) NOT NULL DEFAULT 0,
    first_purchase_at timestamptz,
    last_purchase_at  timestamptz,
    -- Every two-character substring of name, company and phone (lower-cased):
    -- `q` of two or more characters is found through this GIN index whatever
    -- the collation, Chinese included; a LIKE on `search_text` confirms.
    search_bigrams    text[]      NOT NULL DEFAULT '{}',
    search_text       text        NOT NULL DEFAULT '',
    version           bigint      NOT NULL,
    last_position     bigint      NOT NULL
);

CREATE INDEX rm_customers_tenant_registered ON rm_customers (tenant_id, registered_at DESC, id DESC);
CREATE INDEX rm_customers_tenant_owner ON rm_customers (tenant_id, owner_id, registered_at DESC, id DESC);
CREATE INDEX rm_customers_tenant_stage ON rm_customers (tenant_id, stage, deal_value DESC);
CREATE INDEX rm_customers_search ON rm_customers USING gin (search_bigrams);
CREATE INDEX rm_customers_tags ON rm_customers USING gin (tags);

CREATE TABLE rm_purchases
(
    customer_id uuid           NOT NULL,
    sequence    bigint         NOT NULL,
    tenant_id   uuid           NOT NULL,
    amount      numeric(15, 2) NOT NULL,
    category    text           NOT NULL,
    occurred_at timestamptz    NOT NULL,
    order_ref   text,
    PRIMARY KEY (customer_id, sequence)
);

CREATE TABLE rm_activities
(
    customer_id   uuid        NOT NULL,
    sequence      bigint      NOT NULL,
    tenant_id     uuid        NOT NULL,
    activity_type text        NOT NULL,
    subject       text,
    occurred_at   timestamptz NOT NULL,
    PRIMARY KEY (customer_id, sequence)
);

-- Completed stays in a funnel stage, for avg_cycle_days.
CREATE TABLE rm_stage_stays
(
    customer_id uuid        NOT NULL,
    sequence    bigint      NOT NULL,
    tenant_id   uuid        NOT NULL,
    stage       text        NOT NULL,
    entered_at  timestamptz NOT NULL,
    left_at     timestamptz NOT NULL,
    PRIMARY KEY (customer_id, sequence)
);

CREATE INDEX rm_stage_stays_tenant ON rm_stage_stays (tenant_id, stage);

-- The customer's history as the timeline screen shows it.
CREATE TABLE rm_timeline
(
    customer_id uuid        NOT NULL,
    sequence    bigint      NOT NULL,
    tenant_id   uuid        NOT NULL,
    position    bigint      NOT NULL,
    kind        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    actor       text        NOT NULL,
    details     jsonb       NOT NULL,
    PRIMARY KEY (customer_id, sequence)
);

-- The lifecycle of DESIGN.md §5 for an instant, so list filters and segment
-- counts stay right as time passes with no new events. Must agree with
-- projector::profile::lifecycle (a test compares them at every boundary).
CREATE FUNCTION crm_lifecycle(
    purchase_count integer, total_amount numeric, last_purchase_at timestamptz,
    last_contact_at timestamptz, as_of timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$
SELECT CASE
           WHEN purchase_count = 0 THEN
               CASE WHEN contact_days <= 180 THEN 'prospect' ELSE 'lost' END
           WHEN purchase_count = 1 AND contact_days <= 60 THEN 'new'
           WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'loyal'
           WHEN r >= 4 AND f >= 3 THEN 'active'
           WHEN r <= 1 AND contact_days > 180 THEN 'lost'
           WHEN r <= 2 AND f >= 2 THEN 'at_risk'
           ELSE 'active'
           END
  FROM (SELECT greatest(1, least(5, 6 - floor(extract(epoch FROM as_of - last_purchase_at) / 86400 / 30)))::int AS r,
               greatest(1, least(5, floor(purchase_count / 2.0) + 1))::int AS f,
               greatest(1, least(5, floor(total_amount / 1000) + 1))::int AS m,
               extract(epoch FROM as_of - last_contact_at) / 86400 AS contact_days) AS scores
$$;
