//! The metric schema: the only place that knows metric names and tags.
//!
//! An [`Event`], with what the on-call analysis found in it ([`Findings`]), becomes counter
//! [`Series`] and timing samples: a [`Metric`] plus tag values in the fixed order
//! `provider, user, channel, hours, service, urgency, category`. Values are sanitised here,
//! once, so both renderings and every outputter see the same safe text. Two renderings exist:
//!
//! - **plain**: everything in dotted names, e.g. `ptsd.pagerduty.users.ada_lovelace.notifications.sms`.
//!   An incident renders as three names (by urgency, by service, by category); tags a name
//!   has no place for (`hours` on notifications) are summed away.
//! - **tagged** (DogStatsD, and the stdout JSON): `ptsd.notifications` with tags
//!   `provider:pagerduty,user:ada_lovelace,channel:sms,hours:sleep`.
//!
//! Time to acknowledge and resolve are timings in milliseconds: `|ms` timers in plain,
//! `|d` distributions in DogStatsD.
//!
//! [`CATALOGUE`] lists every name in both flavors; a test keeps docs/metrics.md in step with it.

use std::collections::BTreeMap;

use crate::analysis::Findings;
use crate::event::{Event, EventKind, Person};

pub use crate::config::UserKey;

/// Which StatsD dialect to render (`PTSD_STATSD_FLAVOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flavor {
    /// Plain StatsD: tags folded into dotted names.
    Plain,
    /// DogStatsD: short names plus `|#tag:value` tags.
    Dogstatsd,
}

/// What a metric's value means on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Summed per poll, sent as `|c`.
    Counter,
    /// The latest value, sent as `|g`.
    Gauge,
    /// A duration in milliseconds, sent as `|ms`.
    Timer,
    /// A sample of a distribution (DogStatsD), sent as `|d`.
    Distribution,
}

/// Every metric ptsd emits: the on-call metrics, then ptsd's own metrics (`ptsd.*`, [`crate::self_metrics`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    Incidents,
    Notifications,
    Acknowledgements,
    Assignments,
    Escalations,
    Resolves,
    /// Push, phone and SMS notifications, bursts within 60 s counted once, by hour band.
    Interruptions,
    /// Milliseconds from trigger to first acknowledgement.
    TimeToAck,
    /// Milliseconds from trigger to resolve.
    TimeToResolve,
    /// Polls of one collector, by `outcome` (`ok`, `failed`).
    Polls,
    /// HTTP requests to the provider, by `status` class (`2xx`, `4xx`, `429`, `5xx`, `error`).
    ApiRequests,
    /// Requests tried again after a 5xx, a timeout, a connection error or a bad body.
    Retries,
    /// Waits imposed by a 429 or by the request budget.
    RateLimitWaits,
    /// Provider records skipped because they were malformed.
    EntriesSkipped,
    /// Parts of the timeline skipped because they failed the same persistent way poll after
    /// poll (a poison window, narrowed down to a second).
    WindowsSkipped,
    /// Activity-log rows that no log rule matched (counted for nobody).
    LogRowsUnmatched,
    /// How long a poll took, in milliseconds.
    PollDuration,
    /// How far the cursor is behind now, in seconds.
    CursorLag,
}

impl Metric {
    /// Every metric, in catalogue order.
    pub const ALL: [Metric; 18] = [
        Metric::Incidents,
        Metric::Notifications,
        Metric::Acknowledgements,
        Metric::Assignments,
        Metric::Escalations,
        Metric::Resolves,
        Metric::Interruptions,
        Metric::TimeToAck,
        Metric::TimeToResolve,
        Metric::Polls,
        Metric::ApiRequests,
        Metric::Retries,
        Metric::RateLimitWaits,
        Metric::EntriesSkipped,
        Metric::WindowsSkipped,
        Metric::LogRowsUnmatched,
        Metric::PollDuration,
        Metric::CursorLag,
    ];

