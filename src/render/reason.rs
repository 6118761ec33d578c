//! The English (and the glyphs and colours) of what a plan says: subjects, reasons, drift,
//! what was kept. The one place this wording lives; text and JSON both print it from here.

use std::fmt::{self, Display, Formatter};

use serde::{Serialize, Serializer};

use crate::desired::ENV_FILE;
use crate::error::Error;
use crate::observed::Owner;
use crate::plan::ready::CopyOrigin;
use crate::plan::{Action, Blocker, Drift, Kept, Reason, Refusal, Subject, Warning};

impl Action {
    /// ANSI colour of the glyph.
    pub fn color(self) -> &'static str {
        match self {
            Action::Create => "32",
            Action::Update => "33",
            Action::Replace => "35",
            Action::Delete => "31",
            Action::Run => "36",
        }
    }

    pub fn glyph(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Run => ">",
        }
    }

    pub fn legend(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update in place",
            Action::Replace => "destroy and then create replacement",
            Action::Delete => "destroy",
            Action::Run => "run",
        }
    }
}

impl Display for Subject {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Subject::File(name) => write!(f, "file {name}"),
            Subject::Service(name) => write!(f, "service {name}"),
            Subject::Worktree(path) => write!(f, "worktree {}", path.display()),
            Subject::Branch(branch) => write!(f, "branch {branch}"),
            Subject::Project(project) => write!(f, "project {project}"),
            Subject::Container(name) => write!(f, "container {name}"),
            Subject::Network(name) => write!(f, "network {name}"),
            Subject::Volume(name) => write!(f, "volume {name}"),
            Subject::Image(name) => write!(f, "image {name}"),
            Subject::Path { status, path } => write!(f, "{status} {path}"),
            Subject::ComposeUp(project) => write!(f, "compose up ({project})"),
            Subject::WaitReady => f.write_str("wait until ready"),
            Subject::Stop(project) => write!(f, "stop {project}"),
            Subject::Setup(command) => write!(f, "setup `{command}`"),
            Subject::Subnet(net) => write!(f, "network default: subnet {net}"),
            Subject::CopyTree {
                pattern,
                files,
                bytes,
            } => write!(
                f,
                "copy {pattern} ({files} file{}, {})",
                if *files == 1 { "" } else { "s" },
                human_bytes(*bytes)
            ),
            Subject::DataFrom { dir, project } => {
                write!(f, "data from {} ({project})", dir.display())
            }
            Subject::NewVolume {
                name,
                from: Some(from),
            } => write!(f, "volume {name} (copy of {from})"),
            Subject::NewVolume { name, from: None } => write!(f, "volume {name} (empty)"),
        }
    }
}

impl crate::plan::Op {
    /// The operation's stable name in `plan --json` (`op`, docs/json.md).
    pub fn code(&self) -> &'static str {
        use crate::plan::Op;
        match self {
            Op::AddWorktree { .. } => "add_worktree",
            Op::CopyFile { .. } => "copy_file",
            Op::CopyTree { .. } => "copy_tree",
            Op::CopyVolumes { .. } => "copy_volumes",
            Op::WriteFile { .. } => "write_file",
            Op::RemoveFile { .. } => "remove_file",
            Op::ComposeUp { .. } => "compose_up",
            Op::WaitReady { .. } => "wait_ready",
            Op::StopContainers { .. } => "stop_containers",
            Op::RemoveProject { .. } => "remove_project",
            Op::RemoveWorktree { .. } => "remove_worktree",
            Op::RunSetup { .. } => "run_setup",
        }
    }
}

