-- Sample data of the daily_user_feature_pipeline example: raw.sales_orders, partitioned by dt.
-- Deterministic (from range(), no rand()): 3 days x 1000 orders of 97 users.
-- {{create}} is, for Delta Lake (the default, as the seed's onelake source reads it),
-- CREATE OR REPLACE TABLE delta.`<lake root>/raw/sales_orders`: the table at the location every
-- engine reads (the arrow engine and delta-rs too); for Parquet, CREATE TABLE raw.sales_orders,
-- a Spark catalog table. {{format}} is delta or parquet.
CREATE NAMESPACE IF NOT EXISTS raw;
DROP TABLE IF EXISTS raw.sales_orders;
{{create}} USING {{format}} PARTITIONED BY (dt) AS
SELECT id AS order_id,
       CAST(id % 97 AS BIGINT) AS user_id,
       CAST((id * 37) % 1000 AS DOUBLE) / 10.0 AS amount,
       CASE WHEN id % 5 = 0 THEN 'web' ELSE 'app' END AS channel,
       date_format(date_add(DATE'2024-01-01', CAST(id % 3 AS INT)), 'yyyy-MM-dd') AS dt
FROM range(3000);
