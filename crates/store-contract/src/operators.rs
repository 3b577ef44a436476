//! Contract of [`OperatorStore`]: accounts, bearer tokens (expiry and revocation) and the audit
//! trail (newest first, stable paging).

use std::collections::BTreeSet;

use openpile_core::operator::OperatorRole;
use openpile_core::page::PageRequest;
use openpile_core::ports::OperatorStore;

use crate::fixtures::{at, audit, email};
use crate::{assert_conflict, assert_not_found};

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
const TOKEN: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

async fn operator<S: OperatorStore>(store: &S, id: &str) {
    store
        .create_operator(
            id,
            &email(&format!("{id}@openpile.example")),
            OperatorRole::Operations,
            HASH,
            at(0),
        )
        .await
        .unwrap();
}

pub async fn operator_is_created_and_found_by_email<S: OperatorStore>(store: S) {
    let created = store
        .create_operator(
            "op-1",
            &email("Ops@OpenPile.example"),
            OperatorRole::Finance,
            HASH,
            at(3),
        )
        .await
        .unwrap();
    assert_eq!(created.id, "op-1");
    assert_eq!(created.email.as_str(), "ops@openpile.example");
    assert_eq!(created.role, OperatorRole::Finance);
    assert_eq!(created.password_hash, HASH);
    assert!(!created.disabled);
    assert_eq!(created.created_at, at(3));
    let found = store
        .find_operator_by_email(&email("ops@openpile.example"))
        .await
        .unwrap();
    assert_eq!(found, created);
}

pub async fn duplicate_email_is_a_conflict<S: OperatorStore>(store: S) {
    operator(&store, "op-1").await;
    let again = store
        .create_operator(
            "op-2",
            &email("OP-1@openpile.example"),
            OperatorRole::Admin,
            HASH,
            at(1),
        )
        .await;
    assert_conflict(again, "operators_email_key");
    // The first account is unchanged.
    let found = store
        .find_operator_by_email(&email("op-1@openpile.example"))
        .await
        .unwrap();
    assert_eq!(found.id, "op-1");
    assert_eq!(found.role, OperatorRole::Operations);
}

pub async fn unknown_email_is_not_found<S: OperatorStore>(store: S) {
    assert_not_found(
        store
            .find_operator_by_email(&email("nobody@openpile.example"))
            .await,
    );
}

pub async fn operator_password_is_replaced<S: OperatorStore>(store: S) {
    operator(&store, "op-1").await;
    store
        .set_operator_password("op-1", "$argon2id$new")
        .await
        .unwrap();
    let found = store
        .find_operator_by_email(&email("op-1@openpile.example"))
        .await
        .unwrap();
    assert_eq!(found.password_hash, "$argon2id$new");
    assert_not_found(store.set_operator_password("nobody", "$argon2id$x").await);
}

pub async fn live_token_finds_its_session<S: OperatorStore>(store: S) {
    operator(&store, "op-1").await;
    operator(&store, "op-2").await;
    store
        .create_operator_token(TOKEN, "op-1", at(0), at(60))
        .await
        .unwrap();
    store
        .create_operator_token("other-token", "op-2", at(0), at(60))
        .await
        .unwrap();
    let session = store.find_operator_token(TOKEN, at(30)).await.unwrap();
    assert_eq!(session.operator.id, "op-1");
    assert_eq!(session.operator.email.as_str(), "op-1@openpile.example");
    assert_eq!(session.expires_at, at(60));
    assert_eq!(
        store
            .find_operator_token("other-token", at(0))
            .await
            .unwrap()
            .operator
            .id,
        "op-2"
    );
    assert_not_found(store.find_operator_token("unknown-token", at(30)).await);
}

pub async fn expired_token_is_not_found<S: OperatorStore>(store: S) {
    operator(&store, "op-1").await;
    store
        .create_operator_token(TOKEN, "op-1", at(0), at(60))
        .await
        .unwrap();
    assert!(store.find_operator_token(TOKEN, at(59)).await.is_ok());
    // Expiry is exclusive: at `expires_at` the token is dead.
    assert_not_found(store.find_operator_token(TOKEN, at(60)).await);
    assert_not_found(store.find_operator_token(TOKEN, at(61)).await);
}

