//! The one stream of things the UI reacts to.
//!
//! Keys and resizes (crossterm's `EventStream`), engine events (the
//! [`NetEvent`] channel), a clock tick and the signals that mean "leave" are
//! merged here into a single [`Event`], so the loop in [`super::run()`] is one
//! `await` and one `match`. Every source is cancel-safe (a stream's `next`,
//! `mpsc::Receiver::recv`, `Interval::tick`, `Signal::recv`), so losing the
//! `select!` race never loses an event. Nothing here touches a socket: the
//! engine does that in its own tasks and only sends us what happened.

use std::time::Duration;

use futures::StreamExt;
use ratatui::crossterm::event::{Event as TermEvent, EventStream, KeyEvent, MouseEvent};
use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};

use super::ScreenError;
use crate::peer::NetEvent;

/// Everything the loop reacts to.
#[derive(Debug)]
pub enum Event {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Net(NetEvent),
    /// Time passed: update clocks, rates, expiring messages.
    Tick,
    /// SIGTERM or SIGHUP, or the terminal's input ended: leave as `q` would.
    Leave(String),
    /// The engine dropped its sender: nothing more will come from it.
    EngineGone,
}

/// The merged sources.
pub struct Events {
    terminal: EventStream,
    terminal_open: bool,
    net: mpsc::Receiver<NetEvent>,
    net_open: bool,
    tick: Interval,
    signals: Signals,
}

impl Events {
    pub fn new(net: mpsc::Receiver<NetEvent>, tick_every: Duration) -> Result<Events, ScreenError> {
        let mut tick = tokio::time::interval(tick_every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        Ok(Events {
            terminal: EventStream::new(),
            terminal_open: true,
            net,
            net_open: true,
            tick,
            signals: Signals::new()?,
        })
    }

    /// Waits for the next event from any source.
    pub async fn next(&mut self) -> Event {
        loop {
            tokio::select! {
                ev = self.terminal.next(), if self.terminal_open => match ev {
                    Some(Ok(TermEvent::Key(key))) => return Event::Key(key),
                    Some(Ok(TermEvent::Mouse(mouse))) => return Event::Mouse(mouse),
                    Some(Ok(TermEvent::Resize(w, h))) => return Event::Resize(w, h),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        self.terminal_open = false;
                        return Event::Leave(format!("reading the terminal failed: {e}"));
                    }
                    None => {
                        self.terminal_open = false;
                        return Event::Leave("the terminal closed".into());
                    }
                },
                ev = self.net.recv(), if self.net_open => match ev {
                    Some(ev) => return Event::Net(ev),
                    None => {
                        self.net_open = false;
                        return Event::EngineGone;
                    }
                },
                why = self.signals.recv() => return Event::Leave(why.into()),
                _ = self.tick.tick() => return Event::Tick,
            }
        }
    }

    /// An engine event that is already waiting, without waiting: the loop
    /// drains these so that a burst is drawn once.
    pub fn try_net(&mut self) -> Option<NetEvent> {
        if !self.net_open {
            return None;
        }
        self.net.try_recv().ok()
    }
}

/// SIGTERM and SIGHUP (Ctrl-C is a key in raw mode).
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn new() -> Result<Signals, ScreenError> {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind, name| signal(kind).map_err(|source| ScreenError::Signal { name, source });
        Ok(Signals {
            term: listen(SignalKind::terminate(), "SIGTERM")?,
            hup: listen(SignalKind::hangup(), "SIGHUP")?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> Result<Signals, ScreenError> {
        Ok(Signals {})
    }

    #[cfg(unix)]
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "terminated (SIGTERM)",
            _ = self.hup.recv() => "the terminal hung up (SIGHUP)",
        }
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) -> &'static str {
        std::future::pending().await
    }
}
