//! Searching the built-in tables, and "did you mean" candidates.

use crate::model::{AttributeDef, MetricDef, Registry};

/// The built-in registries, searched in this order: official, then pipeline.
pub static REGISTRIES: [&Registry; 2] = [&crate::official::REGISTRY, &crate::pipeline::REGISTRY];

/// The attribute with exactly this id, from the official or pipeline registry.
#[must_use]
pub fn attribute(name: &str) -> Option<&'static AttributeDef> {
    REGISTRIES.iter().find_map(|r| r.attribute(name))
}

/// The attribute a key belongs to: exactly this id, or the `template[..]`
/// attribute it is `<template id>.<suffix>` of.
#[must_use]
pub fn attribute_for_key(key: &str) -> Option<&'static AttributeDef> {
    REGISTRIES.iter().find_map(|r| r.attribute_for_key(key))
}

/// The metric with exactly this name, from the official or pipeline registry.
#[must_use]
pub fn metric(name: &str) -> Option<&'static MetricDef> {
    REGISTRIES.iter().find_map(|r| r.metric(name))
}

/// Every built-in attribute: the official ones, then the pipeline ones, each sorted by name.
pub fn attributes() -> impl Iterator<Item = &'static AttributeDef> {
    REGISTRIES.into_iter().flat_map(|r| r.attributes)
}

/// Every built-in metric: the official ones, then the pipeline ones, each sorted by name.
pub fn metrics() -> impl Iterator<Item = &'static MetricDef> {
    REGISTRIES.into_iter().flat_map(|r| r.metrics)
}

/// The closest built-in attribute id to a misspelt one, for "did you mean".
///
/// A deprecated candidate that was renamed gives its replacement
/// (`db.sytem` is closest to the deprecated `db.system` and gives
/// `db.system.name`).
#[must_use]
pub fn suggest_attribute(name: &str) -> Option<&'static str> {
    let best = suggest(name, attributes().map(|a| a.name))?;
    let def = attribute(best)?;
    Some(def.deprecated.and_then(|d| d.renamed_to).unwrap_or(best))
}

/// The closest built-in metric name to a misspelt one, for "did you mean".
#[must_use]
pub fn suggest_metric(name: &str) -> Option<&'static str> {
    let best = suggest(name, metrics().map(|m| m.name))?;
    let def = metric(best)?;
    Some(def.deprecated.and_then(|d| d.renamed_to).unwrap_or(best))
}

/// The candidate closest to `name` by [`edit_distance`], if close enough: at
/// most a third of `name`'s length (and at least 1) edits away. Ties go to the
/// first candidate.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        // Lengths alone bound the distance from below.
        if c.len().abs_diff(name.len()) > limit {
            continue;
        }
        let d = edit_distance(name, c);
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// The optimal-string-alignment distance: insertions, deletions, substitutions
/// and transpositions of adjacent characters, each costing one.
#[must_use]
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for transpositions), previous, current.
    let mut two_back: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(two_back[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut two_back, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("db.sytem", "db.system"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }

    #[test]
    fn suggest_picks_the_closest() {
        let c = ["error.type", "error.message", "db.system.name"];
        assert_eq!(suggest("eror.type", c), Some("error.type"));
        assert_eq!(suggest("zzzzzz", c), None);
    }
}
