//! The app's tests: key sequences and hand-made engine events in, state out.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use ratatui::crossterm::event::{KeyCode, KeyModifiers};

use super::*;
use crate::peer::{
    AdvertiseCause, Direction, DownloadError, DownloadEvent, DownloadId, Link, NetEvent, PeerError, Reply,
    Request, WireMessage, WithdrawOutcome, Withdrawal,
};
use crate::protocol::{Record, RfcNumber, Status};
use crate::tui::app::downloads::DownloadState;
use crate::tui::app::downloads::FINISHED_CAP;
use crate::tui::app::index::IndexStatus;
use crate::tui::app::log::{HSCROLL_STEP, LOG_LINES_PER_MESSAGE};
use crate::tui::app::messages::TOAST_FOR;

/// 2024-05-06 12:00:00 UTC.
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_714_996_800)
}

pub fn me() -> Me {
    Me { host: "hostA".into(), upload_port: 2222, server: "127.0.0.1:7734".into() }
}

pub fn local(rfc: u32, title: &str) -> LocalRfc {
    LocalRfc {
        rfc: RfcNumber(rfc),
        title: title.into(),
        path: PathBuf::from(format!("hostA/rfc{rfc}.txt")),
        size: 1000,
    }
}

pub fn record(rfc: u32, title: &str, host: &str, port: u16) -> Record {
    Record { rfc: RfcNumber(rfc), title: title.into(), host: host.into(), port }
}

pub fn app() -> App {
    App::new(
        me(),
        vec![
            local(8600, "Using Conditional Router Advertisements for Enabling DNS"),
            local(8601, "Policy and Requirements for the Name Server"),
        ],
        t0(),
    )
}

pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub fn press(app: &mut App, keys: &str) -> Vec<Command> {
    keys.chars().filter_map(|c| app.on_key(key(KeyCode::Char(c)))).collect()
}

pub fn wire(direction: Direction, link: Link, text: &str) -> NetEvent {
    // The request, as the engine names it for the index connection.
    let request = match text.split(' ').collect::<Vec<_>>()[..] {
        ["LIST", ..] => Some(Request::List),
        ["LOOKUP", "RFC", n, ..] => RfcNumber::parse(n).map(Request::Lookup),
        _ => None,
    };
    let request = if link == Link::Server { request } else { None };
    NetEvent::Wire(WireMessage { at: t0(), direction, link, request, text: text.into() })
}

#[test]
fn tab_cycles_focus_both_ways() {
    let mut app = app();
    assert_eq!(app.mode, Mode::Browse(Pane::Index));
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.mode, Mode::Browse(Pane::Lookup));
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.mode, Mode::Browse(Pane::Downloads));
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.mode, Mode::Browse(Pane::Log));
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.mode, Mode::Browse(Pane::Local));
    app.on_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(app.mode, Mode::Browse(Pane::Log));
}

fn mouse(kind: MouseEventKind, column: u16, row: u16) -> MouseEvent {
    MouseEvent { kind, column, row, modifiers: KeyModifiers::NONE }
}

#[test]
fn a_click_focuses_a_pane_and_selects_a_row_and_the_wheel_scrolls() {
    let mut app = app();
    app.on_resize(80, 24);
    let records: Vec<_> = (0..40).map(|n| record(9000 + n, "T", "hostB", 5000)).collect();
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
    // Local's second row: below the border, one down.
    let local = app.areas.local;
    app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), local.x + 3, local.y + 2));
    assert_eq!(app.mode, Mode::Browse(Pane::Local));
    assert_eq!(app.local.list.selected(), Some(1));
    // The Index's third row, under its header.
    let index = app.areas.index;
    app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), index.x + 5, index.y + 4));
    assert_eq!(app.mode, Mode::Browse(Pane::Index));
    assert_eq!(app.index.selected(), 2);
    // The wheel over the Index moves it, and leaves the focus alone.
    app.mode = Mode::Browse(Pane::Log);
    app.on_mouse(mouse(MouseEventKind::ScrollDown, index.x + 5, index.y + 4));
    assert_eq!(app.index.selected(), 2 + WHEEL_STEP as usize);
    assert_eq!(app.mode, Mode::Browse(Pane::Log));
    // A click on the lookup box starts typing.
    let input = app.areas.input();
    app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), input.x + 2, input.y));
    assert_eq!(app.mode, Mode::Typing);
    // Outside every pane (the status line): nothing.
    let before = app.mode;
    app.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 3, app.areas.status.y));
    assert_eq!(app.mode, before);
}

