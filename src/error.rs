//! The one error type of Keysmith: every service, server function and REST
//! handler returns it. It compiles for the browser too, so it carries
//! messages, never a database error; those are logged on the server and
//! become [`AppError::Internal`].

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// A message about one input field, shown next to that field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// One or more fields failed validation.
    #[error("{}", join_messages(.0))]
    Validation(Vec<FieldError>),
    /// Wrong email or wrong password: deliberately the same message.
    #[error("Incorrect email or password.")]
    InvalidCredentials,
    #[error("Too many failed sign-in attempts. Try again in {} minute{}.", .retry_after_minutes, if *.retry_after_minutes == 1 { "" } else { "s" })]
    Throttled { retry_after_minutes: u64 },
    #[error("Too many sign-ups from your address. Try again in {} minute{}.", .retry_after_minutes, if *.retry_after_minutes == 1 { "" } else { "s" })]
    TooManySignUps { retry_after_minutes: u64 },
    /// As many emails with links (password resets, address checks) for one
    /// address, or from one client, in the last hour as the operator allows.
    #[error("Too many emails were asked for. Try again in {} minute{}.", .retry_after_minutes, if *.retry_after_minutes == 1 { "" } else { "s" })]
    TooManyEmails { retry_after_minutes: u64 },
    /// The account requires two-factor sign-in, which this member has not
    /// set up yet.
    #[error("This account requires two-factor sign-in. Set it up on the Account page of the dashboard first.")]
    TwoFactorEnrolmentRequired,
    /// A member whose address is unproven, while mail is on, creating keys.
    #[error("Confirm your email address before creating keys: open the link we sent you, or send a new one from the banner on the dashboard.")]
    EmailUnverified,
    /// A feature that needs email, on a server that sends none.
    #[error(
        "This server does not send email, so {0}. Ask its operator (keysmith user reset-password)."
    )]
    EmailOff(String),
    /// The account made as many invitations in the last hour as it may.
    #[error("This account has sent {per_hour} invitations in the last hour, the most it may. Try again in {} minute{}.", .retry_after_minutes, if *.retry_after_minutes == 1 { "" } else { "s" })]
    TooManyInvitations {
        per_hour: u32,
        retry_after_minutes: u64,
    },
    /// Every password-hashing slot for sign-ups is taken and the queue is full.
    #[error("Keysmith is busy. Try again in a few seconds.")]
    Busy,
    #[error("Please sign in to continue.")]
    Unauthenticated,
    /// The password was right; two-factor sign-in needs its code too.
    #[error("Enter the code from your authenticator app, or one of your recovery codes, or use a passkey if you added one.")]
    SecondFactorRequired,
    /// As many passkey prompts wait for an answer (from one address, or
    /// from everyone) as the server keeps.
    #[error("Too many passkey prompts are waiting for an answer. Finish one, or try again in {} minutes.", .retry_after_minutes)]
    TooManyPasskeyPrompts { retry_after_minutes: u64 },
    #[error("{0}")]
    Forbidden(String),
    #[error("Not found.")]
    NotFound,
    /// The request is valid but the thing it names is in the wrong state.
    #[error("{0}")]
    Conflict(String),
    /// A valid key without the scope an operation needs.
    #[error("This operation needs a key holding the `{0}` scope (directly or by implication).")]
    InsufficientScope(String),
    /// An API key where key or member management is asked: it holds no
    /// management scope, and never will.
    #[error("API keys never manage keys or members: this needs a signed-in user's bearer token (POST /api/v2/auth/token), or a management key holding the scope it needs.")]
    ApiKeysNeverManage,
    /// A member whose role in the account does not allow the operation.
    #[error(
        "This needs the `{needed}` role (or a higher one); your role in this account is `{have}`."
    )]
    InsufficientRole { needed: String, have: String },
    /// A valid API key used from an address outside its allowlist.
    #[error("This API key may not be used from your address.")]
    IpNotAllowed,
    #[error("The request body is too large.")]
    PayloadTooLarge,
    #[error("Send the request body as JSON, with Content-Type: application/json.")]
    UnsupportedMediaType,
    #[error("This method is not allowed here.")]
    MethodNotAllowed,
    #[error("This Idempotency-Key was already used with a different request.")]
    IdempotencyKeyReused,
    #[error("A request with this Idempotency-Key is still being processed. Retry later.")]
    IdempotencyKeyInUse,
    /// The member holds this many unexpired Idempotency-Keys already.
    #[error("You have used {0} Idempotency-Keys in the last 24 hours, the most Keysmith keeps. Reuse one for its retries, or wait for the oldest to expire.")]
    TooManyIdempotencyKeys(u32),
    /// Verify was called without one of the operator's verifier tokens.
    #[error("Verify needs a verifier token: send Authorization: Bearer <token>, one of those the operator configured (KEYSMITH_VERIFY_TOKENS).")]
    VerifierTokenRequired,
    /// More than one credential header in one request: which of them
    /// speaks is never guessed.
    #[error("This request carries more than one credential ({}). Send exactly one.", .0.join(", "))]
    AmbiguousCredentials(Vec<String>),
    /// The request itself was malformed (missing or mistyped arguments).
    #[error("Bad request: {0}")]
    BadRequest(String),
    /// The browser could not reach the server.
    #[error("Could not reach Keysmith. Check your connection and try again.")]
    Network,
    /// The server could not reach its database (down, or every connection
    /// busy for seconds): worth retrying, perhaps on another replica.
    #[error("Keysmith cannot reach its database right now. Try again in a few seconds.")]
    Unavailable,
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
}

