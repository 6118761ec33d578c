use super::*;

#[test]
fn exit_codes_follow_the_shell_conventions() {
    let code = |s| Kind::Interrupted(s).exit_code();
    assert_eq!(
        (code(Signal::Hup), code(Signal::Int), code(Signal::Term)),
        (129, 130, 143)
    );
    assert_eq!(Kind::CommandNotFound.exit_code(), 127);
    assert_eq!(Kind::NotExecutable.exit_code(), 126);
    assert_eq!(Kind::Interrupted(Signal::Term).name(), "interrupted");
    assert_eq!(Signal::from_number(15), Some(Signal::Term));
    assert_eq!(Signal::from_number(9), None);
}

fn io_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, "Permission denied")
}

/// One of each variant with the exit code the README's table documents for it.
fn samples() -> Vec<(Problem, i32, &'static str)> {
    use std::os::unix::process::ExitStatusExt;
    let path = PathBuf::from("/s/app/.env.session");
    vec![
        (
            Problem::Io {
                op: "could not read",
                path: path.clone(),
                source: io_error(),
            },
            1,
            "failure",
        ),
        (
            Problem::Copy {
                from: path.clone(),
                to: "/t/x".into(),
                source: io_error(),
            },
            1,
            "failure",
        ),
        (
            Problem::Run {
                op: "could not run",
                command: "git".into(),
                source: io_error(),
            },
            1,
            "failure",
        ),
        (
            Problem::NotInstalled {
                program: "git".into(),
                engine: false,
            },
            1,
            "failure",
        ),
        (
            Problem::NotInstalled {
                program: "docker compose".into(),
                engine: true,
            },
            3,
            "unreachable",
        ),
        (
            Problem::Engine {
                operation: "list containers".into(),
                source: bollard::errors::Error::RequestTimeoutError,
            },
            1,
            "failure",
        ),
        (
            Problem::Unreachable {
                endpoint: "unix:///x (default)".into(),
                cause: "refused".into(),
            },
            3,
            "unreachable",
        ),
        (
            Problem::NoCompose {
                tried: vec!["docker compose".into()],
                cause: "gone".into(),
            },
            3,
            "unreachable",
        ),
        (
            Problem::Git {
                operation: "add the worktree".into(),
                stderr: "fatal: no".into(),
            },
            1,
            "failure",
        ),
        (
            Problem::Compose {
                command: "up".into(),
                stderr: "boom".into(),
            },
            1,
            "failure",
        ),
        (
            Problem::Exited {
                command: "docker compose logs".into(),
                status: ExitStatusExt::from_raw(256),
            },
            1,
            "failure",
        ),
        (
            Problem::ServiceFailed {
                service: "db".into(),
                reason: "exited with 1".into(),
                logs: String::new(),
            },
            1,
            "failure",
        ),
        (
            Problem::SetupFailed {
                command: "make seed".into(),
                status: "exit code 2".into(),
            },
            1,
            "failure",
        ),
        (
            Problem::Config {
                file: "c.yml".into(),
                at: None,
                message: "m".into(),
                diagnostic: None,
            },
            2,
            "usage",
        ),
        (
            Problem::Busy {
                dir: "/s/app".into(),
            },
            4,
            "busy",
        ),
        (
            Problem::Interrupted {
                signal: Signal::Hup,
                during: "x".into(),
            },
            129,
            "interrupted",
        ),
        (
            Problem::Interrupted {
                signal: Signal::Int,
                during: "x".into(),
            },
            130,
            "interrupted",
        ),
        (
            Problem::Interrupted {
                signal: Signal::Term,
                during: "x".into(),
            },
            143,
            "interrupted",
        ),
        (
            Problem::CommandNotFound {
                command: "nope".into(),
            },
            127,
            "command_not_found",
        ),
        (
            Problem::NotExecutable {
                command: "./x".into(),
                source: io_error(),
            },
            126,
            "not_executable",
        ),
        (Problem::Usage("bad flag".into()), 2, "usage"),
        (Problem::Failure("it broke".into()), 1, "failure"),
        (
            Problem::TooManyRunning {
                limit: 1,
                running: vec!["/s/a".into()],
            },
            2,
            "usage",
        ),
        (
            Problem::NoSpace {
                what: "the copies".into(),
                needed: 2_000_000,
                free: 1_000,
                at: "/s".into(),
            },
            2,
            "usage",
        ),
        (
            Problem::EngineCannot {
                engine: "rootless Podman 4.3.1 on cgroup v1".into(),
                what: "enforce the memory and CPU limits of `resources`".into(),
            },
            2,
            "usage",
        ),
    ]
}

