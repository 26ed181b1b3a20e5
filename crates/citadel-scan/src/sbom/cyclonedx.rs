//! CycloneDX 1.6 JSON for an [`Inventory`].

use serde_json::{json, Map, Value};

use super::{crates_io_download, license_expression, sha256_hex, Component, Inventory, Source};

/// The property carrying a component's [`Component::source`] verbatim, so that reading the
/// document back gives the same component.
pub(super) const SOURCE_PROPERTY: &str = "citadel:source";

/// A CycloneDX 1.6 JSON document for `inventory`: the root as `metadata.component` (type
/// `application`), every other package as a `library` component whose `bom-ref` is its purl,
/// with its SHA-256, license expression and source (a `distribution` link for registries, `vcs`
/// for git) when known, and the dependency graph. `serial_uuid` becomes the `urn:uuid:` serial
/// number; `timestamp` (RFC 3339) is written as given. The tool is `citadel` at the root's
/// version (the document describes the binary that writes it).
pub fn cyclonedx(inventory: &Inventory, serial_uuid: &str, timestamp: &str) -> Value {
    let components: Vec<Value> = inventory
        .components
        .iter()
        .map(|c| component(c, "library"))
        .collect();
    let known: std::collections::HashSet<&str> = std::iter::once(&inventory.root)
        .chain(&inventory.components)
        .map(|c| c.purl.as_str())
        .collect();
    let dependencies: Vec<Value> = std::iter::once(&inventory.root)
        .chain(&inventory.components)
        .map(|c| {
            let depends_on: Vec<&str> = c
                .dependencies
                .iter()
                .map(String::as_str)
                .filter(|d| known.contains(d))
                .collect();
            json!({ "ref": c.purl, "dependsOn": dedup(depends_on) })
        })
        .collect();
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial_number(serial_uuid),
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": { "components": [tool(&inventory.root.version)] },
            "component": component(&inventory.root, "application"),
        },
        "components": components,
        "dependencies": dependencies,
    })
}

/// `urn:uuid:<uuid>` in lowercase, whether or not `uuid` already carries the prefix.
pub(super) fn serial_number(uuid: &str) -> String {
    let uuid = uuid.trim();
    let bare = uuid.strip_prefix("urn:uuid:").unwrap_or(uuid);
    format!("urn:uuid:{}", bare.to_ascii_lowercase())
}

/// The `metadata.tools.components` entry for Citadel.
pub(super) fn tool(version: &str) -> Value {
    json!({ "type": "application", "name": "citadel", "version": version })
}

/// The first occurrence of each item, in order.
pub(super) fn dedup(items: Vec<&str>) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// One package as a CycloneDX component of type `kind`.
fn component(c: &Component, kind: &str) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!(kind));
    out.insert("bom-ref".into(), json!(c.purl));
    out.insert("name".into(), json!(c.name));
    out.insert("version".into(), json!(c.version));
    if let Some(sha256) = sha256_hex(c.checksum_sha256.as_deref()) {
        out.insert(
            "hashes".into(),
            json!([{ "alg": "SHA-256", "content": sha256 }]),
        );
    }
    if let Some(license) = c.license.as_deref().filter(|l| !l.trim().is_empty()) {
        out.insert(
            "licenses".into(),
            json!([{ "expression": license_expression(license) }]),
        );
    }
    out.insert("purl".into(), json!(c.purl));
    let reference = match Source::of(c.source.as_deref()) {
        Source::CratesIo => Some(("distribution", crates_io_download(&c.name, &c.version))),
        Source::Registry(index) => Some(("distribution", index.to_owned())),
        Source::Git(url) => Some(("vcs", url.to_owned())),
        Source::Local => None,
    };
    if let Some((kind, url)) = reference {
        out.insert(
            "externalReferences".into(),
            json!([{ "type": kind, "url": url }]),
        );
    }
    if let Some(source) = c.source.as_deref() {
        out.insert(
            "properties".into(),
            json!([{ "name": SOURCE_PROPERTY, "value": source }]),
        );
    }
    Value::Object(out)
}
