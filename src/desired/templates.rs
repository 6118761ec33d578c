//! `${VAR}` templates over the session variables, and line-preserving rewrites of env files.

use std::collections::BTreeMap;

use super::Var;

/// Names a template refers to, in order of appearance.
pub fn names(template: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}

/// Substitutes every `${VAR}`; an unknown name is an error naming it (never a silent blank).
pub fn render(template: &str, vars: &[Var]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        let value = vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| name.to_string())?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// How one key of an env file is rewritten.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rewrite {
    /// The value becomes the rendered template.
    Template(String),
    /// The value keeps its URL (scheme, credentials, database, options) and only its host and
    /// port are pointed at the session: `host`, and the port in variable `var`.
    PointAt { var: String, host: String },
}

/// Replaces `host[:port]` in a URL's authority, keeping everything else.
pub fn point_url_at(url: &str, host: &str, port: &str) -> Option<String> {
    let scheme_end = url.find("://")? + 3;
    let rest = &url[scheme_end..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    let userinfo = match authority.rfind('@') {
        Some(at) => &authority[..=at],
        None => "",
    };
    Some(format!(
        "{}{userinfo}{host}:{port}{}",
        &url[..scheme_end],
        &rest[auth_end..]
    ))
}

/// Rewrites the given keys of a dotenv text, keeping every other byte (comments, order, other
/// lines, quoting style) as it was. Keys absent from the file are left absent.
pub fn rewrite_env_text(
    text: &str,
    rules: &BTreeMap<String, Rewrite>,
    vars: &[Var],
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, eol) = match line.strip_suffix("\r\n") {
            Some(b) => (b, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            },
        };
        let trimmed = body.trim_start();
        let indent = &body[..body.len() - trimmed.len()];
        let (export, decl) = match trimmed.strip_prefix("export ") {
            Some(d) => ("export ", d),
            None => ("", trimmed),
        };
        let Some((key, value)) = decl.split_once('=') else {
            out.push_str(line);
            continue;
        };
        let Some(rule) = rules.get(key.trim()) else {
            out.push_str(line);
            continue;
        };
        let (quote, inner) = match value.chars().next() {
            Some(q @ ('"' | '\'')) if value.len() >= 2 && value.ends_with(q) => {
                (q.to_string(), &value[1..value.len() - 1])
            }
            _ => (String::new(), value),
        };
        let new = match rule {
            Rewrite::Template(t) => render(t, vars)?,
            Rewrite::PointAt { var, host } => {
                let port = vars
                    .iter()
                    .find(|(k, _)| k == var)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| var.clone())?;
                // Where the ports are bound, as the session says (SESSION_HOST).
                let host = vars
                    .iter()
                    .find(|(k, _)| k == "SESSION_HOST")
                    .map(|(_, v)| super::address::url_host(v))
                    .unwrap_or_else(|| host.clone());
                match point_url_at(inner, &host, &port) {
                    Some(u) => u,
                    None => {
                        out.push_str(line);
                        continue;
                    }
                }
            }
        };
        out.push_str(&format!("{indent}{export}{key}={quote}{new}{quote}{eol}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<Var> {
        vec![
            ("POSTGRES_PORT".into(), "49153".into()),
            ("SESSION_DIR".into(), "/w/s".into()),
        ]
    }

    #[test]
    fn renders_and_names_unknown_variables() {
        assert_eq!(
            render("pg://localhost:${POSTGRES_PORT}/db", &vars()).unwrap(),
            "pg://localhost:49153/db"
        );
        assert_eq!(
            render("x ${NOPE_PORT} y", &vars()).unwrap_err(),
            "NOPE_PORT"
        );
        assert_eq!(names("${A}-${B}"), vec!["A", "B"]);
        assert_eq!(render("no vars $HOME", &vars()).unwrap(), "no vars $HOME");
    }

    #[test]
    fn points_urls_keeping_credentials_and_options() {
        assert_eq!(
            point_url_at(
                "postgresql://u:p@db:5432/app?sslmode=disable",
                "127.0.0.1",
                "49153"
            )
            .unwrap(),
            "postgresql://u:p@127.0.0.1:49153/app?sslmode=disable"
        );
        assert_eq!(
            point_url_at("redis://cache", "127.0.0.1", "1").unwrap(),
            "redis://127.0.0.1:1"
        );
        assert_eq!(point_url_at("not a url", "h", "1"), None);
    }

    #[test]
    fn rewrites_only_the_keys_asked_for_byte_for_byte() {
        let text = "# comment\r\nAPI_KEY=abc # keep\nexport DATABASE_URL=\"postgresql://me:secret@localhost:5432/shop\"\n\n  OTHER=1\nDIR=${SESSION_DIR}";
        let mut rules = BTreeMap::new();
        rules.insert(
            "DATABASE_URL".to_string(),
            Rewrite::PointAt {
                var: "POSTGRES_PORT".into(),
                host: "127.0.0.1".into(),
            },
        );
        rules.insert(
            "DIR".to_string(),
            Rewrite::Template("${SESSION_DIR}/x".into()),
        );
        let out = rewrite_env_text(text, &rules, &vars()).unwrap();
        assert_eq!(
            out,
            "# comment\r\nAPI_KEY=abc # keep\nexport DATABASE_URL=\"postgresql://me:secret@127.0.0.1:49153/shop\"\n\n  OTHER=1\nDIR=/w/s/x"
        );
        // Idempotent.
        assert_eq!(rewrite_env_text(&out, &rules, &vars()).unwrap(), out);
    }
}