pub async fn revoked_token_is_not_found<S: OperatorStore>(store: S) {
    operator(&store, "op-1").await;
    store
        .create_operator_token(TOKEN, "op-1", at(0), at(60))
        .await
        .unwrap();
    store
        .create_operator_token("keep", "op-1", at(0), at(60))
        .await
        .unwrap();
    store.revoke_operator_token(TOKEN).await.unwrap();
    assert_not_found(store.find_operator_token(TOKEN, at(1)).await);
    // Revoking again is harmless; other tokens of the same operator live on.
    store.revoke_operator_token(TOKEN).await.unwrap();
    assert!(store.find_operator_token("keep", at(1)).await.is_ok());
}

pub async fn revoking_unknown_token_is_not_found<S: OperatorStore>(store: S) {
    assert_not_found(store.revoke_operator_token("unknown-token").await);
}

pub async fn token_needs_its_operator<S: OperatorStore>(store: S) {
    assert_conflict(
        store
            .create_operator_token(TOKEN, "nobody", at(0), at(60))
            .await,
        "operator_tokens_operator_fk",
    );
    assert_not_found(store.find_operator_token(TOKEN, at(1)).await);
}

pub async fn duplicate_token_is_a_conflict<S: OperatorStore>(store: S) {
    operator(&store, "op-1").await;
    store
        .create_operator_token(TOKEN, "op-1", at(0), at(60))
        .await
        .unwrap();
    assert_conflict(
        store
            .create_operator_token(TOKEN, "op-1", at(1), at(120))
            .await,
        "operator_tokens_pkey",
    );
    // The original keeps its expiry.
    assert_eq!(
        store
            .find_operator_token(TOKEN, at(1))
            .await
            .unwrap()
            .expires_at,
        at(60)
    );
}

pub async fn audit_is_listed_newest_first_and_paged<S: OperatorStore>(store: S) {
    // Appended out of time order, with two entries at the same instant (ordered by id then).
    let minutes = [5, 1, 9, 3, 3, 7, 2, 8, 6, 4, 0];
    for (i, m) in minutes.iter().enumerate() {
        store
            .append_audit(&audit(&format!("a{i:02}"), at(*m)))
            .await
            .unwrap();
    }
    let mut expected: Vec<(i64, String)> = minutes
        .iter()
        .enumerate()
        .map(|(i, m)| (*m, format!("a{i:02}")))
        .collect();
    expected.sort();
    expected.reverse();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    for limit in [1, 3, 4, 11, 50] {
        let mut got = Vec::new();
        let mut req = PageRequest::first(limit);
        loop {
            let page = store.list_audit(&req).await.unwrap();
            assert!(page.items.len() <= limit as usize);
            got.extend(page.items.iter().map(|e| e.id.clone()));
            match page.next {
                Some(next) => req.after = Some(next),
                None => break,
            }
        }
        assert_eq!(got, expected, "limit {limit}");
    }

    // An entry appended while paging (newer than everything) does not shift later pages.
    let first = store.list_audit(&PageRequest::first(4)).await.unwrap();
    store.append_audit(&audit("z-new", at(100))).await.unwrap();
    let mut seen: Vec<String> = first.items.iter().map(|e| e.id.clone()).collect();
    let mut after = first.next;
    while let Some(cursor) = after {
        let page = store
            .list_audit(&PageRequest {
                limit: 4,
                after: Some(cursor),
            })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|e| e.id.clone()));
        after = page.next;
    }
    assert_eq!(seen, expected);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());

    // Entries read back whole.
    let newest = store.list_audit(&PageRequest::first(1)).await.unwrap();
    assert_eq!(newest.items, vec![audit("z-new", at(100))]);
}

pub async fn duplicate_audit_id_is_a_conflict<S: OperatorStore>(store: S) {
    store.append_audit(&audit("a1", at(0))).await.unwrap();
    assert_conflict(
        store.append_audit(&audit("a1", at(1))).await,
        "audit_log_pkey",
    );
    let page = store.list_audit(&PageRequest::first(10)).await.unwrap();
    assert_eq!(page.items, vec![audit("a1", at(0))]);
}
