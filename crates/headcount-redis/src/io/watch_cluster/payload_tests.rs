//! What the group's script publishes on a Redis Cluster, read back as the
//! watcher reads it: every kind of event, with field values that hold colons,
//! digits, several bytes per character, nothing at all, or hundreds of bytes.

#[path = "../../../tests/support/cluster.rs"]
mod cluster;
/// The TLS certificates the cluster support can start nodes with (this test's
/// cluster is plain TCP).
mod tls {
    pub(crate) struct Certs;

    impl Certs {
        pub(crate) fn path(&self, _file: &str) -> String {
            unreachable!("the cluster of this test is plain TCP")
        }
    }
}

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redis::{PushKind, Value};

use super::parse_event;
use crate::{Options, RedisWaitGroup};

/// The fields of an entry as bytes (a stream entry's and a parsed event's
/// values are both bulk strings).
fn fields(map: &HashMap<String, Value>) -> HashMap<String, Vec<u8>> {
    map.iter()
        .map(|(k, v)| match v {
            Value::BulkString(b) => (k.clone(), b.clone()),
            other => panic!("field {k} is {other:?}"),
        })
        .collect()
}

/// Every event the script appends to a group's stream (created; zero from the
/// fast path and from the general one, of a sound and of a broken round;
/// broken by a failed participant, with a long name full of colons and digits
/// and a detail in several-byte characters, or with no detail at all; deleted)
/// is published as a payload that parses into exactly the stream's entry: same
/// id, same fields, same bytes.
#[test]
fn every_published_event_parses_into_the_entry_it_mirrors() {
    let cluster = cluster::Cluster::start();
    let name = cluster.name_on(0, "payload");
    let channel = format!("headcount:{{{name}}}:wake");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (tx, mut pushes) = tokio::sync::mpsc::unbounded_channel();
    let client = redis::cluster::ClusterClientBuilder::new(cluster.urls())
        .use_protocol(redis::ProtocolVersion::RESP3)
        .push_sender(tx)
        .build()
        .unwrap();
    let mut listener = rt.block_on(client.get_async_connection()).unwrap();
    rt.block_on(listener.ssubscribe(&channel)).unwrap();

    let urls = cluster.urls();
    let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
    let wg = RedisWaitGroup::open_cluster(&seeds, &name, Options::new()).unwrap();
    let ttl = Duration::from_secs(30);
    // created, then a zero on the fast path.
    wg.add(1).unwrap();
    wg.done().unwrap();
    // broken by a failure, then the broken round's zero.
    let long_name = format!("{}:7:{}", "12:34".repeat(60), "x".repeat(200));
    wg.add(2).unwrap();
    let lease = wg.join_as(&long_name, ttl, 1).unwrap();
    lease.fail("exit status: 2 (détail ✓) 3:4:5").unwrap();
    wg.done().unwrap();
    // A failure with no detail ends its round at once.
    wg.add(1).unwrap();
    wg.join_as("0", ttl, 1).unwrap().fail("").unwrap();
    // A zero on the general path (a lease paid).
    wg.add(1).unwrap();
    wg.join_as("w:1", ttl, 1).unwrap().done().unwrap();
    let entries: Vec<redis::streams::StreamId> = {
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(format!("headcount:{{{name}}}:events"))
            .arg("-")
            .arg("+")
            .query(&mut cluster.nodes[0].conn())
            .unwrap();
        reply.ids
    };
    wg.delete().unwrap();

    let mut events = Vec::new();
    let t = Instant::now();
    while events.len() < entries.len() + 1 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{} events published, {} in the stream (and deleted)",
            events.len(),
            entries.len()
        );
        let Ok(push) = pushes.try_recv() else {
            std::thread::sleep(Duration::from_millis(10));
            // The listener's connection is driven by its runtime.
            rt.block_on(tokio::task::yield_now());
            continue;
        };
        if push.kind != PushKind::SMessage {
            continue;
        }
        let Some(Value::BulkString(payload)) = push.data.get(1) else {
            panic!("{push:?}");
        };
        let event = parse_event(payload)
            .unwrap_or_else(|| panic!("not parsed: {:?}", String::from_utf8_lossy(payload)));
        events.push(event);
    }
    let kinds: Vec<String> = events
        .iter()
        .map(|e| e.get::<String>("type").unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        ["created", "zero", "broken", "zero", "broken", "zero", "zero", "deleted"],
        "{events:?}"
    );
    for (event, entry) in events.iter().zip(&entries) {
        assert_eq!(event.id, entry.id);
        assert_eq!(fields(&event.map), fields(&entry.map), "{}", entry.id);
    }
    let broken = &events[2];
    assert_eq!(
        broken.get::<String>("who").as_deref(),
        Some(long_name.as_str())
    );
    assert_eq!(
        broken.get::<String>("detail").as_deref(),
        Some("exit status: 2 (détail ✓) 3:4:5")
    );
    assert_eq!(events[4].get::<String>("detail").as_deref(), Some(""));
    let deleted = events.last().unwrap();
    let last = entries.last().unwrap();
    assert_eq!(deleted.get::<String>("inst"), last.get::<String>("inst"));
    assert_eq!(deleted.get::<String>("gen"), last.get::<String>("gen"));
    assert_eq!(deleted.map.len(), 3, "{deleted:?}");
    drop(listener);
}
