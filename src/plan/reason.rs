//! What a plan says about its steps, as data: the subject a step acts on, why, what changed
//! outside dev-prism and what a destroy keeps. The English is `render`'s (render/reason.rs):
//! nothing decides on these values' wording.

use std::path::PathBuf;

use super::ready::CopyOrigin;
use crate::observed::{Owner, PathFact};
use crate::subnet::Net;

/// What a step (or a line under it) acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A file of the session, by its name relative to the session directory.
    File(String),
    Service(String),
    Worktree(PathBuf),
    Branch(String),
    /// The session's Compose project (its containers, networks, volumes, images).
    Project(String),
    Container(String),
    Network(String),
    Volume(String),
    Image(String),
    /// A path `git status` reported, discarded with the worktree.
    Path {
        status: &'static str,
        path: String,
    },
    /// `compose up` of the project.
    ComposeUp(String),
    WaitReady,
    /// Stopping the project's containers.
    Stop(String),
    Setup(String),
    /// The subnet chosen for the session's default network.
    Subnet(Net),
    /// Gitignored files one copy pattern selects.
    CopyTree {
        pattern: String,
        files: usize,
        bytes: u64,
    },
    /// The session's volumes copied from another session's.
    DataFrom {
        dir: PathBuf,
        project: String,
    },
    /// A volume created for the session: a copy of `from`, or empty.
    NewVolume {
        name: String,
        from: Option<String>,
    },
}

/// Why a step (or a line under it) is in the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A new session's worktree on `branch` (new, or existing).
    NewWorktree {
        branch: String,
        create_branch: bool,
    },
    /// An `envFiles` entry copied from the main checkout.
    EnvFileCopied,
    SetupRuns,
    /// A free subnet of the pool.
    FreeSubnet {
        pool: Net,
    },
    NoContainer,
    /// The service's container is stopped (with its exit code when it has one).
    Stopped {
        exit_code: Option<i64>,
    },
    /// The service's container is paused (`docker pause`, or a data copy killed while it
    /// paused its source): apply unpauses it.
    Paused,
    DefinitionChanged,
    NotInCompose,
    ServicesMustRun,
    ReadyWhen,
    /// A derived file rendered after start, missing now.
    PortsPublished,
    /// A derived file rendered after start, present now.
    PortsChange,
    FileMissing,
    ContentDiffers,
    /// The file's permissions are not `mode`.
    Mode(u32),
    ContainersKept,
    Running,
    PortsVoid,
    SessionDestroyed,
    /// A path discarded with the worktree, by its owner (`User`: only with --force).
    Discarded(Owner),
    /// The worktree goes with --force, whatever work it holds.
    ForcedWorktree,
    NoWork,
    /// Every commit on the branch is on another branch.
    Merged,
    /// --force drops the branch's unmerged commits.
    ForcedUnmerged(usize),
    /// --force drops the branch though its commits could not be checked.
    ForcedUnchecked,
    BelongsToService(String),
    BelongsToProject,
    /// Files a copy pattern selects, by where the pattern was written.
    CopySelects {
        origin: CopyOrigin,
    },
    /// The source's volume `key` is copied.
    SourceVolume(String),
    /// The source has no volume `key`.
    NoSourceVolume(String),
    /// Volumes copied before anything starts, `paused` running containers of the source paused.
    DataCopied {
        paused: usize,
    },
}

/// Reality changed outside dev-prism.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    /// A service of the session has no container.
    NoContainer(String),
    /// A service's container was stopped.
    Stopped(String),
    /// A service's container is paused.
    Paused(String),
    Unhealthy(String),
    /// `.env.session` was deleted.
    EnvFileDeleted,
}

/// Something a destroy keeps to protect the user's work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kept {
    Worktree {
        path: PathBuf,
        why: Vec<Blocker>,
    },
    /// The branch of a kept worktree.
    BranchOfKeptWorktree(String),
    /// A branch with `commits` no other branch contains.
    Unmerged {
        branch: String,
        commits: usize,
    },
    /// A branch whose commits could not be checked.
    Unchecked {
        branch: String,
        why: String,
    },
    /// A file without dev-prism's generated header.
    File(String),
}

/// Why a worktree is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    NotMadeByDevPrism,
    /// Who made it is unknown (why).
    MakerUnknown(String),
    FilesUnknown(String),
    /// Paths of the user's.
    Work(Vec<PathFact>),
    Submodules(Vec<String>),
    SubmodulesUnknown(String),
    /// A detached HEAD holding commits no branch contains.
    DetachedCommits(usize),
    DetachedUnknown(String),
}

/// Why apply refuses a whole plan before its first step; `plan` refuses alike (the same
/// error), so what `plan` accepts is what `apply` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `network_mode: host` with published ports: they would be bound on the host itself, the
    /// same in every session.
    HostNetwork { service: String, ports: Vec<String> },
    /// The session's files were written for the `recorded` Compose flavour, but `running`
    /// (its `version`) would run them.
    ComposeFlavor {
        recorded: crate::compose::Flavor,
        running: crate::compose::Flavor,
        version: String,
    },
}

/// What `plan` and `apply` both say before acting, without refusing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// `network_mode: host` without published ports: whatever it listens on is shared by every
    /// session.
    HostNetwork { service: String },
    /// A bind mount names a path on this machine, but the engine (at `engine`) is remote and
    /// mounts its own host's path.
    RemoteBindMount { mount: String, engine: String },
    /// The proxy is on but the session's containers were made without a name (while the
    /// proxy served another engine, or before names): names are fixed when containers are
    /// made, so it keeps its direct URLs rather than being recreated to get one.
    Unnamed { dir: String, project: String },
}