    /// The metric's name (tagged name is `{prefix}.{name}`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Incidents => "incidents",
            Metric::Notifications => "notifications",
            Metric::Acknowledgements => "acknowledgements",
            Metric::Assignments => "assignments",
            Metric::Escalations => "escalations",
            Metric::Resolves => "resolves",
            Metric::Interruptions => "interruptions",
            Metric::TimeToAck => "time_to_ack",
            Metric::TimeToResolve => "time_to_resolve",
            Metric::Polls => "ptsd.polls",
            Metric::ApiRequests => "ptsd.api_requests",
            Metric::Retries => "ptsd.retries",
            Metric::RateLimitWaits => "ptsd.rate_limit_waits",
            Metric::EntriesSkipped => "ptsd.entries_skipped",
            Metric::WindowsSkipped => "ptsd.windows_skipped",
            Metric::LogRowsUnmatched => "ptsd.log_rows_unmatched",
            Metric::PollDuration => "ptsd.poll_duration",
            Metric::CursorLag => "ptsd.cursor_lag",
        }
    }

    /// How the value is sent.
    pub fn kind(self) -> Kind {
        match self {
            Metric::PollDuration | Metric::TimeToAck | Metric::TimeToResolve => Kind::Timer,
            Metric::CursorLag => Kind::Gauge,
            _ => Kind::Counter,
        }
    }

    /// Whether this is one of ptsd's own metrics.
    pub fn is_self(self) -> bool {
        self.name().starts_with("ptsd.")
    }
}

/// Tag keys, declared in the fixed order they are rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tag {
    Provider,
    User,
    Channel,
    Hours,
    Service,
    Urgency,
    Category,
    Status,
    Outcome,
}

impl Tag {
    /// The tag's key as rendered.
    pub fn key(self) -> &'static str {
        match self {
            Tag::Provider => "provider",
            Tag::User => "user",
            Tag::Channel => "channel",
            Tag::Hours => "hours",
            Tag::Service => "service",
            Tag::Urgency => "urgency",
            Tag::Category => "category",
            Tag::Status => "status",
            Tag::Outcome => "outcome",
        }
    }
}

/// One series: a metric and its (sanitised) tag values, sorted in [`Tag`] order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Series {
    pub metric: Metric,
    pub tags: Vec<(Tag, String)>,
}

impl Series {
    /// A series; tag values must already be sanitised.
    fn new(metric: Metric, mut tags: Vec<(Tag, String)>) -> Self {
        tags.sort_by_key(|(t, _)| *t);
        Series { metric, tags }
    }

    /// The value of `tag`, if the series carries it.
    pub fn tag(&self, tag: Tag) -> Option<&str> {
        self.tags
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }
}

/// Every metric name, as templates, in both flavors: what docs/metrics.md must document.
pub const CATALOGUE: &[&str] = &[
    "{prefix}.{provider}.incidents.{urgency}",
    "{prefix}.{provider}.services.{service}.incidents",
    "{prefix}.{provider}.categories.{category}.incidents",
    "{prefix}.{provider}.users.{user}.notifications.{channel}",
    "{prefix}.{provider}.users.{user}.acknowledgements",
    "{prefix}.{provider}.users.{user}.assignments",
    "{prefix}.{provider}.users.{user}.escalations",
    "{prefix}.{provider}.users.{user}.resolves",
    "{prefix}.{provider}.users.{user}.interruptions.{hours}",
    "{prefix}.{provider}.time_to_ack.{urgency}",
    "{prefix}.{provider}.services.{service}.time_to_ack",
    "{prefix}.{provider}.time_to_resolve.{urgency}",
    "{prefix}.{provider}.services.{service}.time_to_resolve",
    "{prefix}.incidents",
    "{prefix}.notifications",
    "{prefix}.acknowledgements",
    "{prefix}.assignments",
    "{prefix}.escalations",
    "{prefix}.resolves",
    "{prefix}.interruptions",
    "{prefix}.time_to_ack",
    "{prefix}.time_to_resolve",
    "{prefix}.ptsd.{provider}.polls.{outcome}",
    "{prefix}.ptsd.{provider}.api_requests.{status}",
    "{prefix}.ptsd.{provider}.retries",
    "{prefix}.ptsd.{provider}.rate_limit_waits",
    "{prefix}.ptsd.{provider}.entries_skipped",
    "{prefix}.ptsd.{provider}.windows_skipped",
    "{prefix}.ptsd.{provider}.log_rows_unmatched",
    "{prefix}.ptsd.{provider}.poll_duration",
    "{prefix}.ptsd.{provider}.cursor_lag",
    "{prefix}.ptsd.polls",
    "{prefix}.ptsd.api_requests",
    "{prefix}.ptsd.retries",
    "{prefix}.ptsd.rate_limit_waits",
    "{prefix}.ptsd.entries_skipped",
    "{prefix}.ptsd.windows_skipped",
    "{prefix}.ptsd.log_rows_unmatched",
    "{prefix}.ptsd.poll_duration",
    "{prefix}.ptsd.cursor_lag",
];

