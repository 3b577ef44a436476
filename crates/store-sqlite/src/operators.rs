//! [`OperatorStore`] on SQLite: operator accounts, their bearer tokens (kept only as SHA-256)
//! and the audit trail. Password hashing and token generation belong to the caller; this module
//! never sees a secret in clear.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openpile_core::error::StoreError;
use openpile_core::operator::{AuditEntry, Email, OperatorAccount, OperatorRole};
use openpile_core::page::{Page, PageRequest};
use openpile_core::ports::{OperatorSession, OperatorStore};
use sqlx::SqliteConnection;

use crate::columns::{now, parse_ts, parse_with, ts};
use crate::{SqliteStore, db_error, into_page, page_limit};

#[derive(Debug, sqlx::FromRow)]
struct OperatorRow {
    id: String,
    email: String,
    role: String,
    password_hash: String,
    disabled: bool,
    created_at: String,
}

impl TryFrom<OperatorRow> for OperatorAccount {
    type Error = StoreError;

    fn try_from(r: OperatorRow) -> Result<OperatorAccount, StoreError> {
        Ok(OperatorAccount {
            id: r.id,
            email: parse_with("operators.email", &r.email, Email::parse)?,
            role: parse_with("operators.role", &r.role, OperatorRole::parse)?,
            password_hash: r.password_hash,
            disabled: r.disabled,
            created_at: parse_ts("operators.created_at", &r.created_at)?,
        })
    }
}

const OPERATOR_COLUMNS: &str = "o.id, o.email, o.role, o.password_hash, o.disabled, o.created_at";

#[derive(Debug, sqlx::FromRow)]
struct SessionRow {
    #[sqlx(flatten)]
    operator: OperatorRow,
    expires_at: String,
}

#[derive(Debug, sqlx::FromRow)]
struct AuditRow {
    id: String,
    at: String,
    actor: String,
    action: String,
    object: String,
    details: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            id: r.id,
            at: parse_ts("audit_log.at", &r.at)?,
            actor: r.actor,
            action: r.action,
            object: r.object,
            details: r.details,
        })
    }
}

async fn operator_by_id(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<OperatorAccount, StoreError> {
    let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators o WHERE o.id = ?1");
    let row: OperatorRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(conn)
        .await
        .map_err(db_error)?;
    row.try_into()
}

#[async_trait]
impl OperatorStore for SqliteStore {
    async fn create_operator(
        &self,
        id: &str,
        email: &Email,
        role: OperatorRole,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<OperatorAccount, StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO operators (id, email, role, password_hash, disabled, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)",
        )
        .bind(id)
        .bind(email.as_str())
        .bind(role.as_str())
        .bind(password_hash)
        .bind(ts(at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        // Read back, so the caller holds exactly what later reads return.
        let account = operator_by_id(&mut tx, id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(account)
    }

    async fn find_operator_by_email(&self, email: &Email) -> Result<OperatorAccount, StoreError> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators o WHERE o.email = ?1");
        let row: OperatorRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(email.as_str())
            .fetch_one(self.pool())
            .await
            .map_err(db_error)?;
        row.try_into()
    }

    async fn set_operator_password(&self, id: &str, password_hash: &str) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let done =
            sqlx::query("UPDATE operators SET password_hash = ?2, updated_at = ?3 WHERE id = ?1")
                .bind(id)
                .bind(password_hash)
                .bind(now())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(db_error)
    }

    async fn create_operator_token(
        &self,
        token_sha256: &str,
        operator_id: &str,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        // SQLite cannot name a failed foreign key; check it so the error carries the name.
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM operators WHERE id = ?1")
            .bind(operator_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        if known.is_none() {
            return Err(StoreError::Conflict {
                constraint: "operator_tokens_operator_fk".to_string(),
            });
        }
        sqlx::query(
            "INSERT INTO operator_tokens (token_sha256, operator_id, expires_at, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        )
        .bind(token_sha256)
        .bind(operator_id)
        .bind(ts(expires_at))
        .bind(ts(created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn find_operator_token(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<OperatorSession, StoreError> {
        let sql = format!(
            "SELECT {OPERATOR_COLUMNS}, t.expires_at FROM operator_tokens t \
             JOIN operators o ON o.id = t.operator_id \
             WHERE t.token_sha256 = ?1 AND t.revoked_at IS NULL AND t.expires_at > ?2"
        );
        let row: SessionRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(token_sha256)
            .bind(ts(now))
            .fetch_one(self.pool())
            .await
            .map_err(db_error)?;
        Ok(OperatorSession {
            expires_at: parse_ts("operator_tokens.expires_at", &row.expires_at)?,
            operator: row.operator.try_into()?,
        })
    }

    async fn revoke_operator_token(&self, token_sha256: &str) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        // Revoking twice is fine (logging out of an already revoked session); the first
        // revocation time is kept.
        let done = sqlx::query(
            "UPDATE operator_tokens SET revoked_at = COALESCE(revoked_at, ?2), updated_at = ?2 \
             WHERE token_sha256 = ?1",
        )
        .bind(token_sha256)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(db_error)
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, object, details, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        )
        .bind(&entry.id)
        .bind(ts(entry.at))
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.object)
        .bind(&entry.details)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn list_audit(&self, page: &PageRequest) -> Result<Page<AuditEntry>, StoreError> {
        let limit = page_limit(page);
        // Newest first by (at, id). The cursor is the id of the last entry seen; its time is
        // looked up, so the cursor stays a plain key like every other list's. Entries are never
        // deleted, so the cursor's row is always there.
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, at, actor, action, object, details FROM audit_log \
             WHERE ?1 IS NULL \
                OR (at, id) < ((SELECT at FROM audit_log WHERE id = ?1), ?1) \
             ORDER BY at DESC, id DESC LIMIT ?2",
        )
        .bind(page.after.as_deref())
        .bind(i64::from(limit) + 1)
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?;
        let items = rows
            .into_iter()
            .map(AuditEntry::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, limit, |e| e.id.clone()))
    }
}
