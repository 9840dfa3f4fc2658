//! The screen's tests: widgets alone (`Buffer::with_lines`) and whole screens (insta snapshots).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::peer::{Direction, DownloadError, DownloadEvent, DownloadId, Holder, Link, NetEvent, Reply};
use crate::protocol::{RfcNumber, Status};
use crate::tui::app::lookup::LookupView;
use crate::tui::app::tests::{app, key, press, record, t0, wire};
use crate::tui::layout::{Areas, Content, Pane};

fn screen(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| draw(f, app)).unwrap();
    terminal
}

/// The symbols only, for widget tests that do not check colors.
fn plain(mut buf: Buffer) -> Buffer {
    buf.set_style(buf.area, Style::reset());
    for cell in buf.content.iter_mut() {
        cell.set_style(Style::reset());
    }
    let mut out = Buffer::empty(buf.area);
    for (o, c) in out.content.iter_mut().zip(buf.content.iter()) {
        o.set_symbol(c.symbol());
    }
    out
}

fn render(area: Rect, f: impl FnOnce(Rect, &mut Buffer)) -> Buffer {
    let mut buf = Buffer::empty(area);
    f(area, &mut buf);
    plain(buf)
}

fn connected() -> App {
    let mut app = app();
    app.on_net(NetEvent::Connected { server: "127.0.0.1:7734".into() });
    app
}

fn populated() -> App {
    let mut app = connected();
    let text = "LIST ALL P2P-CI/1.0\r\nHost: hostA\r\nPort: 2222\r\n\r\n";
    app.on_net(wire(Direction::Sent, Link::Server, text));
    let records = vec![
        record(8700, "Fifty Years of RFCs", "hostB", 40123),
        record(8601, "Policy and Requirements for the Name Server", "hostA", 2222),
        record(8600, "Using Conditional Router Advertisements for Enabling DNS", "hostA", 2222),
        record(8650, "Dynamic Subscription to YANG Events and Datastores over RESTCONF", "hostC", 40777),
    ];
    let mut answer = String::from("P2P-CI/1.0 200 OK\r\n\r\n");
    for r in &records {
        answer.push_str(&format!("RFC {} {} {} {}\r\n", r.rfc, r.title, r.host, r.port));
    }
    answer.push_str("\r\n");
    app.on_net(wire(Direction::Received, Link::Server, &answer));
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
    app
}

fn with_lookup() -> App {
    let mut app = populated();
    press(&mut app, "/8700");
    app.on_key(key(KeyCode::Enter));
    let holders = vec![
        record(8700, "Fifty Years of RFCs", "hostB", 40123),
        record(8700, "Fifty Years of RFCs", "hostC", 40777),
    ];
    let rfc = RfcNumber(8700);
    app.on_net(NetEvent::Reply(Reply::Lookup { rfc, status: Status::Ok, records: holders }));
    press(&mut app, "j");
    app
}

