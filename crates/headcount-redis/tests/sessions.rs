//! The exactly-once protocol of `group.lua` (client sessions with sequence
//! numbers), driven both through `RedisWaitGroup` and by calling the script
//! directly, as a client that resends or reorders calls would.

mod support;

use std::collections::{BTreeMap, HashMap};

use headcount_redis::RedisWaitGroup;
use redis::{Script, Value};
use support::{script_fields, RedisServer};

const KEYS: [&str; 7] = [
    "state", "events", "leases", "members", "fenced", "failures", "sessions",
];

/// One call of the script as the client sends it; the named fields of its reply
/// without the version (these tests are about sessions).
fn call(
    conn: &mut redis::Connection,
    group: &str,
    op: &str,
    session: &str,
    seq: u64,
    expect: &str,
    args: &[&str],
) -> BTreeMap<String, String> {
    let script = Script::new(include_str!("../src/group.lua"));
    let mut inv = script.prepare_invoke();
    for k in KEYS {
        inv.key(format!("headcount:{{{group}}}:{k}"));
    }
    // No version seen; the default idle expiry (7 days); no wake channel.
    inv.arg(op)
        .arg(session)
        .arg(seq)
        .arg(expect)
        .arg(0)
        .arg(604_800_000u64)
        .arg("");
    for a in args {
        inv.arg(*a);
    }
    let mut fields = script_fields(inv.invoke::<Value>(conn).unwrap());
    if !fields.contains_key("e") {
        assert!(fields.remove("v").is_some(), "no version: {fields:?}");
    }
    fields
}

/// A reply with exactly these fields.
fn reply(fields: &[(&str, &str)]) -> BTreeMap<String, String> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn state(server: &RedisServer, group: &str) -> HashMap<String, String> {
    redis::cmd("HGETALL")
        .arg(format!("headcount:{{{group}}}:state"))
        .query(&mut server.conn())
        .unwrap()
}

/// The number of a session's last applied call, from its record
/// (`<number>:<minute>`).
fn last_call(record: &str) -> u64 {
    let (n, minute) = record.split_once(':').expect("a session record");
    assert!(minute.parse::<u64>().is_ok(), "{record}");
    n.parse().unwrap()
}

fn sessions(server: &RedisServer, group: &str) -> Vec<String> {
    let mut s: Vec<String> = state(server, group)
        .into_keys()
        .filter(|k| k.starts_with("s:"))
        .collect();
    s.sort();
    s
}

/// Resend and straggler, on a group without leases (the script's fast path) or
/// with one (the general path, which reaps first): the same answers.
fn resend_and_straggler(with_lease: bool) {
    let server = RedisServer::start();
    let mut c = server.conn();
    let created = call(&mut c, "g", "add", "sessA", 1, "", &["10"]);
    assert!(!created.contains_key("e"), "{created:?}");
    let inst = created["i"].clone();
    let mut seq_a = 2;
    if with_lease {
        let joined = call(
            &mut c,
            "g",
            "join",
            "sessA",
            2,
            &inst,
            &["w1", "60000", "1"],
        );
        assert_eq!(joined, reply(&[("i", &inst)]));
        seq_a = 3;
    }

    let first = call(&mut c, "g", "done", "sessA", seq_a, &inst, &[""]);
    assert_eq!(first, reply(&[("i", &inst)]));
    assert_eq!(server.raw_count("g"), Some(9));
    // The same call again (its reply was lost): same reply, counted once.
    let again = call(&mut c, "g", "done", "sessA", seq_a, &inst, &[""]);
    assert_eq!(again, first);
    assert_eq!(server.raw_count("g"), Some(9));

    // The next call of the session is applied.
    let next = call(&mut c, "g", "done", "sessA", seq_a + 1, &inst, &[""]);
    assert_eq!(next, reply(&[("i", &inst)]));
    assert_eq!(server.raw_count("g"), Some(8));
    // A straggler from before (a call its client gave up on) is refused, unapplied.
    let before = state(&server, "g");
    let late = call(&mut c, "g", "done", "sessA", seq_a, &inst, &[""]);
    let (late_seq, last_seq) = (seq_a.to_string(), (seq_a + 1).to_string());
    assert_eq!(
        late,
        reply(&[("e", "stale"), ("s", &late_seq), ("ls", &last_seq)])
    );
    assert_eq!(state(&server, "g"), before, "a refused call wrote");

    // Another session is independent of the first one's numbers.
    let other = call(&mut c, "g", "done", "sessB", 1, &inst, &[""]);
    assert_eq!(other, reply(&[("i", &inst)]));
    assert_eq!(server.raw_count("g"), Some(7));
    assert_eq!(sessions(&server, "g"), ["s:sessA", "s:sessB"]);

    // Down to zero: the zero event is written once, not again by a resend.
    for seq in 2..8 {
        call(&mut c, "g", "done", "sessB", seq, &inst, &[""]);
    }
    let events = || -> usize {
        redis::cmd("XLEN")
            .arg("headcount:{g}:events")
            .query(&mut server.conn())
            .unwrap()
    };
    assert_eq!(server.raw_count("g"), Some(1));
    let zero = if with_lease {
        // The last done is the lease's.
        call(&mut c, "g", "done", "sessA", seq_a + 2, &inst, &["w1"])
    } else {
        call(&mut c, "g", "done", "sessA", seq_a + 2, &inst, &[""])
    };
    assert_eq!(zero, reply(&[("i", &inst)]));
    assert_eq!(server.raw_count("g"), Some(0));
    // The group's `created` event and the zero event.
    assert_eq!(events(), 2);
    let resent = call(&mut c, "g", "done", "sessA", seq_a + 2, &inst, &[""]);
    assert_eq!(resent, zero);
    assert_eq!(events(), 2, "a resent last done wrote a second zero event");
    assert_eq!(server.raw_count("g"), Some(0));
}

