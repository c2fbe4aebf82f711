//! The one Lua script (`group.lua`), how a call to it is built, and how its replies
//! are read back into Rust values or [`Error`]s.

use std::sync::LazyLock;

use redis::{Script, ScriptInvocation, Value};

use crate::error::{Error, Result};
use crate::keys::Keys;

/// Every operation on a group runs this script. `redis::Script` sends `EVALSHA` and
/// reloads the script when the server answers `NOSCRIPT` (after a restart or
/// `SCRIPT FLUSH`).
pub(crate) static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SOURCE));

/// The text of `group.lua`.
pub(crate) const SOURCE: &str = include_str!("group.lua");

/// One call of the script, before it is bound to a session (see [`Session`]).
#[derive(Debug, Clone)]
pub(crate) struct Call {
    op: &'static str,
    /// Mutations are remembered in a session, so that a resend is applied once.
    /// Reads and heartbeats are idempotent and are not.
    pub(crate) remember: bool,
    expect: String,
    /// The highest `ver` the client has seen (0: none): an older state is `statelost`.
    seen: u64,
    /// The idle expiry of the group's keys, in ms.
    idle_ms: u64,
    args: Vec<String>,
}

/// A client session of the exactly-once protocol (see `group.lua`): a random id
/// and the sequence number of its next call. A session is used by one call at a
/// time; a call keeps its session and number across resends.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) seq: u64,
    /// Every call of the session so far got its reply at its first attempt.
    pub(crate) clean: bool,
}

impl Session {
    /// A new session: a random id, first call number 1.
    pub(crate) fn new() -> Session {
        Session {
            id: crate::io::conn::random_id(),
            seq: 1,
            clean: true,
        }
    }
}

impl Call {
    pub(crate) fn new(
        op: &'static str,
        remember: bool,
        expect: String,
        seen: u64,
        idle_ms: u64,
        args: Vec<String>,
    ) -> Call {
        Call {
            op,
            remember,
            expect,
            seen,
            idle_ms,
            args,
        }
    }

    /// The same `EVALSHA` as [`invocation`](Self::invocation), as a plain command
    /// that can go in a pipeline (the caller handles `NOSCRIPT`).
    pub(crate) fn eval_cmd(&self, keys: &Keys, session: Option<&Session>) -> redis::Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(SCRIPT.get_hash()).arg(keys.fixed.len());
        for k in &keys.fixed {
            cmd.arg(k);
        }
        cmd.arg(self.op);
        match session {
            Some(s) => cmd.arg(&s.id).arg(s.seq),
            None => cmd.arg("").arg(0),
        };
        cmd.arg(&self.expect).arg(self.seen).arg(self.idle_ms);
        cmd.arg(wake_flag(keys));
        for a in &self.args {
            cmd.arg(a);
        }
        cmd
    }

    /// The operation's name.
    pub(crate) fn op(&self) -> &'static str {
        self.op
    }

    /// The `EVALSHA` of this call, in `session` when it is remembered.
    pub(crate) fn invocation(
        &self,
        keys: &Keys,
        session: Option<&Session>,
    ) -> ScriptInvocation<'static> {
        let mut inv = SCRIPT.prepare_invoke();
        for k in &keys.fixed {
            inv.key(k);
        }
        inv.arg(self.op);
        match session {
            Some(s) => inv.arg(&s.id).arg(s.seq),
            None => inv.arg("").arg(0),
        };
        inv.arg(&self.expect).arg(self.seen).arg(self.idle_ms);
        inv.arg(wake_flag(keys));
        for a in &self.args {
            inv.arg(a);
        }
        inv
    }
}

/// The script's `ARGV[7]`: `1` asks it to publish every event on the group's wake
/// channel (a Redis Cluster client's watcher listens there).
fn wake_flag(keys: &Keys) -> &'static str {
    if keys.wake.is_some() {
        "1"
    } else {
        ""
    }
}

/// Reads a reply value as text (integers are printed).
pub(crate) fn text(v: &Value) -> Result<String> {
    match v {
        Value::BulkString(b) => {
            String::from_utf8(b.clone()).map_err(|_| Error::Protocol("reply is not UTF-8".into()))
        }
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Okay => Ok("OK".into()),
        other => Err(Error::Protocol(format!("expected a string, got {other:?}"))),
    }
}

