-- The trace. Every table is keyed by deterministic ids, so a replayed or re-sent record
-- replaces itself (ReplacingMergeTree) instead of counting twice; queries read FINAL.

CREATE TABLE IF NOT EXISTS read_cycles (
    report_id String,
    site LowCardinality(String),
    line LowCardinality(String),
    reader_id LowCardinality(String),
    cycle_seq UInt64,
    cycle_start DateTime64(6, 'UTC'),
    entries UInt32,
    read_count UInt64,
    tags UInt32,
    passes UInt32,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree
ORDER BY (site, line, reader_id, cycle_seq, cycle_start);

CREATE TABLE IF NOT EXISTS passes (
    pass_id String,
    item String,
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    stage LowCardinality(String),
    reader_id LowCardinality(String),
    first_seen DateTime64(6, 'UTC'),
    last_seen DateTime64(6, 'UTC'),
    reads UInt32,
    product LowCardinality(String),
    job String,
    outcome LowCardinality(String),
    detail String,
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree(revision)
ORDER BY (item, first_seen, pass_id)
-- Small granules: most reads are point lookups by item (history, trace, genealogy).
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS violations (
    pass_id String,
    item String,
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    stage LowCardinality(String),
    time DateTime64(6, 'UTC'),
    type LowCardinality(String),
    detail String,
    product LowCardinality(String),
    job String,
    retracted UInt8,
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree(revision)
ORDER BY (site, line, pass_id);

CREATE TABLE IF NOT EXISTS item_state (
    item String,
    site LowCardinality(String),
    line LowCardinality(String),
    product LowCardinality(String),
    job String,
    stage LowCardinality(String),
    station LowCardinality(String),
    status LowCardinality(String),
    parent String,
    first_seen DateTime64(6, 'UTC'),
    last_seen DateTime64(6, 'UTC'),
    passes UInt32,
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree(revision)
ORDER BY item
SETTINGS index_granularity = 1024;

-- Links in both key orders: (parent -> child, 'down') and (child -> parent, 'up'), so each
-- genealogy level is one key lookup.
CREATE TABLE IF NOT EXISTS links (
    node String,
    other String,
    direction Enum8('down' = 1, 'up' = 2),
    link_id String,
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    time DateTime64(6, 'UTC'),
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree
ORDER BY (node, direction, other, link_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS jobs (
    job String,
    site LowCardinality(String),
    line LowCardinality(String),
    product LowCardinality(String),
    quantity UInt32,
    created DateTime64(6, 'UTC'),
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree
ORDER BY (site, line, job);

CREATE TABLE IF NOT EXISTS dead_letters (
    dead_letter_id String,
    time DateTime64(6, 'UTC'),
    reason LowCardinality(String),
    detail String,
    source_topic LowCardinality(String),
    source_partition Int32,
    source_offset Int64,
    payload String,
    payload_bytes UInt32,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree
ORDER BY dead_letter_id;

-- Passes per station per minute. uniqExact over pass ids makes the rollup idempotent:
-- a pass row written again (replay, new verdict) does not count twice.
CREATE TABLE IF NOT EXISTS throughput_minute (
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    stage LowCardinality(String),
    minute DateTime('UTC'),
    passes AggregateFunction(uniqExact, String)
) ENGINE = AggregatingMergeTree
ORDER BY (site, line, minute, station, stage);

CREATE MATERIALIZED VIEW IF NOT EXISTS throughput_minute_mv TO throughput_minute AS
SELECT site, line, station, stage, toStartOfMinute(first_seen) AS minute,
       uniqExactState(pass_id) AS passes
FROM passes
GROUP BY site, line, station, stage, minute;
