-- Which job each item is bound to, one row per item of a job event. The item state row
-- carries the job only once the item has been read, held or assembled; this table keeps the
-- binding of an item bound ahead of its first read, so the stream's route state can be
-- rebuilt from ClickHouse (linetrace state restore).

CREATE TABLE IF NOT EXISTS job_bindings (
    item String,
    job String,
    product LowCardinality(String),
    site LowCardinality(String),
    line LowCardinality(String),
    time DateTime64(6, 'UTC'),
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree
ORDER BY (item, time, job)
SETTINGS index_granularity = 1024;