#[test]
fn peers_view_and_download_detail_open_and_close() {
    let mut app = app();
    let records =
        vec![record(1, "a", "hostB", 5000), record(2, "b", "hostB", 5000), record(3, "c", "hostC", 1)];
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
    press(&mut app, "p");
    assert_eq!(app.mode, Mode::Peers { back: Pane::Index });
    assert_eq!(app.peers.rows.len(), 2);
    assert_eq!((app.peers.rows[0].host.as_str(), app.peers.rows[0].rfcs), ("hostB", 2));
    assert!(press(&mut app, "da").is_empty(), "keys do nothing under the view");
    press(&mut app, "j");
    assert_eq!(app.peers.list.selected(), Some(1));
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Browse(Pane::Index));
    // Downloads take the focus; Enter tells the whole story of one.
    app.mode = Mode::Browse(Pane::Downloads);
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Browse(Pane::Downloads), "nothing to show yet");
    let ev = DownloadEvent::Failed { rfc: RfcNumber(9), reason: DownloadError::NoHolder };
    app.on_net(NetEvent::Download { id: DownloadId(1), event: ev });
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Detail);
    assert_eq!(app.downloads.selected().map(|(_, d)| d.rfc), Some(RfcNumber(9)));
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Browse(Pane::Downloads));
}

#[test]
fn index_and_lookup_refresh_on_the_clock_and_after_our_changes() {
    let mut app = app();
    assert_eq!(app.due(), None, "not connected");
    assert_eq!(app.on_net(NetEvent::Connected { server: "s".into() }), Some(Command::List));
    assert_eq!(app.due(), None, "a LIST is on its way");
    let list = |n: u32| {
        let records = (0..n).map(|i| record(i, "T", "hostB", 5000)).collect();
        NetEvent::Reply(Reply::List { status: Status::Ok, records })
    };
    app.on_net(list(3));
    assert_eq!(app.due(), None);
    // A lookup on screen is asked again each period, the index too.
    press(&mut app, "/7");
    app.on_key(key(KeyCode::Enter));
    let found =
        Reply::Lookup { rfc: RfcNumber(7), status: Status::Ok, records: vec![record(7, "T", "h", 1)] };
    app.on_net(NetEvent::Reply(found.clone()));
    app.on_tick(t0() + REFRESH / 2);
    assert_eq!(app.due(), None);
    app.on_tick(t0() + REFRESH);
    assert_eq!(app.due(), Some(Command::List));
    assert_eq!(app.index.status, IndexStatus::Loading);
    assert_eq!(app.due(), Some(Command::Lookup(RfcNumber(7))));
    assert_eq!(app.due(), None, "one of each per period");
    assert!(matches!(app.lookup.view, LookupView::Found { .. }), "the old answer stays until the new one");
    app.on_net(list(3));
    app.on_net(NetEvent::Reply(found));
    // Our own ADD (after a download, say) makes the lookup due at once.
    app.on_net(NetEvent::Reply(Reply::Advertised {
        cause: AdvertiseCause::Asked,
        added: vec![],
        failed: vec![],
    }));
    assert_eq!(app.due(), Some(Command::Lookup(RfcNumber(7))));
    app.on_net(list(3));
    // A big index is listed less often: 60,000 records, every 3 periods.
    app.on_net(list(60_000));
    app.on_tick(t0() + REFRESH * 3);
    assert_eq!(app.due(), Some(Command::Lookup(RfcNumber(7))), "the lookup is still due each period");
    assert_eq!(app.due(), None);
    app.on_tick(t0() + REFRESH * 4);
    assert_eq!(app.due(), Some(Command::List));
    // Turned off: nothing.
    app.refresh = None;
    app.on_tick(t0() + REFRESH * 100);
    assert_eq!(app.due(), None);
}

#[test]
fn progress_messages_finish_and_stale_ones_are_replaced() {
    let mut app = app();
    app.on_net(NetEvent::Advertising { count: 2, cause: AdvertiseCause::Reconnected });
    let toast = app.messages.toast.clone().unwrap();
    assert!(toast.progress);
    assert_eq!(toast.text, "advertising 2 RFC(s) after reconnecting…");
    assert!(!app.on_tick(t0() + TOAST_FOR * 2), "a progress message waits for its outcome");
    app.on_net(NetEvent::Reply(Reply::Advertised {
        cause: AdvertiseCause::Reconnected,
        added: vec![],
        failed: vec![],
    }));
    let toast = app.messages.toast.clone().unwrap();
    assert_eq!(toast.text, "Advertised 0 RFC(s) to the index. Done.");
    assert!(!toast.progress);
    // "already here" is gone once the next lookup is sent.
    app.on_net(NetEvent::Notice("RFC 8600 is already here".into()));
    press(&mut app, "/8700");
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.messages.toast, None);
}

