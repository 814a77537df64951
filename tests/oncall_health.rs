//! On-call health end to end: the real `ptsd` binary reads a known week from the fake
//! PagerDuty API, with people in three time zones and one without (the account zone applies),
//! and sends to the real Etsy StatsD daemon. Interruptions by hour band, alert categories and
//! time to acknowledge and resolve are read back from StatsD and must be exactly what the week
//! holds.
//!
//! The notifications are placed at *local* wall-clock times in each person's zone (converted
//! with jiff's tz database), so the expected band of each is known by construction, whatever
//! the date the test runs on and whichever side of a daylight-saving change the week falls.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use jiff::civil::{Date, Weekday};
use jiff::{SignedDuration, Timestamp, ToSpan};
use ptsd::schema::sanitize;
use support::*;

const TOKEN: &str = "oncall+HealthToken77";

/// `(id, name, zone)`; Nora has no zone in her profile: `PTSD_TIME_ZONE` (Tokyo) applies.
const PEOPLE: [(&str, &str, Option<&str>); 4] = [
    ("PBER001", "Lena Berlin", Some("Europe/Berlin")),
    ("PLAX002", "Sam Francisco", Some("America/Los_Angeles")),
    ("PSYD003", "Kai Sydney", Some("Australia/Sydney")),
    ("PNOZ004", "Nora Nozone", None),
];
const ACCOUNT_ZONE: &str = "Asia/Tokyo";

/// The Monday of a full week that ended at least two days ago.
fn week_monday() -> Date {
    let d = (Timestamp::now() - SignedDuration::from_hours(10 * 24))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    d - (d.weekday().to_monday_zero_offset() as i64).days()
}

/// The instant that is `hh:mm:ss` local time in `zone`, `day` days after `monday`.
fn local(monday: Date, day: i64, hms: (i8, i8, i8), zone: &str) -> Timestamp {
    let date = monday + day.days();
    assert_eq!(
        date.weekday(),
        Weekday::Monday.wrapping_add(day),
        "week arithmetic"
    );
    date.at(hms.0, hms.1, hms.2, 0)
        .in_tz(zone)
        .expect("a valid zone and an unambiguous local time")
        .timestamp()
}

/// One notification: person index, day after Monday, local time, channel, expected band
/// (`None`: not an interruption).
type Page = (usize, i64, (i8, i8, i8), &'static str, Option<&'static str>);

const PAGES: [Page; 14] = [
    // Lena, Berlin: a burst at 03:00 (three channels within 60 s of each other count once),
    // then 61 s after the last of them a new one; e-mail never interrupts.
    (0, 0, (3, 0, 0), "push_notification", Some("sleep")),
    (0, 0, (3, 0, 30), "sms", None),
    (0, 0, (3, 1, 31), "phone", Some("sleep")),
    (0, 0, (10, 0, 0), "email", None),
    (0, 0, (10, 5, 0), "push_notification", Some("business")),
    (0, 5, (11, 0, 0), "push_notification", Some("off")), // Saturday
    // Sam, Los Angeles: either side of 08:00 and 18:00.
    (1, 1, (7, 59, 0), "push_notification", Some("sleep")),
    (1, 2, (8, 0, 0), "push_notification", Some("business")),
    (1, 2, (17, 59, 0), "sms", Some("business")),
    (1, 2, (18, 5, 0), "push_notification", Some("off")),
    // Kai, Sydney: Friday evening, Friday night, Sunday morning.
    (2, 4, (21, 58, 0), "push_notification", Some("off")),
    (2, 4, (22, 30, 0), "phone", Some("sleep")),
    (2, 6, (9, 0, 0), "sms", Some("off")),
    // Nora, no zone of her own: Monday noon in Tokyo.
    (3, 0, (12, 0, 0), "push_notification", Some("business")),
];

fn zone_of(person: usize) -> &'static str {
    PEOPLE[person].2.unwrap_or(ACCOUNT_ZONE)
}

/// Incident titles, services, urgencies; timings in seconds after the trigger.
struct Story {
    fake: FakePagerDuty,
    /// Expected plain counters of the analysis: interruptions and categories.
    plain: BTreeMap<String, f64>,
    /// Expected tagged interruption counters.
    tagged: BTreeMap<String, f64>,
    /// Expected plain timers (sorted samples, ms).
    timers: BTreeMap<String, Vec<f64>>,
}

