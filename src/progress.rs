//! Progress of the one-shot reads (`ptsd report`, `ptsd logs`) on a terminal: an `indicatif`
//! bar on stderr with the time reached, the requests made and the entries read, drawn only
//! when stderr is a terminal (a cron job's mail stays clean). Log lines written while the bar
//! is shown go through [`StderrWriter`], which lifts the bar for them, so a warning is never
//! torn by a redraw.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::Reached;
use crate::event::Window;

/// The bar being shown, for [`StderrWriter`] to lift around a log line.
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// A progress bar over a period read by every collector in turn.
pub struct Progress {
    bar: ProgressBar,
    window: Window,
    collectors: u64,
}

impl Progress {
    /// A bar on stderr when it is a terminal, else one that draws nothing.
    pub fn on_stderr(window: Window, collectors: usize) -> Progress {
        let target = if std::io::stderr().is_terminal() {
            // 10 redraws a second at most; a long read changes more slowly than that.
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress::with_target(window, collectors, target)
    }

    /// A bar drawing to `target` (tests use [`ProgressDrawTarget::term_like`]).
    pub fn with_target(window: Window, collectors: usize, target: ProgressDrawTarget) -> Progress {
        let collectors = collectors.max(1) as u64;
        let length = collectors * seconds(window);
        let bar = ProgressBar::with_draw_target(Some(length), target);
        bar.set_style(
            ProgressStyle::with_template("Reading {bar:30} {percent:>3}% {wide_msg}")
                .expect("a valid template")
                .progress_chars("█▓░"),
        );
        bar.set_message(format!("from {}", window.since));
        if !bar.is_hidden() {
            *SHOWN.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
        }
        Progress {
            bar,
            window,
            collectors,
        }
    }

    /// One more window read: moves the bar to the time reached and shows the counts so far.
    pub fn reached(&self, r: &Reached) {
        let done = (r.collector as u64).min(self.collectors - 1) * seconds(self.window)
            + seconds(Window::new(self.window.since, r.until));
        self.bar.set_position(done);
        self.bar.set_message(format!(
            "{}: reached {}, {} requests, {} entries",
            r.provider, r.until, r.requests, r.entries
        ));
    }

    /// Takes the bar off the screen (the report goes to stdout, the bar leaves no trace).
    pub fn finish(self) {
        self.bar.finish_and_clear();
        *SHOWN.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Whole seconds of a window, at least 1 (the bar needs a length).
fn seconds(window: Window) -> u64 {
    window.length().as_secs().max(1) as u64
}

/// Writes log lines to stderr, lifting the progress bar (if one is shown) around each one.
#[derive(Clone, Copy, Default)]
pub struct StderrWriter;

impl Write for StderrWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let shown = SHOWN.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match shown {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for StderrWriter {
    type Writer = StderrWriter;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::InMemoryTerm;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    /// The bar shows the time reached, the requests and the entries, and goes as far as the
    /// share of the period read (two collectors: the second starts at half way).
    #[test]
    fn the_bar_shows_time_reached_requests_and_entries() {
        let term = InMemoryTerm::new(4, 120);
        let window = Window::new(ts("2026-11-23T00:00:00Z"), ts("2026-11-25T00:00:00Z"));
        let progress = Progress::with_target(
            window,
            2,
            ProgressDrawTarget::term_like(Box::new(term.clone())),
        );
        progress.reached(&Reached {
            provider: "pagerduty",
            collector: 0,
            until: ts("2026-11-24T00:00:00Z"),
            requests: 7,
            entries: 512,
        });
        progress.bar.tick();
        let shown = term.contents();
        assert!(shown.contains(" 25%"), "{shown}");
        assert!(
            shown.contains("pagerduty: reached 2026-11-24T00:00:00Z, 7 requests, 512 entries"),
            "{shown}"
        );
        progress.reached(&Reached {
            provider: "opsgenie",
            collector: 1,
            until: ts("2026-11-25T00:00:00Z"),
            requests: 3,
            entries: 40,
        });
        progress.bar.tick();
        let shown = term.contents();
        assert!(shown.contains("100%"), "{shown}");
        assert!(shown.contains("opsgenie: reached"), "{shown}");
        progress.finish();
        assert!(SHOWN.lock().unwrap().is_none());
    }
}
