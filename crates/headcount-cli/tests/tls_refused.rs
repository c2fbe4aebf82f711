//! A client certificate the server refuses (signed by a CA it does not trust):
//! every command, `wait` included, is exit 3 at once with one line naming TLS, not
//! a dropped connection retried for the 10 s retry window.

#[path = "../../headcount-redis/tests/support/tls.rs"]
mod tls;

mod common;
use common::run;

use std::process::Command;
use std::time::{Duration, Instant};

use tls::{Certs, TlsServer};

#[test]
fn cli_a_refused_client_certificate_is_exit_3_at_once() {
    let certs = Certs::make();
    certs.make_foreign_client();
    let server = TlsServer::start(&certs);
    for args in [
        vec!["add", "cli-foreign", "1"],
        vec!["wait", "cli-foreign", "--timeout", "30s"],
    ] {
        let t = Instant::now();
        let (code, _, err) = run(Command::new(env!("CARGO_BIN_EXE_headcount"))
            .args(["--redis", &server.url(), "--tls-ca", &certs.path("ca.crt")])
            .args(["--tls-cert", &certs.path("foreign.crt")])
            .args(["--tls-key", &certs.path("foreign.key")])
            .args(&args));
        assert_eq!(code, 3, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err:?}");
        assert!(err.contains("TLS"), "{err}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{args:?}: {:?}",
            t.elapsed()
        );
    }
}
