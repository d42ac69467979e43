-- Single-use tickets for live streams: a browser's EventSource cannot send an Authorization
-- header, so it first asks command-api for a ticket (POST /v1/streams/tickets) and passes it as
-- ?ticket= to query-api, which redeems it once, for that stream only, within 60 s. Only the
-- ticket's hash is kept.
CREATE TABLE IF NOT EXISTS stream_tickets (
    ticket_hash text        PRIMARY KEY,
    principal   jsonb       NOT NULL,
    stream      text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX IF NOT EXISTS stream_tickets_expiry ON stream_tickets (expires_at);
