-- no-transaction
-- Reads by store position: replaying the store into a projection (`projections rebuild
-- --from store`), projection watermarks and `min_position` reads. Built without blocking
-- writers.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_global_position ON events (global_position);
