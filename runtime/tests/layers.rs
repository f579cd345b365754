//! The runtime's modules import one way: the public surface on top, then
//! `stage` → `engine` → `export` → `otlp`/`console`, with the data every
//! layer shares (`record`, `config`, `error`, `telemetry`, `resource`) at
//! the bottom; and no two modules (files) import each other, directly or
//! round a longer loop.
//!
//! Run it with `cargo test -p semtel --test layers`. It reads the sources:
//! every `use` path and every `crate::`/`super::`/`self::` path outside
//! comments, strings and `#[cfg(test)]` modules, resolved to the file that
//! defines the item (through `pub use` re-exports of a `mod.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules by layer, from the top. A module may import modules of
/// a lower layer; of its own layer only in the first and last (they hold
/// several independent modules).
const LAYERS: &[&[&str]] = &[
    &[
        "",
        "__private",
        "builder",
        "session",
        "pipeline",
        "propagation",
        "context",
        "baggage",
        "run",
        "integrations",
        "lag",
        "instrument",
        "testing",
    ],
    &["stage"],
    &["engine"],
    &["export"],
    &["otlp", "console"],
    &[
        "record",
        "config",
        "error",
        "telemetry",
        "resource",
        "filter",
        "metric",
    ],
];

/// One source file: its module path (`engine::collector`; `` for lib.rs).
#[derive(Debug)]
struct Module {
    /// Child modules it declares.
    children: BTreeSet<String>,
    /// Names it brings into scope with `use`, and the full path each names.
    uses: Vec<(String, Vec<String>)>,
    /// Every other path it names, from its first segment.
    paths: Vec<Vec<String>>,
}

#[test]
fn imports_follow_the_layers_and_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    collect(&src.join("lib.rs"), "", &mut modules);
    assert!(modules.len() > 30, "found only {} modules", modules.len());

    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, module) in &modules {
        let from = edges.entry(name.clone()).or_default();
        let named = module
            .uses
            .iter()
            .map(|(_, path)| path)
            .chain(&module.paths);
        for path in named {
            if let Some(absolute) = absolute(name, module, path)
                && let Some(target) = resolve(&modules, &absolute, 0)
                && target != *name
            {
                from.insert(target);
            }
        }
    }

    let mut problems = Vec::new();
    for (from, targets) in &edges {
        for to in targets {
            let (a, b) = (layer(top(from)), layer(top(to)));
            let shared = a == 0 || a == LAYERS.len() - 1;
            if top(from) != top(to) && (a > b || (a == b && !shared)) {
                problems.push(format!(
                    "{} imports {} (layer {a} imports layer {b})",
                    shown(from),
                    shown(to)
                ));
            }
        }
    }
    for cycle in cycles(&edges) {
        problems.push(format!("import cycle among: {}", cycle.join(", ")));
    }
    let edge_count: usize = edges.values().map(BTreeSet::len).sum();
    println!(
        "{} modules, {edge_count} imports between them checked",
        modules.len()
    );
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

fn shown(module: &str) -> &str {
    if module.is_empty() { "lib" } else { module }
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or("")
}

fn layer(top: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&top))
        .unwrap_or_else(|| panic!("module `{top}` is in no layer of this test"))
}

/// Reads `file` as module `name` and every child module it declares,
/// skipping test modules.
fn collect(file: &Path, name: &str, out: &mut BTreeMap<String, Module>) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
    let tokens = tokens(&strip(&text));
    let mut module = Module {
        children: BTreeSet::new(),
        uses: Vec::new(),
        paths: Vec::new(),
    };
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        if t == "#" && is_cfg_test(&tokens, i) {
            i = skip_item(&tokens, i);
            continue;
        }
        if t == "mod" && tokens.get(i + 2).is_some_and(|t| t == ";") {
            module.children.insert(tokens[i + 1].clone());
            i += 3;
            continue;
        }
        if t == "use" {
            let end = tokens[i..]
                .iter()
                .position(|t| t == ";")
                .map_or(tokens.len(), |p| i + p);
            use_tree(&tokens[i + 1..end], &[], &mut module.uses);
            i = end + 1;
            continue;
        }
        let starts_path = matches!(t, "crate" | "super" | "self") || module.children.contains(t);
        let after_colons = i >= 1 && tokens[i - 1] == "::";
        if starts_path && !after_colons && tokens.get(i + 1).is_some_and(|t| t == "::") {
            let mut path = vec![t.to_owned()];
            let mut j = i + 1;
            while tokens.get(j).is_some_and(|t| t == "::")
                && tokens.get(j + 1).is_some_and(|t| is_ident(t))
            {
                path.push(tokens[j + 1].clone());
                j += 2;
            }
            module.paths.push(path);
            i = j;
            continue;
        }
        i += 1;
    }
    let dir = match file.file_name().and_then(|f| f.to_str()) {
        Some("lib.rs" | "mod.rs") => file.parent().map(Path::to_owned),
        _ => Some(file.with_extension("")),
    };
    let children: Vec<String> = module.children.iter().cloned().collect();
    out.insert(name.to_owned(), module);
    for child in children {
        let Some(dir) = &dir else { continue };
        let path = [
            dir.join(format!("{child}.rs")),
            dir.join(&child).join("mod.rs"),
        ]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no file for module `{child}` in {dir:?}"));
        let full = if name.is_empty() {
            child
        } else {
            format!("{name}::{child}")
        };
        collect(&path, &full, out);
    }
}

