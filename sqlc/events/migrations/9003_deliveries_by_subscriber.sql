-- Each relay loop claims one subscriber's due deliveries, so that a
-- stalled subscriber delays only its own.
CREATE INDEX outbox_deliveries_subscriber_due ON outbox_deliveries (subscriber, next_attempt_at) WHERE state = 'pending';
