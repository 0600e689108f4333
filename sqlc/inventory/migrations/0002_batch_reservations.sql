-- The batched hot path claims an order's reservation row before it
-- allocates, so two replicas never reserve the same order twice. The
-- claim lives only inside the batch's transaction: it is always resolved
-- to held or rejected before commit.
ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('claimed', 'held', 'sold', 'released', 'rejected', 'cancelled'));
