//! The native Open API face for partners (`/v1/...`, `/oauth/token`): onboarding, credentials,
//! OAuth2 client credentials (RFC 6749 §4.4) with bearer tokens (RFC 6750), per-partner rate
//! limits, and the read side of the network. It owns its wire types, its error table
//! (RFC 9457 problems, [`error::ErrorCode`]) and its OpenAPI description ([`api_doc`]); the
//! domain is reached only through core's partner service and catalog, never a store.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use axum::middleware;
use axum::routing::{get, post};
use openpile_core::clock::Clock;
use openpile_core::partner::catalog::Catalog;
use openpile_core::partner::service::PartnerService;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::OpenApi;
use utoipa::openapi::security::{
    ClientCredentials, Flow, Http, HttpAuthScheme, OAuth2, Scopes, SecurityScheme,
};

pub mod cdrs;
pub mod credentials;
pub mod crypto;
pub mod error;
pub mod events;
pub mod extract;
pub mod oauth;
pub mod onboarding;
pub mod paging;
pub mod ratelimit;
pub mod reservations;
pub mod sessions;
pub mod statements;
pub mod stations;
pub mod webhooks;

use ratelimit::{PublicLimits, RateLimiter};

/// The getting-started guide (`docs/getting-started.md`), served at `/getting-started` from the
/// binary, so the walkthrough matches the server it comes from.
pub const GETTING_STARTED: &str = include_str!("../../../docs/getting-started.md");

/// `GET /getting-started`: the guide as Markdown (readable as plain text, renderable anywhere).
async fn getting_started() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/markdown; charset=utf-8",
        )],
        GETTING_STARTED,
    )
}

/// Bodies of the Open API are small JSON documents; 64 KiB leaves room and bounds the work a
/// request can cause.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What the Open API handlers need. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub partners: Arc<PartnerService>,
    pub catalog: Arc<Catalog>,
    pub clock: Arc<dyn Clock>,
    pub limiter: Arc<RateLimiter>,
}

impl ApiState {
    /// `partners` must be the same instance the admin face uses, so that suspensions and
    /// revocations reach this face's token cache at once.
    pub fn new(
        partners: Arc<PartnerService>,
        catalog: Arc<Catalog>,
        clock: Arc<dyn Clock>,
        limits: PublicLimits,
    ) -> Self {
        Self {
            partners,
            catalog,
            clock,
            limiter: Arc::new(RateLimiter::new(limits)),
        }
    }
}

/// The Open API routes with their full paths. Merge into the server's router; the request-id
/// layers are idempotent with the server's own.
pub fn router(state: ApiState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/getting-started", get(getting_started))
        .route("/oauth/token", post(oauth::token))
        .route(
            "/v1/partner-applications",
            post(onboarding::submit_application),
        )
        .route(
            "/v1/partner-applications/{id}",
            get(onboarding::get_application).put(onboarding::resubmit_application),
        )
        .route("/v1/notifications", get(onboarding::list_notifications))
        .route("/v1/credentials", get(credentials::list_credentials))
        .route("/v1/credentials/rotate", post(credentials::rotate))
        .route("/v1/credentials/revoke", post(credentials::revoke))
        .route("/v1/stations", get(stations::list_stations))
        .route("/v1/stations/{station_id}", get(stations::get_station))
        .route(
            "/v1/stations/{station_id}/tariff",
            get(stations::get_station_tariff),
        )
        .route(
            "/v1/connectors/{connector_id}",
            get(stations::get_connector),
        )
        .route(
            "/v1/connectors/{connector_id}/price",
            get(stations::get_connector_price),
        )
        .route(
            "/v1/connector-statuses",
            get(stations::list_connector_statuses),
        )
        .layer(middleware::from_fn(error::finish_problems))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// How long after the last read [`keep_catalog_fresh`] keeps refreshing ahead of readers.
pub const CATALOG_READERS_GONE: std::time::Duration = std::time::Duration::from_secs(10);

/// Keeps the catalog current from a background task, so that partner reads find a fresh
/// snapshot instead of refreshing it themselves (the reader that finds it stale pays the
/// refresh; with this running, none does), as long as someone read it in the last
/// [`CATALOG_READERS_GONE`]: with nobody reading, refreshing would reload every station whose
/// status changed, for nothing; the snapshot is marked out of date instead, so the next
/// readers refresh it before they answer. Runs until the task is dropped:
/// `tokio::spawn(openpile_api::keep_catalog_fresh(catalog.clone(), Duration::from_millis(50)))`.
pub async fn keep_catalog_fresh(catalog: Arc<Catalog>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !catalog.read_within(CATALOG_READERS_GONE) {
            // Readers to come find the snapshot out of date and load what changed then.
            catalog.invalidate();
            continue;
        }
        if let Err(e) = catalog.refresh().await {
            // Readers keep the last snapshot and retry themselves; say so once per failure.
            tracing::warn!(error = %error::ErrorChain(&e), "catalog refresh failed");
        }
    }
}

