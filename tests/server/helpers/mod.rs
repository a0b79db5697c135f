//! What the integration tests share, by area: the server process and its
//! clients (`app`), the database under it (`database`), and the REST API
//! (`rest`).

mod app;
mod database;
mod rest;

pub use app::*;
pub use database::*;
pub use rest::*;
