-- Work in process per stage from per-partition histograms written by the stream: for each
-- stage and partition, the items in process by the minute of their last read (minutes since
-- the epoch; older minutes merged into hours and days). ReplacingMergeTree keeps each
-- (stage, partition)'s latest row; queries sum the partitions. The line board reads this,
-- never item_state, so its WIP and ageing cost the same at any number of items.

CREATE TABLE IF NOT EXISTS wip_counts (
    site LowCardinality(String),
    line LowCardinality(String),
    stage LowCardinality(String),
    partition UInt16,
    items UInt64,
    minutes Array(UInt32),
    minute_items Array(UInt32),
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree(revision)
ORDER BY (site, line, stage, partition);
