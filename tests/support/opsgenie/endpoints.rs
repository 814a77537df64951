//! The Opsgenie fake's three listings — `GET /v2/alerts` (offset paging under the 20,000 cap,
//! filtered by [`super::search`]), `GET /v2/alerts/{id}/logs` (the opaque cursor and
//! `direction`) and `GET /v2/users` — with their parameter checks (422 on a bad one) and the
//! `paging` links, also sent as `X-Paging-*` headers. [`FakeOpsgenie`](super::FakeOpsgenie)
//! documents each one's behaviour.
//!
//! Why apart: paging is what a poller gets wrong; the server plumbing around it is not.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::super::common::{first, page_range, Reply};
use super::model::{og_time, render_alert};
use super::search::{parse_search, Field};
use super::server::{
    og_error, og_json, og_unprocessable, OpsgenieState, StoredAlert, StoredLog, OG_CAP_MESSAGE,
    OG_DEFAULT_LIMIT, OG_MAX_LIMIT, OG_MAX_OFFSET_PLUS_LIMIT, OG_USERS_DEFAULT_LIMIT,
};

/// `limit`: absent → `default`; must be an integer ≥ 1 and, with `max`, ≤ `max` (else 422).
fn limit_param(
    query: &[(String, String)],
    default: u64,
    max: Option<u64>,
    rid: &str,
) -> Result<u64, Reply> {
    let Some(raw) = first(query, "limit") else {
        return Ok(default);
    };
    let n: u64 = raw
        .parse()
        .map_err(|_| og_unprocessable("limit", "must be a positive integer", rid))?;
    if n < 1 {
        return Err(og_unprocessable(
            "limit",
            "must be greater than or equal to 1",
            rid,
        ));
    }
    if let Some(max) = max {
        if n > max {
            return Err(og_unprocessable(
                "limit",
                &format!("must be less than or equal to {max}"),
                rid,
            ));
        }
    }
    Ok(n)
}

/// Numeric `offset` (alerts, users): absent → 0; must be an integer ≥ 0 (else 422).
fn offset_param(query: &[(String, String)], rid: &str) -> Result<u64, Reply> {
    match first(query, "offset") {
        None => Ok(0),
        Some(raw) => raw
            .parse()
            .map_err(|_| og_unprocessable("offset", "must be greater than or equal to 0", rid)),
    }
}

/// `order`: absent → `desc`; `asc` or `desc` (else 422). True for descending.
fn desc_param(query: &[(String, String)], rid: &str) -> Result<bool, Reply> {
    match first(query, "order") {
        None | Some("desc") => Ok(true),
        Some("asc") => Ok(false),
        Some(_) => Err(og_unprocessable("order", "must be one of [asc, desc]", rid)),
    }
}

/// Percent-encodes a query component (everything but unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn link(base: &str, path: &str, params: &[(&str, String)]) -> String {
    let qs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("{base}{path}?{}", qs.join("&"))
}

/// Adds `paging` links to the reply body's headers as `X-Paging-<Name>`.
fn paging_headers(paging: &Map<String, Value>) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (key, header) in [
        ("first", "X-Paging-First"),
        ("prev", "X-Paging-Prev"),
        ("next", "X-Paging-Next"),
        ("last", "X-Paging-Last"),
    ] {
        if let Some(url) = paging.get(key).and_then(Value::as_str) {
            out.push((header, url.to_string()));
        }
    }
    out
}

/// A listing's 200: `body` plus `paging` (also sent as `X-Paging-*` headers), `took` and
/// `requestId`.
fn paged(mut body: Value, paging: Map<String, Value>, took: f64, rid: &str) -> Reply {
    let headers = paging_headers(&paging);
    body["paging"] = Value::Object(paging);
    og_json(StatusCode::OK, body, took, rid).with_headers(headers)
}

