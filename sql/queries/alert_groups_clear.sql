-- alert_groups_clear: forget every group before the step's groups are written again.
-- Grain: every alert_groups row deleted (the table holds one engine step's groups).
DELETE FROM alert_groups;
