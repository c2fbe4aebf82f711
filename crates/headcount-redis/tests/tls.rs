//! TLS (`rediss://`): a real `redis-server` listening only on TLS and requiring
//! client certificates, with certificates made by `openssl` at test time. The whole
//! cycle runs over TLS; a wrong CA, a missing client certificate and certificates
//! for a plain URL are clear errors, not hangs.

#[path = "support/tls.rs"]
mod tls;

use std::thread;
use std::time::{Duration, Instant};

use headcount_redis::{Error, Options, RedisWaitGroup};
use tls::{Certs, TlsServer};

const LONG: Duration = Duration::from_secs(30);

#[test]
fn the_whole_cycle_runs_over_tls_with_a_private_ca_and_a_client_certificate() {
    let certs = Certs::make();
    let server = TlsServer::start(&certs);
    let wg =
        RedisWaitGroup::open_url_with(&server.url(), "tls-cycle", certs.options("ca.crt")).unwrap();
    wg.add(2).unwrap();
    let lease = wg.join(Duration::from_secs(10)).unwrap();
    let waiter = {
        let wg = wg.clone();
        thread::spawn(move || wg.wait_timeout(LONG))
    };
    let status = wg.status().unwrap();
    assert_eq!(status.count, 2);
    assert_eq!(status.leases.len(), 1, "{status}");
    lease.done().unwrap();
    assert_eq!(wg.count().unwrap(), 1);
    wg.done().unwrap();
    waiter.join().unwrap().unwrap();
    // The server really holds the group, under its one hash slot.
    let count: String = redis::cmd("HGET")
        .arg("headcount:{tls-cycle}:state")
        .arg("count")
        .query(&mut server.conn(&certs))
        .unwrap();
    assert_eq!(count, "0");
    wg.delete().unwrap();
    let exists: i64 = redis::cmd("EXISTS")
        .arg("headcount:{tls-cycle}:state")
        .query(&mut server.conn(&certs))
        .unwrap();
    assert_eq!(exists, 0);
    assert!(matches!(wg.count(), Err(Error::StateLost { .. })));
}

#[test]
fn an_async_waiter_over_tls_is_released_at_zero() {
    let certs = Certs::make();
    let server = TlsServer::start(&certs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let wg = RedisWaitGroup::open_url_with(&server.url(), "tls-async", certs.options("ca.crt"))
            .unwrap();
        wg.add_async(1).await.unwrap();
        let waiter = {
            let wg = wg.clone();
            tokio::spawn(async move { wg.wait_timeout_async(LONG).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiter.is_finished());
        wg.done_async().await.unwrap();
        waiter.await.unwrap().unwrap();
        assert_eq!(wg.count_async().await.unwrap(), 0);
    });
}

#[test]
fn a_wrong_ca_is_a_tls_error_at_once_not_a_hang_or_a_retry() {
    let certs = Certs::make();
    let server = TlsServer::start(&certs);
    let opts = certs
        .options("other-ca.crt")
        .retry_window(Duration::from_secs(20));
    let wg = RedisWaitGroup::open_url_with(&server.url(), "tls-wrong-ca", opts).unwrap();
    let t = Instant::now();
    let r = wg.add(1);
    match &r {
        Err(e @ Error::Tls { detail, .. }) => {
            assert!(detail.contains("certificate"), "{detail}");
            assert!(e.to_string().contains("TLS"), "{e}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
    // Not retried for the 20 s retry window: refused at the first attempt.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // The same for a waiter.
    let t = Instant::now();
    assert!(matches!(wg.wait_timeout(LONG), Err(Error::Tls { .. })));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Nothing was written.
    let exists: i64 = redis::cmd("EXISTS")
        .arg("headcount:{tls-wrong-ca}:state")
        .query(&mut server.conn(&certs))
        .unwrap();
    assert_eq!(exists, 0);
}

#[test]
fn a_missing_client_certificate_is_a_clear_error_not_a_hang() {
    let certs = Certs::make();
    let server = TlsServer::start(&certs);
    let opts = Options::new()
        .tls_ca(certs.read("ca.crt"))
        .retry_window(Duration::from_secs(20));
    let wg = RedisWaitGroup::open_url_with(&server.url(), "tls-no-cert", opts).unwrap();
    let t = Instant::now();
    let r = wg.add(1);
    assert!(matches!(r, Err(Error::Tls { .. })), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn certificates_for_a_plain_url_or_unreadable_ones_are_refused_before_any_call() {
    let certs = Certs::make();
    let r =
        RedisWaitGroup::open_url_with("redis://127.0.0.1:1", "tls-plain", certs.options("ca.crt"));
    assert!(
        matches!(&r, Err(Error::InvalidUrl { reason, .. }) if reason.contains("rediss://")),
        "{r:?}"
    );
    let garbage =
        Options::new().tls_client_cert(b"not a certificate".to_vec(), b"nor a key".to_vec());
    let r = RedisWaitGroup::open_url_with("rediss://127.0.0.1:1", "tls-garbage", garbage);
    assert!(matches!(&r, Err(Error::Tls { .. })), "{r:?}");
    // The key never shows in `Debug`.
    let shown = format!("{:?}", certs.options("ca.crt"));
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
}

#[test]
fn a_certificate_for_another_host_is_a_tls_error() {
    let certs = Certs::make();
    let server = TlsServer::start(&certs);
    // The server's certificate names IP 127.0.0.1 only, not `localhost`.
    let url = format!("rediss://localhost:{}", server.port);
    let opts = certs
        .options("ca.crt")
        .retry_window(Duration::from_secs(20));
    let wg = RedisWaitGroup::open_url_with(&url, "tls-host", opts).unwrap();
    let t = Instant::now();
    let r = wg.add(1);
    assert!(
        matches!(&r, Err(Error::Tls { detail, .. }) if detail.contains("certificate")),
        "{r:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}
