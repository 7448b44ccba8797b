-- Items per job from per-partition counts written by the stream: for each job and partition,
-- its items by the status their last row gave them. ReplacingMergeTree keeps each
-- (job, partition)'s latest row; queries sum the partitions. A job's done count (the jobs
-- list, the late-job banner, ready for dispatch) reads this, never item_state.

CREATE TABLE IF NOT EXISTS job_counts (
    job String,
    partition UInt16,
    items UInt64,
    complete UInt64,
    in_process UInt64,
    rejected UInt64,
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree(revision)
ORDER BY (job, partition);