#[test]
fn a_resent_call_is_answered_once_and_a_late_one_is_refused() {
    resend_and_straggler(false);
}

#[test]
fn a_resent_call_is_answered_once_and_a_late_one_is_refused_with_leases() {
    resend_and_straggler(true);
}

#[test]
fn a_refused_call_is_not_remembered() {
    let server = RedisServer::start();
    let mut c = server.conn();
    let inst = call(&mut c, "g", "add", "s", 1, "", &["1"])["i"].clone();
    let refused = call(&mut c, "g", "add", "s", 2, &inst, &["-2"]);
    assert_eq!(
        refused,
        reply(&[("e", "negative"), ("c", "1"), ("d", "-2")])
    );
    // Sent again, it is judged again (not answered from a record), and still refused.
    let refused = call(&mut c, "g", "add", "s", 2, &inst, &["-2"]);
    assert_eq!(
        refused,
        reply(&[("e", "negative"), ("c", "1"), ("d", "-2")])
    );
    assert_eq!(server.raw_count("g"), Some(1));
    assert_eq!(
        last_call(&state(&server, "g")["s:s"]),
        1,
        "the session's record moved"
    );
}

#[test]
fn many_operations_keep_the_number_of_keys_and_fields_constant() {
    let server = RedisServer::start();
    let wg = RedisWaitGroup::open(server.client(), "steady").unwrap();
    wg.add(2_000).unwrap();
    let keys_before = server.dbsize();
    let fields_before = state(&server, "steady").len();
    for _ in 0..1_999 {
        wg.done().unwrap();
    }
    assert_eq!(server.dbsize(), keys_before, "keys grew with operations");
    assert_eq!(
        state(&server, "steady").len(),
        fields_before,
        "state fields grew with operations"
    );
    assert_eq!(sessions(&server, "steady").len(), 1);
    wg.done().unwrap();
    wg.wait().unwrap();
}

fn zset(c: &mut redis::Connection, key: &str) -> Vec<String> {
    redis::cmd("ZRANGE")
        .arg(format!("headcount:{{g}}:{key}"))
        .arg(0)
        .arg(-1)
        .query(c)
        .unwrap()
}

