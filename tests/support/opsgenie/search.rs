//! The subset of Opsgenie's alert search syntax (the `query` parameter of `GET /v2/alerts`) the
//! fake models: `createdAt` / `updatedAt` compared (`>=`, `>`, `<=`, `<`) with epoch
//! milliseconds or ISO-8601, and `status:open|closed`, joined by ` AND `. Anything else is an
//! error the listing answers with 422, so that a test notices a query the fake cannot judge.
//!
//! Why apart: a poller cuts its windows with these terms; what they match is the contract.

use jiff::tz::TimeZone;
use jiff::{civil, Timestamp};

use super::model::OgAlert;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Ge,
    Gt,
    Le,
    Lt,
}

/// One term of the search syntax: `field op millis`, or `status:value`.
pub(crate) enum Term {
    Time { field: Field, op: Op, millis: i64 },
    Status(String),
}

impl Term {
    pub(crate) fn matches(&self, alert: &OgAlert) -> bool {
        let (field, op, millis) = match self {
            Term::Status(status) => return alert.status.eq_ignore_ascii_case(status),
            Term::Time { field, op, millis } => (*field, *op, *millis),
        };
        let v = match field {
            Field::CreatedAt => alert.created_at,
            Field::UpdatedAt => alert.updated_at,
        }
        .as_millisecond();
        match op {
            Op::Ge => v >= millis,
            Op::Gt => v > millis,
            Op::Le => v <= millis,
            Op::Lt => v < millis,
        }
    }
}

/// A search value: epoch milliseconds, or ISO-8601 (with offset, or without it read as UTC).
fn parse_search_value(raw: &str) -> Option<i64> {
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().ok();
    }
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Some(ts.as_millisecond());
    }
    raw.parse::<civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(TimeZone::UTC).ok())
        .map(|z| z.timestamp().as_millisecond())
}

/// Parses the `query` subset: `createdAt|updatedAt` `>=|>|<=|<` value, and `status:open|closed`
/// (also `status: open`, `status=open`), joined by ` AND `.
pub(crate) fn parse_search(query: &str) -> Result<Vec<Term>, String> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let mut terms = Vec::new();
    for raw in query.split(" AND ").flat_map(|part| part.split(" and ")) {
        let term = raw.trim();
        let unsupported = || {
            format!(
                "unsupported term {term:?}: this fake models only createdAt/updatedAt \
                 comparisons (>=, >, <=, <) and status:open|closed, joined by AND"
            )
        };
        if let Some(rest) = term.strip_prefix("status") {
            let value = rest
                .trim_start()
                .strip_prefix([':', '='])
                .map(str::trim)
                .filter(|v| ["open", "closed"].contains(v))
                .ok_or_else(unsupported)?;
            terms.push(Term::Status(value.to_string()));
            continue;
        }
        let (field, rest) = if let Some(rest) = term.strip_prefix("createdAt") {
            (Field::CreatedAt, rest.trim_start())
        } else if let Some(rest) = term.strip_prefix("updatedAt") {
            (Field::UpdatedAt, rest.trim_start())
        } else {
            return Err(unsupported());
        };
        let (op, value) = if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix('>') {
            (Op::Gt, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Op::Lt, v)
        } else {
            return Err(unsupported());
        };
        let millis = parse_search_value(value.trim())
            .ok_or_else(|| format!("invalid date {:?} in term {term:?}", value.trim()))?;
        terms.push(Term::Time { field, op, millis });
    }
    Ok(terms)
}
