//! `headcount --sentinel` with sentinels and a primary that speak only TLS and
//! want a client certificate: `--tls-ca` without `--tls-cert`/`--tls-key` is exit
//! 3 at once, one line naming TLS, for a call and a `wait`.

#[path = "../../headcount-redis/tests/support/sentinel.rs"]
mod sentinel;
#[path = "../../headcount-redis/tests/support/mod.rs"]
mod support;
#[path = "../../headcount-redis/tests/support/tls.rs"]
mod tls;

mod common;
use common::run;

use std::process::Command;
use std::time::{Duration, Instant};

use sentinel::{Sentinels, Setup, MASTER};
use tls::{Certs, TlsServer};

#[test]
fn cli_tls_sentinels_without_a_client_certificate_are_exit_3_at_once() {
    let certs = Certs::make();
    let primary = TlsServer::start(&certs);
    let sentinels = Sentinels::start_with(
        primary.port,
        0,
        Setup {
            tls: Some(&certs),
            ..Setup::default()
        },
    );
    for args in [
        vec!["add", "cli-tls-no-cert", "1"],
        vec!["wait", "cli-tls-no-cert", "--timeout", "30s"],
    ] {
        let t = Instant::now();
        let (code, _, err) = run(Command::new(env!("CARGO_BIN_EXE_headcount"))
            .args(["--sentinel", MASTER, "--redis", &sentinels.urls().join(",")])
            .args(["--tls-ca", &certs.path("ca.crt")])
            .args(&args));
        assert_eq!(code, 3, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err:?}");
        assert!(err.contains("TLS"), "{err}");
        // Refused at the first attempt, not after the 10 s retry window.
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{args:?}: {:?}",
            t.elapsed()
        );
    }
}