/// The Open API's OpenAPI description; the server merges it into `/openapi.json`.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    PartnerApi::openapi()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "OpenPile Open API",
        description = "The partner API of the OpenPile charge point operator platform. A walkthrough with `curl`, from applying to settlement: [`/getting-started`](/getting-started).",
    ),
    paths(
        oauth::token,
        onboarding::submit_application,
        onboarding::get_application,
        onboarding::resubmit_application,
        onboarding::list_notifications,
        credentials::list_credentials,
        credentials::rotate,
        credentials::revoke,
        stations::list_stations,
        stations::get_station,
        stations::get_station_tariff,
        stations::get_connector,
        stations::get_connector_price,
        stations::list_connector_statuses,
        events::list_events,
        events::stream_events,
        webhooks::put_webhook,
        webhooks::get_webhook,
        webhooks::rotate_secret,
        webhooks::test_webhook,
        webhooks::list_deliveries,
        webhooks::retry_delivery,
        sessions::start_session,
        sessions::list_sessions,
        sessions::get_session,
        sessions::stop_session,
        reservations::create_reservation,
        reservations::get_reservation,
        reservations::cancel_reservation,
    ),
    components(schemas(error::ApiProblem, sessions::ChargingProblem)),
    // The charging codes are part of `ErrorTable`'s one table (not `sessions::ChargingErrors`,
    // which would print them a second time).
    modifiers(&Security, &ErrorTable, &EventCatalogue),
    tags(
        (name = "oauth", description = "OAuth 2.0 client credentials (RFC 6749 §4.4). Tokens live 2 hours by default and die at once when their secret is revoked or the partner suspended."),
        (name = "onboarding", description = "Apply, follow the review, correct and resubmit. Applicant endpoints take HTTP Basic with the application's e-mail and password, or a bearer token of the same partner."),
        (name = "credentials", description = "Client ids and secrets: rotation with a grace period, immediate revocation."),
        (name = "stations", description = "Stations, connectors and live statuses in the partner's scope (sandbox credentials: sandbox stations only). Anything outside the scope is 404."),
        (name = "tariffs", description = "Time-of-use tariffs (Asia/Shanghai local time, CNY per kWh) and the price in force at a time."),
        (name = "events", description = "Every status change and session outcome, by pull (`GET /v1/events`), stream (SSE) or webhook. One feed per partner and credential environment, each event with a stable `id` and a per-feed `seq`; the `webhooks` section documents each event type. Kept 7 days by default."),
        (name = "webhooks", description = "Your webhook: URL and event types, the signing secret (Standard Webhooks), tests, the delivery log and replays."),
        (name = "sessions", description = "Start, watch and stop charging on a connector for your user. `POST /v1/sessions` is idempotent by your `partner_order_id`; the session goes `pending` → `starting` (the charger accepted) → `charging` (the charger started the transaction) → `stopping` → `completed` with energy, duration, stop reason and the cost per tariff segment, or `failed` with a stable code. Limits (`energy_wh`, `amount`, `duration_s`) are enforced by us. Only your own sessions exist for you."),
        (name = "reservations", description = "Hold a connector for your user for up to 15 minutes (by default): `active` once the charger confirmed; `cancelled`, `expired`, or `used` by your session on the connector."),
    )
)]
// The settlement paths (`cdrs`, `statements`) are described by `statements::openapi()`, merged
// by the server together with `statements::router`, so the document never lists a route that
// is not served.
struct PartnerApi;

