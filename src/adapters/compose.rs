//! The Compose CLI (v2 `docker compose` preferred, v1 `docker-compose` as fallback,
//! `DEV_PRISM_COMPOSE` to choose). Always run with `-p` and explicit `-f` files, in the
//! session directory, against the same engine endpoint the API client uses. (Just over 400
//! lines: detection, the commands and their error mapping belong together; tests at the end.)

use std::path::Path;
use std::process::Command;

use super::endpoint::{Endpoint, Transport};
use super::tail;
use crate::compose::Flavor;
use crate::error::{Error, Problem, Result};
use crate::ui::Trace;

const INSTALL_HINT: &str =
    "install Docker Compose v2 (`docker compose`) or v1 (`docker-compose`), or set DEV_PRISM_COMPOSE";

/// A Compose CLI that answered `version`.
#[derive(Clone, Debug)]
pub struct ComposeCli {
    program: String,
    prefix: Vec<String>,
    pub flavor: Flavor,
    pub version: String,
    /// `DOCKER_HOST` and, for TLS, `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH`.
    env: Vec<(String, String)>,
    /// Logs each call with `--verbose`.
    trace: Trace,
}

impl ComposeCli {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.prefix);
        // The endpoint is already resolved; a context would override DOCKER_HOST for v2.
        for k in [
            "DOCKER_CONTEXT",
            "DOCKER_TLS",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
        ] {
            c.env_remove(k);
        }
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Finds a working Compose CLI. `DEV_PRISM_COMPOSE` may be `v2`, `v1`, or a command line;
    /// without it, v2 is preferred unless `prefer` (the flavour an existing session was made
    /// with) says v1. An ssh endpoint is reached through dev-prism's tunnel socket `dial`.
    pub fn detect(
        endpoint: &Endpoint,
        dial: Option<String>,
        prefer: Option<Flavor>,
        trace: &Trace,
    ) -> Result<ComposeCli> {
        let tunnelled = dial.is_some();
        let socket = dial.clone().unwrap_or_else(|| endpoint.host.clone());
        let mut podman_v1 = false;
        let env = match dial {
            Some(host) => vec![("DOCKER_HOST".to_string(), host)],
            None => endpoint.cli_env(),
        };
        let choice = std::env::var("DEV_PRISM_COMPOSE").unwrap_or_default();
        let v2 = vec!["docker".to_string(), "compose".to_string()];
        let v1 = vec!["docker-compose".to_string()];
        let candidates: Vec<Vec<String>> = match choice.trim() {
            "" if prefer == Some(Flavor::V1) => vec![v1, v2],
            "" => vec![v2, v1],
            "v2" => vec![vec!["docker".into(), "compose".into()]],
            "v1" => vec![vec!["docker-compose".into()]],
            other => vec![other.split_whitespace().map(str::to_string).collect()],
        };
        let mut last = String::new();
        let mut tls_v1 = false;
        for argv in &candidates {
            let mut cli = ComposeCli {
                program: argv[0].clone(),
                prefix: argv[1..].to_vec(),
                flavor: Flavor::V2,
                version: String::new(),
                env: env.clone(),
                trace: trace.clone(),
            };
            let mut version_cmd = cli.command();
            version_cmd.args(["version", "--short"]);
            let started = std::time::Instant::now();
            let result = version_cmd.output();
            trace.call(&super::describe(&version_cmd), started);
            let out = match result {
                Ok(o) if o.status.success() => o,
                Ok(o) => {
                    // Stopped by Ctrl-C or a closed terminal: not a missing Compose (no
                    // fallback to the other one).
                    if let Some(signal) = super::process::stopped_by(o.status) {
                        return Err(super::process::interrupted(
                            signal,
                            "docker compose version",
                        ));
                    }
                    last = tail(&o, 1);
                    continue;
                }
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let version = String::from_utf8_lossy(&out.stdout)
                .trim()
                .trim_start_matches('v')
                .to_string();
            cli.flavor = if version.starts_with("1.") {
                Flavor::V1
            } else {
                Flavor::V2
            };
            // docker-compose 1.x (docker-py) fails certificate verification against TLS
            // engines that the docker CLI and Compose v2 accept: say so instead of its error.
            if cli.flavor == Flavor::V1 && !tunnelled && endpoint.transport() == Transport::Tls {
                last = format!(
                    "Compose v1 ({version}) is not supported with a TLS engine ({})",
                    endpoint.host
                );
                tls_v1 = true;
                continue;
            }
            // Compose v1 behind Podman's API: networks with a subnet are recreated on the next
            // `up` (Podman reports an IPAM option v1 did not set), so a `start` fails.
            if cli.flavor == Flavor::V1 && super::endpoint::answers_as_podman(&socket) {
                last = format!(
                    "Compose v1 ({version}) is not supported with Podman ({}): it cannot start a session's network again (\"IPAM option driver has changed\")",
                    endpoint.host
                );
                podman_v1 = true;
                continue;
            }
            cli.version = version;
            return Ok(cli);
        }
        if podman_v1 {
            return Err(Error::usage(last)
                .with_hint("use Compose v2 (`docker compose`; DEV_PRISM_COMPOSE=v2)"));
        }
        if tls_v1 {
            return Err(Error::usage(last).with_hint(
                "use Compose v2 (`docker compose`; DEV_PRISM_COMPOSE=v2), or reach the engine over ssh://",
            ));
        }
        let tried: Vec<String> = candidates.iter().map(|c| c.join(" ")).collect();
        Err(Error::from(Problem::NoCompose { tried, cause: last }).with_hint(INSTALL_HINT))
    }

    fn base(&self, dir: &Path, project: &str, files: &[String]) -> Command {
        let mut c = self.command();
        c.current_dir(dir).arg("-p").arg(project);
        for f in files {
            c.arg("-f").arg(f);
        }
        c
    }

    /// `up -d` for the given services (`--remove-orphans`, `--no-deps` as asked). Retries
    /// Docker's "port is already allocated" race. Interruptible: dropping the future kills
    /// Compose.
    pub async fn up(
        &self,
        dir: &Path,
        project: &str,
        files: &[String],
        services: &[String],
        profiles: &[String],
        (remove_orphans, no_deps): (bool, bool),
    ) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut c = self.base(dir, project, files);
            for p in profiles {
                c.arg("--profile").arg(p);
            }
            c.args(["up", "-d"]);
            if remove_orphans {
                c.arg("--remove-orphans");
            }
            if no_deps {
                c.arg("--no-deps");
            }
            c.arg("--").args(services);
            let out =
                super::process::output(&mut c, "docker compose", true, INSTALL_HINT, &self.trace)
                    .await?;
            if out.status.success() {
                return Ok(());
            }
            let why = tail(&out, 8);
            if why.contains("port is already allocated") && attempt < 4 {
                continue;
            }
            let all = format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
            let pulls = pull_failures(&all);
            if !pulls.is_empty() {
                return Err(self.missing_images(dir, project, files, pulls));
            }
            let hint = if why.contains("address pool") {
                "Docker's default pools (about 30 networks) are full: session default networks \
                 take subnets from `subnetPool`, but networks your compose file declares do \
                 not; give them an `ipam` subnet, remove sessions you no longer need (`dev-prism \
                 prune`), or give dockerd more `default-address-pools`"
            } else if crate::subnet::is_overlap_error(&why) {
                "another network took the subnet each retry picked: run the command again, or \
                 give `subnetPool` a less crowded range"
            } else {
                "fix the cause above"
            };
            return Err(Error::from(Problem::Compose {
                command: "up".into(),
                stderr: why,
            })
            .with_hint(hint));
        }
    }

    /// The error for images that are neither local nor pullable: each service with its image
    /// (read from Compose's resolved configuration when its output did not say) and the
    /// registry's reason.
    fn missing_images(
        &self,
        dir: &Path,
        project: &str,
        files: &[String],
        pulls: Vec<PullFailure>,
    ) -> Error {
        let needs_config = pulls.iter().any(|p| p.image.is_none());
        let images: serde_json::Value = if needs_config {
            let mut c = self.base(dir, project, files);
            c.args(["config", "--format", "json"]);
            c.stdin(std::process::Stdio::null())
                .output()
                .ok()
                .and_then(|o| serde_json::from_slice(&o.stdout).ok())
                .unwrap_or_default()
        } else {
            serde_json::Value::Null
        };
        let lines: Vec<String> = pulls
            .iter()
            .map(|p| {
                let image = p
                    .image
                    .clone()
                    .or_else(|| {
                        images["services"][&p.service]["image"]
                            .as_str()
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| "(unknown)".into());
                format!(
                    "service `{}` needs image `{image}`, which is missing locally, and the registry could not provide it: {}",
                    p.service, p.reason
                )
            })
            .collect();
        Error::failure(lines.join("\n")).with_hint(
            "build or load the image (`docker build`, `docker load`), fix `image:` in the compose file, or check the registry and `docker login`",
        )
    }

    /// Streams logs (stdout and stderr inherited; the last `tail` lines, then new ones when
    /// `follow`) until the services stop or `cancel` reports a signal (Ctrl-C, SIGTERM,
    /// SIGHUP). Returns `true` when streaming ended because of a signal.
    pub async fn stream_logs(
        &self,
        dir: &Path,
        project: &str,
        files: &[String],
        services: &[String],
        (tail, follow): (usize, bool),
        cancel: &mut super::process::Cancel,
    ) -> Result<bool> {
        let mut c = self.base(dir, project, files);
        c.args(["logs", "--tail", &tail.to_string()]);
        if follow {
            c.arg("--follow");
        }
        c.arg("--").args(services);
        c.stdin(std::process::Stdio::null());
        let mut child = c
            .spawn()
            .map_err(|e| Error::run("could not run", "docker compose logs", e))?;
        loop {
            tokio::select! {
                // Ctrl-C, SIGTERM, SIGHUP. On a terminal the child got the same SIGINT; when
                // only we did, stop it.
                _ = cancel.wait() => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Ok(true);
                }
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                    let status = child
                        .try_wait()
                        .map_err(|e| Error::failure(format!("docker compose logs failed: {e}")))?;
                    match status {
                        None => {}
                        Some(s) if s.success() => return Ok(false),
                        // Nobody reads the logs any more (`| head -1`): Compose failed to
                        // write them, which is the end the reader asked for.
                        Some(_) if super::process::stdout_closed() => return Ok(false),
                        Some(s) => {
                            return Err(Error::from(Problem::Exited {
                                command: "docker compose logs".into(),
                                status: s,
                            }))
                        }
                    }
                }
            }
        }
    }

    /// The last `n` log lines of one service (for explaining a failure).
    pub fn logs_tail(
        &self,
        dir: &Path,
        project: &str,
        files: &[String],
        service: &str,
        n: usize,
    ) -> String {
        let mut c = self.base(dir, project, files);
        c.args(["logs", "--no-color", "--tail", &n.to_string(), service]);
        match c.stdin(std::process::Stdio::null()).output() {
            Ok(o) => {
                let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&o.stderr));
                text.trim_end().to_string()
            }
            Err(_) => String::new(),
        }
    }
}

