-- The key-value serving tables (migration 019) filled from the record: what the sink's
-- merges of the same rows leave there (tests/integration/test_serving.py). Run by
-- `linetrace serving refill` (storage.serving.rebuild) after emptying them, and by the query
-- bench after generating its record. Each statement is idempotent: a key's row is replaced.

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
