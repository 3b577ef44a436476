//! Wiring: picks the store from the database URL, builds the shared state (ports as
//! `Arc<dyn …>`, clock, id generator), merges the faces' routers with the server's own, binds
//! the listener and serves until told to stop. This is the only place that knows every crate.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::middleware;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use openpile_admin::{AdminSettings, AdminState};
use openpile_core::charging::TransactionStore;
use openpile_core::clock::{Clock, SystemClock};
use openpile_core::error::StoreError;
use openpile_core::event::EventStore;
use openpile_core::ids::{IdGenerator, UuidV7Ids};
use openpile_core::partner::catalog::Catalog;
use openpile_core::partner::ports::{PartnerStore, StationCatalog};
use openpile_core::partner::service::{PartnerConfig, PartnerService};
use openpile_core::ports::{ChargerGateway, ChargerStore, NetworkStore, OperatorStore};
use openpile_core::sessions::observe::{ObservedChargers, ObservedTransactions, SessionHooks};
use openpile_core::sessions::ports::SessionStore;
use openpile_core::sessions::service::{SessionDeps, SessionError, SessionService};
use openpile_core::settlement::ports::SettlementStore;
use openpile_core::settlement::service::{SettlementConfig, SettlementService};
use openpile_ocpp16::{CentralSystem, Ocpp16Config};
use openpile_store_sqlite::SqliteStore;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa_swagger_ui::SwaggerUi;

