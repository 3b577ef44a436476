//! Contract of [`PartnerStore`] (applications with revisions and decisions, partners,
//! credentials, secrets, tokens, notifications; each method all-or-nothing) and of
//! [`StationCatalog`] (a complete load, then exactly the stations and tariffs that changed).

use chrono::{DateTime, Utc};
use openpile_core::error::StoreError;
use openpile_core::ids::PartnerId;
use openpile_core::operator::AuditEntry;
use openpile_core::page::PageRequest;
use openpile_core::partner::application::{
    ApplicationDecision, ApplicationForm, ApplicationInput, ApplicationRevision, ApplicationStatus,
    DecisionOutcome,
};
use openpile_core::partner::contract::{
    Contract, RateLimit, RevenueShare, SettlementCycle, ShareRate, StationScope,
};
use openpile_core::partner::credential::{
    AccessToken, ClientId, ClientSecret, Credential, Environment, Partner, PartnerStatus, ScopeSet,
};
use openpile_core::partner::notification::{EmailStatus, Notification, NotificationKind};
use openpile_core::partner::ports::{
    ApplicantAccount, NewApplication, PartnerStatusChange, PartnerStore, StationCatalog,
};
use openpile_core::ports::{ChargerStore, NetworkStore, ReportedStatus};
use openpile_core::status::{ChargePointStatus, ConnectorStatus};
use rust_decimal::Decimal;

use crate::fixtures::{
    TARIFF, at, charger_id, email, network, network_charger, network_station, seed, station_id,
    tariff_version,
};
use crate::{assert_conflict, assert_not_found};

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

/// A valid unified social credit code made from `n` (GB 32100-2015 check character computed).
pub fn uscc(n: u32) -> String {
    const CHARSET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let body = format!("91310115MA{n:07}");
    let sum: usize = body
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let v = CHARSET.iter().position(|&c| c == b).unwrap();
            v * 3usize.pow(i as u32) % 31
        })
        .sum();
    let check = (31 - sum % 31) % 31;
    format!("{body}{}", char::from(CHARSET[check]))
}

/// A valid form of applicant `n`.
pub fn form(n: u32) -> ApplicationForm {
    ApplicationForm::validate(&ApplicationInput {
        company_name: format!("出行平台{n}有限公司"),
        unified_social_credit_code: uscc(n),
        legal_representative: "王五".into(),
        contact_name: "李四".into(),
        mobile: "13800138000".into(),
        email: format!("partner{n}@example.com"),
        website: Some("https://example.com".into()),
        intended_use: "展示充电站".into(),
        expected_monthly_volume: 1000,
        callback_base_url: "https://partner.example.com/hooks".into(),
    })
    .unwrap()
}

fn pid(n: u32) -> PartnerId {
    PartnerId::parse(format!("partner-{n}")).unwrap()
}

fn app_id(n: u32) -> String {
    format!("app-{n:04}")
}

pub fn sandbox_client(n: u32) -> ClientId {
    ClientId::parse(&format!("sbx_{n:032}")).unwrap()
}

fn production_client(n: u32) -> ClientId {
    ClientId::parse(&format!("prd_{n:032}")).unwrap()
}

fn notification(
    id: &str,
    partner: &PartnerId,
    kind: NotificationKind,
    t: DateTime<Utc>,
) -> Notification {
    Notification {
        id: id.to_string(),
        partner_id: partner.clone(),
        kind,
        subject: "主题".into(),
        body: "正文".into(),
        email_to: email("partner@example.com"),
        email_status: EmailStatus::NotConfigured,
        created_at: t,
    }
}

fn audit(id: &str, t: DateTime<Utc>) -> AuditEntry {
    AuditEntry {
        id: id.to_string(),
        at: t,
        actor: "operator:op-1".into(),
        action: "partner_application.approve".into(),
        object: "partner_application:app".into(),
        details: "{}".into(),
    }
}

fn secret(id: &str, t: DateTime<Utc>) -> ClientSecret {
    ClientSecret {
        id: id.to_string(),
        hash: format!("sha256-of-{id}"),
        created_at: t,
        expires_at: None,
        revoked_at: None,
    }
}