/// Issue 17, item 4: titles, hosts, protocol messages and reasons a
/// hostile server (or holder) sends are drawn escaped in every pane:
/// no cell holds a control character, and the sequence shows as text
/// (`\x1b]0;pwned`), not silently dropped by the renderer.
#[test]
fn bytes_a_hostile_server_sends_are_drawn_escaped() {
    const EVIL: &str = "\x1b]0;pwned\x07\x1b[2J";
    let (title, host) = (format!("T{EVIL}"), format!("ev{EVIL}"));
    let mut app = app();
    app.on_resize(140, 44);
    app.lookup.view = LookupView::Pending(RfcNumber(1));
    let records = vec![record(1, &title, &host, 5000)];
    app.on_net(NetEvent::Reply(Reply::Lookup { rfc: RfcNumber(1), status: Status::Ok, records }));
    let records = vec![record(1, &title, &host, 5000)];
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
    let answer = format!("P2P-CI/1.0 200 OK\r\n\r\nRFC 1 {title} {host} 5000\r\n\r\n");
    app.on_net(wire(Direction::Received, Link::Server, &answer));
    let from = Holder { host: host.clone(), port: 5000 };
    let id = DownloadId(1);
    app.on_net(NetEvent::Download {
        id,
        event: DownloadEvent::Started { rfc: RfcNumber(1), from: from.clone() },
    });
    let reason = DownloadError::Refused(Status::NotFound);
    app.on_net(NetEvent::Download {
        id,
        event: DownloadEvent::HolderFailed { from: from.clone(), reason: reason.clone(), retrying: false },
    });
    app.on_net(NetEvent::Notice(format!("{host} does not resolve; trying 127.0.0.1:5000")));
    let reason = DownloadError::AllFailed { tried: 1, last: from, error: Box::new(reason) };
    app.on_net(NetEvent::Download { id, event: DownloadEvent::Failed { rfc: RfcNumber(1), reason } });
    for mode in [Mode::Browse(Pane::Index), Mode::Browse(Pane::Lookup)] {
        app.mode = mode;
        let terminal = screen(&mut app, 140, 44);
        let buf = terminal.backend().buffer();
        let rows: Vec<String> = (0..buf.area.height)
            .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect())
            .collect();
        let text = rows.join("\n");
        for cell in &buf.content {
            assert!(!cell.symbol().contains(char::is_control), "{:?} in\n{text}", cell.symbol());
        }
        // The Lookup pane's title and holder, the Index row, the log
        // (answer and notice), the Downloads row and the message line.
        let shown = text.matches(r"\x1b]0;pwned\x07").count();
        assert!(shown >= 5, "{shown} escaped sequence(s) on screen:\n{text}");
    }
}

fn downloading() -> App {
    let mut app = with_lookup();
    let b = Holder { host: "hostB".into(), port: 40123 };
    let c = Holder { host: "hostC".into(), port: 40777 };
    let (one, two, three) = (DownloadId(1), DownloadId(2), DownloadId(3));
    let done = DownloadEvent::Done {
        rfc: RfcNumber(8650),
        from: c.clone(),
        path: PathBuf::from("hostA/rfc8650.txt"),
        bytes: 143_360,
        elapsed: Duration::from_millis(120),
    };
    app.on_net(NetEvent::Download { id: one, event: done });
    app.on_net(NetEvent::Download {
        id: two,
        event: DownloadEvent::Started { rfc: RfcNumber(8700), from: b },
    });
    let get = "GET RFC 8700 P2P-CI/1.0\r\nHost: hostA\r\nOS: Linux 6.1\r\n\r\n";
    app.on_net(wire(Direction::Sent, Link::Download(Holder { host: "hostB".into(), port: 40123 }), get));
    app.on_net(NetEvent::Download {
        id: three,
        event: DownloadEvent::Started { rfc: RfcNumber(8800), from: c },
    });
    app.on_tick(t0() + Duration::from_secs(2));
    let progress = DownloadEvent::Progress { received: 40_960, total: 102_400 };
    app.on_net(NetEvent::Download { id: two, event: progress });
    let addr: SocketAddr = "127.0.0.1:51000".parse().unwrap();
    let upload = "GET RFC 8600 P2P-CI/1.0\r\nHost: hostD\r\nOS: Linux 6.1\r\n\r\n";
    app.on_net(wire(Direction::Received, Link::Upload(addr), upload));
    app.on_net(NetEvent::Uploaded {
        to: addr,
        rfc: Some(RfcNumber(8600)),
        status: Status::Ok,
        bytes: 20_480,
    });
    app.messages.toast = None;
    app
}

/// Moving up from the bottom of a long list keeps the view still until
/// the selection reaches its top edge.
#[test]
fn lists_scroll_only_when_the_selection_leaves_the_view() {
    let mut app = connected();
    let records: Vec<_> = (0..40).map(|n| record(9000 + n, "T", "hostB", 40123)).collect();
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
    let area = Rect::new(0, 0, 60, 8);
    let first_row = |app: &mut App| {
        let buf = render(area, |a, b| index(&mut *app, a, b));
        (0..area.width).map(|x| buf[(x, 2)].symbol().to_owned()).collect::<String>()
    };
    for _ in 0..20 {
        press(&mut app, "j");
    }
    let bottom = first_row(&mut app);
    assert!(!bottom.contains("9000"), "scrolled down: {bottom}");
    press(&mut app, "k");
    assert_eq!(first_row(&mut app), bottom, "one step up does not scroll");
    for _ in 0..19 {
        press(&mut app, "k");
    }
    assert!(first_row(&mut app).contains("9000"), "back at the top");
}

