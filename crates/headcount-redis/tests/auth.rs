//! Authentication, databases, ACL users and secrets, against a real `redis-server`
//! with a password and ACL users created by each test.

mod support;

use std::time::Duration;

use headcount_redis::{redact_url, Error, RedisWaitGroup, ACL_RULE};
use support::RedisServer;

/// The default user's password: distinctive, so that any output holding it is found.
const PASSWORD: &str = "pw-Zq7xK2mV9sRt";
/// The ACL users' password.
const USER_SECRET: &str = "usr-Hj4nW8pL3cYe";

/// A server whose default user needs `PASSWORD`; returns an admin connection.
fn secured(server: &RedisServer) -> redis::Connection {
    let mut plain = server.conn();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(PASSWORD)
        .exec(&mut plain)
        .unwrap();
    redis::Client::open(server.url_as("", PASSWORD))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Creates ACL user `name` with `USER_SECRET` and exactly `rule`.
fn acl_user(admin: &mut redis::Connection, name: &str, rule: &str) {
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER")
        .arg(name)
        .arg("reset")
        .arg("on")
        .arg(format!(">{USER_SECRET}"));
    for part in rule.split_whitespace() {
        cmd.arg(part);
    }
    cmd.exec(admin).unwrap();
}

fn open(url: &str, name: &str) -> RedisWaitGroup {
    RedisWaitGroup::open_url(url, name).unwrap()
}

/// Asserts that neither secret appears in `text`.
#[track_caller]
fn assert_secret_free(text: &str) {
    assert!(
        !text.contains(PASSWORD) && !text.contains(USER_SECRET),
        "a secret leaked: {text}"
    );
}

/// Asserts `r` failed with an error whose Display and Debug keep the secrets.
#[track_caller]
fn error_of<T: std::fmt::Debug>(r: Result<T, Error>) -> Error {
    let e = r.expect_err("expected an error");
    assert_secret_free(&e.to_string());
    assert_secret_free(&format!("{e:?}"));
    e
}

/// add, a wait that times out, a lease's done, done, wait, status, count: the whole
/// cycle of a group.
fn cycle(wg: &RedisWaitGroup) -> Result<(), Error> {
    wg.add(2)?;
    // A wait that blocks in `XREAD` before it times out.
    match wg.wait_timeout(Duration::from_millis(50)) {
        Err(Error::Timeout { count: 2, .. }) => {}
        Err(e) => return Err(e),
        Ok(()) => panic!("released at 2"),
    }
    let lease = wg.join(Duration::from_secs(5))?;
    lease.done()?;
    wg.done()?;
    wg.wait_timeout(Duration::from_secs(5))?;
    let status = wg.status()?;
    assert_eq!(status.count, 0);
    assert_eq!(wg.count()?, 0);
    Ok(())
}

#[test]
fn a_missing_or_wrong_password_and_a_missing_database_are_named() {
    let server = RedisServer::start();
    let _admin = secured(&server);
    let e = error_of(open(&server.url(), "g").add(1));
    assert!(matches!(e, Error::AuthRequired { .. }), "{e:?}");
    assert!(e.to_string().contains("authentication required"), "{e}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = error_of(rt.block_on(open(&server.url(), "g").add_async(1)));
    assert!(matches!(e, Error::AuthRequired { .. }), "{e:?}");
    // A wait's first call is the script, its reads are `XREAD`: both are named.
    let e = error_of(open(&server.url(), "g").wait_timeout(Duration::from_secs(1)));
    assert!(matches!(e, Error::AuthRequired { .. }), "{e:?}");

    let wrong = server.url_as("", "not-the-password");
    let e = error_of(open(&wrong, "g").add(1));
    assert!(matches!(e, Error::AuthFailed { user: None, .. }), "{e:?}");
    assert!(e.to_string().contains("wrong password"), "{e}");
    let e = error_of(open(&server.url_as("nobody", PASSWORD), "g").add(1));
    assert!(
        matches!(&e, Error::AuthFailed { user: Some(u), .. } if u == "nobody"),
        "{e:?}"
    );

    let e = error_of(open(&format!("{}/99", server.url_as("", PASSWORD)), "g").add(1));
    assert!(matches!(e, Error::NoSuchDatabase { db: 99, .. }), "{e:?}");
    // The right password and an existing database: the cycle runs.
    cycle(&open(&format!("{}/3", server.url_as("", PASSWORD)), "g")).unwrap();
}

#[test]
fn a_user_with_exactly_the_documented_acl_rule_runs_the_whole_cycle() {
    let server = RedisServer::start();
    let mut admin = secured(&server);
    acl_user(&mut admin, "hc", ACL_RULE);
    // After a script flush: `SCRIPT LOAD` is part of the cycle too.
    redis::cmd("SCRIPT").arg("FLUSH").exec(&mut admin).unwrap();
    cycle(&open(&server.url_as("hc", USER_SECRET), "least")).unwrap();
    // With a database number (`SELECT`), and async.
    let url = format!("{}/2", server.url_as("hc", USER_SECRET));
    cycle(&open(&url, "least")).unwrap();
    let wg = open(&url, "least");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        wg.add_async(1).await?;
        wg.done_async().await?;
        wg.wait_timeout_async(Duration::from_secs(5)).await?;
        wg.count_async().await
    })
    .unwrap();
    // Keys outside `headcount:*` are out of reach of this user.
    let other: redis::RedisResult<Option<String>> = redis::cmd("GET").arg("other").query(
        &mut redis::Client::open(server.url_as("hc", USER_SECRET))
            .unwrap()
            .get_connection()
            .unwrap(),
    );
    assert!(other.is_err());
}

