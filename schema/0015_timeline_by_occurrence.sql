-- Timelines list a customer's history by when things happened, newest first
-- (a fact entered late takes its place by its date), paged by the keyset
-- (occurred_at, sequence).
CREATE INDEX rm_timeline_occurred ON rm_timeline (customer_id, occurred_at DESC, sequence DESC);