#[test]
fn empty_screen() {
    let mut app = App::new(crate::tui::app::tests::me(), vec![], t0());
    assert_snapshot!(screen(&mut app, 80, 24).backend());
}

#[test]
fn populated_screen() {
    assert_snapshot!(screen(&mut populated(), 80, 24).backend());
}

#[test]
fn typing_a_lookup() {
    let mut app = populated();
    press(&mut app, "/87");
    let mut terminal = screen(&mut app, 80, 24);
    assert_snapshot!(terminal.backend());
    let input = Areas::new(Rect::new(0, 0, 80, 24), Content::default()).input();
    terminal.backend_mut().assert_cursor_position((input.x + 6 + 2, input.y));
}

#[test]
fn lookup_results_screen() {
    assert_snapshot!(screen(&mut with_lookup(), 80, 24).backend());
}

#[test]
fn downloads_screen() {
    assert_snapshot!(screen(&mut downloading(), 80, 24).backend());
}

#[test]
fn error_screen() {
    let mut app = populated();
    press(&mut app, "/8999");
    app.on_key(key(KeyCode::Enter));
    let reason = crate::peer::IndexError::Connect {
        server: "127.0.0.1:7734".into(),
        error: "Connection refused (os error 111)".into(),
    };
    app.on_net(NetEvent::Disconnected { reason, retry_in: Some(Duration::from_millis(400)) });
    app.on_net(NetEvent::Error(crate::peer::PeerError::about(
        crate::peer::Request::Lookup(RfcNumber(8999)),
        crate::peer::IndexError::NotConnected { servers: "127.0.0.1:7734".into() },
    )));
    let failed = DownloadEvent::Failed {
        rfc: RfcNumber(8650),
        reason: crate::peer::DownloadError::AllFailed {
            tried: 1,
            last: Holder { host: "hostC".into(), port: 40777 },
            error: Box::new(crate::peer::DownloadError::Refused(Status::NotFound)),
        },
    };
    app.on_net(NetEvent::Download { id: DownloadId(1), event: failed });
    assert_snapshot!(screen(&mut app, 80, 24).backend());
}

#[test]
fn disconnected_status_without_a_message() {
    let mut app = populated();
    app.on_net(NetEvent::Disconnected {
        reason: crate::peer::IndexError::Closed,
        retry_in: Some(Duration::from_secs(2)),
    });
    app.messages.toast = None;
    let buf = render(Rect::new(0, 0, 80, 1), |a, b| status(&app, a, b));
    assert_eq!(
        buf,
        Buffer::with_lines([
            " ✘ 127.0.0.1:7734 unreachable, retrying in 2.0 s; still serving uploads │       "
        ])
    );
}

#[test]
fn a_server_name_that_does_not_resolve_is_said_plainly() {
    let mut app = populated();
    app.me.server = "nosuch.invalid:7734".into();
    let reason = IndexError::Unresolvable { host: "nosuch.invalid".into() };
    app.on_net(NetEvent::Disconnected { reason, retry_in: Some(Duration::from_secs(4)) });
    app.messages.toast = None;
    let buf = render(Rect::new(0, 0, 100, 1), |a, b| status(&app, a, b));
    let line: String = buf.content.iter().map(|c| c.symbol()).collect();
    assert_eq!(
        line.trim_end(),
        " ✘ the server name nosuch.invalid does not resolve, retrying in 4.0 s; still serving uploads │"
    );
    assert!(app.log.lines.iter().any(|l| l.text.contains("cannot resolve nosuch.invalid")));
}

#[test]
fn help_overlay() {
    let mut app = populated();
    press(&mut app, "?");
    assert_snapshot!(screen(&mut app, 80, 24).backend());
}

