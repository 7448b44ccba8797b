-- Job cards: the plan of a job, everything that happened to it (bindings, blockers, delays,
-- dispatch), QC results per item, and each pass's place in its item's route (so progress
-- per job and stage can be counted).

ALTER TABLE jobs ADD COLUMN IF NOT EXISTS planned_start DateTime64(6, 'UTC') AFTER created;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS planned_end DateTime64(6, 'UTC') AFTER planned_start;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS due DateTime64(6, 'UTC') AFTER planned_end;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS target_rate_per_h Float64 AFTER due;

CREATE TABLE IF NOT EXISTS job_events (
    job String,
    site LowCardinality(String),
    line LowCardinality(String),
    event LowCardinality(String),
    time DateTime64(6, 'UTC'),
    blocker_id String,
    blocker_type LowCardinality(String),
    owner String,
    note String,
    items UInt32,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree
ORDER BY (site, line, job, time, event, blocker_id);

CREATE TABLE IF NOT EXISTS qc_results (
    item String,
    job String,
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    result LowCardinality(String),
    notes String,
    time DateTime64(6, 'UTC'),
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree
ORDER BY (site, line, item, time);

ALTER TABLE passes ADD COLUMN IF NOT EXISTS route_index Int16 DEFAULT -1 AFTER detail;
