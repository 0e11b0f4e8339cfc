-- Candidates are read earliest first (91-matchmaking §3.5): the entries that share a tag with the
-- caller, in the order of this index. IF NOT EXISTS: commit b7583a7 also added it to 0005 after
-- 0005 had been released, so a database made since then has it already.
CREATE INDEX IF NOT EXISTS match_entries_order_idx ON match_entries (enqueued_at, id);