#[test]
fn wide_screen() {
    assert_snapshot!(screen(&mut downloading(), 120, 40).backend());
}

#[test]
fn a_cut_title_is_shown_longer_below_the_index() {
    let mut app = populated();
    press(&mut app, "jj");
    let area = Rect::new(0, 0, 52, 8);
    let buf = render(area, |a, b| index(&mut app, a, b));
    let bottom: String = (0..area.width).map(|x| buf[(x, 7)].symbol()).collect();
    assert_eq!(bottom, "┗ 8600 Using Conditional Router Advertisements fo… ┛");
    assert_snapshot!("index_long_title_80x24", screen(&mut app, 80, 24).backend());
}

#[test]
fn populated_screen_200x50() {
    assert_snapshot!(screen(&mut downloading(), 200, 50).backend());
}

#[test]
fn peers_view() {
    let mut app = populated();
    press(&mut app, "p");
    assert_snapshot!("peers_view_80x24", screen(&mut app, 80, 24).backend());
    assert_snapshot!("peers_view_200x50", screen(&mut app, 200, 50).backend());
}

#[test]
fn download_detail() {
    let mut app = downloading();
    let last = Holder { host: "hostD".into(), port: 2225 };
    let error = Box::new(DownloadError::TooLarge { announced: 405_623_566, limit: 256 << 20 });
    let reason = DownloadError::AllFailed { tried: 1, last, error };
    let failed = DownloadEvent::Failed { rfc: RfcNumber(9999), reason };
    app.on_net(NetEvent::Download { id: DownloadId(9), event: failed });
    app.messages.toast = None;
    app.mode = Mode::Browse(Pane::Downloads);
    press(&mut app, "jj");
    assert_snapshot!("failed_row_80x24", screen(&mut app, 80, 24).backend());
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Detail);
    assert_snapshot!("download_detail_80x24", screen(&mut app, 80, 24).backend());
    assert_snapshot!("download_detail_200x50", screen(&mut app, 200, 50).backend());
}

#[test]
fn a_long_message_is_shown_whole() {
    let mut app = populated();
    let text = "not connected to the index server 127.0.0.1:7734 (connection refused); \
                retrying in 4.0 s — uploads go on meanwhile";
    let servers = "127.0.0.1:7734 (connection refused); retrying in 4.0 s — uploads go on meanwhile".into();
    app.on_net(NetEvent::Error(crate::peer::PeerError::about(
        crate::peer::Request::List,
        IndexError::NotConnected { servers },
    )));
    let shown = screen(&mut app, 80, 24).backend().to_string().replace(['"', '\n', ' '], "");
    assert!(shown.contains(&text.replace(' ', "")), "{shown}");
    assert_snapshot!("long_message_80x24", screen(&mut app, 80, 24).backend());
}

#[test]
fn the_log_scrolls_sideways() {
    let mut app = populated();
    app.mode = Mode::Browse(Pane::Log);
    press(&mut app, "llllll");
    assert_snapshot!("log_sideways_80x24", screen(&mut app, 80, 24).backend());
}

#[test]
fn too_small_screen() {
    let terminal = screen(&mut populated(), 40, 10);
    let text = terminal.backend().to_string();
    assert!(text.contains("p2pci needs at"), "{text}");
}

#[test]
fn local_pane_lists_number_and_title() {
    let mut app = app();
    app.mode = Mode::Browse(Pane::Local);
    app.local.in_index.insert(RfcNumber(8600));
    let area = Rect::new(0, 0, 30, 4);
    let mut buf = Buffer::empty(area);
    local(&mut app, area, &mut buf);
    assert_eq!(
        plain(buf.clone()),
        Buffer::with_lines([
            "┏ Local RFCs (2) ━━━━━━━━━━━━┓",
            "┃● 8600 Using Conditional Rou┃",
            "┃○ 8601 Policy and Requiremen┃",
            "┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛",
        ])
    );
    // In the index: green; not yet: magenta; the selection reversed.
    assert_eq!(buf[(1, 1)].fg, OK);
    assert_eq!(buf[(1, 2)].fg, WARN);
    assert!(buf[(5, 1)].modifier.contains(Modifier::REVERSED | Modifier::BOLD));
    assert!(!buf[(5, 2)].modifier.contains(Modifier::REVERSED));
    assert_eq!(buf[(0, 0)].fg, ACCENT, "the focused pane's border");
}

