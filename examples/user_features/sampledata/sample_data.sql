-- Sample data of the daily_user_feature_pipeline example: raw.sales_orders, partitioned by dt.
-- Deterministic (from range(), no rand()): 3 days x 1000 orders of 97 users.
-- {{format}} is parquet or delta (delta needs Delta Lake on the server: scripts/install-delta.sh).
CREATE NAMESPACE IF NOT EXISTS raw;
DROP TABLE IF EXISTS raw.sales_orders;
CREATE TABLE raw.sales_orders USING {{format}} PARTITIONED BY (dt) AS
SELECT id AS order_id,
       CAST(id % 97 AS BIGINT) AS user_id,
       CAST((id * 37) % 1000 AS DOUBLE) / 10.0 AS amount,
       CASE WHEN id % 5 = 0 THEN 'web' ELSE 'app' END AS channel,
       date_format(date_add(DATE'2024-01-01', CAST(id % 3 AS INT)), 'yyyy-MM-dd') AS dt
FROM range(3000);