#[test]
fn the_folder_and_the_index_mark_local_rfcs() {
    let mut app = app();
    let records = vec![record(8600, "Mine", "hostA", 2222), record(8601, "Theirs", "hostB", 5000)];
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
    assert_eq!(app.local.in_index, HashSet::from([RfcNumber(8600)]), "8601 is held, but by hostB only");
    // A file dropped into the folder is listed and said so.
    let mut now = app.local.rfcs.clone();
    now.push(local(9000, "Dropped"));
    app.on_net(NetEvent::Library(now));
    assert_eq!(app.local.len(), 3);
    assert_eq!(
        app.messages.toast.as_ref().unwrap().text,
        "new in the folder: RFC 9000 (press a to advertise)"
    );
    let added = vec![record(9000, "Dropped", "hostA", 2222)];
    app.on_net(NetEvent::Reply(Reply::Advertised { cause: AdvertiseCause::NewFiles, added, failed: vec![] }));
    assert!(app.local.in_index.contains(&RfcNumber(9000)));
    // s stops sharing the selected local RFC.
    app.mode = Mode::Browse(Pane::Local);
    assert_eq!(press(&mut app, "s"), vec![Command::Unshare(RfcNumber(8600))]);
    assert!(app.messages.toast.as_ref().unwrap().progress);
    app.mode = Mode::Browse(Pane::Index);
    assert!(press(&mut app, "s").is_empty(), "s belongs to Local RFCs");
    // The server forgets everything with the connection.
    app.on_net(NetEvent::Disconnected { reason: IndexError::Closed, retry_in: None });
    assert!(app.local.in_index.is_empty());
}

#[test]
fn key_releases_are_dropped() {
    let mut app = app();
    let mut release = key(KeyCode::Char('q'));
    release.kind = KeyEventKind::Release;
    assert_eq!(app.on_key(release), None);
    assert!(!app.is_leaving());
}

#[test]
fn lookup_box_takes_letters_and_enter_sends_lookup() {
    let mut app = app();
    assert!(press(&mut app, "/").is_empty());
    assert_eq!(app.mode, Mode::Typing);
    // While typing, q and a are text, not commands.
    assert!(press(&mut app, "qa").is_empty());
    assert_eq!(app.lookup.input.value(), "qa");
    assert!(!app.is_leaving());
    assert_eq!(app.on_key(key(KeyCode::Enter)), None);
    assert_eq!(app.lookup.view, LookupView::Invalid("qa".into()));
    app.on_key(key(KeyCode::Backspace));
    app.on_key(key(KeyCode::Backspace));
    press(&mut app, "8700");
    assert_eq!(app.on_key(key(KeyCode::Enter)), Some(Command::Lookup(RfcNumber(8700))));
    assert_eq!(app.mode, Mode::Browse(Pane::Lookup));
    assert_eq!(app.lookup.view, LookupView::Pending(RfcNumber(8700)));
}

#[test]
fn esc_leaves_the_box_and_keys_are_commands_again() {
    let mut app = app();
    press(&mut app, "/12");
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Browse(Pane::Lookup));
    assert_eq!(app.lookup.input.value(), "12");
    assert_eq!(press(&mut app, "r"), vec![Command::List]);
    assert_eq!(app.index.status, IndexStatus::Loading);
}

#[test]
fn holders_can_be_chosen_and_downloaded() {
    let mut app = app();
    press(&mut app, "/8700");
    app.on_key(key(KeyCode::Enter));
    let holders = vec![record(8700, "T", "hostB", 5000), record(8700, "T", "hostC", 5001)];
    let rfc = RfcNumber(8700);
    app.on_net(NetEvent::Reply(Reply::Lookup { rfc, status: Status::Ok, records: holders }));
    assert_eq!(app.lookup.holders().len(), 2);
    press(&mut app, "j");
    assert_eq!(app.lookup.list.selected(), Some(1));
    press(&mut app, "jj");
    assert_eq!(app.lookup.list.selected(), Some(1), "selection stops at the end");
    let cmd = app.on_key(key(KeyCode::Enter));
    let from = Some(Holder { host: "hostC".into(), port: 5001 });
    assert_eq!(cmd, Some(Command::Download { rfc, from }));
}

#[test]
fn lookups_made_by_downloads_do_not_replace_the_pane() {
    let mut app = app();
    press(&mut app, "/1");
    app.on_key(key(KeyCode::Enter));
    let records = vec![record(2, "T", "hostB", 5000)];
    app.on_net(NetEvent::Reply(Reply::Lookup { rfc: RfcNumber(2), status: Status::Ok, records }));
    assert_eq!(app.lookup.view, LookupView::Pending(RfcNumber(1)));
    app.on_net(NetEvent::Reply(Reply::Lookup {
        rfc: RfcNumber(1),
        status: Status::NotFound,
        records: vec![],
    }));
    assert_eq!(app.lookup.view, LookupView::NotFound(RfcNumber(1)));
}