fn story() -> Story {
    let fake = FakePagerDuty::start_blocking(TOKEN);
    fake.add_users(
        PEOPLE
            .iter()
            .map(|(id, name, zone)| {
                let email = format!("{}@example.com", name.split(' ').next().unwrap());
                user(id, name, &email.to_lowercase(), *zone)
            })
            .collect(),
    );
    let monday = week_monday();
    let mut entries = Vec::new();
    let mut plain = BTreeMap::new();
    let mut tagged = BTreeMap::new();
    let paging = Incident::new("PINC000", "Paging", "high");
    for (i, (person, day, hms, channel, band)) in PAGES.iter().enumerate() {
        let (id, name, _) = PEOPLE[*person];
        let at = local(monday, *day, *hms, zone_of(*person));
        entries.push(notify(&format!("RN{i:03}"), at, &paging, id, name, channel));
        if let Some(band) = band {
            let u = sanitize(name, true);
            *plain
                .entry(format!("ptsd.pagerduty.users.{u}.interruptions.{band}"))
                .or_insert(0.0) += 1.0;
            *tagged
                .entry(format!(
                    "ptsd.interruptions;provider=pagerduty;user={u};hours={band}"
                ))
                .or_insert(0.0) += 1.0;
        }
    }

    // Three incidents on Wednesday, UTC.
    let noon = monday
        .checked_add(2.days())
        .unwrap()
        .at(12, 0, 0, 0)
        .in_tz("UTC")
        .unwrap()
        .timestamp();
    let at = |mins: i64, secs: i64| noon + SignedDuration::from_secs(mins * 3600 + secs);
    let (lena, sam) = (PEOPLE[0], PEOPLE[1]);
    let i1 = Incident::new("PINC001", "Storage", "high")
        .with_title("disk 91% on db-17")
        .with_created_at(at(0, 0));
    let i2 = Incident::new("PINC002", "Storage", "high")
        .with_title("disk 93% on db-4")
        .with_created_at(at(1, 0));
    let i3 = Incident::new("PINC003", "Compute", "low")
        .with_title("CPU load 4.5 on 10.0.3.17")
        .with_created_at(at(2, 0));
    let svc = "PSVCINT";
    entries.extend([
        trigger("RT1", at(0, 0), &i1),
        acknowledge("RA1", at(0, 150), &i1, lena.0, lena.1, "user_reference"),
        resolve("RR1", at(0, 600), &i1, lena.0, lena.1, "user_reference"),
        // Resolved by the monitoring integration, never acknowledged: no time to ack.
        trigger("RT2", at(1, 0), &i2),
        resolve(
            "RR2",
            at(1, 180),
            &i2,
            svc,
            "Prometheus",
            "integration_reference",
        ),
        // Acknowledged first by an integration (that ends the wait), then by Sam: one sample.
        trigger("RT3", at(2, 0), &i3),
        acknowledge(
            "RA3",
            at(2, 30),
            &i3,
            svc,
            "Prometheus",
            "integration_reference",
        ),
        acknowledge("RA3b", at(2, 90), &i3, sam.0, sam.1, "user_reference"),
        resolve("RR3", at(2, 3600), &i3, sam.0, sam.1, "user_reference"),
    ]);
    fake.add_entries(entries);

    let disk = sanitize(
        &ptsd::analysis::category::normalise("disk 91% on db-17"),
        true,
    );
    assert_eq!(
        disk,
        sanitize(
            &ptsd::analysis::category::normalise("disk 93% on db-4"),
            true
        ),
        "the categoriser puts both disk alerts together"
    );
    let cpu = sanitize(
        &ptsd::analysis::category::normalise("CPU load 4.5 on 10.0.3.17"),
        true,
    );
    assert_ne!(disk, cpu);
    plain.insert(format!("ptsd.pagerduty.categories.{disk}.incidents"), 2.0);
    plain.insert(format!("ptsd.pagerduty.categories.{cpu}.incidents"), 1.0);

    let mut timers = BTreeMap::new();
    for (name, samples) in [
        ("time_to_ack.high", vec![150.0]),
        ("services.storage.time_to_ack", vec![150.0]),
        ("time_to_ack.low", vec![30.0]),
        ("services.compute.time_to_ack", vec![30.0]),
        ("time_to_resolve.high", vec![180.0, 600.0]),
        ("services.storage.time_to_resolve", vec![180.0, 600.0]),
        ("time_to_resolve.low", vec![3600.0]),
        ("services.compute.time_to_resolve", vec![3600.0]),
    ] {
        timers.insert(
            format!("ptsd.pagerduty.{name}"),
            samples.into_iter().map(|s| s * 1000.0).collect(),
        );
    }
    Story {
        fake,
        plain,
        tagged,
        timers,
    }
}

