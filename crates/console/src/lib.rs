//! The web face for people: the operator console under `/console` (staff of the operator) and,
//! as the partner core lands, the partner portal under `/portal`. Pages are rendered on the
//! server with askama, in Chinese (default) or English, and work without JavaScript; a small
//! embedded script adds live connector status over server-sent events.
//!
//! This face owns its cookies, CSRF tokens, form parsing, message tables and templates, and
//! talks to the rest of OpenPile only through core's ports (`NetworkStore`, `OperatorStore`,
//! `ChargerGateway`, `Clock`). It depends on no other face and on no store.
//!
//! Module map:
//! - [`i18n`]: the two message tables (zh-CN, en) and the language choice.
//! - `auth`, `secrets`, `lockout`, `csrf`, `nonce`, `cookie`: operator login and sessions, and
//!   forms that cannot be forged or submitted twice.
//! - `nav`: screens, roles and what each role may see and do (add a screen there first).
//! - `page`, `error`, `assets`, `form`: rendering, error pages, embedded assets, form bodies.
//! - `dashboard`, `network`, `commands`, `tariffs`, `audit`, `events`: the operator screens and
//!   the live-status stream.
//! - `sessions`, `cdrs`, `statements`, `partners` (with `views`, their shared formatting and
//!   filters, and `charts`, server-drawn SVG): the operator screens of charging, settlement and
//!   partners, on when the state is built `with_services` and `with_operator_views`.
//! - `applications`, `application_form`, `portal`: partner applications in the console, and
//!   the partner portal (on when the state is built `with_partners`).

mod application_form;
mod applications;
mod assets;
mod audit;
mod auth;
mod cdrs;
mod charts;
mod commands;
mod cookie;
mod csrf;
mod dashboard;
mod error;
mod events;
mod form;
pub mod i18n;
mod imports;
mod lockout;
mod nav;
mod network;
mod network_forms;
mod nonce;
mod page;
mod partners;
mod portal;
mod sessions;
mod statements;
mod tariffs;
mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware;
use axum::response::Redirect;
use axum::routing::{get, post};
use chrono::TimeDelta;
use openpile_core::charging::TransactionStore;
use openpile_core::clock::Clock;
use openpile_core::event::EventStore;
use openpile_core::ids::{IdGenerator, UuidV7Ids};
use openpile_core::partner::service::PartnerService;
use openpile_core::ports::{ChargerGateway, NetworkStore, OperatorStore};
use openpile_core::sessions::service::SessionService;
use openpile_core::settlement::service::SettlementService;

pub use lockout::LockoutPolicy;

/// What handlers reach through `ConsoleState` (a private module: the type cannot be named
/// outside the crate).
mod shared {
    use super::*;

    pub struct Inner {
        pub(crate) network: Arc<dyn NetworkStore>,
        pub(crate) operators: Arc<dyn OperatorStore>,
        pub(crate) gateway: Arc<dyn ChargerGateway>,
        pub(crate) clock: Arc<dyn Clock>,
        pub(crate) ids: Arc<dyn IdGenerator>,
        /// The partner use cases; without them the partner screens and the portal are off.
        pub(crate) partners: Option<Arc<PartnerService>>,
        pub(crate) services: Option<Services>,
        /// Read-only views across partners and the rate-limit counter (operator screens).
        pub(crate) ops: Option<OperatorViewsHandle>,
        pub(crate) config: ConsoleConfig,
        pub(crate) lockout: lockout::Lockout,
        pub(crate) nonces: nonce::Nonces,
    }
}

/// The key that signs partner-portal session cookies. Every node serving `/portal` must use
/// the same key; a random one (the default) logs partners out whenever the process restarts.
#[derive(Clone)]
pub struct SessionKey(Arc<[u8]>);

impl SessionKey {
    /// At least 32 bytes of secret.
    pub fn new(bytes: &[u8]) -> Result<Self, ShortKey> {
        if bytes.len() < 32 {
            return Err(ShortKey(bytes.len()));
        }
        Ok(Self(bytes.into()))
    }

