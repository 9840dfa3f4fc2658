//! The full-screen peer (being built; see issue 4): its state and drawing
//! are here, the loop comes next. Until it lands, the peer runs headless.
//!
//! * [`app`] — the state, and `on_key` / `on_net`, which turn a key or an
//!   engine event into state changes and at most one [`crate::peer::Command`];
//! * [`ui`] — drawing, a pure function of the state (snapshot-tested).

pub mod app;
pub mod ui;

use tokio::sync::mpsc;

use crate::peer::{NetEvent, Peer};

/// Runs the full-screen UI.
pub async fn run(peer: Peer, events: mpsc::Receiver<NetEvent>, advertise: bool) -> anyhow::Result<()> {
    eprintln!("p2pci: the full-screen UI is not built yet; running headless");
    crate::headless::run(peer, events, advertise).await
}