#[test]
fn local_pane_updates_when_a_download_lands() {
    let mut app = App::new(crate::tui::app::tests::me(), vec![], t0());
    let area = Rect::new(0, 0, 30, 4);
    let before = render(area, |a, b| local(&mut app, a, b));
    assert_eq!(
        before,
        Buffer::with_lines([
            "┌ Local RFCs (0) ────────────┐",
            "│Nothing shared yet. Press / │",
            "│to look up an RFC and       │",
            "└────────────────────────────┘",
        ])
    );
    app.on_net(NetEvent::Library(vec![crate::tui::app::tests::local(8700, "Fifty Years of RFCs")]));
    let after = render(area, |a, b| local(&mut app, a, b));
    assert_eq!(
        after,
        Buffer::with_lines([
            "┌ Local RFCs (1) ────────────┐",
            "│○ 8700 Fifty Years of RFCs  │",
            "│                            │",
            "└────────────────────────────┘",
        ])
    );
}

#[test]
fn index_empty_states() {
    let mut app = connected();
    let area = Rect::new(0, 0, 50, 3);
    let loading = render(area, |a, b| index(&mut app, a, b));
    assert_eq!(
        loading,
        Buffer::with_lines([
            "┏ Index (0) · refreshing… ━━━━━━━━━━━━━━━━━━━━━━━┓",
            "┃Asking the index server (LIST ALL)…             ┃",
            "┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛",
        ])
    );
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records: vec![] }));
    let empty = render(Rect::new(0, 0, 50, 4), |a, b| index(&mut app, a, b));
    assert_eq!(
        empty,
        Buffer::with_lines([
            "┏ Index (0) · newest first ━━━━━━━━━━━━━━━━━━━━━━┓",
            "┃No RFCs in the index yet — press a to advertise ┃",
            "┃yours, r to refresh.                            ┃",
            "┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛",
        ])
    );
}

#[test]
fn download_rows_show_bytes_percent_and_rate() {
    let mut app = downloading();
    let area = Rect::new(0, 0, 60, 5);
    let buf = render(area, |a, b| downloads(&mut app, a, b));
    assert_eq!(
        buf,
        Buffer::with_lines([
            "┌ Downloads (2 running) ───────────────────────────────────┐",
            "│↓ 8700 hostB:40123 ━━━━━─────────  40% 40/100 KiB 20 KiB/s│",
            "│↓ 8800 connecting to hostC:40777…                         │",
            "│✔ 8650 from hostC:40777: 140 KiB in 120 ms                │",
            "└──────────────────────────────────────────────────────────┘",
        ])
    );
}

#[test]
fn log_lines_are_marked_and_colored() {
    let app = downloading();
    let area = Rect::new(0, 0, 70, 6);
    let mut buf = Buffer::empty(area);
    log(&app, area, &mut buf);
    let text = plain(buf.clone());
    assert_eq!(
        text,
        Buffer::with_lines([
            "┌ Protocol log · times UTC ──────────────────────────────────────────┐",
            "│12:00:00 ← 127.0.0.1:51000 GET RFC 8600 P2P-CI/1.0                  │",
            "│                           Host: hostD                              │",
            "│                           OS: Linux 6.1                            │",
            "│12:00:02 · served RFC 8600 to 127.0.0.1:51000: 20 KiB               │",
            "└────────────────────────────────────────────────────────────────────┘",
        ])
    );
    // Received messages are green, sent ones cyan, times dim.
    assert_eq!(buf[(10, 1)].fg, RECEIVED);
    assert_eq!(buf[(12, 1)].fg, RECEIVED);
    assert_eq!(buf[(1, 1)].fg, Color::DarkGray);
    let mut app = app;
    app.on_net(wire(Direction::Sent, Link::Server, "LIST ALL P2P-CI/1.0\r\n\r\n"));
    let mut buf = Buffer::empty(area);
    log(&app, area, &mut buf);
    assert_eq!(buf[(10, 4)].fg, SENT);
    assert_eq!(buf[(10, 4)].symbol(), "→");
}