impl Reason {
    /// The reason's stable name in `plan --json` (`reason_code`, docs/json.md); the English
    /// stays in `reason`.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::NewWorktree {
                create_branch: true,
                ..
            } => "new_worktree_new_branch",
            Reason::NewWorktree {
                create_branch: false,
                ..
            } => "new_worktree_existing_branch",
            Reason::EnvFileCopied => "env_file_copied",
            Reason::SetupRuns => "setup_runs",
            Reason::FreeSubnet { .. } => "free_subnet",
            Reason::NoContainer => "no_container",
            Reason::Stopped { .. } => "stopped",
            Reason::Paused => "paused",
            Reason::DefinitionChanged => "definition_changed",
            Reason::NotInCompose => "not_in_compose",
            Reason::ServicesMustRun => "services_must_run",
            Reason::ReadyWhen => "ready_when",
            Reason::PortsPublished => "ports_published",
            Reason::PortsChange => "ports_changed",
            Reason::FileMissing => "file_missing",
            Reason::ContentDiffers => "content_differs",
            Reason::Mode(_) => "mode_differs",
            Reason::ContainersKept => "containers_kept",
            Reason::Running => "running",
            Reason::PortsVoid => "ports_void",
            Reason::SessionDestroyed => "session_destroyed",
            Reason::Discarded(Owner::DevPrism) => "discarded_dev_prisms",
            Reason::Discarded(Owner::Disposable) => "discarded_disposable",
            Reason::Discarded(Owner::User) => "discarded_forced",
            Reason::ForcedWorktree => "forced_worktree",
            Reason::NoWork => "no_work",
            Reason::Merged => "merged",
            Reason::ForcedUnmerged(_) => "forced_unmerged",
            Reason::ForcedUnchecked => "forced_unchecked",
            Reason::BelongsToService(_) => "belongs_to_service",
            Reason::BelongsToProject => "belongs_to_project",
            Reason::CopySelects { .. } => "copy_selects",
            Reason::SourceVolume(_) => "source_volume",
            Reason::NoSourceVolume(_) => "no_source_volume",
            Reason::DataCopied { .. } => "data_copied",
        }
    }
}

impl Refusal {
    /// The error `plan` and `apply` both end with.
    pub fn error(&self) -> Error {
        match self {
            Refusal::HostNetwork { service, ports } => Error::usage(format!(
                "service `{service}` uses `network_mode: host`, which bypasses the session's port isolation: its ports ({}) would be bound on the host itself, the same in every session",
                ports.join(", ")
            ))
            .with_hint("remove `network_mode: host` from that service (its published ports already reach it from the host), or run it outside dev-prism"),
            Refusal::ComposeFlavor {
                recorded,
                running,
                version,
            } => Error::failure(format!(
                "this session's files were written for Compose {}, but Compose {} ({version}) would run them",
                recorded.label(),
                running.label(),
            ))
            .with_hint("set DEV_PRISM_COMPOSE to the flavour the session was made with, or destroy and re-create it"),
        }
    }
}

impl Display for Warning {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Warning::HostNetwork { service } => write!(
                f,
                "warning: service `{service}` uses `network_mode: host`: whatever it listens on is bound on the host itself, shared by every session"
            ),
            Warning::RemoteBindMount { mount, engine } => write!(
                f,
                "bind mount {mount} names a path on this machine, but the engine ({engine}) is remote and mounts its own host's path"
            ),
            Warning::Unnamed { dir, project } => write!(
                f,
                "note: this session has no proxy name: its containers were made without one (while the proxy served another engine, or before names), and a name is fixed when containers are made, so it keeps its direct URLs; to give it one, remove its containers with `docker compose -p {project} down` (volumes and worktree stay) and run `dev-prism apply {dir}`"
            ),
        }
    }
}

