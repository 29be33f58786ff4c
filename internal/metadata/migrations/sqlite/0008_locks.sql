-- Named locks with an expiry, for writers whose destination cannot refuse a second writer: two
-- attempts writing one Spark catalog table in parquet (no transaction log to reject the loser's
-- commit, unlike Delta) take the table's lock first. The holder renews it while it writes; a
-- holder that died (SIGKILL, a lost node) stops renewing, and its lock expires, so a retry waits
-- at most one ttl. Times are microseconds since the epoch.

CREATE TABLE aiflow_locks (
    name     TEXT   PRIMARY KEY,
    owner    TEXT   NOT NULL,
    taken_us BIGINT NOT NULL,
    until_us BIGINT NOT NULL
);
