-- WIP says where an item is: item_state.stage is the stage of the station it was last read
-- at (by event time); how far along its route it has got is route_stage, which differs after
-- an out-of-sequence pass (read back at an earlier stage, it stays at its furthest stage).

ALTER TABLE item_state ADD COLUMN IF NOT EXISTS route_stage LowCardinality(String) DEFAULT '';
