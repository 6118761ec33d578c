//! The key under which a `session.config.mjs`'s evaluated default export may be kept: the
//! content of the module and of every module it imports (static imports, `export … from`,
//! `import()` and `require()` of a literal, followed through relative paths), the values of the
//! environment variables they name (`process.env.NAME`), the working directory when they call
//! `process.cwd()`, the nearest `package.json` (it decides how a `.js` file is read), and the
//! node that evaluates them.
//!
//! What a scan of the text cannot see makes the module uncacheable ([`ModuleKey::Opaque`],
//! with the reason), so the caller runs node as before:
//! - packages (`import 'dotenv/config'`): a package may read files or the environment;
//! - node built-ins that reach outside the process (`fs`, `os`, `child_process`, …) or are
//!   not named at all (`process.env[name]`, `...process.env`, `globalThis`, `eval`);
//! - values that differ from run to run (`Date`, `Math.random`, `crypto`, `fetch`);
//! - an `import()` or `require()` of anything but a string literal.
//!
//! Pure: files are read and the environment is looked up through [`World`].
//! (Over 400 lines: about half is its unit tests; the scan is a small hand-written lexer.)

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// Bumped when what the key covers changes, so older entries stop matching.
const VERSION: &str = "dev-prism config key 1";

/// Node built-ins that compute without looking outside the process.
const PURE_BUILTINS: &[&str] = &[
    "path",
    "path/posix",
    "path/win32",
    "url",
    "util",
    "assert",
    "assert/strict",
    "buffer",
    "events",
    "querystring",
    "string_decoder",
    "module",
];

/// Members of `process` whose value is fixed for a given node on a given machine (`env` and
/// `cwd` are keyed separately).
const FIXED_PROCESS_MEMBERS: &[&str] = &["platform", "arch", "version", "versions", "argv"];

/// Words whose value differs from run to run, or that reach what a scan cannot follow.
const OPAQUE_WORDS: &[&str] = &[
    "Date",
    "Math.random",
    "crypto",
    "fetch",
    "performance",
    "Intl",
    "globalThis",
    "global",
    "eval",
    "Function",
    "setTimeout",
    "setInterval",
];

/// Modules visited at most; a config importing more is not cached.
const MAX_MODULES: usize = 256;

/// What the key depends on beyond the module files, supplied by the caller.
pub trait World {
    /// The bytes of `path`, `None` when it cannot be read.
    fn read(&self, path: &Path) -> Option<Vec<u8>>;
    /// An environment variable's value.
    fn env(&self, name: &str) -> Option<String>;
    /// The working directory node inherits.
    fn cwd(&self) -> PathBuf;
    /// Something that changes when node changes (its resolved path, size, mtime).
    fn node(&self) -> String;
}

/// The cache key of a module, or why it cannot have one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleKey {
    /// SHA-256 (hex) of everything the evaluation depends on.
    Key(String),
    /// The module depends on something a scan cannot see: evaluate it every time.
    Opaque(String),
}

/// What one module's text names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Specifiers of imported modules, in order of appearance.
    pub imports: Vec<String>,
    /// Environment variables read by name.
    pub env: BTreeSet<String>,
    /// Whether `process.cwd()` is called.
    pub cwd: bool,
    /// Why the module cannot be cached, when it cannot.
    pub opaque: Option<String>,
}

