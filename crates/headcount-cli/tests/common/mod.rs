//! Helpers shared by the CLI's integration tests (each test file includes this module).

use std::process::{Command, Output, Stdio};

/// Runs the command with no standard input: its exit code (-1 when killed by a signal),
/// standard output and standard error.
pub(crate) fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.stdin(Stdio::null()).output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}
