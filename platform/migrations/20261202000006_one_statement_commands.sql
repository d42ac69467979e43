-- One statement per command: the events, the unique values they claim and the idempotent
-- answer are written together (platform::store::Append).

-- Unique values across streams (a supplier's registration number), claimed by the event that
-- introduces them, in the same statement. Replaces the registration-number registry, whose
-- reservations were written before the append and released after a failure.
CREATE TABLE unique_claims
(
    kind           text        NOT NULL,
    value          text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    claimed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);

-- Every number whose supplier was registered keeps it (a reservation without events never
-- took effect).
INSERT INTO unique_claims (kind, value, aggregate_type, aggregate_id, claimed_at)
SELECT 'supplier.registration_number', r.registration_number, 'Supplier', r.supplier_id::text,
       r.reserved_at
  FROM supplier_registration_numbers r
 WHERE EXISTS (SELECT 1 FROM events e
                WHERE e.aggregate_type = 'Supplier' AND e.aggregate_id = r.supplier_id::text);

DROP TABLE supplier_registration_numbers;

-- Answers are stored whole or not at all: no more "in progress" rows; each expires.
DELETE FROM idempotency_keys WHERE status IS NULL;
ALTER TABLE idempotency_keys ADD COLUMN expires_at timestamptz;
UPDATE idempotency_keys SET expires_at = created_at + interval '24 hours';
ALTER TABLE idempotency_keys ALTER COLUMN expires_at SET NOT NULL;
ALTER TABLE idempotency_keys ALTER COLUMN status SET NOT NULL;
ALTER TABLE idempotency_keys ALTER COLUMN response_body SET NOT NULL;
DROP INDEX idempotency_keys_created_at;
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
