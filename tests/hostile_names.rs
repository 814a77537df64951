//! Hostile names: whatever people and services are called, and whatever a log entry looks like,
//! ptsd emits only well-formed StatsD lines with the names it documents, and never panics.
//!
//! Why: user and service names come from PagerDuty, i.e. from anyone who can edit a profile. A
//! name like `"evil\nptsd.injected:999|c"` must not become a second StatsD line, `"Ada:Lovelace|c"`
//! must not end a line early, `"#tag,x:y"` must not forge DogStatsD tags, `"@0.5"` must not become
//! a sample rate, and a user literally named like a metric must not land on someone else's series.
//! Three layers:
//! - a property test of [`ptsd::schema::sanitize`], the one function every name goes through;
//! - a property test of [`ptsd::collectors::pagerduty::map_entry`] over arbitrary JSON and
//!   log-entry-shaped objects with missing or wrongly typed fields: Ok or Err, never a panic;
//! - end to end: the real binary reads hostile names from the fake PagerDuty API and sends to the
//!   real Etsy StatsD daemon in both flavors; every key read back must be one computed with the
//!   library's own `sanitize`, with exact values, and StatsD must see no bad line.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::time::{Duration, Instant};

use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use ptsd::collectors::pagerduty::{map_entry, Mapped, Skip, UserInfo};
use ptsd::event::EventKind;
use ptsd::schema::{sanitize, MAX_VALUE_LEN};
use serde_json::{Map, Value};
use support::*;

const TOKEN: &str = "u+hostileSecretToken13abc";

// ---------------------------------------------------------------------------------------------
// sanitize

/// Characters that mean something to StatsD, DogStatsD or Graphite, plus whitespace and controls.
const SPECIALS: &[char] = &[
    ':', '|', '#', '@', ',', '.', ';', '=', '/', '\\', ' ', '\t', '\n', '\r', '\0', '\u{7f}', '_',
    '-', '\u{a0}', '\u{2028}', '\u{feff}', 'é', 'ß', 'İ', '名', '😀',
];

/// Strings likely to break a naive sanitiser: arbitrary unicode, mixes of ASCII and specials,
/// runs of `_`, and very long strings.
fn hostile_string() -> impl Strategy<Value = String> {
    let mixed_char = prop_oneof![
        4 => proptest::char::range('0', 'z'),
        3 => proptest::sample::select(SPECIALS),
        1 => any::<char>(),
    ];
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(mixed_char.clone(), 0..40)
            .prop_map(|v| v.into_iter().collect::<String>()),
        proptest::collection::vec(mixed_char, 60..700)
            .prop_map(|v| v.into_iter().collect::<String>()),
        "[_ .:|#@,\n-]{0,20}[a-zA-Z0-9]{0,90}[_ .:|#@,\n-]{0,20}",
    ]
}

