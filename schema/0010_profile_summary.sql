-- What the profile "as of now" needs beyond the row's totals and instants, so
-- the customer detail reads one row instead of the purchase and activity
-- histories: purchase categories in first-seen order with their counts, and
-- the activity kinds logged (each once, first-seen order). `profile?as_of=`
-- before the customer's last fact still reads the histories.
ALTER TABLE rm_customers
    ADD COLUMN purchase_categories      text[]    NOT NULL DEFAULT '{}',
    ADD COLUMN purchase_category_counts integer[] NOT NULL DEFAULT '{}',
    ADD COLUMN activity_types           text[]    NOT NULL DEFAULT '{}';

UPDATE rm_customers c
   SET purchase_categories = p.categories,
       purchase_category_counts = p.counts
  FROM (SELECT customer_id,
               array_agg(category ORDER BY first_sequence) AS categories,
               array_agg(n ORDER BY first_sequence) AS counts
          FROM (SELECT customer_id, category, min(sequence) AS first_sequence, count(*)::integer AS n
                  FROM rm_purchases
                 GROUP BY customer_id, category) per_category
         GROUP BY customer_id) p
 WHERE c.id = p.customer_id;

UPDATE rm_customers c
   SET activity_types = a.kinds
  FROM (SELECT customer_id, array_agg(activity_type ORDER BY first_sequence) AS kinds
          FROM (SELECT customer_id, activity_type, min(sequence) AS first_sequence
                  FROM rm_activities
                 GROUP BY customer_id, activity_type) per_kind
         GROUP BY customer_id) a
 WHERE c.id = a.customer_id;
