//! What the server puts in the context of every server function: the
//! services and the site's address, each found by its type.

use crate::error::AppError;

/// The value of type `T` the server provided, or `Internal` (and an error in
/// the log) when the server was built without it.
pub fn provided<T: Clone + Send + Sync + 'static>() -> Result<T, AppError> {
    leptos::prelude::use_context::<T>().ok_or_else(|| {
        tracing::error!(
            missing = std::any::type_name::<T>(),
            "a server function's context lacks a value the server provides"
        );
        AppError::Internal
    })
}
