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

/// Replaces `host[:port]` in a URL's authority, keeping everything else. For a PostgreSQL URL
/// (scheme `postgres…`), query parameters that libpq lets win over the authority (`host`,
/// `hostaddr`, `port`, also percent-encoded) are dropped: otherwise
/// `postgresql:///app?host=/var/run/postgresql` would still reach the developer's own database.
pub fn point_url_at(url: &str, host: &str, port: &str) -> Option<String> {
    let scheme_end = url.find("://")? + 3;
    let rest = &url[scheme_end..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    let userinfo = match authority.rfind('@') {
        Some(at) => &authority[..=at],
        None => "",
    };
    let tail = &rest[auth_end..];
    let tail = if url[..scheme_end]
        .to_ascii_lowercase()
        .starts_with("postgres")
    {
        without_libpq_address_params(tail)
    } else {
        tail.to_string()
    };
    Some(format!(
        "{}{userinfo}{host}:{port}{tail}",
        &url[..scheme_end]
    ))
}

/// `path?query#fragment` with the query's `host`, `hostaddr` and `port` parameters removed (and
/// the `?` with them when nothing is left).
fn without_libpq_address_params(tail: &str) -> String {
    let (before_fragment, fragment) = match tail.find('#') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    let Some((path, query)) = before_fragment.split_once('?') else {
        return tail.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|param| {
            let key = param.split_once('=').map_or(*param, |(k, _)| k);
            !matches!(
                percent_decode(key).as_deref(),
                Some("host" | "hostaddr" | "port")
            )
        })
        .collect();
    let query = kept.join("&");
    if query.is_empty() {
        format!("{path}{fragment}")
    } else {
        format!("{path}?{query}{fragment}")
    }
}

/// `%XX` decoded (libpq decodes parameter names too); `None` when the result is not UTF-8 or
/// an escape is malformed.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Rewrites the given keys of a dotenv file, keeping every other byte (comments, order, other
/// lines, quoting style, bytes that are not UTF-8) as it was. Keys absent from the file are
/// left absent.
pub fn rewrite_env_text(
    text: &[u8],
    rules: &BTreeMap<String, Rewrite>,
    vars: &[Var],
) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive(|b| *b == b'\n') {
        match rewrite_line(line, rules, vars)? {
            Some(new) => out.extend_from_slice(&new),
            None => out.extend_from_slice(line),
        }
    }
    Ok(out)
}

/// One line rewritten, or `None` to keep it as it is.
fn rewrite_line(
    line: &[u8],
    rules: &BTreeMap<String, Rewrite>,
    vars: &[Var],
) -> Result<Option<Vec<u8>>, String> {
    let (body, eol): (&[u8], &[u8]) = match line.strip_suffix(b"\r\n") {
        Some(b) => (b, b"\r\n"),
        None => match line.strip_suffix(b"\n") {
            Some(b) => (b, b"\n"),
            None => (line, b""),
        },
    };
    let trimmed = body.trim_ascii_start();
    let indent = &body[..body.len() - trimmed.len()];
    let (export, decl): (&[u8], &[u8]) = match trimmed.strip_prefix(b"export ") {
        Some(d) => (b"export ", d),
        None => (b"", trimmed),
    };
    let Some(eq) = decl.iter().position(|b| *b == b'=') else {
        return Ok(None);
    };
    let (key, value) = (&decl[..eq], &decl[eq + 1..]);
    let Some(rule) = std::str::from_utf8(key)
        .ok()
        .and_then(|k| rules.get(k.trim()))
    else {
        return Ok(None);
    };
    let (quote, inner): (&[u8], &[u8]) = match value.first() {
        Some(q @ (b'"' | b'\'')) if value.len() >= 2 && value.ends_with(&[*q]) => {
            (&value[..1], &value[1..value.len() - 1])
        }
        _ => (b"", value),
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
            let url = std::str::from_utf8(inner).ok();
            match url.and_then(|u| point_url_at(u, &host, &port)) {
                Some(u) => u,
                None => return Ok(None),
            }
        }
    };
    Ok(Some(
        [indent, export, key, b"=", quote, new.as_bytes(), quote, eol].concat(),
    ))
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
    fn libpq_address_parameters_cannot_win_over_the_session() {
        let cases = [
            (
                "postgresql:///app?host=/var/run/postgresql",
                "postgresql://127.0.0.1:49153/app",
            ),
            (
                "postgres://u:p@db/app?sslmode=disable&host=localhost&port=5432",
                "postgres://u:p@127.0.0.1:49153/app?sslmode=disable",
            ),
            (
                "postgresql://db/app?hostaddr=10.0.0.5&application_name=x#frag",
                "postgresql://127.0.0.1:49153/app?application_name=x#frag",
            ),
            (
                "postgresql://db/app?h%6Fst=/tmp&%70ort=1&hosts=keep",
                "postgresql://127.0.0.1:49153/app?hosts=keep",
            ),
            (
                "postgresql+psycopg://db/app?port=5433",
                "postgresql+psycopg://127.0.0.1:49153/app",
            ),
            ("postgresql://?host=/tmp", "postgresql://127.0.0.1:49153"),
        ];
        for (url, want) in cases {
            assert_eq!(
                point_url_at(url, "127.0.0.1", "49153").unwrap(),
                want,
                "{url}"
            );
        }
        // Other schemes' parameters mean other things: kept.
        assert_eq!(
            point_url_at("mysql://db/app?port=1", "127.0.0.1", "49153").unwrap(),
            "mysql://127.0.0.1:49153/app?port=1"
        );
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
        let out = rewrite_env_text(text.as_bytes(), &rules, &vars()).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "# comment\r\nAPI_KEY=abc # keep\nexport DATABASE_URL=\"postgresql://me:secret@127.0.0.1:49153/shop\"\n\n  OTHER=1\nDIR=/w/s/x"
        );
        // Idempotent.
        assert_eq!(rewrite_env_text(&out, &rules, &vars()).unwrap(), out);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_kept() {
        let text = b"LATIN=caf\xe9\nDATABASE_URL=postgres://u:p@db:5432/x\xe9\n\xff\xfe=\xc3\nDIR=old\xe9\r\nBAD=postgres://\xff@db/x\n";
        let mut rules = BTreeMap::new();
        for key in ["DATABASE_URL", "BAD"] {
            rules.insert(
                key.to_string(),
                Rewrite::PointAt {
                    var: "POSTGRES_PORT".into(),
                    host: "127.0.0.1".into(),
                },
            );
        }
        rules.insert(
            "DIR".to_string(),
            Rewrite::Template("${SESSION_DIR}".into()),
        );
        let out = rewrite_env_text(text, &rules, &vars()).unwrap();
        // A URL that is not UTF-8 cannot be read as one: its line stays as it was.
        assert_eq!(
            out,
            b"LATIN=caf\xe9\nDATABASE_URL=postgres://u:p@db:5432/x\xe9\n\xff\xfe=\xc3\nDIR=/w/s\r\nBAD=postgres://\xff@db/x\n"
        );
    }
}
