use crate::context::{self, Ctx};
use crate::error::{Error, Kind, Result, EXIT_CHANGES_PENDING};
use crate::plan::Op;
use crate::reconcile;
use crate::render::json::{HealDoc, HealFile};
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

pub async fn run(
    args: Args,
    ctx: &mut Ctx,
    ui: &Ui,
    cancel: &mut crate::adapters::process::Cancel,
) -> Result<i32> {
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    // Another command is converging this session right now; it will leave the files right.
    let _lock = match context::lock(&dir) {
        Ok(l) => Some(l),
        Err(e) if e.kind() == Kind::Busy && !args.check => return Ok(0),
        Err(e) if e.kind() == Kind::Busy => None,
        Err(e) => return Err(e),
    };
    let Some(prepared) = reconcile::prepare_heal(ctx, &dir, ui).await? else {
        // Not a session: nothing to heal.
        if ui.json {
            ui.json_out(&crate::render::json::doc(
                "heal",
                HealDoc {
                    dir: dir.to_string_lossy().into_owned(),
                    check: args.check,
                    changes: false,
                    files: vec![],
                },
            ));
        }
        return Ok(0);
    };
    let plan = &prepared.plan;
    let mut out = String::new();
    let mut files = vec![];
    for step in plan.ordered() {
        let Op::WriteFile { path, .. } = &step.op else {
            return Err(Error::failure(
                "heal planned a step that is not a file write",
            ));
        };
        let name = path.strip_prefix(&dir).unwrap_or(path).display();
        files.push(HealFile {
            path: name.to_string(),
            reason: step.reason.to_string(),
        });
        let verb = if args.check {
            "would rewrite"
        } else {
            "dev-prism: rewrote"
        };
        out.push_str(&format!("{verb} {name} (because {})\n", step.reason));
    }
    if !args.check {
        // One line per file below is the report; apply's own progress stays silent.
        let quiet = ui.quieted();
        reconcile::carry_out(ctx, &prepared, &quiet, cancel).await?;
    }
    if ui.json {
        ui.json_out(&crate::render::json::doc(
            "heal",
            HealDoc {
                dir: dir.to_string_lossy().into_owned(),
                check: args.check,
                changes: !plan.is_empty(),
                files,
            },
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
