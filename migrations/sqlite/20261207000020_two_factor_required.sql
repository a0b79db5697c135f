-- Issue 25: an owner may require two-factor sign-in of every member of
-- their account (1); members without it are sent to set it up first.
ALTER TABLE accounts ADD COLUMN require_two_factor INTEGER NOT NULL DEFAULT 0;