#[test]
fn a_user_lacking_a_command_of_the_rule_gets_an_error_naming_it() {
    let server = RedisServer::start();
    let mut admin = secured(&server);
    let commands: Vec<&str> = ACL_RULE
        .split_whitespace()
        .filter_map(|w| w.strip_prefix('+'))
        .collect();
    let mut named = Vec::new();
    for (i, lacking) in commands.iter().enumerate() {
        let user = format!("lacks{i}");
        let without = format!("+{lacking}");
        let rule: Vec<&str> = ACL_RULE
            .split_whitespace()
            .filter(|w| *w != without)
            .collect();
        let rule = rule.join(" ");
        acl_user(&mut admin, &user, &rule);
        redis::cmd("SCRIPT").arg("FLUSH").exec(&mut admin).unwrap();
        let url = format!("{}/1", server.url_as(&user, USER_SECRET));
        match cycle(&open(&url, &format!("g{i}"))) {
            // A command only some paths use (trimming, collection, a broken round).
            Ok(()) => {}
            Err(e) => {
                assert_secret_free(&e.to_string());
                assert_secret_free(&format!("{e:?}"));
                match &e {
                    Error::NoPermission {
                        user: Some(u),
                        command: Some(c),
                        ..
                    } if u == &user && c == lacking => named.push(*lacking),
                    other => panic!("without `{lacking}`: {other:?}"),
                }
                assert!(e.to_string().contains(&format!("`{lacking}`")), "{e}");
            }
        }
    }
    // Those every cycle needs are always among them: the client's own commands and
    // the script's reads and writes.
    for needed in [
        "evalsha",
        "script|load",
        "xread",
        "select",
        "hmget",
        "hset",
        "zadd",
        "time",
    ] {
        assert!(
            named.contains(&needed),
            "`{needed}` was not named: {named:?}"
        );
    }
    // Keys: a user whose key pattern does not cover the group's keys.
    acl_user(
        &mut admin,
        "elsewhere",
        &ACL_RULE.replace("~headcount:*", "~other:*"),
    );
    let e = error_of(open(&server.url_as("elsewhere", USER_SECRET), "g").add(1));
    assert!(
        matches!(e, Error::NoPermission { command: None, .. }),
        "{e:?}"
    );
}

#[test]
fn urls_errors_and_debug_output_never_show_a_password() {
    for url in [
        format!("redis://:{PASSWORD}@127.0.0.1:notaport"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379:x"),
        format!("redis://user:{PASSWORD}@[::1"),
        format!("nonsense://:{PASSWORD}@host"),
        format!("redis://u:{PASSWORD} with space@host"),
        format!("redis://u:pa/{PASSWORD}@host:99999"),
        format!("redis+unix:///nonexistent.sock?pass={PASSWORD}&db=x"),
        format!("redis://:{PASSWORD}@"),
    ] {
        match RedisWaitGroup::open_url(&url, "g") {
            // Parsed (nothing is sent yet): the handle's Debug keeps it.
            Ok(wg) => assert_secret_free(&format!("{wg:?}")),
            Err(e) => {
                assert!(matches!(e, Error::InvalidUrl { .. }), "{e:?}");
                error_of::<()>(Err(e));
            }
        }
        assert_secret_free(&redact_url(&url));
    }
    assert_eq!(
        redact_url(&format!(
            "at redis://:{PASSWORD}@h:1/0 and 'rediss://u:{PASSWORD}@h'"
        )),
        "at redis://:***@h:1/0 and 'rediss://u:***@h'"
    );
    // A working handle, its lease, its status and a failure: nothing shows it.
    let server = RedisServer::start();
    let _admin = secured(&server);
    let wg = open(&server.url_as("", PASSWORD), "shown");
    wg.add(1).unwrap();
    let lease = wg.join(Duration::from_secs(5)).unwrap();
    for text in [
        format!("{wg:?}"),
        format!("{lease:?}"),
        format!("{:?}", wg.status().unwrap()),
        wg.status().unwrap().to_string(),
    ] {
        assert_secret_free(&text);
    }
    error_of(wg.wait_timeout(Duration::from_millis(100)));
    lease.done().unwrap();
    let wrong = format!("redis://:{USER_SECRET}@127.0.0.1:{}", server.port);
    error_of(open(&wrong, "shown").add(1));
}
