-- valetkey schema 4: the refresh grace window ends at a wall-clock millisecond (it was a whole
-- second, so a window of N seconds lasted N-1 to N). Windows open at the upgrade keep their end.
ALTER TABLE refresh_tokens RENAME COLUMN grace_until TO grace_until_ms;
UPDATE refresh_tokens SET grace_until_ms = grace_until_ms * 1000 WHERE grace_until_ms > 0;