pub(crate) fn number(v: &Value) -> Result<u64> {
    let t = text(v)?;
    t.parse::<u64>()
        .map_err(|_| Error::Protocol(format!("expected a number, got {t:?}")))
}

fn signed(v: &Value) -> Result<i64> {
    let t = text(v)?;
    t.parse::<i64>()
        .map_err(|_| Error::Protocol(format!("expected a number, got {t:?}")))
}

/// The names of the fields of the script's replies, one constant per row of the
/// table "Replies" in `group.lua`'s header (the names are short: they travel with
/// every reply).
pub(crate) mod field {
    /// The refusal's code; present in refusals only.
    pub(crate) const REFUSAL: &str = "e";
    /// The group's instance id.
    pub(crate) const INST: &str = "i";
    /// The version of the group's counting state.
    pub(crate) const VER: &str = "v";
    /// The counter.
    pub(crate) const COUNT: &str = "c";
    /// The round (generation).
    pub(crate) const GEN: &str = "g";
    /// The last round that was broken (0: none).
    pub(crate) const BROKEN_GEN: &str = "bg";
    /// How that round broke: `lost` or `failed`.
    pub(crate) const BROKEN_KIND: &str = "bk";
    /// The participant that broke it.
    pub(crate) const BROKEN_WHO: &str = "bw";
    /// The `done`s that participant owed.
    pub(crate) const BROKEN_OWED: &str = "bo";
    /// The participant's own account of its failure.
    pub(crate) const BROKEN_DETAIL: &str = "bd";
    /// The last id of the events stream.
    pub(crate) const LAST_ID: &str = "id";
    /// The earliest lease expiry (ms, Redis clock; -1: no lease).
    pub(crate) const NEXT_EXPIRY: &str = "nx";
    /// Redis's clock (ms).
    pub(crate) const NOW: &str = "t";
    /// A lease's expiry (ms, Redis clock).
    pub(crate) const EXPIRY: &str = "x";
    /// The live leases listed (each a reply of its own: participant, owed, expiry).
    pub(crate) const LEASES: &str = "L";
    /// How many leases are live.
    pub(crate) const LEASES_TOTAL: &str = "nl";
    /// The failures listed, one line each.
    pub(crate) const FAILURES: &str = "F";
    /// How many failures the round has.
    pub(crate) const FAILURES_TOTAL: &str = "nf";
    /// A participant.
    pub(crate) const PARTICIPANT: &str = "m";
    /// `done`s owed.
    pub(crate) const OWED: &str = "o";
    /// The `done`s owed by all live leases.
    pub(crate) const CLAIMED: &str = "cl";
    /// The change refused.
    pub(crate) const DELTA: &str = "d";
    /// A call's number in its session.
    pub(crate) const SEQ: &str = "s";
    /// The number of the session's last applied call.
    pub(crate) const LAST_SEQ: &str = "ls";
    /// The operation refused.
    pub(crate) const OP: &str = "op";

    /// Every field name, for checking against `group.lua`'s table.
    #[cfg(test)]
    pub(crate) const ALL: &[&str] = &[
        REFUSAL,
        INST,
        VER,
        COUNT,
        GEN,
        BROKEN_GEN,
        BROKEN_KIND,
        BROKEN_WHO,
        BROKEN_OWED,
        BROKEN_DETAIL,
        LAST_ID,
        NEXT_EXPIRY,
        NOW,
        EXPIRY,
        LEASES,
        LEASES_TOTAL,
        FAILURES,
        FAILURES_TOTAL,
        PARTICIPANT,
        OWED,
        CLAIMED,
        DELTA,
        SEQ,
        LAST_SEQ,
        OP,
    ];
}

/// A reply of the script: named fields (`{name1, value1, name2, value2, ...}` on
/// the wire), read by name. A missing or malformed field is an
/// [`Error::Protocol`] that names it.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// The operation answered, for error messages.
    op: &'static str,
    /// Names and values, alternating.
    items: Vec<Value>,
}

