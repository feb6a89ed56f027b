-- The funnel's figures per (tenant, owner, stage, furthest rank), kept by the
-- customers projection in the same transaction as rm_customers. The funnel
-- screen without a period filter then reads a few hundred rows instead of
-- every customer of the tenant (9 s p99 at 64 clients on a 50,000-customer
-- tenant when it scanned). Archived customers are not counted. A group whose
-- last customer leaves is deleted, so the table equals a GROUP BY over
-- rm_customers (what a rebuild computes).
CREATE TABLE rm_funnel_totals
(
    tenant_id      uuid           NOT NULL,
    owner_id       text           NOT NULL,
    stage          text           NOT NULL,
    furthest_rank  smallint       NOT NULL,
    customers      bigint         NOT NULL,
    -- sum(deal_value) and sum(deal_value * probability): exact, at the
    -- scales the products have.
    total_value    numeric(24, 2) NOT NULL,
    weighted_value numeric(30, 6) NOT NULL,
    -- Completed stays per stage, summed (index as in rm_customers).
    stay_micros    bigint[]       NOT NULL,
    stay_counts    bigint[]       NOT NULL,
    PRIMARY KEY (tenant_id, owner_id, stage, furthest_rank)
);

INSERT INTO rm_funnel_totals
SELECT tenant_id, owner_id, stage, furthest_rank, count(*), sum(deal_value),
       sum(deal_value * probability),
       ARRAY[sum(stay_micros[1]), sum(stay_micros[2]), sum(stay_micros[3]),
             sum(stay_micros[4]), sum(stay_micros[5]), sum(stay_micros[6])]::bigint[],
       ARRAY[sum(stay_counts[1]), sum(stay_counts[2]), sum(stay_counts[3]),
             sum(stay_counts[4]), sum(stay_counts[5]), sum(stay_counts[6])]::bigint[]
  FROM rm_customers
 WHERE NOT archived
 GROUP BY tenant_id, owner_id, stage, furthest_rank;