/// Longest sanitised value, in bytes; longer names are cut (StatsD lines must fit a datagram).
pub const MAX_VALUE_LEN: usize = 64;

/// Makes `raw` safe as a dotted-name segment and as a tag value: ASCII letters, digits, `_`
/// and `-` only; every other character (dots, `:`, `|`, `#`, `@`, `,`, spaces, newlines,
/// non-ASCII) becomes `_`; runs of `_` collapse; the result is at most [`MAX_VALUE_LEN`] bytes
/// (a longer value keeps its first 55 and ends `_` + an 8-hex-digit hash of the whole) and
/// never empty (`unknown`). With `lowercase`, letters are lowercased (names, e-mails);
/// ids keep their case.
pub fn sanitize(raw: &str, lowercase: bool) -> String {
    let mut out = String::with_capacity(raw.len().min(4 * MAX_VALUE_LEN));
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' {
            if lowercase {
                c.to_ascii_lowercase()
            } else {
                c
            }
        } else {
            '_'
        };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.len() > MAX_VALUE_LEN {
        // Cut, and end with a hash of the whole value, so two long names that share their
        // first 55 characters stay two series.
        let hash = format!("{:08x}", fnv1a32(out.as_bytes()));
        out.truncate(MAX_VALUE_LEN - hash.len() - 1);
        while out.ends_with('_') {
            out.pop();
        }
        out.push('_');
        out.push_str(&hash);
    }
    if out.is_empty() {
        out.push_str("unknown");
    }
    out
}

/// FNV-1a, 32 bits: a small hash that is the same on every machine and every run.
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The metric value for a person, chosen by `key`, falling back to the id when the provider
/// did not give the name or e-mail, or when nothing of it survives sanitising (a name written
/// only in non-Latin script), so that two such people never share a series.
pub fn person_value(person: &Person, key: UserKey) -> String {
    let chosen = match key {
        UserKey::Name => person.name.as_deref(),
        UserKey::Email => person.email.as_deref(),
        UserKey::Id => None,
    };
    match chosen {
        Some(v) if v.chars().any(|c| c.is_ascii_alphanumeric()) => sanitize(v, true),
        _ => sanitize(&person.id, false),
    }
}

/// A series of ptsd's own metrics for `provider`, with an optional `status` or `outcome` tag.
pub fn self_series(metric: Metric, provider: &str, detail: Option<&str>) -> Series {
    let mut tags = vec![(Tag::Provider, sanitize(provider, true))];
    if let Some(d) = detail {
        let tag = if metric == Metric::Polls {
            Tag::Outcome
        } else {
            Tag::Status
        };
        tags.push((tag, sanitize(d, true)));
    }
    Series::new(metric, tags)
}

/// What one event adds to a batch: counter series (each +1) and timing samples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contribution {
    pub counters: Vec<Series>,
    pub timings: Vec<(Series, i64)>,
}

