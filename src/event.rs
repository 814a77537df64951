//! The normalised on-call event, the one shape every collector produces and the engine counts.
//!
//! Collectors map provider records (a PagerDuty log entry, an Opsgenie alert log row) to
//! [`Event`]s; the schema turns events into metric series. An event carries the id of the record
//! it came from, which is what the engine deduplicates on, so one record that names several
//! people (an assignment to two users) is counted, or skipped, as a whole.
//!
//! An event also carries what the provider said of its incident ([`Incident`]: id, creation
//! time, title, service, urgency) and of its person (time zone), which the engine's on-call
//! analysis ([`crate::analysis`]) needs for time to acknowledge, categories and hour bands.

use jiff::{SignedDuration, Timestamp};

/// A closed-open time window `[since, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// First instant inside the window.
    pub since: Timestamp,
    /// First instant after the window.
    pub until: Timestamp,
}

impl Window {
    /// A window `[since, until)`.
    pub fn new(since: Timestamp, until: Timestamp) -> Self {
        Window { since, until }
    }

    /// Whether `t` falls inside the window.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.since <= t && t < self.until
    }

    /// The window's length (zero or negative for an empty window).
    pub fn length(&self) -> SignedDuration {
        self.until.duration_since(self.since)
    }

    /// Splits the window into two halves, or `None` when it is too short to split
    /// (under two milliseconds, the resolution providers accept in `since`/`until`).
    pub fn halves(&self) -> Option<(Window, Window)> {
        let len = self.length();
        if len < SignedDuration::from_millis(2) {
            return None;
        }
        let half_ms = len.as_millis() / 2;
        let mid = self
            .since
            .checked_add(SignedDuration::from_millis(half_ms as i64))
            .ok()?;
        Some((Window::new(self.since, mid), Window::new(mid, self.until)))
    }
}

/// A person as a provider names them. Which field appears in metrics is `PTSD_USER_KEY`'s choice.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Person {
    /// The provider's stable user id.
    pub id: String,
    /// Display name, when the provider gave one.
    pub name: Option<String>,
    /// E-mail address, when known.
    pub email: Option<String>,
    /// The person's own time zone as the provider names it (IANA, or a Rails-style name),
    /// when known; the engine falls back to `PTSD_TIME_ZONE`.
    pub time_zone: Option<String>,
}

/// The incident (PagerDuty) or alert (Opsgenie) an event belongs to, as far as the provider
/// said. Every field but the id may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Incident {
    /// The provider's incident or alert id.
    pub id: String,
    /// When the incident was opened.
    pub created_at: Option<Timestamp>,
    /// Its title (PagerDuty `title`, Opsgenie `message`).
    pub title: Option<String>,
    /// The service's name (PagerDuty) or the integration's name (Opsgenie).
    pub service: Option<String>,
    /// `high`, `low`, or an Opsgenie priority `p1`..`p5`.
    pub urgency: Option<String>,
}

/// How a notification reached a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Sms,
    Phone,
    Email,
    Push,
    Other,
}

impl Channel {
    /// Maps a provider's notification type to a channel, tolerant of the spellings seen in the
    /// wild: `sms`, `sms_notification`, `phone`, `voice`, `email`, `push`, `push_notification`,
    /// `mobile`. Anything else is [`Channel::Other`].
    pub fn from_provider(kind: &str) -> Channel {
        let k = kind.trim().to_ascii_lowercase();
        let k = k.strip_suffix("_notification").unwrap_or(&k);
        if k.contains("push") || k == "mobile" || k == "mobile_app" {
            Channel::Push
        } else if k == "sms" || k == "text" {
            Channel::Sms
        } else if k == "phone" || k == "voice" || k == "call" {
            Channel::Phone
        } else if k == "email" || k == "e-mail" || k == "mail" {
            Channel::Email
        } else {
            Channel::Other
        }
    }

    /// The channel's metric segment and tag value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Phone => "phone",
            Channel::Email => "email",
            Channel::Push => "push",
            Channel::Other => "other",
        }
    }
}

/// What happened, with the facts the schema needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// An incident was opened on `service` with `urgency` (`high`, `low`, `none`, or a priority).
    Triggered { service: String, urgency: String },
    /// `user` was notified through `channel`.
    Notified { user: Person, channel: Channel },
    /// An incident was acknowledged, by `user` when a person did it (`None`: an integration,
    /// the API or a timeout did; it counts for time to acknowledge but for nobody's load).
    Acknowledged { user: Option<Person> },
    /// An incident was assigned to `user`.
    Assigned { user: Person },
    /// An incident escalated to `user`.
    Escalated { user: Person },
    /// An incident was resolved, by `user` when a person did it (`None`: automatically).
    Resolved { user: Option<Person> },
}

impl EventKind {
    /// The person the event is about, if it is about one.
    pub fn person_mut(&mut self) -> Option<&mut Person> {
        match self {
            EventKind::Triggered { .. } => None,
            EventKind::Acknowledged { user } | EventKind::Resolved { user } => user.as_mut(),
            EventKind::Notified { user, .. }
            | EventKind::Assigned { user }
            | EventKind::Escalated { user } => Some(user),
        }
    }
}

/// One normalised on-call event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The provider record's stable id (the engine's dedupe key).
    pub record_id: String,
    /// When it happened (the record's creation time).
    pub at: Timestamp,
    /// What happened.
    pub kind: EventKind,
    /// The incident it happened to, when the provider said.
    pub incident: Option<Incident>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_spellings() {
        for (raw, want) in [
            ("sms", Channel::Sms),
            ("SMS_notification", Channel::Sms),
            ("phone", Channel::Phone),
            ("phone_notification", Channel::Phone),
            ("voice", Channel::Phone),
            ("email", Channel::Email),
            ("email_notification", Channel::Email),
            ("push", Channel::Push),
            ("push_notification", Channel::Push),
            ("apns_push", Channel::Push),
            ("slack", Channel::Other),
            ("", Channel::Other),
        ] {
            assert_eq!(Channel::from_provider(raw), want, "{raw}");
        }
    }

    #[test]
    fn halves_cover_the_window_exactly() {
        let a: Timestamp = "2026-03-02T00:00:00Z".parse().unwrap();
        let b: Timestamp = "2026-03-02T00:00:01.001Z".parse().unwrap();
        let (l, r) = Window::new(a, b).halves().unwrap();
        assert_eq!(l.since, a);
        assert_eq!(l.until, r.since);
        assert_eq!(r.until, b);
        assert!(Window::new(a, a).halves().is_none());
    }
}
