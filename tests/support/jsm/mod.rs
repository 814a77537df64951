//! An in-process fake of the Jira Service Management Operations API pieces a poller reads, on
//! 127.0.0.1: `GET /jsm/ops/api/{cloudId}/v1/alerts`, `GET …/v1/alerts/{id}/logs` and Jira's
//! `GET /rest/api/3/user/bulk` (through the gateway `/ex/jira/{cloudId}/…` and on the site).
//!
//! Faithful to Atlassian's documentation (developer.atlassian.com, "Jira Service Management
//! ops REST API: Alerts"; Jira platform REST v3 "Users"; "Manage API tokens for your Atlassian
//! account"):
//! - HTTP basic auth with e-mail and API token, anything else → 401
//!   `{"code":401,"message":…}`; an unknown cloud id → 404;
//! - the `values` / `count` / `links.next` envelope, `links.next` relative
//!   (`/v1/alerts?offset=…&size=…`) and only while more remain;
//! - `size` 1–100 (else 400), `offset`, `sort`, `order` (default `desc`), `query` in Opsgenie's
//!   search syntax (the Opsgenie fake's `search` subset: `createdAt`/`updatedAt` comparisons in
//!   epoch ms or ISO-8601 and `status:open|closed` joined by `AND`; anything else → 400);
//! - "Sum of offset and size should be lower than 20K": `offset + size >= 20000` → 400;
//! - the activity log paged by `after` (the key of the last row read), `size` 1–100;
//! - 429 with `Retry-After` ([`JsmFault::Status429`]), 500 and a truncated body on demand;
//! - the bulk user look-up as a page bean (`values`, `startAt`, `maxResults`, `total`,
//!   `isLast`) of users with `accountId`, `displayName`, `emailAddress`, `timeZone`.
//!
//! Chosen where the docs are silent (each is a reading the collector must survive):
//! - the log row form: Opsgenie's `{offset, log, type, owner, createdAt}` with `links.next`
//!   carrying `after` ([`LogPaging::Link`]), or `{id, log, logType, …}` with no `links` at all
//!   ([`LogPaging::RowKey`]); rows oldest first; texts are the Opsgenie fake's, with people
//!   named by account id ([`jsm_row`]);
//! - error wording, the 400 (not 422) past the cap, default sizes, and that the site and the
//!   gateway serve the same users (the gateway can be told to refuse a classic token:
//!   [`FakeJsm::set_gateway_refuses_users`]).
//!
//! Requests are recorded like the other fakes' ([`super::RecordedRequest`]), `auth_valid`
//! meaning exactly `Basic base64(email:token)`.

mod endpoints;
mod model;
mod server;

pub use model::*;
pub use server::*;