/// `s` with every character but ASCII letters, digits and `-` as one `_` per run, trimmed:
/// what sanitize makes of it before the length limit.
fn collapsed(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    mapped
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// The ASCII letters, digits and `-` of `s`, in order (what sanitize keeps), optionally lowercased.
fn kept(s: &str, lowercase: bool) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .map(|c| if lowercase { c.to_ascii_lowercase() } else { c })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn sanitize_output_is_always_a_safe_segment(raw in hostile_string(), lowercase in any::<bool>()) {
        let out = sanitize(&raw, lowercase);
        prop_assert!(!out.is_empty(), "empty for {raw:?}");
        prop_assert!(out.len() <= MAX_VALUE_LEN, "{} bytes for {raw:?}: {out:?}", out.len());
        prop_assert!(
            out.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "{out:?} from {raw:?}"
        );
        prop_assert!(!out.starts_with('_') && !out.ends_with('_'), "{out:?} from {raw:?}");
        prop_assert!(!out.contains("__"), "runs of _ collapse: {out:?} from {raw:?}");
        prop_assert_eq!(sanitize(&out, lowercase), out.clone(), "not idempotent for {:?}", raw);
        if lowercase {
            prop_assert!(!out.bytes().any(|b| b.is_ascii_uppercase()), "{out:?} from {raw:?}");
        }
        // Content: the letters, digits and `-` kept are a prefix of the input's, in order
        // (cut at the length limit); with none at all the value is `unknown`.
        // A value cut at the limit ends with `_` and 8 hex digits of a hash of the whole.
        let from_input = kept(&raw, lowercase);
        if from_input.is_empty() {
            prop_assert_eq!(out.as_str(), "unknown");
        } else {
            let body = match out.len().checked_sub(9).map(|i| out.split_at(i)) {
                Some((body, tail)) if collapsed(&raw).len() > MAX_VALUE_LEN => {
                    prop_assert!(
                        tail.starts_with('_') && tail[1..].bytes().all(|b| b.is_ascii_hexdigit()),
                        "{out:?}: a cut value ends with _ and a hash"
                    );
                    body
                }
                _ => out.as_str(),
            };
            let kept_out = kept(body, lowercase);
            prop_assert!(
                from_input.starts_with(&kept_out) && !kept_out.is_empty(),
                "{out:?} does not keep the start of {raw:?}"
            );
        }
    }

    #[test]
    fn sanitize_leaves_clean_values_alone(clean in "[a-zA-Z0-9-]{1,20}(_[a-zA-Z0-9-]{1,20}){0,3}") {
        prop_assume!(clean.len() <= MAX_VALUE_LEN);
        prop_assert_eq!(sanitize(&clean, false), clean.clone());
        prop_assert_eq!(sanitize(&clean, true), clean.to_ascii_lowercase());
    }
}

// ---------------------------------------------------------------------------------------------
// map_entry

/// Every log entry `type` PagerDuty documents, plus the spelling variants ptsd accepts.
const ENTRY_TYPES: &[&str] = &[
    "acknowledge_log_entry",
    "acknowledgement_log_entry",
    "annotate_log_entry",
    "assign_log_entry",
    "delegate_log_entry",
    "escalate_log_entry",
    "exhaust_escalation_path_log_entry",
    "notify_log_entry",
    "reach_ack_limit_log_entry",
    "reach_trigger_limit_log_entry",
    "repeat_escalation_path_log_entry",
    "resolve_log_entry",
    "snooze_log_entry",
    "trigger_log_entry",
    "unacknowledge_log_entry",
    "urgency_change_log_entry",
    "priority_change_log_entry",
    "link_log_entry",
];

/// The types that can produce events (after the `_reference` suffix is dropped).
const COUNTED_TYPES: &[&str] = &[
    "trigger_log_entry",
    "notify_log_entry",
    "acknowledge_log_entry",
    "acknowledgement_log_entry",
    "resolve_log_entry",
    "assign_log_entry",
    "escalate_log_entry",
];

/// Field names of log entries and references, to make random objects look like real ones.
const FIELD_NAMES: &[&str] = &[
    "id",
    "type",
    "created_at",
    "agent",
    "user",
    "assignees",
    "channel",
    "notification",
    "service",
    "incident",
    "urgency",
    "summary",
    "name",
    "email",
];

/// Any JSON value: null, bools, integers, finite floats, strings (random or entry-like),
/// and nested arrays and objects.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        any::<String>().prop_map(Value::String),
        entry_like_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(FIELD_NAMES).prop_map(String::from),
        1 => any::<String>(),
    ]
}

/// Strings a log entry's fields hold: types, reference types, timestamps, channels.
fn entry_like_string() -> impl Strategy<Value = String> {
    prop_oneof![
        entry_type(),
        proptest::sample::select(
            &[
                "user_reference",
                "user",
                "integration_reference",
                "service_reference",
                "sms_notification",
                "push_notification",
                "Notified X by phone",
                " by ",
                "",
                "high",
                "low",
            ][..]
        )
        .prop_map(String::from),
        created_at_string(),
    ]
}

/// A real entry type, maybe with `_reference`, or a random string.
fn entry_type() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (proptest::sample::select(ENTRY_TYPES), any::<bool>()).prop_map(|(t, r)| {
            if r { format!("{t}_reference") } else { t.to_string() }
        }),
        1 => any::<String>(),
    ]
}

