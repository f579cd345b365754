//! A registry's manifest: its name, version, schema URL and dependencies.
//!
//! Two forms are read, as Weaver reads them:
//!
//! - `manifest.yaml` with `schema_url: https://host/path/<version>`, and
//!   dependencies given by `schema_url` (plus `registry_path`, where Weaver
//!   finds their files);
//! - the legacy `registry_manifest.yaml` with `semconv_version` (and
//!   `schema_base_url`), and dependencies given by `name`.
//!
//! `name` is read in both; without it the name is the schema URL's, its host
//! and path without the version (`opentelemetry.io/schemas`).

use std::path::Path;

use super::yaml::{Node, Pos};

/// The manifest file Weaver reads; not a group file.
pub const MANIFEST: &str = "manifest.yaml";

/// The manifest's legacy file name, still read (Weaver reads it with a
/// warning, and rejects it under `--future`); not a group file.
pub const LEGACY_MANIFEST: &str = "registry_manifest.yaml";

/// Whether `path` is a manifest (of either name) rather than a group file.
pub fn is_manifest(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|f| f == MANIFEST || f == LEGACY_MANIFEST)
}

/// A dependency of a registry, as its manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Its schema URL, with its version (the current form).
    pub schema_url: Option<String>,
    /// Its name (the legacy form).
    pub name: Option<String>,
    /// Where Weaver finds its files: a directory, an archive or a Git URL.
    pub registry_path: Option<String>,
}

/// What a manifest says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub name: Option<String>,
    pub version: Option<String>,
    pub schema_url: Option<String>,
    pub dependencies: Vec<Dependency>,
}

/// Reads a manifest; problems go to `error` with their position.
pub(crate) fn read(root: &Node, mut error: impl FnMut(Pos, String)) -> Manifest {
    let mut m = Manifest::default();
    if root.as_map().is_none() {
        error(root.pos, "a manifest must be a mapping".to_owned());
        return m;
    }
    let string = |key: &str, error: &mut dyn FnMut(Pos, String)| {
        let v = root.get(key)?;
        let s = v.as_str().map(str::to_owned);
        if s.is_none() {
            error(v.pos, format!("`{key}` must be a string"));
        }
        s
    };
    m.name = string("name", &mut error);
    let schema_url = string("schema_url", &mut error);
    let semconv_version = string("semconv_version", &mut error);
    let schema_base_url = string("schema_base_url", &mut error);
    if let Some(url) = schema_url {
        let pos = root.get("schema_url").map_or(root.pos, |n| n.pos);
        match split_schema_url(&url) {
            Some((name, version)) => {
                m.name = m.name.or_else(|| Some(name.to_owned()));
                m.version = Some(version.to_owned());
                m.schema_url = Some(url.trim_end_matches('/').to_owned());
            }
            None => error(pos, bad_url("schema_url", &url)),
        }
    } else {
        m.version = semconv_version;
        if let (Some(base), Some(version)) = (&schema_base_url, &m.version) {
            m.schema_url = Some(format!("{}/{version}", base.trim_end_matches('/')));
        }
    }
    if let Some(deps) = root.get("dependencies") {
        match deps.as_seq() {
            Some(list) => {
                for d in list {
                    if let Some(dep) = dependency(d, &mut error) {
                        m.dependencies.push(dep);
                    }
                }
            }
            None if deps.is_null() => {}
            None => error(deps.pos, "`dependencies` must be a list".to_owned()),
        }
    }
    m
}

fn dependency(d: &Node, error: &mut impl FnMut(Pos, String)) -> Option<Dependency> {
    if d.as_map().is_none() {
        error(d.pos, "a dependency must be a mapping".to_owned());
        return None;
    }
    let mut string = |key: &str| {
        let v = d.get(key)?;
        let s = v.as_str().map(str::to_owned);
        if s.is_none() {
            error(v.pos, format!("`{key}` of a dependency must be a string"));
        }
        s
    };
    let dep = Dependency {
        schema_url: string("schema_url"),
        name: string("name"),
        registry_path: string("registry_path"),
    };
    if let Some(url) = &dep.schema_url
        && split_schema_url(url).is_none()
    {
        let pos = d.get("schema_url").map_or(d.pos, |n| n.pos);
        error(pos, bad_url("schema_url", url));
        return None;
    }
    if dep.schema_url.is_none() && dep.name.is_none() {
        error(
            d.pos,
            "a dependency needs a `schema_url` with its version, such as \
             `https://opentelemetry.io/schemas/1.42.0` (or, in the legacy form, a `name`)"
                .to_owned(),
        );
        return None;
    }
    Some(dep)
}

fn bad_url(key: &str, url: &str) -> String {
    format!(
        "`{key}` `{url}` is not a schema URL: expected `http[s]://host/path/<version>`, \
         such as `https://example.com/schemas/1.0.0`"
    )
}

/// `https://host/a/b/1.0.0` → (`host/a/b`, `1.0.0`), as Weaver splits a
/// schema URL into the registry's name and version.
pub(crate) fn split_schema_url(url: &str) -> Option<(&str, &str)> {
    let url = url.trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let (_, version) = path.rsplit_once('/').unwrap_or(("", path));
    let name = &rest[..rest.len() - version.len() - 1];
    let valid = !host.is_empty()
        && !host.contains(char::is_whitespace)
        && !version.is_empty()
        && !path.contains(char::is_whitespace);
    valid.then_some((name, version))
}

#[cfg(test)]
mod tests {
    use super::split_schema_url;

    #[test]
    fn schema_urls_split_into_name_and_version() {
        assert_eq!(
            split_schema_url("https://opentelemetry.io/schemas/1.42.0"),
            Some(("opentelemetry.io/schemas", "1.42.0"))
        );
        assert_eq!(
            split_schema_url("http://acme.com/x/0.1.0/"),
            Some(("acme.com/x", "0.1.0"))
        );
        assert_eq!(
            split_schema_url("https://acme.com/0.1.0"),
            Some(("acme.com", "0.1.0"))
        );
        assert_eq!(split_schema_url("https://acme.com"), None);
        assert_eq!(split_schema_url("https://acme.com/"), None);
        assert_eq!(split_schema_url("acme.com/schemas/1.0"), None);
        assert_eq!(split_schema_url("https:///schemas/1.0"), None);
        assert_eq!(split_schema_url(""), None);
    }
}