#[test]
fn hints_follow_the_focus() {
    let mut app = app();
    let hint = |app: &App, width: u16, height: u16| {
        let area = Rect::new(0, 0, width, height);
        let buf = render(area, |a, b| hints(app, a, b));
        let rows: Vec<String> = (0..height)
            .map(|y| (0..width).map(|x| buf[(x, y)].symbol()).collect::<String>().trim_end().to_owned())
            .collect();
        rows.join("\n")
    };
    assert_eq!(
        hint(&app, 80, 2),
        " ↑↓/jk PgUp/PgDn Home/End move  d/Enter download  f filter  / lookup  r refresh\n \
         a advertise  p peers  Tab/S-Tab pane  Esc dismiss  ? help  q/Ctrl-C quit"
    );
    app.mode = Mode::Browse(Pane::Log);
    assert!(hint(&app, 200, 1).contains("Home/End oldest/follow  ←→/hl pan"));
    press(&mut app, "/");
    assert_eq!(
        hint(&app, 200, 1),
        " Enter look up  ←→ Home/End Bksp/Del edit  ↓ holders  Esc stop typing  Tab/S-Tab pane  Ctrl-C quit"
    );
    // At 80 and at 60 columns, on the two lines: a mode's own keys,
    // `? help` and the way out always, whatever else had to go.
    for width in [80, 60] {
        for mode in keymap::every_mode() {
            app.mode = mode;
            let shown = hint(&app, width, 2).replace('\n', " ");
            let table = keymap::bindings(mode);
            let own = match mode {
                Mode::Browse(_) => {
                    table.len()
                        - table
                            .iter()
                            .filter(|b| {
                                b.label == "help"
                                    || b.label == "quit"
                                    || ["lookup", "refresh", "advertise", "peers", "pane", "dismiss"]
                                        .contains(&b.label)
                            })
                            .count()
                }
                _ => table.len(),
            };
            for b in &table[..own.min(if width == 60 { 2 } else { own })] {
                assert!(
                    shown.contains(&format!("{} {}", b.shown, b.label)),
                    "{width}: {mode:?}: {} in {shown}",
                    b.shown
                );
            }
            for b in table.iter().filter(|b| {
                b.label == "help" || b.label == "quit" || b.label.starts_with("close") || b.label == "back"
            }) {
                assert!(
                    shown.contains(&format!("{} {}", b.shown, b.label)),
                    "{width}: {mode:?}: {} in {shown}",
                    b.shown
                );
            }
        }
    }
}

/// The footer's keys, one token each: `↑↓/jk PgUp/PgDn` names `↑↓`,
/// `jk`, `PgUp` and `PgDn`.
fn footer_keys(mode: Mode) -> Vec<String> {
    let mut out = Vec::new();
    for b in keymap::bindings(mode) {
        for word in b.shown.split(' ') {
            if word == "/" {
                out.push(word.to_owned());
            } else {
                out.extend(word.split('/').map(str::to_owned));
            }
        }
    }
    out
}

/// The footer token that names `key` (an arrow is named by any token
/// holding it: `↑↓`, `↓`).
fn token(key: &KeyEvent) -> String {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return "Ctrl-C".into();
    }
    match key.code {
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::Char('j' | 'k') => "jk".into(),
        KeyCode::Char('h' | 'l') => "hl".into(),
        KeyCode::Char(c) if c.is_ascii_digit() => "0-9".into(),
        KeyCode::Char(' ') => "Space".into(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::PageUp => "PgUp".into(),
        KeyCode::PageDown => "PgDn".into(),
        KeyCode::Home => "Home".into(),
        KeyCode::End => "End".into(),
        KeyCode::Tab => "Tab".into(),
        KeyCode::BackTab => "S-Tab".into(),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Esc => "Esc".into(),
        KeyCode::Backspace => "Bksp".into(),
        KeyCode::Delete => "Del".into(),
        other => format!("{other:?}"),
    }
}

