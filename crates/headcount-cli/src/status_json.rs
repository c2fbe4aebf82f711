//! `headcount status --json`: the group's state as one JSON object (the schema is
//! in the README).

use headcount_redis::{Error, Status};
use serde_json::{json, Value};

/// The `broken` member: why the current round failed, or `null`.
fn broken(e: Option<&Error>) -> Value {
    match e {
        Some(Error::ParticipantLost {
            participant, owed, ..
        }) => json!({
            "kind": "lost",
            "participant": participant,
            "owed": owed,
            "detail": null,
            "reason": e.map(ToString::to_string),
        }),
        Some(Error::ParticipantFailed {
            participant,
            detail,
            owed,
            ..
        }) => json!({
            "kind": "failed",
            "participant": participant,
            "owed": owed,
            "detail": detail,
            "reason": e.map(ToString::to_string),
        }),
        Some(other) => json!({
            "kind": "other",
            "participant": null,
            "owed": null,
            "detail": null,
            "reason": other.to_string(),
        }),
        None => Value::Null,
    }
}

/// The JSON object of `status` (one line).
pub(crate) fn to_json(s: &Status) -> Value {
    let state = match (&s.broken, s.count) {
        (Some(_), _) => "broken",
        (None, 0) => "zero",
        (None, _) => "running",
    };
    let participants: Vec<Value> = s
        .leases
        .iter()
        .map(|l| {
            json!({
                "name": l.participant,
                "owed": l.owed,
                "lease_remaining_ms": u64::try_from(l.expires_in.as_millis()).unwrap_or(u64::MAX),
            })
        })
        .collect();
    json!({
        "group": s.group,
        "count": s.count,
        "round": s.generation,
        "state": state,
        "broken": broken(s.broken.as_ref()),
        "participants": participants,
        "participants_total": s.leases_total,
        "failures": s.failures,
        "failures_total": s.failures_total,
        "warnings": s.warnings,
    })
}
