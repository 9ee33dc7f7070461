-- webhook_outbox_seq: enqueue order of outbox rows; an endpoint's messages are delivered
-- in this order. Grain: one value per outbox row.
CREATE SEQUENCE webhook_outbox_seq;
