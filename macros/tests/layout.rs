//! The crate's layout: imports between its modules point one way (parse,
//! then check, then generate), and no source file is a god file.
//!
//! `cargo test -p semtel-macros --test layout -- --nocapture` prints the
//! module graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;

/// A file longer than this wants splitting by case.
const MAX_LINES: usize = 600;

/// Module path (`valid::name`, `crate` for lib.rs) → source file.
fn modules() -> BTreeMap<String, PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
                parts.pop();
            }
            let name = if parts.is_empty() {
                "crate".to_owned()
            } else {
                parts.join("::")
            };
            out.insert(name, path);
        }
    }
    out
}

/// The file's tokens without `#[cfg(test)]` items.
fn tokens(path: &Path) -> TokenStream {
    let mut file = syn::parse_file(&std::fs::read_to_string(path).unwrap()).unwrap();
    file.items.retain(|item| {
        let attrs = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Use(u) => &u.attrs,
            _ => return true,
        };
        !attrs
            .iter()
            .any(|a| a.path().is_ident("cfg") && a.to_token_stream().to_string().contains("test"))
    });
    file.into_token_stream()
}

/// Every `crate::a::b`, `super::c` and `child::d` path in `tokens`, as
/// segment lists from the crate root (`use` trees with braces expanded),
/// `super` and the names of `module`'s own submodules resolved against it.
fn paths(
    tokens: TokenStream,
    module: &[String],
    children: &BTreeSet<String>,
    out: &mut Vec<Vec<String>>,
) {
    let tts: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tts.len() {
        if let TokenTree::Group(g) = &tts[i] {
            paths(g.stream(), module, children, out);
        }
        let root = match &tts[i] {
            TokenTree::Ident(id) if id == "crate" => Some(Vec::new()),
            TokenTree::Ident(id) if id == "super" => {
                Some(module[..module.len().saturating_sub(1)].to_vec())
            }
            // `child::x` (a `::child::x` is another crate).
            TokenTree::Ident(id)
                if children.contains(&id.to_string())
                    && !(i > 0 && is_path_sep(&tts, i.saturating_sub(2))) =>
            {
                Some(module.to_vec())
            }
            _ => None,
        };
        match root {
            Some(mut prefix) if is_path_sep(&tts, i + 1) => {
                if !matches!(&tts[i], TokenTree::Ident(id) if id == "crate" || id == "super") {
                    prefix.push(tts[i].to_string());
                }
                i = rest(&tts, i + 3, prefix, out);
            }
            _ => i += 1,
        }
    }
}

fn is_path_sep(tts: &[TokenTree], i: usize) -> bool {
    matches!((tts.get(i), tts.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) if a.as_char() == ':' && b.as_char() == ':')
}

/// Reads `a::b::{c, d::e}` from `tts[i..]` after a root; returns where it ends.
fn rest(
    tts: &[TokenTree],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        match tts.get(i) {
            Some(TokenTree::Ident(id)) => {
                prefix.push(id.to_string());
                if is_path_sep(tts, i + 1) {
                    i += 3;
                } else {
                    out.push(prefix);
                    return i + 1;
                }
            }
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                let mut j = 0;
                while j < inner.len() {
                    j = rest(&inner, j, prefix.clone(), out);
                    while j < inner.len()
                        && !matches!(&inner[j], TokenTree::Punct(p) if p.as_char() == ',')
                    {
                        j += 1;
                    }
                    j += 1;
                }
                return i + 1;
            }
            _ => {
                out.push(prefix);
                return i;
            }
        }
    }
}

/// Module → the modules it imports from (the longest module prefix of each
/// path), itself and its own submodules left out.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let mut graph = BTreeMap::new();
    for (name, path) in &mods {
        let module: Vec<String> = if name == "crate" {
            Vec::new()
        } else {
            name.split("::").map(str::to_owned).collect()
        };
        let children: BTreeSet<String> = mods
            .keys()
            .filter_map(|m| {
                let rest = if module.is_empty() {
                    Some(m.as_str())
                } else {
                    m.strip_prefix(&format!("{name}::"))
                };
                rest.filter(|r| !r.contains("::") && *r != "crate")
                    .map(str::to_owned)
            })
            .collect();
        let mut found = Vec::new();
        paths(tokens(path), &module, &children, &mut found);
        let mut deps = BTreeSet::new();
        for p in found {
            let target = (0..=p.len())
                .rev()
                .map(|n| {
                    if n == 0 {
                        "crate".to_owned()
                    } else {
                        p[..n].join("::")
                    }
                })
                .find(|m| mods.contains_key(m))
                .unwrap();
            // A module's own submodules are its parts, not its imports;
            // the crate root's are every module, listed as its imports.
            if target != *name && (name == "crate" || !target.starts_with(&format!("{name}::"))) {
                deps.insert(target);
            }
        }
        graph.insert(name.clone(), deps);
    }
    graph
}

/// A cycle in `graph`, if any.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == n) {
            let mut c = path[at..].to_vec();
            c.push(n.to_owned());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_owned());
        for d in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

/// `graph` with submodules merged into their top-level module.
fn top_level(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").next().unwrap().to_owned();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, deps) in graph {
        let entry = out.entry(top(m)).or_default();
        entry.extend(deps.iter().map(|d| top(d)).filter(|d| *d != top(m)));
    }
    out
}

#[test]
fn module_imports_have_no_cycles() {
    let graph = graph();
    for (m, deps) in &graph {
        println!(
            "{m} -> {}",
            deps.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    assert_eq!(cycle(&graph), None, "an import cycle between files");
    assert_eq!(
        cycle(&top_level(&graph)),
        None,
        "an import cycle between top-level modules"
    );
    // The layers: arguments and the item model are read first, checked, then
    // expanded; nothing below imports what is above it.
    let g = top_level(&graph);
    for (low, high) in [
        ("attr", "valid"),
        ("ast", "valid"),
        ("valid", "expand"),
        ("attr", "ast"),
    ] {
        assert!(!g[low].contains(high), "`{low}` imports `{high}`");
    }
    for leaf in ["errors", "symbol"] {
        assert!(
            g[leaf].iter().all(|d| d == "errors" || d == "symbol"),
            "`{leaf}` imports {:?}",
            g[leaf]
        );
    }
}

#[test]
fn no_source_file_is_a_god_file() {
    for (m, path) in modules() {
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(
            lines <= MAX_LINES,
            "{m} ({}) has {lines} lines",
            path.display()
        );
    }
}

#[test]
fn the_checker_sees_cycles() {
    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(cycle(&g), Some(vec!["a".into(), "b".into(), "a".into()]));
    let mut found = Vec::new();
    let tokens: TokenStream = "use crate::{a::{B, c::D}, e}; fn f() { super::g::h(); }"
        .parse()
        .unwrap();
    let children = BTreeSet::from(["z".to_owned()]);
    paths(tokens, &["x".into(), "y".into()], &children, &mut found);
    let tokens: TokenStream = "use z::{K, l::M}; let _ = ::z::N; let _ = z::O;"
        .parse()
        .unwrap();
    paths(tokens, &["x".into(), "y".into()], &children, &mut found);
    let found: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        found,
        [
            "a::B",
            "a::c::D",
            "e",
            "x::g::h",
            "x::y::z::K",
            "x::y::z::l::M",
            "x::y::z::O"
        ]
    );
}
