//! The documentation as a reader follows it: every relative link in README.md and docs/*.md
//! names a file that exists and, with `#anchor`, a heading that file has (GitHub's anchors);
//! every page longer than two screens opens with a table of contents; the README stays short
//! and states the MSRV that Cargo.toml really has, once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// README.md and every docs/*.md.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![Path::new(ROOT).join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 7, "docs/ has its pages: {docs:?}");
    pages.extend(docs);
    pages
}

/// The lines of a page outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced: Option<&str> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        let fence = if t.starts_with("````") {
            Some("````")
        } else if t.starts_with("```") {
            Some("```")
        } else {
            None
        };
        match (fenced, fence) {
            (None, Some(f)) => fenced = Some(f),
            (Some(open), Some(f)) if f == open && t.trim_end() == f => fenced = None,
            (None, None) => out.push(line),
            _ => {}
        }
    }
    out
}

/// Removes inline code spans, so `[a](b)` inside backticks is no link.
fn without_code(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push('`');
        } else if !in_code {
            out.push(c);
        }
    }
    out
}

/// The targets of `[text](target)` and `![alt](target)` links on a page.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        let line = without_code(line);
        let mut rest = line.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's anchor for a heading: lowercase, inline markup dropped, spaces to `-`, every
/// character other than letters, digits, `-` and `_` removed; repeats get `-1`, `-2`, ….
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in prose(text) {
        let Some(title) = line.strip_prefix('#') else {
            continue;
        };
        let title = title.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let base: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let mut slug = base.clone();
        let mut n = 0;
        while seen.contains(&slug) {
            n += 1;
            slug = format!("{base}-{n}");
        }
        seen.insert(slug);
    }
    seen
}

#[test]
fn anchors_follow_github() {
    let a = anchors("# Graphite output (`PTSD_OUTPUTS=graphite`)\n## ptsd's own metrics\n## A\n## A\n```\n# not a heading\n```\n");
    let want: BTreeSet<String> = [
        "graphite-output-ptsd_outputsgraphite",
        "ptsds-own-metrics",
        "a",
        "a-1",
    ]
    .map(String::from)
    .into();
    assert_eq!(a, want);
    assert_eq!(
        links("see [x](a.md#b) and ![p](c.png), not `[y](z.md)`\n```\n[q](nope.md)\n```\n"),
        ["a.md#b", "c.png"]
    );
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match link.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            checked += 1;
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", page.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                let target_text = std::fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&target_text).contains(anchor) {
                    broken.push(format!("{}: {link} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} links found: is the parser blind?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// A page longer than two screens (100 lines) lists its sections before the first one: the
/// first `##` heading comes after a list of links to the page's own anchors, one per `##`.
#[test]
fn long_pages_open_with_a_table_of_contents() {
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        if text.lines().count() <= 100 {
            continue;
        }
        let first_section = text.find("\n## ").expect("sections");
        let head = &text[..first_section];
        let own = anchors(&text);
        let listed: BTreeSet<String> = links(head)
            .into_iter()
            .filter_map(|l| l.strip_prefix('#').map(String::from))
            .collect();
        let sections: Vec<String> = prose(&text)
            .iter()
            .filter(|l| l.starts_with("## "))
            .map(|l| anchors(l).into_iter().next().unwrap())
            .collect();
        for s in &sections {
            assert!(
                listed.contains(s),
                "{}: the contents at the top lack #{s}",
                page.display()
            );
        }
        assert!(listed.is_subset(&own), "{}", page.display());
    }
}

#[test]
fn the_readme_fits_a_few_screens_and_states_the_true_msrv_once() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 300, "README.md has {lines} lines");
    let cargo = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let msrv = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version in Cargo.toml")
        .trim_matches('"');
    let mut stated = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for line in text.lines() {
            for word in ["Rust 1.", "cargo 1.", "rustc 1.", "MSRV"] {
                if line.contains(word) {
                    stated.push((page.display().to_string(), line.to_string()));
                }
            }
        }
    }
    assert_eq!(stated.len(), 1, "the MSRV is stated once: {stated:?}");
    assert!(
        stated[0].1.contains(&format!("Rust {msrv} ")),
        "{stated:?} is not Cargo.toml's {msrv}"
    );
}
