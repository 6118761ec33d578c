//! A `session.config.mjs` evaluated by real node once, then read from the cache until the
//! module, a module it imports or an environment variable it names changes. No engine needed:
//! the config's `readyTimeout` is made invalid on purpose, so `plan` stops right after loading
//! and its error shows the value node produced.

use crate::support::*;

/// `plan -v` with the cache in `cache`: its stderr (the trace says whether node ran).
fn plan(repo: &Repo, cache: &std::path::Path, env: &[(&str, &str)]) -> String {
    let mut vars = vec![("XDG_CACHE_HOME", cache.to_str().unwrap())];
    vars.extend_from_slice(env);
    let out = dp_env(&repo.path, &["-v", "plan"], &vars);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    stderr(&out)
}

fn node_ran(err: &str) -> bool {
    err.contains("debug: node (import ")
}

#[test]
fn module_config_is_kept_until_an_import_or_a_named_variable_changes() {
    if !needs_program("node") {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let cache = repo.root.join("cache");
    repo.write(
        "session.config.mjs",
        "import { timeout } from './config/base.mjs';\n\
         export default { readyTimeout: `${timeout}-${process.env.DP_IT_SUFFIX}` };\n",
    );
    repo.write("config/base.mjs", "export const timeout = 'soon';\n");

    let first = plan(&repo, &cache, &[("DP_IT_SUFFIX", "a")]);
    assert!(node_ran(&first), "{first}");
    assert!(first.contains("\"soon-a\""), "{first}");
    let again = plan(&repo, &cache, &[("DP_IT_SUFFIX", "a")]);
    assert!(
        !node_ran(&again),
        "nothing changed: node must not run\n{again}"
    );
    assert!(again.contains("debug: config cache: hit"), "{again}");
    assert!(again.contains("\"soon-a\""), "{again}");

    // An edit to an imported module.
    repo.write("config/base.mjs", "export const timeout = 'later';\n");
    let edited = plan(&repo, &cache, &[("DP_IT_SUFFIX", "a")]);
    assert!(node_ran(&edited), "{edited}");
    assert!(edited.contains("\"later-a\""), "{edited}");

    // A variable the module names.
    let env = plan(&repo, &cache, &[("DP_IT_SUFFIX", "b")]);
    assert!(node_ran(&env), "{env}");
    assert!(env.contains("\"later-b\""), "{env}");

    // The entry is private to the user.
    use std::os::unix::fs::PermissionsExt;
    let dir = cache.join("dev-prism/config");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1, "one entry per config file: {entries:?}");
    assert_eq!(mode(&entries[0].path()), 0o600);

    // A corrupt entry is ignored (node runs again) and replaced.
    std::fs::write(entries[0].path(), "dev-prism config cache 1 x\n{").unwrap();
    std::fs::set_permissions(entries[0].path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let healed = plan(&repo, &cache, &[("DP_IT_SUFFIX", "b")]);
    assert!(
        node_ran(&healed) && healed.contains("\"later-b\""),
        "{healed}"
    );
    assert!(!node_ran(&plan(&repo, &cache, &[("DP_IT_SUFFIX", "b")])));

    // Turned off, node runs every time.
    let off = plan(
        &repo,
        &cache,
        &[("DP_IT_SUFFIX", "b"), ("DEV_PRISM_CONFIG_CACHE", "0")],
    );
    assert!(node_ran(&off), "{off}");
}

#[test]
fn a_module_reading_what_the_cache_cannot_see_is_evaluated_every_time() {
    if !needs_program("node") {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let cache = repo.root.join("cache");
    repo.write(
        "session.config.mjs",
        "import { readFileSync } from 'node:fs';\n\
         export default { readyTimeout: readFileSync(new URL('./t.txt', import.meta.url), 'utf8').trim() };\n",
    );
    repo.write("t.txt", "soon\n");
    let first = plan(&repo, &cache, &[]);
    assert!(
        first.contains("config cache: not kept") && first.contains("node:fs"),
        "{first}"
    );
    repo.write("t.txt", "later\n");
    let second = plan(&repo, &cache, &[]);
    assert!(
        node_ran(&second) && second.contains("\"later\""),
        "{second}"
    );
}

#[test]
fn a_committed_module_importing_a_sibling_is_evaluated_for_a_new_worktree() {
    if !needs_program("node") || !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let cache = repo.root.join("cache");
    repo.write(
        "session.config.mjs",
        "import { name } from './config/base.mjs';\nexport default { projectName: name };\n",
    );
    repo.write("config/base.mjs", "export const name = 'dpitimported';\n");
    repo.commit("a module config with an import");
    // `plan --create` loads the files committed at HEAD: before, only the config went to a
    // temp directory, and its import could not resolve there.
    let out = dp_env(
        &repo.path,
        &["plan", "--create"],
        &[("XDG_CACHE_HOME", cache.to_str().unwrap())],
    );
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}{err}");
    assert!(text.contains("project dpitimported"), "{text}{err}");
}
