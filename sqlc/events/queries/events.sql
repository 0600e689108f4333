-- name: ClaimDeliveries :many
-- Claims due deliveries, of one subscriber or of all, in one statement and
-- its own transaction, with a lease: no other relay takes them while the
-- lease runs, and a relay that dies midway leaves them due again once it
-- ends. The lease is a column no index holds, so taking it is a HOT
-- update. SKIP LOCKED lets relays (replicas) share the queue without
-- waiting on each other. No transaction stays open while the subscriber
-- is called.
--
-- The same statement records what the subscribers made of the loop's
-- previous round (the record_ arrays; see RecordDeliveries), so a busy
-- loop costs one statement a round. The deliveries it records are leased
-- in its snapshot, so it never claims them again.
WITH recorded AS (
    UPDATE outbox_deliveries d
    SET state = u.state, attempts = d.attempts + 1, next_attempt_at = u.next_attempt_at, last_error = u.last_error,
        leased_until = NULL,
        delivered_at = CASE WHEN u.state = 'delivered' THEN u.answered_at ELSE d.delivered_at END,
        parked_at = CASE WHEN u.state = 'parked' THEN u.answered_at ELSE d.parked_at END
    FROM (SELECT unnest(@record_event_ids::uuid[]) AS event_id, unnest(@record_subscribers::text[]) AS subscriber,
                 unnest(@record_states::text[]) AS state, unnest(@record_next_attempts::timestamptz[]) AS next_attempt_at,
                 unnest(@record_errors::text[]) AS last_error, unnest(@record_answered_at::timestamptz[]) AS answered_at) AS u
    -- "not delivered or parked", not "pending": the primary key finds
    -- each row, where the partial index of pending rows would be scanned.
    WHERE d.event_id = u.event_id AND d.subscriber = u.subscriber AND d.state NOT IN ('delivered', 'parked')
), due AS (
    SELECT d.event_id, d.subscriber
    FROM outbox_deliveries d
    WHERE d.state = 'pending' AND d.next_attempt_at <= now()
      AND (d.leased_until IS NULL OR d.leased_until <= now())
      AND (sqlc.narg(subscriber)::text IS NULL OR d.subscriber = sqlc.narg(subscriber)::text)
    ORDER BY d.next_attempt_at
    LIMIT @batch
    FOR UPDATE SKIP LOCKED
)
UPDATE outbox_deliveries d
SET leased_until = now() + make_interval(secs => @lease_seconds::float8)
FROM due, outbox o
WHERE d.event_id = due.event_id AND d.subscriber = due.subscriber AND o.id = d.event_id
RETURNING d.event_id, d.subscriber, d.attempts, o.envelope, o.created_at;

-- name: RecordDeliveries :exec
-- Records what subscribers made of their claimed deliveries, in one
-- statement: delivered, to retry at a time, or parked. The delivered and
-- parked times are when the relay had the subscriber's answer, not when
-- it recorded it (a later claim may carry the record): an operator's
-- timeline must show when the subscriber answered. A delivery another relay has settled meanwhile
-- (after the lease ended) is left as it is.
UPDATE outbox_deliveries d
SET state = u.state, attempts = d.attempts + 1, next_attempt_at = u.next_attempt_at, last_error = u.last_error,
    leased_until = NULL,
    delivered_at = CASE WHEN u.state = 'delivered' THEN u.answered_at ELSE d.delivered_at END,
    parked_at = CASE WHEN u.state = 'parked' THEN u.answered_at ELSE d.parked_at END
FROM (SELECT unnest(@event_ids::uuid[]) AS event_id, unnest(@subscribers::text[]) AS subscriber,
             unnest(@states::text[]) AS state, unnest(@next_attempts::timestamptz[]) AS next_attempt_at,
             unnest(@last_errors::text[]) AS last_error, unnest(@answered_at::timestamptz[]) AS answered_at) AS u
WHERE d.event_id = u.event_id AND d.subscriber = u.subscriber AND d.state NOT IN ('delivered', 'parked');

-- name: NextAttempt :one
-- When the earliest pending delivery, of one subscriber or of all, falls
-- due; an hour ahead when none is.
SELECT COALESCE(min(next_attempt_at), now() + interval '1 hour')::timestamptz AS due
FROM outbox_deliveries
WHERE state = 'pending' AND (sqlc.narg(subscriber)::text IS NULL OR subscriber = sqlc.narg(subscriber)::text);

-- name: ListParked :many
SELECT d.event_id, d.subscriber, d.attempts, d.last_error, d.parked_at, o.type, o.order_id, o.created_at
FROM outbox_deliveries d
JOIN outbox o ON o.id = d.event_id
WHERE d.state = 'parked'
  AND (sqlc.narg(subscriber)::text IS NULL OR d.subscriber = sqlc.narg(subscriber)::text)
  AND (sqlc.narg(type)::integer IS NULL OR o.type = sqlc.narg(type)::integer)
  AND (d.parked_at, d.event_id) > (@after_time::timestamptz, @after_id::uuid)
