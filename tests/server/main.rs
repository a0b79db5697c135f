//! Integration tests: each starts the real `keysmith` binary on a free port
//! with a fresh SQLite file and talks to it over HTTP.

mod helpers;

mod account;
mod addresses;
mod audit;
mod auth;
mod cli;
mod keys;
mod mail;
mod operations;
mod passkeys;
mod replicas;
mod rest;
mod role_matrix;
mod security;
mod sessions;
mod team_changes;
mod teams;
mod two_factor;
mod upgrade;
mod without_account;
