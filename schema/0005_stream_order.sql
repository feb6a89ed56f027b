-- The analysts' stream reads one tenant's events in commit-safe order.
CREATE INDEX events_tenant_commit_order ON events (tenant_id, tx, global_position);