#[test]
fn d_downloads_the_selected_index_row_but_not_what_is_here() {
    let mut app = app();
    let records = vec![
        record(8700, "T", "hostB", 5000),
        record(8600, "Mine", "hostA", 2222),
        record(8800, "U", "hostC", 5001),
    ];
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
    assert_eq!(
        press(&mut app, "d"),
        vec![Command::Download {
            rfc: RfcNumber(8700),
            from: Some(Holder { host: "hostB".into(), port: 5000 })
        }]
    );
    assert!(press(&mut app, "jd").is_empty(), "8600 is local");
    assert!(app.messages.toast.as_ref().unwrap().text.contains("already here"));
    app.on_key(key(KeyCode::Down));
    assert_eq!(app.index.selected(), 2);
    assert_eq!(app.on_key(key(KeyCode::Enter)).map(|c| matches!(c, Command::Download { .. })), Some(true));
    app.on_key(key(KeyCode::Up));
    app.on_key(key(KeyCode::Up));
    app.on_key(key(KeyCode::Up));
    assert_eq!(app.index.selected(), 0);
}

#[test]
fn advertise_refresh_help_and_quit() {
    let mut app = app();
    assert_eq!(press(&mut app, "a"), vec![Command::Advertise]);
    press(&mut app, "?");
    assert_eq!(app.mode, Mode::Help { back: Pane::Index });
    assert!(press(&mut app, "a").is_empty(), "keys do nothing under the help");
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Browse(Pane::Index));
    assert_eq!(press(&mut app, "q"), vec![Command::Quit]);
    assert_eq!(app.connection, Connection::Leaving);
    assert!(press(&mut app, "q").is_empty(), "quit is sent once");
    app.on_net(NetEvent::Closed);
    assert!(app.is_closed());
}

#[test]
fn ctrl_c_quits_even_while_typing() {
    let mut app = app();
    press(&mut app, "/12");
    let cmd = app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(cmd, Some(Command::Quit));
}

#[test]
fn connecting_and_advertising_refresh_the_index() {
    let mut app = app();
    assert_eq!(app.on_net(NetEvent::Connected { server: "s".into() }), Some(Command::List));
    // A LIST is pending: no second one.
    let adv = Reply::Advertised { cause: AdvertiseCause::Asked, added: vec![], failed: vec![] };
    assert_eq!(app.on_net(NetEvent::Reply(adv.clone())), None);
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records: vec![] }));
    assert_eq!(app.on_net(NetEvent::Reply(adv)), Some(Command::List));
}

#[test]
fn only_asked_for_advertising_becomes_a_message() {
    let mut app = app();
    let adv = |cause| NetEvent::Reply(Reply::Advertised { cause, added: vec![], failed: vec![] });
    app.on_net(adv(AdvertiseCause::Downloaded(RfcNumber(8700))));
    assert_eq!(app.messages.toast, None, "an ADD after a download is only logged");
    assert_eq!(app.log.len(), 1);
    assert_eq!(press(&mut app, "a"), vec![Command::Advertise]);
    app.on_net(adv(AdvertiseCause::Asked));
    assert_eq!(
        app.messages.toast.as_ref().map(|t| t.text.as_str()),
        Some("Advertised 0 RFC(s) to the index. Done.")
    );
    let empty = &mut App::new(me(), vec![], t0());
    assert!(press(empty, "a").is_empty(), "nothing to advertise");
}

#[test]
fn disconnection_is_shown_once_per_reason() {
    let mut app = app();
    let ev = NetEvent::Disconnected { reason: IndexError::Closed, retry_in: Some(Duration::from_secs(1)) };
    app.on_net(ev.clone());
    app.on_net(ev);
    assert_eq!(app.log.len(), 1);
    assert!(matches!(app.connection, Connection::Disconnected { .. }));
    app.on_net(NetEvent::Connected { server: "s".into() });
    assert_eq!(app.connection, Connection::Connected);
}

#[test]
fn r_while_a_list_is_on_its_way_sends_no_second_one() {
    let mut app = app();
    assert_eq!(press(&mut app, "r"), [Command::List]);
    assert_eq!(app.index.status, IndexStatus::Loading);
    assert!(press(&mut app, "rr").is_empty(), "the LIST on its way answers these");
    assert_eq!(app.messages.toast.as_ref().map(|t| t.text.as_str()), Some("Already refreshing the index."));
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records: vec![] }));
    let said = app.messages.toast.as_ref().map(|t| t.text.as_str());
    assert_eq!(said, Some("Refreshed the Index: 0 record(s)."), "r has its own message");
    assert_eq!(press(&mut app, "r"), [Command::List]);
    // A failed LIST does not block the next one either.
    let not_connected = IndexError::NotConnected { servers: "s".into() };
    app.on_net(NetEvent::Error(PeerError::about(Request::List, not_connected)));
    assert_eq!(press(&mut app, "r"), [Command::List]);
}