impl Reply {
    /// Reads the flat name/value array of a reply of `op` (a RESP3 map too).
    pub(crate) fn parse(op: &'static str, reply: Value) -> Result<Reply> {
        let items = match reply {
            Value::Array(items) if items.len() % 2 == 0 => items,
            Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            other => {
                return Err(Error::Protocol(format!(
                    "the `{op}` reply is not a list of named fields: {other:?}"
                )))
            }
        };
        Ok(Reply { op, items })
    }

    /// The value of field `name`, if the reply has it.
    pub(crate) fn find(&self, name: &str) -> Option<&Value> {
        self.items.chunks_exact(2).find_map(|kv| match &kv[0] {
            Value::BulkString(k) if k == name.as_bytes() => Some(&kv[1]),
            Value::SimpleString(k) if k == name => Some(&kv[1]),
            _ => None,
        })
    }

    /// The value of field `name`.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] naming the field when the reply lacks it.
    pub(crate) fn get(&self, name: &str) -> Result<&Value> {
        self.find(name).ok_or_else(|| {
            Error::Protocol(format!("the `{}` reply has no field `{name}`", self.op))
        })
    }

    /// Field `name` as text.
    pub(crate) fn text(&self, name: &str) -> Result<String> {
        text(self.get(name)?).map_err(|e| self.malformed(name, e))
    }

    /// Field `name` as an unsigned number.
    pub(crate) fn number(&self, name: &str) -> Result<u64> {
        number(self.get(name)?).map_err(|e| self.malformed(name, e))
    }

    /// Field `name` as a signed number.
    pub(crate) fn signed(&self, name: &str) -> Result<i64> {
        signed(self.get(name)?).map_err(|e| self.malformed(name, e))
    }

    /// Field `name` as a list of values.
    pub(crate) fn list(&self, name: &str) -> Result<&[Value]> {
        match self.get(name)? {
            Value::Array(items) => Ok(items),
            other => Err(self.malformed(
                name,
                Error::Protocol(format!("expected a list, got {other:?}")),
            )),
        }
    }

    fn malformed(&self, name: &str, e: Error) -> Error {
        match e {
            Error::Protocol(why) => {
                Error::Protocol(format!("field `{name}` of the `{}` reply: {why}", self.op))
            }
            other => other,
        }
    }
}

/// Reads a reply of `op`; maps refusals (replies with field `e`) to [`Error`]s.
pub(crate) fn interpret(group: &str, op: &'static str, reply: Value) -> Result<Reply> {
    let reply = Reply::parse(op, reply)?;
    let Some(code) = reply.find(field::REFUSAL) else {
        return Ok(reply);
    };
    let code = text(code)?;
    let group = group.to_owned();
    Err(match code.as_str() {
        "statelost" => Error::StateLost { group },
        "nosuch" => Error::NoSuchGroup { group },
        "negative" => Error::NegativeCounter {
            group,
            count: reply.number(field::COUNT)?,
            delta: reply.signed(field::DELTA)?,
        },
        "overflow" => Error::Overflow {
            group,
            delta: reply.signed(field::DELTA).unwrap_or(i64::MAX),
        },
        "fenced" => Error::Fenced {
            group,
            participant: reply.text(field::PARTICIPANT)?,
        },
        "nolease" => Error::NotJoined {
            group,
            participant: reply.text(field::PARTICIPANT)?,
        },
        "joined" => Error::InvalidArgument(format!(
            "participant `{}` already holds a lease in group `{group}`",
            reply.text(field::PARTICIPANT)?
        )),
        "stale" => Error::Protocol(format!(
            "call {} of its session arrived after call {}",
            reply.text(field::SEQ)?,
            reply.text(field::LAST_SEQ)?
        )),
        "unclaimed" => Error::NothingToJoin {
            group,
            count: reply.number(field::COUNT)?,
            claimed: reply.number(field::CLAIMED)?,
            owed: reply.number(field::OWED)?,
        },
        "badop" => Error::Protocol(format!(
            "the script refused the call of `{}`",
            reply.text(field::OP)?
        )),
        other => Error::Protocol(format!("unknown refusal `{other}`")),
    })
}

