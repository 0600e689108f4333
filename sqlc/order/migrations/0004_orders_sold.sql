-- Merchants' sales figures (OpsService.GetSalesFigures) read the orders
-- that sold in a window of placement time: confirmed and shipped ones.
CREATE INDEX orders_sold ON orders (created_at) WHERE status IN ('confirmed', 'shipped');
