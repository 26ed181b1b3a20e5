//! SPDX 2.3 JSON for an [`Inventory`].

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{crates_io_download, license_expression, sha256_hex, Component, Inventory, Source};

/// A SPDX 2.3 JSON document for `inventory`: one package per component (the root first, with
/// purpose `APPLICATION`, the others `LIBRARY`), each with its purl as a `PACKAGE-MANAGER`
/// reference, its SHA-256 and declared license when known (`NOASSERTION` otherwise; no license
/// is ever concluded), and its download location (the crates.io download URL, the git
/// repository at its commit, or `NOASSERTION`); then `DOCUMENT DESCRIBES root` and one
/// `DEPENDS_ON` relationship per dependency edge. The namespace is
/// `https://spdx.org/spdxdocs/<root>-<version>-<namespace_uuid>`. `created` (RFC 3339) is
/// written in UTC without fractional seconds, as the SPDX schema requires; a value that is not
/// RFC 3339 is written as given.
pub fn spdx(inventory: &Inventory, namespace_uuid: &str, created: &str) -> Value {
    let all: Vec<&Component> = std::iter::once(&inventory.root)
        .chain(&inventory.components)
        .collect();
    let mut ids: HashMap<&str, String> = HashMap::new();
    let mut used: HashSet<String> = HashSet::new();
    for c in &all {
        if ids.contains_key(c.purl.as_str()) {
            continue;
        }
        let base = format!(
            "SPDXRef-Package-{}-{}",
            sanitize(&c.name),
            sanitize(&c.version)
        );
        let mut id = base.clone();
        let mut n = 2;
        while used.contains(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        used.insert(id.clone());
        ids.insert(c.purl.as_str(), id);
    }

    let mut packages = Vec::new();
    let mut relationships = Vec::new();
    let root_id = ids.get(inventory.root.purl.as_str()).cloned();
    if let Some(root_id) = &root_id {
        relationships.push(relationship("SPDXRef-DOCUMENT", "DESCRIBES", root_id));
    }
    let mut written: HashSet<&str> = HashSet::new();
    for (position, c) in all.iter().enumerate() {
        let Some(id) = ids.get(c.purl.as_str()) else {
            continue;
        };
        if !written.insert(c.purl.as_str()) {
            continue;
        }
        let purpose = if position == 0 {
            "APPLICATION"
        } else {
            "LIBRARY"
        };
        packages.push(package(c, id, purpose));
        let mut targets: Vec<&str> = Vec::new();
        for dependency in &c.dependencies {
            if let Some(target) = ids.get(dependency.as_str()) {
                if !targets.contains(&target.as_str()) {
                    targets.push(target);
                }
            }
        }
        for target in targets {
            relationships.push(relationship(id, "DEPENDS_ON", target));
        }
    }

    let root = &inventory.root;
    let namespace = format!(
        "https://spdx.org/spdxdocs/{}-{}-{}",
        super::purl::encode(&root.name),
        super::purl::encode(&root.version),
        namespace_uuid.trim().to_ascii_lowercase()
    );
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}-{}", root.name, root.version),
        "documentNamespace": namespace,
        "creationInfo": {
            "created": spdx_timestamp(created),
            "creators": [format!("Tool: citadel-{}", root.version)],
        },
        "packages": packages,
        "relationships": relationships,
    })
}

/// One package.
fn package(c: &Component, id: &str, purpose: &str) -> Value {
    let download = match Source::of(c.source.as_deref()) {
        Source::CratesIo => crates_io_download(&c.name, &c.version),
        Source::Git(url) => git_download_location(url),
        Source::Registry(_) | Source::Local => "NOASSERTION".to_owned(),
    };
    let declared = c
        .license
        .as_deref()
        .filter(|l| !l.trim().is_empty())
        .map_or_else(|| "NOASSERTION".to_owned(), license_expression);
    let mut out = Map::new();
    out.insert("SPDXID".into(), json!(id));
    out.insert("name".into(), json!(c.name));
    out.insert("versionInfo".into(), json!(c.version));
    out.insert("downloadLocation".into(), json!(download));
    out.insert("filesAnalyzed".into(), json!(false));
    out.insert("licenseConcluded".into(), json!("NOASSERTION"));
    out.insert("licenseDeclared".into(), json!(declared));
    out.insert("copyrightText".into(), json!("NOASSERTION"));
    out.insert("primaryPackagePurpose".into(), json!(purpose));
    if let Some(sha256) = sha256_hex(c.checksum_sha256.as_deref()) {
        out.insert(
            "checksums".into(),
            json!([{ "algorithm": "SHA256", "checksumValue": sha256 }]),
        );
    }
    out.insert(
        "externalRefs".into(),
        json!([{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": c.purl,
        }]),
    );
    Value::Object(out)
}

fn relationship(from: &str, kind: &str, to: &str) -> Value {
    json!({
        "spdxElementId": from,
        "relationshipType": kind,
        "relatedSpdxElement": to,
    })
}

/// SPDX identifiers allow `A-Z a-z 0-9 . -`; anything else becomes `-`.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A Cargo git source (`git+https://host/repo?rev=x#commit`) as an SPDX VCS location
/// (`git+https://host/repo@commit`).
fn git_download_location(source: &str) -> String {
    let (url, commit) = match source.split_once('#') {
        Some((url, commit)) => (url, Some(commit)),
        None => (source, None),
    };
    let url = url.split_once('?').map_or(url, |(before, _)| before);
    match commit.filter(|c| !c.is_empty()) {
        Some(commit) => format!("{url}@{commit}"),
        None => url.to_owned(),
    }
}

/// `YYYY-MM-DDThh:mm:ssZ`, the only form the SPDX 2.3 schema accepts.
fn spdx_timestamp(created: &str) -> String {
    let Ok(parsed) = OffsetDateTime::parse(created.trim(), &Rfc3339) else {
        return created.to_owned();
    };
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}
