//! An in-process fake of the Opsgenie REST API pieces a poller reads (`GET /v2/alerts`,
//! `GET /v2/alerts/{id}/logs`, `GET /v2/users`) on 127.0.0.1, plus builders for alerts, log rows
//! and users in their JSON shape, and a deterministic generator of alert lifecycles with the
//! counts a correct poller must emit for them ([`og_synthetic`]).
//!
//! Why a fake and not mocks: the poller's hard cases are properties of the real server — the
//! 20,000 `offset + limit` cap on alert listing (so windows must be cut with `createdAt` /
//! `updatedAt` terms in `query`, in epoch **milliseconds**), newest-first default order, the
//! opaque string `offset` cursor of alert logs, log `owner` being a username rather than a user
//! id, `limit` above 100 refused with 422, and 429s carrying `X-RateLimit-*` headers. This
//! server reproduces those as described in Opsgenie's API documentation (alerts, logs, users, paging and rate limits), and
//! records every request (as a [`RecordedRequest`], like the PagerDuty fake) so tests can assert
//! what the daemon asked for.
//!
//! What is **UNCONFIRMED** in the real API and chosen here (each marked "(choice)" or
//! "UNCONFIRMED" where it is implemented):
//! - every log row text and its `type` (only "Alert acknowledged via web" / `system` and
//!   "Viewed on [web]" / `alertRecipient` come from Opsgenie's doc samples): all texts the
//!   builders write are in one table, [`OG_LOG_TEXTS`], for a collector to mirror;
//! - the error returned past the 20,000 cap (422 with [`OG_CAP_MESSAGE`] here), the 429 body
//!   wording and the `X-RateLimit-State: THROTTLED` / `X-RateLimit-Reason` values;
//! - how `direction` combines with `order` on `/logs`: here `direction` is relative to the
//!   listing order (`next` continues in `order`, `prev` goes back), the only reading under which
//!   Opsgenie's documented `order=desc&direction=next` paging links work (see [`FakeOpsgenie`]);
//! - the search syntax: only `createdAt` / `updatedAt` comparisons and `status:open|closed`
//!   joined by ` AND ` are modelled; anything else in `query` is answered with 422 so that a
//!   test notices;
//! - whether a notification row moves its alert's `updatedAt`: by default it does (every row
//!   does); [`FakeOpsgenie::set_notifications_move_updated_at`] turns that off.
//!
//! Where it is: `server` (the fake, its faults, routing and reply envelope), `endpoints` (the
//! listings and their paging), `search` (the `query` syntax), `model` (alerts and users as
//! served), `logs` (log rows and their texts), `synthetic` (the generator and its expected
//! counts). Tests reach all of it as `support::Name` through the re-exports below.

mod endpoints;
mod logs;
mod model;
pub(crate) mod search;
mod server;
mod synthetic;

pub use logs::*;
pub use model::*;
pub use server::*;
pub use synthetic::*;
