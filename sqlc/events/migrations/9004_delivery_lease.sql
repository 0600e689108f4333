-- A relay's claim is a lease of its own, apart from when a delivery falls
-- due: the column is in no index, so taking and giving back a lease are
-- HOT updates that leave the queue's indexes alone.
ALTER TABLE outbox_deliveries ADD COLUMN leased_until timestamptz;
