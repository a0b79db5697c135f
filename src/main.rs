use std::process::ExitCode;

// glibc's allocator cost about 15% of the CPU time of a verification under
// load (profiled with perf) and held memory in per-thread arenas; mimalloc
// is faster and returns memory (numbers in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // Every file Keysmith creates (the database, its -wal and -shm
    // companions, the server secret) holds secrets' digests or keys: only
    // the user running Keysmith may read them.
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    // A missing .env is normal; settings then come from the environment.
    let _ = dotenvy::dotenv();
    keysmith::server::telemetry::init();
    keysmith::server::cli::run(std::env::args().skip(1).collect()).await
}
