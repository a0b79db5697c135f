use std::io::IsTerminal;
use tracing_subscriber::{fmt, EnvFilter};

/// Logs to stdout, filtered by `RUST_LOG` (default `info`); colours only on
/// a terminal, so log files and tests read plain text.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .try_init();
}