/// The variant's position in the enum; no wildcard, so a new variant fails to compile here
/// until it has a sample.
fn variant(p: &Problem) -> usize {
    match p {
        Problem::Io { .. } => 0,
        Problem::Copy { .. } => 1,
        Problem::Run { .. } => 2,
        Problem::NotInstalled { .. } => 3,
        Problem::Engine { .. } => 4,
        Problem::Unreachable { .. } => 5,
        Problem::NoCompose { .. } => 6,
        Problem::Git { .. } => 7,
        Problem::Compose { .. } => 8,
        Problem::Exited { .. } => 9,
        Problem::ServiceFailed { .. } => 10,
        Problem::SetupFailed { .. } => 11,
        Problem::Config { .. } => 12,
        Problem::Busy { .. } => 13,
        Problem::Interrupted { .. } => 14,
        Problem::CommandNotFound { .. } => 15,
        Problem::NotExecutable { .. } => 16,
        Problem::Usage(_) => 17,
        Problem::Failure(_) => 18,
        Problem::TooManyRunning { .. } => 19,
        Problem::NoSpace { .. } => 20,
        Problem::EngineCannot { .. } => 21,
    }
}

#[test]
fn every_variant_has_its_documented_exit_code_and_kind_name() {
    let mut seen = std::collections::BTreeSet::new();
    for (problem, code, name) in samples() {
        seen.insert(variant(&problem));
        let sentence = problem.to_string();
        let e = Error::from(problem);
        assert_eq!(e.exit_code(), code, "{sentence}");
        assert_eq!(e.kind().name(), name, "{sentence}");
    }
    assert_eq!(seen, (0..=21).collect(), "a variant has no sample");
}

#[test]
fn sentences_are_rendered_from_the_data() {
    let e = Error::io("could not read", "/s/app/.env.session", io_error());
    assert_eq!(
        e.message(),
        "could not read /s/app/.env.session: Permission denied"
    );
    let failed = |logs: &str| {
        Error::from(Problem::ServiceFailed {
            service: "db".into(),
            reason: "exited with code 3".into(),
            logs: logs.into(),
        })
        .message()
    };
    assert_eq!(failed(""), "service `db` exited with code 3");
    assert_eq!(
        failed("FATAL: no"),
        "service `db` exited with code 3; its last log lines:\nFATAL: no"
    );
    let busy = Error::from(Problem::Busy {
        dir: "/s/app".into(),
    });
    assert_eq!(
        busy.message(),
        "another dev-prism command is working on /s/app"
    );
    let config = |at| {
        Error::from(Problem::Config {
            file: "c.yml".into(),
            at,
            message: "bad".into(),
            diagnostic: None,
        })
    };
    assert_eq!(config(Some((3, 7))).message(), "c.yml:3:7: bad");
    assert_eq!(config(None).message(), "c.yml: bad");
    assert_eq!(
        Error::interrupted(Signal::Int, "start web").message(),
        "interrupted by SIGINT during: start web"
    );
    let exec = |kind| {
        Error::from(Problem::NotExecutable {
            command: "./x".into(),
            source: std::io::Error::new(kind, "nope"),
        })
    };
    assert_eq!(
        exec(std::io::ErrorKind::PermissionDenied).message(),
        "cannot execute `./x`: nope"
    );
    assert_eq!(
        exec(std::io::ErrorKind::Other).message(),
        "cannot run `./x`: nope"
    );
}

#[test]
fn source_chains_to_the_carried_error() {
    use std::error::Error as _;
    let e = Error::io("could not write", "/s/app/f", io_error());
    let source = e.source().expect("an io error carries its source");
    assert_eq!(source.to_string(), "Permission denied");
    let engine = Error::from(Problem::Engine {
        operation: "list containers".into(),
        source: bollard::errors::Error::RequestTimeoutError,
    });
    assert!(engine.source().is_some());
    assert_eq!(
        engine.message(),
        format!(
            "Docker could not list containers: {}",
            chain(engine.source().unwrap())
        )
    );
    // chain() does not repeat a cause the sentence already says.
    assert_eq!(chain(&e), e.message());
    assert!(Error::failure("x").source().is_none());
    assert!(Error::git("add the worktree", "fatal").source().is_none());
}

#[test]
fn hints_follow_the_cause() {
    let e = Error::failure("x").with_hint("first").then("then this");
    assert_eq!(e.hint.as_deref(), Some("first; then this"));
    assert_eq!(Error::usage("x").then("only").hint.as_deref(), Some("only"));
}
