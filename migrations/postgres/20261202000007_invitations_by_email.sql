-- A user who belongs to no account sees the invitations waiting for their
-- email, across accounts, newest first.
CREATE INDEX invitations_email ON invitations (email, id);
