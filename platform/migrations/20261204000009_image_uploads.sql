-- What each supplier has uploaded: its image quota (bytes of images it keeps) and its cap on
-- originals still waiting for the image worker. A row is reserved by command-api's upload
-- under a per-supplier lock before the original is stored, and settled when the worker's
-- outcome is recorded (a failed image no longer counts against the quota).
CREATE TABLE image_uploads
(
    image_id    uuid        PRIMARY KEY,
    supplier_id uuid        NOT NULL,
    product_id  uuid        NOT NULL,
    bytes       bigint      NOT NULL CHECK (bytes > 0),
    state       text        NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'processed', 'failed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    settled_at  timestamptz
);
CREATE INDEX image_uploads_by_supplier ON image_uploads (supplier_id, state);