#[test]
fn errors_end_pending_requests() {
    let mut app = app();
    press(&mut app, "/5");
    app.on_key(key(KeyCode::Enter));
    app.on_key(key(KeyCode::Char('r')));
    let not_connected = IndexError::NotConnected { servers: "s".into() };
    app.on_net(NetEvent::Error(PeerError::about(Request::Lookup(RfcNumber(5)), not_connected.clone())));
    app.on_net(NetEvent::Error(PeerError::about(Request::List, not_connected.clone())));
    let reason = not_connected.to_string();
    assert_eq!(app.lookup.view, LookupView::Failed { rfc: RfcNumber(5), reason: reason.clone() });
    assert_eq!(app.index.status, IndexStatus::Failed(reason));
    assert!(app.messages.toast.as_ref().unwrap().error);
}

#[test]
fn downloads_progress_retry_finish() {
    let mut app = app();
    let id = DownloadId(1);
    let rfc = RfcNumber(8700);
    let b = Holder { host: "hostB".into(), port: 5000 };
    let c = Holder { host: "hostC".into(), port: 5001 };
    app.on_net(NetEvent::Download { id, event: DownloadEvent::Started { rfc, from: b.clone() } });
    let ev = DownloadEvent::HolderFailed {
        from: b,
        reason: crate::peer::DownloadError::Refused(Status::NotFound),
        retrying: true,
    };
    app.on_net(NetEvent::Download { id, event: ev });
    assert!(matches!(app.downloads.map[&id].state, DownloadState::Retrying { .. }));
    app.on_net(NetEvent::Download { id, event: DownloadEvent::Started { rfc, from: c.clone() } });
    app.on_tick(t0() + Duration::from_secs(2));
    app.on_net(NetEvent::Download { id, event: DownloadEvent::Progress { received: 2048, total: 4096 } });
    let d = &app.downloads.map[&id];
    assert_eq!(d.state, DownloadState::Running);
    assert_eq!(d.rate(app.now), Some(1024.0));
    let done = DownloadEvent::Done {
        rfc,
        from: c,
        path: PathBuf::from("hostA/rfc8700.txt"),
        bytes: 4096,
        elapsed: Duration::from_secs(2),
    };
    app.on_net(NetEvent::Download { id, event: done });
    assert!(!app.downloads.map[&id].is_active());
    app.on_net(NetEvent::Library(vec![local(8700, "T")]));
    assert_eq!(app.local.len(), 1);
}

#[test]
fn finished_downloads_are_capped() {
    let mut app = app();
    for i in 0..20 {
        let ev = DownloadEvent::Failed { rfc: RfcNumber(i), reason: crate::peer::DownloadError::NoHolder };
        app.on_net(NetEvent::Download { id: DownloadId(i.into()), event: ev });
    }
    assert_eq!(app.downloads.len(), FINISHED_CAP);
    assert_eq!(app.downloads.map.keys().next(), Some(&DownloadId(12)));
}

#[test]
fn toasts_expire_with_the_clock() {
    let mut app = app();
    app.on_net(NetEvent::Error(IndexError::EngineStopped.into()));
    assert!(!app.on_tick(t0() + Duration::from_secs(1)));
    assert!(app.messages.toast.is_some());
    assert!(app.on_tick(t0() + TOAST_FOR));
    assert!(app.messages.toast.is_none());
}

#[test]
fn log_splits_messages_and_is_capped() {
    let mut app = app();
    app.log.cap = 5;
    let text = "LOOKUP RFC 1 P2P-CI/1.0\r\nHost: hostA\r\nPort: 2222\r\n\r\n";
    app.on_net(wire(Direction::Sent, Link::Server, text));
    assert_eq!(app.log.len(), 3);
    assert_eq!(app.log.lines[0].time.as_deref(), Some("12:00:00"));
    assert_eq!(app.log.lines[0].who.as_deref(), Some("server"));
    assert_eq!(app.log.lines[1].time, None);
    assert_eq!(app.log.lines[2].text, "Port: 2222");
    let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    app.on_net(wire(Direction::Received, Link::Upload(addr), "GET RFC 1 P2P-CI/1.0\r\nHost: h\r\n\r\n"));
    assert_eq!(app.log.len(), 5);
    app.on_net(NetEvent::Notice("hello".into()));
    assert_eq!(app.log.len(), 5);
    assert_eq!(app.log.lines[0].text, "Host: hostA");
    assert_eq!(app.log.lines.back().unwrap().text, "hello");
}

