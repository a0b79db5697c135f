//! The top floor, where the app is composed: configuration, the command
//! line, start-up (which builds the services and both doors), the HTTP
//! security layers, metrics, probes and assets. Nothing below imports it.
//! Compiled only with the `ssr` feature.

pub mod assets;
pub mod cli;
pub mod config;
pub mod edge;
pub mod health;
pub mod listener;
pub mod metrics;
pub mod retention;
pub mod secrets;
pub mod security;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use config::Config;
pub use startup::Application;
pub use state::AppState;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
