//! The OpenAPI documents merge into the server's without shadowing: utoipa's merge keeps the
//! first schema of a name, so a shared name would silently describe another face's type.

use std::collections::BTreeSet;

fn schema_names(doc: utoipa::openapi::OpenApi) -> BTreeSet<String> {
    doc.components
        .map(|c| c.schemas.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn schema_names_do_not_clash_with_the_admin_api() {
    let api = schema_names(openpile_api::api_doc());
    let admin = schema_names(openpile_admin::openapi());
    let review = schema_names(openpile_admin::partners::openapi());
    assert!(api.contains("ApiProblem") && api.contains("StationInfo"));
    let clash: Vec<_> = api
        .intersection(&admin)
        .chain(api.intersection(&review))
        .collect();
    assert!(clash.is_empty(), "{clash:?}");
    let clash: Vec<_> = review
        .intersection(&admin)
        .filter(|n| !n.starts_with("PageDto") && *n != "Problem")
        .collect();
    assert!(clash.is_empty(), "{clash:?}");
}
