//! What the integration tests share, by area: the server process and its
//! clients (`app`), the database under it (`database`), and the REST API
//! (`rest`), and a real SMTP server (`mail`).

mod app;
mod database;
mod mail;
mod rest;

pub use app::*;
pub use database::*;
pub use mail::*;
pub use rest::*;
