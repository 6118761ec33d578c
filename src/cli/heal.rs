use crate::adapters::fs;
use crate::compose::{self, labels, Flavor, SESSION_FILE};
use crate::context::{self, Ctx};
use crate::desired::ENV_FILE;
use crate::error::{Error, Kind, Result, EXIT_CHANGES_PENDING};
use crate::observed::Observed;
use crate::plan::{self, Content, Op};
use crate::ui::Ui;

/// Rewrite the session's derived files to match config, compose files and Docker (for hooks).
///
/// Brings docker-compose.session.yml, .env.session, app env files and rewritten env files in
/// line with the config, the compose files and the containers Docker reports — without
/// starting, stopping or recreating anything. Silent when there is nothing to do or no
/// session.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: super::DirArg,
    /// Change nothing; exit 5 when a file would be rewritten.
    #[arg(long)]
    check: bool,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    // Another command is converging this session right now; it will leave the files right.
    let _lock = match context::lock(&dir) {
        Ok(l) => Some(l),
        Err(e) if e.kind == Kind::Busy && !args.check => return Ok(0),
        Err(e) if e.kind == Kind::Busy => None,
        Err(e) => return Err(e),
    };
    let session_file = fs::read(&dir.join(SESSION_FILE))?.map(|(t, _)| t);
    let containers = ctx
        .engine()
        .await?
        .session_containers(&dir.to_string_lossy())
        .await?;
    if containers.is_empty() && session_file.is_none() {
        // Not a session: nothing to heal.
        if ui.json {
            ui.json_out(&crate::render::json::doc(
                "heal",
                serde_json::json!({"dir": dir, "check": args.check, "changes": false, "files": []}),
            ));
        }
        return Ok(0);
    }
    // The flavour the session was made with, without running the Compose CLI.
    let flavor = containers
        .iter()
        .find_map(|c| c.label(labels::COMPOSE).and_then(Flavor::from_label))
        .or_else(|| session_file.as_deref().and_then(compose::flavor_in))
        .unwrap_or(Flavor::V2);
    let session = context::load_session(&dir)?;
    let observed = Observed {
        dir_exists: true,
        session_file,
        env_file: fs::read(&dir.join(ENV_FILE))?,
        containers,
        ..Default::default()
    };
    let mut desired =
        context::desired_for(&session, &observed, flavor, &context::Wants::default())?;
    if let Some(p) = observed
        .containers
        .iter()
        .find_map(|c| c.label(labels::PROJECT))
    {
        desired.project = p.to_string();
    }
    let mut observed = observed;
    context::read_derived(&desired, &mut observed)?;
    let plan = plan::heal(&desired, &observed);
    let mut out = String::new();
    let mut files = vec![];
    for step in plan.ordered() {
        let Op::WriteFile {
            path,
            content: Content::Text { text: content },
            mode,
        } = &step.op
        else {
            return Err(Error::failure(
                "heal planned a step that is not a file write",
            ));
        };
        let name = path.strip_prefix(&dir).unwrap_or(path).display();
        files.push(serde_json::json!({"path": name.to_string(), "reason": step.reason}));
        if args.check {
            out.push_str(&format!("would rewrite {name} (because {})\n", step.reason));
        } else {
            fs::write_atomic(path, content, *mode)?;
            out.push_str(&format!(
                "dev-prism: rewrote {name} (because {})\n",
                step.reason
            ));
        }
    }
    if ui.json {
        ui.json_out(&crate::render::json::doc(
            "heal",
            serde_json::json!({
                "dir": dir,
                "check": args.check,
                "changes": !plan.is_empty(),
                "files": files,
            }),
        ));
    } else if !out.is_empty() {
        ui.out(&out);
    }
    Ok(if args.check && !plan.is_empty() {
        EXIT_CHANGES_PENDING
    } else {
        0
    })
}
