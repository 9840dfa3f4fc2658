//! The full-screen peer: a terminal UI over the peer engine.
//!
//! Built as the ratatui "event-driven async" shape, split so that the parts
//! that decide things are plain functions with no terminal behind them:
//!
//! * [`app`] — the state, one module per pane with its update code, and
//!   `on_key` / `on_net`, which turn a key or an engine event into state
//!   changes and at most one [`crate::peer::Command`];
//! * [`keymap`] — one table per mode (key, action, label): the key handler,
//!   the footers, the help and the README's keys table are read from it;
//! * [`ui`] — drawing, a pure function of the state, one function per pane
//!   (snapshot-tested);
//! * [`layout`] — where each pane goes for a screen size and what the panes
//!   hold; [`records`] — the Index's records, held compactly;
//! * [`event`] — keys, engine events, a tick and signals merged into one enum;
//! * [`mod@run`] — terminal setup and restore, and the loop that ties them.
//!
//! The engine does all network I/O in its own tasks; this side only sends
//! commands (never blocking) and folds in the events that come back.

pub mod app;
pub mod event;
pub mod keymap;
pub mod layout;
pub mod records;
pub mod run;
pub mod ui;

use std::io;

use thiserror::Error;
use tokio::sync::mpsc;

use crate::peer::{NetEvent, Peer};

/// How the full-screen peer behaves, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// ADD every local RFC as soon as the server is reached.
    pub advertise: bool,
    /// ADD RFC files dropped into the folder as soon as they appear.
    pub auto_advertise: bool,
    /// How often the Index and the Lookup shown are asked again (a big
    /// index less often); `None` never.
    pub refresh: Option<std::time::Duration>,
}

/// Why the full-screen UI could not start, or stopped: the terminal, the
/// signals, or the screen's own thread. The terminal is restored whichever.
#[derive(Debug, Error)]
pub enum ScreenError {
    /// Standard input or output is not a terminal (a pipe, a file).
    #[error("the full-screen UI needs a terminal; run with --headless for line commands")]
    NotATerminal,
    #[error("cannot put the terminal in raw mode (no terminal? try --headless)")]
    RawMode(#[source] io::Error),
    #[error("cannot switch to the alternate screen")]
    AlternateScreen(#[source] io::Error),
    #[error("cannot set up the screen")]
    Setup(#[source] io::Error),
    #[error("reading the terminal size")]
    Size(#[source] io::Error),
    /// A frame could not be written to the terminal.
    #[error("drawing")]
    Draw(#[source] io::Error),
    /// SIGTERM or SIGHUP (`name`) could not be listened for.
    #[error("cannot handle {name}")]
    Signal { name: &'static str, source: io::Error },
    #[error("starting the screen's runtime")]
    Runtime(#[source] io::Error),
    #[error("starting the screen's thread")]
    Thread(#[source] io::Error),
    /// The screen's thread ended without a result: it panicked.
    #[error("the screen thread stopped")]
    ThreadStopped,
}

/// Runs the full-screen UI until the user leaves; the terminal is restored
/// on every way out, panics included.
pub async fn run(peer: Peer, events: mpsc::Receiver<NetEvent>, options: Options) -> Result<(), ScreenError> {
    run::run(peer, events, options).await
}