/// The series an event, with its findings, counts towards.
pub fn series_for(
    event: &Event,
    found: &Findings,
    provider: &str,
    user_key: UserKey,
) -> Contribution {
    let provider = (Tag::Provider, sanitize(provider, true));
    let user = |p: &Person| (Tag::User, person_value(p, user_key));
    let mut out = Contribution::default();
    let mut count = |metric, tags| out.counters.push(Series::new(metric, tags));
    match &event.kind {
        EventKind::Triggered { service, urgency } => {
            let mut tags = vec![
                provider.clone(),
                (Tag::Service, sanitize(service, true)),
                (Tag::Urgency, sanitize(urgency, true)),
            ];
            if let Some(c) = &found.category {
                tags.push((Tag::Category, sanitize(c, true)));
            }
            count(Metric::Incidents, tags);
        }
        EventKind::Notified { user: p, channel } => {
            let mut tags = vec![
                provider.clone(),
                user(p),
                (Tag::Channel, channel.as_str().into()),
            ];
            if let Some(band) = found.band {
                tags.push((Tag::Hours, band.as_str().into()));
                if found.interruption {
                    count(
                        Metric::Interruptions,
                        vec![
                            provider.clone(),
                            user(p),
                            (Tag::Hours, band.as_str().into()),
                        ],
                    );
                }
            }
            count(Metric::Notifications, tags);
        }
        EventKind::Acknowledged { user: Some(p) } => {
            count(Metric::Acknowledgements, vec![provider.clone(), user(p)])
        }
        EventKind::Assigned { user: p } => {
            count(Metric::Assignments, vec![provider.clone(), user(p)])
        }
        EventKind::Escalated { user: p } => {
            count(Metric::Escalations, vec![provider.clone(), user(p)])
        }
        EventKind::Resolved { user: Some(p) } => {
            count(Metric::Resolves, vec![provider.clone(), user(p)])
        }
        EventKind::Acknowledged { user: None } | EventKind::Resolved { user: None } => {}
    }
    for (metric, timing) in [
        (Metric::TimeToAck, &found.time_to_ack),
        (Metric::TimeToResolve, &found.time_to_resolve),
    ] {
        if let Some(t) = timing {
            let series = Series::new(
                metric,
                vec![
                    provider.clone(),
                    (Tag::Service, sanitize(&t.service, true)),
                    (Tag::Urgency, sanitize(&t.urgency, true)),
                ],
            );
            let ms = t.duration.as_millis().clamp(0, i128::from(i64::MAX)) as i64;
            out.timings.push((series, ms));
        }
    }
    out
}

/// One rendered line's content, before any wire format: a name, tags in order, a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub name: String,
    pub tags: Vec<(&'static str, String)>,
    pub value: i64,
    pub kind: Kind,
}

/// Renders aggregated series in the tagged flavor: `{prefix}.{metric}` plus tags.
pub fn render_tagged(prefix: &str, series: &BTreeMap<Series, i64>) -> Vec<Rendered> {
    series
        .iter()
        .map(|(s, v)| Rendered {
            name: format!("{prefix}.{}", s.metric.name()),
            tags: s.tags.iter().map(|(t, v)| (t.key(), v.clone())).collect(),
            value: *v,
            kind: s.metric.kind(),
        })
        .collect()
}

