//! Reading components back from a CycloneDX or SPDX 2.x JSON document.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::cyclonedx::SOURCE_PROPERTY;
use super::purl::Purl;
use super::{sha256_hex, Component};
use crate::{Result, ScanError};

/// The components of a CycloneDX (any 1.x) or SPDX 2.x JSON document, for matching against
/// advisories: every component or package that carries a purl (others cannot be matched and
/// are left out), the described one first (CycloneDX `metadata.component`; SPDX lists it where
/// its writer put it), nested CycloneDX components included, each purl once.
///
/// Name, version and ecosystem come from the purl (`version` from the document when the purl
/// has none); the license from a license expression (or license ids joined with `AND`; SPDX's
/// `licenseDeclared`), the SHA-256 from the hashes or checksums, and the dependencies from the
/// dependency graph (CycloneDX `dependencies`, SPDX `DEPENDS_ON` / `DEPENDENCY_OF`), as purls.
/// The source is CycloneDX's `citadel:source` property when present (what Citadel writes),
/// else its `vcs` or `distribution` reference, else SPDX's `downloadLocation`.
pub fn parse_sbom_components(json: &Value) -> Result<Vec<Component>> {
    if json.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        Ok(cyclonedx_components(json))
    } else if json
        .get("spdxVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("SPDX-2."))
    {
        Ok(spdx_components(json))
    } else {
        Err(ScanError::InvalidInput(
            "not a CycloneDX or SPDX 2.x JSON document".to_owned(),
        ))
    }
}

/// A component from a purl and the document's version field.
fn from_purl(purl_text: &str, version: Option<&str>) -> Option<Component> {
    let purl = Purl::parse(purl_text)?;
    let version = purl
        .version
        .clone()
        .or_else(|| version.map(str::to_owned))
        .unwrap_or_default();
    Some(Component {
        name: purl.package_name(),
        version,
        ecosystem: purl.ecosystem(),
        purl: purl_text.trim().to_owned(),
        license: None,
        source: None,
        checksum_sha256: None,
        dependencies: Vec::new(),
    })
}

fn str_field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn cyclonedx_components(bom: &Value) -> Vec<Component> {
    let mut out: Vec<Component> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    // bom-ref → index in `out`
    let mut refs: HashMap<String, usize> = HashMap::new();
    let mut stack: Vec<&Value> = Vec::new();
    let mut roots: Vec<&Value> = Vec::new();
    if let Some(main) = bom.get("metadata").and_then(|m| m.get("component")) {
        roots.push(main);
    }
    roots.extend(array(bom, "components"));
    // Depth-first, in document order.
    stack.extend(roots.into_iter().rev());
    while let Some(node) = stack.pop() {
        stack.extend(array(node, "components").iter().rev());
        let Some(mut component) =
            str_field(node, "purl").and_then(|purl| from_purl(purl, str_field(node, "version")))
        else {
            continue;
        };
        component.license = cyclonedx_license(node);
        component.checksum_sha256 = array(node, "hashes")
            .iter()
            .filter(|h| str_field(h, "alg") == Some("SHA-256"))
            .find_map(|h| sha256_hex(str_field(h, "content")));
        component.source = cyclonedx_source(node);
        let bom_ref = str_field(node, "bom-ref").map(str::to_owned);
        let purl = component.purl.clone();
        if seen.insert(purl.clone()) {
            out.push(component);
            let index = out.len() - 1;
            refs.insert(purl, index);
            if let Some(bom_ref) = bom_ref {
                refs.insert(bom_ref, index);
            }
        }
    }
    for dependency in array(bom, "dependencies") {
        let Some(&from) = str_field(dependency, "ref").and_then(|r| refs.get(r)) else {
            continue;
        };
        let targets: Vec<String> = array(dependency, "dependsOn")
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|r| refs.get(r))
            .filter_map(|&i| out.get(i).map(|c| c.purl.clone()))
            .collect();
        if let Some(component) = out.get_mut(from) {
            component.dependencies.extend(targets);
        }
    }
    for component in &mut out {
        component.dependencies.sort();
        component.dependencies.dedup();
    }
    out
}

fn cyclonedx_license(node: &Value) -> Option<String> {
    let licenses = array(node, "licenses");
    if let Some(expression) = licenses.iter().find_map(|l| str_field(l, "expression")) {
        return Some(expression.to_owned());
    }
    let ids: Vec<&str> = licenses
        .iter()
        .filter_map(|l| l.get("license"))
        .filter_map(|l| str_field(l, "id").or_else(|| str_field(l, "name")))
        .collect();
    (!ids.is_empty()).then(|| ids.join(" AND "))
}

fn cyclonedx_source(node: &Value) -> Option<String> {
    let property = array(node, "properties")
        .iter()
        .find(|p| str_field(p, "name") == Some(SOURCE_PROPERTY))
        .and_then(|p| str_field(p, "value"));
    if let Some(source) = property {
        return Some(source.to_owned());
    }
    let references = array(node, "externalReferences");
    ["vcs", "distribution"].iter().find_map(|kind| {
        references
            .iter()
            .find(|r| str_field(r, "type") == Some(kind))
            .and_then(|r| str_field(r, "url"))
            .map(str::to_owned)
    })
}

fn spdx_components(doc: &Value) -> Vec<Component> {
    let mut out: Vec<Component> = Vec::new();
    // purl → index in `out`
    let mut by_purl: HashMap<String, usize> = HashMap::new();
    // SPDXID → index in `out`
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for package in array(doc, "packages") {
        let purl = array(package, "externalRefs")
            .iter()
            .filter(|r| str_field(r, "referenceType") == Some("purl"))
            .find_map(|r| str_field(r, "referenceLocator"));
        let Some(mut component) =
            purl.and_then(|purl| from_purl(purl, str_field(package, "versionInfo")))
        else {
            continue;
        };
        let assertion = |key: &str| {
            str_field(package, key)
                .filter(|v| !matches!(v.trim(), "" | "NOASSERTION" | "NONE"))
                .map(str::to_owned)
        };
        component.license = assertion("licenseDeclared");
        component.source = assertion("downloadLocation");
        component.checksum_sha256 = array(package, "checksums")
            .iter()
            .filter(|c| str_field(c, "algorithm") == Some("SHA256"))
            .find_map(|c| sha256_hex(str_field(c, "checksumValue")));
        let id = str_field(package, "SPDXID");
        let index = match by_purl.get(&component.purl) {
            Some(&index) => index,
            None => {
                by_purl.insert(component.purl.clone(), out.len());
                out.push(component);
                out.len() - 1
            }
        };
        if let Some(id) = id {
            ids.insert(id, index);
        }
    }
    for relationship in array(doc, "relationships") {
        let from = str_field(relationship, "spdxElementId").and_then(|id| ids.get(id));
        let to = str_field(relationship, "relatedSpdxElement").and_then(|id| ids.get(id));
        let (Some(&from), Some(&to)) = (from, to) else {
            continue;
        };
        let (dependent, dependency) = match str_field(relationship, "relationshipType") {
            Some("DEPENDS_ON") => (from, to),
            Some("DEPENDENCY_OF") => (to, from),
            _ => continue,
        };
        let Some(target) = out.get(dependency).map(|c| c.purl.clone()) else {
            continue;
        };
        if let Some(component) = out.get_mut(dependent) {
            component.dependencies.push(target);
        }
    }
    for component in &mut out {
        component.dependencies.sort();
        component.dependencies.dedup();
    }
    out
}
