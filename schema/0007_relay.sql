-- The Kafka relay's checkpoint per topic, and the Kafka-fed projectors'
-- offsets per consumer group and partition (written in the same transaction
-- as the read-model changes they account for).

CREATE TABLE relay_checkpoints
(
    topic      text PRIMARY KEY,
    tx         xid8        NOT NULL,
    position   bigint      NOT NULL,
    events     bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE kafka_offsets
(
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    -- The offset of the next message to apply.
    next_offset    bigint      NOT NULL,
    events         bigint      NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
