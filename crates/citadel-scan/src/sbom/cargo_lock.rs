//! Reading a Cargo.lock into an [`Inventory`].

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::Deserialize;

use super::{purl, sha256_hex, Component, Inventory, Source};
use crate::{Result, ScanError};

/// The newest lock file format this reader knows.
const NEWEST_LOCK_VERSION: u32 = 4;

#[derive(Debug, Deserialize)]
struct LockFile {
    version: Option<u32>,
    #[serde(default)]
    package: Vec<LockPackage>,
}

#[derive(Debug, Deserialize)]
struct LockPackage {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

impl Inventory {
    /// Reads a Cargo.lock (formats 1 to 4: `[[package]]` tables with `name`, `version`,
    /// `source`, `checksum` and `dependencies`) and keeps the packages reachable from the package
    /// named `root_name` (a workspace member when several packages have that name).
    ///
    /// A dependency is written `"name"`, `"name version"` or `"name version (source)"`, the
    /// shortest form that is unambiguous in the file; each resolves to exactly one package or the
    /// file is refused. Cargo.lock records every kind of dependency alike, so the components may
    /// include the root's dev- and build-dependencies and packages of every platform; it records
    /// no license, so `license` is `None`. Format 1 kept checksums in a `[metadata]` table, which
    /// is not read.
    pub fn from_cargo_lock(lock_toml: &str, root_name: &str) -> Result<Self> {
        let lock: LockFile = toml::from_str(lock_toml)
            .map_err(|e| ScanError::InvalidInput(format!("Cargo.lock: {e}")))?;
        if let Some(version) = lock.version.filter(|v| *v > NEWEST_LOCK_VERSION) {
            return Err(ScanError::InvalidInput(format!(
                "Cargo.lock: format version {version} is newer than this reader knows ({NEWEST_LOCK_VERSION})"
            )));
        }
        let packages = lock.package;
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, package) in packages.iter().enumerate() {
            by_name
                .entry(package.name.as_str())
                .or_default()
                .push(index);
        }

        let root = find_root(&packages, &by_name, root_name)?;
        let mut edges: Vec<Vec<usize>> = Vec::with_capacity(packages.len());
        for package in &packages {
            let mut targets = Vec::with_capacity(package.dependencies.len());
            for reference in &package.dependencies {
                targets.push(resolve(&packages, &by_name, package, reference)?);
            }
            edges.push(targets);
        }

        let mut reachable = vec![false; packages.len()];
        let mut queue = VecDeque::from([root]);
        if let Some(seen) = reachable.get_mut(root) {
            *seen = true;
        }
        while let Some(index) = queue.pop_front() {
            for &target in edges.get(index).map(Vec::as_slice).unwrap_or_default() {
                if let Some(seen) = reachable.get_mut(target) {
                    if !*seen {
                        *seen = true;
                        queue.push_back(target);
                    }
                }
            }
        }

        let purls: Vec<String> = packages
            .iter()
            .map(|p| {
                let source = normalized_source(p.source.as_deref());
                purl::cargo(&p.name, &p.version, Source::of(source.as_deref()))
            })
            .collect();
        let mut seen_purls = HashMap::new();
        for (index, purl) in purls.iter().enumerate() {
            let is_reachable = reachable.get(index).copied().unwrap_or(false);
            if is_reachable {
                if let Some(other) = seen_purls.insert(purl.as_str(), index) {
                    let name = packages.get(other).map_or("", |p| p.name.as_str());
                    return Err(ScanError::InvalidInput(format!(
                        "Cargo.lock: two packages named {name} share the package URL {purl}"
                    )));
                }
            }
        }

        let component = |index: usize| -> Option<Component> {
            let package = packages.get(index)?;
            let dependencies: BTreeSet<String> = edges
                .get(index)?
                .iter()
                .filter_map(|&t| purls.get(t).cloned())
                .collect();
            Some(Component {
                name: package.name.clone(),
                version: package.version.clone(),
                ecosystem: "crates.io".to_owned(),
                purl: purls.get(index)?.clone(),
                license: None,
                source: normalized_source(package.source.as_deref()),
                checksum_sha256: sha256_hex(package.checksum.as_deref()),
                dependencies: dependencies.into_iter().collect(),
            })
        };
        let root_component = component(root)
            .ok_or_else(|| ScanError::InvalidInput("Cargo.lock: root package lost".to_owned()))?;
        let mut components: Vec<Component> = (0..packages.len())
            .filter(|&i| i != root && reachable.get(i).copied().unwrap_or(false))
            .filter_map(component)
            .collect();
        components.sort_by_cached_key(|c| {
            (
                c.name.clone(),
                semver::Version::parse(&c.version).ok(),
                c.version.clone(),
                c.purl.clone(),
            )
        });
        Ok(Self {
            root: root_component,
            components,
        })
    }
}

/// The package named `root_name`; among several, the only one without a source (a workspace
/// member).
fn find_root(
    packages: &[LockPackage],
    by_name: &HashMap<&str, Vec<usize>>,
    root_name: &str,
) -> Result<usize> {
    let candidates = by_name
        .get(root_name)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let local: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&i| packages.get(i).is_some_and(|p| p.source.is_none()))
        .collect();
    match (candidates, local.as_slice()) {
        ([only], _) | (_, [only]) => Ok(*only),
        ([], _) => Err(ScanError::InvalidInput(format!(
            "Cargo.lock: no package named {root_name}"
        ))),
        _ => Err(ScanError::InvalidInput(format!(
            "Cargo.lock: several packages named {root_name}"
        ))),
    }
}

/// Resolves one entry of `from`'s `dependencies`.
fn resolve(
    packages: &[LockPackage],
    by_name: &HashMap<&str, Vec<usize>>,
    from: &LockPackage,
    reference: &str,
) -> Result<usize> {
    let mut parts = reference.splitn(3, ' ');
    let name = parts.next().unwrap_or_default();
    let version = parts.next();
    let source = match parts.next() {
        Some(rest) => Some(
            rest.strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| {
                    ScanError::InvalidInput(format!(
                        "Cargo.lock: {} {}: malformed dependency {reference:?}",
                        from.name, from.version
                    ))
                })?,
        ),
        None => None,
    };
    let matching: Vec<usize> = by_name
        .get(name)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .copied()
        .filter(|&i| {
            packages.get(i).is_some_and(|p| {
                version.is_none_or(|v| p.version == v)
                    && source.is_none_or(|s| p.source.as_deref() == Some(s))
            })
        })
        .collect();
    match matching.as_slice() {
        [only] => Ok(*only),
        [] => Err(ScanError::InvalidInput(format!(
            "Cargo.lock: {} {} depends on {reference:?}, which is not in the file",
            from.name, from.version
        ))),
        _ => Err(ScanError::InvalidInput(format!(
            "Cargo.lock: {} {} depends on {reference:?}, which matches several packages",
            from.name, from.version
        ))),
    }
}

/// A Cargo.lock `source` as [`Component::source`] keeps it: `registry+` removed from registry
/// index URLs, sparse and git sources as written.
fn normalized_source(source: Option<&str>) -> Option<String> {
    let source = source?.trim();
    Some(
        source
            .strip_prefix("registry+")
            .unwrap_or(source)
            .to_owned(),
    )
}
