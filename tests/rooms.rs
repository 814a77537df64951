//! The room boundaries the compiler cannot enforce under the one-package layout (collectors/
//! and outputters/ are modules of the one crate):
//! - collectors never use outputters, cadence, the engine's state or the metric schema;
//! - outputters never use collectors or name a provider;
//! - `src/` (the engine, analysis, report) names no provider outside comments and unit tests,
//!   so adding a provider never needs an edit there;
//! - no source file grows past 1,200 lines.
//!
//! Every folder is walked, so a component that grows into a folder is checked too.

use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("folder exists") {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `.rs` file under `dir` (relative to the crate root), with its text.
fn sources(dir: &str) -> Vec<(String, String)> {
    let mut paths = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut paths);
    assert!(!paths.is_empty(), "{dir} holds no source");
    paths
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

/// The lines of code: comments and everything from the unit tests on (`#[cfg(test)]`) left out.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .map(str::trim)
        .filter(|l| !l.starts_with("//"))
}

/// Every provider's registry name, except the demo feed (which `--demo`, an engine flag, names).
fn providers() -> Vec<&'static str> {
    ptsd::collectors::REGISTRY
        .iter()
        .map(|r| r.name)
        .filter(|n| *n != ptsd::collectors::DEMO)
        .collect()
}

#[test]
fn collectors_know_nothing_of_sinks_state_or_schema() {
    for (path, text) in sources("collectors") {
        for line in code_lines(&text) {
            for banned in ["outputters", "cadence", "crate::state", "crate::schema"] {
                assert!(!line.contains(banned), "{path} uses {banned}: {line}");
            }
        }
    }
}

#[test]
fn outputters_know_nothing_of_providers() {
    let providers = providers();
    assert!(providers.len() >= 2, "{providers:?}");
    for (path, text) in sources("outputters") {
        for line in code_lines(&text) {
            assert!(!line.contains("collectors"), "{path}: {line}");
            for p in &providers {
                assert!(!line.to_lowercase().contains(p), "{path} names {p}: {line}");
            }
        }
    }
}

#[test]
fn the_engine_names_no_provider() {
    let providers = providers();
    // Unit tests may use provider names as data; a `tests.rs` beside a module is all tests.
    for (path, text) in sources("src")
        .into_iter()
        .filter(|(p, _)| !p.ends_with("/tests.rs"))
    {
        for line in code_lines(&text) {
            for p in &providers {
                assert!(!line.to_lowercase().contains(p), "{path} names {p}: {line}");
            }
        }
    }
}

#[test]
fn no_source_file_is_over_1200_lines() {
    for dir in ["src", "collectors", "outputters"] {
        for (path, text) in sources(dir) {
            let n = text.lines().count();
            assert!(n <= 1_200, "{path} has {n} lines; split it by concern");
        }
    }
}
