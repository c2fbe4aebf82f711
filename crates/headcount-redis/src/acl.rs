//! The least-privilege ACL rule: the keys and commands a group needs.

/// The Redis ACL rule a least-privilege user needs for every operation of this
/// crate and of the `headcount` CLI: the key pattern of all groups and, one by one,
/// the commands sent by the client (`EVALSHA`, `SCRIPT LOAD` after a `NOSCRIPT`,
/// `XREAD`, `SELECT` for a URL with a database number, `WAIT` for
/// [`Options::min_replicas`](crate::Options::min_replicas), `INFO` for the
/// eviction warning of `status`, `CLIENT ID` and `CLIENT UNBLOCK` for the waiters'
/// shared watcher to end its own blocked read when a new waiter arrives: without
/// them waiters still work, a new one joining within 2 s; on a Redis Cluster also
/// `EXISTS` of a group's key, to find the node that owns its slot, and `ASKING`
/// while the slot migrates) and those called inside the group's script.
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
+time +client|id +client|unblock +asking +exists +hget +hmget +hset +hdel +hexists +hlen +unlink +pexpireat \
+llen +lrange +rpush +xadd +xrevrange +xtrim +zadd +zcard +zrange +zrangebyscore +zrem";

#[cfg(test)]
mod tests {
    use super::ACL_RULE;
    use std::collections::BTreeSet;

    /// Commands sent by the client library itself, not found in this crate's source.
    const CLIENT_SIDE: [&str; 2] = ["script|load", "select"];

    fn granted() -> BTreeSet<String> {
        ACL_RULE
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
        }
        used.insert("evalsha".into());
        // `CLIENT` is sent with the subcommands `ID` and `UNBLOCK` (the watcher).
        if used.remove("client") {
            used.extend(["client|id".into(), "client|unblock".into()]);
        }
        assert!(used.contains("xread") && used.contains("hset"), "{used:?}");
        let granted = granted();
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
        assert!(include_str!("../../headcount-cli/README.md").contains(&line));
    }
}
