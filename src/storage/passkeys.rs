//! Passkeys and the ceremonies that add and use them, one body for both
//! databases. A ceremony's state waits here between its two requests, so
//! any replica finishes what another began; taking it deletes it, so each
//! is finished once however many requests race.

use super::{
    audit::insert_events,
    either::{lock_throttle_subjects, lock_user_row, on_either, Conn},
    outbox::{insert_mail, NewMail},
    Db, NewAuditEvent,
};
use crate::shared::{clock::UnixMs, ids::UserId};

/// A passkey as its owner sees it.
#[derive(Debug, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: String,
    pub name: String,
    pub created_at: UnixMs,
    pub last_used_at: Option<UnixMs>,
}

/// A passkey as signing in needs it: whose it is and its public key.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredPasskey {
    pub id: String,
    pub user_id: UserId,
    /// The user's handle, which the authenticator answers with.
    pub passkey_handle: Option<String>,
    /// webauthn-rs's record (public key, counter) as JSON.
    pub credential: String,
}

pub struct NewPasskey<'a> {
    pub id: &'a str,
    pub user_id: &'a UserId,
    pub credential_id: &'a str,
    pub name: &'a str,
    pub credential: &'a str,
    pub at: UnixMs,
}

/// What came of keeping a new passkey.
#[derive(Debug, PartialEq, Eq)]
pub enum PasskeyInsert {
    Added,
    /// The authenticator's credential is registered already.
    Known,
    /// The user holds as many passkeys as one may.
    Full,
}

/// A ceremony's server half, waiting for the browser's answer.
pub struct NewCeremony<'a> {
    pub handle_digest: &'a str,
    /// The user adding a passkey; `None` for signing in.
    pub user_id: Option<&'a UserId>,
    pub client_ip: Option<&'a str>,
    pub state: &'a str,
    pub now: UnixMs,
    pub expires_at: UnixMs,
}

/// How many ceremonies may wait at once: in all, and from one address.
#[derive(Clone, Copy, Debug)]
pub struct CeremonyCaps {
    pub all: i64,
    pub per_address: i64,
}