    /// 32 random bytes.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self(bytes.as_slice().into())
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

/// A portal session key shorter than 32 bytes.
#[derive(Debug, thiserror::Error)]
#[error("the portal session key must be at least 32 bytes, not {0}")]
pub struct ShortKey(usize);

/// Settings of the console and portal.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// Mark cookies `Secure`: set when the console is served over TLS, directly or behind a
    /// TLS-terminating proxy. Browsers then never send the session over plain HTTP.
    pub secure_cookies: bool,
    /// How long an operator login lasts.
    pub session_ttl: TimeDelta,
    /// Failed logins per account before it is locked, and for how long (operators and
    /// partners alike).
    pub lockout: LockoutPolicy,
    /// The operator's local time zone: how times are shown and how tariff times are read.
    pub timezone: chrono_tz::Tz,
    /// How often each live-status stream asks the store what changed.
    pub poll_interval: Duration,
    /// The longest a page waits for a charger's answer to a command (the gateway has its own
    /// timeout; this only bounds the request should the gateway hang).
    pub command_timeout: Duration,
    /// How long a partner-portal login lasts.
    pub portal_session_ttl: TimeDelta,
    /// Signs partner-portal session cookies.
    pub portal_session_key: SessionKey,
    /// Whether webhook URLs set in the portal may reach private addresses (loopback, RFC 1918,
    /// link-local, …), for production and for sandbox credentials: give the same values as the
    /// Open API's `[events]` settings, so both faces accept the same URLs.
    pub webhook_private_targets: bool,
    pub webhook_private_sandbox_targets: bool,
    /// How long a rotated webhook signing secret keeps signing (a second signature).
    pub webhook_secret_grace: TimeDelta,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            session_ttl: TimeDelta::hours(8),
            lockout: LockoutPolicy::default(),
            timezone: chrono_tz::Asia::Shanghai,
            poll_interval: Duration::from_secs(1),
            command_timeout: Duration::from_secs(60),
            portal_session_ttl: TimeDelta::hours(8),
            portal_session_key: SessionKey::random(),
            webhook_private_targets: false,
            webhook_private_sandbox_targets: false,
            webhook_secret_grace: TimeDelta::hours(24),
        }
    }
}

/// What the console's handlers share. Cheap to clone.
/// The use cases behind the screens of sessions, CDRs, statements and webhooks: the same
/// instances the API faces use (one process, one set of services).
#[derive(Clone)]
pub struct Services {
    pub sessions: Arc<SessionService>,
    pub settlement: Arc<SettlementService>,
    pub events: Arc<dyn EventStore>,
    pub transactions: Arc<dyn TransactionStore>,
}

/// The operator views port and the rate-limit counter, shared with the Open API's limiter.
#[derive(Clone)]
pub(crate) struct OperatorViewsHandle {
    pub(crate) views: Arc<dyn openpile_core::ops::OperatorViews>,
    pub(crate) hits: Arc<openpile_core::ops::RateLimitHits>,
}

#[derive(Clone)]
pub struct ConsoleState {
    inner: Arc<shared::Inner>,
}

impl ConsoleState {
    pub fn new(
        network: Arc<dyn NetworkStore>,
        operators: Arc<dyn OperatorStore>,
        gateway: Arc<dyn ChargerGateway>,
        clock: Arc<dyn Clock>,
        config: ConsoleConfig,
    ) -> Self {
        let lockout = lockout::Lockout::new(config.lockout);
        Self {
            inner: Arc::new(shared::Inner {
                network,
                operators,
                gateway,
                clock,
                ids: Arc::new(UuidV7Ids),
                partners: None,
                services: None,
                ops: None,
                config,
                lockout,
                nonces: nonce::Nonces::default(),
            }),
        }
    }