/// How long a client is asked to wait when Keysmith is busy.
const BUSY_RETRY_SECONDS: u64 = 5;

fn join_messages(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

impl AppError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    /// One error for several inputs checked together, so a form can show
    /// every problem at once: the field messages of all of them, in order.
    /// An error that is about no field (the service is busy, say) wins
    /// over field messages, as it would stop the request anyway.
    pub fn collect(errors: impl IntoIterator<Item = Option<AppError>>) -> AppError {
        let mut fields = Vec::new();
        for error in errors.into_iter().flatten() {
            match error {
                AppError::Validation(more) => fields.extend(more),
                other => return other,
            }
        }
        AppError::Validation(fields)
    }

    /// The same messages about another field: for an input parsed by a
    /// type that names its field generically (`password`, say).
    pub fn for_field(self, field: &str) -> AppError {
        match self {
            AppError::Validation(fields) => AppError::Validation(
                fields
                    .into_iter()
                    .map(|f| FieldError {
                        field: field.to_owned(),
                        message: f.message,
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    /// The message for one field, if this is a validation error naming it.
    pub fn field_message(&self, field: &str) -> Option<String> {
        match self {
            AppError::Validation(errors) => errors
                .iter()
                .find(|e| e.field == field)
                .map(|e| e.message.clone()),
            _ => None,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Validation(_)
            | AppError::BadRequest(_)
            | AppError::AmbiguousCredentials(_) => 400,
            AppError::InvalidCredentials
            | AppError::SecondFactorRequired
            | AppError::Unauthenticated
            | AppError::VerifierTokenRequired => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound => 404,
            AppError::Conflict(_) => 409,
            AppError::InsufficientScope(_)
            | AppError::ApiKeysNeverManage
            | AppError::InsufficientRole { .. }
            | AppError::IpNotAllowed => 403,
            AppError::PayloadTooLarge => 413,
            AppError::UnsupportedMediaType => 415,
            AppError::MethodNotAllowed => 405,
            AppError::IdempotencyKeyReused => 422,
            AppError::IdempotencyKeyInUse | AppError::TooManyIdempotencyKeys(_) => 409,
            AppError::Throttled { .. }
            | AppError::TooManySignUps { .. }
            | AppError::TooManyEmails { .. }
            | AppError::TooManyInvitations { .. }
            | AppError::TooManyPasskeyPrompts { .. } => 429,
            AppError::EmailOff(_)
            | AppError::EmailUnverified
            | AppError::TwoFactorEnrolmentRequired => 403,
            AppError::Network | AppError::Busy | AppError::Unavailable => 503,
            AppError::Internal => 500,
        }
    }

    /// Seconds the client should wait before trying again (`Retry-After`).
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            AppError::Throttled {
                retry_after_minutes,
            }
            | AppError::TooManySignUps {
                retry_after_minutes,
            }
            | AppError::TooManyEmails {
                retry_after_minutes,
            }
            | AppError::TooManyInvitations {
                retry_after_minutes,
                ..
            }
            | AppError::TooManyPasskeyPrompts {
                retry_after_minutes,
            } => Some(retry_after_minutes * 60),
            AppError::Busy | AppError::Unavailable => Some(BUSY_RETRY_SECONDS),
            _ => None,
        }
    }

    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation(_) => "validation_failed",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Throttled { .. } => "too_many_attempts",
            AppError::TooManySignUps { .. } => "too_many_sign_ups",
            AppError::TooManyEmails { .. } => "too_many_emails",
            AppError::EmailOff(_) => "email_not_configured",
            AppError::EmailUnverified => "email_not_verified",
            AppError::TwoFactorEnrolmentRequired => "two_factor_required",
            AppError::TooManyInvitations { .. } => "too_many_invitations",
            AppError::TooManyPasskeyPrompts { .. } => "too_many_passkey_prompts",
            AppError::Busy => "busy",
            AppError::Unauthenticated => "unauthenticated",
            AppError::SecondFactorRequired => "otp_required",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::InsufficientScope(_) | AppError::ApiKeysNeverManage => "insufficient_scope",
            AppError::InsufficientRole { .. } => "insufficient_role",
            AppError::IpNotAllowed => "ip_not_allowed",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::IdempotencyKeyReused => "idempotency_key_reused",
            AppError::IdempotencyKeyInUse => "idempotency_key_in_use",
            AppError::TooManyIdempotencyKeys(_) => "too_many_idempotency_keys",
            AppError::AmbiguousCredentials(_) => "ambiguous_credentials",
            AppError::VerifierTokenRequired => "verifier_token_required",
            AppError::BadRequest(_) => "bad_request",
            AppError::Network => "network_error",
            AppError::Unavailable => "database_unavailable",
            AppError::Internal => "internal_error",
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m)
            | ServerFnErrorErr::MissingArg(m)
            | ServerFnErrorErr::Deserialization(m)
            | ServerFnErrorErr::UnsupportedRequestMethod(m) => AppError::BadRequest(m),
            ServerFnErrorErr::Request(_) => AppError::Network,
            _ => AppError::Internal,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        if unreachable(&error) {
            tracing::warn!(%error, "database unreachable");
            AppError::Unavailable
        } else if holds_nul(&error) {
            // PostgreSQL's text cannot hold U+0000; SQLite's can. The
            // fields that take text refuse control characters themselves;
            // this is the net under any that does not.
            AppError::BadRequest("text may not contain the NUL character (\\u0000)".into())
        } else {
            tracing::error!(%error, "database error");
            AppError::Internal
        }
    }
}

/// PostgreSQL's "invalid byte sequence" for a NUL in a text parameter.
#[cfg(feature = "ssr")]
fn holds_nul(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(error) if error.code().as_deref() == Some("22021"))
}

