//! Progress of a batch run: a bar with rate and ETA on a terminal, a plain line every few
//! seconds otherwise (cron mails, CI logs, workflow-manager task logs), nothing with --quiet.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub(crate) enum Progress {
    Bar(ProgressBar),
    Plain {
        total: u64,
        done: u64,
        failed: u64,
        started: Instant,
        last: Instant,
    },
    Quiet,
}

impl Progress {
    pub(crate) fn new(total: u64, quiet: bool) -> Progress {
        if quiet {
            return Progress::Quiet;
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta} {msg}",
                )
                .expect("static template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            return Progress::Bar(bar);
        }
        let now = Instant::now();
        Progress::Plain {
            total,
            done: 0,
            failed: 0,
            started: now,
            last: now,
        }
    }

    pub(crate) fn record(&mut self, failed_so_far: u64) {
        match self {
            Progress::Bar(bar) => {
                bar.inc(1);
                if failed_so_far > 0 {
                    bar.set_message(format!("{failed_so_far} failed"));
                }
            }
            Progress::Plain {
                done, failed, last, ..
            } => {
                *done += 1;
                *failed = failed_so_far;
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    self.print_plain();
                }
            }
            Progress::Quiet => {}
        }
    }

    fn print_plain(&self) {
        if let Progress::Plain {
            total,
            done,
            failed,
            started,
            ..
        } = self
        {
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let rate = *done as f64 / secs;
            let eta = if rate > 0.0 {
                format!("{:.0}s", (total - done) as f64 / rate)
            } else {
                "?".into()
            };
            let pct = if *total > 0 {
                100.0 * *done as f64 / *total as f64
            } else {
                100.0
            };
            eprintln!(
                "batch: {done}/{total} records ({pct:.0}%), {rate:.1} records/s, ETA {eta}, {failed} failed"
            );
        }
    }

    pub(crate) fn finish(&self) {
        match self {
            Progress::Bar(bar) => bar.finish(),
            Progress::Plain { total, .. } if *total > 0 => self.print_plain(),
            Progress::Plain { .. } | Progress::Quiet => {}
        }
    }
}
