-- Registration numbers span suppliers: one row per number, reserved before the
-- SupplierRegistered event is appended and confirmed (or released) after.
--   reserved: a registration is in progress (a stale reservation with no events is reclaimable)
--   active:   held by a pending, approved or suspended supplier
--   blocked:  held by a rejected supplier; never usable again
CREATE TABLE supplier_registration_numbers
(
    registration_number text        PRIMARY KEY,
    supplier_id         uuid        NOT NULL,
    state               text        NOT NULL CHECK (state IN ('reserved', 'active', 'blocked')),
    reserved_at         timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX supplier_registration_numbers_supplier ON supplier_registration_numbers (supplier_id);

-- Idempotency-Key: the first request with a key stores its response; a retry with the same
-- key and body gets that response again; the same key with another body is refused.
CREATE TABLE idempotency_keys
(
    principal      text        NOT NULL,
    key            text        NOT NULL,
    request_hash   bytea       NOT NULL,
    status         smallint,
    response_body  bytea,
    location       text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
