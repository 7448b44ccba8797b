-- Key-value serving tables (storage/serving.py): what a trace looks up by key, one row per
-- key, as EmbeddedRocksDB (a key lookup ~1 ms on chDB; a MergeTree point lookup 4-10 ms).
-- The MergeTree tables stay the record; the sink merges each flush's rows into these after
-- inserting them there. The INSERTs fill them from the record of a store that existed
-- before them (each is idempotent: a key's row is replaced).

CREATE TABLE IF NOT EXISTS kv_passes (
    item String,
    pass_id Array(String),
    first_seen Array(DateTime64(6, 'UTC')),
    last_seen Array(DateTime64(6, 'UTC')),
    site Array(String),
    line Array(String),
    stage Array(String),
    station Array(String),
    reader_id Array(String),
    reads Array(UInt32),
    outcome Array(String),
    detail Array(String),
    product Array(String),
    job Array(String),
    direction Array(String),
    operator Array(String),
    revision Array(UInt64)
) ENGINE = EmbeddedRocksDB
PRIMARY KEY item;

CREATE TABLE IF NOT EXISTS kv_item_state (
    item String,
    site String,
    line String,
    product String,
    job String,
    stage String,
    station String,
    status String,
    parent String,
    last_seen DateTime64(6, 'UTC'),
    revision UInt64
) ENGINE = EmbeddedRocksDB
PRIMARY KEY item;

CREATE TABLE IF NOT EXISTS kv_genealogy (
    node String,
    direction String,
    other Array(String),
    depth Array(UInt16),
    present Array(UInt8),
    version Array(UInt64),
    site Array(String),
    line Array(String),
    station Array(String),
    time Array(DateTime64(6, 'UTC'))
) ENGINE = EmbeddedRocksDB
PRIMARY KEY (node, direction);

INSERT INTO kv_passes
SELECT item, groupArray(pass_id), groupArray(first_seen), groupArray(last_seen), groupArray(site), groupArray(line),
       groupArray(stage), groupArray(station), groupArray(reader_id), groupArray(reads),
       groupArray(outcome), groupArray(detail), groupArray(product), groupArray(job),
       groupArray(direction), groupArray(operator), groupArray(revision)
FROM passes FINAL
GROUP BY item
SETTINGS optimize_aggregation_in_order = 1;

INSERT INTO kv_item_state
SELECT item, site, line, product, job, stage, station, status, parent,
       last_seen, revision
FROM item_state FINAL;

INSERT INTO kv_genealogy
SELECT node, toString(direction), groupArray(other), groupArray(depth), groupArray(present),
       groupArray(version), groupArray(site), groupArray(line), groupArray(station),
       groupArray(time)
FROM genealogy FINAL
GROUP BY node, direction
SETTINGS optimize_aggregation_in_order = 1;
