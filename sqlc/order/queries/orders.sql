-- name: Transition :exec
-- Moves an order to a status and records the transition, in one round
-- trip. The store wakes the order's watchers after the commit.
WITH moved AS (
    UPDATE orders SET status = sqlc.arg(status)::text, reason = sqlc.arg(reason)::text, updated_at = now()
    WHERE orders.id = sqlc.arg(order_id)::uuid
)
INSERT INTO order_history (order_id, status, reason, detail)
VALUES (sqlc.arg(order_id)::uuid, sqlc.arg(status)::text, sqlc.arg(reason)::text, sqlc.arg(detail)::text);

-- name: GetIdempotencyKey :one
SELECT * FROM idempotency_keys WHERE user_id = $1 AND key = $2;

-- name: LockOrder :one
SELECT * FROM orders WHERE id = $1 FOR UPDATE;

-- name: ListOrders :many
-- Newest first: ids are UUIDv7, so they sort by creation time.
SELECT * FROM orders
WHERE user_id = @user_id AND id < @before_id::uuid
ORDER BY id DESC
LIMIT @page_limit;

-- name: SetShortLines :exec
UPDATE orders SET short_lines = $2 WHERE id = $1;

-- name: SetBooking :exec
UPDATE orders SET booking_id = $2 WHERE id = $1;

-- name: SetShipped :exec
UPDATE orders SET status = 'shipped', tracking_number = $2, shipped_at = now(), updated_at = now() WHERE id = $1;

-- name: ExpiredOrders :many
-- Open orders past their deadline, claimed for this transaction; replicas
-- running the same job skip each other's rows.
SELECT id FROM orders
WHERE status IN ('pending', 'reserved') AND expires_at < now()
ORDER BY expires_at
LIMIT @batch
FOR UPDATE SKIP LOCKED;

-- name: OpenOrders :many
-- What /metrics reports of open orders (their saga not ended): per status,
-- how many, and the age of the oldest. The partial index on open orders
-- keeps it to the open rows.
SELECT status, count(*)::bigint AS open,
       extract(epoch FROM now() - min(created_at))::float8 AS oldest_seconds
FROM orders
WHERE status IN ('pending', 'reserved')
GROUP BY status;

-- name: SearchOrders :many
-- Every customer's orders, for operators. Filters that are empty (an empty
-- array, a NULL time or bound, an empty user, SKU or currency) match
-- everything; an id prefix is the range of ids that start with it, read
-- from the primary key. A page starts after the cursor id in the chosen
-- direction (ids are UUIDv7, so they sort by placement).
SELECT * FROM orders
WHERE (cardinality(@statuses::text[]) = 0 OR status = ANY(@statuses::text[]))
  AND (cardinality(@reasons::text[]) = 0 OR reason = ANY(@reasons::text[]))
  AND (sqlc.narg(placed_after)::timestamptz IS NULL OR created_at >= sqlc.narg(placed_after)::timestamptz)
  AND (sqlc.narg(placed_before)::timestamptz IS NULL OR created_at < sqlc.narg(placed_before)::timestamptz)
  AND (sqlc.narg(open_before)::timestamptz IS NULL
       OR (status IN ('pending', 'reserved') AND created_at < sqlc.narg(open_before)::timestamptz))
  AND (@user_id::text = '' OR user_id = @user_id::text)
  AND (sqlc.narg(id_from)::uuid IS NULL OR id BETWEEN sqlc.narg(id_from)::uuid AND sqlc.narg(id_to)::uuid)
  AND (@sku::text = '' OR EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = orders.id AND l.sku = @sku::text))
  AND (@total_currency::text = '' OR currency = @total_currency::text)
  AND (sqlc.narg(min_total)::bigint IS NULL OR total_minor >= sqlc.narg(min_total)::bigint)
  AND (sqlc.narg(max_total)::bigint IS NULL OR total_minor <= sqlc.narg(max_total)::bigint)
  AND (CASE WHEN @oldest_first::boolean THEN id > @cursor::uuid ELSE id < @cursor::uuid END)
ORDER BY (CASE WHEN @oldest_first::boolean THEN id END) ASC, id DESC
LIMIT @page_limit;