/// Declares the security schemes the paths refer to.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scopes = Scopes::from_iter([
            ("stations:read", "Stations, connectors, statuses, tariffs"),
            ("charging:write", "Start and stop sessions, reservations"),
            ("events:read", "Webhooks, event stream and feed"),
            ("settlement:write", "Report collections, confirm statements"),
        ]);
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::ClientCredentials(ClientCredentials::new(
                    "/oauth/token",
                    scopes,
                ))],
                "Bearer tokens from POST /oauth/token (RFC 6749 §4.4, RFC 6750).",
            )),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("Client id and secret (RFC 6749 §2.3.1)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "applicant_basic",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "The applicant account: e-mail and password (RFC 7617)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Adds the event catalogue: payload schemas and the `webhooks` section.
struct EventCatalogue;

impl utoipa::Modify for EventCatalogue {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        events::catalogue::document(openapi);
    }
}

/// Publishes the one error code table (every code the Open API answers with) in the
/// description and in the problem schema, and the general codes as the `code` enum of problems.
struct ErrorTable;

impl utoipa::Modify for ErrorTable {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let text = format!(
            "Every error of the Open API (`/v1`, `/oauth/token`) is an RFC 9457 `application/problem+json` document with a stable `code` from the table below; the token endpoint answers RFC 6749 §5.2 JSON (`error`, `error_description`) with the same members besides. Every response carries `X-Request-Id` (echoed when sent).\n\nCharging failures (sessions and reservations: the codes from `connector_not_found` on) carry the failed session's `session_id` (or `reservation_id`) when one was recorded and `connector_status` for a busy connector; the same code is kept on the session (`failure.code`). An event stream that must end says why in an SSE `event: error` whose `data` is `{{\"code\": …}}` with a code of this table.\n\n{}",
            error::ErrorCode::markdown_table()
        );
        let base = openapi.info.description.clone().unwrap_or_default();
        openapi.info.description = Some(format!("{base}\n\n{text}"));
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let Some(utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(problem))) =
            components.schemas.get_mut("ApiProblem")
        else {
            return;
        };
        // `info` is not merged into the server's document; the schema is, so the table
        // travels with it.
        problem.description = Some(text);
        if let Some(utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(code))) =
            problem.properties.get_mut("code")
        {
            code.enum_values = Some(
                error::ErrorCode::ALL
                    .iter()
                    .map(|c| serde_json::Value::from(c.as_str()))
                    .collect(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_describes_every_route_and_the_code_table() {
        let json = serde_json::to_value(api_doc()).unwrap();
        let paths = json["paths"].as_object().unwrap();
        for p in [
            "/oauth/token",
            "/v1/partner-applications",
            "/v1/partner-applications/{id}",
            "/v1/notifications",
            "/v1/credentials",
            "/v1/credentials/rotate",
            "/v1/credentials/revoke",
            "/v1/stations",
            "/v1/stations/{station_id}",
            "/v1/stations/{station_id}/tariff",
            "/v1/connectors/{connector_id}",
            "/v1/connectors/{connector_id}/price",
            "/v1/connector-statuses",
        ] {
            assert!(paths.contains_key(p), "missing {p}");
        }
        let codes = json["components"]["schemas"]["ApiProblem"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap();
        assert_eq!(codes.len(), error::ErrorCode::ALL.len());
        let description = json["info"]["description"].as_str().unwrap();
        assert!(description.contains("`rate_limited` | 429"));
        let problem = json["components"]["schemas"]["ApiProblem"]["description"]
            .as_str()
            .unwrap();
        assert!(problem.contains("`invalid_client` | 401"));
        assert!(
            json["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
                .is_object()
        );
    }
}