/// Everything application `n` creates.
pub fn new_application(n: u32) -> NewApplication {
    let f = form(n);
    let partner = pid(n);
    NewApplication {
        application_id: app_id(n),
        partner: Partner {
            id: partner.clone(),
            name: f.company_name.clone(),
            application_id: app_id(n),
            email: f.email.clone(),
            status: PartnerStatus::Applicant,
            contract: None,
            suspended_at: None,
            suspension_reason: None,
            created_at: at(0),
            updated_at: at(0),
        },
        account: ApplicantAccount {
            partner_id: partner.clone(),
            application_id: app_id(n),
            email: f.email.clone(),
            password_hash: HASH.into(),
            created_at: at(0),
        },
        revision: ApplicationRevision {
            number: 1,
            form: f,
            submitted_at: at(0),
        },
        sandbox: Credential {
            client_id: sandbox_client(n),
            partner_id: partner.clone(),
            environment: Environment::Sandbox,
            scopes: ScopeSet::all(),
            created_at: at(0),
            secrets: vec![secret(&format!("sec-{n}-1"), at(0))],
        },
        notification: notification(
            &format!("n-{n}-01"),
            &partner,
            NotificationKind::ApplicationReceived,
            at(0),
        ),
    }
}

pub fn contract() -> Contract {
    Contract {
        station_scope: StationScope::list([station_id("S001")]).unwrap(),
        // The issue's example: the partner keeps 10 % of the service fee, none of the rest.
        revenue_share: RevenueShare::per_fee(
            ShareRate::ZERO,
            ShareRate::new("revenue_share.service", Decimal::new(10, 2)).unwrap(),
            ShareRate::ZERO,
        ),
        rate_limit: RateLimit::new(50, 100).unwrap(),
        settlement_cycle: SettlementCycle::Monthly,
        scopes: ScopeSet::all(),
    }
}

fn decision(
    id: &str,
    revision: u32,
    outcome: DecisionOutcome,
    t: DateTime<Utc>,
) -> ApplicationDecision {
    ApplicationDecision {
        id: id.to_string(),
        revision,
        outcome,
        reason: (outcome == DecisionOutcome::Rejected).then(|| "资料不全".to_string()),
        decided_by: "op-1".into(),
        decided_at: t,
        contract: (outcome == DecisionOutcome::Approved).then(contract),
    }
}

fn production(n: u32) -> Credential {
    Credential {
        client_id: production_client(n),
        partner_id: pid(n),
        environment: Environment::Production,
        scopes: ScopeSet::all(),
        created_at: at(5),
        secrets: vec![],
    }
}

async fn approve<S: PartnerStore>(store: &S, n: u32) {
    store
        .decide_application(
            &app_id(n),
            &decision(&format!("d-{n}"), 1, DecisionOutcome::Approved, at(5)),
            Some(&production(n)),
            &notification(
                &format!("n-{n}-02"),
                &pid(n),
                NotificationKind::ApplicationApproved,
                at(5),
            ),
            &audit(&format!("audit-{n}"), at(5)),
        )
        .await
        .unwrap();
}

fn token(hash: &str, n: u32, secret_id: &str, expires: DateTime<Utc>) -> AccessToken {
    AccessToken {
        token_sha256: hash.to_string(),
        client_id: sandbox_client(n),
        secret_id: secret_id.to_string(),
        partner_id: pid(n),
        environment: Environment::Sandbox,
        scopes: ScopeSet::all(),
        issued_at: at(1),
        expires_at: expires,
    }
}

// ---- applications ----------------------------------------------------------------------------