-- name: CountOrders :one
-- How many orders SearchOrders' filters match, on every page.
SELECT count(*)::bigint FROM orders
WHERE (cardinality(@statuses::text[]) = 0 OR status = ANY(@statuses::text[]))
  AND (cardinality(@reasons::text[]) = 0 OR reason = ANY(@reasons::text[]))
  AND (sqlc.narg(placed_after)::timestamptz IS NULL OR created_at >= sqlc.narg(placed_after)::timestamptz)
  AND (sqlc.narg(placed_before)::timestamptz IS NULL OR created_at < sqlc.narg(placed_before)::timestamptz)
  AND (sqlc.narg(open_before)::timestamptz IS NULL
       OR (status IN ('pending', 'reserved') AND created_at < sqlc.narg(open_before)::timestamptz))
  AND (@user_id::text = '' OR user_id = @user_id::text)
  AND (sqlc.narg(id_from)::uuid IS NULL OR id BETWEEN sqlc.narg(id_from)::uuid AND sqlc.narg(id_to)::uuid)
  AND (@sku::text = '' OR EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = orders.id AND l.sku = @sku::text))
  AND (@total_currency::text = '' OR currency = @total_currency::text)
  AND (sqlc.narg(min_total)::bigint IS NULL OR total_minor >= sqlc.narg(min_total)::bigint)
  AND (sqlc.narg(max_total)::bigint IS NULL OR total_minor <= sqlc.narg(max_total)::bigint);

-- name: OldestOpenOrder :one
-- The open order placed longest ago; the partial index on open orders
-- keeps it to the open rows.
SELECT id, created_at FROM orders
WHERE status IN ('pending', 'reserved')
ORDER BY created_at, id
LIMIT 1;

-- name: LockOrdersWithLines :many
-- The orders a delivered batch of events is about, with their lines,
-- locked in id order, so that concurrent batches never deadlock: one round
-- trip for the whole batch. How long each history is, and the
-- transaction's time (which its history entries will carry), let the
-- batch tell watchers what changed without their reading it.
SELECT sqlc.embed(orders),
       (SELECT coalesce(jsonb_agg(jsonb_build_object('sku', l.sku, 'name', l.name, 'quantity', l.quantity,
                                                     'unit_price', l.unit_price_minor) ORDER BY l.position), '[]'::jsonb)
        FROM order_lines l WHERE l.order_id = orders.id)::jsonb AS lines,
       (SELECT count(*) FROM order_history h WHERE h.order_id = orders.id)::integer AS history_len,
       now()::timestamptz AS tx_now
FROM orders
WHERE orders.id = ANY(@ids::uuid[])
ORDER BY orders.id
FOR UPDATE OF orders;

-- name: ApplyChanges :exec
-- Writes what a batch of events decided in one statement: each changed
-- order's status, reason, short lines and booking (an empty one leaves the
-- column as it is), and every transition in the history, in the order they
-- happened.
WITH moved AS (
    UPDATE orders o
    SET status = u.status, reason = u.reason,
        short_lines = CASE WHEN u.short_lines = '' THEN o.short_lines ELSE u.short_lines::jsonb END,
        booking_id = CASE WHEN u.booking_id = '' THEN o.booking_id ELSE u.booking_id END,
        updated_at = now()
    FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@statuses::text[]) AS status, unnest(@reasons::text[]) AS reason,
                 unnest(@short_lines::text[]) AS short_lines, unnest(@booking_ids::text[]) AS booking_id) AS u
    WHERE o.id = u.id
)
INSERT INTO order_history (order_id, status, reason, detail)
SELECT h.order_id, h.status, h.reason, h.detail
FROM (SELECT generate_subscripts(@history_order_ids::uuid[], 1) AS n, unnest(@history_order_ids::uuid[]) AS order_id,
             unnest(@history_statuses::text[]) AS status, unnest(@history_reasons::text[]) AS reason,
             unnest(@history_details::text[]) AS detail) AS h
ORDER BY h.n;

-- name: GetOrdersFull :many
-- Orders with their lines and history in one round trip: how an order is
-- read whole (GetOrder, the lists, what every WatchOrder stream of the
-- changed orders is sent).
SELECT sqlc.embed(orders),
       (SELECT coalesce(jsonb_agg(jsonb_build_object('sku', l.sku, 'name', l.name, 'quantity', l.quantity,
                                                     'unit_price', l.unit_price_minor) ORDER BY l.position), '[]'::jsonb)
        FROM order_lines l WHERE l.order_id = orders.id)::jsonb AS lines,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('status', h.status, 'reason', h.reason, 'detail', h.detail,
                                                     'at', h.created_at) ORDER BY h.id), '[]'::jsonb)
        FROM order_history h WHERE h.order_id = orders.id)::jsonb AS history
FROM orders
WHERE orders.id = ANY(@ids::uuid[]);