#[test]
fn a_huge_answer_is_logged_as_its_head_and_a_count() {
    let mut app = app();
    let mut text = String::from("P2P-CI/1.0 200 OK\r\n\r\n");
    for i in 0..100_000 {
        text.push_str(&format!("RFC {i} T hostB 5000\r\n"));
    }
    app.on_net(wire(Direction::Received, Link::Server, &text));
    assert_eq!(app.log.len(), LOG_LINES_PER_MESSAGE + 1);
    let rest = 100_002 - LOG_LINES_PER_MESSAGE;
    assert_eq!(app.log.lines.back().unwrap().text, format!("… and {rest} more line(s)"));
}

#[test]
fn the_index_selection_follows_its_record_when_rows_move() {
    let mut app = app();
    let list = |rfcs: &[u32]| {
        let records = rfcs.iter().map(|&n| record(n, "T", "hostB", 5000)).collect();
        NetEvent::Reply(Reply::List { status: Status::Ok, records })
    };
    app.on_net(list(&[3, 2, 1]));
    press(&mut app, "j");
    assert_eq!(app.index.get(app.index.selected()).unwrap().rfc, RfcNumber(2));
    app.on_net(list(&[5, 4, 3, 2, 1]));
    assert_eq!(app.index.get(app.index.selected()).unwrap().rfc, RfcNumber(2));
    // Gone: the selection stays where it was, within the new rows.
    app.on_net(list(&[9]));
    assert_eq!(app.index.selected(), 0);
}

#[test]
fn unchanged_refreshes_are_folded_in_the_log() {
    let mut app = app();
    let list = "LIST ALL P2P-CI/1.0\r\nHost: hostA\r\nPort: 2222\r\n\r\n";
    let answer = |rows: &str| format!("P2P-CI/1.0 200 OK\r\n\r\n{rows}\r\n");
    let exchange = |app: &mut App, rows: &str| {
        app.on_net(wire(Direction::Sent, Link::Server, list));
        app.on_net(wire(Direction::Received, Link::Server, &answer(rows)));
    };
    exchange(&mut app, "RFC 1 T hostB 5000\r\n");
    let first = app.log.len();
    assert_eq!(first, 3 + 3);
    exchange(&mut app, "RFC 1 T hostB 5000\r\n");
    exchange(&mut app, "RFC 1 T hostB 5000\r\n");
    assert_eq!(app.log.len(), first, "the same answer is not logged again");
    assert_eq!(app.log.folded, 2);
    // An ADD in between is logged as always, and does not disturb it.
    app.on_net(wire(Direction::Sent, Link::Server, "ADD RFC 2 P2P-CI/1.0\r\n\r\n"));
    app.on_net(wire(Direction::Received, Link::Server, "P2P-CI/1.0 200 OK\r\n\r\n"));
    assert_eq!(app.log.len(), first + 2);
    // A changed answer is logged, request and all.
    exchange(&mut app, "RFC 2 U hostC 5001\r\n");
    assert_eq!(app.log.len(), first + 2 + 6);
    assert_eq!(app.log.lines[first + 2].text, "LIST ALL P2P-CI/1.0");
    assert_eq!(app.log.lines.back().unwrap().text, "RFC 2 U hostC 5001");
}

#[test]
fn log_follows_unless_scrolled_back() {
    let mut app = app();
    app.on_resize(80, 24);
    let page = app.areas.inner_height(Pane::Log);
    assert!(page >= 3, "{page}");
    for i in 0..20 {
        app.on_net(NetEvent::Notice(format!("n{i}")));
    }
    assert_eq!(app.log.scroll, 0);
    app.mode = Mode::Browse(Pane::Log);
    app.on_key(key(KeyCode::PageUp));
    assert_eq!(app.log.scroll, page);
    app.on_net(NetEvent::Notice("new".into()));
    assert_eq!(app.log.scroll, page + 1, "the view stays on the same lines");
    app.on_key(key(KeyCode::Home));
    assert_eq!(app.log.scroll, 21 - page);
    app.on_key(key(KeyCode::PageDown));
    assert_eq!(app.log.scroll, 21 - 2 * page);
    app.on_key(key(KeyCode::End));
    assert_eq!(app.log.scroll, 0);
    press(&mut app, "k");
    assert_eq!(app.log.scroll, 1);
    press(&mut app, "j");
    assert_eq!(app.log.scroll, 0);
    press(&mut app, "ll");
    assert_eq!(app.log.hscroll, 2 * HSCROLL_STEP);
    app.on_key(key(KeyCode::Left));
    assert_eq!(app.log.hscroll, HSCROLL_STEP);
}

