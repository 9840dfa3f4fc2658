//! A TCP proxy between a server and its Redis that a test can cut, heal
//! with the old connections' bytes delivered late, and point elsewhere.
//!
//! It stands for the network: while cut, it keeps accepting and reading
//! (as the sender's kernel keeps a connection's bytes queued) but forwards
//! nothing either way; on [`CutProxy::heal`] the connections made during
//! the cut flow at once, and those that were open when the cut began flow
//! only after `late`, even if their client has given up on them, as TCP
//! delivers a cut connection's retransmitted bytes once the path is back.
//! [`CutProxy::retarget`] drops every connection and sends new ones to
//! another address (a failover to a replica).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

struct Link {
    /// Whether bytes may flow on it now.
    flowing: watch::Sender<bool>,
    /// Made while the proxy was cut.
    during_cut: bool,
}

struct State {
    target: SocketAddr,
    cut: bool,
    links: Vec<Link>,
    tasks: JoinSet<()>,
}

pub struct CutProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    pub async fn start(target: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state =
            Arc::new(Mutex::new(State { target, cut: false, links: Vec::new(), tasks: JoinSet::new() }));
        let s = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                let mut st = s.lock().unwrap();
                let (flowing, rx) = watch::channel(!st.cut);
                let during_cut = st.cut;
                st.links.push(Link { flowing, during_cut });
                let target = st.target;
                st.tasks.spawn(link(client, target, rx));
            }
        });
        CutProxy { addr, state, accept }
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Stops every byte, both ways, on every connection, new ones too.
    pub fn cut(&self) {
        let mut st = self.state.lock().unwrap();
        st.cut = true;
        for l in &st.links {
            let _ = l.flowing.send(false);
        }
    }

    /// Lets bytes flow again: at once on the connections made during the
    /// cut, after `late` on those that were open before it.
    pub fn heal(&self, late: Duration) {
        let mut st = self.state.lock().unwrap();
        st.cut = false;
        let mut old = Vec::new();
        for l in &mut st.links {
            if l.during_cut {
                let _ = l.flowing.send(true);
                l.during_cut = false;
            } else {
                old.push(l.flowing.clone());
            }
        }
        tokio::spawn(async move {
            tokio::time::sleep(late).await;
            for f in old {
                let _ = f.send(true);
            }
        });
    }

    /// Drops every connection; new ones go to `target`.
    pub fn retarget(&self, target: SocketAddr) {
        let mut st = self.state.lock().unwrap();
        st.target = target;
        st.tasks.abort_all();
        st.links.clear();
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.state.lock().unwrap().tasks.abort_all();
    }
}

/// One connection: the client's bytes are read as they come and forwarded
/// while `flowing`; the upstream connection is made when the first bytes
/// may flow.
async fn link(client: TcpStream, target: SocketAddr, mut flowing: watch::Receiver<bool>) {
    let (mut from_client, mut to_client) = client.into_split();
    let (queued, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
    let reading = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = from_client.read(&mut buf).await {
            if n == 0 || queued.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let _reading = AbortOnDrop(reading);
    if flowing.wait_for(|f| *f).await.is_err() {
        return;
    }
    let Ok(upstream) = TcpStream::connect(target).await else { return };
    let _ = upstream.set_nodelay(true);
    let (mut from_up, mut to_up) = upstream.into_split();
    let mut back = flowing.clone();
    let answers = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = from_up.read(&mut buf).await {
            if n == 0 || back.wait_for(|f| *f).await.is_err() {
                break;
            }
            // A client gone is no reason to stop: its bytes still go
            // upstream, and the answers go nowhere.
            let _ = to_client.write_all(&buf[..n]).await;
        }
    });
    let _answers = AbortOnDrop(answers);
    while let Some(chunk) = queue.recv().await {
        if flowing.wait_for(|f| *f).await.is_err() || to_up.write_all(&chunk).await.is_err() {
            return;
        }
    }
    // The client closed: what it sent has been delivered; let the
    // answers drain a moment, then close.
    let _ = to_up.shutdown().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
