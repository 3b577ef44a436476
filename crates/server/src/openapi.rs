//! The one OpenAPI 3.1 document served at `/openapi.json` (and browsed at `/docs`): the server's
//! operational endpoints plus each face's own description, merged. A face adds itself with one
//! `merge` line in [`document`].

use utoipa::OpenApi;

use crate::http;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "OpenPile",
        description = "The open platform of a charge point operator: admin API for the operator's staff (`/admin/v1`), and operational endpoints. Errors are RFC 9457 `application/problem+json` documents with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(http::healthz, http::readyz, http::metrics),
    tags((name = "ops", description = "Liveness, readiness and Prometheus metrics.")),
)]
struct ServerApi;

/// The merged document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ServerApi::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.merge(openpile_admin::openapi());
    doc.merge(openpile_admin::partners::openapi());
    doc.merge(openpile_admin::statements::openapi());
    doc.merge(openpile_api::statements::openapi());
    let api = openpile_api::api_doc();
    // `merge` leaves extensions out; the Open API's carry its `webhooks` section.
    let webhooks = api.extensions.clone();
    doc.merge(api);
    if let Some(ext) = webhooks {
        doc.extensions
            .get_or_insert_with(Default::default)
            .merge(ext);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_every_face() {
        let json = serde_json::to_value(document()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(json["paths"]["/healthz"].is_object());
        assert!(json["paths"]["/admin/v1/stations"].is_object());
        assert!(json["paths"]["/admin/v1/partner-applications"].is_object());
        assert!(json["paths"]["/v1/stations"].is_object());
        assert!(json["paths"]["/oauth/token"].is_object());
        assert!(json["components"]["securitySchemes"]["bearer"].is_object());
        assert!(json["paths"]["/v1/events/stream"].is_object());
        assert!(json["webhooks"]["connector.status_changed"]["post"].is_object());
    }
}
