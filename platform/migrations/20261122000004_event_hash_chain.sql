-- Tamper-evident history: each event's link in its stream's hash chain,
-- SHA-256(previous link || SHA-256(canonical envelope)) (see schemas::chain). Written by the
-- appending INSERT itself; NULL only for events written before this column existed, which
-- `freshline audit seal` chains once (make up runs it).
ALTER TABLE events ADD COLUMN hash bytea;