pub async fn application_creates_account_partner_credential_and_notification<S: PartnerStore>(
    store: S,
) {
    let new = new_application(1);
    store.create_application(&new).await.unwrap();
    let app = store.get_application(&app_id(1)).await.unwrap();
    assert_eq!(app.status, ApplicationStatus::Pending);
    assert_eq!(app.revision, 1);
    assert_eq!(app.partner_id, pid(1));
    assert_eq!(app.revisions.len(), 1);
    assert_eq!(app.revisions[0].form, new.revision.form);
    assert!(app.decisions.is_empty());
    let account = store
        .find_account(&email("PARTNER1@example.com"))
        .await
        .unwrap();
    assert_eq!(account, new.account);
    assert_eq!(store.get_partner(&pid(1)).await.unwrap(), new.partner);
    let creds = store.list_credentials(&pid(1)).await.unwrap();
    assert_eq!(creds, vec![new.sandbox.clone()]);
    assert_eq!(
        store.get_credential(&sandbox_client(1)).await.unwrap(),
        new.sandbox
    );
    let notes = store
        .list_notifications(&pid(1), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(notes.items, vec![new.notification]);
}

pub async fn duplicate_email_or_company_is_a_conflict_and_writes_nothing<S: PartnerStore>(
    store: S,
) {
    store.create_application(&new_application(1)).await.unwrap();
    let mut same_email = new_application(2);
    same_email.account.email = email("partner1@example.com");
    assert_conflict(
        store.create_application(&same_email).await,
        "partner_accounts_email_key",
    );
    let mut same_company = new_application(3);
    same_company.revision.form = {
        let mut i = form(3).to_input();
        i.unified_social_credit_code = uscc(1);
        ApplicationForm::validate(&i).unwrap()
    };
    assert_conflict(
        store.create_application(&same_company).await,
        "partner_applications_uscc_key",
    );
    // Nothing of the refused applications was kept.
    assert_not_found(store.get_partner(&pid(2)).await);
    assert_not_found(store.get_application(&app_id(3)).await);
    assert_not_found(store.get_credential(&sandbox_client(2)).await);
    assert_not_found(store.find_account(&email("partner3@example.com")).await);
}

pub async fn unknown_application_partner_and_credential_are_not_found<S: PartnerStore>(store: S) {
    assert_not_found(store.get_application("nope").await);
    assert_not_found(store.get_partner(&pid(9)).await);
    assert_not_found(store.get_credential(&sandbox_client(9)).await);
    assert_not_found(store.find_account(&email("x@example.com")).await);
    assert_not_found(store.find_token("deadbeef").await);
}

pub async fn applications_are_listed_by_status_and_paged<S: PartnerStore>(store: S) {
    for n in 1..=5 {
        store.create_application(&new_application(n)).await.unwrap();
    }
    approve(&store, 2).await;
    let mut seen = vec![];
    let mut page = PageRequest::first(2);
    loop {
        let p = store.list_applications(None, &page).await.unwrap();
        seen.extend(p.items.iter().map(|a| a.id.clone()));
        match p.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, (1..=5).map(app_id).collect::<Vec<_>>());
    let pending = store
        .list_applications(Some(ApplicationStatus::Pending), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(pending.items.len(), 4);
    let approved = store
        .list_applications(Some(ApplicationStatus::Approved), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(approved.items.len(), 1);
    assert_eq!(approved.items[0].decisions.len(), 1);
}

pub async fn rejection_then_resubmission_keeps_the_history<S: PartnerStore>(store: S) {
    store.create_application(&new_application(1)).await.unwrap();
    store
        .decide_application(
            &app_id(1),
            &decision("d-1", 1, DecisionOutcome::Rejected, at(2)),
            None,
            &notification(
                "n-1-02",
                &pid(1),
                NotificationKind::ApplicationRejected,
                at(2),
            ),
            &audit("audit-1", at(2)),
        )
        .await
        .unwrap();
    let rejected = store.get_application(&app_id(1)).await.unwrap();
    assert_eq!(rejected.status, ApplicationStatus::Rejected);
    assert_eq!(rejected.rejection_reason(), Some("资料不全"));
    let mut corrected = form(1).to_input();
    corrected.company_name = "更正后的公司名称".into();
    let revision = ApplicationRevision {
        number: 2,
        form: ApplicationForm::validate(&corrected).unwrap(),
        submitted_at: at(3),
    };
    store
        .resubmit_application(
            &app_id(1),
            &revision,
            &notification(
                "n-1-03",
                &pid(1),
                NotificationKind::ApplicationResubmitted,
                at(3),
            ),
        )
        .await
        .unwrap();
    let app = store.get_application(&app_id(1)).await.unwrap();
    assert_eq!(app.status, ApplicationStatus::Pending);
    assert_eq!(app.revision, 2);
    assert_eq!(
        app.revisions.iter().map(|r| r.number).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(app.decisions.len(), 1);
    assert_eq!(app.decisions[0].revision, 1);
    assert_eq!(
        store.get_partner(&pid(1)).await.unwrap().name,
        "更正后的公司名称"
    );
    // A second submission of revision 2 finds the application at 2 already.
    assert_conflict(
        store
            .resubmit_application(
                &app_id(1),
                &revision,
                &notification(
                    "n-1-04",
                    &pid(1),
                    NotificationKind::ApplicationResubmitted,
                    at(4),
                ),
            )
            .await,
        "partner_applications_revision_check",
    );
    assert_not_found(
        store
            .resubmit_application(
                "nope",
                &revision,
                &notification(
                    "n-1-05",
                    &pid(1),
                    NotificationKind::ApplicationResubmitted,
                    at(4),
                ),
            )
            .await,
    );
}

pub async fn approval_activates_the_partner_with_contract_and_production_credential<
    S: PartnerStore,
>(
    store: S,
) {
    store.create_application(&new_application(1)).await.unwrap();
    approve(&store, 1).await;
    let app = store.get_application(&app_id(1)).await.unwrap();
    assert_eq!(app.status, ApplicationStatus::Approved);
    assert_eq!(app.decisions[0].contract, Some(contract()));
    let partner = store.get_partner(&pid(1)).await.unwrap();
    assert_eq!(partner.status, PartnerStatus::Active);
    assert_eq!(partner.contract, Some(contract()));
    let creds = store.list_credentials(&pid(1)).await.unwrap();
    assert_eq!(creds.len(), 2);
    assert_eq!(
        store.get_credential(&production_client(1)).await.unwrap(),
        production(1)
    );
    let notes = store
        .list_notifications(&pid(1), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(notes.items[0].kind, NotificationKind::ApplicationApproved);
}

pub async fn deciding_twice_or_a_stale_revision_is_a_conflict<S: PartnerStore>(store: S) {
    store.create_application(&new_application(1)).await.unwrap();
    let stale = store
        .decide_application(
            &app_id(1),
            &decision("d-0", 2, DecisionOutcome::Rejected, at(1)),
            None,
            &notification("n-x", &pid(1), NotificationKind::ApplicationRejected, at(1)),
            &audit("audit-x", at(1)),
        )
        .await;
    assert_conflict(stale, "partner_applications_revision_check");
    approve(&store, 1).await;
    let again = store
        .decide_application(
            &app_id(1),
            &decision("d-2", 1, DecisionOutcome::Rejected, at(6)),
            None,
            &notification("n-y", &pid(1), NotificationKind::ApplicationRejected, at(6)),
            &audit("audit-y", at(6)),
        )
        .await;
    assert_conflict(again, "partner_applications_revision_check");
    let app = store.get_application(&app_id(1)).await.unwrap();
    assert_eq!(app.decisions.len(), 1);
    assert_eq!(app.status, ApplicationStatus::Approved);
    // Neither refused decision left its notification behind.
    let notes = store
        .list_notifications(&pid(1), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(notes.items.len(), 2);
}

// ---- partners, secrets and tokens ------------------------------------------------------------

pub async fn suspension_revokes_tokens_and_resuming_does_not_revive_them<S: PartnerStore>(
    store: S,
) {
    store.create_application(&new_application(1)).await.unwrap();
    store
        .create_token(&token("tok-1", 1, "sec-1-1", at(120)))
        .await
        .unwrap();
    assert!(
        store
            .find_token("tok-1")
            .await
            .unwrap()
            .revoked_at
            .is_none()
    );
    let suspend = PartnerStatusChange {
        partner_id: pid(1),
        from: PartnerStatus::Applicant,
        to: PartnerStatus::Suspended,
        at: at(10),
        reason: Some("abuse".into()),
    };
    store
        .set_partner_status(
            &suspend,
            &notification("n-1-s", &pid(1), NotificationKind::PartnerSuspended, at(10)),
            &audit("audit-s", at(10)),
        )
        .await
        .unwrap();
    let grant = store.find_token("tok-1").await.unwrap();
    assert_eq!(grant.revoked_at, Some(at(10)));
    assert_eq!(grant.partner_status, PartnerStatus::Suspended);
    let p = store.get_partner(&pid(1)).await.unwrap();
    assert_eq!(p.suspended_at, Some(at(10)));
    assert_eq!(p.suspension_reason.as_deref(), Some("abuse"));
    // The same change again finds the partner suspended already.
    assert_conflict(
        store
            .set_partner_status(
                &suspend,
                &notification(
                    "n-1-s2",
                    &pid(1),
                    NotificationKind::PartnerSuspended,
                    at(11),
                ),
                &audit("audit-s2", at(11)),
            )
            .await,
        "partners_status_check",
    );
    store
        .set_partner_status(
            &PartnerStatusChange {
                partner_id: pid(1),
                from: PartnerStatus::Suspended,
                to: PartnerStatus::Applicant,
                at: at(20),
                reason: None,
            },
            &notification("n-1-r", &pid(1), NotificationKind::PartnerResumed, at(20)),
            &audit("audit-r", at(20)),
        )
        .await
        .unwrap();
    let grant = store.find_token("tok-1").await.unwrap();
    assert_eq!(grant.partner_status, PartnerStatus::Applicant);
    assert_eq!(grant.revoked_at, Some(at(10)));
    assert_eq!(store.get_partner(&pid(1)).await.unwrap().suspended_at, None);
}

pub async fn rotation_keeps_at_most_two_live_secrets<S: PartnerStore>(store: S) {
    store.create_application(&new_application(1)).await.unwrap();
    let client = sandbox_client(1);
    store
        .add_secret(&client, &secret("sec-1-2", at(10)), at(70), at(10), None)
        .await
        .unwrap();
    let c = store.get_credential(&client).await.unwrap();
    let ids: Vec<_> = c.secrets.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["sec-1-2", "sec-1-1"]);
    assert_eq!(c.secrets[1].expires_at, Some(at(70)));
    assert_eq!(c.live_secrets(at(20)).count(), 2);
    assert_eq!(c.live_secrets(at(70)).count(), 1);
    // A second rotation inside the grace period ends the oldest secret at once.
    store
        .add_secret(
            &client,
            &secret("sec-1-3", at(20)),
            at(80),
            at(20),
            Some(&notification(
                "n-1-rot",
                &pid(1),
                NotificationKind::SecretRotated,
                at(20),
            )),
        )
        .await
        .unwrap();
    let c = store.get_credential(&client).await.unwrap();
    let live: Vec<_> = c.live_secrets(at(21)).map(|s| s.id.as_str()).collect();
    assert_eq!(live, ["sec-1-3", "sec-1-2"]);
    let oldest = c.secrets.iter().find(|s| s.id == "sec-1-1").unwrap();
    assert_eq!(oldest.revoked_at, Some(at(20)));
    assert_not_found(
        store
            .add_secret(&sandbox_client(9), &secret("x", at(1)), at(2), at(1), None)
            .await,
    );
}

pub async fn tokens_are_found_by_hash_with_their_secret_and_partner_state<S: PartnerStore>(
    store: S,
) {
    store.create_application(&new_application(1)).await.unwrap();
    let t = token("tok-1", 1, "sec-1-1", at(120));
    store.create_token(&t).await.unwrap();
    let grant = store.find_token("tok-1").await.unwrap();
    assert_eq!(grant.token, t);
    assert_eq!(grant.partner_status, PartnerStatus::Applicant);
    assert_eq!(grant.contract, None);
    assert_eq!(grant.secret_revoked_at, None);
    assert!(
        matches!(
            store.create_token(&t).await,
            Err(StoreError::Conflict { .. })
        ),
        "a second token with the same hash is a conflict"
    );
    // Revoking the secret shows on its tokens at once.
    store
        .revoke_secret(
            &sandbox_client(1),
            "sec-1-1",
            at(30),
            &notification("n-1-rv", &pid(1), NotificationKind::SecretRevoked, at(30)),
        )
        .await
        .unwrap();
    assert_eq!(
        store.find_token("tok-1").await.unwrap().secret_revoked_at,
        Some(at(30))
    );
    assert_not_found(
        store
            .revoke_secret(
                &sandbox_client(1),
                "nope",
                at(31),
                &notification("n-1-rv2", &pid(1), NotificationKind::SecretRevoked, at(31)),
            )
            .await,
    );
    // Rotation grace shows too.
    store
        .add_secret(
            &sandbox_client(1),
            &secret("sec-1-2", at(40)),
            at(50),
            at(40),
            None,
        )
        .await
        .unwrap();
    store
        .create_token(&token("tok-2", 1, "sec-1-2", at(160)))
        .await
        .unwrap();
    store
        .add_secret(
            &sandbox_client(1),
            &secret("sec-1-3", at(41)),
            at(90),
            at(41),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store.find_token("tok-2").await.unwrap().secret_expires_at,
        Some(at(90))
    );
}

pub async fn expired_tokens_are_purged<S: PartnerStore>(store: S) {
    store.create_application(&new_application(1)).await.unwrap();
    store
        .create_token(&token("old", 1, "sec-1-1", at(10)))
        .await
        .unwrap();
    store
        .create_token(&token("new", 1, "sec-1-1", at(100)))
        .await
        .unwrap();
    assert_eq!(store.purge_tokens(at(50)).await.unwrap(), 1);
    assert_not_found(store.find_token("old").await);
    assert!(store.find_token("new").await.is_ok());
}

pub async fn notifications_are_listed_newest_first_and_paged<S: PartnerStore>(store: S) {
    store.create_application(&new_application(1)).await.unwrap();
    store.create_application(&new_application(2)).await.unwrap();
    for i in 2..=5 {
        store
            .add_secret(
                &sandbox_client(1),
                &secret(&format!("s{i}"), at(i)),
                at(i + 1),
                at(i),
                Some(&notification(
                    &format!("n-1-{i:02}"),
                    &pid(1),
                    NotificationKind::SecretRotated,
                    at(i),
                )),
            )
            .await
            .unwrap();
    }
    let mut seen = vec![];
    let mut page = PageRequest::first(2);
    loop {
        let p = store.list_notifications(&pid(1), &page).await.unwrap();
        seen.extend(p.items.iter().map(|n| n.id.clone()));
        match p.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["n-1-05", "n-1-04", "n-1-03", "n-1-02", "n-1-01"]);
    store
        .set_email_status("n-1-05", EmailStatus::Sent)
        .await
        .unwrap();
    let first = store
        .list_notifications(&pid(1), &PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(first.items[0].email_status, EmailStatus::Sent);
    assert_not_found(store.set_email_status("nope", EmailStatus::Sent).await);
}

// ---- catalog -----------------------------------------------------------------------------------

pub async fn catalog_loads_everything_then_only_what_changed<
    S: StationCatalog + NetworkStore + ChargerStore,
>(
    store: S,
) {
    seed(&store, &network(3, 1, 2)).await;
    let all = store.catalog_changes(None).await.unwrap();
    assert!(all.complete);
    assert_eq!(all.stations.len(), 3);
    assert_eq!(all.stations[0].chargers[0].connectors.len(), 2);
    assert_eq!(all.tariffs.len(), 1);
    let same = store.catalog_changes(Some(all.revision)).await.unwrap();
    assert_eq!(same.revision, all.revision);
    assert!(!same.complete && same.stations.is_empty() && same.tariffs.is_empty());

    // A status report changes exactly its station.
    store
        .record_status(
            &charger_id(&network_charger(2, 1)),
            &ReportedStatus {
                connector: Some(openpile_core::ids::ConnectorNumber::new(1).unwrap()),
                status: ChargePointStatus::Available,
                error: None,
                at: at(5),
            },
        )
        .await
        .unwrap();
    let d = store.catalog_changes(Some(all.revision)).await.unwrap();
    assert!(d.revision > all.revision);
    assert_eq!(d.stations.len(), 1);
    let st = &d.stations[0];
    assert_eq!(st.station.id.as_str(), network_station(2));
    assert_eq!(
        st.chargers[0].connectors[0].state.status,
        ConnectorStatus::Available
    );
    assert!(st.updated_at >= at(5));

    // Heartbeats change nothing partners see; an identical re-import neither.
    store
        .record_seen(&charger_id(&network_charger(1, 1)), at(6))
        .await
        .unwrap();
    seed(&store, &network(3, 1, 2)).await;
    let quiet = store.catalog_changes(Some(d.revision)).await.unwrap();
    assert!(quiet.stations.is_empty(), "{:?}", quiet.stations.len());

    // An operator's edit (an upsert) changes its station.
    let mut renamed = crate::fixtures::station("S001");
    renamed.name = "改名的充电站".into();
    store.put_station(&renamed).await.unwrap();
    let edited = store.catalog_changes(Some(quiet.revision)).await.unwrap();
    assert_eq!(edited.stations.len(), 1);
    assert_eq!(edited.stations[0].station.name, "改名的充电站");
    let quiet = edited;

    // Retiring a station removes it; a new tariff version is a tariff change.
    store
        .retire_station(&station_id("S003"), at(7))
        .await
        .unwrap();
    store
        .put_tariff(&tariff_version(TARIFF, 2, at(60)))
        .await
        .unwrap();
    let r = store.catalog_changes(Some(quiet.revision)).await.unwrap();
    assert_eq!(r.removed, vec![station_id("S003")]);
    assert!(r.stations.is_empty());
    assert_eq!(
        r.tariffs.iter().map(|t| t.version).collect::<Vec<_>>(),
        [1, 2]
    );
    let full = store.catalog_changes(None).await.unwrap();
    assert_eq!(full.stations.len(), 2);
    // An unknown (future) revision gets everything.
    assert!(
        store
            .catalog_changes(Some(full.revision + 100))
            .await
            .unwrap()
            .complete
    );
}
