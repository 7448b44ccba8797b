-- A transformation's id (ingest/schema.py ``Transformation.transformation_id``; EPCIS's
-- transformationID) on the links it writes, so the export groups a transformation's inputs
-- and outputs by it and names it. '' on aggregation links, and on links stored before.

ALTER TABLE links ADD COLUMN IF NOT EXISTS transformation_id String DEFAULT '';
