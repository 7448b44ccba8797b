-- The linetrace schema on a ClickHouse cluster (shards of replicas, ClickHouse Keeper),
-- for deployments where LINETRACE_CLICKHOUSE_DSN points at a cluster rather than chDB or
-- one server. Generated from storage/migrations by `python -m storage.cluster.generate`;
-- do not edit it by hand (tests/unit/k8s/test_cluster_ddl.py fails until it is generated
-- again). It is the state the migrations reach after the last one:
--
-- * each table is a ReplicatedReplacingMergeTree `<table>_local` on every node, with the
--   same columns, sorting key, version column and index granularity as the single-node
--   table, and a Distributed table `<table>` over it that the sink and the query API use
--   under the single-node name;
-- * rows that replace each other have equal sorting keys, so every sharding key below is a
--   hash of sorting-key columns: a row and its later revisions land on the same shard, and
--   FINAL (or the latest revision) per shard is the latest overall;
-- * the key-value serving tables (kv_*, storage/serving.py) are EmbeddedRocksDB tables
--   `<table>_local` on every node, not replicated, and a Distributed table over each,
--   sharded as its record; docs/operations.md says how each replica's are filled;
-- * schema_migrations is replicated to every node of every shard (one Keeper path without
--   {shard}) and records the migrations this file already contains, so the sink, which
--   applies storage/migrations when it starts, finds nothing left to apply.
--
-- Every statement is idempotent; the k8s Job linetrace-clickhouse-schema runs this file
-- with clickhouse-client. {cluster}, {shard} and {replica} are macros the ClickHouse
-- operator defines on every node; {database} is the table's database. A database that
-- already holds an older version of this schema needs the ALTER ... ON CLUSTER '{cluster}'
-- of each new migration, for both `<table>_local` and `<table>`.

CREATE DATABASE IF NOT EXISTS linetrace ON CLUSTER '{cluster}';

