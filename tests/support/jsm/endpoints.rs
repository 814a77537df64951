//! The JSM fake's listings: `GET /v1/alerts` (offset paging under the 20,000 cap, filtered by
//! the Opsgenie fake's search syntax, which JSM shares), `GET /v1/alerts/{id}/logs` (the
//! `after` cursor, in either [`LogPaging`] form) and Jira's `GET /rest/api/3/user/bulk`.
//!
//! Why apart: paging is what a poller gets wrong; the server around it is plumbing.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::super::common::{all, first, page_range, Reply};
use super::super::opsgenie::og_time;
use super::super::opsgenie::search::{parse_search, Field};
use super::model::render_alert;
use super::server::{
    error, JsmState, LogPaging, StoredAlert, JSM_CAP_MESSAGE, JSM_DEFAULT_SIZE, JSM_MAX_SIZE,
    JSM_OFFSET_CAP,
};

fn bad(message: &str) -> Reply {
    error(StatusCode::BAD_REQUEST, message)
}

/// A non-negative integer parameter, `default` when absent.
fn number(q: &[(String, String)], name: &str, default: u64) -> Result<u64, Reply> {
    match first(q, name) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|_| bad(&format!("{name} must be a non-negative integer"))),
    }
}

fn size(q: &[(String, String)]) -> Result<u64, Reply> {
    let n = number(q, "size", JSM_DEFAULT_SIZE)?;
    if n == 0 || n > JSM_MAX_SIZE {
        return Err(bad(&format!("size must be between 1 and {JSM_MAX_SIZE}")));
    }
    Ok(n)
}

/// Percent-encodes a query component.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A relative link, as the JSM docs show them (`/v1/alerts/policies?offset=1&size=1`).
fn link(path: &str, params: &[(&str, String)]) -> String {
    let qs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("{path}?{}", qs.join("&"))
}

pub(super) fn list_alerts(state: &JsmState, q: &[(String, String)]) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let size = size(q)?;
        let offset = number(q, "offset", 0)?;
        if offset.saturating_add(size) >= JSM_OFFSET_CAP {
            return Err(bad(JSM_CAP_MESSAGE));
        }
        let sort = first(q, "sort").unwrap_or("createdAt");
        let field = match sort {
            "createdAt" => Field::CreatedAt,
            "updatedAt" => Field::UpdatedAt,
            _ => return Err(bad("this fake sorts only by createdAt or updatedAt")),
        };
        let desc = match first(q, "order") {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(_) => return Err(bad("order must be asc or desc")),
        };
        let raw = first(q, "query").unwrap_or("");
        let terms = parse_search(raw).map_err(|e| bad(&format!("Invalid query: {e}")))?;
        let mut hits: Vec<&StoredAlert> = state
            .alerts
            .iter()
            .filter(|a| terms.iter().all(|t| t.matches(&a.alert)))
            .collect();
        let key = |a: &StoredAlert| match field {
            Field::CreatedAt => a.alert.created_at,
            Field::UpdatedAt => a.alert.updated_at,
        };
        hits.sort_by(|a, b| {
            key(a)
                .cmp(&key(b))
                .then_with(|| a.alert.id.cmp(&b.alert.id))
        });
        if desc {
            hits.reverse();
        }
        let count = hits.len() as u64;
        let values: Vec<Value> = hits[page_range(hits.len(), offset, size)]
            .iter()
            .map(|a| render_alert(a, state.serve_report))
            .collect();
        let mut body = json!({ "values": values, "count": count });
        if !state.alert_links {
            return Ok(Reply::json(StatusCode::OK, &body));
        }
        if offset + (values.len() as u64) < count {
            body["links"] = json!({ "next": link("/v1/alerts", &[
                ("query", raw.to_string()),
                ("offset", (offset + size).to_string()),
                ("size", size.to_string()),
                ("sort", sort.to_string()),
                ("order", if desc { "desc" } else { "asc" }.to_string()),
            ]) });
        } else {
            body["links"] = json!({});
        }
        Ok(Reply::json(StatusCode::OK, &body))
    };
    run().unwrap_or_else(|r| r)
}

/// A row key has the shape `<digits>_<digits>`.
fn is_key(s: &str) -> bool {
    s.split_once('_').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

pub(super) fn list_logs(state: &JsmState, alert_id: &str, q: &[(String, String)]) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let size = size(q)? as usize;
        let after = match first(q, "after") {
            None | Some("") => None,
            Some(k) if is_key(k) => Some(k),
            Some(_) => return Err(bad("after is not a valid key")),
        };
        let Some(&i) = state.by_id.get(alert_id) else {
            return Err(error(StatusCode::NOT_FOUND, "Alert does not exist"));
        };
        let rows: Vec<_> = state.alerts[i]
            .rows
            .iter()
            .filter(|r| after.is_none_or(|a| r.key.as_str() > a))
            .collect();
        let more = rows.len() > size;
        let page = &rows[..rows.len().min(size)];
        let values: Vec<Value> = page
            .iter()
            .map(|r| {
                if let Some(raw) = &r.raw {
                    return raw.clone();
                }
                let (key_field, type_field) = match state.log_paging {
                    LogPaging::Link => ("offset", "type"),
                    LogPaging::RowKey => ("id", "logType"),
                };
                json!({
                    key_field: r.key,
                    "log": r.log.log,
                    type_field: r.log.kind,
                    "owner": r.log.owner,
                    "createdAt": og_time(r.log.created_at),
                })
            })
            .collect();
        let mut body = json!({ "values": values });
        if state.log_paging == LogPaging::Link {
            body["links"] = match (more, page.last()) {
                (true, Some(last)) => json!({ "next": link(
                    &format!("/v1/alerts/{alert_id}/logs"),
                    &[("after", last.key.clone()), ("size", size.to_string())],
                ) }),
                _ => json!({}),
            };
        }
        Ok(Reply::json(StatusCode::OK, &body))
    };
    run().unwrap_or_else(|r| r)
}

/// Jira's bulk user look-up: `accountId` (repeated, at least one), `startAt`, `maxResults`
/// (default 10, at most 100: choice). Unknown ids are left out; users come in the order asked.
pub(super) fn bulk_users(state: &JsmState, q: &[(String, String)]) -> Reply {
    let ids = all(q, "accountId");
    if ids.is_empty() {
        return bad("accountId is required");
    }
    let run = || -> Result<Reply, Reply> {
        let start = number(q, "startAt", 0)?;
        let max = number(q, "maxResults", 10)?.clamp(1, 100);
        let found: Vec<Value> = ids
            .iter()
            .filter_map(|id| {
                state
                    .users
                    .iter()
                    .find(|u| u["accountId"].as_str() == Some(id))
                    .cloned()
            })
            .collect();
        let range = page_range(found.len(), start, max);
        let is_last = range.end >= found.len();
        Ok(Reply::json(
            StatusCode::OK,
            &json!({
                "maxResults": max,
                "startAt": start,
                "total": found.len(),
                "isLast": is_last,
                "values": found[range].to_vec(),
            }),
        ))
    };
    run().unwrap_or_else(|r| r)
}
