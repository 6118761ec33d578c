//! Setup outputs (DESIGN §10): files the `setup` commands wrote during create, recorded in a
//! manifest beside the made-by-dev-prism marker (path, size, mtime, hash), so a destroy can
//! tell them — unchanged since — from the user's work. Pure: the adapters walk, hash and
//! store.

use std::collections::BTreeMap;

/// What a file was when it was recorded (or observed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub mtime: i128,
}

/// One recorded output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub stamp: Stamp,
    /// [`crate::util::stable_hash`] of the content.
    pub hash: u64,
}

/// The manifest: relative path → what setup left there.
pub type Outputs = BTreeMap<String, Recorded>;

/// The paths of `after` that are new or changed since `before`: what a setup command wrote.
pub fn written(before: &BTreeMap<String, Stamp>, after: &BTreeMap<String, Stamp>) -> Vec<String> {
    after
        .iter()
        .filter(|(p, s)| before.get(*p) != Some(*s))
        .map(|(p, _)| p.clone())
        .collect()
}

/// The manifest's text: one `size mtime hash path` line per file. Paths holding a newline
/// cannot be written and are left out (they stay the user's).
pub fn render(outputs: &Outputs) -> String {
    let mut text = String::from("# dev-prism setup outputs: size mtime-ns hash path\n");
    for (path, r) in outputs.iter().filter(|(p, _)| !p.contains('\n')) {
        text.push_str(&format!(
            "{} {} {:016x} {path}\n",
            r.stamp.size, r.stamp.mtime, r.hash
        ));
    }
    text
}

/// Reads a manifest; lines it cannot read are skipped (their files are then the user's).
pub fn parse(text: &str) -> Outputs {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.splitn(4, ' ');
            let size = parts.next()?.parse().ok()?;
            let mtime = parts.next()?.parse().ok()?;
            let hash = u64::from_str_radix(parts.next()?, 16).ok()?;
            let path = parts.next()?.to_string();
            Some((
                path,
                Recorded {
                    stamp: Stamp { size, mtime },
                    hash,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_setup_wrote_and_the_manifest_round_trip() {
        let s = |size, mtime| Stamp { size, mtime };
        let before: BTreeMap<String, Stamp> =
            [("a".to_string(), s(1, 10)), ("b".to_string(), s(2, 20))].into();
        let after: BTreeMap<String, Stamp> = [
            ("a".to_string(), s(1, 10)),
            ("b".to_string(), s(2, 25)),
            ("c d/e f".to_string(), s(3, 30)),
        ]
        .into();
        assert_eq!(written(&before, &after), vec!["b", "c d/e f"]);
        let outputs: Outputs = [
            (
                "c d/e f".to_string(),
                Recorded {
                    stamp: s(3, -5),
                    hash: 0xabc,
                },
            ),
            (
                "bad\nname".to_string(),
                Recorded {
                    stamp: s(1, 1),
                    hash: 1,
                },
            ),
        ]
        .into();
        let back = parse(&render(&outputs));
        assert_eq!(back.len(), 1);
        assert_eq!(back["c d/e f"], outputs["c d/e f"]);
        assert!(parse("garbage\n1 2 zz x\n").is_empty());
    }
}
