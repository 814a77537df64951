//! A fake DogStatsD v1.3 receiver with the semantics of Datadog's intake ([`FakeIntake`]):
//! a timestamped point (`|T<unix seconds>`, counts and gauges only) is kept as **the last value
//! per (series, tags, timestamp)**, never added up; untimestamped counts are summed as the Agent
//! would over a flush. A timestamped line of another type (the Agent drops those) and a line
//! that does not parse are kept apart, so a test can assert there were none.
//!
//! Why a fake: the Datadog Agent is not installable here, and its intake is a service. The
//! rules that matter for exactness (last write wins per timestamp; tag order does not make
//! another series) are the documented ones, and tests/support/statsd_peer.rs keeps the real
//! Etsy StatsD for the untimestamped lines.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A series: the metric name and its tags, sorted (Datadog does not tell tag orders apart).
pub type DdSeries = (String, Vec<(String, String)>);

/// What the intake holds.
#[derive(Debug, Default, Clone)]
pub struct Intake {
    /// Timestamped counts and gauges: series → timestamp → the last value submitted.
    pub points: BTreeMap<DdSeries, BTreeMap<i64, f64>>,
    /// Untimestamped counts, summed.
    pub live_counts: BTreeMap<DdSeries, f64>,
    /// Untimestamped lines of other types, by type (`g`, `ms`, `d`, …).
    pub live_other: BTreeMap<String, usize>,
    /// Timestamped lines the Agent would drop (not a count or gauge).
    pub dropped: Vec<String>,
    /// Lines that do not parse.
    pub malformed: Vec<String>,
    /// Every line, in arrival order (for failure messages).
    pub lines: usize,
}

/// The receiver: a UDP socket on 127.0.0.1 and a thread that parses what arrives.
pub struct FakeIntake {
    pub port: u16,
    intake: Arc<Mutex<Intake>>,
    markers: AtomicUsize,
}

impl FakeIntake {
    /// Binds a fresh port with a large receive buffer (a backfill is a burst of datagrams).
    pub fn start() -> FakeIntake {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let size: libc::c_int = 64 << 20;
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: setsockopt on an open socket with a c_int option value of the right size.
            let rc = unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
        }
        let port = socket.local_addr().unwrap().port();
        let intake: Arc<Mutex<Intake>> = Arc::default();
        let shared = intake.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let mut i = shared.lock().unwrap();
                for line in text.lines().filter(|l| !l.is_empty()) {
                    i.take(line);
                }
            }
        });
        FakeIntake {
            port,
            intake,
            markers: AtomicUsize::new(0),
        }
    }

    /// A copy of what the intake holds now.
    pub fn snapshot(&self) -> Intake {
        self.intake.lock().unwrap().clone()
    }

    /// What the intake holds once every datagram sent before this call is taken: a marker
    /// sent now is queued behind them (one receive queue), so its arrival says they are in.
    pub fn drained(&self) -> Intake {
        let marker = format!(
            "intake.drained.{}",
            self.markers.fetch_add(1, Ordering::SeqCst)
        );
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .send_to(format!("{marker}:1|c").as_bytes(), ("127.0.0.1", self.port))
            .expect("send the marker");
        self.wait_until(Duration::from_secs(30), |i| {
            i.live_counts.keys().any(|(n, _)| *n == marker)
        })
    }

    /// Waits (polling) until `done` holds for the intake, or `within` passes; returns the last
    /// snapshot either way.
    pub fn wait_until(&self, within: Duration, done: impl Fn(&Intake) -> bool) -> Intake {
        let deadline = Instant::now() + within;
        loop {
            let snap = self.snapshot();
            if done(&snap) || Instant::now() > deadline {
                return snap;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Intake {
    fn take(&mut self, line: &str) {
        self.lines += 1;
        match parse(line) {
            Some(p) => match (p.timestamp, p.ty.as_str()) {
                (Some(t), "c" | "g") => {
                    self.points.entry(p.series).or_default().insert(t, p.value);
                }
                (Some(_), _) => self.dropped.push(line.to_string()),
                (None, "c") => *self.live_counts.entry(p.series).or_default() += p.value,
                (None, ty) => *self.live_other.entry(ty.to_string()).or_default() += 1,
            },
            None => self.malformed.push(line.to_string()),
        }
    }

    /// The timestamped points of metric `name`, each series reduced to the tags in `keep`
    /// (the others summed away, as a Datadog query `sum:name{*} by {keep}` does per
    /// timestamp): `"tag:value,…"` → timestamp → value.
    pub fn by(&self, name: &str, keep: &[&str]) -> BTreeMap<String, BTreeMap<i64, f64>> {
        let mut out: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
        for ((n, tags), points) in &self.points {
            if n != name {
                continue;
            }
            let key: Vec<String> = keep
                .iter()
                .map(|k| {
                    let v = tags.iter().find(|(t, _)| t == k).map(|(_, v)| v.as_str());
                    format!("{k}:{}", v.unwrap_or("-"))
                })
                .collect();
            let slots = out.entry(key.join(",")).or_default();
            for (t, v) in points {
                *slots.entry(*t).or_default() += v;
            }
        }
        out
    }
}

struct Parsed {
    series: DdSeries,
    value: f64,
    ty: String,
    timestamp: Option<i64>,
}

/// `name:value|type[|@rate][|#tags][|T<seconds>][|c:<container>]`, fields after the type in
/// any order (DogStatsD protocol v1.3).
fn parse(line: &str) -> Option<Parsed> {
    let mut fields = line.split('|');
    let (name, value) = fields.next()?.split_once(':')?;
    let value: f64 = value.parse().ok()?;
    let ty = fields.next()?.to_string();
    if name.is_empty() || ty.is_empty() {
        return None;
    }
    let mut tags = Vec::new();
    let mut timestamp = None;
    for f in fields {
        if let Some(t) = f.strip_prefix('#') {
            for tag in t.split(',').filter(|t| !t.is_empty()) {
                let (k, v) = tag.split_once(':').unwrap_or((tag, ""));
                tags.push((k.to_string(), v.to_string()));
            }
        } else if let Some(t) = f.strip_prefix('T') {
            timestamp = Some(t.parse().ok()?);
        } else if f.starts_with('@') || f.starts_with("c:") {
            continue;
        } else {
            return None;
        }
    }
    tags.sort();
    Some(Parsed {
        series: (name.to_string(), tags),
        value,
        ty,
        timestamp,
    })
}
