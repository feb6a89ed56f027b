-- Tenant webhooks: endpoints an admin registers, the outbox of deliveries a
-- log reader writes for them (one row per endpoint and event), every attempt
-- the sender made, and the endpoints the sender disabled. Nothing is sent
-- from a request handler: the reader (its own checkpoint, commit-safe order)
-- writes deliveries, the sender claims due ones with FOR UPDATE SKIP LOCKED.

CREATE TABLE webhook_endpoints
(
    tenant_id      uuid        NOT NULL,
    endpoint_id    uuid        NOT NULL,
    url            text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    -- CloudEvents types (`crm.customer.stage_moved.v1`), family wildcards
    -- (`crm.customer.*`) or kinds that are not in the log (`crm.reminder.due`).
    event_types    text[]      NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 64),
    enabled        boolean     NOT NULL DEFAULT true,
    disabled_reason text,
    -- The signing secret (the 32 bytes behind `whsec_`), sealed with the
    -- master key (AES-256-GCM, bound to the endpoint id).
    secret_sealed  bytea       NOT NULL,
    -- The secret before the last rotation, still signed with until
    -- `previous_secret_until`, so receivers can switch without a gap.
    previous_secret_sealed bytea,
    previous_secret_until  timestamptz,
    -- Dead letters in a row since the last delivery that succeeded: the
    -- sender disables the endpoint when it reaches its limit.
    consecutive_dead_letters integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text        NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, endpoint_id),
    UNIQUE (endpoint_id)
);

-- The reader's place in the log (one row; locked by the batch that moves it,
-- so several instances take turns as the projectors do).
CREATE TABLE webhook_reader_checkpoint
(
    reader     text PRIMARY KEY,
    tx         xid8        NOT NULL,
    position   bigint      NOT NULL,
    events     bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries
(
    delivery_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       uuid        NOT NULL,
    endpoint_id     uuid        NOT NULL REFERENCES webhook_endpoints (endpoint_id) ON DELETE CASCADE,
    -- The `webhook-id` header: the event id for log events, so every retry
    -- and a replay carry the same one.
    message_id      text        NOT NULL,
    event_type      text        NOT NULL,
    -- Deliveries of one key (the aggregate id: the customer) reach an
    -- endpoint in the order they were written, one at a time.
    ordering_key    text        NOT NULL,
    -- The exact bytes signed and sent (the CloudEvents envelope).
    body            text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A sender's claim: nobody else sends the delivery before it expires
    -- (longer than the request timeout), and only the claimant records the outcome.
    claimed_by      uuid,
    claimed_until   timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    dead_at         timestamptz,
    UNIQUE (endpoint_id, message_id)
);

-- The sender's claim: pending deliveries by due time.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
-- "Is an earlier delivery of this key still pending?"
CREATE INDEX webhook_deliveries_key ON webhook_deliveries (endpoint_id, ordering_key, delivery_id)
    WHERE status = 'pending';
-- The dead-letter list of an endpoint.
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (endpoint_id, delivery_id)
    WHERE status = 'dead';

CREATE TABLE webhook_attempts
(
    attempt_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      bigint      NOT NULL REFERENCES webhook_deliveries (delivery_id) ON DELETE CASCADE,
    tenant_id        uuid        NOT NULL,
    endpoint_id      uuid        NOT NULL,
    attempted_at     timestamptz NOT NULL,
    -- NULL when no answer came (timeout, refused connection, refused address).
    status_code      integer,
    duration_ms      integer     NOT NULL,
    error            text,
    -- The first bytes of the answer's body, for the admin's diagnosis.
    response_excerpt text
);

CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, attempt_id DESC);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);

-- Every time the sender disabled an endpoint, and why (kept after the
-- endpoint is deleted: it is what admins were told).
CREATE TABLE webhook_endpoint_disablements
(
    disablement_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      uuid        NOT NULL,
    endpoint_id    uuid        NOT NULL,
    url            text        NOT NULL,
    reason         text        NOT NULL,
    disabled_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_endpoint_disablements_tenant ON webhook_endpoint_disablements (tenant_id, disabled_at DESC);