/// The reply of the `check` operation: a consistent snapshot of the group, taken
/// after expired leases were reaped.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub(crate) inst: String,
    pub(crate) count: u64,
    pub(crate) gen: u64,
    pub(crate) bgen: u64,
    pub(crate) bkind: String,
    pub(crate) bwho: String,
    pub(crate) bowed: u64,
    pub(crate) bdetail: String,
    /// The last id of the events stream at the snapshot: every event after it
    /// happened after the snapshot.
    pub(crate) last_id: String,
    /// The earliest lease expiry (Redis clock, ms), if any lease is live.
    pub(crate) next_expiry_ms: Option<u64>,
    /// Redis's clock at the snapshot (ms).
    pub(crate) now_ms: u64,
}

impl Check {
    /// Reads the snapshot fields of a `check` (or `status`) reply.
    pub(crate) fn parse(reply: &Reply) -> Result<Check> {
        Ok(Check {
            inst: reply.text(field::INST)?,
            count: reply.number(field::COUNT)?,
            gen: reply.number(field::GEN)?,
            bgen: reply.number(field::BROKEN_GEN)?,
            bkind: reply.text(field::BROKEN_KIND)?,
            bwho: reply.text(field::BROKEN_WHO)?,
            bowed: reply.number(field::BROKEN_OWED)?,
            bdetail: reply.text(field::BROKEN_DETAIL)?,
            last_id: reply.text(field::LAST_ID)?,
            next_expiry_ms: u64::try_from(reply.signed(field::NEXT_EXPIRY)?).ok(),
            now_ms: reply.number(field::NOW)?,
        })
    }

    /// The failure that broke round `gen`, if the snapshot records one for it.
    pub(crate) fn failure_of(&self, group: &str, gen: u64) -> Option<Error> {
        (gen > 0 && self.bgen == gen).then(|| {
            failure(
                group,
                &self.bkind,
                self.bwho.clone(),
                self.bowed,
                self.bdetail.clone(),
            )
        })
    }
}

