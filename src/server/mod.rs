//! The server: configuration, state, start-up, HTTP security layers and the
//! command line. Compiled only with the `ssr` feature.

pub mod assets;
pub mod cli;
pub mod clock;
pub mod config;
pub mod health;
pub mod listener;
pub mod metrics;
pub mod pagination;
pub mod rpc;
pub mod secrets;
pub mod security;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use config::Config;
pub use startup::Application;
pub use state::AppState;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
