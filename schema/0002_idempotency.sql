-- Responses of keyed commands, so a retry with the same Idempotency-Key gets
-- the first answer. A row with a NULL status is a claim by a request still in
-- flight; a claim older than a minute is considered abandoned and may be taken over.
CREATE TABLE idempotency_keys
(
    tenant_id       uuid        NOT NULL,
    actor           text        NOT NULL,
    key             text        NOT NULL,
    fingerprint     bytea       NOT NULL,
    response_status smallint,
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, actor, key)
);

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
