//! The route table of the admin surface, for the tests that prove every route keeps the
//! tenant fence (`tests/e2e/admin_fences.rs`).
//!
//! The JSON API's routes are listed in `openapi.json`; the web UI's pages and form posts in
//! [`UI_ROUTES`]; routes open to everyone in [`PUBLIC_ROUTES`]. A unit test below reads the
//! source of every module that registers routes and fails when a registered `(method, path)`
//! is in none of the three — so a route added later is either documented (and then checked by
//! the fence test) or the build's tests fail.

/// The web UI's routes as `(method, path)`, in OpenAPI spelling (`{id}`).
pub const UI_ROUTES: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/jobs"),
    ("get", "/jobs/{id}"),
    ("post", "/jobs/{id}/retry"),
    ("post", "/jobs/{id}/cancel"),
    ("get", "/rejected"),
    ("post", "/rejected/{id}/retry"),
    ("get", "/support"),
    ("post", "/support"),
    ("post", "/support/{id}/revoke"),
    ("post", "/support/revoke-all"),
    ("get", "/audit"),
    ("get", "/audit/verify"),
    ("get", "/tokens"),
    ("post", "/tokens"),
    ("post", "/tokens/{id}/revoke"),
    ("get", "/secrets"),
    ("post", "/secrets"),
    ("post", "/secrets/grant"),
    ("post", "/secrets/{plugin}/{name}/delete"),
    ("get", "/connections"),
    ("get", "/connections/{id}"),
    ("get", "/plugins"),
    ("post", "/plugins/{name}/versions/{version}/approve"),
    ("post", "/plugins/{name}/rollback"),
    ("post", "/plugins/{name}/remove"),
    ("post", "/plugins/{name}/config"),
    ("get", "/alerts"),
    ("post", "/alerts"),
    ("post", "/alerts/email"),
    ("post", "/alerts/{id}/test"),
    ("post", "/alerts/{id}/delete"),
    ("get", "/schedules"),
    ("post", "/schedules"),
    ("post", "/schedules/{id}/run"),
    ("post", "/schedules/{id}/delete"),
];

/// Routes served without a token: health, the sign-in form, sign-out (which only ends the
/// session its own cookie names) and the UI's static files.
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/login"),
    ("post", "/login"),
    ("post", "/logout"),
    ("get", "/static/app.css"),
    ("get", "/static/app.js"),
    ("get", "/static/favicon.svg"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// `(method, path)` of every route registration with a literal path (and its `get`,
    /// `post`, … handlers) in the Rust files under `dir`.
    fn registered(dir: &Path, out: &mut BTreeSet<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                registered(&path, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let src = std::fs::read_to_string(&path).unwrap();
            for (i, _) in src.match_indices(".route(") {
                let rest = src[i + ".route(".len()..].trim_start();
                // Only literal paths: the SOAP endpoint's path is configured and has its own
                // authentication (Web Connector tickets), and `.route(url)` elsewhere is not a
                // router.
                let Some(lit) = rest.strip_prefix("\"/") else {
                    continue;
                };
                let route = format!("/{}", &lit[..lit.find('"').unwrap()]);
                // The handlers of this route: up to the next registration or the router's end.
                let body = &rest[..[".route(", ".merge(", ".fallback(", "\n}"]
                    .iter()
                    .filter_map(|end| rest.find(end))
                    .min()
                    .unwrap_or(rest.len())];
                let mut methods = 0;
                for method in ["get", "post", "put", "delete", "patch"] {
                    let call = format!("{method}(");
                    let found = body.match_indices(&call).any(|(at, _)| {
                        at == 0
                            || !body.as_bytes()[at - 1].is_ascii_alphanumeric()
                                && body.as_bytes()[at - 1] != b'_'
                    });
                    if found {
                        methods += 1;
                        out.insert((method.to_string(), route.clone()));
                    }
                }
                assert!(methods > 0, "no method found for {route} in {path:?}");
            }
        }
    }

    #[test]
    fn every_registered_route_is_in_the_openapi_document_the_ui_table_or_the_public_list() {
        let mut found = BTreeSet::new();
        registered(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        let doc: serde_json::Value = serde_json::from_str(include_str!("openapi.json")).unwrap();
        let mut known = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                known.insert((method.clone(), path.clone()));
            }
        }
        for (m, p) in UI_ROUTES.iter().chain(PUBLIC_ROUTES) {
            assert!(
                known.insert((m.to_string(), p.to_string())),
                "{m} {p} listed twice"
            );
        }
        let undocumented: Vec<_> = found.difference(&known).collect();
        assert!(
            undocumented.is_empty(),
            "routes served but in neither openapi.json, UI_ROUTES nor PUBLIC_ROUTES (add them, so the tenant-fence test covers them): {undocumented:?}"
        );
        let stale: Vec<_> = known.difference(&found).collect();
        assert!(stale.is_empty(), "listed but not served: {stale:?}");
        assert!(found.len() > 50, "the scan found only {}", found.len());
    }
}
