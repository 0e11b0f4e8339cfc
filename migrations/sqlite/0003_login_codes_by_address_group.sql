-- The pending web codes are limited per address group (00-conventions §10): an IPv6 client is
-- keyed by its /64, since one subscriber usually holds a whole /64 and could otherwise request
-- codes from every address of it. Codes pending at the upgrade keep the full address they were
-- made for, which for IPv4 is its group; they expire within the code lifetime.
DROP INDEX login_codes_client_ip_idx;
ALTER TABLE login_codes RENAME COLUMN client_ip TO client_group;
CREATE INDEX login_codes_client_group_idx ON login_codes (client_group, expires_at);