-- name: InsertOrders :many
-- Places a batch of orders in one statement: claims each idempotency key
-- and inserts the orders whose key was free, returning them. A key taken
-- before, or by an earlier order of the same batch, inserts nothing.
WITH input AS (
    SELECT unnest(@ids::uuid[]) AS id, unnest(@user_ids::text[]) AS user_id,
           unnest(@idempotency_keys::text[]) AS key, unnest(@request_hashes::bytea[]) AS request_hash,
           unnest(@currencies::text[]) AS currency, unnest(@subtotals_minor::bigint[]) AS subtotal_minor,
           unnest(@shippings_minor::bigint[]) AS shipping_minor, unnest(@totals_minor::bigint[]) AS total_minor,
           unnest(@shipping_addresses::jsonb[]) AS shipping_address, unnest(@emails::text[]) AS email,
           unnest(@payment_method_ids::uuid[]) AS payment_method_id, unnest(@from_carts::boolean[]) AS from_cart,
           unnest(@carriers::text[]) AS carrier, unnest(@service_levels::text[]) AS service_level,
           unnest(@expires_at::timestamptz[]) AS expires_at, unnest(@traceparents::text[]) AS traceparent
), claim AS (
    INSERT INTO idempotency_keys (user_id, key, request_hash, order_id)
    SELECT user_id, key, request_hash, id FROM input
    ON CONFLICT (user_id, key) DO NOTHING
    RETURNING order_id
)
INSERT INTO orders (id, user_id, status, currency, subtotal_minor, shipping_minor, total_minor,
                    shipping_address, email, payment_method_id, from_cart, carrier, service_level, expires_at, traceparent)
SELECT i.id, i.user_id, 'pending', i.currency, i.subtotal_minor, i.shipping_minor, i.total_minor,
       i.shipping_address, i.email, i.payment_method_id, i.from_cart, i.carrier, i.service_level, i.expires_at, i.traceparent
FROM input i JOIN claim ON claim.order_id = i.id
RETURNING id, created_at;

-- name: InsertOrdersLines :exec
-- The lines of a batch of new orders in one statement.
INSERT INTO order_lines (order_id, position, sku, name, quantity, unit_price_minor)
SELECT unnest(@order_ids::uuid[]), unnest(@positions::integer[]), unnest(@skus::text[]), unnest(@names::text[]),
       unnest(@quantities::integer[]), unnest(@unit_prices::bigint[]);

-- name: RecordPlacedMany :exec
-- The first history entry of each order of a batch.
INSERT INTO order_history (order_id, status, detail)
SELECT unnest(@order_ids::uuid[]), 'pending', 'placed';

-- name: SalesByDay :many
-- What sold in a window, by UTC day of placement and currency: the orders
-- confirmed or shipped, their totals (shipping included) and their units.
SELECT date_trunc('day', o.created_at, 'UTC')::timestamptz AS day, o.currency,
       sum(o.total_minor)::bigint AS revenue_minor, count(*)::bigint AS orders, sum(u.units)::bigint AS units
FROM orders o
CROSS JOIN LATERAL (SELECT coalesce(sum(l.quantity), 0)::bigint AS units FROM order_lines l WHERE l.order_id = o.id) u
WHERE o.status IN ('confirmed', 'shipped') AND o.created_at >= @from_time AND o.created_at < @to_time
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: TopSellers :many
-- The products that sold most units in a window, per currency: their
-- lines' units and revenue (unit price times quantity) and the orders
-- they were in.
SELECT l.sku, max(l.name)::text AS name, o.currency, sum(l.quantity)::bigint AS units,
       sum(l.quantity::bigint * l.unit_price_minor)::bigint AS revenue_minor, count(DISTINCT o.id)::bigint AS orders
FROM order_lines l
JOIN orders o ON o.id = l.order_id
WHERE o.status IN ('confirmed', 'shipped') AND o.created_at >= @from_time AND o.created_at < @to_time
GROUP BY l.sku, o.currency
ORDER BY units DESC, revenue_minor DESC, l.sku
LIMIT @top;

-- name: CreateBulkAction :one
-- A new bulk action; none when its request id is taken (a retry), which
-- GetBulkActionByRequest then reads.
INSERT INTO bulk_actions (id, request_id, kind, operator, reason, filter, filter_text, matched, state, finished_at)
VALUES (@id, sqlc.narg(request_id), @kind, @operator, @reason, @filter, @filter_text, @matched,
        CASE WHEN @matched::bigint = 0 THEN 'done' ELSE 'running' END,
        CASE WHEN @matched::bigint = 0 THEN now() END)