ORDER BY d.parked_at, d.event_id
LIMIT @page_limit;

-- name: Requeue :many
-- Returns what it requeued, with each event's envelope, so that the log
-- line of each requeue carries the event's trace.
UPDATE outbox_deliveries d
SET state = 'pending', attempts = 0, next_attempt_at = now(), parked_at = NULL
FROM outbox o
WHERE o.id = d.event_id
  AND d.state = 'parked'
  AND (sqlc.narg(subscriber)::text IS NULL OR d.subscriber = sqlc.narg(subscriber)::text)
  AND (sqlc.narg(type)::integer IS NULL OR o.type = sqlc.narg(type)::integer)
  AND (cardinality(@event_ids::uuid[]) = 0 OR d.event_id = ANY(@event_ids::uuid[]))
RETURNING d.event_id, d.subscriber, o.envelope;

-- name: OutboxBySubscriber :many
-- What /metrics reports of the outbox: per subscriber, deliveries waiting,
-- the age of the oldest one, and parked ones.
SELECT d.subscriber,
       count(*) FILTER (WHERE d.state = 'pending') AS pending,
       coalesce(extract(epoch FROM now() - min(o.created_at) FILTER (WHERE d.state = 'pending')), 0)::float8 AS oldest_pending_seconds,
       count(*) FILTER (WHERE d.state = 'parked') AS parked
FROM outbox_deliveries d
JOIN outbox o ON o.id = d.event_id
WHERE d.state <> 'delivered'
GROUP BY d.subscriber;

-- name: Notify :execrows
SELECT pg_notify('ordermesh_outbox', '');

-- name: AddEvent :exec
-- Records an event and one delivery per subscriber, in one round trip.
-- The relays are woken after the commit (events.Outbox).
WITH event AS (
    INSERT INTO outbox (id, type, order_id, envelope)
    VALUES (sqlc.arg(event_id)::uuid, sqlc.arg(type)::integer, sqlc.arg(order_id)::text, sqlc.arg(envelope)::bytea)
)
INSERT INTO outbox_deliveries (event_id, subscriber)
SELECT sqlc.arg(event_id)::uuid, unnest(sqlc.arg(subscribers)::text[]);

-- name: InsertInboxBatch :many
-- Records a batch of events in the inbox and returns the ids that were
-- new: the others were applied before.
INSERT INTO inbox (event_id, type)
SELECT unnest(@event_ids::uuid[]), unnest(@types::integer[])
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id;

-- name: AddEvents :exec
-- Records many events and their deliveries in one round trip: the batched
-- hot path emits a whole batch's outcomes at once.
WITH added AS (
    INSERT INTO outbox (id, type, order_id, envelope)
    SELECT unnest(sqlc.arg(event_ids)::uuid[]), unnest(sqlc.arg(types)::integer[]),
           unnest(sqlc.arg(order_ids)::text[]), unnest(sqlc.arg(envelopes)::bytea[])
)
INSERT INTO outbox_deliveries (event_id, subscriber)
SELECT unnest(sqlc.arg(delivery_event_ids)::uuid[]), unnest(sqlc.arg(delivery_subscribers)::text[]);

-- name: OrderDeliveries :many
-- Every delivery of every event this service produced about one order,
-- for the operator's saga timeline.
SELECT d.event_id, d.subscriber, d.state, d.attempts, d.last_error, d.next_attempt_at, d.delivered_at, d.parked_at,
       o.type, o.order_id, o.created_at
FROM outbox o
JOIN outbox_deliveries d ON d.event_id = o.id
WHERE o.order_id = @order_id
ORDER BY o.created_at, o.id, d.subscriber;

-- name: DeleteInbox :exec
-- Forgets events a batch recorded in its inbox but could not apply, in
-- the same transaction: the relay delivers them again.
DELETE FROM inbox WHERE event_id = ANY(@event_ids::uuid[]);

-- name: ReleaseClaims :exec
-- Gives claimed deliveries back at once, counting no attempt: a relay
-- that stops (its process shutting down) hands them to the next relay
-- without waiting for the lease to end.
UPDATE outbox_deliveries SET leased_until = NULL
WHERE event_id = ANY(@event_ids::uuid[]) AND subscriber = @subscriber AND state NOT IN ('delivered', 'parked');

-- name: CountParked :one
-- How many parked deliveries ListParked's filters select.
SELECT count(*)::bigint
FROM outbox_deliveries d
JOIN outbox o ON o.id = d.event_id
WHERE d.state = 'parked'
  AND (sqlc.narg(subscriber)::text IS NULL OR d.subscriber = sqlc.narg(subscriber)::text)
  AND (sqlc.narg(type)::integer IS NULL OR o.type = sqlc.narg(type)::integer);
