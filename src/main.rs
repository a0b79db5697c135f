use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is normal; settings then come from the environment.
    let _ = dotenvy::dotenv();
    keysmith::server::telemetry::init();
    keysmith::server::cli::run(std::env::args().skip(1).collect()).await
}
