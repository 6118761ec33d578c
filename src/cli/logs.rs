use std::path::Path;

use crate::adapters::process::Cancel;
use crate::compose::file_args;
use crate::context::{self, Ctx};
use crate::desired::Intent;
use crate::error::{Error, Result};
use crate::reconcile;
use crate::ui::Ui;

/// Stream the session's logs (follows by default; Ctrl-C stops streaming, services keep
/// running).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: super::DirArg,
    /// Services to show (default: every service the session runs).
    #[arg(short, long = "service", value_name = "SERVICE")]
    services: Vec<String>,
    /// Lines of history per service.
    #[arg(short = 'n', long, default_value_t = 50)]
    tail: usize,
    /// Print what is there and exit instead of following.
    #[arg(long)]
    no_follow: bool,
    #[command(flatten)]
    select: super::SelectionArgs,
}

/// Options shared with `create --no-detach`.
#[derive(Debug, Clone)]
pub struct LogOptions {
    pub services: Vec<String>,
    pub tail: usize,
    pub follow: bool,
    pub wants: context::Wants,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            services: vec![],
            tail: 50,
            follow: true,
            wants: context::Wants::default(),
        }
    }
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui, cancel: &mut Cancel) -> Result<i32> {
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    let options = LogOptions {
        services: args.services,
        tail: args.tail,
        follow: !args.no_follow,
        wants: context::Wants {
            selection: args.select.selection(None),
            setup: false,
        },
    };
    follow(ctx, &dir, &options, ui, cancel).await?;
    Ok(0)
}

/// Streams the session's logs with the Compose CLI, until `cancel` reports a signal.
pub async fn follow(
    ctx: &mut Ctx,
    dir: &Path,
    options: &LogOptions,
    ui: &Ui,
    cancel: &mut Cancel,
) -> Result<()> {
    let p = reconcile::prepare(ctx, dir, Intent::Up, &options.wants, ui).await?;
    if p.observed.containers.is_empty() {
        return Err(
            Error::failure(format!("no session found in {}", dir.display()))
                .with_hint("run `dev-prism create` to start one"),
        );
    }
    for s in &options.services {
        if !p.desired.services.contains_key(s) {
            return Err(
                Error::usage(format!("the session has no service `{s}`")).with_hint(format!(
                    "services are: {}",
                    p.desired
                        .services
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
    }
    let services = if options.services.is_empty() {
        p.desired.running_services()
    } else {
        options.services.clone()
    };
    let compose = ctx.compose()?;
    let interrupted = compose
        .stream_logs(
            dir,
            &p.desired.project,
            &file_args(&p.desired.compose_files, p.desired.flavor),
            &services,
            (options.tail, options.follow),
            cancel,
        )
        .await?;
    if interrupted {
        ui.warn(
            "Stopped following logs; the services are still running (`dev-prism stop` stops them).",
        );
    }
    Ok(())
}
