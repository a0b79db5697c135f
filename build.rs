// sqlx::migrate!() embeds migrations at compile time; without this, adding a
// migration file would not trigger a rebuild on stable Rust.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
