-- Bearer tokens carry the generation of their user's tokens; signing out
-- everywhere or changing the password moves it on, so every token issued
-- before stops working at once.
ALTER TABLE users ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;
