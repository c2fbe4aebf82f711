//! Group names and the Redis keys of a group.
//!
//! Every key of group `NAME` starts with `headcount:{NAME}:`. The braces are a Redis
//! Cluster hash tag: all keys of one group hash to one slot, so the multi-key Lua
//! script runs on Redis Cluster too. Names may not contain braces (or anything
//! outside `[A-Za-z0-9_.:-]`), so the tag is always exactly the name.

use crate::error::{Error, Result};

/// The longest group name accepted, in bytes.
pub(crate) const MAX_NAME_LEN: usize = 128;

/// Checks a group name.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_NAME_LEN {
        "it is longer than 128 bytes"
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
    {
        "only letters, digits and `_ . : -` are allowed"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

/// The keys of one group, in the order the Lua script expects them (`KEYS[1..=7]`),
/// and on a Redis Cluster its wake channel.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(crate) fixed: [String; 7],
    /// `headcount:{NAME}:wake`, the shard channel the script publishes every event
    /// on when asked to (on a Redis Cluster only; see `io/watch_cluster.rs`). Not
    /// a key of the script: a key that never exists would make every call during
    /// a slot migration fail with `TRYAGAIN`.
    pub(crate) wake: Option<String>,
}

impl Keys {
    pub(crate) fn new(name: &str) -> Keys {
        let prefix = format!("headcount:{{{name}}}:");
        let fixed = [
            "state", "events", "leases", "members", "fenced", "failures", "sessions",
        ]
        .map(|suffix| format!("{prefix}{suffix}"));
        Keys { fixed, wake: None }
    }

    /// The keys of a group on a Redis Cluster, with the wake channel (in the same
    /// hash slot as the keys).
    pub(crate) fn with_wake(name: &str) -> Keys {
        Keys {
            wake: Some(format!("headcount:{{{name}}}:wake")),
            ..Keys::new(name)
        }
    }

    /// The stream waiters read.
    pub(crate) fn events(&self) -> &str {
        &self.fixed[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("ci-build_42.shard:3").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a{b}").is_err());
        assert!(validate_name("has space").is_err());
        assert!(validate_name(&"x".repeat(129)).is_err());
        assert!(validate_name(&"x".repeat(128)).is_ok());
    }

    #[test]
    fn keys_share_one_hash_tag() {
        let k = Keys::new("job");
        for key in &k.fixed {
            assert!(key.starts_with("headcount:{job}:"), "{key}");
        }
        assert_eq!(k.wake, None);
        let wake = Keys::with_wake("job").wake.unwrap();
        assert_eq!(wake, "headcount:{job}:wake");
        let slot = |k: &str| redis::cluster_routing::Slot::for_key(k);
        assert_eq!(slot(&wake), slot(k.events()));
    }
}