use crate::charging::{TokioRuntime, session_settings};
use crate::config::{Config, redact_url};
use crate::http::{self, OpsState};
use crate::openapi;

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database URL {url} is not supported yet: only sqlite:// works in this version")]
    UnsupportedDatabase { url: String },
    #[error("cannot open the database {url}")]
    Store {
        url: String,
        #[source]
        source: StoreError,
    },
    #[error("cannot mark connectors offline at start-up")]
    Offline(#[source] StoreError),
    #[error("cannot load the partner catalog of stations")]
    Catalog(#[source] StoreError),
    #[error("cannot recover the charging sessions")]
    Sessions(#[source] SessionError),
    #[error("cannot set up e-mail ([mail])")]
    Mail(#[source] openpile_mailer::SettingsError),
    #[error("cannot load the TLS certificate or key (ocpp.tls_cert, ocpp.tls_key)")]
    Tls(#[source] openpile_ocpp16::tls::TlsError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The concrete database behind the ports, for what ports do not cover: readiness pings and
/// closing the pool at shutdown.
#[derive(Clone)]
pub enum Backend {
    Sqlite(SqliteStore),
}

impl Backend {
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(s) => s.ping().await,
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
        }
    }
}

/// The store ports, as every face receives them.
#[derive(Clone)]
pub struct Stores {
    pub network: Arc<dyn NetworkStore>,
    pub chargers: Arc<dyn ChargerStore>,
    pub operators: Arc<dyn OperatorStore>,
    pub transactions: Arc<dyn TransactionStore>,
    pub partners: Arc<dyn PartnerStore>,
    pub catalog: Arc<dyn StationCatalog>,
    /// Event feeds, webhooks and their deliveries (the outbox).
    pub events: Arc<dyn EventStore>,
    /// Charging sessions and reservations.
    pub sessions: Arc<dyn SessionStore>,
    /// CDRs, statements, reports and reconciliation.
    pub settlement: Arc<dyn SettlementStore>,
    /// Read-only views across partners for the operator console.
    pub ops: Arc<dyn openpile_core::ops::OperatorViews>,
    pub backend: Backend,
}

impl Stores {
    /// Opens (and migrates) the store named by `url`, chosen by its scheme.
    pub async fn open(url: &str) -> Result<Stores, StartupError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Err(StartupError::UnsupportedDatabase {
                url: redact_url(url),
            });
        }
        let store = SqliteStore::connect(url)
            .await
            .map_err(|source| StartupError::Store {
                url: redact_url(url),
                source,
            })?;
        let shared = Arc::new(store.clone());
        Ok(Stores {
            network: shared.clone(),
            chargers: shared.clone(),
            operators: shared.clone(),
            transactions: shared.clone(),
            partners: shared.clone(),
            events: shared.clone(),
            sessions: shared.clone(),
            settlement: shared.clone(),
            ops: shared.clone(),
            catalog: shared,
            backend: Backend::Sqlite(store),
        })
    }
}

/// Everything built once per process and handed to the faces.
#[derive(Clone)]
pub struct Shared {
    pub config: Config,
    pub stores: Stores,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    /// The OCPP 1.6J central system: the `/ocpp/{id}` endpoint and the live connections.
    pub central: CentralSystem,
    /// Commands to chargers, for every face (the central system behind a port).
    pub gateway: Arc<dyn ChargerGateway>,
    /// Onboarding, credentials and tokens. One instance for every face, so that a suspension or
    /// revocation reaches every token cache at once.
    pub partners: Arc<PartnerService>,
    /// The partner-facing snapshot of the network, refreshed from the store's change counter.
    pub catalog: Arc<Catalog>,
    /// Charging sessions and reservations: the use cases, and the reactions to what chargers
    /// report (the central system's store ports are observed for it).
    pub sessions: Arc<SessionService>,
    /// CDRs, statements and reconciliation, for the partner and admin faces.
    pub settlement: Arc<SettlementService>,
}

/// A built, bound, not yet serving application.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    shared: Shared,
    /// Security Profile 2: when set, the listener speaks TLS (https:// and wss://).
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Application {
    /// Opens the store named in the configuration, builds the routers and binds the listener
    /// (port 0 picks a free one: read it back with [`Application::local_addr`]).
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let stores = Stores::open(config.db.url.expose_secret()).await?;
        Self::build_with(config, stores).await
    }

    /// As [`Application::build`], with stores opened by the caller (the demo seeds them first).
    pub async fn build_with(config: Config, stores: Stores) -> Result<Application, StartupError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        // No charger is connected to a process that has just started, whatever the database
        // says from before. (Several nodes sharing one database will need the connection
        // registry of docs/design.md instead.)
        stores
            .chargers
            .mark_all_offline(clock.now())
            .await
            .map_err(StartupError::Offline)?;
        // What chargers report reaches the sessions service through the store ports the OCPP
        // face writes to; the service is attached below, once the gateway exists.
        let hooks = SessionHooks::new();
        let central = CentralSystem::new(
            ocpp_settings(&config),
            Arc::new(ObservedChargers::new(
                stores.chargers.clone(),
                hooks.clone(),
            )),
            Arc::new(ObservedTransactions::new(
                stores.transactions.clone(),
                hooks.clone(),
            )),
            clock.clone(),
        );
        let tls = match (&config.ocpp.tls_cert, &config.ocpp.tls_key) {
            (Some(cert), Some(key)) => {
                Some(openpile_ocpp16::tls::tls_config(cert, key).map_err(StartupError::Tls)?)
            }
            _ => None,
        };
        let ids: Arc<dyn IdGenerator> = Arc::new(UuidV7Ids);
        // E-mail when `[mail]` names a server; otherwise notifications are only recorded.
        let mailer = match config.mail.smtp_settings() {
            Some(settings) => {
                let mailer =
                    openpile_mailer::SmtpMailer::new(&settings).map_err(StartupError::Mail)?;
                tracing::info!(server = ?settings.server, "e-mail to partners over SMTP");
                Some(Arc::new(mailer) as Arc<dyn openpile_core::partner::notification::Mailer>)
            }
            None => None,
        };
        let partners = Arc::new(PartnerService::new(
            stores.partners.clone(),
            Arc::new(openpile_api::crypto::ApiCrypto::default()),
            clock.clone(),
            ids.clone(),
            mailer,
            partner_settings(&config),
        ));
        let catalog = Arc::new(Catalog::new(
            stores.catalog.clone(),
            clock.clone(),
            Catalog::DEFAULT_MAX_STALENESS,
        ));
        catalog.refresh().await.map_err(StartupError::Catalog)?;
        let gateway: Arc<dyn ChargerGateway> = Arc::new(central.clone());
        let sessions = SessionService::new(
            SessionDeps {
                store: stores.sessions.clone(),
                gateway: gateway.clone(),
                network: stores.network.clone(),
                transactions: stores.transactions.clone(),
                partners: stores.partners.clone(),
                catalog: catalog.clone(),
                clock: clock.clone(),
                ids: ids.clone(),
                runtime: Arc::new(TokioRuntime),
            },
            session_settings(&config),
        );
        hooks.attach(&sessions);
        // Sessions that were running when the process stopped: their chargers are not
        // connected yet; the sweep resumes or fails the starts that were under way.
        let marked = sessions.recover().await.map_err(StartupError::Sessions)?;
        if marked > 0 {
            tracing::info!(
                sessions = marked,
                "sessions wait for their chargers to reconnect"
            );
        }
        let settlement = Arc::new(SettlementService::new(
            stores.settlement.clone(),
            stores.partners.clone(),
            clock.clone(),
            ids.clone(),
            SettlementConfig {
                time_zone: config.local.tz(),
                ..SettlementConfig::default()
            },
        ));
        let shared = Shared {
            stores,
            clock,
            ids,
            gateway,
            central,
            partners,
            catalog,
            sessions,
            settlement,
            config,
        };
        let router = build_router(&shared);
        let addr = shared.config.http.addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?;
        Ok(Application {
            listener,
            local_addr,
            router,
            shared,
            tls,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Serves until `shutdown` completes, then closes the chargers' WebSockets (they would
    /// otherwise keep the graceful shutdown waiting), lets requests in flight finish and closes
    /// the database.
    pub async fn run_until<F>(self, shutdown: F) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let metrics = http::prometheus();
        // Histograms need draining now and then, or their buffers only grow.
        let upkeep = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                metrics.run_upkeep();
            }
        });
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let sessions_sweeper = tokio::spawn(crate::charging::run_sweeper(
            self.shared.sessions.clone(),
            Duration::from_millis(self.shared.config.charging.sweep_interval_ms),
            stopped(stop_rx.clone()),
        ));
        // Failed e-mails are tried again with the partner service's backoff.
        let mail_retries = self.shared.config.mail.smtp_settings().map(|_| {
            tokio::spawn(openpile_mailer::run_retries(
                self.shared.partners.clone(),
                Duration::from_secs(1),
                stopped(stop_rx.clone()),
            ))
        });
        let outbox = spawn_outbox(&self.shared, &stop_rx, stopped);
        let stopped = stopped(stop_rx);
        let sweeper = tokio::spawn(self.shared.central.clone().run_liveness_sweeper(stopped));
        let catalog = tokio::spawn(openpile_api::keep_catalog_fresh(
            self.shared.catalog.clone(),
            Duration::from_millis(50),
        ));
        let partners = self.shared.partners.clone();
        let token_purge = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(600));
            loop {
                tick.tick().await;
                if let Err(e) = partners.purge_expired_tokens().await {
                    tracing::warn!(error = %e, "purging expired partner tokens failed");
                }
            }
        });
        let central = self.shared.central.clone();
        let shutdown = async move {
            shutdown.await;
            central.close_all();
            let _ = stop_tx.send(true);
        };
        tracing::info!(
            addr = %self.local_addr,
            tls = self.tls.is_some(),
            "serving HTTP and OCPP"
        );
        let result = match self.tls {
            Some(tls) => {
                openpile_ocpp16::tls::serve_tls(self.listener, tls, self.router, shutdown).await
            }
            None => {
                // Small request/response messages (OCPP frames, API replies) must not wait for
                // the peer's delayed ACK (Nagle's algorithm): up to 40 ms each.
                let listener = self.listener.tap_io(|tcp| {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                    }
                });
                axum::serve(listener, self.router)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        };
        upkeep.abort();
        catalog.abort();
        token_purge.abort();
        let _ = sweeper.await;
        let _ = sessions_sweeper.await;
        if let Some(task) = mail_retries {
            let _ = task.await;
        }
        for task in outbox {
            // The worker finishes the requests in flight (bounded by its request timeout).
            let _ = task.await;
        }
        self.shared.stores.backend.close().await;
        tracing::info!("stopped");
        result
    }
}