/// An RFC 3339 time with some offset, or text that only looks like one.
fn created_at_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (-2_000_000_000i64..4_000_000_000i64, -1080i32..=1080i32, 0u32..1_000_000_000u32)
            .prop_map(|(secs, offset_min, nanos)| rfc3339(secs, offset_min, nanos)),
        1 => proptest::sample::select(&[
            "yesterday",
            "",
            "2026-13-45T99:99:99Z",
            "2026-03-02T03:14:07",
            "2026-03-02 03:14:07Z",
            "9999-12-31T23:59:59-25:00",
            "-009999-01-01T00:00:00Z",
            "2026-03-02T03:14:07.123456789123Z",
        ][..])
        .prop_map(String::from),
        1 => any::<String>(),
    ]
}

/// A field value: usually the right shape, sometimes any JSON at all.
fn or_any(right: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop_oneof![5 => right, 1 => arb_json()]
}

fn opt_string_value() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(or_any(any::<String>().prop_map(Value::String)))
}

/// A reference object (`user_reference`, integration, service…), fields missing or wrong.
fn wild_reference() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(or_any(
            prop_oneof![
                Just("PUSR001".to_string()),
                Just(String::new()),
                any::<String>()
            ]
            .prop_map(Value::String),
        )),
        proptest::option::of(or_any(entry_like_string().prop_map(Value::String))),
        opt_string_value(),
        opt_string_value(),
        opt_string_value(),
    )
        .prop_map(|(id, kind, summary, name, email)| {
            object([
                ("id", id),
                ("type", kind),
                ("summary", summary),
                ("name", name),
                ("email", email),
            ])
        })
}

fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    let mut m = Map::new();
    for (k, v) in fields {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    }
    Value::Object(m)
}

/// An object shaped like a log entry, every field present or absent, right or wrongly typed
/// (mostly malformed: many fields, each of which may be wrong).
fn wild_log_entry() -> impl Strategy<Value = Value> {
    let channel = (
        proptest::option::of(or_any(entry_like_string().prop_map(Value::String))),
        proptest::option::of(or_any(
            proptest::option::of(or_any(entry_like_string().prop_map(Value::String)))
                .prop_map(|t| object([("type", t)])),
        )),
    )
        .prop_map(|(t, n)| object([("type", t), ("notification", n)]));
    let incident = (
        proptest::option::of(or_any(
            prop_oneof![Just("high"), Just("low"), Just("hi:gh|c")]
                .prop_map(|s| Value::String(s.into())),
        )),
        proptest::option::of(wild_reference()),
    )
        .prop_map(|(u, s)| object([("urgency", u), ("service", s)]));
    let head = (
        proptest::option::of(or_any(
            prop_oneof![Just("R1".to_string()), any::<String>()].prop_map(Value::String),
        )),
        proptest::option::of(or_any(entry_type().prop_map(Value::String))),
        proptest::option::of(or_any(created_at_string().prop_map(Value::String))),
        opt_string_value(),
    );
    let refs = (
        proptest::option::of(or_any(wild_reference())),
        proptest::option::of(or_any(wild_reference())),
        proptest::option::of(or_any(
            proptest::collection::vec(or_any(wild_reference()), 0..4).prop_map(Value::Array),
        )),
        proptest::option::of(or_any(wild_reference())),
    );
    let rest = (
        proptest::option::of(or_any(channel)),
        proptest::option::of(or_any(incident)),
        proptest::option::of(arb_json()),
    );
    (head, refs, rest).prop_map(
        |(
            (id, kind, created_at, summary),
            (agent, user, assignees, service),
            (channel, incident, extra),
        )| {
            object([
                ("id", id),
                ("type", kind),
                ("created_at", created_at),
                ("summary", summary),
                ("agent", agent),
                ("user", user),
                ("assignees", assignees),
                ("service", service),
                ("channel", channel),
                ("incident", incident),
                ("some_future_field", extra),
            ])
        },
    )
}