/// Whether the attribute at `i` is `#[cfg(test)]`.
fn is_cfg_test(tokens: &[String], i: usize) -> bool {
    let want = ["#", "[", "cfg", "(", "test", ")", "]"];
    tokens.len() >= i + want.len() && tokens[i..i + want.len()].iter().eq(want.iter())
}

/// The index after the item that the attribute at `i` applies to.
fn skip_item(tokens: &[String], i: usize) -> usize {
    let mut j = i + 7;
    let mut depth = 0usize;
    while j < tokens.len() {
        match tokens[j].as_str() {
            "{" | "(" | "[" => depth += 1,
            "}" | ")" | "]" => {
                depth = depth.saturating_sub(1);
                if depth == 0 && tokens[j] == "}" {
                    return j + 1;
                }
            }
            ";" if depth == 0 => return j + 1,
            _ => {}
        }
        j += 1;
    }
    j
}

/// Adds every path of a `use` tree (after `use`, before `;`) to `out`, with
/// the name it brings into scope.
fn use_tree(tokens: &[String], prefix: &[String], out: &mut Vec<(String, Vec<String>)>) {
    let mut i = 0;
    let mut path = prefix.to_vec();
    while i < tokens.len() {
        let t = tokens[i].as_str();
        match t {
            "::" => {}
            "{" => {
                let mut depth = 0;
                let mut start = i + 1;
                let mut j = i;
                while j < tokens.len() {
                    match tokens[j].as_str() {
                        "{" => depth += 1,
                        "}" => {
                            depth -= 1;
                            if depth == 0 {
                                use_tree(&tokens[start..j], &path, out);
                                break;
                            }
                        }
                        "," if depth == 1 => {
                            use_tree(&tokens[start..j], &path, out);
                            start = j + 1;
                        }
                        _ => {}
                    }
                    j += 1;
                }
                return;
            }
            "*" => {
                out.push(("*".to_owned(), path));
                return;
            }
            "as" => {
                if let Some(alias) = tokens.get(i + 1) {
                    out.push((alias.clone(), path));
                }
                return;
            }
            "self" if !path.is_empty() => {}
            _ if is_ident(t) => path.push(t.to_owned()),
            _ => {}
        }
        i += 1;
    }
    if let Some(last) = path.last().cloned() {
        out.push((last, path));
    }
}

/// `path` as named in `module`, from the crate root; `None` for paths into
/// other crates.
fn absolute(name: &str, module: &Module, path: &[String]) -> Option<Vec<String>> {
    let here: Vec<String> = if name.is_empty() {
        Vec::new()
    } else {
        name.split("::").map(str::to_owned).collect()
    };
    let mut out = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") => {
            out = here;
            rest = &path[1..];
        }
        Some("super") => {
            out = here;
            while rest.first().is_some_and(|s| s == "super") {
                out.pop();
                rest = &rest[1..];
            }
        }
        Some(first) if module.children.contains(first) => out = here,
        _ => return None,
    }
    out.extend(rest.iter().cloned());
    Some(out)
}

/// The module that defines what `path` names: its longest prefix that is a
/// module, followed through that module's `use` declarations (re-exports).
fn resolve(modules: &BTreeMap<String, Module>, path: &[String], depth: usize) -> Option<String> {
    let mut known = 0;
    for n in 0..=path.len() {
        if modules.contains_key(&path[..n].join("::")) {
            known = n;
        }
    }
    let module = path[..known].join("::");
    let Some(next) = path.get(known) else {
        return Some(module);
    };
    if depth < 8
        && let Some(m) = modules.get(&module)
        && let Some((_, target)) = m.uses.iter().find(|(alias, _)| alias == next)
        && let Some(target) = absolute(&module, m, target)
    {
        let mut followed = target;
        followed.extend(path[known + 1..].iter().cloned());
        if let Some(found) = resolve(modules, &followed, depth + 1) {
            return Some(found);
        }
    }
    Some(module)
}

/// Every cycle of the graph: its strongly connected components of more
/// than one module, each as the sorted list of its modules.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Kosaraju: finishing order on the graph, then components on its reverse.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if !seen.insert(n.to_owned()) {
            return;
        }
        for m in edges.get(n).into_iter().flatten() {
            visit(m, edges, seen, order);
        }
        order.push(n.to_owned());
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for n in edges.keys() {
        visit(n, edges, &mut seen, &mut order);
    }
    let mut reverse: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in edges {
        for to in targets {
            reverse.entry(to.clone()).or_default().insert(from.clone());
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for n in order.iter().rev() {
        let mut component = Vec::new();
        visit(n, &reverse, &mut assigned, &mut component);
        if component.len() > 1 {
            component.sort();
            out.push(component.iter().map(|m| shown(m).to_owned()).collect());
        }
    }
    out
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The source without comments, string and character literals (each
/// replaced by a space), so that paths in them are not taken for imports.
fn strip(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c[i] == 'r' && (next == Some('"') || next == Some('#')) && !prev_ident(&c, i) {
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push(' ');
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(' ');
        } else if c[i] == '\'' {
            // A character literal, or a lifetime (left as it is).
            if next == Some('\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push(' ');
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push(' ');
            } else {
                out.push(c[i]);
                i += 1;
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn prev_ident(c: &[char], i: usize) -> bool {
    i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')
}

/// Identifiers, `::` and single punctuation characters.
fn tokens(text: &str) -> Vec<String> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_alphanumeric() || c[i] == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(c[start..i].iter().collect());
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            out.push("::".to_owned());
            i += 2;
        } else {
            if !c[i].is_whitespace() {
                out.push(c[i].to_string());
            }
            i += 1;
        }
    }
    out
}
