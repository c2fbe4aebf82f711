//! The live progress line of `headcount wait` on a terminal: the counter going
//! down, the live leases, the time waited. Drawn on stderr and cleared at the end.

use std::sync::mpsc;
use std::time::Duration;

use headcount_redis::{RedisWaitGroup, Result};
use indicatif::{ProgressBar, ProgressStyle};

/// How often the line is redrawn, and how often the group's status is read.
const TICK: Duration = Duration::from_millis(100);
const POLL: Duration = Duration::from_secs(1);

/// The line's text for a status.
fn line(wg: &RedisWaitGroup) -> Option<String> {
    let s = wg.status().ok()?;
    Some(format!(
        "{}: count {}, {} live lease(s), round {}",
        s.group, s.count, s.leases_total, s.generation
    ))
}

/// Waits as `wg.wait()` / `wg.wait_timeout(t)` while showing the progress line.
pub(crate) fn wait(wg: RedisWaitGroup, timeout: Option<Duration>) -> Result<()> {
    let (tx, rx) = mpsc::channel();
    let waiter = wg.clone();
    std::thread::spawn(move || {
        let r = match timeout {
            Some(t) => waiter.wait_timeout(t),
            None => waiter.wait(),
        };
        let _ = tx.send(r);
    });
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{spinner} waiting {elapsed:>4} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.enable_steady_tick(TICK);
    bar.set_message(format!("{}: reading the group", wg.name()));
    let mut next_poll = std::time::Instant::now();
    let r = loop {
        if std::time::Instant::now() >= next_poll {
            if let Some(l) = line(&wg) {
                bar.set_message(l);
            }
            next_poll += POLL;
        }
        match rx.recv_timeout(TICK) {
            Ok(r) => break r,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(headcount_redis::Error::Protocol(
                    "the waiting thread ended".into(),
                ))
            }
        }
    };
    bar.finish_and_clear();
    r
}