fn run_once(story: &Story, peer: &StatsdPeer, flavor: &str) {
    let out = ptsd_command(&story.fake, TOKEN, peer.udp_port)
        .args(["--once"])
        .env("PTSD_STATSD_FLAVOR", flavor)
        .env("PTSD_TIME_ZONE", ACCOUNT_ZONE)
        .env("PTSD_BACKFILL", "21d")
        .env("PTSD_MAX_WINDOW", "7d")
        .output()
        .expect("ptsd runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ptsd failed:\n{log}");
    assert!(!log.contains(TOKEN), "the token leaked into the log");
}

/// The analysis counters among `counters`.
fn analysis(counters: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    counters
        .iter()
        .filter(|(k, _)| is_analysis(k) && !k.starts_with("ptsd.time_to_"))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

#[test]
fn plain_interruptions_categories_and_timers_read_back_from_statsd() {
    let story = story();
    let peer = StatsdPeer::start();
    run_once(&story, &peer, "plain");
    let got = peer.wait_for(&story.plain, Duration::from_secs(10));
    assert_eq!(analysis(&got), story.plain);
    // The hours never leak into the plain notification names: counted by channel as before.
    assert_eq!(
        got.get("ptsd.pagerduty.users.lena_berlin.notifications.push"),
        Some(&3.0)
    );
    assert_eq!(
        got.get("ptsd.pagerduty.users.lena_berlin.notifications.email"),
        Some(&1.0)
    );
    let mut timers: BTreeMap<String, Vec<f64>> = peer
        .timers()
        .into_iter()
        .filter(|(k, _)| k.starts_with("ptsd.pagerduty."))
        .collect();
    for samples in timers.values_mut() {
        samples.sort_by(f64::total_cmp);
    }
    assert_eq!(timers, story.timers);
    assert_eq!(peer.bad_lines(), 0.0);
}

#[test]
fn dogstatsd_interruptions_carry_the_hours_tag() {
    let story = story();
    let peer = StatsdPeer::start();
    run_once(&story, &peer, "dogstatsd");
    let got = peer.wait_for(&story.tagged, Duration::from_secs(10));
    let interruptions: BTreeMap<String, f64> = got
        .iter()
        .filter(|(k, _)| k.starts_with("ptsd.interruptions;"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(interruptions, story.tagged);
    // Notifications carry the band too: Lena's 03:00 burst was all in her sleep hours.
    assert_eq!(
        got.get("ptsd.notifications;provider=pagerduty;user=lena_berlin;channel=sms;hours=sleep"),
        Some(&1.0)
    );
    // Incidents carry their category.
    let disk = sanitize(
        &ptsd::analysis::category::normalise("disk 91% on db-17"),
        true,
    );
    assert_eq!(
        got.get(&format!(
            "ptsd.incidents;provider=pagerduty;service=storage;urgency=high;category={disk}"
        )),
        Some(&2.0)
    );
    // `|d` is not Etsy statsd's: it keeps it as a counter, which still proves the line, its
    // tags and its value (the sum of the samples).
    assert_eq!(
        got.get("ptsd.time_to_resolve;provider=pagerduty;service=storage;urgency=high"),
        Some(&780_000.0)
    );
    assert_eq!(peer.bad_lines(), 0.0);
}

#[test]
fn the_report_reads_the_same_week() {
    let story = story();
    let monday = week_monday();
    let until = (monday + 7.days())
        .at(0, 0, 0, 0)
        .in_tz("UTC")
        .unwrap()
        .timestamp();
    let out = Command::new(env!("CARGO_BIN_EXE_ptsd"))
        .env_clear()
        .env("PDTOKEN", TOKEN)
        .env("PAGERDUTY_API_URL", &story.fake.url)
        .env("PTSD_TIME_ZONE", ACCOUNT_ZONE)
        .env("PTSD_MAX_WINDOW", "7d")
        .args([
            "report",
            "--since",
            "8d",
            "--until",
            &until.to_string(),
            "--format",
            "csv",
        ])
        .output()
        .expect("ptsd report runs");
    let csv = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "report failed:\n{log}");
    assert!(!log.contains(TOKEN) && !csv.contains(TOKEN));
    let mut want: Vec<String> = WEEK_REPORT.lines().map(String::from).collect();
    // The 12-hour shifts (08:00 and 20:00 in the account zone) that overlap the eight days
    // before `until`: from the Sunday before the week to the Monday after it. The three
    // incidents fall on Wednesday 21:00-23:00 in Tokyo: one shift over the guidance of two.
    let busy = local(monday, 2, (20, 0, 0), ACCOUNT_ZONE);
    let mut shift = local(monday, -1, (8, 0, 0), ACCOUNT_ZONE);
    let mut shifts = Vec::new();
    while shift < until {
        let n = if shift == busy { 3 } else { 0 };
        let at = shift.to_zoned(jiff::tz::TimeZone::get(ACCOUNT_ZONE).unwrap());
        let key = at.strftime("%Y-%m-%dT%H:%M:%S%:z");
        shifts.push(format!("shifts,{key},incidents,{n}"));
        shifts.push(format!("shifts,{key},length_s,43200"));
        shifts.push(format!("shifts,{key},over_limit,{}", u8::from(n > 2)));
        shift += SignedDuration::from_hours(12);
    }
    want.push(format!("shifts,all,total,{}", shifts.len() / 3));
    want.push("shifts,all,over_limit,1".into());
    want.extend(shifts);
    let got: Vec<&str> = csv.lines().collect();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            g,
            w,
            "line {} of the report differs; the whole report:\n{csv}",
            i + 1
        );
    }
    assert_eq!(got.len(), want.len(), "the whole report:\n{csv}");
}

