-- The event store. postgres-es owns the first seven columns and the primary key
-- (the optimistic-concurrency guard); every other column is filled by default or
-- by the trigger below, so postgres-es inserts events unchanged.
CREATE TABLE events
(
    aggregate_type  text   NOT NULL,
    aggregate_id    text   NOT NULL,
    sequence        bigint NOT NULL CHECK (sequence >= 1),
    event_type      text   NOT NULL,
    event_version   text   NOT NULL,
    payload         json   NOT NULL,
    metadata        json   NOT NULL,
    -- Total order for readers. Identity values are handed out before commit, so
    -- readers must also honour `tx` (see below).
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    -- The appending transaction. Readers take only rows whose tx is below
    -- pg_snapshot_xmin(pg_current_snapshot()), ordered by (tx, global_position):
    -- a plain `global_position > checkpoint` skips rows of transactions that
    -- commit out of order.
    tx              xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid        NOT NULL DEFAULT gen_random_uuid(),
    tenant_id       uuid        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Per-stream SHA-256 chain; see event_canonical_form.
    prev_hash       bytea,
    hash            bytea       NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence),
    CONSTRAINT events_hash_is_sha256 CHECK (length(hash) = 32),
    CONSTRAINT events_chain_starts_once CHECK ((sequence = 1) = (prev_hash IS NULL))
);

CREATE UNIQUE INDEX events_global_position ON events (global_position);
CREATE INDEX events_commit_order ON events (tx, global_position);
CREATE INDEX events_tenant_position ON events (tenant_id, global_position);
CREATE UNIQUE INDEX events_event_id ON events (event_id);
-- Finds the event a keyed command appended when its idempotency record was lost
-- (a crash between the append and the record).
CREATE INDEX events_idempotency_key ON events (tenant_id, (metadata ->> 'idempotency_key'))
    WHERE (metadata ->> 'idempotency_key') IS NOT NULL;

-- The canonical form hashed into `hash` (version 1). Fields are joined by a
-- line feed; none can contain one (aggregate ids and types are plain text,
-- payload and metadata are compact JSON text whose strings escape control
-- characters):
--   crm-event-v1
--   hex of prev_hash ('' for sequence 1)
--   aggregate_type
--   aggregate_id
--   sequence (decimal)
--   event_type
--   event_version
--   event_id (lower-case hyphenated UUID)
--   recorded_at as microseconds since the Unix epoch (decimal)
--   payload (the stored JSON text)
--   metadata (the stored JSON text; it carries tenant_id, actor, role, command,
--             correlation_id, idempotency_key and occurred_at)
-- hash = SHA-256 of the UTF-8 bytes. command::chain implements the same form in Rust.
CREATE FUNCTION event_canonical_form(
    prev_hash bytea, aggregate_type text, aggregate_id text, sequence bigint,
    event_type text, event_version text, event_id uuid, recorded_at timestamptz,
    payload json, metadata json) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT AS
$$
SELECT concat_ws(E'\n',
                 'crm-event-v1',
                 encode(prev_hash, 'hex'),
                 aggregate_type,
                 aggregate_id,
                 sequence::text,
                 event_type,
                 event_version,
                 event_id::text,
                 ((extract(epoch FROM recorded_at) * 1000000)::bigint)::text,
                 payload::text,
                 metadata::text)
$$;

CREATE FUNCTION events_before_insert() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    previous bytea;
BEGIN
    NEW.tenant_id := (NEW.metadata ->> 'tenant_id')::uuid;
    IF NEW.tenant_id IS NULL THEN
        RAISE EXCEPTION 'event metadata must carry tenant_id' USING ERRCODE = 'not_null_violation';
    END IF;
    NEW.occurred_at := coalesce((NEW.metadata ->> 'occurred_at')::timestamptz, NEW.recorded_at);
    IF NEW.sequence > 1 THEN
        SELECT e.hash INTO previous
          FROM events e
         WHERE e.aggregate_type = NEW.aggregate_type
           AND e.aggregate_id = NEW.aggregate_id
           AND e.sequence = NEW.sequence - 1;
        IF previous IS NULL THEN
            RAISE EXCEPTION 'stream %/% has no event %: appends must be contiguous',
                NEW.aggregate_type, NEW.aggregate_id, NEW.sequence - 1
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    NEW.prev_hash := previous;
    NEW.hash := sha256(convert_to(event_canonical_form(
        coalesce(previous, ''::bytea), NEW.aggregate_type, NEW.aggregate_id, NEW.sequence,
        NEW.event_type, NEW.event_version, NEW.event_id, NEW.recorded_at,
        NEW.payload, NEW.metadata), 'UTF8'));
    RETURN NEW;
END
$$;

CREATE TRIGGER events_chain
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_before_insert();

-- The log is append-only: history is corrected by new events, never rewritten.
CREATE FUNCTION events_reject_rewrite() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_reject_rewrite();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_reject_rewrite();