CREATE TABLE IF NOT EXISTS linetrace.read_cycles_local ON CLUSTER '{cluster}' (
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
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/read_cycles', '{replica}')
ORDER BY (site, line, reader_id, cycle_seq, cycle_start)
-- LINETRACE_RETENTION_READ_CYCLES_DAYS's default; the cluster's retention.
TTL toDateTime(cycle_start) + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS linetrace.passes_local ON CLUSTER '{cluster}' (
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
    route_index Int16 DEFAULT -1,
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6),
    direction LowCardinality(String) DEFAULT '',
    operator LowCardinality(String) DEFAULT ''
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/passes', '{replica}', revision)
ORDER BY (item, first_seen, pass_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS linetrace.violations_local ON CLUSTER '{cluster}' (
    pass_id String,
    item String,
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    stage LowCardinality(String),
    time DateTime64(6, 'UTC'),
    type LowCardinality(String),
    detail String,
    missing Array(String),
    product LowCardinality(String),
    job String,
    retracted UInt8,
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/violations', '{replica}', revision)
ORDER BY (site, line, pass_id);

CREATE TABLE IF NOT EXISTS linetrace.item_state_local ON CLUSTER '{cluster}' (
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
    on_hold UInt8,
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6),
    route_stage LowCardinality(String) DEFAULT ''
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/item_state', '{replica}', revision)
ORDER BY item
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS linetrace.links_local ON CLUSTER '{cluster}' (
    node String,
    other String,
    direction Enum8('down' = 1, 'up' = 2),
    link_id String,
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    time DateTime64(6, 'UTC'),
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6),
    action Enum8('add' = 1, 'delete' = 2) DEFAULT 'add',
    kind LowCardinality(String) DEFAULT 'aggregation',
    transformation_id String DEFAULT ''
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/links', '{replica}')
ORDER BY (node, direction, other, link_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS linetrace.jobs_local ON CLUSTER '{cluster}' (
    job String,
    site LowCardinality(String),
    line LowCardinality(String),
    product LowCardinality(String),
    quantity UInt32,
    created DateTime64(6, 'UTC'),
    planned_start DateTime64(6, 'UTC'),
    planned_end DateTime64(6, 'UTC'),
    due DateTime64(6, 'UTC'),
    target_rate_per_h Float64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/jobs', '{replica}')
ORDER BY (site, line, job);

CREATE TABLE IF NOT EXISTS linetrace.dead_letters_local ON CLUSTER '{cluster}' (
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
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/dead_letters', '{replica}')
ORDER BY dead_letter_id;

CREATE TABLE IF NOT EXISTS linetrace.portal_read_rates_local ON CLUSTER '{cluster}' (
    site LowCardinality(String),
    line LowCardinality(String),
    stage LowCardinality(String),
    partition UInt32,
    observed UInt64,
    read UInt64,
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/portal_read_rates', '{replica}', revision)
ORDER BY (site, line, stage, partition);

CREATE TABLE IF NOT EXISTS linetrace.holds_local ON CLUSTER '{cluster}' (
    hold_id String,
    item String,
    site LowCardinality(String),
    line LowCardinality(String),
    hold_type LowCardinality(String),
    owner String,
    reason String,
    event LowCardinality(String),
    time DateTime64(6, 'UTC'),
    via String,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/holds', '{replica}')
ORDER BY (site, line, hold_id, item, event);

CREATE TABLE IF NOT EXISTS linetrace.job_events_local ON CLUSTER '{cluster}' (
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
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/job_events', '{replica}')
ORDER BY (site, line, job, time, event, blocker_id);

CREATE TABLE IF NOT EXISTS linetrace.qc_results_local ON CLUSTER '{cluster}' (
    item String,
    job String,
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    result LowCardinality(String),
    notes String,
    time DateTime64(6, 'UTC'),
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/qc_results', '{replica}')
ORDER BY (site, line, item, time);

CREATE TABLE IF NOT EXISTS linetrace.stations_local ON CLUSTER '{cluster}' (
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    stage LowCardinality(String),
    target_per_hour Float64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/stations', '{replica}', stored_at)
ORDER BY (site, line, station);

CREATE TABLE IF NOT EXISTS linetrace.pass_counts_local ON CLUSTER '{cluster}' (
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    stage LowCardinality(String),
    minute DateTime('UTC'),
    partition UInt16,
    passes UInt64,
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/pass_counts', '{replica}', revision)
ORDER BY (site, line, minute, station, stage, partition);

CREATE TABLE IF NOT EXISTS linetrace.genealogy_local ON CLUSTER '{cluster}' (
    node String,
    direction Enum8('down' = 1, 'up' = 2),
    other String,
    depth UInt16,
    present UInt8,
    version UInt64,
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    time DateTime64(6, 'UTC'),
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/genealogy', '{replica}', version)
ORDER BY (node, direction, other)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS linetrace.job_bindings_local ON CLUSTER '{cluster}' (
    item String,
    job String,
    product LowCardinality(String),
    site LowCardinality(String),
    line LowCardinality(String),
    time DateTime64(6, 'UTC'),
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/job_bindings', '{replica}')
ORDER BY (item, time, job)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS linetrace.epcis_events_local ON CLUSTER '{cluster}' (
    event_id String,
    event_type LowCardinality(String),
    event_time DateTime64(6, 'UTC'),
    site LowCardinality(String),
    line LowCardinality(String),
    biz_step LowCardinality(String),
    disposition LowCardinality(String),
    read_point String,
    biz_location String,
    epcs Array(String),
    parent_id String,
    capture_id String,
    document String,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/epcis_events', '{replica}')
ORDER BY event_id;

CREATE TABLE IF NOT EXISTS linetrace.wip_counts_local ON CLUSTER '{cluster}' (
    site LowCardinality(String),
    line LowCardinality(String),
    stage LowCardinality(String),
    partition UInt16,
    items UInt64,
    minutes Array(UInt32),
    minute_items Array(UInt32),
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/wip_counts', '{replica}', revision)
ORDER BY (site, line, stage, partition);

CREATE TABLE IF NOT EXISTS linetrace.shipments_local ON CLUSTER '{cluster}' (
    item String,
    shipment_id String,
    site LowCardinality(String),
    line LowCardinality(String),
    station LowCardinality(String),
    time DateTime64(6, 'UTC'),
    transaction_types Array(String),
    transactions Array(String),
    destination_types Array(String),
    destinations Array(String),
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/shipments', '{replica}')
ORDER BY (item, shipment_id);

CREATE TABLE IF NOT EXISTS linetrace.epcis_error_declarations_local ON CLUSTER '{cluster}' (
    event_id String,
    declaration_time DateTime64(6, 'UTC'),
    reason LowCardinality(String),
    corrective_event_ids Array(String),
    site LowCardinality(String),
    line LowCardinality(String),
    capture_id String,
    declaration String,
    document String,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/epcis_error_declarations', '{replica}')
ORDER BY event_id;

CREATE TABLE IF NOT EXISTS linetrace.job_counts_local ON CLUSTER '{cluster}' (
    job String,
    partition UInt16,
    items UInt64,
    complete UInt64,
    in_process UInt64,
    rejected UInt64,
    revision UInt64,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/job_counts', '{replica}', revision)
ORDER BY (job, partition);

CREATE TABLE IF NOT EXISTS linetrace.epcis_capture_jobs_local ON CLUSTER '{cluster}' (
    capture_id String,
    created_at DateTime64(6, 'UTC'),
    finished_at DateTime64(6, 'UTC'),
    answer String,
    stored_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/epcis_capture_jobs', '{replica}')
ORDER BY capture_id;

CREATE TABLE IF NOT EXISTS linetrace.kv_passes_local ON CLUSTER '{cluster}' (
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

CREATE TABLE IF NOT EXISTS linetrace.kv_item_state_local ON CLUSTER '{cluster}' (
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

CREATE TABLE IF NOT EXISTS linetrace.kv_genealogy_local ON CLUSTER '{cluster}' (
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

-- The tables the sink and the queries use.

CREATE TABLE IF NOT EXISTS linetrace.read_cycles ON CLUSTER '{cluster}' AS linetrace.read_cycles_local
ENGINE = Distributed('{cluster}', 'linetrace', 'read_cycles_local', cityHash64(reader_id, cycle_seq));

CREATE TABLE IF NOT EXISTS linetrace.passes ON CLUSTER '{cluster}' AS linetrace.passes_local
ENGINE = Distributed('{cluster}', 'linetrace', 'passes_local', cityHash64(item));

CREATE TABLE IF NOT EXISTS linetrace.violations ON CLUSTER '{cluster}' AS linetrace.violations_local
ENGINE = Distributed('{cluster}', 'linetrace', 'violations_local', cityHash64(pass_id));

CREATE TABLE IF NOT EXISTS linetrace.item_state ON CLUSTER '{cluster}' AS linetrace.item_state_local
ENGINE = Distributed('{cluster}', 'linetrace', 'item_state_local', cityHash64(item));

CREATE TABLE IF NOT EXISTS linetrace.links ON CLUSTER '{cluster}' AS linetrace.links_local
ENGINE = Distributed('{cluster}', 'linetrace', 'links_local', cityHash64(node));

CREATE TABLE IF NOT EXISTS linetrace.jobs ON CLUSTER '{cluster}' AS linetrace.jobs_local
ENGINE = Distributed('{cluster}', 'linetrace', 'jobs_local', cityHash64(job));

CREATE TABLE IF NOT EXISTS linetrace.dead_letters ON CLUSTER '{cluster}' AS linetrace.dead_letters_local
ENGINE = Distributed('{cluster}', 'linetrace', 'dead_letters_local', cityHash64(dead_letter_id));

CREATE TABLE IF NOT EXISTS linetrace.portal_read_rates ON CLUSTER '{cluster}' AS linetrace.portal_read_rates_local
ENGINE = Distributed('{cluster}', 'linetrace', 'portal_read_rates_local', cityHash64(stage, partition));

CREATE TABLE IF NOT EXISTS linetrace.holds ON CLUSTER '{cluster}' AS linetrace.holds_local
ENGINE = Distributed('{cluster}', 'linetrace', 'holds_local', cityHash64(item));

CREATE TABLE IF NOT EXISTS linetrace.job_events ON CLUSTER '{cluster}' AS linetrace.job_events_local
ENGINE = Distributed('{cluster}', 'linetrace', 'job_events_local', cityHash64(job));

CREATE TABLE IF NOT EXISTS linetrace.qc_results ON CLUSTER '{cluster}' AS linetrace.qc_results_local
ENGINE = Distributed('{cluster}', 'linetrace', 'qc_results_local', cityHash64(item));

CREATE TABLE IF NOT EXISTS linetrace.stations ON CLUSTER '{cluster}' AS linetrace.stations_local
ENGINE = Distributed('{cluster}', 'linetrace', 'stations_local', cityHash64(station));

CREATE TABLE IF NOT EXISTS linetrace.pass_counts ON CLUSTER '{cluster}' AS linetrace.pass_counts_local
ENGINE = Distributed('{cluster}', 'linetrace', 'pass_counts_local', cityHash64(station, minute));

CREATE TABLE IF NOT EXISTS linetrace.genealogy ON CLUSTER '{cluster}' AS linetrace.genealogy_local
ENGINE = Distributed('{cluster}', 'linetrace', 'genealogy_local', cityHash64(node));

CREATE TABLE IF NOT EXISTS linetrace.job_bindings ON CLUSTER '{cluster}' AS linetrace.job_bindings_local
ENGINE = Distributed('{cluster}', 'linetrace', 'job_bindings_local', cityHash64(item));

CREATE TABLE IF NOT EXISTS linetrace.epcis_events ON CLUSTER '{cluster}' AS linetrace.epcis_events_local
ENGINE = Distributed('{cluster}', 'linetrace', 'epcis_events_local', cityHash64(event_id));

CREATE TABLE IF NOT EXISTS linetrace.wip_counts ON CLUSTER '{cluster}' AS linetrace.wip_counts_local
ENGINE = Distributed('{cluster}', 'linetrace', 'wip_counts_local', cityHash64(stage, partition));

CREATE TABLE IF NOT EXISTS linetrace.shipments ON CLUSTER '{cluster}' AS linetrace.shipments_local
ENGINE = Distributed('{cluster}', 'linetrace', 'shipments_local', cityHash64(item));

CREATE TABLE IF NOT EXISTS linetrace.epcis_error_declarations ON CLUSTER '{cluster}' AS linetrace.epcis_error_declarations_local
ENGINE = Distributed('{cluster}', 'linetrace', 'epcis_error_declarations_local', cityHash64(event_id));

CREATE TABLE IF NOT EXISTS linetrace.job_counts ON CLUSTER '{cluster}' AS linetrace.job_counts_local
ENGINE = Distributed('{cluster}', 'linetrace', 'job_counts_local', cityHash64(job));

CREATE TABLE IF NOT EXISTS linetrace.epcis_capture_jobs ON CLUSTER '{cluster}' AS linetrace.epcis_capture_jobs_local
ENGINE = Distributed('{cluster}', 'linetrace', 'epcis_capture_jobs_local', cityHash64(capture_id));

CREATE TABLE IF NOT EXISTS linetrace.kv_passes ON CLUSTER '{cluster}' AS linetrace.kv_passes_local
ENGINE = Distributed('{cluster}', 'linetrace', 'kv_passes_local', cityHash64(item));

CREATE TABLE IF NOT EXISTS linetrace.kv_item_state ON CLUSTER '{cluster}' AS linetrace.kv_item_state_local
ENGINE = Distributed('{cluster}', 'linetrace', 'kv_item_state_local', cityHash64(item));

CREATE TABLE IF NOT EXISTS linetrace.kv_genealogy ON CLUSTER '{cluster}' AS linetrace.kv_genealogy_local
ENGINE = Distributed('{cluster}', 'linetrace', 'kv_genealogy_local', cityHash64(node));

-- Written last: a sink waiting for this table's rows (the init container of the sink) starts
-- only once everything above exists.
CREATE TABLE IF NOT EXISTS linetrace.schema_migrations ON CLUSTER '{cluster}' (
    version UInt32,
    name String,
    applied_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/schema_migrations', '{replica}')
ORDER BY version;

INSERT INTO linetrace.schema_migrations (version, name) VALUES
    (1, '001_trace.sql'),
    (2, '002_read_rates.sql'),
    (3, '003_holds.sql'),
    (4, '004_job_cards.sql'),
    (5, '005_genealogy_closure.sql'),
    (6, '006_stations.sql'),
    (7, '007_pass_counts.sql'),
    (8, '008_unpack_transform.sql'),
    (9, '009_pass_direction_operator.sql'),
    (10, '010_job_bindings.sql'),
    (11, '011_item_route_stage.sql'),
    (12, '012_epcis_events.sql'),
    (13, '013_wip_counts.sql'),
    (14, '014_shipments.sql'),
    (15, '015_transformation_id.sql'),
    (16, '016_epcis_error_declarations.sql'),
    (17, '017_job_counts.sql'),
    (18, '018_epcis_capture_jobs.sql'),
    (19, '019_serving_tables.sql');