/// Issue 19, item 4: each action's own message stays; the re-advertise
/// that follows it goes to the log only.
#[test]
fn stop_sharing_and_a_removed_file_each_say_their_own_outcome() {
    let mut app = app();
    app.connection = Connection::Connected;
    app.mode = Mode::Browse(Pane::Local);
    assert_eq!(press(&mut app, "s"), [Command::Unshare(RfcNumber(8600))]);
    let to = std::path::PathBuf::from("hostA/unshared/rfc8600.txt");
    app.on_net(NetEvent::Unshared { rfc: RfcNumber(8600), to });
    let said = "RFC 8600 is no longer shared (moved to hostA/unshared/rfc8600.txt).";
    assert_eq!(app.messages.toast.as_ref().unwrap().text, said);
    let cause = AdvertiseCause::Withdrawal { rfcs: vec![RfcNumber(8600)], why: Withdrawal::Unshared };
    app.on_net(NetEvent::Advertising { count: 1, cause: cause.clone() });
    let added = vec![record(8601, "T", "hostA", 2222)];
    assert_eq!(
        app.on_net(NetEvent::Reply(Reply::Advertised { cause, added, failed: vec![] })),
        Some(Command::List)
    );
    let outcome = WithdrawOutcome::Done { readvertised: 1, restored: 0 };
    app.on_net(NetEvent::Withdrawn { rfcs: vec![RfcNumber(8600)], why: Withdrawal::Unshared, outcome });
    assert_eq!(app.messages.toast.as_ref().unwrap().text, said, "the follow-ups did not replace it");
    assert!(app.log.lines.iter().any(|l| l.text.contains("advertising 1 RFC(s) again")));
    assert!(app.log.lines.iter().any(|l| l.text.contains("withdrawn from the index; 1 other")));
    // A file taken out of the folder: the withdrawal is the message.
    app.on_tick(t0() + TOAST_FOR);
    let outcome = WithdrawOutcome::Done { readvertised: 0, restored: 0 };
    app.on_net(NetEvent::Withdrawn { rfcs: vec![RfcNumber(8601)], why: Withdrawal::Removed, outcome });
    assert_eq!(
        app.messages.toast.as_ref().unwrap().text,
        "RFC 8601 left the folder: withdrawn from the index; 0 other record(s) advertised again."
    );
    // Files skipped are said once, with the reason.
    let skipped = vec![crate::peer::library::Skipped {
        name: "rfc8803.txt".into(),
        reason: crate::peer::library::SkipReason::Empty,
    }];
    app.on_net(NetEvent::Skipped(skipped));
    let toast = app.messages.toast.clone().unwrap();
    assert!(toast.text.starts_with("not sharing rfc8803.txt: "), "{}", toast.text);
}

/// Issue 19, items 10-11: waiting for a holder that announced its size,
/// cancel, retry, and repeated failures as one row with a count.
#[test]
fn downloads_wait_cancel_retry_and_fold_failures() {
    let mut app = app();
    app.mode = Mode::Browse(Pane::Downloads);
    let (id, rfc) = (DownloadId(1), RfcNumber(8700));
    let b = Holder { host: "hostB".into(), port: 5000 };
    app.on_net(NetEvent::Download { id, event: DownloadEvent::Queued { rfc, attempt: 1 } });
    app.on_net(NetEvent::Download { id, event: DownloadEvent::Started { rfc, from: b.clone() } });
    let waiting = DownloadEvent::Waiting { from: b.clone(), announced: Some(300 << 20) };
    app.on_net(NetEvent::Download { id, event: waiting });
    let d = &app.downloads.map[&id];
    assert!(d.asked && d.total == Some(300 << 20) && d.received == 0);
    assert_eq!(press(&mut app, "R"), [], "a running download is not retried");
    assert_eq!(press(&mut app, "c"), [Command::CancelDownload(id)]);
    app.on_net(NetEvent::Download { id, event: DownloadEvent::Cancelled { rfc } });
    assert_eq!(app.downloads.map[&id].state, DownloadState::Cancelled);
    assert!(app.messages.toast.as_ref().unwrap().text.contains("nothing of it was kept"));
    assert_eq!(press(&mut app, "c"), [], "not running any more");
    assert_eq!(press(&mut app, "R"), [Command::RetryDownload(id)]);
    app.on_net(NetEvent::Download { id, event: DownloadEvent::Queued { rfc, attempt: 2 } });
    assert_eq!(app.downloads.map[&id].attempt, 2);
    let too_large = DownloadError::AllFailed {
        tried: 1,
        last: b.clone(),
        error: Box::new(DownloadError::TooLarge { announced: 300 << 20, limit: 256 << 20 }),
    };
    app.on_net(NetEvent::Download { id, event: DownloadEvent::Failed { rfc, reason: too_large.clone() } });
    let d = &app.downloads.map[&id];
    assert_eq!(d.failures, 1);
    assert_eq!(d.from, Some(b));
    assert!(d.hint.as_deref().unwrap().contains("--max-download"), "{:?}", d.hint);
    // Retried and failed again under the same id, then once more by d
    // (a new id): one row, three failures.
    app.on_net(NetEvent::Download { id, event: DownloadEvent::Failed { rfc, reason: too_large.clone() } });
    let again = DownloadId(2);
    app.on_net(NetEvent::Download { id: again, event: DownloadEvent::Failed { rfc, reason: too_large } });
    assert_eq!(app.downloads.len(), 1);
    assert_eq!(app.downloads.map[&again].failures, 3);
}

