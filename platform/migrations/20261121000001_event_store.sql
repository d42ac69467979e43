-- The event store (the postgres-es schema) doubles as the outbox for the Kafka relay.
-- postgres-es names its columns in every statement, so the extra columns below, all with
-- defaults, are filled by PostgreSQL on insert.

-- UUIDv7 for event ids: 48-bit unix milliseconds, then random bits (PostgreSQL 15 has no
-- built-in uuidv7()). gen_random_uuid() already sets the variant; bits 52 and 53 turn its
-- version nibble from 4 (0100) into 7 (0111).
CREATE FUNCTION freshline_uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              placing substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;

CREATE TABLE events
(
    aggregate_type  text                         NOT NULL,
    aggregate_id    text                         NOT NULL,
    sequence        bigint CHECK (sequence >= 1) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    payload         jsonb                        NOT NULL,
    metadata        jsonb                        NOT NULL,
    -- Outbox columns: insertion order, the writing transaction, a stable id and a time.
    global_position bigserial                    NOT NULL,
    xid             xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid                         NOT NULL DEFAULT freshline_uuid_v7(),
    recorded_at     timestamptz                  NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- The relay reads in (transaction id, position) order from its checkpoint.
CREATE INDEX events_outbox_order ON events (xid, global_position);
CREATE UNIQUE INDEX events_event_id ON events (event_id);

-- Snapshots: the postgres-es table, unused until snapshots are proven correct.
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          jsonb                                NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- Where each relay has published up to: every event at or before (last_xid, last_position)
-- in outbox order has been acknowledged by the broker.
CREATE TABLE relay_checkpoints
(
    relay         text        PRIMARY KEY,
    last_xid      xid8        NOT NULL,
    last_position bigint      NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
