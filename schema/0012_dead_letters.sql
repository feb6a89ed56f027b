-- Events a reader gave up on. A projection or the relay that cannot apply an
-- event after its retries records it here and goes on past it, so that one
-- event can never stop a read model (or the topic) for every tenant.
-- `crm projector retry` applies an entry again and deletes it once it
-- applies. Entries are counted in /metrics, listed by
-- `crm projector status`, and make /readyz answer "degraded".
CREATE TABLE dead_letters
(
    -- A projection name (`customers`, `timeline`) or `relay:<topic>`.
    consumer     text        NOT NULL,
    -- The event's global position (the topic's CloudEvents `position`).
    position     bigint      NOT NULL,
    -- Where the failing reader took it from: the store or the Kafka topic.
    source       text        NOT NULL CHECK (source IN ('postgres', 'kafka')),
    event_id     uuid,
    tenant_id    uuid,
    aggregate_id text,
    error        text        NOT NULL,
    attempts     integer     NOT NULL,
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    PRIMARY KEY (consumer, position)
);
