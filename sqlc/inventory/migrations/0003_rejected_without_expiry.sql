-- The batched path wrote Go's zero time (0001-01-01) as the expiry of a
-- rejected reservation, where the one-by-one path writes NULL: nothing is
-- held, so nothing expires. GetReservation reports the expiry to
-- operators, so the old rows say so too.
UPDATE reservations SET expires_at = NULL WHERE expires_at = '0001-01-01 00:00:00+00';
