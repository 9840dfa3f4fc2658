//! The terminal and the loop: set up, react, draw, restore.
//!
//! The loop awaits one [`Event`] at a time, then drains whatever engine
//! events are already queued (`try_recv`). It draws only when something
//! changed, and at most once per `FRAME`, so a burst of uploads, progress
//! or log lines costs one frame. It never awaits a socket: commands go out
//! through the engine's unbounded channel (sending does not block) and
//! answers come back as events. It runs on a thread of its own, with its own
//! runtime, so a frame being drawn or written never delays an upload.
//!
//! The terminal is restored on every way out: by `TerminalGuard`'s `Drop`
//! on return or error, and by a panic hook that restores it before the panic
//! message is printed, so the message is readable and the shell usable.

use std::io::{IsTerminal, Stdout, stdout};
use std::sync::Once;
use std::time::{Duration, SystemTime};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::Show;
use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::app::{App, Me};
use super::event::{Event, Events};
use super::{Options, ScreenError, ui};
use crate::peer::{Command, NetEvent, Peer};

/// How often the clock ticks (download rates, expiring messages).
const TICK: Duration = Duration::from_millis(250);
/// Shortest time between two frames: a burst of events (uploads served,
/// progress, log lines) costs at most one frame per FRAME, never one each.
const FRAME: Duration = Duration::from_millis(33);
/// Most queued engine events folded in at once, so keys stay responsive.
const DRAIN_MAX: usize = 1024;
/// How long to wait for the engine to close after `q`.
const LEAVE_GRACE: Duration = Duration::from_secs(3);

/// Owns the terminal while the UI runs; restores it when dropped.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    fn enter() -> Result<TerminalGuard, ScreenError> {
        if !std::io::stdin().is_terminal() || !stdout().is_terminal() {
            return Err(ScreenError::NotATerminal);
        }
        install_panic_hook();
        enable_raw_mode().map_err(ScreenError::RawMode)?;
        let guard = execute!(stdout(), EnterAlternateScreen, EnableMouseCapture)
            .map_err(ScreenError::AlternateScreen)
            .and_then(|()| Terminal::new(CrosstermBackend::new(stdout())).map_err(ScreenError::Setup));
        match guard {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore_terminal();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Leaves raw mode and the alternate screen; safe to call more than once.
fn restore_terminal() {
    // Raw mode first: it has more side effects than the alternate screen.
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), DisableMouseCapture, LeaveAlternateScreen, Show);
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
    });
}

/// Runs the full-screen UI until the user leaves.
///
/// The screen gets a thread of its own, with its own single-threaded
/// runtime: drawing and writing to the terminal then never hold up the
/// engine, the upload server or the downloads, however many threads
/// (`--threads`) those run on. The two sides only share channels.
pub async fn run(peer: Peer, events: mpsc::Receiver<NetEvent>, options: Options) -> Result<(), ScreenError> {
    let me =
        Me { host: peer.host.clone(), upload_port: peer.upload_addr.port(), server: peer.server.clone() };
    let mut app = App::new(me, peer.library.clone(), SystemTime::now());
    app.refresh = options.refresh;
    app.auto_advertise = options.auto_advertise;
    let commands = peer.commands();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("p2pci-screen".into()).spawn(move || {
        let result = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ScreenError::Runtime)
            .and_then(|rt| rt.block_on(screen(app, commands, events, options.advertise)));
        let _ = done_tx.send(result);
    });
    let result = match spawned {
        Ok(_) => done_rx.await.unwrap_or(Err(ScreenError::ThreadStopped)),
        Err(e) => Err(ScreenError::Thread(e)),
    };
    // The engine has closed the index connection (or had its chance to);
    // now stop the upload server and any download. With no screen at all,
    // this still leaves the index politely.
    peer.shutdown(Duration::from_secs(2)).await;
    result
}

