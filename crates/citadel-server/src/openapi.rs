//! `/openapi.json`: an OpenAPI 3.1 document generated from the route table, so it lists exactly
//! the routes the router serves, each with the credential it needs, its path and query
//! parameters, and the JSON Schemas of its request and response bodies (derived from the Rust
//! types the handlers parse and return, under `components.schemas`).

use schemars::generate::SchemaSettings;
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

use crate::routes::{Access, RequestBody, ResponseBody, RouteInfo, SchemaFn};

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

/// What a path parameter holds, by its name in the route.
fn describe_parameter(name: &str) -> &'static str {
    match name {
        "name" | "endpoint" => "The endpoint's full name, CATALOG.SCHEMA.NAME",
        "model" => "The model's full name, CATALOG.SCHEMA.MODEL",
        "version" => "A version number, or an alias such as champion",
        "alias" => "An alias: a letter, then letters, digits, _ or -",
        "id" => "The token's id (a UUID), as GET /api/v1/tokens lists it",
        "group" => "The group's name",
        "member" => "The member's name: a user, group or service principal",
        _ => "See the route's description",
    }
}

/// The names of the `{…}` segments of `path`, in order.
pub fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

fn operation(route: &RouteInfo, generator: &mut SchemaGenerator) -> Value {
    let mut responses = json!({
        "400": { "$ref": "#/components/responses/Error" },
        "401": { "$ref": "#/components/responses/Error" },
        "403": { "$ref": "#/components/responses/Error" },
        "429": { "$ref": "#/components/responses/Error" },
    });
    responses[success_status(route)] = match route.response {
        Some(ResponseBody::Json(schema)) => json!({
            "description": "Success",
            "content": { "application/json": { "schema": schema(generator) } },
        }),
        Some(ResponseBody::Empty) => json!({ "description": "Done; no body" }),
        None => json!({ "description": "Success" }),
    };
    let mut operation = json!({
        "summary": format!("{} {}", route.method, route.path),
        "description": describe(route.access),
        "security": match route.access {
            Access::Public => json!([]),
            Access::ClientCredentials => json!([{ "clientCredentials": [] }]),
            _ => json!([{ "bearer": [] }]),
        },
    });
    let in_path = path_parameters(route.path);
    if !in_path.is_empty() {
        responses["404"] = json!({ "$ref": "#/components/responses/Error" });
    }
    let mut parameters: Vec<Value> = in_path
        .into_iter()
        .map(|name| {
            json!({
                "name": name, "in": "path", "required": true,
                "schema": { "type": "string" },
                "description": describe_parameter(name),
            })
        })
        .collect();
    if let Some(query) = route.query {
        parameters.extend(query_parameters(query));
    }
    if !parameters.is_empty() {
        operation["parameters"] = Value::Array(parameters);
    }
    let body = match route.request {
        Some(RequestBody::Json(schema)) => Some(("application/json", schema(generator))),
        Some(RequestBody::Form(schema)) => {
            Some(("application/x-www-form-urlencoded", schema(generator)))
        }
        Some(RequestBody::Empty) | None => None,
    };
    if let Some((media_type, schema)) = body {
        responses["413"] = json!({ "$ref": "#/components/responses/Error" });
        responses["415"] = json!({ "$ref": "#/components/responses/Error" });
        operation["requestBody"] = json!({
            "required": true,
            "content": { media_type: { "schema": schema } },
        });
    }
    operation["responses"] = responses;
    operation
}

/// One query parameter per field of the object `schema` describes, with its own schema and
/// description (inlined: a parameter's schema stands alone).
fn query_parameters(schema: SchemaFn) -> Vec<Value> {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator();
    let object = schema(&mut generator).to_value();
    let required = object["required"].as_array().cloned().unwrap_or_default();
    let Some(properties) = object["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let mut property = property.clone();
            let description = property
                .as_object_mut()
                .and_then(|p| p.remove("description"))
                .unwrap_or_else(|| json!(""));
            json!({
                "name": name, "in": "query",
                "required": required.contains(&json!(name)),
                "schema": property,
                "description": description,
            })
        })
        .collect()
}

/// `"204"` for routes that answer without a body, `"200"` otherwise.
fn success_status(route: &RouteInfo) -> &'static str {
    match route.response {
        Some(ResponseBody::Empty) => "204",
        _ => "200",
    }
}

/// The document for `routes`.
pub fn document(routes: &[RouteInfo]) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut paths = Map::new();
    for route in routes {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method.to_lowercase()] = operation(route, &mut generator);
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
            "schemas": generator.take_definitions(true),
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

    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    out.push(target);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_route_is_documented_with_its_credential_and_parameters() {
        let routes = crate::routes::all_routes();
        let doc = document(&routes);
        for route in &routes {
            let op = &doc["paths"][route.path][route.method.to_lowercase()];
            assert!(op.is_object(), "{} {}", route.method, route.path);
            let public = op["security"] == json!([]);
            assert_eq!(public, route.access == Access::Public, "{}", route.path);
            let documented: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(documented, path_parameters(route.path), "{}", route.path);
        }
        assert_eq!(doc["openapi"], "3.1.0");
        let audit = doc["paths"]["/api/v1/audit"]["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let since = audit.iter().find(|p| p["name"] == "since");
        assert!(
            since.is_some_and(|p| p["in"] == "query" && p["required"] == false),
            "{audit:?}"
        );
        let grants = &doc["paths"]["/api/v1/grants"]["get"]["parameters"];
        let required: Vec<&Value> = grants
            .as_array()
            .map(|ps| ps.iter().filter(|p| p["required"] == true).collect())
            .unwrap_or_default();
        assert_eq!(required.len(), 2, "{grants}");
    }

    #[test]
    fn every_body_is_declared_and_described() {
        let routes = crate::routes::all_routes();
        let doc = document(&routes);
        for route in &routes {
            let op = &doc["paths"][route.path][route.method.to_lowercase()];
            if route.method == "GET" {
                assert!(route.request.is_none(), "GET {} takes a body", route.path);
                continue;
            }
            let declared = route.request.unwrap_or_else(|| {
                panic!(
                    "{} {}: say what body it takes (takes::<T>() or takes_nothing())",
                    route.method, route.path
                )
            });
            let content = &op["requestBody"]["content"];
            match declared {
                RequestBody::Empty => assert!(content.is_null(), "{}", route.path),
                RequestBody::Json(_) | RequestBody::Form(_) => {
                    let schema = content
                        .as_object()
                        .and_then(|c| c.values().next())
                        .map(|media| &media["schema"]);
                    assert!(
                        schema.is_some_and(|s| s.is_object() && *s != json!({})),
                        "{} {}: {content}",
                        route.method,
                        route.path
                    );
                }
            }
        }
        let control_writes = crate::control::ROUTES
            .iter()
            .filter(|r| r.method != "GET")
            .count();
        assert!(control_writes >= 10, "{control_writes}");
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document(&crate::routes::all_routes());
        let mut targets = Vec::new();
        refs(&doc, &mut targets);
        assert!(
            targets
                .iter()
                .any(|t| t.starts_with("#/components/schemas/")),
            "no schema is referenced"
        );
        for target in targets {
            let pointer = target.strip_prefix('#').unwrap_or(target);
            assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
        }
        let token = &doc["components"]["schemas"]["CreatedToken"];
        assert!(token["properties"]["token"].is_object(), "{token}");
        let endpoint = &doc["paths"]["/api/v1/endpoints/{endpoint}"]["patch"];
        assert_eq!(
            endpoint["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/UpdateEndpoint"
        );
    }
}