/// The key of the module at `entry` (an absolute path).
pub fn key(entry: &Path, world: &dyn World) -> ModuleKey {
    let mut h = Sha256::new();
    let mut feed = |parts: &[&[u8]]| {
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
    };
    feed(&[VERSION.as_bytes(), world.node().as_bytes()]);
    feed(&[entry.as_os_str().as_encoded_bytes()]);
    for var in ["NODE_OPTIONS", "NODE_PATH"] {
        let v = world.env(var);
        feed(&[var.as_bytes(), v.as_deref().unwrap_or("\0unset").as_bytes()]);
    }
    let mut env = BTreeSet::new();
    let mut cwd = false;
    let mut package_dirs = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([entry.to_path_buf()]);
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        if seen.len() > MAX_MODULES {
            return ModuleKey::Opaque(format!("it imports more than {MAX_MODULES} modules"));
        }
        let Some(bytes) = world.read(&path) else {
            // Node fails on it (an error is never kept) or resolves it otherwise: key on the
            // absence so the file's appearance changes the key.
            feed(&[b"missing", path.as_os_str().as_encoded_bytes()]);
            continue;
        };
        feed(&[b"module", path.as_os_str().as_encoded_bytes(), &bytes]);
        if let Some(dir) = path.parent() {
            package_dirs.insert(dir.to_path_buf());
        }
        if path.extension().is_some_and(|e| e == "json") {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        let s = scan(&text);
        if let Some(why) = s.opaque {
            return ModuleKey::Opaque(format!("{}: {why}", path.display()));
        }
        env.extend(s.env);
        cwd |= s.cwd;
        let dir = path.parent().unwrap_or(Path::new("/"));
        for spec in s.imports {
            match resolve(&spec, dir, world) {
                Resolved::File(p) => queue.push_back(p),
                Resolved::Builtin => {}
                Resolved::Opaque(why) => {
                    return ModuleKey::Opaque(format!("{}: {why}", path.display()))
                }
            }
        }
    }
    // The nearest package.json above each module decides whether a `.js` file is an ES
    // module or CommonJS.
    let mut manifests = BTreeMap::new();
    for dir in package_dirs {
        if let Some((p, bytes)) = nearest_package_json(&dir, world) {
            manifests.insert(p, bytes);
        }
    }
    for (p, bytes) in &manifests {
        feed(&[b"package.json", p.as_os_str().as_encoded_bytes(), bytes]);
    }
    for var in &env {
        let v = world.env(var);
        feed(&[var.as_bytes(), v.as_deref().unwrap_or("\0unset").as_bytes()]);
    }
    if cwd {
        feed(&[b"cwd", world.cwd().as_os_str().as_encoded_bytes()]);
    }
    ModuleKey::Key(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

enum Resolved {
    File(PathBuf),
    Builtin,
    Opaque(String),
}

/// Where node finds `spec` imported from a module in `dir`: ES module resolution takes the
/// path as written; `require` also tries extensions and `index` files, so those count too.
fn resolve(spec: &str, dir: &Path, world: &dyn World) -> Resolved {
    let spec = spec.split(['?', '#']).next().unwrap_or(spec);
    let path = if let Some(p) = spec.strip_prefix("file://") {
        PathBuf::from(p)
    } else if spec.starts_with("./") || spec.starts_with("../") || spec.starts_with('/') {
        dir.join(spec)
    } else {
        let name = spec.strip_prefix("node:").unwrap_or(spec);
        if PURE_BUILTINS.contains(&name) {
            return Resolved::Builtin;
        }
        return Resolved::Opaque(format!(
            "it imports `{spec}`, which may read files or the environment"
        ));
    };
    let path = normalize(&path);
    let file = |p: &Path| world.read(p).is_some();
    if file(&path) {
        return Resolved::File(path);
    }
    for ext in [".js", ".mjs", ".cjs", ".json"] {
        let mut p = path.clone().into_os_string();
        p.push(ext);
        let p = PathBuf::from(p);
        if file(&p) {
            return Resolved::File(p);
        }
    }
    for index in ["index.js", "index.mjs", "index.cjs", "index.json"] {
        let p = path.join(index);
        if file(&p) {
            return Resolved::File(p);
        }
    }
    Resolved::File(path)
}

/// `a/./b/../c` → `a/c`, without touching the file system (as node does with URLs).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

fn nearest_package_json(dir: &Path, world: &dyn World) -> Option<(PathBuf, Vec<u8>)> {
    let mut d = Some(dir);
    while let Some(cur) = d {
        let p = cur.join("package.json");
        if let Some(bytes) = world.read(&p) {
            return Some((p, bytes));
        }
        d = cur.parent();
    }
    None
}

/// Reads what a module's text imports and which outside values it reads.
pub fn scan(text: &str) -> Scan {
    let mut out = Scan::default();
    let Some(code) = strip_comments(text) else {
        out.opaque = Some("its text could not be followed (an unclosed string or comment)".into());
        return out;
    };
    let b = code.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // A member (`x.process`) is not the global; a spread (`...process`) is.
        let member = i > 0 && b[i - 1] == b'.' && !(i >= 3 && &b[i - 3..i] == b"...");
        if !is_ident(b[i]) || (i > 0 && is_ident(b[i - 1])) || member {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_ident(b[i]) {
            i += 1;
        }
        let word = &code[start..i];
        let rest = &code[i..];
        if let Err(why) = match word {
            "import" => import_at(rest, &mut out),
            "export" => {
                export_from(rest, &mut out);
                Ok(())
            }
            "require" => call_literal(rest, "require", &mut out),
            "process" => process_at(&code[..start], rest, &mut out),
            _ => opaque_word(word, rest),
        } {
            out.opaque = Some(why);
            return out;
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
}

fn opaque_word(word: &str, rest: &str) -> Result<(), String> {
    for w in OPAQUE_WORDS {
        let (head, member) = w.split_once('.').unwrap_or((w, ""));
        if head != word {
            continue;
        }
        if member.is_empty() || member_of(rest) == Some(member) {
            return Err(format!(
                "it uses `{w}`, whose value the cache cannot know ahead"
            ));
        }
    }
    Ok(())
}

/// `.name` at the start of `rest` (spaces allowed around the dot).
fn member_of(rest: &str) -> Option<&str> {
    let r = rest.trim_start().strip_prefix('.')?.trim_start();
    let end = r.find(|c: char| !is_ident(c as u8)).unwrap_or(r.len());
    (end > 0).then(|| &r[..end])
}

/// A string literal at the start of `s` (after spaces): its value and the text after it.
fn literal(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let q = s.chars().next().filter(|c| matches!(c, '\'' | '"' | '`'))?;
    let body = &s[1..];
    let end = body.find(q)?;
    let value = &body[..end];
    if value.contains('\\') || (q == '`' && value.contains("${")) {
        return None;
    }
    Some((value.to_string(), &body[end + 1..]))
}

fn import_at(rest: &str, out: &mut Scan) -> Result<(), String> {
    let r = rest.trim_start();
    if r.starts_with('.') {
        return Ok(()); // import.meta: the module's own path, which the key holds
    }
    if r.starts_with('(') {
        return call_literal(rest, "import", out);
    }
    if let Some((spec, _)) = literal(r) {
        out.imports.push(spec);
        return Ok(());
    }
    // `import x from 'y'`, `import {a, b} from 'y'`, `import * as n from 'y'`
    let end = r.find(';').unwrap_or(r.len());
    let stmt = &r[..end];
    match from_literal(stmt) {
        Some(spec) => {
            out.imports.push(spec);
            Ok(())
        }
        None => Err("an import statement the scan could not read".into()),
    }
}

/// The literal after the first ` from ` of an import/export clause.
fn from_literal(stmt: &str) -> Option<String> {
    let mut search = stmt;
    while let Some(at) = search.find("from") {
        let before_ok = at == 0 || !is_ident(search.as_bytes()[at - 1]);
        let after = &search[at + 4..];
        if before_ok && !after.starts_with(|c: char| is_ident(c as u8)) {
            if let Some((spec, _)) = literal(after) {
                return Some(spec);
            }
        }
        search = after;
    }
    None
}

fn export_from(rest: &str, out: &mut Scan) {
    let r = rest.trim_start();
    if !(r.starts_with('*') || r.starts_with('{')) {
        return; // export default / const / function: no module named
    }
    let end = match r.find(['}', ';', '\n']) {
        Some(i) if r.as_bytes()[i] == b'}' => i + 1,
        Some(i) if r.starts_with('*') => i,
        _ => return,
    };
    let tail = &r[end..];
    let stmt_end = tail.find([';', '\n']).unwrap_or(tail.len());
    if let Some(spec) = from_literal(&tail[..stmt_end]).or_else(|| from_literal(&r[..end])) {
        out.imports.push(spec);
    }
}

/// `(` + a string literal + `)` or `,`: the literal; anything else cannot be followed.
fn call_literal(rest: &str, what: &str, out: &mut Scan) -> Result<(), String> {
    let Some(r) = rest.trim_start().strip_prefix('(') else {
        return Ok(()); // a mention, not a call (e.g. `typeof require`)
    };
    match literal(r) {
        Some((spec, after)) if after.trim_start().starts_with([')', ',']) => {
            out.imports.push(spec);
            Ok(())
        }
        _ => Err(format!(
            "`{what}(…)` of something other than a string literal"
        )),
    }
}

fn process_at(before: &str, rest: &str, out: &mut Scan) -> Result<(), String> {
    let Some(member) = member_of(rest) else {
        return Err("it uses `process` as a whole".into());
    };
    match member {
        "cwd" => {
            out.cwd = true;
            Ok(())
        }
        "env" => env_read(before, rest, out),
        m if FIXED_PROCESS_MEMBERS.contains(&m) => Ok(()),
        m => Err(format!("it uses `process.{m}`")),
    }
}

/// `process.env.NAME`, `process.env['NAME']`, or `const {A, B: b, C = 1} = process.env`.
fn env_read(before: &str, rest: &str, out: &mut Scan) -> Result<(), String> {
    let after_env = {
        let r = rest
            .trim_start()
            .strip_prefix('.')
            .unwrap_or(rest)
            .trim_start();
        &r[3..]
    };
    if let Some(name) = member_of(after_env) {
        out.env.insert(name.to_string());
        return Ok(());
    }
    if let Some(r) = after_env.trim_start().strip_prefix('[') {
        if let Some((name, after)) = literal(r) {
            if after.trim_start().starts_with(']') {
                out.env.insert(name);
                return Ok(());
            }
        }
    }
    let b = before.trim_end();
    if let Some(b) = b.strip_suffix('=').map(str::trim_end) {
        if let Some(b) = b.strip_suffix('}') {
            if let Some(open) = b.rfind('{') {
                let mut names = vec![];
                for part in b[open + 1..].split(',') {
                    let name = part.split([':', '=']).next().unwrap_or("").trim();
                    if name.is_empty() {
                        continue;
                    }
                    if !name.bytes().all(is_ident) {
                        return Err("it reads `process.env` as a whole".into());
                    }
                    names.push(name.to_string());
                }
                out.env.extend(names);
                return Ok(());
            }
        }
    }
    Err("it reads `process.env` in a way that does not name the variable".into())
}

/// The code with its comments blanked out (strings kept, so import specifiers survive), or
/// `None` when a string or comment does not end. Template literals' `${…}` stay code.
fn strip_comments(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    // Brace depth of each open template substitution.
    let mut templates: Vec<usize> = vec![];
    let mut depth = 0usize;
    while i < b.len() {
        let c = b[i];
        match c {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                out.push(b' ');
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/")?;
                i += end + 4;
                out.push(b' ');
            }
            b'\'' | b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != c {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if b[i.min(b.len() - 1)] == b'\n' {
                        return None;
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return None;
                }
                i += 1;
                out.extend_from_slice(&b[start..i]);
            }
            b'`' => {
                i = template(b, i, &mut out)?;
                if out.ends_with(b"${") {
                    templates.push(depth);
                    depth += 1;
                }
            }
            b'{' => {
                depth += 1;
                out.push(c);
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                if templates.last() == Some(&depth) {
                    templates.pop();
                    // Back into the template's text.
                    out.push(b'}');
                    let mut j = i + 1;
                    let mut piece = vec![b'`'];
                    j = template_body(b, j, &mut piece)?;
                    out.extend_from_slice(&piece[1..]);
                    if out.ends_with(b"${") {
                        templates.push(depth);
                        depth += 1;
                    }
                    i = j;
                } else {
                    out.push(c);
                    i += 1;
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    if !templates.is_empty() {
        return None;
    }
    String::from_utf8(out).ok()
}

/// A template literal starting at `b[i]` (the backquote), copied to `out` up to its end or
/// its first `${`; the index after what was copied.
fn template(b: &[u8], i: usize, out: &mut Vec<u8>) -> Option<usize> {
    out.push(b'`');
    template_body(b, i + 1, out)
}

fn template_body(b: &[u8], mut i: usize, out: &mut Vec<u8>) -> Option<usize> {
    while i < b.len() {
        match b[i] {
            b'\\' => {
                out.extend_from_slice(b.get(i..i + 2)?);
                i += 2;
            }
            b'`' => {
                out.push(b'`');
                return Some(i + 1);
            }
            b'$' if b.get(i + 1) == Some(&b'{') => {
                out.extend_from_slice(b"${");
                return Some(i + 2);
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Fake {
        files: RefCell<BTreeMap<PathBuf, String>>,
        env: BTreeMap<String, String>,
        cwd: PathBuf,
        node: String,
    }

    impl Fake {
        fn with(files: &[(&str, &str)]) -> Fake {
            let f = Fake {
                node: "/usr/bin/node 1 2".into(),
                cwd: "/r".into(),
                ..Fake::default()
            };
            for (p, t) in files {
                f.put(p, t);
            }
            f
        }
        fn put(&self, p: &str, t: &str) {
            self.files.borrow_mut().insert(p.into(), t.into());
        }
        fn key(&self) -> ModuleKey {
            key(Path::new("/r/session.config.mjs"), self)
        }
    }

    impl World for Fake {
        fn read(&self, path: &Path) -> Option<Vec<u8>> {
            self.files.borrow().get(path).map(|t| t.as_bytes().to_vec())
        }
        fn env(&self, name: &str) -> Option<String> {
            self.env.get(name).cloned()
        }
        fn cwd(&self) -> PathBuf {
            self.cwd.clone()
        }
        fn node(&self) -> String {
            self.node.clone()
        }
    }

    fn k(m: ModuleKey) -> String {
        match m {
            ModuleKey::Key(k) => k,
            ModuleKey::Opaque(why) => panic!("opaque: {why}"),
        }
    }

    const ENTRY: &str = "import base from './base.mjs';\n\
        import { ports } from \"../shared/ports.js\";\n\
        export default { ...base, ports };\n";

    fn world() -> Fake {
        Fake::with(&[
            ("/r/session.config.mjs", ENTRY),
            (
                "/r/base.mjs",
                "import './deep/x.mjs';\nexport default { projectName: 'p' };",
            ),
            ("/r/deep/x.mjs", "export const x = 1;"),
            ("/shared/ports.js", "export const ports = [1];"),
        ])
    }

    #[test]
    fn the_same_files_give_the_same_key() {
        assert_eq!(k(world().key()), k(world().key()));
    }

    #[test]
    fn editing_any_imported_module_changes_the_key() {
        let before = k(world().key());
        for (path, text) in [
            ("/r/session.config.mjs", "export default {};"),
            ("/r/base.mjs", "export default { projectName: 'q' };"),
            ("/r/deep/x.mjs", "export const x = 2;"),
            ("/shared/ports.js", "export const ports = [2];"),
        ] {
            let w = world();
            w.put(path, text);
            assert_ne!(k(w.key()), before, "editing {path} must change the key");
        }
    }

    #[test]
    fn files_outside_the_import_graph_do_not_change_the_key() {
        let before = k(world().key());
        let w = world();
        w.put("/r/unrelated.mjs", "export default 1;");
        w.put("/r/docker-compose.yml", "services: {}");
        assert_eq!(k(w.key()), before);
    }

    #[test]
    fn package_json_node_and_node_options_are_in_the_key() {
        let before = k(world().key());
        let w = world();
        w.put("/package.json", "{\"type\":\"module\"}");
        assert_ne!(k(w.key()), before, "package.json decides how .js is read");
        let mut w = world();
        w.node = "/usr/bin/node 1 3".into();
        assert_ne!(k(w.key()), before, "another node");
        let mut w = world();
        w.env
            .insert("NODE_OPTIONS".into(), "--import ./x.mjs".into());
        assert_ne!(k(w.key()), before, "NODE_OPTIONS");
    }

    #[test]
    fn a_missing_import_appearing_changes_the_key() {
        let w = Fake::with(&[("/r/session.config.mjs", "import './later.mjs';")]);
        let before = k(w.key());
        w.put("/r/later.mjs", "export default 1;");
        assert_ne!(k(w.key()), before);
    }

    #[test]
    fn named_environment_variables_are_in_the_key_and_others_are_not() {
        let text = "const { DB_HOST, PORT: p = 1 } = process.env;\n\
            export default { appEnv: { a: process.env.API_URL, b: process.env['TOKEN'], \
            c: `${process.env.HOST}`, d: process.cwd() } };";
        let s = scan(text);
        assert_eq!(
            s.env.iter().map(String::as_str).collect::<Vec<_>>(),
            ["API_URL", "DB_HOST", "HOST", "PORT", "TOKEN"]
        );
        assert!(s.cwd);
        let w = Fake::with(&[("/r/session.config.mjs", text)]);
        let before = k(w.key());
        for var in ["API_URL", "DB_HOST", "HOST", "PORT", "TOKEN"] {
            let mut w = Fake::with(&[("/r/session.config.mjs", text)]);
            w.env.insert(var.into(), "x".into());
            assert_ne!(k(w.key()), before, "{var}");
        }
        let mut w = Fake::with(&[("/r/session.config.mjs", text)]);
        w.env.insert("UNRELATED".into(), "x".into());
        assert_eq!(k(w.key()), before);
        w.cwd = "/elsewhere".into();
        assert_ne!(
            k(w.key()),
            before,
            "process.cwd() puts the directory in the key"
        );
    }

    #[test]
    fn what_a_scan_cannot_see_is_never_cached() {
        for text in [
            "import fs from 'fs'; export default JSON.parse(fs.readFileSync('x'));",
            "import { readFileSync } from 'node:fs';",
            "import 'dotenv/config'; export default {};",
            "export default { a: process.env[name] };",
            "export default { ...process.env };",
            "export default { ...process };",
            "const m = await import(`./${x}.mjs`);",
            "const m = require(name);",
            "export default { at: Date.now() };",
            "export default { id: Math.random() };",
            "export default { id: crypto.randomUUID() };",
            "export default await fetch('http://x').then(r => r.json());",
            "export default { pid: process.pid };",
            "export default globalThis.cfg;",
            "export default { s: 'unclosed };",
        ] {
            let w = Fake::with(&[("/r/session.config.mjs", text)]);
            assert!(matches!(w.key(), ModuleKey::Opaque(_)), "{text}");
        }
        // One level down counts too.
        let w = Fake::with(&[
            ("/r/session.config.mjs", "export * from './a.mjs';"),
            (
                "/r/a.mjs",
                "import os from 'os'; export const h = os.hostname();",
            ),
        ]);
        assert!(matches!(w.key(), ModuleKey::Opaque(why) if why.contains("a.mjs")));
    }

    #[test]
    fn pure_builtins_comments_and_strings_do_not_block_caching() {
        let text = "// import fs from 'fs'; process.env[x]\n\
            /* Date.now() */\n\
            import path from 'node:path';\n\
            import { format } from 'util';\n\
            export { ports } from './ports.mjs';\n\
            export * as more from \"./more.mjs\";\n\
            const extra = await import('./extra.mjs');\n\
            export default { projectName: 'http://x//y', updateDate: 1, sessionsDir: path.join('..', 's') };";
        let s = scan(text);
        assert_eq!(s.opaque, None);
        assert_eq!(
            s.imports,
            [
                "node:path",
                "util",
                "./ports.mjs",
                "./more.mjs",
                "./extra.mjs"
            ]
        );
        let w = Fake::with(&[
            ("/r/session.config.mjs", text),
            ("/r/ports.mjs", "export const ports = 1;"),
            ("/r/more.mjs", "export const m = 1;"),
            ("/r/extra.mjs", "export const e = 1;"),
        ]);
        let before = k(w.key());
        w.put("/r/extra.mjs", "export const e = 2;");
        assert_ne!(k(w.key()), before, "a literal import() is followed");
    }

    #[test]
    fn require_resolution_tries_extensions_and_index_files() {
        let w = Fake::with(&[
            ("/r/session.config.mjs", "import { createRequire } from 'module';\nconst require = createRequire(import.meta.url);\nexport default require('./lib');"),
            ("/r/lib/index.js", "module.exports = { a: 1 };"),
        ]);
        let before = k(w.key());
        w.put("/r/lib/index.js", "module.exports = { a: 2 };");
        assert_ne!(k(w.key()), before);
    }

    #[test]
    fn import_cycles_end() {
        let w = Fake::with(&[
            (
                "/r/session.config.mjs",
                "import './a.mjs'; export default {};",
            ),
            ("/r/a.mjs", "import './session.config.mjs';"),
        ]);
        k(w.key());
    }
}
