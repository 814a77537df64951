//! The PagerDuty fake and what tests feed it: the in-process REST API v2 server
//! ([`FakePagerDuty`], in `server`), log-entry and user builders in PagerDuty's real JSON shape
//! (`entries`), and a deterministic incident generator with the counts a correct poller must
//! emit (`synthetic`).
//!
//! Why a folder: the server, the shapes it serves and the data generated for it change for
//! different reasons; tests reach all of it as `support::Name` through the re-exports below.

mod entries;
mod server;
mod synthetic;

pub use entries::*;
pub use server::*;
pub use synthetic::*;
