-- A reservation's lines move into its own row, as two aligned arrays
-- sorted by SKU. The hot path writes a batch's reservations with one
-- statement either way, but a row per line cost a heap tuple and an index
-- entry each: with carts of 1 to 4 SKUs that was most of the batch's
-- write. Order ids compare bytewise (COLLATE "C"): they are UUIDs, and
-- locale-aware comparison made every index step slower for nothing.
ALTER TABLE reservations
    ADD COLUMN skus text[] NOT NULL DEFAULT '{}',
    ADD COLUMN quantities bigint[] NOT NULL DEFAULT '{}';

UPDATE reservations r
SET skus = l.skus, quantities = l.quantities
FROM (
    SELECT order_id, array_agg(sku ORDER BY sku) AS skus, array_agg(quantity ORDER BY sku) AS quantities
    FROM reservation_lines
    GROUP BY order_id
) l
WHERE l.order_id = r.order_id;

DROP TABLE reservation_lines;

ALTER TABLE reservations
    ALTER COLUMN order_id TYPE text COLLATE "C",
    ALTER COLUMN skus DROP DEFAULT,
    ALTER COLUMN quantities DROP DEFAULT,
    ADD CONSTRAINT reservations_lines_aligned CHECK (cardinality(skus) = cardinality(quantities)),
    ADD CONSTRAINT reservations_quantities_positive CHECK (0 < ALL (quantities));
