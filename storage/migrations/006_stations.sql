-- Stations of the plant with their planned rate, written by the stream worker at start, so
-- throughput can be read against target.

CREATE TABLE IF NOT EXISTS stations (
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    stage LowCardinality(String),
    target_per_hour Float64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree(stored_at)
ORDER BY (site, line, station);
