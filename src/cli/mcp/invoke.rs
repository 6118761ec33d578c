//! The dev-prism command line each tool call runs (`--json` first), from the tool's parsed
//! arguments. Pure.

use std::path::{Path, PathBuf};

use rmcp::model::JsonObject;

use super::tools::{
    has_flag, parse, refuse, ApplyArgs, CreateArgs, DestroyArgs, DirArgs, Intent, ListArgs,
    LogsArgs, PlanArgs, Refusal,
};
use crate::cli::SelectionArgs;

/// How a tool's output is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// stdout is one `--json` document.
    Json,
    /// stdout is text (logs); errors are still a JSON document.
    Text,
}

/// One run of dev-prism for a tool call.
#[derive(Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The directory the command runs in.
    pub cwd: Option<PathBuf>,
    /// Arguments after the program name (`--json` first).
    pub args: Vec<String>,
    pub output: Output,
    /// The session directory, for documents the command does not make itself (logs).
    pub dir: Option<PathBuf>,
}

/// A `dir`/`repo` argument: must be absolute (the server has no meaningful current directory).
fn absolute(what: &str, p: &Path) -> Result<PathBuf, Refusal> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Err(refuse(
            format!("`{what}` must be an absolute path, not `{}`", p.display()),
            "pass the full path of the directory, e.g. the `dir` that `create` or `list` returned",
        ))
    }
}

fn unsupported(what: &str) -> Refusal {
    refuse(
        format!("{what} is not supported by this dev-prism yet"),
        "leave it out, or update dev-prism",
    )
}

fn selection(args: &mut Vec<String>, select: &SelectionArgs) {
    if let Some(mode) = select.mode {
        if let Some(v) = clap::ValueEnum::to_possible_value(&mode) {
            args.extend(["--mode".into(), v.get_name().to_string()]);
        }
    }
    if !select.without.is_empty() {
        args.extend(["--without".into(), select.without.join(",")]);
    }
}

fn command(name: &str, dir: Option<&Path>) -> Vec<String> {
    let mut args = vec!["--json".to_string(), name.to_string()];
    args.extend(dir.map(|d| d.to_string_lossy().into_owned()));
    args
}

fn on_dir(name: &str, dir: PathBuf) -> Invocation {
    Invocation {
        cwd: None,
        args: command(name, Some(&dir)),
        output: Output::Json,
        dir: Some(dir),
    }
}

/// The session directory of a `proxy_focus` call (run in the server's own process).
pub fn focus_dir(arguments: &JsonObject) -> Result<PathBuf, Refusal> {
    let a: DirArgs = parse("proxy_focus", arguments)?;
    absolute("dir", &a.dir)
}

