//! A fake carbon receiver with whisper's semantics for the simulation: it keeps the last
//! value written per (path, timestamp), as whisper keeps the last write per slot, and can be
//! away (its port closed: a connection is refused) and back.
//!
//! Why not the real carbon-cache here: the simulation runs hundreds of seeds in seconds and
//! must switch the sink away and back at exact virtual moments; `tests/graphite_peer.rs`
//! checks the real carbon and whisper. Commands are answered only after everything the
//! outputter wrote has been read (the outputter writes synchronously and the simulation sends
//! commands only between its steps), so a read-back is complete.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

enum Command {
    Away,
    Back,
    Drain,
    Stop,
}

/// Last value per (path, unix second).
pub type Whisper = BTreeMap<(String, i64), f64>;

pub struct FakeCarbon {
    pub port: u16,
    commands: mpsc::Sender<(Command, mpsc::Sender<()>)>,
    store: Arc<Mutex<Whisper>>,
    thread: Option<JoinHandle<()>>,
}

struct Conn {
    stream: TcpStream,
    partial: String,
}

impl FakeCarbon {
    pub fn start() -> FakeCarbon {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake carbon");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let store = Arc::new(Mutex::new(Whisper::new()));
        let (tx, rx) = mpsc::channel::<(Command, mpsc::Sender<()>)>();
        let kept = store.clone();
        let thread = std::thread::Builder::new()
            .name("fake-carbon".into())
            .spawn(move || serve(Some(listener), port, rx, kept))
            .expect("spawn fake carbon");
        FakeCarbon {
            port,
            commands: tx,
            store,
            thread: Some(thread),
        }
    }

    fn ask(&self, c: Command) {
        let (ack, done) = mpsc::channel();
        self.commands.send((c, ack)).expect("fake carbon alive");
        done.recv().expect("fake carbon answers");
    }

    /// Reads what was written, closes every connection and the port.
    pub fn away(&self) {
        self.ask(Command::Away);
    }

    /// Opens the port again.
    pub fn back(&self) {
        self.ask(Command::Back);
    }

    /// Everything written so far, read.
    pub fn whisper(&self) -> Whisper {
        self.ask(Command::Drain);
        self.store.lock().unwrap().clone()
    }
}

impl Drop for FakeCarbon {
    fn drop(&mut self) {
        let (ack, _) = mpsc::channel();
        let _ = self.commands.send((Command::Stop, ack));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads what `conns` have ready into `store`; false when nothing was.
fn read_ready(conns: &mut Vec<Conn>, store: &Mutex<Whisper>) -> bool {
    let mut progressed = false;
    let mut buf = [0u8; 8192];
    conns.retain_mut(|c| loop {
        match c.stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                progressed = true;
                c.partial.push_str(&String::from_utf8_lossy(&buf[..n]));
                while let Some(end) = c.partial.find('\n') {
                    let line: String = c.partial.drain(..=end).collect();
                    let mut parts = line.split_whitespace();
                    if let (Some(path), Some(v), Some(ts)) =
                        (parts.next(), parts.next(), parts.next())
                    {
                        if let (Ok(v), Ok(ts)) = (v.parse::<f64>(), ts.parse::<i64>()) {
                            store.lock().unwrap().insert((path.to_string(), ts), v);
                        }
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    });
    progressed
}

fn serve(
    mut listener: Option<TcpListener>,
    port: u16,
    commands: mpsc::Receiver<(Command, mpsc::Sender<()>)>,
    store: Arc<Mutex<Whisper>>,
) {
    let mut conns: Vec<Conn> = Vec::new();
    loop {
        if let Some(l) = &listener {
            while let Ok((stream, _)) = l.accept() {
                stream.set_nonblocking(true).expect("nonblocking");
                conns.push(Conn {
                    stream,
                    partial: String::new(),
                });
            }
        }
        let progressed = read_ready(&mut conns, &store);
        match commands.try_recv() {
            Ok((cmd, ack)) => {
                while read_ready(&mut conns, &store) {}
                match cmd {
                    Command::Away => {
                        conns.clear();
                        listener = None;
                    }
                    Command::Back => {
                        let l = TcpListener::bind(("127.0.0.1", port)).expect("rebind fake carbon");
                        l.set_nonblocking(true).expect("nonblocking");
                        listener = Some(l);
                    }
                    Command::Drain => {}
                    Command::Stop => return,
                }
                let _ = ack.send(());
            }
            Err(mpsc::TryRecvError::Disconnected) => return,
            Err(mpsc::TryRecvError::Empty) if !progressed => {
                // An idle server loop (nothing to read, no command), not a wait for a result.
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(mpsc::TryRecvError::Empty) => {}
        }
    }
}