    /// Changes a setting of a state being built (before it is cloned).
    fn edit(self, f: impl FnOnce(&mut shared::Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            // Already shared: start a copy (with fresh lock-out and nonce memories).
            Err(shared) => shared::Inner {
                network: shared.network.clone(),
                operators: shared.operators.clone(),
                gateway: shared.gateway.clone(),
                clock: shared.clock.clone(),
                ids: shared.ids.clone(),
                partners: shared.partners.clone(),
                services: shared.services.clone(),
                ops: shared.ops.clone(),
                config: shared.config.clone(),
                lockout: lockout::Lockout::new(shared.config.lockout),
                nonces: nonce::Nonces::default(),
            },
        };
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Replaces the generator of audit entry ids (tests make them deterministic).
    #[must_use]
    pub fn with_ids(self, ids: Arc<dyn IdGenerator>) -> Self {
        self.edit(|i| i.ids = ids)
    }

    /// Turns on the partner screens: applications in the console, and the partner portal.
    /// Pass the one `PartnerService` of the process (it holds the token cache revocations
    /// must evict).
    #[must_use]
    pub fn with_partners(self, partners: Arc<PartnerService>) -> Self {
        self.edit(|i| i.partners = Some(partners))
    }

    /// Turns on the screens of charging, events and settlement (sessions, CDRs, statements,
    /// webhooks) in the console and the portal.
    #[must_use]
    pub fn with_services(self, services: Services) -> Self {
        self.edit(|i| i.services = Some(services))
    }

    /// Turns on the operator views (sessions across partners, dashboard figures, delivery
    /// health, rate-limit hits).
    #[must_use]
    pub fn with_operator_views(
        self,
        views: Arc<dyn openpile_core::ops::OperatorViews>,
        hits: Arc<openpile_core::ops::RateLimitHits>,
    ) -> Self {
        self.edit(|i| i.ops = Some(OperatorViewsHandle { views, hits }))
    }

    /// The operator views, or "not found" when they are off.
    pub(crate) fn ops(&self) -> Result<&OperatorViewsHandle, error::ConsoleError> {
        self.inner.ops.as_ref().ok_or(error::ConsoleError::NotFound)
    }

    /// Charging, events and settlement, or "not found" when they are off.
    pub(crate) fn services(&self) -> Result<&Services, error::ConsoleError> {
        self.inner
            .services
            .as_ref()
            .ok_or(error::ConsoleError::NotFound)
    }

    /// The partner use cases, or "not found" when they are off.
    pub(crate) fn partners(&self) -> Result<&Arc<PartnerService>, error::ConsoleError> {
        self.inner
            .partners
            .as_ref()
            .ok_or(error::ConsoleError::NotFound)
    }
}

impl std::ops::Deref for ConsoleState {
    type Target = shared::Inner;
    fn deref(&self) -> &shared::Inner {
        &self.inner
    }
}

/// Every route of the console (`/console/…`) and the partner portal (`/portal/…`). Merge it
/// into the server's router: `app.merge(openpile_console::router(state))`. The portal and the
/// application screens answer 404 unless the state was built `with_partners`.
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/console", get(dashboard::page))
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route("/console/login", get(auth::login_page).post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route("/console/events", get(events::stream))
        .route("/console/assets/{*file}", get(assets::serve))
        .route("/console/stations", get(network::stations))
        .route("/console/stations/{id}", get(network::station))
        .route("/console/chargers/{id}", get(network::charger))
        .route(
            "/console/chargers/{id}/commands",
            get(commands::back_to_charger).post(commands::send),
        )
        .route(
            "/console/chargers/{id}/password",
            get(commands::back_to_charger).post(commands::reset_password),
        )
        .route("/console/tariffs", get(tariffs::list))
        .route(
            "/console/tariffs/new",
            get(tariffs::new_tariff_form).post(tariffs::create_tariff),
        )
        .route("/console/tariffs/{id}", get(tariffs::detail))
        .route(
            "/console/tariffs/{id}/versions/new",
            get(tariffs::new_version_form).post(tariffs::create_version),
        )
        .route("/console/audit", get(audit::list))
        .route("/console/applications", get(applications::queue))
        .route("/console/applications/{id}", get(applications::detail))
        .route(
            "/console/applications/{id}/approve",
            get(applications::back_to_application).post(applications::approve),
        )
        .route(
            "/console/applications/{id}/reject",
            get(applications::back_to_application).post(applications::reject),
        )
        // console: operator screens (session 2)
        .route("/console/sessions", get(sessions::list))
        .route("/console/sessions/{id}", get(sessions::detail))
        .route("/console/cdrs", get(cdrs::list))
        .route("/console/cdrs/{id}", get(cdrs::detail))
        .route(
            "/console/cdrs/{id}/credit",
            get(cdrs::back_to_cdr).post(cdrs::credit),
        )
        .route("/console/statements", get(statements::list))
        .route("/console/statements/{id}", get(statements::detail))
        .route(
            "/console/statements/{id}/export.csv",
            get(statements::export),
        )
        .route(
            "/console/statements/{id}/resolve",
            get(statements::back_to_statement).post(statements::resolve),
        )
        .route(
            "/console/statements/{id}/confirm",
            get(statements::back_to_statement).post(statements::confirm),
        )
        .route(
            "/console/statements/{id}/settle",
            get(statements::back_to_statement).post(statements::settle),
        )
        .route("/console/partners", get(partners::list))
        .route("/console/partners/{id}", get(partners::detail))
        .route(
            "/console/partners/{id}/suspend",
            get(partners::back_to_partner).post(partners::suspend),
        )
        .route(
            "/console/partners/{id}/resume",
            get(partners::back_to_partner).post(partners::resume),
        )
        .route(
            "/console/partners/{id}/deliveries/{delivery}/retry",
            get(partners::back_from_delivery).post(partners::retry),
        )
        .route(
            "/console/stations/new",
            get(network_forms::new_station).post(network_forms::create_station),
        )
        .route(
            "/console/stations/{id}/edit",
            get(network_forms::edit_station).post(network_forms::update_station),
        )
        .route(
            "/console/stations/{id}/chargers/new",
            get(network_forms::new_charger).post(network_forms::create_charger),
        )
        .route(
            "/console/chargers/{id}/edit",
            get(network_forms::edit_charger).post(network_forms::update_charger),
        )
        .route(
            "/console/chargers/{id}/connectors/new",
            get(network_forms::new_connector).post(network_forms::create_connector),
        )
        .route(
            "/console/connectors/{id}/edit",
            get(network_forms::edit_connector).post(network_forms::update_connector),
        )
        .route(
            "/console/network/import",
            get(imports::form).post(imports::submit),
        )
        // end: operator screens (session 2)
        .route("/portal", get(portal::index))
        .route("/portal/", get(|| async { Redirect::to("/portal") }))
        .route("/portal/login", get(portal::login_form).post(portal::login))
        .route("/portal/logout", post(portal::logout))
        .route("/portal/apply", get(portal::apply_form).post(portal::apply))
        .route(
            "/portal/application",
            get(portal::resubmit_form).post(portal::resubmit),
        )
        .route(
            "/portal/credentials/{client_id}/rotate",
            post(portal::rotate),
        )
        .route(
            "/portal/credentials/{client_id}/secrets/{secret_id}/revoke",
            post(portal::revoke),
        )
        .route("/portal/events", get(portal::events))
        // portal: session 2 screens
        .route(
            "/portal/webhook",
            get(portal::webhook).post(portal::save_webhook),
        )
        .route(
            "/portal/webhook/secret",
            post(portal::rotate_webhook_secret),
        )
        .route("/portal/webhook/test", post(portal::test_webhook))
        .route(
            "/portal/webhook/deliveries/{id}/retry",
            post(portal::retry_delivery),
        )
        .route("/portal/live", get(portal::live))
        .route("/portal/live/stream", get(portal::live_events))
        .route("/portal/sessions", get(portal::sessions))
        .route("/portal/sessions/{id}", get(portal::session))
        .route("/portal/cdrs", get(portal::cdrs))
        .route("/portal/cdrs/{id}", get(portal::cdr))
        .route("/portal/statements", get(portal::statements))
        .route("/portal/statements/{id}", get(portal::statement))
        .route(
            "/portal/statements/{id}/report",
            post(portal::upload_report),
        )
        .route("/portal/guide", get(portal::guide))
        .route("/portal/{*rest}", get(error::not_found))
        .route("/console/{*rest}", get(error::not_found))
        .layer(middleware::from_fn(error::render_errors))
        .with_state(state)
}
