//! A test, not part of tapctl: the modules of `src/` import one another without a cycle.
//!
//! It reads every `src/**/*.rs` (but `main.rs`, `lib.rs` and this file), takes each path
//! that starts with `crate::` or `super::` (in `use` lines and in code, groups like
//! `crate::{a, b::{c, d}}` included) and each `child::` path a `mod.rs` writes to one of its
//! own child modules, resolves it to the module file it names, and fails on any cycle
//! among those edges. Test modules (`#[cfg(test)] mod tests`) are left out. An inline module
//! (`mod s3 { ... }`) is read as part of its file, so its `super::` would be misread: such
//! modules write `crate::` paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module by its path below the crate: `["resource", "table"]`.
type Module = Vec<String>;

/// The module a file under `src/` defines.
fn module_of(relative: &Path) -> Module {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The source without comments and without its test module.
fn code_of(source: &str) -> String {
    let source = match source.find("#[cfg(test)]\nmod tests") {
        Some(i) => &source[..i],
        None => source,
    };
    source
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Parses the path tree starting at `pos` (just after a `::`) into full paths.
fn parse_tree(text: &[char], mut pos: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let skip_ws = |pos: &mut usize| {
        while *pos < text.len() && text[*pos].is_whitespace() {
            *pos += 1;
        }
    };
    let mut path = prefix;
    loop {
        skip_ws(&mut pos);
        if pos < text.len() && text[pos] == '{' {
            // A group: each item is a tree under the path so far.
            pos += 1;
            let mut depth = 0;
            let mut start = pos;
            while pos < text.len() {
                match text[pos] {
                    '{' => depth += 1,
                    '}' if depth > 0 => depth -= 1,
                    ',' | '}' if depth == 0 => {
                        parse_tree(&text[..pos], start, path.clone(), out);
                        if text[pos] == '}' {
                            return;
                        }
                        start = pos + 1;
                    }
                    _ => {}
                }
                pos += 1;
            }
            return;
        }
        let start = pos;
        while pos < text.len() && is_ident(text[pos]) {
            pos += 1;
        }
        if pos > start {
            path.push(text[start..pos].iter().collect());
        }
        skip_ws(&mut pos);
        if pos + 1 < text.len() && text[pos] == ':' && text[pos + 1] == ':' {
            pos += 2;
        } else {
            out.push(path);
            return;
        }
    }
}

/// Every path in `code` that starts with one of `roots` (`crate`, `super`, a child module)
/// at a word boundary and not after `::`.
fn paths(code: &str, roots: &[String]) -> Vec<Vec<String>> {
    let text: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    for i in 0..text.len() {
        let boundary = i == 0 || !(is_ident(text[i - 1]) || text[i - 1] == ':');
        if !boundary {
            continue;
        }
        for root in roots {
            let r: Vec<char> = root.chars().collect();
            let end = i + r.len();
            if text.len() > end + 1
                && text[i..end] == r[..]
                && text[end] == ':'
                && text[end + 1] == ':'
            {
                parse_tree(&text, end + 2, vec![root.clone()], &mut out);
            }
        }
    }
    out
}

/// The module edges of a crate given as (module, code) pairs.
fn edges(files: &[(Module, String)]) -> BTreeMap<Module, BTreeSet<Module>> {
    let known: BTreeSet<&Module> = files.iter().map(|(m, _)| m).collect();
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, code) in files {
        let children: Vec<String> = known
            .iter()
            .filter(|k| k.len() == module.len() + 1 && k.starts_with(module))
            .filter_map(|k| k.last().cloned())
            .collect();
        let mut roots = vec!["crate".to_string(), "super".to_string()];
        roots.extend(children);
        let targets = graph.entry(module.clone()).or_default();
        for path in paths(code, &roots) {
            let mut abs: Vec<String> = match path[0].as_str() {
                "crate" => Vec::new(),
                _ => module.clone(),
            };
            let mut rest = &path[if path[0] == "crate" { 1 } else { 0 }..];
            while rest.first().is_some_and(|s| s == "super") {
                abs.pop();
                rest = &rest[1..];
            }
            abs.extend(rest.iter().cloned());
            // The longest prefix that is a module file.
            let target = (1..=abs.len())
                .rev()
                .map(|n| abs[..n].to_vec())
                .find(|p| known.contains(p));
            if let Some(t) = target.filter(|t| t != module) {
                targets.insert(t);
            }
        }
    }
    graph
}

/// A cycle in the graph, as the modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<String>> {
    fn visit(
        m: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        stack: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == m) {
            let mut cycle: Vec<String> = stack[i..].iter().map(|m| m.join("::")).collect();
            cycle.push(m.join("::"));
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.clone());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

fn crate_files(dir: &Path, root: &Path, out: &mut Vec<(Module, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            crate_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let name = relative.to_string_lossy();
            if ["main.rs", "lib.rs", "module_graph.rs"].contains(&name.as_ref()) {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap_or_default();
            out.push((module_of(relative), code_of(&source)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(module: &str, code: &str) -> (Module, String) {
        let m = module.split("::").map(str::to_string).collect();
        (m, code_of(code))
    }

    #[test]
    fn src_has_no_module_cycle() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        crate_files(&src, &src, &mut files);
        assert!(files.len() > 10, "read only {} files", files.len());
        let graph = edges(&files);
        assert!(
            graph[&vec!["engine".to_string()]].contains(&vec!["plan".to_string()]),
            "{graph:?}"
        );
        assert_eq!(find_cycle(&graph), None, "{graph:#?}");
    }

    #[test]
    fn paths_in_groups_code_and_super_resolve_to_modules() {
        let files = vec![
            file(
                "a",
                "use crate::{b::{X, y::Z}, c};\nfn f() { crate::d::g(); }",
            ),
            file("b", "// use crate::a;\npub struct X;"),
            file("b::y", "use super::super::c::W;\nuse super::X;"),
            file("c", "pub struct W;"),
            file("d", "#[cfg(test)]\nmod tests {\n    use crate::a::*;\n}"),
        ];
        let g = edges(&files);
        let m = |s: &str| s.split("::").map(str::to_string).collect::<Module>();
        assert_eq!(
            g[&m("a")],
            [m("b"), m("b::y"), m("c"), m("d")].into_iter().collect()
        );
        assert_eq!(g[&m("b::y")], [m("b"), m("c")].into_iter().collect());
        assert!(g[&m("b")].is_empty() && g[&m("d")].is_empty());
        assert_eq!(find_cycle(&g), None);
    }

    #[test]
    fn a_cycle_is_found_directly_and_through_others() {
        let direct = vec![file("a", "use crate::b::X;"), file("b", "use crate::a;")];
        assert_eq!(
            find_cycle(&edges(&direct)),
            Some(vec!["a".into(), "b".into(), "a".into()])
        );
        let through = vec![
            file("a", "use crate::b::X;"),
            file("b", "fn f() { crate::c::g() }"),
            file("c", "use crate::{spec, a::Y};"),
            file("spec", ""),
        ];
        assert!(find_cycle(&edges(&through)).is_some_and(|c| c.len() == 4));
        // A parent that calls into its child while the child imports from the parent.
        let parent_child = vec![
            file(
                "resource",
                "pub mod table;\nfn f() { table::observe() }\npub struct Ctx;",
            ),
            file("resource::table", "use super::Ctx;"),
        ];
        assert!(find_cycle(&edges(&parent_child)).is_some());
        let layered = vec![
            file(
                "resource",
                "pub mod table;\npub use state::Ctx;\nfn f() { table::observe() }",
            ),
            file("resource::state", "pub struct Ctx;"),
            file("resource::table", "use super::state::Ctx;"),
        ];
        assert_eq!(find_cycle(&edges(&layered)), None);
    }
}