/// Starts the webhook delivery worker and the outbox housekeeping (unless `[events]
/// delivery_worker` is off); both stop when `stop` says so.
fn spawn_outbox<F, Fut>(
    shared: &Shared,
    stop: &tokio::sync::watch::Receiver<bool>,
    stopped: F,
) -> Vec<tokio::task::JoinHandle<()>>
where
    F: Fn(tokio::sync::watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let events = &shared.config.events;
    if !events.delivery_worker {
        return Vec::new();
    }
    let mut tasks = Vec::new();
    match openpile_outbox::worker::Worker::new(
        shared.stores.events.clone(),
        shared.clock.clone(),
        delivery_settings(&shared.config),
    ) {
        Ok(worker) => tasks.push(tokio::spawn(worker.run(stopped(stop.clone())))),
        Err(e) => tracing::error!(error = %e, "webhook delivery worker not started"),
    }
    tasks.push(tokio::spawn(openpile_outbox::housekeeping::run(
        shared.stores.events.clone(),
        shared.clock.clone(),
        openpile_outbox::housekeeping::HousekeepingConfig {
            retention: Duration::from_secs(events.retention_s),
            disable_after: Duration::from_secs(events.disable_after_s),
            ..openpile_outbox::housekeeping::HousekeepingConfig::default()
        },
        stopped(stop.clone()),
    )));
    tasks
}

