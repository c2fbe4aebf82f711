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
            id: crate::conn::random_id(),
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
        for a in &self.args {
            inv.arg(a);
        }
        inv
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

/// Splits `{'ok', ...}` from `{'err', code, ...}`; maps refusals to [`Error`]s.
/// On success returns the items after `'ok'` (the first is the group's instance id).
pub(crate) fn interpret(group: &str, reply: Value) -> Result<Vec<Value>> {
    let Value::Array(mut items) = reply else {
        return Err(Error::Protocol(format!("expected an array, got {reply:?}")));
    };
    if items.is_empty() {
        return Err(Error::Protocol("empty reply".into()));
    }
    let tag = text(&items[0])?;
    let rest: Vec<Value> = items.drain(1..).collect();
    if tag == "ok" {
        return Ok(rest);
    }
    let code = rest.first().map(text).transpose()?.unwrap_or_default();
    let at = |i: usize| -> Result<&Value> {
        rest.get(i)
            .ok_or_else(|| Error::Protocol(format!("short `{code}` reply")))
    };
    let group = group.to_owned();
    Err(match code.as_str() {
        "statelost" => Error::StateLost { group },
        "nosuch" => Error::NoSuchGroup { group },
        "negative" => Error::NegativeCounter {
            group,
            count: number(at(1)?)?,
            delta: signed(at(2)?)?,
        },
        "overflow" => Error::Overflow {
            group,
            delta: signed(at(2)?).unwrap_or(i64::MAX),
        },
        "fenced" => Error::Fenced {
            group,
            participant: text(at(1)?)?,
        },
        "nolease" => Error::NotJoined {
            group,
            participant: text(at(1)?)?,
        },
        "joined" => Error::InvalidArgument(format!(
            "participant `{}` already holds a lease in group `{group}`",
            text(at(1)?)?
        )),
        "stale" => Error::Protocol(format!(
            "call {} of its session arrived after call {}",
            text(at(1)?)?,
            text(at(2)?)?
        )),
        "unclaimed" => Error::NothingToJoin {
            group,
            count: number(at(1)?)?,
            claimed: number(at(2)?)?,
            owed: number(at(3)?)?,
        },
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
    /// `status` appends the leases and failures.
    pub(crate) extra: Vec<Value>,
}

impl Check {
    pub(crate) fn parse(mut items: Vec<Value>) -> Result<Check> {
        if items.len() < 11 {
            return Err(Error::Protocol(format!("short check reply: {items:?}")));
        }
        let extra = items.split_off(11);
        let next = signed(&items[9])?;
        Ok(Check {
            inst: text(&items[0])?,
            count: number(&items[1])?,
            gen: number(&items[2])?,
            bgen: number(&items[3])?,
            bkind: text(&items[4])?,
            bwho: text(&items[5])?,
            bowed: number(&items[6])?,
            bdetail: text(&items[7])?,
            last_id: text(&items[8])?,
            next_expiry_ms: u64::try_from(next).ok(),
            now_ms: number(&items[10])?,
            extra,
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
