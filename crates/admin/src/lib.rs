//! The admin API face, mounted at `/admin/v1`: operator login with bearer tokens, management of
//! stations, chargers, connectors and tariffs, and the audit trail. It owns its wire types
//! (DTOs), its error envelope (RFC 9457 problem+json with a stable code table) and its OpenAPI
//! description; it reaches the domain only through core's ports, never a store or another face.

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use openpile_core::clock::Clock;
use openpile_core::ids::IdGenerator;
use openpile_core::ports::{ChargerGateway, NetworkStore, OperatorStore};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

pub mod audit;
pub mod auth;
pub mod chargers;
pub mod connectors;
pub mod error;
pub mod extract;
pub mod partners;
pub mod statements;
pub mod stations;
pub mod tariffs;
// The partner-onboarding routes (issue 4) go in `partners.rs`: add `mod partners;` here and
// merge its router in `router()` below.

pub use auth::OperatorAuth;
pub use error::{AdminError, ErrorCode, Problem};

/// Settings of the admin face, from the server's `[admin]` config section.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// How long a login token lives.
    pub token_ttl: chrono::TimeDelta,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            token_ttl: chrono::TimeDelta::hours(12),
        }
    }
}

/// What the admin handlers need: ports, injected time and ids, settings.
#[derive(Clone)]
pub struct AdminState {
    pub network: Arc<dyn NetworkStore>,
    pub operators: Arc<dyn OperatorStore>,
    /// Online state and, later, remote commands to chargers.
    pub gateway: Arc<dyn ChargerGateway>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    pub settings: AdminSettings,
}

/// The admin routes, with their full `/admin/v1/...` paths (so the paths in the OpenAPI
/// document are the ones served). Merge the result into the server's router.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/admin/v1/login", post(auth::login))
        .route("/admin/v1/logout", post(auth::logout))
        .route("/admin/v1/me", get(auth::me))
        .route(
            "/admin/v1/stations",
            get(stations::list_stations).post(stations::create_station),
        )
        .route(
            "/admin/v1/stations/{id}",
            get(stations::get_station).put(stations::update_station),
        )
        .route(
            "/admin/v1/stations/{id}/retire",
            post(stations::retire_station),
        )
        .route(
            "/admin/v1/chargers",
            get(chargers::list_chargers).post(chargers::create_charger),
        )
        .route(
            "/admin/v1/chargers/{id}",
            get(chargers::get_charger).put(chargers::update_charger),
        )
        .route(
            "/admin/v1/chargers/{id}/retire",
            post(chargers::retire_charger),
        )
        .route(
            "/admin/v1/chargers/{id}/password",
            post(chargers::set_password),
        )
        .route(
            "/admin/v1/connectors",
            get(connectors::list_connectors).post(connectors::create_connector),
        )
        .route(
            "/admin/v1/connectors/{id}",
            get(connectors::get_connector).put(connectors::update_connector),
        )
        .route(
            "/admin/v1/connectors/{id}/retire",
            post(connectors::retire_connector),
        )
        .route(
            "/admin/v1/tariffs",
            get(tariffs::list_tariffs).post(tariffs::create_tariff_version),
        )
        .route("/admin/v1/tariffs/{id}", get(tariffs::get_tariff))
        .route("/admin/v1/audit", get(audit::list_audit))
        .layer(middleware::from_fn(error::add_request_id))
        .with_state(state)
}

/// The admin API's OpenAPI description; the server merges it with the other faces'.
pub fn openapi() -> utoipa::openapi::OpenApi {
    AdminApi::openapi()
}

#[derive(OpenApi)]
#[openapi(
    paths(
        auth::login,
        auth::logout,
        auth::me,
        stations::list_stations,
        stations::get_station,
        stations::create_station,
        stations::update_station,
        stations::retire_station,
        chargers::list_chargers,
        chargers::get_charger,
        chargers::create_charger,
        chargers::update_charger,
        chargers::retire_charger,
        chargers::set_password,
        connectors::list_connectors,
        connectors::get_connector,
        connectors::create_connector,
        connectors::update_connector,
        connectors::retire_connector,
        tariffs::list_tariffs,
        tariffs::get_tariff,
        tariffs::create_tariff_version,
        audit::list_audit,
    ),
    components(schemas(Problem)),
    modifiers(&BearerScheme),
    tags(
        (name = "admin-auth", description = "Operator login and tokens. Errors of every admin route are `application/problem+json` with a stable `code`: bad_request 400, invalid_query 400, unauthorized 401, invalid_credentials 401, forbidden 403, not_found 404, conflict 409 (`constraint`), payload_too_large 413, unsupported_media_type 415, validation_failed 422 (`field`), internal 500, unavailable 503."),
        (name = "admin-network", description = "Stations, chargers, connectors and tariffs. Reads: any operator; writes: admin or operations. Every write is audited."),
        (name = "admin-audit", description = "The audit trail (admins)."),
    )
)]
struct AdminApi;

/// Declares the `bearer` scheme the admin paths refer to.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from POST /admin/v1/login: `Authorization: Bearer <token>`",
                    ))
                    .build(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_admin_route() {
        let doc = openapi();
        let json = serde_json::to_value(&doc).unwrap();
        let paths = json["paths"].as_object().unwrap();
        for p in [
            "/admin/v1/login",
            "/admin/v1/stations",
            "/admin/v1/stations/{id}",
            "/admin/v1/chargers/{id}/password",
            "/admin/v1/connectors/{id}/retire",
            "/admin/v1/tariffs/{id}",
            "/admin/v1/audit",
        ] {
            assert!(paths.contains_key(p), "missing {p}");
        }
        assert!(json["components"]["securitySchemes"]["bearer"].is_object());
        assert!(json["components"]["schemas"]["StationInput"].is_object());
    }
}