/// A well-shaped reference: a user (sometimes with an empty id or no type), or an integration
/// or service, with hostile names.
fn reference() -> impl Strategy<Value = Value> {
    (
        prop_oneof![6 => "P[0-9A-Z]{3,6}", 1 => Just(String::new())],
        proptest::option::weighted(
            0.9,
            proptest::sample::select(
                &[
                    "user_reference",
                    "user_reference",
                    "user_reference",
                    "user",
                    "integration_reference",
                    "service_reference",
                ][..],
            ),
        ),
        proptest::option::of(hostile_string()),
        proptest::option::of(hostile_string()),
        proptest::option::of(hostile_string()),
    )
        .prop_map(|(id, kind, summary, name, email)| {
            object([
                ("id", Some(Value::String(id))),
                ("type", kind.map(|k| Value::String(k.into()))),
                ("summary", summary.map(Value::String)),
                ("name", name.map(Value::String)),
                ("email", email.map(Value::String)),
            ])
        })
}

/// A counted entry type most of the time (in any accepted spelling), else any real type.
fn likely_counted_type() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (proptest::sample::select(COUNTED_TYPES), any::<bool>()).prop_map(|(t, r)| {
            if r { format!("{t}_reference") } else { t.to_string() }
        }),
        1 => entry_type(),
    ]
}

/// A log entry in PagerDuty's shape with every field well typed, optional ones sometimes
/// absent, names hostile.
fn well_formed_log_entry() -> impl Strategy<Value = Value> {
    let valid_time = (
        -2_000_000_000i64..4_000_000_000i64,
        -1080i32..=1080i32,
        0u32..1_000_000_000u32,
    )
        .prop_map(|(secs, offset_min, nanos)| rfc3339(secs, offset_min, nanos));
    let channel = proptest::option::weighted(
        0.8,
        proptest::sample::select(
            &[
                "sms",
                "sms_notification",
                "phone",
                "voice",
                "email_notification",
                "push_notification",
                "apns_push",
                "slack",
                "",
            ][..],
        ),
    )
    .prop_map(|n| {
        object([
            ("type", Some(Value::String("auto".into()))),
            (
                "notification",
                n.map(|t| object([("type", Some(Value::String(t.into())))])),
            ),
        ])
    });
    let incident = (
        proptest::option::weighted(
            0.8,
            prop_oneof![Just("high"), Just("low"), Just("hi:gh|c")]
                .prop_map(|s| Value::String(s.into())),
        ),
        proptest::option::of(reference()),
    )
        .prop_map(|(u, s)| object([("urgency", u), ("service", s)]));
    let summary = prop_oneof![
        Just("Notified Ada by SMS".to_string()),
        Just("Notified Ada by phone".to_string()),
        hostile_string(),
    ];
    (
        ("R[0-9A-Z]{1,8}", likely_counted_type(), valid_time),
        (
            proptest::option::weighted(0.8, reference()),
            proptest::option::weighted(0.8, reference()),
            proptest::option::weighted(0.8, proptest::collection::vec(reference(), 0..4)),
            proptest::option::weighted(0.8, reference()),
        ),
        (
            proptest::option::weighted(0.8, channel),
            proptest::option::weighted(0.8, incident),
            proptest::option::of(summary),
        ),
    )
        .prop_map(
            |(
                (id, kind, created_at),
                (agent, user, assignees, service),
                (channel, incident, summary),
            )| {
                object([
                    ("id", Some(Value::String(id))),
                    ("type", Some(Value::String(kind))),
                    ("created_at", Some(Value::String(created_at))),
                    ("agent", agent),
                    ("user", user),
                    ("assignees", assignees.map(Value::Array)),
                    ("service", service),
                    ("channel", channel),
                    ("incident", incident),
                    ("summary", summary.map(Value::String)),
                ])
            },
        )
}

/// `secs` since the epoch plus `nanos`, in RFC 3339 at a fixed offset of `offset_min` minutes.
fn rfc3339(secs: i64, offset_min: i32, nanos: u32) -> String {
    let ts = Timestamp::new(secs, nanos as i32).expect("in range");
    let tz = TimeZone::fixed(Offset::from_seconds(offset_min * 60).expect("offset"));
    ts.to_zoned(tz)
        .strftime("%Y-%m-%dT%H:%M:%S%.f%:z")
        .to_string()
}