impl Display for Reason {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NewWorktree {
                branch,
                create_branch,
            } => write!(
                f,
                "a new session gets its own worktree on {} branch `{branch}`",
                if *create_branch { "new" } else { "existing" }
            ),
            Reason::EnvFileCopied => f.write_str("envFiles copies it from the main checkout"),
            Reason::SetupRuns => f.write_str("setup commands run once the session is ready"),
            Reason::FreeSubnet { pool } => {
                write!(f, "a free subnet of subnetPool {pool} sized to its services")
            }
            Reason::NoContainer => f.write_str("no container exists"),
            Reason::Stopped {
                exit_code: Some(code),
            } => write!(f, "it exited with code {code}; it will be started"),
            Reason::Stopped { exit_code: None } => f.write_str("it is stopped; it will be started"),
            Reason::Paused => f.write_str("it is paused; it will be unpaused"),
            Reason::DefinitionChanged => f.write_str("its definition in the compose file changed"),
            Reason::NotInCompose => f.write_str("it is no longer in the compose file"),
            Reason::ServicesMustRun => f.write_str("services must run"),
            Reason::ReadyWhen => f.write_str("healthy, or running when there is no healthcheck"),
            Reason::PortsPublished => f.write_str("services just started publish their ports"),
            Reason::PortsChange => f.write_str("ports change whenever containers start"),
            Reason::FileMissing => f.write_str("it does not exist"),
            Reason::ContentDiffers => f.write_str("its content differs from what it should be"),
            Reason::Mode(mode) => write!(f, "its permissions are not {mode:o}"),
            Reason::ContainersKept => f.write_str("containers are kept, with their volumes"),
            Reason::Running => f.write_str("it is running; it will be stopped"),
            Reason::PortsVoid => f.write_str("its ports are void once containers stop"),
            Reason::SessionDestroyed => f.write_str("the session is destroyed"),
            Reason::Discarded(Owner::DevPrism) => {
                f.write_str("dev-prism made it and it is unchanged")
            }
            Reason::Discarded(Owner::Disposable) => f.write_str("it is disposable (reproducible)"),
            Reason::Discarded(Owner::User) => f.write_str("--force"),
            Reason::ForcedWorktree => {
                f.write_str("--force: the session is destroyed, whatever work it holds")
            }
            Reason::NoWork => f.write_str("dev-prism made it and it holds no work"),
            Reason::Merged => f.write_str("every commit on it is on another branch"),
            Reason::ForcedUnmerged(n) => write!(f, "--force: its {n} unmerged commit(s) are dropped"),
            Reason::ForcedUnchecked => f.write_str("--force: its commits were not checked"),
            Reason::BelongsToService(service) => write!(f, "it belongs to service {service}"),
            Reason::BelongsToProject => f.write_str("it belongs to the session's project"),
            Reason::CopySelects { origin } => write!(
                f,
                "{origin} selects these gitignored files of the main checkout; files the worktree has are kept"
            ),
            Reason::SourceVolume(key) => write!(f, "the source's volume `{key}`"),
            Reason::NoSourceVolume(key) => {
                write!(f, "the source has no volume `{key}`: it starts empty")
            }
            Reason::DataCopied { paused } => {
                f.write_str("volumes start as copies of the source's, before any service starts")?;
                if *paused > 0 {
                    write!(
                        f,
                        "; its {paused} running container(s) are paused while copying"
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl Display for CopyOrigin {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CopyOrigin::WorktreeInclude => ".worktreeinclude",
            CopyOrigin::Config => "`copy` in the config",
        })
    }
}

impl Display for Drift {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Drift::NoContainer(name) => write!(
                f,
                "service `{name}` has no container (removed outside dev-prism, or new since the session last started)"
            ),
            Drift::Stopped(name) => {
                write!(f, "container of service `{name}` was stopped outside dev-prism")
            }
            Drift::Paused(name) => write!(f, "container of service `{name}` is paused"),
            Drift::Unhealthy(name) => write!(f, "service `{name}` is running but unhealthy"),
            Drift::EnvFileDeleted => write!(f, "file {ENV_FILE} was deleted"),
        }
    }
}

impl Display for Kept {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Kept::Worktree { path, why } => {
                write!(f, "kept worktree {}: ", path.display())?;
                for (i, b) in why.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{b}")?;
                }
                Ok(())
            }
            Kept::BranchOfKeptWorktree(b) => write!(f, "kept branch {b}: its worktree was kept"),
            Kept::Unmerged { branch, commits } => write!(
                f,
                "kept branch {branch}: it has {commits} commit(s) no other branch contains; merge it, or delete it with `git branch -D {branch}`"
            ),
            Kept::Unchecked { branch, why } => write!(
                f,
                "kept branch {branch}: could not tell whether its commits are on another branch ({why})"
            ),
            Kept::File(name) => write!(
                f,
                "kept file {name}: it does not carry dev-prism's generated header, so it is yours"
            ),
        }
    }
}

impl Display for Blocker {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::NotMadeByDevPrism => f.write_str(
                "dev-prism did not make it (remove it yourself with `git worktree remove`)",
            ),
            Blocker::MakerUnknown(e) => write!(f, "could not tell who made it ({e})"),
            Blocker::FilesUnknown(e) => write!(f, "its files could not be checked ({e})"),
            Blocker::Work(work) => write!(
                f,
                "it holds {} path(s) of yours ({}); commit, stash or move them, or run `dev-prism destroy --force` to delete them",
                work.len(),
                list(work.iter().map(|p| format!("{} {}", p.status, p.path)))
            ),
            Blocker::Submodules(s) => write!(
                f,
                "it has initialised submodules ({}) whose repositories would be deleted; `dev-prism destroy --force` deletes them",
                list(s.iter().cloned())
            ),
            Blocker::SubmodulesUnknown(e) => write!(f, "its submodules could not be checked ({e})"),
            Blocker::DetachedCommits(n) => write!(
                f,
                "its detached HEAD holds {n} commit(s) no branch contains; `git branch NAME` keeps them, `dev-prism destroy --force` drops them"
            ),
            Blocker::DetachedUnknown(e) => write!(
                f,
                "could not tell whether its detached HEAD holds commits no branch contains ({e})"
            ),
        }
    }
}

