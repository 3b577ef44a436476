//! Liveness, readiness, metrics, request ids, the OpenAPI document and the docs page.

use openpile_testkit::TestApp;
use reqwest::Method;

use crate::call;

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let app = TestApp::spawn().await;
    let r = call(&app, Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
    let r = call(&app, Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
}

#[tokio::test]
async fn readyz_fails_when_the_database_is_gone_but_healthz_does_not() {
    let app = TestApp::spawn().await;
    app.stores.backend.close().await;
    let r = call(&app, Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["status"], "unavailable");
    let r = call(&app, Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = TestApp::spawn().await;
    call(&app, Method::GET, "/healthz", None, None).await;
    call(&app, Method::GET, "/admin/v1/stations/SH-9999", None, None).await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"}"#),
        "{text}"
    );
    // The template, never the id: ids would make the label set unbounded.
    assert!(
        text.contains(r#"route="/admin/v1/stations/{id}",status="401""#),
        "{text}"
    );
    assert!(!text.contains("SH-9999"));
    assert!(text.contains("http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn request_ids_are_generated_or_echoed() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-42");
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "{id}");

    // Problems carry the same id.
    let r = app
        .client
        .get(app.url("/admin/v1/stations"))
        .header("x-request-id", "trace-me-43")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], "trace-me-43");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = TestApp::spawn().await;
    let r = call(&app, Method::GET, "/nope", None, None).await;
    r.problem(404, "not_found");
    let r = call(&app, Method::DELETE, "/healthz", None, None).await;
    r.problem(405, "method_not_allowed");
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_lists_the_admin_api() {
    let app = TestApp::spawn().await;
    let r = call(&app, Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    let doc = &r.body;
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1."), "{version}");
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/healthz",
        "/admin/v1/login",
        "/admin/v1/logout",
        "/admin/v1/stations",
        "/admin/v1/stations/{id}",
        "/admin/v1/stations/{id}/retire",
        "/admin/v1/chargers",
        "/admin/v1/chargers/{id}/password",
        "/admin/v1/connectors",
        "/admin/v1/connectors/{id}",
        "/admin/v1/tariffs",
        "/admin/v1/tariffs/{id}",
        "/admin/v1/audit",
    ] {
        assert!(paths.contains_key(p), "{p} is not documented");
    }
    // Every operation documents its answers, each with a description (OAS 3.1 requires one).
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path}");
            for (status, r) in responses {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status}"
                );
            }
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in ["StationInput", "ChargerDto", "TariffInput", "Problem"] {
        assert!(schemas.contains_key(s), "schema {s}");
    }
    assert!(schemas["StationInput"]["example"].is_object());
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary_without_a_cdn() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let lower = html.to_lowercase();
    for tag in lower.split("<script").skip(1) {
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        assert!(
            !tag.contains("http://") && !tag.contains("https://") && !tag.contains("src=\"//"),
            "external script: {tag}"
        );
    }
    assert!(!lower.contains("<link rel=\"stylesheet\" type=\"text/css\" href=\"http"));
    // The bundle itself is served by us.
    let r = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let init = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
    assert!(!init.contains("validator.swagger.io"), "{init}");
}
