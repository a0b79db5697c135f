use std::process::ExitCode;

// glibc's allocator cost about 15% of the CPU time of a verification under
// load (profiled with perf) and held memory in per-thread arenas; mimalloc
// is faster and returns memory (numbers in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is normal; settings then come from the environment.
    let _ = dotenvy::dotenv();
    keysmith::server::telemetry::init();
    keysmith::server::cli::run(std::env::args().skip(1).collect()).await
}
