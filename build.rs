fn main() {
    // sqlx::migrate!() embeds migrations at compile time; without this,
    // adding a migration file would not trigger a rebuild on stable Rust.
    println!("cargo:rerun-if-changed=migrations");
    wasm_split_cfg();
    point_to_the_integration_suite();
}

/// A build with neither the server's nor the browser's feature is a plain
/// `cargo test` (or `cargo build`): it has the unit tests only, so it says
/// where the rest are.
fn point_to_the_integration_suite() {
    let feature = |name: &str| std::env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
    if !feature("SSR") && !feature("HYDRATE") {
        println!(
            "cargo:warning=built without the `ssr` feature: unit tests only. The server's \
             integration suite: `cargo test --features ssr`, or each part alone with \
             `scripts/test.sh PART` (README, Developing)"
        );
    }
}

/// Sets `cfg(wasm_split)` when the browser build will be cut into chunks:
/// `cargo leptos … --split` links the wasm with `--emit-relocs`, which its
/// splitter needs. Without the splitter, a lazily loaded page imports a
/// module that never exists and the page never hydrates, so the routes are
/// eager then (src/app/routes.rs).
fn wasm_split_cfg() {
    println!("cargo::rustc-check-cfg=cfg(wasm_split)");
    println!("cargo:rerun-if-env-changed=RUSTFLAGS");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags
        .split('\x1f')
        .any(|flag| flag.contains("--emit-relocs"))
    {
        println!("cargo:rustc-cfg=wasm_split");
    }
}