#[test]
fn idle_sessions_are_collected_a_few_per_call_and_live_ones_kept() {
    let server = RedisServer::start();
    let mut c = server.conn();
    let inst = call(&mut c, "g", "add", "old1", 1, "", &["100"])["i"].clone();
    call(&mut c, "g", "done", "old2", 1, &inst, &[""]);
    call(&mut c, "g", "done", "busy", 1, &inst, &[""]);
    assert_eq!(sessions(&server, "g"), ["s:busy", "s:old1", "s:old2"]);
    // Pretend old1 and old2 made their last call long ago (scores are the Redis
    // clock of each session's last call).
    for s in ["old1", "old2"] {
        let _: () = redis::cmd("ZADD")
            .arg("headcount:{g}:sessions")
            .arg(0)
            .arg(s)
            .query(&mut c)
            .unwrap();
    }
    // A call of a known session collects nothing ...
    call(&mut c, "g", "done", "busy", 2, &inst, &[""]);
    assert_eq!(sessions(&server, "g"), ["s:busy", "s:old1", "s:old2"]);
    // ... a call that creates a record collects them, even a plain done on the
    // fast path: records cannot pile up faster than they are collected.
    call(&mut c, "g", "done", "fresh", 1, &inst, &[""]);
    assert_eq!(sessions(&server, "g"), ["s:busy", "s:fresh"]);
    // The sentinel '' stays, so the key exists while the group does.
    let mut members = zset(&mut c, "sessions");
    members.sort();
    assert_eq!(members, ["", "busy", "fresh"]);
    // A collected session that comes back starts over: its call is applied.
    let back = call(&mut c, "g", "done", "old1", 2, &inst, &[""]);
    assert_eq!(back, reply(&[("i", &inst)]));
    assert_eq!(server.raw_count("g"), Some(95));
}

#[test]
fn a_dropped_handle_forgets_its_sessions_unless_a_call_was_resent() {
    let server = RedisServer::start();
    {
        let wg = RedisWaitGroup::open(server.client(), "g").unwrap();
        wg.add(10).unwrap();
        wg.done().unwrap();
        assert_eq!(sessions(&server, "g").len(), 1);
    }
    assert_eq!(sessions(&server, "g"), Vec::<String>::new());
    assert_eq!(zset(&mut server.conn(), "sessions"), [""]);
    // A call resent after a dropped reply may still have a straggler in flight:
    // its session stays until the server collects it.
    let proxy = support::Proxy::start(server.port);
    {
        let client = redis::Client::open(proxy.url()).unwrap();
        let wg = RedisWaitGroup::open(client, "g").unwrap();
        wg.done().unwrap();
        proxy.drop_next_reply();
        wg.done().unwrap();
        assert!(!proxy.armed());
    }
    assert_eq!(sessions(&server, "g").len(), 1);
    assert_eq!(server.raw_count("g"), Some(7));
}

#[test]
fn a_dropped_async_handle_forgets_its_sessions_from_a_task() {
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let wg = RedisWaitGroup::open(server.client(), "g").unwrap();
        wg.add_async(2).await.unwrap();
        wg.done_async().await.unwrap();
        assert_eq!(sessions(&server, "g").len(), 1);
        drop(wg);
        // The forget runs on a task of this runtime.
        let t = std::time::Instant::now();
        while !sessions(&server, "g").is_empty() {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(10),
                "never forgotten"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
    assert_eq!(server.raw_count("g"), Some(1));
}

#[test]
fn threads_sharing_a_handle_each_run_in_a_session_of_their_own() {
    let server = RedisServer::start();
    let wg = RedisWaitGroup::open(server.client(), "shared").unwrap();
    wg.add(8 * 100).unwrap();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..100 {
                    wg.done().unwrap();
                }
            });
        }
    });
    assert_eq!(server.raw_count("shared"), Some(0));
    wg.wait().unwrap();
    let n = sessions(&server, "shared").len();
    assert!((1..=8).contains(&n), "{n} sessions for 8 threads");
    // Every session's last call number is the number of calls it ran (1-based),
    // and together they ran the add and the 800 dones.
    let calls: u64 = state(&server, "shared")
        .iter()
        .filter(|(k, _)| k.starts_with("s:"))
        .map(|(_, v)| last_call(v))
        .sum();
    assert_eq!(calls, 801);
}

#[test]
fn the_event_stream_stays_bounded_over_many_rounds() {
    let server = RedisServer::start();
    let wg = RedisWaitGroup::open(server.client(), "rounds").unwrap();
    for _ in 0..1_300 {
        wg.add(1).unwrap();
        wg.done().unwrap();
    }
    let len: usize = redis::cmd("XLEN")
        .arg("headcount:{rounds}:events")
        .query(&mut server.conn())
        .unwrap();
    // 100 kept, plus what approximate trimming leaves (whole nodes of 100 entries).
    assert!((100..=300).contains(&len), "{len} events kept");
    wg.wait().unwrap();
}
