//! The built site's CSS, JavaScript and wasm under `/pkg`: compressed
//! (brotli or gzip, precompressed by release builds, on the fly otherwise)
//! and, when the build gave them content-hashed names, cached for a year;
//! and the files of `public/` (the favicon), each at a route of its own.
//! No file is ever served through the page renderer, whose request context
//! is for pages.
//!
//! Only these files are compressed: pages and API answers can hold
//! secrets beside text an attacker chooses, which compression would turn
//! into a length oracle (BREACH).

use axum::{
    http::{header::CACHE_CONTROL, HeaderValue, Response},
    Router,
};
use leptos::config::LeptosOptions;
use std::path::{Path, PathBuf};
use tower::ServiceBuilder;
use tower_http::{
    compression::{CompressionLayer, CompressionLevel},
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeaderLayer,
};

/// A hashed name changes with the content, so it never needs revalidating.
const HASHED: &str = "public, max-age=31536000, immutable";
/// An unhashed name may change under the same URL.
const UNHASHED: &str = "no-cache";

/// Whether the build wrote the file of content hashes beside the binary
/// (cargo-leptos does with `hash-files = true`). Without it the unhashed
/// names are used, as by a plain `cargo build`.
pub fn hashed_names_built(options: &LeptosOptions) -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(options.hash_file.as_ref())))
        .is_some_and(|file| file.is_file())
}

/// The router serving `/pkg`.
pub fn package_files<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    let folder: PathBuf = Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let cache_control =
        HeaderValue::from_static(if options.hash_files { HASHED } else { UNHASHED });
    let files = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            move |response: &Response<_>| {
                response
                    .status()
                    .is_success()
                    .then(|| cache_control.clone())
            },
        ))
        // On the fly only where the build did not precompress (dev builds):
        // the fastest level, since it is paid on every request.
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
        .service(
            ServeDir::new(folder)
                .precompressed_br()
                .precompressed_gzip(),
        );
    Router::new().nest_service(&format!("/{}", options.site_pkg_dir), files)
}

/// A route for each file the build copied from `public/` to the site's
/// root (`/favicon.svg`), found once at start-up.
pub fn public_files<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    let root = Path::new(options.site_root.as_ref());
    let files = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()));
    files.fold(Router::new(), |router, entry| {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return router;
        };
        let file = ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::overriding(
                CACHE_CONTROL,
                HeaderValue::from_static(UNHASHED),
            ))
            .service(ServeFile::new(entry.path()));
        router.route_service(&format!("/{name}"), file)
    })
}
