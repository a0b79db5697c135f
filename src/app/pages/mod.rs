mod account;
mod api_docs;
mod api_keys;
mod audit_log;
mod entry;
mod key_detail;
mod not_found;
mod overview;

pub use account::AccountPage;
pub use api_docs::ApiPage;
pub use api_keys::ApiKeysPage;
pub use audit_log::AuditLogPage;
pub use entry::{LoginPage, SignupPage};
pub use key_detail::KeyDetailPage;
pub use not_found::NotFound;
pub use overview::OverviewPage;