/// The screen's side: the terminal, the events, the app. The terminal is
/// given back when this returns.
async fn screen(
    mut app: App,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<NetEvent>,
    advertise: bool,
) -> Result<(), ScreenError> {
    // The terminal first: crossterm's event reader needs one to exist.
    let mut guard = TerminalGuard::enter()?;
    let size = guard.terminal.size().map_err(ScreenError::Size)?;
    let mut events = Events::new(events, TICK)?;
    app.on_resize(size.width, size.height);
    if advertise && let Some(cmd) = app.advertise() {
        send(&commands, &mut app, cmd);
    }
    let result = event_loop(&mut guard.terminal, &mut app, &commands, &mut events).await;
    drop(guard);
    result
}

async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    peer: &mpsc::UnboundedSender<Command>,
    events: &mut Events,
) -> Result<(), ScreenError> {
    terminal.draw(|f| ui::draw(f, &mut *app)).map_err(ScreenError::Draw)?;
    let mut last_draw = Instant::now();
    let mut dirty = false;
    let mut leave_by: Option<Instant> = None;
    let mut engine_gone = false;
    loop {
        // A frame is due one FRAME after the last one, and only when
        // something changed: events in between are folded in, not drawn.
        let frame_at = dirty.then(|| last_draw + FRAME);
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            event = events.next() => {
                // The clock first, so that log lines made now carry the time now.
                dirty |= app.on_tick(SystemTime::now());
                dirty |= on_event(app, peer, event, &mut engine_gone);
                for _ in 0..DRAIN_MAX {
                    let Some(ev) = events.try_net() else { break };
                    dirty |= on_event(app, peer, Event::Net(ev), &mut engine_gone);
                }
                if let Some(cmd) = app.due() {
                    send(peer, app, cmd);
                    dirty = true;
                }
            }
            () = tokio::time::sleep_until(frame_at.unwrap_or(far)), if frame_at.is_some() => {
                terminal.draw(|f| ui::draw(f, &mut *app)).map_err(ScreenError::Draw)?;
                last_draw = Instant::now();
                dirty = false;
            }
            () = tokio::time::sleep_until(leave_by.unwrap_or(far)), if leave_by.is_some() => break,
        }
        if app.is_leaving() && leave_by.is_none() {
            leave_by = Some(Instant::now() + LEAVE_GRACE);
        }
        if app.is_closed() || engine_gone {
            if dirty {
                terminal.draw(|f| ui::draw(f, &mut *app)).map_err(ScreenError::Draw)?;
            }
            break;
        }
    }
    Ok(())
}

/// Applies one event; returns true when the screen changed.
fn on_event(
    app: &mut App,
    peer: &mpsc::UnboundedSender<Command>,
    event: Event,
    engine_gone: &mut bool,
) -> bool {
    match event {
        Event::Key(key) => {
            if let Some(cmd) = app.on_key(key) {
                send(peer, app, cmd);
            }
            true
        }
        Event::Mouse(mouse) => {
            if let Some(cmd) = app.on_mouse(mouse) {
                send(peer, app, cmd);
            }
            true
        }
        Event::Resize(w, h) => {
            app.on_resize(w, h);
            true
        }
        Event::Net(ev) => {
            if let Some(cmd) = app.on_net(ev) {
                send(peer, app, cmd);
            }
            true
        }
        // The clock was advanced just before; only its effects remain to draw.
        Event::Tick => false,
        Event::Leave(why) => {
            app.on_net(NetEvent::Notice(format!("leaving: {why}")));
            if let Some(cmd) = app.leave() {
                send(peer, app, cmd);
            }
            true
        }
        Event::EngineGone => {
            *engine_gone = true;
            true
        }
    }
}

fn send(commands: &mpsc::UnboundedSender<Command>, app: &mut App, cmd: Command) {
    if commands.send(cmd).is_err() {
        app.on_net(NetEvent::Error(crate::peer::IndexError::EngineStopped.into()));
    }
}
