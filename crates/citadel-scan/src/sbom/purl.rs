//! Package URLs (<https://github.com/package-url/purl-spec>): writing Cargo purls, reading any
//! purl back into an OSV ecosystem and package name.

/// Percent-encodes everything but unreserved characters (`A-Z a-z 0-9 - . _ ~`).
pub(super) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` sequences; malformed ones are kept as written.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(value) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(byte);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The purl of a Cargo package. Packages from another registry carry its index as
/// `repository_url`, git packages their source as `vcs_url`, so that a crates.io package and a
/// git fork of the same name and version stay distinct.
pub(super) fn cargo(name: &str, version: &str, source: super::Source<'_>) -> String {
    let base = format!("pkg:cargo/{}@{}", encode(name), encode(version));
    match source {
        super::Source::Registry(url) => format!("{base}?repository_url={}", encode(url)),
        super::Source::Git(url) => format!("{base}?vcs_url={}", encode(url)),
        super::Source::CratesIo | super::Source::Local => base,
    }
}

/// The parts of a purl that identify a package version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Purl {
    /// The type, lowercase (`cargo`, `pypi`, `npm`…).
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
}

impl Purl {
    /// Reads `pkg:type/namespace/name@version?qualifiers#subpath`; `None` when it is not a purl.
    pub(super) fn parse(text: &str) -> Option<Self> {
        let rest = text.trim().strip_prefix("pkg:")?;
        let rest = rest.trim_start_matches('/');
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
        let (kind, path) = rest.split_once('/')?;
        let path = path.trim_end_matches('/');
        let (dir, last) = match path.rsplit_once('/') {
            Some((dir, last)) => (Some(dir), last),
            None => (None, path),
        };
        let (name, version) = match last.split_once('@') {
            Some((name, version)) => (name, Some(decode(version))),
            None => (last, None),
        };
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let namespace = dir
            .filter(|d| !d.is_empty())
            .map(|d| d.split('/').map(decode).collect::<Vec<_>>().join("/"));
        Some(Self {
            kind: kind.to_ascii_lowercase(),
            namespace,
            name: decode(name),
            version: version.filter(|v| !v.is_empty()),
        })
    }

    /// The OSV ecosystem of this purl type (the type itself when there is no OSV counterpart).
    pub(super) fn ecosystem(&self) -> String {
        let namespace = self.namespace.as_deref().unwrap_or_default();
        match self.kind.as_str() {
            "cargo" => "crates.io",
            "pypi" => "PyPI",
            "npm" => "npm",
            "golang" => "Go",
            "maven" => "Maven",
            "gem" => "RubyGems",
            "nuget" => "NuGet",
            "composer" => "Packagist",
            "hex" => "Hex",
            "pub" => "Pub",
            "cran" => "CRAN",
            "hackage" => "Hackage",
            "swift" => "SwiftURL",
            "conan" => "ConanCenter",
            "deb" if namespace.eq_ignore_ascii_case("ubuntu") => "Ubuntu",
            "deb" => "Debian",
            "apk" => "Alpine",
            other => other,
        }
        .to_owned()
    }

    /// The package name as OSV writes it in this ecosystem.
    pub(super) fn package_name(&self) -> String {
        match (self.kind.as_str(), self.namespace.as_deref()) {
            ("maven", Some(group)) => format!("{group}:{}", self.name),
            ("npm" | "golang" | "composer" | "swift" | "github", Some(namespace)) => {
                format!("{namespace}/{}", self.name)
            }
            _ => self.name.clone(),
        }
    }
}