/// The webhook worker's settings, from `[events]`.
pub fn delivery_settings(config: &Config) -> openpile_outbox::config::DeliveryConfig {
    let e = &config.events;
    openpile_outbox::config::DeliveryConfig {
        concurrency: e.delivery_concurrency,
        per_endpoint: e.delivery_per_endpoint,
        lease: Duration::from_secs(e.delivery_lease_s),
        connect_timeout: Duration::from_millis(e.connect_timeout_ms),
        request_timeout: Duration::from_millis(e.request_timeout_ms),
        max_response_bytes: e.max_response_bytes,
        retry: openpile_outbox::config::RetryPolicy {
            initial: Duration::from_secs(e.retry_initial_s),
            max_interval: Duration::from_secs(e.retry_max_interval_s),
            window: Duration::from_secs(e.retry_window_s),
        },
        allow_private_targets: e.allow_private_webhook_targets,
        allow_private_sandbox_targets: e.allow_private_sandbox_webhook_targets,
        poll_interval: Duration::from_millis(e.poll_interval_ms),
        ..openpile_outbox::config::DeliveryConfig::default()
    }
}

/// The event routes' settings, from `[events]`.
fn events_settings(config: &Config) -> openpile_api::events::EventsSettings {
    let e = &config.events;
    openpile_api::events::EventsSettings {
        allow_private_targets: e.allow_private_webhook_targets,
        allow_private_sandbox_targets: e.allow_private_sandbox_webhook_targets,
        secret_grace: Duration::from_secs(e.secret_rotation_grace_s),
        heartbeat: Duration::from_secs(e.stream_heartbeat_s),
        poll_interval: Duration::from_millis(e.poll_interval_ms),
        max_streams_per_partner: e.max_streams_per_partner,
    }
}

/// The OCPP face's settings, from `[ocpp]`.
fn ocpp_settings(config: &Config) -> Ocpp16Config {
    Ocpp16Config {
        heartbeat_interval: Duration::from_secs(config.ocpp.heartbeat_interval_s.into()),
        liveness_factor: config.ocpp.heartbeat_grace_factor,
        call_timeout: Duration::from_secs(config.ocpp.call_timeout_s.into()),
        ..Ocpp16Config::default()
    }
}

/// The partner service's settings, from `[partners]`.
fn partner_settings(config: &Config) -> PartnerConfig {
    PartnerConfig {
        token_ttl: Duration::from_secs(config.partners.access_token_ttl_s),
        rotation_grace: Duration::from_secs(config.partners.secret_rotation_grace_s),
        sandbox_rate_limit: openpile_core::partner::contract::RateLimit {
            requests_per_second: config.partners.sandbox_requests_per_second,
            burst: config.partners.sandbox_burst,
        },
        mail_retry: config.mail.retry_policy(),
        ..PartnerConfig::default()
    }
}

/// The web console's settings: secure cookies whenever we serve TLS; the portal's webhook
/// settings from `[events]`, as the Open API's (see `events_settings`), so both faces accept
/// the same URLs and keep a rotated secret signing as long.
fn console_settings(config: &Config) -> openpile_console::ConsoleConfig {
    let e = &config.events;
    openpile_console::ConsoleConfig {
        secure_cookies: config.ocpp.tls_cert.is_some(),
        timezone: config.local.tz(),
        webhook_private_targets: e.allow_private_webhook_targets,
        webhook_private_sandbox_targets: e.allow_private_sandbox_webhook_targets,
        // Only a grace beyond chrono's range (some 292 million years) fails; the API's
        // rotation falls back to 24 h then, and so does this.
        webhook_secret_grace: chrono::TimeDelta::from_std(Duration::from_secs(
            e.secret_rotation_grace_s,
        ))
        .unwrap_or(chrono::TimeDelta::hours(24)),
        ..openpile_console::ConsoleConfig::default()
    }
}