/// In JSON, as in text: the sentence.
macro_rules! serialize_as_text {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_text!(Subject, Reason, Drift, Kept);

/// The first few items, and how many more.
fn list(items: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = items.collect();
    let mut out = all.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if all.len() > 5 {
        out.push_str(&format!(", and {} more", all.len() - 5));
    }
    out
}

pub use crate::util::human_bytes;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::SESSION_FILE;
    use crate::observed::PathFact;

    #[test]
    fn reasons_read_as_before() {
        let cases = [
            (
                Reason::NewWorktree {
                    branch: "b".into(),
                    create_branch: true,
                },
                "a new session gets its own worktree on new branch `b`",
            ),
            (
                Reason::NewWorktree {
                    branch: "b".into(),
                    create_branch: false,
                },
                "a new session gets its own worktree on existing branch `b`",
            ),
            (
                Reason::Stopped { exit_code: Some(3) },
                "it exited with code 3; it will be started",
            ),
            (Reason::Mode(0o600), "its permissions are not 600"),
            (
                Reason::ForcedUnmerged(2),
                "--force: its 2 unmerged commit(s) are dropped",
            ),
            (Reason::Discarded(Owner::User), "--force"),
            (
                Reason::CopySelects {
                    origin: CopyOrigin::Config,
                },
                "`copy` in the config selects these gitignored files of the main checkout; files the worktree has are kept",
            ),
            (
                Reason::DataCopied { paused: 0 },
                "volumes start as copies of the source's, before any service starts",
            ),
            (
                Reason::DataCopied { paused: 2 },
                "volumes start as copies of the source's, before any service starts; its 2 running container(s) are paused while copying",
            ),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
            assert_eq!(serde_json::to_value(&reason).unwrap(), text);
        }
    }

    #[test]
    fn subjects_read_as_before() {
        let copy = |files| Subject::CopyTree {
            pattern: "node_modules/".into(),
            files,
            bytes: 2000,
        };
        assert_eq!(copy(1).to_string(), "copy node_modules/ (1 file, 2.0 kB)");
        assert_eq!(copy(2).to_string(), "copy node_modules/ (2 files, 2.0 kB)");
        let path = Subject::Path {
            status: "ignored",
            path: "local.db".into(),
        };
        assert_eq!(path.to_string(), "ignored local.db");
        let vol = Subject::NewVolume {
            name: "p_db".into(),
            from: None,
        };
        assert_eq!(vol.to_string(), "volume p_db (empty)");
        assert_eq!(
            Subject::File(SESSION_FILE.into()).to_string(),
            format!("file {SESSION_FILE}")
        );
    }

    #[test]
    fn drift_and_kept_read_as_before() {
        assert_eq!(
            Drift::EnvFileDeleted.to_string(),
            format!("file {ENV_FILE} was deleted")
        );
        let work: Vec<PathFact> = (0..7)
            .map(|i| PathFact {
                path: format!("f{i}"),
                status: "untracked",
                owner: Owner::User,
            })
            .collect();
        let kept = Kept::Worktree {
            path: "/w/s".into(),
            why: vec![Blocker::NotMadeByDevPrism, Blocker::Work(work)],
        };
        assert_eq!(
            kept.to_string(),
            "kept worktree /w/s: dev-prism did not make it (remove it yourself with `git worktree remove`); \
             it holds 7 path(s) of yours (untracked f0, untracked f1, untracked f2, untracked f3, untracked f4, and 2 more); \
             commit, stash or move them, or run `dev-prism destroy --force` to delete them"
        );
        assert_eq!(
            Kept::Unmerged {
                branch: "b".into(),
                commits: 2
            }
            .to_string(),
            "kept branch b: it has 2 commit(s) no other branch contains; merge it, or delete it with `git branch -D b`"
        );
    }

    #[test]
    fn sizes_in_si_units() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(240_000_000), "240.0 MB");
    }
}