/// An app where every key can do something: lists of several rows with
/// the middle one selected, a log scrolled halfway back and sideways,
/// and `mode` entered as a user would.
fn busy_in(mode: Mode) -> App {
    let mut app = downloading();
    app.on_resize(80, 24);
    app.local.rfcs.push(crate::tui::app::tests::local(8602, "Another"));
    let records = (0..40).map(|n| record(9000 + n, "T", if n % 2 == 0 { "hostB" } else { "hostC" }, 5000));
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records: records.collect() }));
    let holders = (0..5).map(|n| record(8700, "Fifty Years of RFCs", "hostB", 5000 + n)).collect();
    app.on_net(NetEvent::Reply(Reply::Lookup { rfc: RfcNumber(8700), status: Status::Ok, records: holders }));
    for n in 0..100 {
        app.on_net(NetEvent::Notice(format!(
            "line {n} of a long log, longer than the pane is wide, {}",
            "x".repeat(80)
        )));
    }
    app.local.list.select(Some(1));
    app.index.table.select(Some(20));
    app.lookup.list.select(Some(2));
    app.downloads.list.select(Some(1));
    app.log.scroll = 50;
    app.log.hscroll = 16;
    app.lookup.input = "8700".into();
    let text: String = (0..200).map(|i| format!("line {i} of the RFC, IPsec every {}\n", i % 7)).collect();
    app.index.filter = "9".into();
    app.index.refilter();
    app.mode = match mode {
        Mode::Help { back } | Mode::Peers { back } => Mode::Browse(back),
        Mode::Detail => Mode::Browse(Pane::Downloads),
        Mode::Reader { .. } | Mode::Search { .. } => {
            let mut r = crate::tui::app::reader::Reader::from_bytes(RfcNumber(8600), "T", text.as_bytes());
            r.scroll = 50;
            r.input = "ipsec".into();
            r.search(10);
            app.reader = Some(r);
            mode
        }
        m => m,
    };
    match mode {
        Mode::Help { .. } => drop(app.on_key(key(KeyCode::Char('?')))),
        Mode::Peers { .. } => {
            app.on_key(key(KeyCode::Char('p')));
            app.peers.list.select(Some(1));
        }
        Mode::Detail => drop(app.on_key(key(KeyCode::Enter))),
        _ => {}
    }
    assert_eq!(app.mode, mode);
    app
}

