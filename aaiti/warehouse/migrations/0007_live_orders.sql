-- Orders sent to an exchange (live trading) next to simulated ones: where each order went
-- and the exchange's id for it, so later cycles can reconcile its fills.
ALTER TABLE trading.orders ADD COLUMN venue VARCHAR DEFAULT 'paper';
ALTER TABLE trading.orders ADD COLUMN exchange_order_id VARCHAR;
ALTER TABLE trading.fills ADD COLUMN venue VARCHAR DEFAULT 'paper';
-- From here on a client order id also names the account (strategy:account:exchange:symbol:
-- timeframe:bar:leg), so two accounts trading one strategy never share an id. The exchange
-- sees a short digest of it (aaiti.trading.live.exchange_client_id).
