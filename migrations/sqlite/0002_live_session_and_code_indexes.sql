-- A live session is found through its user. The index that led with ended_at matched every
-- "user_id = ? AND ended_at IS NULL AND expires_at > ?" as well, and planners chose it: SQLite by
-- its rules, PostgreSQL because new sessions' expiries lie past its statistics, so it guessed one
-- row where every live session matched. Each login and each session check of a user then read
-- every live session of the community. Indexes that lead with expires_at and ended_at each still
-- serve the history sweep, and give PostgreSQL the true range of expires_at.
DROP INDEX sessions_ended_expires_idx;
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_ended_at_idx ON sessions (ended_at);

-- The pending web codes of an address are counted at every code request: with the expiry in the
-- index the count reads those codes only, not every code the address ever had that is not yet
-- vacuumed away.
DROP INDEX login_codes_client_ip_idx;
CREATE INDEX login_codes_client_ip_idx ON login_codes (client_ip, expires_at);
