//! The waiters of one process share a watcher per server only when they reach it
//! the same way: handles whose certificates differ (another CA, no client
//! certificate) do not share one. A misconfigured handle's waiter fails with its
//! own error (`Tls`) and does not make the watcher fail for a correctly
//! configured handle's waiters; nor is it served through a connection that its
//! own settings would not have made.

mod support;
#[path = "support/tls.rs"]
mod tls;

use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::{Error, Options, RedisWaitGroup};
use tls::{Certs, TlsServer};

const LONG: Duration = Duration::from_secs(30);

/// A wait of `wg` that fails with `Tls` at once (the retry window is 20 s).
#[track_caller]
fn assert_wait_refused(what: &str, wg: &RedisWaitGroup) {
    let t = Instant::now();
    let r = wg.wait_timeout(LONG);
    assert!(matches!(r, Err(Error::Tls { .. })), "{what}: {r:?}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "{what}: {:?}",
        t.elapsed()
    );
}

/// A correctly configured handle's round: add, a waiter (blocked, then released
/// at the zero), done.
#[track_caller]
fn round(wg: &RedisWaitGroup) {
    wg.add(1).unwrap();
    let waiter = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    support::await_local_waiters(wg, 1);
    wg.done().unwrap();
    waiter.join().unwrap().unwrap();
}

#[test]
fn handles_with_different_certificates_do_not_share_a_watcher() {
    let certs = Certs::make();
    let retry = |o: Options| o.retry_window(Duration::from_secs(20));
    let no_client_cert = || retry(Options::new().tls_ca(certs.read("ca.crt")));
    let wrong_ca = || retry(certs.options("other-ca.crt"));

    // A misconfigured handle waits first: its waiter fails; a correct handle's
    // waiter, after it, is served.
    let server = TlsServer::start(&certs);
    let open = |name: &str, opts: Options| {
        RedisWaitGroup::open_url_with(&server.url(), name, opts).unwrap()
    };
    let good = open("shared", certs.options("ca.crt"));
    good.add(1).unwrap();
    assert_wait_refused(
        "no client certificate, first",
        &open("shared", no_client_cert()),
    );
    assert_wait_refused("wrong CA, first", &open("shared", wrong_ca()));
    good.done().unwrap();
    round(&good);

    // A correct handle waits first (its watcher is up): a misconfigured handle's
    // waiter is still refused, not served through that watcher's connection.
    let server = TlsServer::start(&certs);
    let open = |name: &str, opts: Options| {
        RedisWaitGroup::open_url_with(&server.url(), name, opts).unwrap()
    };
    let good = open("shared", certs.options("ca.crt"));
    good.add(1).unwrap();
    let waiter = {
        let good = good.clone();
        thread::spawn(move || good.wait_timeout(LONG))
    };
    support::await_local_waiters(&good, 1);
    assert_wait_refused(
        "no client certificate, second",
        &open("shared", no_client_cert()),
    );
    assert_wait_refused("wrong CA, second", &open("shared", wrong_ca()));
    assert!(!waiter.is_finished());
    good.done().unwrap();
    waiter.join().unwrap().unwrap();
}

/// A client certificate the server refuses (signed by a CA it does not trust):
/// `Tls` at the first attempt, not retried for the 20 s retry window, for a
/// call and a waiter, blocking and async.
#[test]
fn a_refused_client_certificate_is_a_tls_error_at_once() {
    let certs = Certs::make();
    certs.make_foreign_client();
    let server = TlsServer::start(&certs);
    let opts = Options::new()
        .tls_ca(certs.read("ca.crt"))
        .tls_client_cert(certs.read("foreign.crt"), certs.read("foreign.key"))
        .retry_window(Duration::from_secs(20));
    let wg = RedisWaitGroup::open_url_with(&server.url(), "foreign", opts).unwrap();
    tls::assert_every_call_is_a_tls_error_at_once(&wg);
}
