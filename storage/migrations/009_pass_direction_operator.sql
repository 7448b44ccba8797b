-- Passes say which way an item went through a portal with inside and outside antennas
-- (enter, exit; '' where unknown) and who scanned it, where scans carry an operator.

ALTER TABLE passes ADD COLUMN IF NOT EXISTS direction LowCardinality(String) DEFAULT '';

ALTER TABLE passes ADD COLUMN IF NOT EXISTS operator LowCardinality(String) DEFAULT '';