/// What `ptsd report --format csv` must print for the known week, line by line, but for the
/// shift rows (their keys are dates, computed in the test). Every number follows from
/// [`PAGES`] and the three incidents of [`story`]: 14 notifications, 12 of them interruptions
/// (a 3-channel burst counts once, e-mail never); time to acknowledge 150 s (I1) and 30 s (I3,
/// an integration's ack ends the wait), none for I2, resolved by Prometheus after 180 s, which
/// makes it a flapping candidate; medians and p95 are nearest-rank. Every page is for PINC000,
/// whose trigger is not in the history: "what to fix first" can only name it `(unknown)`.
const WEEK_REPORT: &str = "\
section,key,metric,value
summary,all,incidents,3
summary,all,previous,0
summary,all,pages,14
summary,all,interruptions_total,12
summary,all,interruptions_sleep,4
summary,all,interruptions_business,4
summary,all,interruptions_off,4
noisiest,disk on db,rank,1
noisiest,cpu load on,rank,2
people,pagerduty/lena_berlin,pages,6
people,pagerduty/lena_berlin,interruptions_total,4
people,pagerduty/lena_berlin,interruptions_sleep,2
people,pagerduty/lena_berlin,interruptions_business,1
people,pagerduty/lena_berlin,interruptions_off,1
people,pagerduty/lena_berlin,acknowledgements,1
people,pagerduty/lena_berlin,escalations,0
people,pagerduty/lena_berlin,assignments,0
people,pagerduty/lena_berlin,resolves,1
people,pagerduty/lena_berlin,sleep_nights,1
people,pagerduty/lena_berlin,longest_night_run,1
people,pagerduty/lena_berlin,previous_interruptions_total,0
people,pagerduty/lena_berlin,previous_interruptions_sleep,0
people,pagerduty/lena_berlin,previous_interruptions_business,0
people,pagerduty/lena_berlin,previous_interruptions_off,0
people,pagerduty/sam_francisco,pages,4
people,pagerduty/sam_francisco,interruptions_total,4
people,pagerduty/sam_francisco,interruptions_sleep,1
people,pagerduty/sam_francisco,interruptions_business,2
people,pagerduty/sam_francisco,interruptions_off,1
people,pagerduty/sam_francisco,acknowledgements,1
people,pagerduty/sam_francisco,escalations,0
people,pagerduty/sam_francisco,assignments,0
people,pagerduty/sam_francisco,resolves,1
people,pagerduty/sam_francisco,sleep_nights,1
people,pagerduty/sam_francisco,longest_night_run,1
people,pagerduty/sam_francisco,previous_interruptions_total,0
people,pagerduty/sam_francisco,previous_interruptions_sleep,0
people,pagerduty/sam_francisco,previous_interruptions_business,0
people,pagerduty/sam_francisco,previous_interruptions_off,0
people,pagerduty/kai_sydney,pages,3
people,pagerduty/kai_sydney,interruptions_total,3
people,pagerduty/kai_sydney,interruptions_sleep,1
people,pagerduty/kai_sydney,interruptions_business,0
people,pagerduty/kai_sydney,interruptions_off,2
people,pagerduty/kai_sydney,acknowledgements,0
people,pagerduty/kai_sydney,escalations,0
people,pagerduty/kai_sydney,assignments,0
people,pagerduty/kai_sydney,resolves,0
people,pagerduty/kai_sydney,sleep_nights,1
people,pagerduty/kai_sydney,longest_night_run,1
people,pagerduty/kai_sydney,previous_interruptions_total,0
people,pagerduty/kai_sydney,previous_interruptions_sleep,0
people,pagerduty/kai_sydney,previous_interruptions_business,0
people,pagerduty/kai_sydney,previous_interruptions_off,0
people,pagerduty/nora_nozone,pages,1
people,pagerduty/nora_nozone,interruptions_total,1
people,pagerduty/nora_nozone,interruptions_sleep,0
people,pagerduty/nora_nozone,interruptions_business,1
people,pagerduty/nora_nozone,interruptions_off,0
people,pagerduty/nora_nozone,acknowledgements,0
people,pagerduty/nora_nozone,escalations,0
people,pagerduty/nora_nozone,assignments,0
people,pagerduty/nora_nozone,resolves,0
people,pagerduty/nora_nozone,sleep_nights,0
people,pagerduty/nora_nozone,longest_night_run,0
people,pagerduty/nora_nozone,previous_interruptions_total,0
people,pagerduty/nora_nozone,previous_interruptions_sleep,0
people,pagerduty/nora_nozone,previous_interruptions_business,0
people,pagerduty/nora_nozone,previous_interruptions_off,0
services,Storage,incidents,2
services,Storage,previous,0
services,Compute,incidents,1
services,Compute,previous,0
categories,disk on db,incidents,2
categories,disk on db,previous,0
categories,disk on db,pages,0
categories,disk on db,previous_pages,0
categories,cpu load on,incidents,1
categories,cpu load on,previous,0
categories,cpu load on,pages,0
categories,cpu load on,previous_pages,0
flapping,PINC002,resolved_after_s,180
response,all,time_to_ack_count,2
response,all,time_to_ack_median_s,30
response,all,time_to_ack_p95_s,150
response,all,time_to_resolve_count,3
response,all,time_to_resolve_median_s,600
response,all,time_to_resolve_p95_s,3600
response,all,acked_within_5m,2
response,all,acked_within_5m_pct,100
response,Compute,time_to_ack_count,1
response,Compute,time_to_ack_median_s,30
response,Compute,time_to_ack_p95_s,30
response,Compute,time_to_resolve_count,1
response,Compute,time_to_resolve_median_s,3600
response,Compute,time_to_resolve_p95_s,3600
response,Compute,acked_within_5m,1
response,Compute,acked_within_5m_pct,100
response,Storage,time_to_ack_count,1
response,Storage,time_to_ack_median_s,150
response,Storage,time_to_ack_p95_s,150
response,Storage,time_to_resolve_count,2
response,Storage,time_to_resolve_median_s,180
response,Storage,time_to_resolve_p95_s,600
response,Storage,acked_within_5m,1
response,Storage,acked_within_5m_pct,100
fix_first,(unknown),rank,1
fix_first,(unknown),interruptions_total,12
fix_first,(unknown),interruptions_sleep,4
fix_first,(unknown),interruptions_business,4
fix_first,(unknown),interruptions_off,4
fix_first,(unknown),pages,14
fix_first,(unknown),share_of_pages_pct,100
fix_first,(unknown),previous_interruptions_total,0
fix_first,(unknown),previous_interruptions_sleep,0
fix_first,(unknown),previous_interruptions_business,0
fix_first,(unknown),previous_interruptions_off,0
flapping_categories,disk on db,flaps,1
flapping_categories,disk on db,incidents,2
flapping_categories,disk on db,share_pct,50
flapping_categories,disk on db,median_open_s,180
heatmap,Mon,h11,2
heatmap,Mon,h12,1
heatmap,Mon,h18,1
heatmap,Wed,h00,1
heatmap,Thu,h01,1
heatmap,Thu,h10,1
heatmap,Thu,h11,1
heatmap,Fri,h19,1
heatmap,Fri,h20,1
heatmap,Sat,h19,1
heatmap,Sun,h07,1
";
