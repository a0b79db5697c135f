//! The REST API under `/api/v2`, by area.

mod credentials;
mod credits;
mod idempotency;
mod keys;
mod management_keys;
mod metadata;
mod openapi;
mod permissions;
mod ratelimits;
mod usage;
mod verification;
