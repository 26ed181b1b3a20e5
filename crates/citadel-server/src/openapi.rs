//! `/openapi.json`: an OpenAPI 3.1 document generated from the route table, so it lists exactly
//! the routes the router serves, each with the credential it needs. Request and response
//! schemas are not described yet.

use serde_json::{json, Map, Value};

use crate::routes::{Access, RouteInfo};

fn describe(access: Access) -> &'static str {
    match access {
        Access::Public => "No credential.",
        Access::Invoke => "A token with scope invoke or control, and EXECUTE on the endpoint.",
        Access::Control => "A token with scope control, and the privilege the operation needs.",
        Access::Metrics => "A token with scope metrics.",
        Access::AnyToken => "Any valid token.",
        Access::ClientCredentials => {
            "OAuth client credentials (HTTP Basic or client_id and client_secret in the form)."
        }
    }
}

/// The document for `routes`.
pub fn document(routes: &[RouteInfo]) -> Value {
    let mut paths = Map::new();
    for route in routes {
        let mut operation = json!({
            "summary": format!("{} {}", route.method, route.path),
            "description": describe(route.access),
            "responses": {
                "200": { "description": "Success" },
                "400": { "$ref": "#/components/responses/Error" },
                "401": { "$ref": "#/components/responses/Error" },
                "403": { "$ref": "#/components/responses/Error" },
                "429": { "$ref": "#/components/responses/Error" },
            },
        });
        operation["security"] = match route.access {
            Access::Public => json!([]),
            Access::ClientCredentials => json!([{ "clientCredentials": [] }]),
            _ => json!([{ "bearer": [] }]),
        };
        if route.path.contains("{name}") {
            operation["parameters"] = json!([{
                "name": "name", "in": "path", "required": true,
                "schema": { "type": "string" },
                "description": "The endpoint's full name, CATALOG.SCHEMA.NAME",
            }]);
        }
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method.to_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Citadel gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "OpenAI-compatible inference, OAuth client credentials, metrics and the control API.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "A personal access token (cit_pat_…) or a JWT from /oauth/token" },
                "clientCredentials": { "type": "oauth2", "flows": { "clientCredentials": { "tokenUrl": "/oauth/token", "scopes": {
                    "invoke": "call endpoints", "control": "manage Citadel", "metrics": "scrape /metrics"
                } } } },
            },
            "responses": {
                "Error": {
                    "description": "An error: {\"error\": {\"code\", \"message\", \"type\"}}",
                    "content": { "application/json": { "schema": {
                        "type": "object",
                        "properties": { "error": { "type": "object", "properties": {
                            "code": { "type": "string" }, "message": { "type": "string" }, "type": { "type": "string" }
                        } } }
                    } } },
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_its_credential() {
        let routes = crate::routes::all_routes();
        let doc = document(&routes);
        for route in &routes {
            let op = &doc["paths"][route.path][route.method.to_lowercase()];
            assert!(op.is_object(), "{} {}", route.method, route.path);
            let public = op["security"] == json!([]);
            assert_eq!(public, route.access == Access::Public, "{}", route.path);
        }
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
