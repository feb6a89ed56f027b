-- crm_lifecycle with the same rules as 0003, written as one expression with no
-- FROM clause so that PostgreSQL inlines it into the calling query instead of
-- starting the SQL-function executor once per row (lists, segments and the
-- lifecycle filter evaluate it for every row they scan). The scores are
-- spelled out where they are used; the arguments are columns and a parameter,
-- so repeating them costs nothing.
CREATE OR REPLACE FUNCTION crm_lifecycle(
    purchase_count integer, total_amount numeric, last_purchase_at timestamptz,
    last_contact_at timestamptz, as_of timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$
SELECT CASE
           WHEN purchase_count = 0 THEN
               CASE WHEN extract(epoch FROM as_of - last_contact_at) / 86400 <= 180 THEN 'prospect' ELSE 'lost' END
           WHEN purchase_count = 1 AND extract(epoch FROM as_of - last_contact_at) / 86400 <= 60 THEN 'new'
           WHEN greatest(1, least(5, 6 - floor(extract(epoch FROM as_of - last_purchase_at) / 86400 / 30)))::int >= 4
            AND greatest(1, least(5, floor(purchase_count / 2.0) + 1))::int >= 4
            AND greatest(1, least(5, floor(total_amount / 1000) + 1))::int >= 4 THEN 'loyal'
           WHEN greatest(1, least(5, 6 - floor(extract(epoch FROM as_of - last_purchase_at) / 86400 / 30)))::int >= 4
            AND greatest(1, least(5, floor(purchase_count / 2.0) + 1))::int >= 3 THEN 'active'
           WHEN greatest(1, least(5, 6 - floor(extract(epoch FROM as_of - last_purchase_at) / 86400 / 30)))::int <= 1
            AND extract(epoch FROM as_of - last_contact_at) / 86400 > 180 THEN 'lost'
           WHEN greatest(1, least(5, 6 - floor(extract(epoch FROM as_of - last_purchase_at) / 86400 / 30)))::int <= 2
            AND greatest(1, least(5, floor(purchase_count / 2.0) + 1))::int >= 2 THEN 'at_risk'
           ELSE 'active'
           END
$$;