/// Builds the error for a lost or failed participant.
pub(crate) fn failure(group: &str, kind: &str, who: String, owed: u64, detail: String) -> Error {
    if kind == "failed" {
        Error::ParticipantFailed {
            group: group.to_owned(),
            participant: who,
            detail,
            owed,
        }
    } else {
        Error::ParticipantLost {
            group: group.to_owned(),
            participant: who,
            owed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(fields: &[(&str, &str)]) -> Value {
        Value::Array(
            fields
                .iter()
                .flat_map(|(k, v)| {
                    [
                        Value::BulkString(k.as_bytes().to_vec()),
                        Value::BulkString(v.as_bytes().to_vec()),
                    ]
                })
                .collect(),
        )
    }

    /// A whole `check` reply, as the script sends it.
    fn check_fields() -> Vec<(&'static str, &'static str)> {
        vec![
            (field::INST, "abc.1"),
            (field::VER, "7"),
            (field::COUNT, "3"),
            (field::GEN, "2"),
            (field::BROKEN_GEN, "0"),
            (field::BROKEN_KIND, ""),
            (field::BROKEN_WHO, ""),
            (field::BROKEN_OWED, "0"),
            (field::BROKEN_DETAIL, ""),
            (field::LAST_ID, "1-0"),
            (field::NEXT_EXPIRY, "-1"),
            (field::NOW, "1000"),
        ]
    }

    fn protocol_message(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(Error::Protocol(m)) => m,
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    #[test]
    fn fields_are_read_by_name_in_any_order() {
        let mut fields = check_fields();
        fields.reverse();
        let r = interpret("g", "check", reply(&fields)).unwrap();
        let chk = Check::parse(&r).unwrap();
        assert_eq!(chk.count, 3);
        assert_eq!(chk.gen, 2);
        assert_eq!(chk.last_id, "1-0");
        assert_eq!(chk.next_expiry_ms, None);
        assert_eq!(chk.now_ms, 1000);
    }

    #[test]
    fn a_reply_missing_a_field_names_it() {
        let fields: Vec<_> = check_fields()
            .into_iter()
            .filter(|(k, _)| *k != field::GEN)
            .collect();
        let r = interpret("g", "check", reply(&fields)).unwrap();
        let m = protocol_message(Check::parse(&r));
        assert_eq!(m, "the `check` reply has no field `g`");
    }

    #[test]
    fn a_malformed_field_is_named() {
        let mut fields = check_fields();
        fields[2] = (field::COUNT, "many");
        let r = interpret("g", "check", reply(&fields)).unwrap();
        let m = protocol_message(Check::parse(&r));
        assert!(m.starts_with("field `c` of the `check` reply"), "{m}");
    }

    #[test]
    fn a_refusal_missing_a_field_names_it() {
        let v = reply(&[(field::REFUSAL, "negative"), (field::COUNT, "0")]);
        let m = protocol_message(interpret("g", "add", v));
        assert_eq!(m, "the `add` reply has no field `d`");
    }

    #[test]
    fn a_refusal_is_read_by_name() {
        let v = reply(&[
            (field::DELTA, "-2"),
            (field::REFUSAL, "negative"),
            (field::COUNT, "1"),
        ]);
        match interpret("g", "add", v) {
            Err(Error::NegativeCounter { count, delta, .. }) => assert_eq!((count, delta), (1, -2)),
            other => panic!("expected NegativeCounter, got {other:?}"),
        }
    }

    #[test]
    fn a_reply_that_is_not_named_fields_is_refused() {
        let v = Value::Array(vec![Value::BulkString(b"ok".to_vec())]);
        let m = protocol_message(interpret("g", "add", v));
        assert!(
            m.starts_with("the `add` reply is not a list of named fields"),
            "{m}"
        );
    }

    /// A `status` reply: the `check` fields, then leases (each a record with
    /// `lease` as its fields) and failures.
    fn status_reply(lease: &[(&str, &str)], with_leases: bool) -> Value {
        let Value::Array(mut items) = reply(&check_fields()) else {
            unreachable!()
        };
        let name = |n: &str| Value::BulkString(n.as_bytes().to_vec());
        if with_leases {
            items.extend([name(field::LEASES), Value::Array(vec![reply(lease)])]);
        }
        items.extend([
            name(field::FAILURES),
            Value::Array(vec![name("failed w1 owed=1")]),
            name(field::LEASES_TOTAL),
            name("1"),
            name(field::FAILURES_TOTAL),
            name("1"),
        ]);
        Value::Array(items)
    }

    #[test]
    fn a_status_reply_is_read_by_name() {
        let lease = [
            (field::EXPIRY, "3000"),
            (field::PARTICIPANT, "w2"),
            (field::OWED, "2"),
        ];
        let r = interpret("g", "status", status_reply(&lease, true)).unwrap();
        let status = crate::status::Status::from_reply("g", &r).unwrap();
        assert_eq!(status.leases.len(), 1);
        assert_eq!(status.leases[0].participant, "w2");
        assert_eq!(status.leases[0].owed, 2);
        assert_eq!(
            status.leases[0].expires_in,
            std::time::Duration::from_millis(2000)
        );
        assert_eq!(status.failures, ["failed w1 owed=1"]);
        assert_eq!((status.leases_total, status.failures_total), (1, 1));
    }

    /// A `status` reply without its lease list is an error, never "no leases".
    #[test]
    fn a_status_reply_missing_its_leases_names_them() {
        let r = interpret("g", "status", status_reply(&[], false)).unwrap();
        let m = protocol_message(crate::status::Status::from_reply("g", &r));
        assert_eq!(m, "the `status` reply has no field `L`");
    }

    #[test]
    fn a_lease_record_missing_a_field_names_it() {
        let lease = [(field::PARTICIPANT, "w2"), (field::EXPIRY, "3000")];
        let r = interpret("g", "status", status_reply(&lease, true)).unwrap();
        let m = protocol_message(crate::status::Status::from_reply("g", &r));
        assert_eq!(m, "the `status` reply has no field `o`");
    }

    /// The names of the table "Replies" in `group.lua`'s header.
    fn lua_table() -> Vec<&'static str> {
        SOURCE
            .lines()
            .skip_while(|l| !l.starts_with("--   name  field"))
            .skip(1)
            .take_while(|l| l.starts_with("--   "))
            .filter_map(|l| l.strip_prefix("--   "))
            .filter(|l| !l.starts_with(' '))
            .filter_map(|l| l.split_whitespace().next())
            .collect()
    }

    #[test]
    fn field_names_mirror_the_script_table() {
        let mut table = lua_table();
        let mut ours = field::ALL.to_vec();
        table.sort_unstable();
        ours.sort_unstable();
        assert_eq!(table, ours);
    }
}
