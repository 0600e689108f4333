-- The operator's summary counts an hour of transitions a minute at a
-- time. History is appended in time order, so a BRIN index finds the hour
-- for a few pages' cost, and costs the saga's inserts next to nothing.
CREATE INDEX order_history_time ON order_history USING brin (created_at);