/// Whether the database could not be reached or is going away, rather
/// than refusing what was asked of it.
#[cfg(feature = "ssr")]
fn unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        // PostgreSQL's connection exceptions (class 08), its shutting down
        // or starting up (57P01-57P03) and "too many connections" (53300).
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_errors_keep_every_field_in_order() {
        let error = AppError::collect([
            Some(AppError::field("email", "Enter an email.")),
            None,
            Some(AppError::field("password", "Too short.").for_field("new_password")),
        ]);
        assert_eq!(error.field_message("email").unwrap(), "Enter an email.");
        assert_eq!(error.field_message("new_password").unwrap(), "Too short.");
        assert_eq!(error.to_string(), "Enter an email. Too short.");
    }

    #[test]
    fn an_error_about_no_field_is_not_hidden_among_field_messages() {
        let error = AppError::collect([Some(AppError::field("name", "x")), Some(AppError::Busy)]);
        assert_eq!(error, AppError::Busy);
    }

    #[test]
    fn validation_errors_are_found_by_field() {
        let error = AppError::Validation(vec![
            FieldError {
                field: "email".into(),
                message: "Bad email.".into(),
            },
            FieldError {
                field: "password".into(),
                message: "Too short.".into(),
            },
        ]);
        assert_eq!(
            error.field_message("password").as_deref(),
            Some("Too short.")
        );
        assert_eq!(error.field_message("name"), None);
        assert_eq!(error.to_string(), "Bad email. Too short.");
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn throttling_message_says_when_to_retry() {
        assert_eq!(
            AppError::Throttled {
                retry_after_minutes: 1
            }
            .to_string(),
            "Too many failed sign-in attempts. Try again in 1 minute."
        );
        assert_eq!(
            AppError::Throttled {
                retry_after_minutes: 12
            }
            .to_string(),
            "Too many failed sign-in attempts. Try again in 12 minutes."
        );
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn an_unreachable_database_is_worth_retrying_and_a_failed_query_is_not() {
        for unreachable in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed] {
            let error = AppError::from(unreachable);
            assert_eq!(error, AppError::Unavailable);
            assert_eq!(error.status(), 503);
            assert_eq!(error.retry_after_seconds(), Some(BUSY_RETRY_SECONDS));
        }
        assert_eq!(AppError::from(sqlx::Error::RowNotFound), AppError::Internal);
    }

    #[test]
    fn malformed_arguments_are_a_bad_request_not_an_internal_error() {
        let error = AppError::from_server_fn_error(ServerFnErrorErr::MissingArg("email".into()));
        assert_eq!(error.status(), 400);
    }
}