/// Offset-paging links for a result of `count` items seen at `offset`/`limit`.
fn offset_paging(
    base: &str,
    path: &str,
    fixed: &[(&str, String)],
    offset: u64,
    limit: u64,
    count: u64,
    returned: u64,
) -> Map<String, Value> {
    let with = |o: u64| {
        let mut params: Vec<(&str, String)> = Vec::new();
        // Opsgenie's own links put `query` first, then offset, limit, sort, order.
        params.extend(fixed.iter().filter(|(k, _)| *k == "query").cloned());
        params.push(("offset", o.to_string()));
        params.push(("limit", limit.to_string()));
        params.extend(fixed.iter().filter(|(k, _)| *k != "query").cloned());
        json!(link(base, path, &params))
    };
    let mut paging = Map::new();
    paging.insert("first".into(), with(0));
    if offset > 0 {
        paging.insert("prev".into(), with(offset.saturating_sub(limit)));
    }
    if offset.saturating_add(returned) < count {
        paging.insert("next".into(), with(offset + limit));
    }
    let last = if count == 0 {
        0
    } else {
        (count - 1) / limit * limit
    };
    paging.insert("last".into(), with(last));
    paging
}

pub(super) fn list_alerts(
    inner: &OpsgenieState,
    query: &[(String, String)],
    rid: &str,
) -> Result<Reply, Reply> {
    let limit = limit_param(query, OG_DEFAULT_LIMIT, Some(OG_MAX_LIMIT), rid)?;
    let offset = offset_param(query, rid)?;
    if offset.saturating_add(limit) > OG_MAX_OFFSET_PLUS_LIMIT {
        return Err(og_json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "message": OG_CAP_MESSAGE }),
            0.001,
            rid,
        ));
    }
    let sort = first(query, "sort").unwrap_or("createdAt");
    let field = match sort {
        "createdAt" => Field::CreatedAt,
        "updatedAt" => Field::UpdatedAt,
        // Opsgenie supports more sort fields; a poller needs only these two (fake limitation).
        _ => {
            return Err(og_unprocessable(
                "sort",
                "this fake supports only createdAt and updatedAt",
                rid,
            ))
        }
    };
    let desc = desc_param(query, rid)?;
    let raw_search = first(query, "query").unwrap_or("");
    let terms = parse_search(raw_search).map_err(|detail| {
        og_json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "message": "Invalid query", "errors": { "query": detail } }),
            0.001,
            rid,
        )
    })?;

    let mut hits: Vec<&StoredAlert> = inner
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
    let data: Vec<Value> = hits[page_range(hits.len(), offset, limit)]
        .iter()
        .map(|a| render_alert(a))
        .collect();

    let mut fixed: Vec<(&str, String)> = Vec::new();
    if first(query, "query").is_some() {
        fixed.push(("query", raw_search.to_string()));
    }
    fixed.push(("sort", sort.to_string()));
    fixed.push(("order", if desc { "desc" } else { "asc" }.to_string()));
    let paging = offset_paging(
        &inner.base_url,
        "/v2/alerts",
        &fixed,
        offset,
        limit,
        count,
        data.len() as u64,
    );
    Ok(paged(json!({ "data": data }), paging, 0.01, rid))
}

pub(super) fn list_users(
    inner: &OpsgenieState,
    query: &[(String, String)],
    rid: &str,
) -> Result<Reply, Reply> {
    let limit = limit_param(query, OG_USERS_DEFAULT_LIMIT, None, rid)?;
    let offset = offset_param(query, rid)?;
    let count = inner.users.len() as u64;
    let data = inner.users[page_range(inner.users.len(), offset, limit)].to_vec();
    let paging = offset_paging(
        &inner.base_url,
        "/v2/users",
        &[],
        offset,
        limit,
        count,
        data.len() as u64,
    );
    Ok(paged(
        json!({ "data": data, "totalCount": count }),
        paging,
        0.01,
        rid,
    ))
}

