//! The full-screen peer (being built; see issue 4). Until it lands, the peer
//! runs headless.

use tokio::sync::mpsc;

use crate::peer::{NetEvent, Peer};

/// Runs the full-screen UI.
pub async fn run(peer: Peer, events: mpsc::Receiver<NetEvent>, advertise: bool) -> anyhow::Result<()> {
    eprintln!("p2pci: the full-screen UI is not built yet; running headless");
    crate::headless::run(peer, events, advertise).await
}