/// A service whose image Compose could not pull.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PullFailure {
    service: String,
    /// Compose v1 names it; v2 does not.
    image: Option<String>,
    /// The registry's answer.
    reason: String,
}

/// Pull failures in Compose's output: v2 prints ` web Error <reason>` after ` web Pulling`,
/// v1 `Pulling web (image)...` followed by the reason.
fn pull_failures(output: &str) -> Vec<PullFailure> {
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    let mut out: Vec<PullFailure> = vec![];
    let pulling: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_suffix(" Pulling"))
        .map(|s| s.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()))
        .collect();
    for l in &lines {
        // v2: the service's own error line (others are cancelled once one fails).
        let l = l.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
        if let Some((service, reason)) = l.split_once(" Error ") {
            if pulling.contains(&service) && !reason.contains("context canceled") {
                out.push(PullFailure {
                    service: service.into(),
                    image: None,
                    reason: reason.trim().into(),
                });
            }
        }
    }
    // Podman's API answers a failed pull with no ` web Error` line: only its own error,
    // `initializing source docker://IMAGE: reason`, named to the one service pulling.
    if let ([service], true) = (pulling.as_slice(), out.is_empty()) {
        if let Some((image, reason)) = lines.iter().find_map(|l| {
            l.strip_prefix("initializing source docker://")?
                .split_once(": ")
        }) {
            out.push(PullFailure {
                service: service.to_string(),
                image: Some(image.into()),
                reason: reason.into(),
            });
        }
    }
    for (i, l) in lines.iter().enumerate() {
        // v1: `Pulling web (image:tag)...` then the reason on a following line.
        let Some(rest) = l.strip_prefix("Pulling ") else {
            continue;
        };
        let Some((service, image)) = rest.trim_end_matches("...").split_once(" (") else {
            continue;
        };
        let reason = lines[i + 1..]
            .iter()
            .find(|r| !r.is_empty() && !r.starts_with("Pulling "))
            .map(|r| r.trim_start_matches("ERROR: ").to_string());
        if let Some(reason) = reason {
            out.push(PullFailure {
                service: service.into(),
                image: Some(image.trim_end_matches(')').into()),
                reason,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_failures_of_both_compose_versions() {
        let v2 = " db Pulling \n web Pulling \n db Error Get \"https://registry-1.docker.io/v2/\": no such host\n web Error context canceled\nError response from daemon: Get \"https://registry-1.docker.io/v2/\": no such host\n";
        assert_eq!(
            pull_failures(v2),
            vec![PullFailure {
                service: "db".into(),
                image: None,
                reason: "Get \"https://registry-1.docker.io/v2/\": no such host".into()
            }]
        );
        let v1 = "Creating network \"p_default\" with the default driver\nPulling web (missing-image:9)...\nERROR: pull access denied for missing-image, repository does not exist\n";
        assert_eq!(
            pull_failures(v1),
            vec![PullFailure {
                service: "web".into(),
                image: Some("missing-image:9".into()),
                reason: "pull access denied for missing-image, repository does not exist".into()
            }]
        );
        assert!(pull_failures("Error response from daemon: port is already allocated").is_empty());
        // Podman 4.3 behind Compose v2 (recorded).
        let podman = " web Pulling \ninitializing source docker://dev-prism-test-no-such-image:0: pinging container registry registry-1.docker.io: Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host\n";
        assert_eq!(
            pull_failures(podman),
            vec![PullFailure {
                service: "web".into(),
                image: Some("dev-prism-test-no-such-image:0".into()),
                reason: "pinging container registry registry-1.docker.io: Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host".into()
            }]
        );
    }
}