/// Renders aggregated series in the plain flavor: every tag folded into a dotted name. Series
/// that fold into the same name are summed (counters) or the last one kept, so each name
/// appears once.
pub fn render_plain(prefix: &str, series: &BTreeMap<Series, i64>) -> Vec<Rendered> {
    let mut out: BTreeMap<String, (i64, Kind)> = BTreeMap::new();
    for (s, v) in series {
        let provider = s.tag(Tag::Provider).unwrap_or("unknown");
        let base = format!("{prefix}.{provider}");
        let names = match s.metric {
            m if m.is_self() => {
                let short = m.name().trim_start_matches("ptsd.");
                let mut name = format!("{prefix}.ptsd.{provider}.{short}");
                if let Some(d) = s.tag(Tag::Outcome).or(s.tag(Tag::Status)) {
                    name = format!("{name}.{d}");
                }
                vec![name]
            }
            Metric::Incidents => {
                let mut names = vec![
                    format!("{base}.incidents.{}", s.tag(Tag::Urgency).unwrap_or("none")),
                    format!(
                        "{base}.services.{}.incidents",
                        s.tag(Tag::Service).unwrap_or("unknown")
                    ),
                ];
                if let Some(c) = s.tag(Tag::Category) {
                    names.push(format!("{base}.categories.{c}.incidents"));
                }
                names
            }
            Metric::Interruptions => vec![format!(
                "{base}.users.{}.interruptions.{}",
                s.tag(Tag::User).unwrap_or("unknown"),
                s.tag(Tag::Hours).unwrap_or("unknown")
            )],
            Metric::TimeToAck | Metric::TimeToResolve => plain_timing_names(&base, s),
            Metric::Notifications => vec![format!(
                "{base}.users.{}.notifications.{}",
                s.tag(Tag::User).unwrap_or("unknown"),
                s.tag(Tag::Channel).unwrap_or("other")
            )],
            m => vec![format!(
                "{base}.users.{}.{}",
                s.tag(Tag::User).unwrap_or("unknown"),
                m.name()
            )],
        };
        let kind = s.metric.kind();
        for name in names {
            let slot = out.entry(name).or_insert((0, kind));
            slot.0 = if kind == Kind::Counter {
                slot.0 + v
            } else {
                *v
            };
        }
    }
    out.into_iter()
        .map(|(name, (value, kind))| Rendered {
            name,
            tags: Vec::new(),
            value,
            kind,
        })
        .collect()
}

/// The plain names of a time-to-ack or time-to-resolve sample: by urgency and by service.
fn plain_timing_names(base: &str, s: &Series) -> Vec<String> {
    let name = s.metric.name();
    vec![
        format!("{base}.{name}.{}", s.tag(Tag::Urgency).unwrap_or("none")),
        format!(
            "{base}.services.{}.{name}",
            s.tag(Tag::Service).unwrap_or("unknown")
        ),
    ]
}

/// Renders in `flavor`.
pub fn render(flavor: Flavor, prefix: &str, series: &BTreeMap<Series, i64>) -> Vec<Rendered> {
    match flavor {
        Flavor::Plain => render_plain(prefix, series),
        Flavor::Dogstatsd => render_tagged(prefix, series),
    }
}

/// How a slot's value joins a new contribution (timestamped sinks, [`render_timer_summary`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Combine {
    /// Added up (counts, sums, buckets).
    Sum,
    /// The largest kept (`.max`).
    Max,
    /// The latest kept (gauges).
    Last,
}

/// The cumulative buckets of a timer summary: samples at most this long, inclusive.
pub const TIMER_BUCKETS: &[(&str, i64)] = &[
    ("le_1m", 60_000),
    ("le_5m", 300_000),
    ("le_15m", 900_000),
    ("le_1h", 3_600_000),
    ("le_4h", 14_400_000),
];

/// One timing sample as the parts of a slot summary: `count` (1), `sum` (ms), `max` (ms), and
/// each cumulative bucket of [`TIMER_BUCKETS`] (`le_5m`: 1 when the sample is at most 5
/// minutes, else 0), each with how a slot's value joins the next sample's.
fn timer_summary(ms: i64) -> impl Iterator<Item = (&'static str, i64, Combine)> {
    [
        ("count", 1, Combine::Sum),
        ("sum", ms, Combine::Sum),
        ("max", ms, Combine::Max),
    ]
    .into_iter()
    .chain(
        TIMER_BUCKETS
            .iter()
            .map(move |(suffix, limit)| (*suffix, i64::from(ms <= *limit), Combine::Sum)),
    )
}

