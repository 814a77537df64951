//! The room boundaries the compiler cannot enforce under the one-package layout: collectors
//! never use outputters or cadence, outputters never use collectors.

use std::path::Path;

fn sources(dir: &str) -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("folder exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            out.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    assert!(!out.is_empty());
    out
}

fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.starts_with("//"))
}

#[test]
fn collectors_know_nothing_of_sinks() {
    for (path, text) in sources("collectors") {
        for line in code_lines(&text) {
            assert!(
                !line.contains("outputters") && !line.contains("cadence"),
                "{path}: {line}"
            );
        }
    }
}

#[test]
fn outputters_know_nothing_of_providers() {
    for (path, text) in sources("outputters") {
        for line in code_lines(&text) {
            assert!(
                !line.contains("collectors") && !line.contains("pagerduty"),
                "{path}: {line}"
            );
        }
    }
}
