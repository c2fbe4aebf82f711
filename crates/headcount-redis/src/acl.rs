//! The least-privilege ACL rule: the keys and commands a group needs.

/// The Redis ACL rule a least-privilege user needs for every operation of this
/// crate and of the `headcount` CLI: the key pattern of all groups and, one by one,
/// the commands sent by the client (`EVALSHA`, `SCRIPT LOAD` after a `NOSCRIPT`,
/// `XREAD`, `SELECT` for a URL with a database number, `WAIT` for
/// [`Options::min_replicas`](crate::Options::min_replicas), `INFO` for the
/// eviction warning of `status`, `CLIENT ID` and `CLIENT UNBLOCK` for the waiters'
/// shared watcher to end its own blocked read when a new waiter arrives: without
/// them waiters still work, a new one joining within 2 s) and those called inside
/// the group's script. A Redis Cluster user also needs [`ACL_CLUSTER_RULE`].
///
/// Create the user with it (Redis 7):
///
/// ```text
/// ACL SETUSER headcount reset on >PASSWORD ~headcount:* +evalsha +script|load ...
/// ```
///
/// and connect with `redis://headcount:PASSWORD@host:6379`. A user lacking one of
/// these commands gets [`Error::NoPermission`](crate::Error::NoPermission) naming it.
///
/// # Examples
///
/// ```
/// let rule = headcount_redis::ACL_RULE;
/// assert!(rule.starts_with("~headcount:* "));
/// assert!(rule.contains(" +evalsha "));
/// ```
pub const ACL_RULE: &str = "~headcount:* +evalsha +script|load +xread +select +wait +info \
+time +client|id +client|unblock +exists +hget +hmget +hset +hdel +hexists +hlen +unlink +pexpireat \
+llen +lrange +rpush +xadd +xrevrange +xtrim +zadd +zcard +zrange +zrangebyscore +zrem";

/// What a Redis Cluster user needs besides [`ACL_RULE`]: the groups' wake
/// channels (`&headcount:*`), `SPUBLISH` (the group's script publishes every event
/// on its channel), `SSUBSCRIBE` and `SUNSUBSCRIBE` (the process's watcher
/// listens there, while the group is waited on) and the commands of the `redis`
/// crate's cluster client (`CLUSTER SLOTS`, to learn which node owns which slot,
/// `PING`, to check the nodes it connects to, and `ASKING` while a slot
/// migrates). Redis 7 only; a single server or Sentinel user does not need it
/// (and Redis 6 does not know these commands).
///
/// Create the user with both (on every node of the cluster):
///
/// ```text
/// ACL SETUSER headcount reset on >PASSWORD ~headcount:* +evalsha ... &headcount:* +spublish ...
/// ```
///
/// # Examples
///
/// ```
/// use headcount_redis::{ACL_CLUSTER_RULE, ACL_RULE};
/// let rule = format!("{ACL_RULE} {ACL_CLUSTER_RULE}");
/// assert!(rule.contains(" &headcount:* "));
/// ```
pub const ACL_CLUSTER_RULE: &str =
    "&headcount:* +spublish +ssubscribe +sunsubscribe +cluster|slots +ping +asking";

#[cfg(test)]
mod tests {
    use super::{ACL_CLUSTER_RULE, ACL_RULE};
    use std::collections::BTreeSet;

    /// Commands sent by the client library itself, not found in this crate's source
    /// (the cluster client's topology query and its redirects during a migration).
    const CLIENT_SIDE: [&str; 5] = ["script|load", "select", "cluster|slots", "ping", "asking"];

    fn granted() -> BTreeSet<String> {
        format!("{ACL_RULE} {ACL_CLUSTER_RULE}")
            .split_whitespace()
            .filter_map(|w| w.strip_prefix('+'))
            .map(str::to_owned)
            .collect()
    }

    /// Every quoted name following `marker` in `text`, lower case.
    fn called(text: &str, marker: &str, quote: char) -> BTreeSet<String> {
        text.split(marker)
            .skip(1)
            .filter_map(|rest| rest.strip_prefix(quote)?.split(quote).next())
            .map(str::to_ascii_lowercase)
            .collect()
    }

    #[test]
    fn the_rule_names_exactly_the_commands_the_crate_sends() {
        let mut used = called(crate::script::SOURCE, "redis.call(", '\'');
        used.extend(called(crate::script::SOURCE, "redis.pcall(", '\''));
        for src in [
            include_str!("io/conn.rs"),
            include_str!("group.rs"),
            include_str!("lease.rs"),
            include_str!("status.rs"),
            include_str!("wait.rs"),
            include_str!("io/watch.rs"),
            include_str!("io/watch_cluster.rs"),
        ] {
            used.extend(called(src, "redis::cmd(", '"'));
            // The client library's typed stream read sends `XREAD`.
            if src.contains(".xread_options(") {
                used.insert("xread".into());
            }
            // The cluster client's typed shard subscriptions.
            for sub in ["ssubscribe", "sunsubscribe"] {
                if src.contains(&format!(".{sub}(")) {
                    used.insert(sub.into());
                }
            }
        }
        used.insert("evalsha".into());
        // `CLIENT` is sent with the subcommands `ID` and `UNBLOCK` (the watcher).
        if used.remove("client") {
            used.extend(["client|id".into(), "client|unblock".into()]);
        }
        assert!(used.contains("xread") && used.contains("hset"), "{used:?}");
        let granted = granted();
        assert!(
            ACL_CLUSTER_RULE.starts_with("&headcount:* "),
            "the wake channels"
        );
        let missing: Vec<_> = used.difference(&granted).collect();
        assert!(missing.is_empty(), "ACL_RULE lacks {missing:?}");
        let extra: Vec<_> = granted
            .iter()
            .filter(|c| !used.contains(*c) && !CLIENT_SIDE.contains(&c.as_str()))
            .collect();
        assert!(extra.is_empty(), "ACL_RULE grants unused {extra:?}");
    }

    #[test]
    fn both_readmes_state_the_rule() {
        let line = format!("ACL SETUSER headcount reset on >PASSWORD {ACL_RULE}\n");
        assert!(include_str!("../README.md").contains(&line));
        assert!(include_str!("../README.md").contains(&format!("+zrem {ACL_CLUSTER_RULE}\n")));
        assert!(include_str!("../../headcount-cli/README.md").contains(ACL_CLUSTER_RULE));
        assert!(include_str!("../../headcount-cli/README.md").contains(&line));
    }
}