/// Issue 19, items 1-2: while the server is away the Index and the
/// Lookup are marked with their age, and a LOOKUP that failed for want
/// of the server is asked again when it is back.
#[test]
fn stale_marks_and_the_lookup_redone_on_reconnect() {
    let mut app = app();
    app.on_net(NetEvent::Connected { server: "s".into() });
    app.on_tick(t0() + Duration::from_secs(4 * 3600 + 271));
    app.on_net(NetEvent::Reply(Reply::List {
        status: Status::Ok,
        records: vec![record(1, "T", "hostB", 1)],
    }));
    assert_eq!(app.stale(app.index.answered_at), None, "connected: current");
    app.on_net(NetEvent::Disconnected { reason: IndexError::Closed, retry_in: None });
    assert_eq!(app.stale(app.index.answered_at).as_deref(), Some("as of 16:04:31, server unreachable"));
    press(&mut app, "/8601");
    assert_eq!(app.on_key(key(KeyCode::Enter)), Some(Command::Lookup(RfcNumber(8601))));
    let not_connected = IndexError::NotConnected { servers: "s".into() };
    app.on_net(NetEvent::Error(PeerError::about(Request::Lookup(RfcNumber(8601)), not_connected)));
    assert!(matches!(app.lookup.view, LookupView::Failed { .. }));
    assert_eq!(app.due(), None, "not while disconnected");
    app.refresh = None;
    assert_eq!(app.on_net(NetEvent::Connected { server: "s".into() }), Some(Command::List));
    assert_eq!(app.lookup.view, LookupView::Pending(RfcNumber(8601)));
    assert_eq!(app.due(), Some(Command::Lookup(RfcNumber(8601))), "even with the refresh off");
    assert_eq!(app.due(), None, "once");
}

/// Issue 19, item 15: a key a pane does not take says where it works.
#[test]
fn a_key_for_another_pane_says_where_it_works() {
    let mut app = app();
    assert!(press(&mut app, "s").is_empty());
    assert_eq!(app.messages.toast.as_ref().unwrap().text, "s works in Local RFCs (stop sharing).");
    app.mode = Mode::Browse(Pane::Log);
    press(&mut app, "d");
    assert_eq!(app.messages.toast.as_ref().unwrap().text, "d works in Index and Lookup (download).");
}

/// Issue 19, items 12-13: the reader opens on a local RFC, and the
/// Index filter narrows the rows as it is typed.
#[test]
fn the_reader_opens_searches_and_closes_and_the_filter_narrows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rfc8600.txt");
    let text: String =
        (0..300).map(|i| format!("line {i}{}\n", if i == 150 { " IPsec" } else { "" })).collect();
    std::fs::write(&path, format!("\u{feff}{text}")).unwrap();
    let mut app = App::new(me(), vec![LocalRfc { path, ..local(8600, "T") }], t0());
    app.on_resize(80, 24);
    app.mode = Mode::Browse(Pane::Local);
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Reader { back: Pane::Local });
    assert_eq!(app.reader.as_ref().unwrap().lines.len(), 300);
    assert_eq!(app.reader.as_ref().unwrap().lines[0], "line 0", "no BOM");
    press(&mut app, "/ipsec");
    assert_eq!(app.mode, Mode::Search { back: Pane::Local });
    app.on_key(key(KeyCode::Enter));
    let r = app.reader.as_ref().unwrap();
    assert_eq!((r.matches.clone(), app.mode), (vec![150], Mode::Reader { back: Pane::Local }));
    assert!(r.scroll <= 150 && 150 < r.scroll + app.reader_page());
    press(&mut app, "q");
    assert_eq!(app.mode, Mode::Browse(Pane::Local));
    assert!(app.reader.is_none());
    // The filter.
    let records = (0..3000)
        .map(|i| record(i, if i % 250 == 0 { "IPsec thing" } else { "Other" }, "hostB", 1))
        .collect();
    app.on_net(NetEvent::Reply(Reply::List { status: Status::Ok, records }));
    app.mode = Mode::Browse(Pane::Index);
    press(&mut app, "fipsec");
    assert_eq!(app.mode, Mode::Filter);
    assert_eq!((app.index.len(), app.index.total()), (12, 3000));
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Browse(Pane::Index));
    assert_eq!(app.index.filter_text(), "ipsec", "kept");
    press(&mut app, "f");
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.index.len(), 3000, "Esc in the box clears it");
}
