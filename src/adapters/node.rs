//! Reads a `session.config.mjs`/`.js` by asking node for its default export as JSON.

use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::ui::Trace;

const SCRIPT: &str = "const {pathToFileURL} = require('url');\
import(pathToFileURL(process.argv[1]).href).then(m => {\
  const c = m.default === undefined ? {} : m.default;\
  process.stdout.write(JSON.stringify(c));\
}).catch(e => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });";

/// The module's default export, as JSON text.
pub fn export_json(t: &Trace, path: &Path) -> Result<String> {
    let started = std::time::Instant::now();
    let output = Command::new("node")
        .arg("-e")
        .arg(SCRIPT)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .output();
    t.call(&format!("node (import {})", path.display()), started);
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::usage(format!(
                "{} is a JavaScript module, and reading it needs node, which is not installed",
                path.display()
            ))
            .with_hint(
                "install node, or convert it: write the same object as session.config.yaml",
            ))
        }
        Err(e) => return Err(Error::run("could not run", "node", e)),
    };
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let first = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        return Err(Error::usage(format!(
            "{} could not be loaded by node: {first}",
            path.display()
        ))
        .with_hint(
            "fix the module so that `node` can import it; its default export is the config",
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
