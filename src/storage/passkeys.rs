//! Passkeys and the ceremonies that add and use them, one body for both
//! databases. A ceremony's state waits here between its two requests, so
//! any replica finishes what another began; taking it deletes it, so each
//! is finished once however many requests race.

use super::{
    audit::insert_events,
    either::{lock_throttle_subjects, lock_user_row, on_either, Conn},
    outbox::{insert_mail, NewMail},
    two_factor::{forget_recovery_codes_if_no_factor, has_second_factor, replace_recovery_codes},
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
    /// `first_factor`: it turned two-factor sign-in on (the recovery codes
    /// were given).
    Added { first_factor: bool },
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
    /// The address (an IPv6 network) it came from, as the cap counts it.
    pub client_ip: &'a str,
    pub state: &'a str,
    pub now: UnixMs,
    pub expires_at: UnixMs,
}

/// How many ceremonies may wait at once: sign-ins in all and from one
/// address (or network), and additions per user.
#[derive(Clone, Copy, Debug)]
pub struct CeremonyCaps {
    pub sign_ins: i64,
    pub sign_ins_per_address: i64,
    pub additions_per_user: i64,
}

/// The records a change of second factor writes with it: its own events
/// and notice, and those written only when it turns two-factor sign-in on
/// or off (`switch_…`).
pub struct FactorChange<'a> {
    pub events: &'a [NewAuditEvent<'a>],
    pub notice: Option<&'a NewMail>,
    pub switch_events: &'a [NewAuditEvent<'a>],
    pub switch_notice: Option<&'a NewMail>,
}

impl FactorChange<'_> {
    /// Writes the change's records, in the caller's transaction;
    /// `switched`: it turned two-factor sign-in on or off.
    pub(super) async fn write(
        &self,
        mut conn: Conn<'_>,
        switched: bool,
    ) -> Result<(), sqlx::Error> {
        insert_events(conn.again(), self.events).await?;
        if let Some(notice) = self.notice {
            insert_mail(conn.again(), notice).await?;
        }
        if switched {
            insert_events(conn.again(), self.switch_events).await?;
            if let Some(notice) = self.switch_notice {
                insert_mail(conn.again(), notice).await?;
            }
        }
        Ok(())
    }
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

    /// Keeps a passkey just registered, unless the user holds `max`
    /// passkeys already (counted in the same transaction, under the user's
    /// lock on PostgreSQL). When it is the user's first second factor
    /// (decided under that lock), the recovery codes (by digest) and the
    /// change's switch events go with it.
    pub async fn insert_passkey(
        &self,
        passkey: &NewPasskey<'_>,
        max: i64,
        recovery_digests: &[String],
        change: &FactorChange<'_>,
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
        let first_factor = !has_second_factor(tx.conn(), passkey.user_id).await?;
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
        if first_factor {
            replace_recovery_codes(tx.conn(), passkey.user_id, recovery_digests).await?;
        }
        change.write(tx.conn(), first_factor).await?;
        tx.commit().await?;
        Ok(PasskeyInsert::Added { first_factor })
    }

    /// Removes one of the user's passkeys (under the user's lock). When it
    /// was their last second factor, their recovery codes go with it and
    /// the change's switch events and notice are written. `None` when the
    /// user has no such passkey, else whether it was the last factor.
    pub async fn delete_passkey(
        &self,
        user_id: &UserId,
        id: &str,
        change: &FactorChange<'_>,
    ) -> Result<Option<bool>, sqlx::Error> {
        let mut tx = self.write().await?;
        lock_user_row(tx.conn(), user_id).await?;
        let deleted = on_either!(tx.conn(), c => sqlx::query(
            "DELETE FROM passkeys WHERE user_id = $1 AND id = $2",
        )
        .bind(user_id)
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
        if deleted != 1 {
            return Ok(None);
        }
        let last_factor = forget_recovery_codes_if_no_factor(tx.conn(), user_id).await?;
        change.write(tx.conn(), last_factor).await?;
        tx.commit().await?;
        Ok(Some(last_factor))
    }

    /// Records a passkey's use: when, and its new counter (in `updated`,
    /// when it moved). Only over the record the use was checked against
    /// (`checked`): false when the passkey was removed or used elsewhere
    /// meanwhile, so a counter never goes back.
    pub async fn passkey_used(
        &self,
        id: &str,
        checked: &str,
        updated: Option<&str>,
        at: UnixMs,
    ) -> Result<bool, sqlx::Error> {
        let updated = on_either!(self.pool(), pool => sqlx::query(
            "UPDATE passkeys SET credential = COALESCE($3, credential), last_used_at = $4
             WHERE id = $1 AND credential = $2",
        )
        .bind(id)
        .bind(checked)
        .bind(updated)
        .bind(at)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(updated == 1)
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
        // A sign-in's prompt counts against everyone's and its address's;
        // an addition's (by a signed-in user) against that user's alone.
        let room = match ceremony.user_id {
            None => {
                "(SELECT COUNT(*) FROM passkey_ceremonies WHERE user_id IS NULL) < $6
                 AND (SELECT COUNT(*) FROM passkey_ceremonies
                      WHERE user_id IS NULL AND client_ip = $3) < $7"
            }
            Some(_) => "(SELECT COUNT(*) FROM passkey_ceremonies WHERE user_id = $2) < $8",
        };
        let sql = format!(
            "INSERT INTO passkey_ceremonies (handle_digest, user_id, client_ip, state, expires_at)
             SELECT $1, $2, $3, $4, $5 WHERE {room}"
        );
        let inserted = on_either!(tx.conn(), c => sqlx::query(&sql)
        .bind(ceremony.handle_digest)
        .bind(ceremony.user_id)
        .bind(ceremony.client_ip)
        .bind(ceremony.state)
        .bind(ceremony.expires_at)
        .bind(caps.sign_ins)
        .bind(caps.sign_ins_per_address)
        .bind(caps.additions_per_user)
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
            client_ip: ip,
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
            sign_ins: 3,
            sign_ins_per_address: 2,
            additions_per_user: 1,
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