/// Every key that does something in a mode (sends a command or changes
/// anything but the message line) is named in that mode's keymap table,
/// which the footer, the help and the README show.
#[test]
fn every_key_that_acts_is_in_the_keymap() {
    let mut probes: Vec<KeyEvent> = [
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Backspace,
        KeyCode::Delete,
    ]
    .into_iter()
    .chain(('a'..='z').chain("?/5 RN".chars()).map(KeyCode::Char))
    .map(key)
    .collect();
    probes.push(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    let modes = keymap::every_mode();
    let quiet = |app: &App| {
        let mut text = format!("{app:?}");
        if let Some(t) = &app.messages.toast {
            text = text.replace(&format!("{t:?}"), "");
        }
        text
    };
    for mode in modes {
        let listed = footer_keys(mode);
        for probe in &probes {
            // Typing: letters and digits are text, not keys.
            if keymap::types(mode) && matches!(probe.code, KeyCode::Char(_)) && probe.modifiers.is_empty() {
                continue;
            }
            let mut app = busy_in(mode);
            let before = quiet(&app);
            let sent = app.on_key(*probe);
            if sent.is_some() || quiet(&app) != before {
                let t = token(probe);
                let arrow =
                    matches!(probe.code, KeyCode::Up | KeyCode::Down | KeyCode::Left | KeyCode::Right);
                let named = listed.iter().any(|l| *l == t || (arrow && l.contains(&t)));
                assert!(named, "{mode:?}: {probe:?} ({t}) does something but the footer lists {listed:?}");
            }
        }
    }
}

/// Issue 19, item 12: the reader, full screen, over a text with a BOM, a
/// page break, a tab, an escape sequence, and a search shown.
#[test]
fn reader_screen() {
    let mut app = populated();
    let mut text = b"\xEF\xBB\xBFRFC 8600\tUsing Conditional Router Advertisements\r\n\r\n".to_vec();
    for i in 1..=30 {
        text.extend_from_slice(
            format!("   {i}. A line of text about IPsec and DNS, number {i}.\r\n").as_bytes(),
        );
        if i == 4 {
            text.extend_from_slice(b"Nasty \x1b]0;pwned\x07 line\r\n\x0c\r\n");
        }
    }
    let mut r =
        crate::tui::app::reader::Reader::from_bytes(RfcNumber(8600), "Using Conditional Router", &text);
    r.input = "ipsec".into();
    r.search(20);
    r.next_match(true, 20);
    app.reader = Some(r);
    app.mode = Mode::Reader { back: Pane::Local };
    let terminal = screen(&mut app, 80, 24);
    for cell in &terminal.backend().buffer().content {
        assert!(!cell.symbol().contains(char::is_control), "{:?}", cell.symbol());
    }
    assert_snapshot!("reader_80x24", terminal.backend());
    press(&mut app, "/dns");
    let terminal = screen(&mut app, 80, 24);
    assert_snapshot!("reader_search_80x24", terminal.backend());
}

/// Issue 19, item 13: the filter in the Index's title, five-digit RFCs.
#[test]
fn index_filter_title_and_five_digits() {
    let mut app = connected();
    let records = (0..3000)
        .map(|i| record(10_000 + i, if i % 250 == 0 { "IPsec thing" } else { "Other" }, "hostB", 40123))
        .collect();
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
    app.index.filter = "ipsec".into();
    app.index.refilter();
    let area = Rect::new(0, 0, 60, 5);
    let buf = render(area, |a, b| index(&mut app, a, b));
    assert_eq!(
        buf,
        Buffer::with_lines([
            "┏ Index (12 of 3,000) · filter: ipsec ━━━━━━━━━━━━━━━━━━━━━┓",
            "┃  RFC   Title       Host       Port                       ┃",
            "┃› 10000 IPsec thing hostB      40123                      ┃",
            "┃  10250 IPsec thing hostB      40123                      ┃",
            "┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛",
        ])
    );
    // Typing in it: the box on the bottom border, with the cursor.
    app.mode = Mode::Filter;
    let mut terminal = screen(&mut app, 80, 24);
    let text = terminal.backend().to_string();
    assert!(text.contains("filter › ipsec"), "{text}");
    let (x, y) = panes::filter_cursor(&app, app.areas.index).unwrap();
    terminal.backend_mut().assert_cursor_position((x, y));
}

/// Issue 19, item 14: at 60×16 the log keeps two lines and the footer
/// ends with `? help` and the way out.
#[test]
fn small_screen_60x16() {
    let mut app = populated();
    let terminal = screen(&mut app, 60, 16);
    let text = terminal.backend().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[15].contains("? help  q/Ctrl-C quit"), "{text}");
    assert_snapshot!("small_60x16", terminal.backend());
}

/// Issue 19, items 1-2: out of date while the server is away.
#[test]
fn stale_screen() {
    let mut app = with_lookup();
    app.on_tick(t0() + Duration::from_secs(4 * 3600 + 271));
    app.on_net(NetEvent::Disconnected {
        reason: crate::peer::IndexError::Closed,
        retry_in: Some(Duration::from_secs(2)),
    });
    app.messages.toast = None;
    let terminal = screen(&mut app, 120, 30);
    let text = terminal.backend().to_string();
    assert!(text.contains("Index (4) · as of 12:00:00, server unreachable"), "{text}");
    assert!(text.contains("Lookup · 2 holder(s) · as of 12:00:00 "), "{text}");
    assert_snapshot!("stale_120x30", terminal.backend());
}
