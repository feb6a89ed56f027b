-- Per-customer data keys for personal fields (crypto-shredding). Each key is
-- stored wrapped (AES-256-GCM) by the master key from configuration; erasing a
-- customer's personal data destroys its key, never an event.
CREATE TABLE customer_keys
(
    customer_id      uuid PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    wrapped_key      bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    destroyed_at     timestamptz,
    destroyed_reason text,
    CONSTRAINT customer_keys_destroyed_without_key CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
);