/// A log cursor has the shape `<digits>_<digits>`.
fn is_log_offset(s: &str) -> bool {
    s.split_once('_').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

pub(super) fn list_logs(
    inner: &OpsgenieState,
    alert_id: &str,
    query: &[(String, String)],
    rid: &str,
) -> Result<Reply, Reply> {
    match first(query, "identifierType") {
        None | Some("id") => {}
        // Opsgenie also accepts `alias` and `tiny`; a poller has ids (fake limitation).
        Some(_) => {
            return Err(og_unprocessable(
                "identifierType",
                "this fake supports only id",
                rid,
            ))
        }
    }
    let limit = limit_param(query, OG_DEFAULT_LIMIT, Some(OG_MAX_LIMIT), rid)?;
    let desc = desc_param(query, rid)?;
    let forward = match first(query, "direction") {
        None | Some("next") => true,
        Some("prev") => false,
        Some(_) => {
            return Err(og_unprocessable(
                "direction",
                "must be one of [next, prev]",
                rid,
            ))
        }
    };
    let cursor = match first(query, "offset") {
        None | Some("") => None,
        Some(c) if is_log_offset(c) => Some(c),
        Some(_) => return Err(og_unprocessable("offset", "is not a valid offset", rid)),
    };
    let Some(&idx) = inner.by_id.get(alert_id) else {
        return Err(og_error(StatusCode::NOT_FOUND, "Alert does not exist", rid));
    };
    let stored = &inner.alerts[idx];

    // The listing in `order`.
    let mut listing: Vec<&StoredLog> = stored.logs.iter().collect();
    if desc {
        listing.reverse();
    }
    // `a` comes after `b` in the listing.
    let after = |a: &str, b: &str| if desc { a < b } else { a > b };
    let limit = limit as usize;
    let (page, more): (Vec<&StoredLog>, bool) = if forward {
        let rest: Vec<&StoredLog> = match cursor {
            None => listing,
            Some(c) => listing
                .into_iter()
                .filter(|r| after(&r.offset, c))
                .collect(),
        };
        let more = rest.len() > limit;
        (rest.into_iter().take(limit).collect(), more)
    } else {
        let before: Vec<&StoredLog> = match cursor {
            None => listing,
            Some(c) => listing
                .into_iter()
                .filter(|r| after(c, &r.offset))
                .collect(),
        };
        let more = before.len() > limit;
        let skip = before.len().saturating_sub(limit);
        (before.into_iter().skip(skip).collect(), more)
    };

    let params = |offset: Option<&str>| {
        let mut p: Vec<(&str, String)> = vec![("identifierType", "id".to_string())];
        if let Some(o) = offset {
            p.push(("offset", o.to_string()));
        }
        p.push((
            "direction",
            if forward { "next" } else { "prev" }.to_string(),
        ));
        p.push(("limit", limit.to_string()));
        p.push(("order", if desc { "desc" } else { "asc" }.to_string()));
        p
    };
    let path = format!("/v2/alerts/{alert_id}/logs");
    let mut paging = Map::new();
    // `first`: the start of the listing, whatever the direction asked.
    let first_params: Vec<(&str, String)> = params(None)
        .into_iter()
        .map(|(k, v)| match k {
            "direction" => (k, "next".to_string()),
            _ => (k, v),
        })
        .collect();
    paging.insert(
        "first".into(),
        json!(link(&inner.base_url, &path, &first_params)),
    );
    if more {
        let edge = if forward { page.last() } else { page.first() };
        if let Some(edge) = edge {
            paging.insert(
                "next".into(),
                json!(link(&inner.base_url, &path, &params(Some(&edge.offset)))),
            );
        }
    }
    let data: Vec<Value> = page
        .iter()
        .map(|r| {
            if let Some(raw) = &r.raw {
                let mut row = raw.clone();
                if let Some(obj) = row.as_object_mut() {
                    obj.entry("offset").or_insert_with(|| json!(r.offset));
                }
                return row;
            }
            json!({
                "log": r.log.log,
                "type": r.log.kind,
                "owner": r.log.owner,
                "createdAt": og_time(r.log.created_at),
                "offset": r.offset,
            })
        })
        .collect();
    Ok(paged(json!({ "data": data }), paging, 0.005, rid))
}