impl Db {
    pub async fn passkeys_of(&self, user_id: &UserId) -> Result<Vec<PasskeyRow>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(
            "SELECT id, name, created_at, last_used_at FROM passkeys
             WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)
    }

    /// The user's passkeys' records (JSON), so a new one is not the same
    /// authenticator again.
    pub async fn passkey_credentials_of(
        &self,
        user_id: &UserId,
    ) -> Result<Vec<String>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_scalar(
            "SELECT credential FROM passkeys WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)
    }

    pub async fn passkey_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<StoredPasskey>, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query_as(
            "SELECT p.id, p.user_id, u.passkey_handle, p.credential
             FROM passkeys p JOIN users u ON u.id = p.user_id
             WHERE p.credential_id = $1",
        )
        .bind(credential_id)
        .fetch_optional(pool)
        .await)
    }

    /// The user's passkey handle, drawn as `fresh` the first time.
    pub async fn passkey_handle(
        &self,
        user_id: &UserId,
        fresh: &str,
    ) -> Result<String, sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "UPDATE users SET passkey_handle = $2 WHERE id = $1 AND passkey_handle IS NULL",
        )
        .bind(user_id)
        .bind(fresh)
        .execute(pool)
        .await
        .map(drop))?;
        on_either!(self.pool(), pool => sqlx::query_scalar(
            "SELECT passkey_handle FROM users WHERE id = $1",
        )
        .bind(user_id)
        .fetch_one(pool)
        .await)
    }

    /// Keeps a passkey just registered, with its events and, when it is the
    /// user's first second factor, their new recovery codes (by digest),
    /// unless the user holds `max` passkeys already (counted in the same
    /// transaction, under the user's lock on PostgreSQL).
    pub async fn insert_passkey(
        &self,
        passkey: &NewPasskey<'_>,
        max: i64,
        recovery_digests: &[String],
        events: &[NewAuditEvent<'_>],
    ) -> Result<PasskeyInsert, sqlx::Error> {
        let mut tx = self.write().await?;
        lock_user_row(tx.conn(), passkey.user_id).await?;
        let held: i64 = on_either!(tx.conn(), c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM passkeys WHERE user_id = $1",
        )
        .bind(passkey.user_id)
        .fetch_one(c)
        .await?);
        if held >= max {
            return Ok(PasskeyInsert::Full);
        }
        let inserted = on_either!(tx.conn(), c => sqlx::query(
            "INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (credential_id) DO NOTHING",
        )
        .bind(passkey.id)
        .bind(passkey.user_id)
        .bind(passkey.credential_id)
        .bind(passkey.name)
        .bind(passkey.credential)
        .bind(passkey.at)
        .execute(c)
        .await?
        .rows_affected());
        if inserted != 1 {
            return Ok(PasskeyInsert::Known);
        }
        if !recovery_digests.is_empty() {
            super::two_factor::replace_recovery_codes(tx.conn(), passkey.user_id, recovery_digests)
                .await?;
        }
        insert_events(tx.conn(), events).await?;
        tx.commit().await?;
        Ok(PasskeyInsert::Added)
    }

    /// Removes one of the user's passkeys. When it was their last second
    /// factor, their recovery codes go with it and `notice` goes out.
    /// False when the user has no such passkey.
    pub async fn delete_passkey(
        &self,
        user_id: &UserId,
        id: &str,
        events: &[NewAuditEvent<'_>],
        last_notice: Option<&NewMail>,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write().await?;
        let deleted = on_either!(tx.conn(), c => sqlx::query(
            "DELETE FROM passkeys WHERE user_id = $1 AND id = $2",
        )
        .bind(user_id)
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
        if deleted != 1 {
            return Ok(false);
        }
        if super::two_factor::forget_recovery_codes_if_no_factor(tx.conn(), user_id).await? {
            if let Some(notice) = last_notice {
                insert_mail(tx.conn(), notice).await?;
            }
        }
        insert_events(tx.conn(), events).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a passkey's use: its new counter (in `credential`) and when.
    pub async fn passkey_used(
        &self,
        id: &str,
        credential: Option<&str>,
        at: UnixMs,
    ) -> Result<(), sqlx::Error> {
        on_either!(self.pool(), pool => sqlx::query(
            "UPDATE passkeys SET credential = COALESCE($2, credential), last_used_at = $3
             WHERE id = $1",
        )
        .bind(id)
        .bind(credential)
        .bind(at)
        .execute(pool)
        .await
        .map(drop))
    }

    /// Keeps a ceremony's state until its answer, unless `caps` are
    /// reached (counted in the same transaction, one insert at a time on
    /// every replica). Ceremonies past their time are forgotten first, so
    /// the table holds at most `caps.all` rows. False when full.
    pub async fn begin_passkey_ceremony(
        &self,
        ceremony: &NewCeremony<'_>,
        caps: CeremonyCaps,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write().await?;
        lock_throttle_subjects(tx.conn(), &["passkey-ceremonies"]).await?;
        delete_expired_ceremonies(tx.conn(), ceremony.now).await?;
        let inserted = on_either!(tx.conn(), c => sqlx::query(
            "INSERT INTO passkey_ceremonies (handle_digest, user_id, client_ip, state, expires_at)
             SELECT $1, $2, $3, $4, $5
             WHERE (SELECT COUNT(*) FROM passkey_ceremonies) < $6
               AND (SELECT COUNT(*) FROM passkey_ceremonies WHERE client_ip = $3) < $7",
        )
        .bind(ceremony.handle_digest)
        .bind(ceremony.user_id)
        .bind(ceremony.client_ip)
        .bind(ceremony.state)
        .bind(ceremony.expires_at)
        .bind(caps.all)
        .bind(caps.per_address)
        .execute(c)
        .await?
        .rows_affected());
        tx.commit().await?;
        Ok(inserted == 1)
    }

    /// Forgets prompts never answered (also done whenever one begins).
    pub async fn sweep_passkey_ceremonies(&self, now: UnixMs) -> Result<u64, sqlx::Error> {
        let mut tx = self.write().await?;
        let swept = delete_expired_ceremonies(tx.conn(), now).await?;
        tx.commit().await?;
        Ok(swept)
    }

    /// Takes a ceremony's state (by its handle's digest) for the user who
    /// began it (`None`: a sign-in), once and before it expires.
    pub async fn take_passkey_ceremony(
        &self,
        handle_digest: &str,
        user_id: Option<&UserId>,
        now: UnixMs,
    ) -> Result<Option<String>, sqlx::Error> {
        let state: Option<(String, Option<UserId>, UnixMs)> = on_either!(self.pool(), pool => sqlx::query_as(
            "DELETE FROM passkey_ceremonies WHERE handle_digest = $1
             RETURNING state, user_id, expires_at",
        )
        .bind(handle_digest)
        .fetch_optional(pool)
        .await)?;
        Ok(state
            .filter(|(_, owner, expires_at)| owner.as_ref() == user_id && *expires_at > now)
            .map(|(state, _, _)| state))
    }
}

/// Forgets ceremonies past their time, in the caller's transaction.
async fn delete_expired_ceremonies(conn: Conn<'_>, now: UnixMs) -> Result<u64, sqlx::Error> {
    on_either!(conn, c => sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at <= $1")
        .bind(now)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))
}

/// Whether the user has any passkey, in the caller's transaction.
pub(super) async fn has_passkeys(conn: Conn<'_>, user_id: &UserId) -> Result<bool, sqlx::Error> {
    on_either!(conn, c => sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1)",
    )
    .bind(user_id)
    .fetch_one(c)
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt<'a>(digest: &'a str, ip: &'a str, now: UnixMs) -> NewCeremony<'a> {
        NewCeremony {
            handle_digest: digest,
            user_id: None,
            client_ip: Some(ip),
            state: "{}",
            now,
            expires_at: now + std::time::Duration::from_secs(300),
        }
    }

    #[tokio::test]
    async fn a_ceremony_is_taken_once_before_it_expires_and_the_table_stays_capped() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/p.db", dir.path().display()))
            .await
            .unwrap();
        let caps = CeremonyCaps {
            all: 3,
            per_address: 2,
        };
        let now = UnixMs::from_millis(1_000_000);
        assert!(db
            .begin_passkey_ceremony(&prompt("a", "1.1.1.1", now), caps)
            .await
            .unwrap());
        assert!(db
            .begin_passkey_ceremony(&prompt("b", "1.1.1.1", now), caps)
            .await
            .unwrap());
        assert!(
            !db.begin_passkey_ceremony(&prompt("c", "1.1.1.1", now), caps)
                .await
                .unwrap(),
            "per address"
        );
        assert!(db
            .begin_passkey_ceremony(&prompt("d", "2.2.2.2", now), caps)
            .await
            .unwrap());
        assert!(
            !db.begin_passkey_ceremony(&prompt("e", "3.3.3.3", now), caps)
                .await
                .unwrap(),
            "in all"
        );

        assert_eq!(
            db.take_passkey_ceremony("a", None, now)
                .await
                .unwrap()
                .as_deref(),
            Some("{}")
        );
        assert_eq!(
            db.take_passkey_ceremony("a", None, now).await.unwrap(),
            None,
            "once"
        );
        let user: UserId = "usr_1".parse().unwrap();
        assert_eq!(
            db.take_passkey_ceremony("b", Some(&user), now)
                .await
                .unwrap(),
            None,
            "a sign-in's prompt is no user's"
        );
        let later = now + std::time::Duration::from_secs(301);
        assert_eq!(
            db.take_passkey_ceremony("d", None, later).await.unwrap(),
            None,
            "expired"
        );

        assert!(db
            .begin_passkey_ceremony(&prompt("f", "3.3.3.3", now), caps)
            .await
            .unwrap());
        assert_eq!(db.sweep_passkey_ceremonies(later).await.unwrap(), 1);
        // Expired prompts make room as new ones begin.
        for digest in ["g", "h"] {
            assert!(db
                .begin_passkey_ceremony(&prompt(digest, "4.4.4.4", later), caps)
                .await
                .unwrap());
        }
    }
}
