-- depth_book_depth_delete: remove the book_depth_1s rows a depth chunk recomputes.
-- Grain: every row with ts_event in [$start, $end).
-- Params: $start, $end BIGINT epoch ns.
DELETE FROM book_depth_1s
WHERE ts_event >= make_timestamp_ns($start) AND ts_event < make_timestamp_ns($end);