/// One edit to an entry: at `key` (top level) or `key.inner` (one level down), remove the
/// field (`None`) or set it to any JSON value.
type Mutation = ((&'static str, Option<&'static str>), Option<Value>);

fn mutate(entry: &mut Value, ((key, inner), new): Mutation) {
    let Value::Object(top) = entry else {
        return;
    };
    let (map, key) = match inner {
        None => (top, key),
        Some(inner) => match top.get_mut(key) {
            Some(Value::Object(m)) => (m, inner),
            _ => return,
        },
    };
    match new {
        None => {
            map.remove(key);
        }
        Some(v) => {
            map.insert(key.to_string(), v);
        }
    }
}

/// A well-formed entry with up to three fields removed or replaced by arbitrary JSON.
fn mutated_log_entry() -> impl Strategy<Value = Value> {
    let place = (
        proptest::sample::select(FIELD_NAMES),
        proptest::option::of(proptest::sample::select(FIELD_NAMES)),
    );
    let edit = (place, proptest::option::of(arb_json()));
    (
        well_formed_log_entry(),
        proptest::collection::vec(edit, 0..4),
    )
        .prop_map(|(mut entry, edits)| {
            for e in edits {
                mutate(&mut entry, e);
            }
            entry
        })
}

/// The people an event names.
fn people(kind: &EventKind) -> Vec<&ptsd::event::Person> {
    match kind {
        EventKind::Triggered { .. } => vec![],
        EventKind::Acknowledged { user } | EventKind::Resolved { user } => user.iter().collect(),
        EventKind::Notified { user, .. }
        | EventKind::Assigned { user }
        | EventKind::Escalated { user } => vec![user],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn map_entry_never_panics_on_any_json(
        value in prop_oneof![1 => arb_json(), 1 => wild_log_entry(), 3 => mutated_log_entry()],
        with_emails in any::<bool>(),
    ) {
        let mut users = HashMap::new();
        if with_emails {
            users.insert(
                "PUSR001".to_string(),
                UserInfo { email: Some("ada@example.com".to_string()), time_zone: Some("Europe/London".to_string()) },
            );
        }
        let raw = value.to_string();
        let first = map_entry(&raw, &users);
        // Deterministic: the same entry maps the same way.
        prop_assert_eq!(&map_entry(&raw, &users), &first);
        match first {
            Ok(Mapped { id, at, kinds, .. }) => {
                prop_assert_eq!(Some(id.as_str()), value["id"].as_str(), "id of {}", value);
                let created: Timestamp = value["created_at"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .expect("an accepted entry has a parseable created_at");
                prop_assert_eq!(at, created);
                prop_assert!(!kinds.is_empty(), "Ok with no events for {}", value);
                let t = value["type"].as_str().expect("an accepted entry has a string type");
                let t = t.strip_suffix("_reference").unwrap_or(t);
                prop_assert!(COUNTED_TYPES.contains(&t), "type {t:?} produced events: {kinds:?}");
                for k in &kinds {
                    for p in people(k) {
                        prop_assert!(!p.id.is_empty(), "a person without id: {k:?} from {value}");
                    }
                }
            }
            Err(Skip::Malformed(why)) => prop_assert!(!why.is_empty()),
            Err(Skip::NotCounted) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// End to end

/// Names chosen to break StatsD lines, DogStatsD tags and Graphite paths.
const HOSTILE: [&str; 8] = [
    "Ada:Lovelace|c",
    "evil\nptsd.injected:999|c",
    "#tag,x:y",
    "@0.5",
    "名前 ユーザー",
    "", // replaced by a 300-character name in `hostile_names()`
    "a b\tc",
    "ptsd.pagerduty.users.x.acknowledgements",
];

fn hostile_names() -> Vec<String> {
    let long: String = "Looooong Name:|#@, ".repeat(16).chars().take(300).collect();
    assert_eq!(long.chars().count(), 300);
    HOSTILE
        .iter()
        .map(|n| {
            if n.is_empty() {
                long.clone()
            } else {
                n.to_string()
            }
        })
        .collect()
}

/// How the library names a user with this id and display name (`PTSD_USER_KEY=name`).
fn user_value(id: &str, name: &str) -> String {
    ptsd::schema::person_value(
        &ptsd::event::Person {
            id: id.to_string(),
            name: Some(name.to_string()),
            ..ptsd::event::Person::default()
        },
        ptsd::schema::UserKey::Name,
    )
}

/// The counters a correct run emits for the fake's entries, in both flavors, keyed as Etsy
/// statsd stores them; computed with the library's `sanitize`.
struct Expected {
    plain: BTreeMap<String, f64>,
    tagged: BTreeMap<String, f64>,
}

impl Expected {
    fn add(map: &mut BTreeMap<String, f64>, key: String) {
        *map.entry(key).or_insert(0.0) += 1.0;
    }

    fn user_metric(&mut self, metric: &str, id: &str, user: &str) {
        let u = user_value(id, user);
        Self::add(
            &mut self.plain,
            format!("ptsd.pagerduty.users.{u}.{metric}"),
        );
        Self::add(
            &mut self.tagged,
            format!("ptsd.{metric};provider=pagerduty;user={u}"),
        );
    }

    fn notification(&mut self, id: &str, user: &str, channel: &str) {
        let u = user_value(id, user);
        Self::add(
            &mut self.plain,
            format!("ptsd.pagerduty.users.{u}.notifications.{channel}"),
        );
        Self::add(
            &mut self.tagged,
            format!("ptsd.notifications;provider=pagerduty;user={u};channel={channel}"),
        );
    }

    fn incident(&mut self, service: &str, urgency: &str) {
        let s = sanitize(service, true);
        let u = sanitize(urgency, true);
        Self::add(&mut self.plain, format!("ptsd.pagerduty.incidents.{u}"));
        Self::add(
            &mut self.plain,
            format!("ptsd.pagerduty.services.{s}.incidents"),
        );
        Self::add(
            &mut self.tagged,
            format!("ptsd.incidents;provider=pagerduty;service={s};urgency={u}"),
        );
    }
}

/// One incident per hostile name, on a service with another hostile name: triggered, assigned,
/// notified by SMS and push, escalated to the next person, acked by the first, acked once more by
/// an integration with a hostile name (not counted), resolved by the next person.
fn hostile_fake() -> (FakePagerDuty, Expected) {
    let fake = FakePagerDuty::start_blocking(TOKEN);
    let names = hostile_names();
    let mut want = Expected {
        plain: BTreeMap::new(),
        tagged: BTreeMap::new(),
    };
    let t0 = Timestamp::now() - SignedDuration::from_secs(40 * 60);
    let mut entries = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let next = &names[(i + 1) % names.len()];
        let uid = format!("PHOST{i:02}");
        let next_uid = format!("PHOST{:02}", (i + 1) % names.len());
        let service = &names[(i + 3) % names.len()];
        let urgency = if i % 2 == 0 { "high" } else { "low" };
        let inc = Incident::new(&format!("PHINC{i:02}"), service, urgency);
        let at = |s: i64| t0 + SignedDuration::from_secs(i as i64 * 120 + s);
        let id = |k: &str| format!("RH{i:02}{k}");
        entries.extend([
            trigger(&id("a"), at(0), &inc),
            assign(&id("b"), at(1), &inc, &[(uid.as_str(), name.as_str())]),
            notify(&id("c"), at(2), &inc, &uid, name, "sms"),
            notify(&id("d"), at(3), &inc, &uid, name, "push_notification"),
            escalate(
                &id("e"),
                at(30),
                &inc,
                &[(next_uid.as_str(), next.as_str())],
            ),
            acknowledge(&id("f"), at(40), &inc, &uid, name, "user_reference"),
            acknowledge(
                &id("g"),
                at(41),
                &inc,
                "PINTEVIL",
                "evil\nptsd.integration_injected:1|c",
                "integration_reference",
            ),
            resolve(&id("h"), at(60), &inc, &next_uid, next, "user_reference"),
        ]);
        want.incident(service, urgency);
        want.user_metric("assignments", &uid, name);
        want.notification(&uid, name, "sms");
        want.notification(&uid, name, "push");
        want.user_metric("escalations", &next_uid, next);
        want.user_metric("acknowledgements", &uid, name);
        want.user_metric("resolves", &next_uid, next);
    }
    fake.add_entries(entries);
    (fake, want)
}

fn ptsd_command(fake: &FakePagerDuty, peer: &StatsdPeer, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ptsd"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PDTOKEN", TOKEN)
        .env("PAGERDUTY_API_URL", &fake.url)
        .env("STATSD_HOST", "127.0.0.1")
        .env("STATSD_PORT", peer.udp_port.to_string())
        .env("RUST_LOG", "debug")
        .env("PTSD_BACKFILL", "1h");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Polls StatsD until its keys under `ptsd.` (without ptsd's own `ptsd.ptsd.*`) equal `want`
/// exactly, or `timeout` passes; returns the last read.
fn wait_exact(
    peer: &StatsdPeer,
    want: &BTreeMap<String, f64>,
    timeout: Duration,
) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = oncall(peer.counters());
        if &got == want || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs ptsd `--once` in one flavor against a fresh StatsD and checks what StatsD holds.
fn run_flavor(fake: &FakePagerDuty, flavor: &str, want: &BTreeMap<String, f64>) {
    let peer = StatsdPeer::start();
    let out = ptsd_command(fake, &peer, &[("PTSD_STATSD_FLAVOR", flavor)])
        .arg("--once")
        .output()
        .expect("ptsd runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(TOKEN), "the token leaked into the log");
    assert!(out.status.success(), "ptsd failed ({flavor}):\n{stderr}");

    let got = wait_exact(&peer, want, Duration::from_secs(15));
    assert_eq!(
        peer.bad_lines(),
        0.0,
        "StatsD saw malformed lines ({flavor})"
    );
    let unexpected: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        unexpected.is_empty(),
        "keys not computed from sanitize ({flavor}): {unexpected:?}\nall: {got:#?}"
    );
    assert_eq!(&got, want, "values ({flavor})");

    // Nothing was injected: the evil name survives only as its own sanitised segment, and no key
    // anywhere (ptsd's own metrics included) has a segment of its own called `injected`, nor the
    // forged value.
    let evil = sanitize(HOSTILE[1], true);
    let all = peer.all_counters();
    for (k, v) in &all {
        // An alert category is made from the title, which holds the evil name with its numbers
        // dropped: it is one sanitised segment (or tag value) too, so it is set aside here.
        let k_without_category: String = if k.starts_with("ptsd.pagerduty.categories.") {
            let parts: Vec<&str> = k.split('.').collect();
            format!("{}.{}", parts[..3].join("."), parts[4..].join("."))
        } else {
            k.split(';')
                .filter(|p| !p.starts_with("category="))
                .collect::<Vec<_>>()
                .join(";")
        };
        let rest = k_without_category.replace(&evil, "");
        assert!(
            !rest.contains("injected"),
            "an injected key ({flavor}): {k:?} = {v}"
        );
        assert!(
            !(k.starts_with("ptsd.") && *v == 999.0),
            "a forged value ({flavor}): {k:?} = {v}"
        );
    }
    // Every ptsd key (own metrics included) is made of safe characters only.
    for k in all.keys().filter(|k| k.starts_with("ptsd.")) {
        assert!(
            k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-;=".contains(c)),
            "unsafe key ({flavor}): {k:?}"
        );
    }
}

#[test]
fn hostile_names_become_safe_exact_keys_in_both_flavors() {
    let (fake, want) = hostile_fake();
    // The expectations themselves exercise every hostile name.
    assert!(want.plain.contains_key(&format!(
        "ptsd.pagerduty.users.{}.acknowledgements",
        sanitize(HOSTILE[7], true)
    )));
    assert!(!want
        .plain
        .contains_key("ptsd.pagerduty.users.x.acknowledgements"));
    run_flavor(&fake, "plain", &want.plain);
    run_flavor(&fake, "dogstatsd", &want.tagged);
}
