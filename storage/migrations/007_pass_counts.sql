-- Throughput from exact per-partition pass counts written by the stream (ReplacingMergeTree
-- keeps each partition's latest count of a minute; queries sum the partitions). This
-- replaces the uniqExact rollup, whose states of every pass id were slow to merge.

CREATE TABLE IF NOT EXISTS pass_counts (
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    stage LowCardinality(String),
    minute DateTime('UTC'),
    partition UInt16,
    passes UInt64,
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree(revision)
ORDER BY (site, line, minute, station, stage, partition);

DROP VIEW IF EXISTS throughput_minute_mv;

DROP TABLE IF EXISTS throughput_minute;
