-- Snapshots of aggregate state, kept by the command bus (command-api `bus`, SQL in
-- platform::snapshots), not by cqrs-es: cqrs-es 0.5.0's snapshot stores apply a command's
-- events a second time to the state its handler already applied them to. postgres-es's table
-- was never written (the chained store refused snapshots), so it is replaced.
--
-- One row per aggregate, the latest. A snapshot is an optimisation, never a record: the events
-- stay the truth (audit, as_of, history and exports read only them). A row is used only while
-- the event it was taken at is still in the store with the same chain link (`event_hash`), its
-- `format` is the bus's, and its payload reads back into the aggregate byte for byte; otherwise
-- the aggregate is replayed from its first event and the row rewritten.
DROP TABLE snapshots;

CREATE TABLE snapshots
(
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    -- The state includes every event up to and including this sequence.
    last_sequence  bigint      NOT NULL CHECK (last_sequence >= 1),
    -- events.hash of that event when the snapshot was written (NULL if it was not sealed).
    event_hash     bytea,
    -- The bus's snapshot format (command_api::bus::SNAPSHOT_FORMAT).
    format         integer     NOT NULL,
    -- The aggregate as serde_json wrote it; json (not jsonb) keeps the text as written.
    payload        json        NOT NULL,
    taken_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id)
);