/// The admin face's settings, from `[admin]`.
fn admin_settings(config: &Config) -> AdminSettings {
    AdminSettings {
        token_ttl: chrono::TimeDelta::seconds(
            i64::try_from(config.admin.token_ttl_s).unwrap_or(i64::MAX / 1000),
        ),
    }
}

/// All routes: the server's own, then each face's. A new face is one `.merge` here plus one
/// `merge` in `openapi::document`.
fn build_router(shared: &Shared) -> Router {
    let ops = OpsState {
        backend: shared.stores.backend.clone(),
        metrics: http::prometheus(),
    };
    let admin = AdminState {
        network: shared.stores.network.clone(),
        operators: shared.stores.operators.clone(),
        gateway: shared.gateway.clone(),
        clock: shared.clock.clone(),
        ids: shared.ids.clone(),
        settings: admin_settings(&shared.config),
    };
    let partners_admin = openpile_admin::partners::PartnersAdminState {
        admin: admin.clone(),
        partners: shared.partners.clone(),
    };
    // Rate-limit refusals, counted by the Open API's limiter and shown in the console.
    let rate_limit_hits = Arc::new(openpile_core::ops::RateLimitHits::default());
    let mut api = openpile_api::ApiState::new(
        shared.partners.clone(),
        shared.catalog.clone(),
        shared.clock.clone(),
        openpile_api::ratelimit::PublicLimits::default(),
    );
    api.limiter = Arc::new(
        openpile_api::ratelimit::RateLimiter::new(openpile_api::ratelimit::PublicLimits::default())
            .with_hits(rate_limit_hits.clone()),
    );
    let console = openpile_console::ConsoleState::new(
        shared.stores.network.clone(),
        shared.stores.operators.clone(),
        shared.gateway.clone(),
        shared.clock.clone(),
        console_settings(&shared.config),
    )
    .with_partners(shared.partners.clone())
    .with_services(openpile_console::Services {
        sessions: shared.sessions.clone(),
        settlement: shared.settlement.clone(),
        events: shared.stores.events.clone(),
        transactions: shared.stores.transactions.clone(),
    })
    .with_operator_views(shared.stores.ops.clone(), rate_limit_hits);
    let docs = SwaggerUi::new("/docs")
        .url("/openapi.json", openapi::document())
        // The bundle would otherwise send the document to validator.swagger.io.
        .config(utoipa_swagger_ui::Config::default().validator_url("none"));

    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/metrics", get(http::metrics))
        .with_state(ops)
        .merge(openpile_admin::router(admin.clone()))
        .merge(openpile_admin::partners::router(partners_admin))
        .merge(openpile_api::events::router(
            api.clone(),
            shared.stores.events.clone(),
            events_settings(&shared.config),
        ))
        .merge(openpile_api::sessions::router(
            api.clone(),
            shared.sessions.clone(),
        ))
        .merge(openpile_api::statements::router(
            api.clone(),
            shared.settlement.clone(),
        ))
        .merge(openpile_admin::statements::router(
            openpile_admin::statements::StatementsAdminState {
                admin,
                settlement: shared.settlement.clone(),
            },
        ))
        .merge(openpile_api::router(api))
        .merge(openpile_console::router(console))
        .merge(openpile_ocpp16::router(shared.central.clone()))
        .merge(docs)
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .layer(middleware::from_fn(http::track))
        .layer(DefaultBodyLimit::max(shared.config.http.body_limit))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
                            let id = req
                                .headers()
                                .get("x-request-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-");
                            tracing::info_span!(
                                "http",
                                method = %req.method(),
                                path = %req.uri().path(),
                                request_id = %id,
                            )
                        })
                        // One line per request at info: status and latency. Headers (and so
                        // tokens and passwords) are never logged.
                        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(request_id)),
        )
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (service managers, containers).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
