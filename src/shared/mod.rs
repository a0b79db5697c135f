//! The ground floor, under every service and door: time (moments, days,
//! spans), the ids of each kind of thing, cursor pagination, the roles'
//! names, where the API lives, what the server hands to server
//! functions, and per-thread shards for what every verification writes.
//! Imports nothing of Keysmith but the error type. The calendar arithmetic
//! of `clock`, the ids and the roles are in the browser's build too.

/// sqlx's `Type`, `Encode` and `Decode` for a value stored as its text, on
/// either backend: written as `as_str()`, read back through `$parse`
/// (`&str -> Result<Self, String>`).
#[cfg(feature = "ssr")]
macro_rules! stored_as_text {
    ($ty:ty, $parse:expr) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $ty
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $ty
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                self.as_str().to_owned().encode_by_ref(buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $ty
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<DB>>::decode(value)?;
                let parse: fn(&str) -> Result<$ty, String> = $parse;
                parse(text).map_err(Into::into)
            }
        }
    };
}
#[cfg(feature = "ssr")]
use stored_as_text;

/// sqlx's `Type`, `Encode` and `Decode` for a value stored as a 64-bit
/// integer on either backend: written as `$to(self)`, read through `$from`.
#[cfg(feature = "ssr")]
macro_rules! stored_as_integer {
    ($ty:ty, $from:expr, $to:expr) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $ty
        where
            i64: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <i64 as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <i64 as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $ty
        where
            i64: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                let to: fn($ty) -> i64 = $to;
                to(*self).encode_by_ref(buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $ty
        where
            i64: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let from: fn(i64) -> $ty = $from;
                Ok(from(<i64 as sqlx::Decode<DB>>::decode(value)?))
            }
        }
    };
}
#[cfg(feature = "ssr")]
use stored_as_integer;

pub mod clock;
#[cfg(feature = "ssr")]
pub mod context;
pub mod ids;
pub mod key_type;
#[cfg(feature = "ssr")]
pub mod link_token;
#[cfg(feature = "ssr")]
pub mod pagination;
pub mod role;
#[cfg(feature = "ssr")]
pub mod sealed;
#[cfg(feature = "ssr")]
pub mod shards;
#[cfg(feature = "ssr")]
pub mod site;