/// The command line for a call of tool `name` with `arguments`.
pub fn invocation(name: &str, arguments: &JsonObject) -> Result<Invocation, Refusal> {
    match name {
        "create" => {
            let a: CreateArgs = parse(name, arguments)?;
            let repo = absolute("repo", &a.repo)?;
            if a.in_place && a.branch.is_some() {
                return Err(refuse(
                    "`branch` and `in_place` cannot be combined",
                    "an in-place session uses the branch checked out in `repo`",
                ));
            }
            let mut args = command("create", None);
            if let Some(b) = &a.branch {
                args.extend(["--branch".into(), b.clone()]);
            }
            if a.in_place {
                args.push("--in-place".into());
            }
            selection(&mut args, &a.select);
            if let Some(from) = &a.data_from {
                if !has_flag("create", "data-from") {
                    return Err(unsupported("`data_from`"));
                }
                let from = absolute("data_from", from)?;
                args.extend(["--data-from".into(), from.to_string_lossy().into_owned()]);
            }
            Ok(Invocation {
                cwd: Some(repo),
                args,
                output: Output::Json,
                dir: None,
            })
        }
        "list" => {
            let a: ListArgs = parse(name, arguments)?;
            let mut args = command("list", None);
            if a.all {
                args.push("--all".into());
            }
            Ok(Invocation {
                cwd: None,
                args,
                output: Output::Json,
                dir: None,
            })
        }
        "info" | "start" | "stop" | "env" => {
            let a: DirArgs = parse(name, arguments)?;
            Ok(on_dir(name, absolute("dir", &a.dir)?))
        }
        "plan" => {
            let a: PlanArgs = parse(name, arguments)?;
            let dir = absolute("dir", &a.dir)?;
            if a.branch.is_some() && a.intent != Intent::Create {
                return Err(refuse(
                    "`branch` applies only to intent `create`",
                    "leave `branch` out, or pass intent `create`",
                ));
            }
            if a.force && a.intent != Intent::Destroy {
                return Err(refuse(
                    "`force` applies only to intent `destroy`",
                    "leave `force` out, or pass intent `destroy`",
                ));
            }
            if a.intent == Intent::Create {
                if !has_flag("plan", "create") {
                    return Err(unsupported("`plan` with intent `create`"));
                }
                let mut args = command("plan", None);
                args.push("--create".into());
                if let Some(b) = &a.branch {
                    args.extend(["--branch".into(), b.clone()]);
                }
                return Ok(Invocation {
                    cwd: Some(dir),
                    args,
                    output: Output::Json,
                    dir: None,
                });
            }
            let mut inv = on_dir("plan", dir);
            match a.intent {
                Intent::Stop => inv.args.push("--stop".into()),
                Intent::Destroy => inv.args.push("--destroy".into()),
                Intent::Apply | Intent::Create => {}
            }
            if a.force {
                if !has_flag("plan", "force") {
                    return Err(unsupported("`plan` with `force`"));
                }
                inv.args.push("--force".into());
            }
            Ok(inv)
        }
        "apply" => {
            let a: ApplyArgs = parse(name, arguments)?;
            let mut inv = on_dir("apply", absolute("dir", &a.dir)?);
            selection(&mut inv.args, &a.select);
            Ok(inv)
        }
        "destroy" => {
            let a: DestroyArgs = parse(name, arguments)?;
            let mut inv = on_dir("destroy", absolute("dir", &a.dir)?);
            if a.force {
                inv.args.push("--force".into());
            }
            Ok(inv)
        }
        "logs" => {
            let a: LogsArgs = parse(name, arguments)?;
            let mut inv = on_dir("logs", absolute("dir", &a.dir)?);
            inv.args
                .extend(["--no-follow".into(), "-n".into(), a.lines.to_string()]);
            if let Some(s) = &a.service {
                inv.args.extend(["-s".into(), s.clone()]);
            }
            inv.output = Output::Text;
            Ok(inv)
        }
        _ => Err(refuse(
            format!("unknown tool `{name}`"),
            "tools/list names the tools",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: serde_json::Value) -> Result<Invocation, Refusal> {
        invocation(name, args.as_object().unwrap())
    }

    #[test]
    fn builds_the_command_lines() {
        let c = call(
            "create",
            serde_json::json!({"repo": "/r", "branch": "b", "mode": "native", "without": ["web", "admin"]}),
        )
        .unwrap();
        assert_eq!(c.cwd.as_deref(), Some(Path::new("/r")));
        assert_eq!(
            c.args,
            [
                "--json",
                "create",
                "--branch",
                "b",
                "--mode",
                "native",
                "--without",
                "web,admin"
            ]
        );
        let d = call("destroy", serde_json::json!({"dir": "/s", "force": true})).unwrap();
        assert_eq!(d.args, ["--json", "destroy", "/s", "--force"]);
        let l = call("logs", serde_json::json!({"dir": "/s", "service": "web"})).unwrap();
        assert_eq!(
            l.args,
            [
                "--json",
                "logs",
                "/s",
                "--no-follow",
                "-n",
                "100",
                "-s",
                "web"
            ]
        );
        assert_eq!(l.output, Output::Text);
        let p = call("plan", serde_json::json!({"dir": "/s", "intent": "stop"})).unwrap();
        assert_eq!(p.args, ["--json", "plan", "/s", "--stop"]);
        let all = call("list", serde_json::json!({"all": true})).unwrap();
        assert_eq!(all.args, ["--json", "list", "--all"]);
        let e = call("env", serde_json::json!({"dir": "/s"})).unwrap();
        assert_eq!(e.args, ["--json", "env", "/s"]);
    }

    #[test]
    fn refuses_bad_arguments_with_a_hint() {
        let rel = call("info", serde_json::json!({"dir": "relative/dir"})).unwrap_err();
        assert!(rel.message.contains("absolute"), "{rel:?}");
        let unknown = call("destroy", serde_json::json!({"dir": "/s", "forse": true})).unwrap_err();
        assert!(unknown.message.contains("`forse`"), "{unknown:?}");
        assert!(unknown.hint.unwrap().contains("force"));
        let missing = call("info", serde_json::json!({})).unwrap_err();
        assert!(missing.message.contains("dir"), "{missing:?}");
        let mode = call("apply", serde_json::json!({"dir": "/s", "mode": "cloud"})).unwrap_err();
        assert!(mode.message.contains("cloud"), "{mode:?}");
        let both = call(
            "create",
            serde_json::json!({"repo": "/r", "branch": "x", "in_place": true}),
        )
        .unwrap_err();
        assert!(both.message.contains("cannot be combined"), "{both:?}");
        let branch = call("plan", serde_json::json!({"dir": "/s", "branch": "x"})).unwrap_err();
        assert!(branch.message.contains("intent `create`"), "{branch:?}");
        assert!(call("nope", serde_json::json!({})).is_err());
    }

    #[test]
    fn options_the_cli_lacks_are_refused_not_dropped() {
        let r = call(
            "create",
            serde_json::json!({"repo": "/r", "data_from": "/other"}),
        );
        assert_eq!(r.is_ok(), has_flag("create", "data-from"));
        let p = call("plan", serde_json::json!({"dir": "/r", "intent": "create"}));
        assert_eq!(p.is_ok(), has_flag("plan", "create"));
        assert!(has_flag("destroy", "force"));
    }
}
