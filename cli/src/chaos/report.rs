//! The chaos report: a table of faults x invariants, with what each fault cost.

use super::check::{Verdict, NAMES};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// The verdicts of one phase, as stored.
#[derive(Debug, Serialize, Deserialize)]
struct Phase {
    phase: String,
    not_drained: Vec<String>,
    verdicts: Vec<(String, bool, String)>,
}

/// A fault as the harness injected it.
#[derive(Debug, Deserialize)]
struct Fault {
    phase: String,
    fault: String,
    /// Seconds from the fault until the part was ready again (or the standby took over).
    #[serde(default)]
    recovery_secs: Option<f64>,
}

/// Appends one phase's verdicts to `path`.
///
/// # Errors
/// When the file cannot be written.
pub fn append(
    path: &Path,
    phase: &str,
    moving: &[String],
    verdicts: &[Verdict],
) -> anyhow::Result<()> {
    let p = Phase {
        phase: phase.to_owned(),
        not_drained: moving.to_vec(),
        verdicts: verdicts
            .iter()
            .map(|v| (v.name.to_owned(), v.held, v.detail.clone()))
            .collect(),
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{}", serde_json::to_string(&p)?)?;
    Ok(())
}

fn lines<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect()
}

/// Writes the Markdown report.
///
/// # Errors
/// When a file cannot be read or written.
pub fn write(results: &Path, faults: &Path, out: &Path, title: &str) -> anyhow::Result<()> {
    let phases: Vec<Phase> = lines(results)?;
    let faults: Vec<Fault> = if faults.exists() {
        lines(faults)?
    } else {
        Vec::new()
    };
    let mut md = String::new();
    md.push_str("# Chaos run\n\n");
    if !title.is_empty() {
        md.push_str(&format!("{title}\n\n"));
    }
    md.push_str("Each phase runs the mixed load, injects its fault, heals it, waits for the stack to drain, then checks every invariant over everything so far (✔ held, ✘ broken).\n\n");
    md.push_str("| phase | fault | recovery |");
    for n in NAMES {
        md.push_str(&format!(" {n} |"));
    }
    md.push_str("\n|---|---|---|");
    for _ in NAMES {
        md.push_str("---|");
    }
    md.push('\n');
    let mut broken = 0;
    for p in &phases {
        let f: Vec<&Fault> = faults.iter().filter(|f| f.phase == p.phase).collect();
        let what = f
            .iter()
            .map(|f| f.fault.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let recovery = f
            .iter()
            .filter_map(|f| f.recovery_secs)
            .map(|s| format!("{s:.1} s"))
            .collect::<Vec<_>>()
            .join(", ");
        md.push_str(&format!(
            "| {} | {} | {} |",
            p.phase,
            what,
            if recovery.is_empty() {
                "-".into()
            } else {
                recovery
            }
        ));
        for n in NAMES {
            let mark = match p.verdicts.iter().find(|v| v.0 == n) {
                Some((_, true, _)) => "✔",
                Some((_, false, _)) => {
                    broken += 1;
                    "✘"
                }
                None => "?",
            };
            md.push_str(&format!(" {mark} |"));
        }
        md.push('\n');
    }
    md.push_str(&format!("\n{} phases, {broken} broken verdicts.\n\n## Counts (last phase: cumulative over the run)\n\n", phases.len()));
    for p in &phases {
        md.push_str(&format!("### {}\n\n", p.phase));
        if !p.not_drained.is_empty() {
            md.push_str(&format!("- not drained: {}\n", p.not_drained.join(", ")));
        }
        for (name, held, detail) in &p.verdicts {
            md.push_str(&format!(
                "- {} **{name}**: {detail}\n",
                if *held { "✔" } else { "✘" }
            ));
        }
        md.push('\n');
    }
    std::fs::write(out, md)?;
    Ok(())
}
