-- The relay leader's lease (replaces the session advisory lock, which a frozen leader kept for
-- as long as its TCP connection lived — about two hours — so no standby took over).
-- A relay leads while it holds an unexpired lease; each taking of the lease increments
-- `epoch`, and the leader's every checkpoint write is conditional on its (holder, epoch): a
-- leader that lost the lease can no longer move the checkpoint (fencing). Expiry is measured
-- on the database's clock only, so the relays' clocks do not matter.
CREATE TABLE relay_leases
(
    relay       text        PRIMARY KEY,
    holder      uuid        NOT NULL,
    epoch       bigint      NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