/// One timing sample as a slot summary ([`timer_summary`]) under both plain layouts
/// (`{prefix}.{provider}.time_to_ack.{urgency}` and `{prefix}.{provider}.services.{service}.time_to_ack`,
/// likewise `time_to_resolve`), for Graphite: `.count`, `.sum`, `.max`, `.le_1m` … `.le_4h`.
/// A slot's value is all its samples' contributions joined by the [`Combine`] given.
pub fn render_timer_summary(prefix: &str, s: &Series, ms: i64) -> Vec<(String, i64, Combine)> {
    let provider = s.tag(Tag::Provider).unwrap_or("unknown");
    let mut out = Vec::new();
    for base in plain_timing_names(&format!("{prefix}.{provider}"), s) {
        out.extend(timer_summary(ms).map(|(suffix, v, how)| (format!("{base}.{suffix}"), v, how)));
    }
    out
}

/// One timing sample as a slot summary ([`timer_summary`]) in the tagged flavor, for
/// timestamped DogStatsD (which takes no timestamped distributions): `{prefix}.time_to_ack.count`,
/// `.sum`, `.max` (a gauge) and `.le_1m` … `.le_4h` (counts), with the sample's tags.
pub fn render_timer_summary_tagged(prefix: &str, s: &Series, ms: i64) -> Vec<(Rendered, Combine)> {
    let tags: Vec<(&'static str, String)> =
        s.tags.iter().map(|(t, v)| (t.key(), v.clone())).collect();
    timer_summary(ms)
        .map(|(suffix, value, how)| {
            let kind = match how {
                Combine::Sum => Kind::Counter,
                Combine::Max | Combine::Last => Kind::Gauge,
            };
            let name = format!("{prefix}.{}.{suffix}", s.metric.name());
            let r = Rendered {
                name,
                tags: tags.clone(),
                value,
                kind,
            };
            (r, how)
        })
        .collect()
}

/// Renders timing samples, one line per sample: plain flavor as `|ms` timers under both of
/// [`plain_timing_names`], DogStatsD as one `|d` distribution line with its tags.
pub fn render_timings(
    flavor: Flavor,
    prefix: &str,
    samples: &BTreeMap<Series, Vec<i64>>,
) -> Vec<Rendered> {
    let mut out = Vec::new();
    for (s, values) in samples {
        match flavor {
            Flavor::Plain => {
                let provider = s.tag(Tag::Provider).unwrap_or("unknown");
                for name in plain_timing_names(&format!("{prefix}.{provider}"), s) {
                    out.extend(values.iter().map(|v| Rendered {
                        name: name.clone(),
                        tags: Vec::new(),
                        value: *v,
                        kind: Kind::Timer,
                    }));
                }
            }
            Flavor::Dogstatsd => out.extend(values.iter().map(|v| Rendered {
                name: format!("{prefix}.{}", s.metric.name()),
                tags: s.tags.iter().map(|(t, v)| (t.key(), v.clone())).collect(),
                value: *v,
                kind: Kind::Distribution,
            })),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Channel;

    fn person(id: &str, name: &str) -> Person {
        Person {
            id: id.into(),
            name: Some(name.into()),
            email: Some(format!("{}@Example.com", name.split(' ').next().unwrap())),
            time_zone: None,
        }
    }

    #[test]
    fn sanitize_table() {
        for (raw, lower, want) in [
            ("Ada Lovelace", true, "ada_lovelace"),
            ("ada@example.com", true, "ada_example_com"),
            ("PUSR001", false, "PUSR001"),
            ("a:b|c#d@e,f\ng", true, "a_b_c_d_e_f_g"),
            ("  --x--  ", true, "--x--"),
            ("Zoë Ünïcode", true, "zo_n_code"),
            ("", true, "unknown"),
            ("!!!", true, "unknown"),
            ("checkout.api", true, "checkout_api"),
        ] {
            assert_eq!(sanitize(raw, lower), want, "{raw:?}");
        }
        assert_eq!(sanitize(&"x".repeat(500), true).len(), MAX_VALUE_LEN);
        let long =
            |end: &str| sanitize(&format!("{}{end}", "Checkout API primary ".repeat(4)), true);
        assert_ne!(long("eu-west-1"), long("us-east-1"), "cut names stay apart");
        assert!(long("eu-west-1").starts_with("checkout_api_primary_checkout_api"));
        assert!(long("eu-west-1").len() <= MAX_VALUE_LEN);
    }

    #[test]
    fn user_key_choice_and_fallback() {
        let p = person("PUSR001", "Ada Lovelace");
        assert_eq!(person_value(&p, UserKey::Name), "ada_lovelace");
        assert_eq!(person_value(&p, UserKey::Email), "ada_example_com");
        assert_eq!(person_value(&p, UserKey::Id), "PUSR001");
        let bare = Person {
            id: "PX9".into(),
            name: None,
            email: None,
            time_zone: None,
        };
        assert_eq!(person_value(&bare, UserKey::Email), "PX9");
        let kanji = Person {
            id: "PJP1".into(),
            name: Some("名前 ユーザー".into()),
            ..Person::default()
        };
        assert_eq!(person_value(&kanji, UserKey::Name), "PJP1");
    }

    fn aggregate(events: &[EventKind]) -> BTreeMap<Series, i64> {
        let mut m = BTreeMap::new();
        for (i, kind) in events.iter().enumerate() {
            let e = Event {
                record_id: i.to_string(),
                at: jiff::Timestamp::UNIX_EPOCH,
                kind: kind.clone(),
                incident: None,
            };
            for s in series_for(&e, &Findings::default(), "pagerduty", UserKey::Name).counters {
                *m.entry(s).or_default() += 1;
            }
        }
        m
    }

    #[test]
    fn plain_and_tagged_renderings() {
        let ada = person("P1", "Ada Lovelace");
        let series = aggregate(&[
            EventKind::Triggered {
                service: "Checkout API".into(),
                urgency: "high".into(),
            },
            EventKind::Triggered {
                service: "Search".into(),
                urgency: "high".into(),
            },
            EventKind::Notified {
                user: ada.clone(),
                channel: Channel::Sms,
            },
            EventKind::Notified {
                user: ada.clone(),
                channel: Channel::Sms,
            },
            EventKind::Acknowledged {
                user: Some(ada.clone()),
            },
            EventKind::Acknowledged { user: None },
        ]);
        let plain: Vec<String> = render_plain("ptsd", &series)
            .into_iter()
            .map(|r| format!("{}={}", r.name, r.value))
            .collect();
        assert_eq!(
            plain,
            [
                "ptsd.pagerduty.incidents.high=2",
                "ptsd.pagerduty.services.checkout_api.incidents=1",
                "ptsd.pagerduty.services.search.incidents=1",
                "ptsd.pagerduty.users.ada_lovelace.acknowledgements=1",
                "ptsd.pagerduty.users.ada_lovelace.notifications.sms=2",
            ]
        );
        let tagged = render_tagged("ptsd", &series);
        let notif = tagged
            .iter()
            .find(|r| r.name == "ptsd.notifications")
            .unwrap();
        assert_eq!(
            notif.tags,
            vec![
                ("provider", "pagerduty".to_string()),
                ("user", "ada_lovelace".to_string()),
                ("channel", "sms".to_string())
            ]
        );
        assert_eq!(notif.value, 2);
        let inc: Vec<_> = tagged
            .iter()
            .filter(|r| r.name == "ptsd.incidents")
            .collect();
        assert_eq!(inc.len(), 2);
        assert_eq!(
            inc[0].tags.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            ["provider", "service", "urgency"]
        );
    }

    #[test]
    fn findings_add_interruptions_hours_categories_and_timings() {
        use crate::analysis::hours::Band;
        use crate::analysis::Timing;
        let ada = person("P1", "Ada Lovelace");
        let at = jiff::Timestamp::UNIX_EPOCH;
        let notify = Event {
            record_id: "R1".into(),
            at,
            kind: EventKind::Notified {
                user: ada.clone(),
                channel: Channel::Push,
            },
            incident: None,
        };
        let found = Findings {
            band: Some(Band::Sleep),
            interruption: true,
            ..Findings::default()
        };
        let c = series_for(&notify, &found, "pagerduty", UserKey::Name);
        let mut m = BTreeMap::new();
        for s in c.counters {
            m.insert(s, 1);
        }
        let plain: Vec<String> = render_plain("ptsd", &m)
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(
            plain,
            [
                "ptsd.pagerduty.users.ada_lovelace.interruptions.sleep",
                "ptsd.pagerduty.users.ada_lovelace.notifications.push",
            ]
        );
        let tagged = render_tagged("ptsd", &m);
        let keys: Vec<Vec<&str>> = tagged
            .iter()
            .map(|r| r.tags.iter().map(|(k, _)| *k).collect())
            .collect();
        assert_eq!(
            keys,
            [
                vec!["provider", "user", "channel", "hours"],
                vec!["provider", "user", "hours"]
            ]
        );

        let trigger = Event {
            record_id: "R2".into(),
            at,
            kind: EventKind::Triggered {
                service: "Checkout API".into(),
                urgency: "high".into(),
            },
            incident: None,
        };
        let found = Findings {
            category: Some("disk on db".into()),
            ..Findings::default()
        };
        let mut m = BTreeMap::new();
        for s in series_for(&trigger, &found, "pagerduty", UserKey::Name).counters {
            m.insert(s, 1);
        }
        let plain: Vec<String> = render_plain("ptsd", &m)
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert!(plain.contains(&"ptsd.pagerduty.categories.disk_on_db.incidents".to_string()));

        let resolve = Event {
            record_id: "R3".into(),
            at,
            kind: EventKind::Resolved { user: None },
            incident: None,
        };
        let found = Findings {
            time_to_resolve: Some(Timing {
                duration: jiff::SignedDuration::from_millis(150_500),
                service: "Checkout API".into(),
                urgency: "high".into(),
            }),
            ..Findings::default()
        };
        let c = series_for(&resolve, &found, "pagerduty", UserKey::Name);
        assert!(c.counters.is_empty(), "an automatic resolve is nobody's");
        let mut samples = BTreeMap::new();
        for (s, v) in c.timings {
            samples.entry(s).or_insert_with(Vec::new).push(v);
        }
        let plain: Vec<(String, i64, Kind)> = render_timings(Flavor::Plain, "ptsd", &samples)
            .into_iter()
            .map(|r| (r.name, r.value, r.kind))
            .collect();
        assert_eq!(
            plain,
            [
                (
                    "ptsd.pagerduty.time_to_resolve.high".to_string(),
                    150_500,
                    Kind::Timer
                ),
                (
                    "ptsd.pagerduty.services.checkout_api.time_to_resolve".to_string(),
                    150_500,
                    Kind::Timer
                ),
            ]
        );
        let tagged = render_timings(Flavor::Dogstatsd, "ptsd", &samples);
        assert_eq!(tagged.len(), 1);
        assert_eq!(tagged[0].name, "ptsd.time_to_resolve");
        assert_eq!(tagged[0].kind, Kind::Distribution);
    }

    #[test]
    fn catalogue_covers_every_metric() {
        for m in Metric::ALL {
            let tagged = format!("{{prefix}}.{}", m.name());
            assert!(CATALOGUE.contains(&tagged.as_str()), "{tagged}");
            let short = m.name().trim_start_matches("ptsd.");
            assert!(
                CATALOGUE
                    .iter()
                    .any(|n| (n.starts_with("{prefix}.{provider}")
                        || n.starts_with("{prefix}.ptsd.{provider}"))
                        && n.contains(short)),
                "{m:?}"
            );
        }
    }
}