ON CONFLICT (request_id) DO NOTHING
RETURNING *;

-- name: GetBulkAction :one
SELECT * FROM bulk_actions WHERE id = @id;

-- name: GetBulkActionByRequest :one
SELECT * FROM bulk_actions WHERE request_id = @request_id;

-- name: ListBulkActions :many
-- Newest first (ids are UUIDv7), after the cursor.
SELECT * FROM bulk_actions WHERE id < @cursor ORDER BY id DESC LIMIT @page_limit;

-- name: ClaimBulkAction :one
-- A running action whose next step is due, locked for this step; another
-- runner skips it and takes the next.
SELECT * FROM bulk_actions
WHERE state = 'running' AND next_step_at <= now()
ORDER BY next_step_at, id
LIMIT 1
FOR UPDATE SKIP LOCKED;

-- name: AdvanceBulkAction :one
-- A step's progress, committed with its work: the new cursor, the counts,
-- and the end when finished.
UPDATE bulk_actions
SET cursor = @cursor, done = done + @done, failures = 0, error = '',
    -- At the end, what was selected at the start and not done had changed
    -- before its turn came: skipped too.
    skipped = CASE WHEN @finished::boolean THEN greatest(skipped + @skipped, matched - done - @done) ELSE skipped + @skipped END,
    state = CASE WHEN @finished::boolean THEN 'done' ELSE 'running' END,
    finished_at = CASE WHEN @finished::boolean THEN now() END,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: FailBulkStep :one
-- A step that failed: its error, and the next try after a backoff, or
-- the action's end after too many failures in a row.
UPDATE bulk_actions
SET failures = failures + 1, error = @error,
    next_step_at = now() + make_interval(secs => least(power(2, failures), 60)),
    state = CASE WHEN failures + 1 >= @give_up::integer THEN 'failed' ELSE 'running' END,
    finished_at = CASE WHEN failures + 1 >= @give_up::integer THEN now() END,
    updated_at = now()
WHERE id = @id AND state = 'running'
RETURNING *;

-- name: RecordBulkOutcomes :exec
-- What a step did to each order.
INSERT INTO bulk_action_orders (action_id, order_id, outcome)
SELECT @action_id, unnest(@order_ids::uuid[]), unnest(@outcomes::text[]);

-- name: OrderBulkActions :many
-- The bulk actions that touched an order, with what each did to it.
SELECT sqlc.embed(a), r.outcome, r.created_at AS acted_at
FROM bulk_action_orders r
JOIN bulk_actions a ON a.id = r.action_id
WHERE r.order_id = @order_id
ORDER BY r.id;

-- name: MinutesSince :many
-- The summary's activity, a minute at a time: orders placed (their first
-- history entry), checkouts ended by outcome, and how many of the
-- cancellations followed a confirmation (they close no open order).
SELECT date_trunc('minute', h.created_at)::timestamptz AS minute,
       count(*) FILTER (WHERE h.status = 'pending')::bigint AS placed,
       count(*) FILTER (WHERE h.status = 'confirmed')::bigint AS confirmed,
       count(*) FILTER (WHERE h.status = 'rejected')::bigint AS rejected,
       count(*) FILTER (WHERE h.status = 'cancelled')::bigint AS cancelled,
       count(*) FILTER (WHERE h.status = 'cancelled' AND EXISTS (
         SELECT 1 FROM order_history c WHERE c.order_id = h.order_id AND c.id < h.id AND c.status = 'confirmed'))::bigint AS cancelled_confirmed
FROM order_history h
WHERE h.created_at >= @since
GROUP BY 1
ORDER BY 1;

-- name: BusiestSKUs :many
-- The SKUs with most units on the orders placed since a time, read from
-- the orders' primary key (ids are UUIDv7: since_id is the first id of
-- that time).
SELECT l.sku, sum(l.quantity)::bigint AS units
FROM orders o
JOIN order_lines l ON l.order_id = o.id
WHERE o.id >= @since_id
GROUP BY l.sku
ORDER BY units DESC, l.sku
LIMIT @top;

-- name: StopBulkAction :one
-- Stops a running action; a step in progress holds its row, so this waits
-- for that step to commit and the next one never starts.
UPDATE bulk_actions
SET state = 'stopped', stopped_by = @stopped_by, finished_at = now(), updated_at = now()
WHERE id = @id AND state = 'running'
RETURNING *;
