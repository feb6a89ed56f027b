-- Completed stays per stage, summed on the customer row (1-based SQL index in
-- funnel order: lead 1 … closed_won 5, closed_lost 6), so the funnel's
-- average cycle times need one pass over the customers instead of a join
-- with every stay.
ALTER TABLE rm_customers
    ADD COLUMN stay_micros bigint[]  NOT NULL DEFAULT '{0,0,0,0,0,0}',
    ADD COLUMN stay_counts integer[] NOT NULL DEFAULT '{0,0,0,0,0,0}';

-- Backfill from the stays already projected.
UPDATE rm_customers c
   SET stay_micros = ARRAY[t.m1, t.m2, t.m3, t.m4, t.m5, t.m6],
       stay_counts = ARRAY[t.c1, t.c2, t.c3, t.c4, t.c5, t.c6]
  FROM (SELECT customer_id,
               coalesce(sum(micros) FILTER (WHERE stage = 'lead'), 0)::bigint        AS m1,
               coalesce(sum(micros) FILTER (WHERE stage = 'qualified'), 0)::bigint   AS m2,
               coalesce(sum(micros) FILTER (WHERE stage = 'proposal'), 0)::bigint    AS m3,
               coalesce(sum(micros) FILTER (WHERE stage = 'negotiation'), 0)::bigint AS m4,
               coalesce(sum(micros) FILTER (WHERE stage = 'closed_won'), 0)::bigint  AS m5,
               coalesce(sum(micros) FILTER (WHERE stage = 'closed_lost'), 0)::bigint AS m6,
               (count(*) FILTER (WHERE stage = 'lead'))::integer                     AS c1,
               (count(*) FILTER (WHERE stage = 'qualified'))::integer                AS c2,
               (count(*) FILTER (WHERE stage = 'proposal'))::integer                 AS c3,
               (count(*) FILTER (WHERE stage = 'negotiation'))::integer              AS c4,
               (count(*) FILTER (WHERE stage = 'closed_won'))::integer               AS c5,
               (count(*) FILTER (WHERE stage = 'closed_lost'))::integer              AS c6
          FROM (SELECT customer_id, stage,
                       (extract(epoch FROM left_at - entered_at) * 1000000)::bigint AS micros
                  FROM rm_stage_stays) stays
         GROUP BY customer_id) t
 WHERE c.id = t.customer_id;
