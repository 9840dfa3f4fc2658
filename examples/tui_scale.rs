//! The full-screen peer's state and drawing with a huge index: loads N
//! records (default 1,000,000) into the app state as a LIST answer would,
//! reports the heap the state holds per record, then times a frame at 80×24
//! and 200×50 with the selection in the middle of the index, and the Index
//! filter on each key of a search.
//!
//!     cargo run --release --example tui_scale -- [--records N] [--frames F]
//!
//! Memory is counted by a global allocator that tracks live bytes, so the
//! figure is what the app state keeps after the answer itself was dropped
//! (the allocator's own per-block overhead is not included). Drawing goes to
//! ratatui's `TestBackend`, which costs about what a real terminal's buffer
//! diff costs, without the terminal's own write.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use p2pci::peer::{Direction, Link, NetEvent, Reply, WireMessage};
use p2pci::protocol::{Record, RfcNumber, Status};
use p2pci::tui::app::{App, Me};
use p2pci::tui::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Records shaped like a busy index: a thousand peers, titles of 20 to 80
/// bytes, newest first.
fn records(n: usize) -> Vec<Record> {
    const WORDS: [&str; 8] =
        ["Using", "Conditional", "Router", "Advertisements", "for", "DNS", "YANG", "Events"];
    (0..n)
        .map(|i| {
            let words = 3 + i % 8;
            let title = (0..words).map(|w| WORDS[(i + w) % WORDS.len()]).collect::<Vec<_>>().join(" ");
            Record {
                rfc: RfcNumber(1 + (i % 9000) as u32),
                title,
                host: format!("peer{}.example.net", i % 1000),
                port: 40000 + (i % 1000) as u16,
            }
        })
        .collect()
}

fn time_frames(app: &mut App, width: u16, height: u16, frames: usize) -> Duration {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    app.on_resize(width, height);
    terminal.draw(|f| ui::draw(f, app)).expect("drawing");
    let start = Instant::now();
    for i in 0..frames {
        // Move the selection so every frame has something new to draw.
        let code = if i % 2 == 0 { KeyCode::Down } else { KeyCode::Up };
        app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
        terminal.draw(|f| ui::draw(f, app)).expect("drawing");
    }
    start.elapsed() / frames.max(1) as u32
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = arg(&args, "--records", 1_000_000);
    let frames = arg(&args, "--frames", 200);
    let me = Me { host: "hostA".into(), upload_port: 2222, server: "127.0.0.1:7734".into() };
    let mut app = App::new(me, Vec::new(), SystemTime::now());

    let before = LIVE.load(Ordering::Relaxed);
    let answer = records(n);
    let mut wire = String::from("P2P-CI/1.0 200 OK\r\n\r\n");
    for r in &answer {
        wire.push_str(&format!("RFC {} {} {} {}\r\n", r.rfc, r.title, r.host, r.port));
    }
    let as_records: usize = answer.iter().map(|r| size_of::<Record>() + r.title.len() + r.host.len()).sum();

    let loaded = Instant::now();
    app.on_net(NetEvent::Wire(WireMessage {
        at: SystemTime::now(),
        direction: Direction::Received,
        link: Link::Server,
        request: Some(p2pci::peer::Request::List),
        text: wire,
    }));
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records: answer }));
    let load_time = loaded.elapsed();
    let held = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    println!("records:           {n}");
    println!(
        "as Vec<Record>:    {:.0} bytes/record (the answer as it arrives)",
        as_records as f64 / n as f64
    );
    println!(
        "held by the app:   {:.1} bytes/record ({:.1} MiB)",
        held as f64 / n as f64,
        held as f64 / 1048576.0
    );
    println!("folding in:        {load_time:.2?}");

    // Select the middle of the index, as someone scrolled there would.
    app.index.table.select(Some(n / 2));
    for (w, h) in [(80, 24), (200, 50)] {
        let t = time_frames(&mut app, w, h, frames);
        println!("draw at {w}×{h}:     {t:.2?} per frame (mean of {frames})");
    }

    // The Index filter (`f`) is applied on every key typed: time the keys
    // of a search, each over the whole index.
    for text in ["d", "dn", "dns", "yang ev", "peer7", "zzz"] {
        app.index.filter = text.into();
        let t = Instant::now();
        app.index.refilter();
        println!("filter {text:<6}      {:.2?} ({} rows)", t.elapsed(), app.index.len());
    }
}
