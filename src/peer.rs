//! The peer engine: everything a peer does on the network, with no screen.
//!
//! A front end (the full-screen [`crate::tui`] or the line-oriented
//! [`crate::headless`]) starts a [`Peer`], sends it [`Command`]s and receives
//! [`NetEvent`]s. Each piece of state has one owner task:
//!
//! * [`engine`] owns the list of local RFCs and the downloads, and turns
//!   commands into work for the others; it never waits on the network;
//! * [`conversation`] owns the long-lived index-server connection: one
//!   request at a time, answers read leniently, reconnection with backoff
//!   (round robin over several servers), re-advertising after it;
//! * [`upload`] is the GET server, one task per connection;
//! * [`download`] runs one task per download and reports progress;
//! * [`library`] is the RFC folder and title extraction (pure over text).
//!
//! All data travels in the messages: a front end never reads shared state and
//! never awaits a socket.

pub mod conversation;
pub mod download;
pub mod engine;
mod events;
pub mod library;
pub mod upload;
pub mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use thiserror::Error;

use crate::protocol::response::Progress;
use crate::protocol::{Record, RfcNumber, Status};

pub use download::DownloadError;
pub use engine::{Peer, PeerConfig, StartError};
pub use library::LocalRfc;

/// What a front end asks the engine to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// ADD every local RFC to the index.
    Advertise,
    /// LOOKUP one RFC.
    Lookup(RfcNumber),
    /// LIST ALL.
    List,
    /// Download an RFC. With `from`, try that holder first; either way the
    /// engine looks the RFC up and falls back to the other holders.
    Download { rfc: RfcNumber, from: Option<Holder> },
    /// Read the folder again (it changed): list new RFC files, and ADD them
    /// when `advertise_new`; withdraw removed ones (see `Unshare`).
    Rescan { advertise_new: bool },
    /// Stop sharing one RFC: its file moves to the folder's `unshared/`, and,
    /// since P2P-CI has no message that removes a record, the engine
    /// reconnects (the server drops all of this peer's records) and ADDs
    /// the rest again.
    Unshare(RfcNumber),
    /// Stop a download under way (its LOOKUP included): nothing of it is
    /// kept. Answered by [`DownloadEvent::Cancelled`]; an id that is not
    /// under way gets a [`NetEvent::Notice`].
    CancelDownload(DownloadId),
    /// Try a failed (or cancelled) download again, under the same id: a
    /// fresh LOOKUP, with the holder the last attempt tried first now tried
    /// last. Answered like a new download, from [`DownloadEvent::Queued`].
    RetryDownload(DownloadId),
    /// Leave once every command sent before this one is done: its answers,
    /// its downloads and the ADDs after them, a withdrawal's re-advertise
    /// and check. Then as `Quit`. (The headless `close`.)
    Finish,
    /// Leave now: close the index connection, stop uploads and downloads.
    Quit,
}

/// Why the peer ADDs: each advertise names its cause, in
/// [`NetEvent::Advertising`] and in its outcome ([`Reply::Advertised`]), so
/// a front end can tell the answer to a user's action from the ADDs the
/// engine makes on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdvertiseCause {
    /// [`Command::Advertise`].
    Asked,
    /// A new connection to the index: everything advertised so far, again
    /// (the server dropped our records with the old connection).
    Reconnected,
    /// Files that appeared in the folder ([`Command::Rescan`] with
    /// `advertise_new`).
    NewFiles,
    /// A download landed.
    Downloaded(RfcNumber),
    /// After withdrawing these RFCs (a fresh connection): the rest, again.
    Withdrawal { rfcs: Vec<RfcNumber>, why: Withdrawal },
    /// The check after a withdrawal found our records gone (the server
    /// removed them when it processed the old connection's close, after
    /// our ADDs): everything, once more.
    Restore,
}

/// Why RFCs are taken out of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawal {
    /// [`Command::Unshare`]: the user stopped sharing it.
    Unshared,
    /// Its file left the folder.
    Removed,
}

/// How a withdrawal ended ([`NetEvent::Withdrawn`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WithdrawOutcome {
    /// None of them had been advertised: the index had nothing to drop.
    NotAdvertised,
    /// No connection: the server dropped every record of ours with it; the
    /// rest are ADDed on the next connection (cause `Reconnected`).
    Offline,
    /// The connection was made anew, the rest ADDed again and checked with
    /// a LOOKUP: `readvertised` records are in the index, of which
    /// `restored` had to be ADDed a second time (the server's cleanup of
    /// the old connection came after the first ADDs).
    Done { readvertised: usize, restored: usize },
    /// The re-advertise or its check failed (the connection broke, the
    /// server refused): the rest may be missing until the next connection.
    Incomplete(PeerError),
}

/// A peer that holds an RFC, as a LOOKUP or LIST named it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Holder {
    pub host: String,
    pub port: u16,
}

impl From<&Record> for Holder {
    fn from(r: &Record) -> Self {
        Holder { host: r.host.clone(), port: r.port }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Which way a protocol message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

/// Which conversation a protocol message belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// The long-lived connection to the index server.
    Server,
    /// A GET this peer's upload server answered, from that address.
    Upload(SocketAddr),
    /// A GET this peer sent to that holder.
    Download(Holder),
}

/// One raw protocol message (a request, a response, or a GET response head;
/// file bodies are not included), exactly as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireMessage {
    pub at: SystemTime,
    pub direction: Direction,
    pub link: Link,
    /// On the index connection: the request this message is, or answers
    /// (`None` for bytes nobody asked for, and on the other links), so a
    /// front end need not read the text to know a LIST from an ADD.
    pub request: Option<Request>,
    pub text: String,
}

/// The engine's answer to one server request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The outcome of [`Command::Advertise`]: the records the server stored,
    /// and the RFCs whose ADD failed.
    Advertised {
        cause: AdvertiseCause,
        added: Vec<Record>,
        failed: Vec<(RfcNumber, Status)>,
    },
    Lookup {
        rfc: RfcNumber,
        status: Status,
        records: Vec<Record>,
    },
    List {
        status: Status,
        records: Vec<Record>,
    },
}

/// A server request, as named in an error about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Add(RfcNumber),
    Lookup(RfcNumber),
    List,
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Add(rfc) => write!(f, "ADD RFC {rfc}"),
            Request::Lookup(rfc) => write!(f, "LOOKUP RFC {rfc}"),
            Request::List => f.write_str("LIST"),
        }
    }
}

/// Something that went wrong, and which request it was about (if any), so a
/// front end can end that request's pending state without reading the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerError {
    pub request: Option<Request>,
    pub reason: IndexError,
}

impl PeerError {
    pub fn about(request: Request, reason: IndexError) -> Self {
        PeerError { request: Some(request), reason }
    }
}

impl From<IndexError> for PeerError {
    fn from(reason: IndexError) -> Self {
        PeerError { request: None, reason }
    }
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.request {
            Some(request) => write!(f, "{request}: {}", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

impl std::error::Error for PeerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.reason)
    }
}

/// Why a request to the index server failed, or why there is no connection
/// to one. Which of these close the connection is the conversation's rule
/// (docs/PROTOCOL.md, Interoperability): a bad answer fails its request only.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IndexError {
    /// No connection at the moment; `servers` lists where the peer tries.
    #[error("not connected to the index server {servers}")]
    NotConnected { servers: String },
    /// The server's name does not resolve (the address part of `HOST:PORT`).
    #[error("cannot resolve {host}")]
    Unresolvable { host: String },
    #[error("cannot connect to {server}: {error}")]
    Connect { server: String, error: String },
    #[error("cannot connect to {server}: timed out after {after:?}")]
    ConnectTimeout { server: String, after: Duration },
    /// A read or write on the connection failed.
    #[error("lost the index server: {0}")]
    Lost(String),
    /// The server closed the connection before answering (or while idle).
    #[error("the index server closed the connection")]
    Closed,
    /// Not a byte of the answer came in time.
    #[error("no answer from the index server within {0:?}")]
    Silent(Duration),
    /// The answer stopped in the middle of a line and did not go on.
    #[error(
        "the index server's answer stopped mid-line after {progress}, and nothing more came within {waited:?}"
    )]
    Stalled { progress: Progress, waited: Duration },
    /// The answer could not be read.
    #[error("bad answer from the index server: {0}")]
    BadAnswer(crate::protocol::ResponseError),
    #[error("bad answer from the index server: longer than {0} bytes")]
    AnswerTooLong(usize),
    /// After a bad answer (or bytes nobody asked for), the server went on
    /// sending past the request timeout or the answer size cap without a
    /// pause: there is no next answer to find.
    #[error("the index server kept sending what nobody asked for")]
    Flood,
    /// The engine is gone (a front end's own report).
    #[error("the peer engine has stopped")]
    EngineStopped,
}
/// Identifies one download across its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DownloadId(pub u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadEvent {
    /// Taken: its holders are being looked up. `attempt` is 1, then 2 and
    /// on for each [`Command::RetryDownload`].
    Queued { rfc: RfcNumber, attempt: u32 },
    /// Connecting to `from`, to send it a GET.
    Started { rfc: RfcNumber, from: Holder },
    /// The GET went to `from`, which has not started sending the file:
    /// `announced` is `None` until its answer's head came, then the size it
    /// announced (a big file may take the uploader seconds to begin).
    Waiting { from: Holder, announced: Option<u64> },
    /// Body bytes received so far, of `total` (the Content-Length).
    Progress { received: u64, total: u64 },
    /// One holder failed; `retrying` says whether another one is tried next.
    HolderFailed { from: Holder, reason: DownloadError, retrying: bool },
    /// The file is complete and in place.
    Done { rfc: RfcNumber, from: Holder, path: PathBuf, bytes: u64, elapsed: Duration },
    /// No holder could deliver it; nothing was kept. The reason is
    /// [`DownloadError::AllFailed`] (with the last holder's reason),
    /// [`DownloadError::NoHolder`] or [`DownloadError::Lookup`].
    Failed { rfc: RfcNumber, reason: DownloadError },
    /// [`Command::CancelDownload`] stopped it; nothing was kept.
    Cancelled { rfc: RfcNumber },
}

/// Everything the engine, the upload server and the downloads report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// A raw protocol message, for the log.
    Wire(WireMessage),
    /// The index connection is up (again), to `server` (one of the list the
    /// peer was given: the one in use from now on).
    Connected {
        server: String,
    },
    /// The index connection is gone, or could not be made; `retry_in` is
    /// when the next attempt is.
    Disconnected {
        reason: IndexError,
        retry_in: Option<Duration>,
    },
    /// ADDs begin: `count` RFCs, and why. Their outcome is the
    /// [`Reply::Advertised`] with the same cause.
    Advertising {
        count: usize,
        cause: AdvertiseCause,
    },
    /// The answer to a server request.
    Reply(Reply),
    /// A request could not be made (not connected, connection broke, bad
    /// answer), or a command could not be carried out.
    Error(PeerError),
    /// Reading or changing the RFC folder failed (a rescan, stopping to
    /// share a file, watching the folder); the text names the path and the
    /// cause.
    FolderError(String),
    /// Files of the folder named like RFCs (any case) that are not shared,
    /// and why; each is reported once, when first seen (at start or by a
    /// rescan). `Display` on each gives a line with the name escaped.
    Skipped(Vec<library::Skipped>),
    /// [`Command::Unshare`] moved the RFC's file to `to`; its withdrawal
    /// from the index follows ([`NetEvent::Withdrawn`]).
    Unshared {
        rfc: RfcNumber,
        to: PathBuf,
    },
    /// The outcome of taking RFCs out of the index, for each stop-sharing
    /// and each file removal.
    Withdrawn {
        rfcs: Vec<RfcNumber>,
        why: Withdrawal,
        outcome: WithdrawOutcome,
    },
    /// Something worth a line in the log that is not a protocol message.
    Notice(String),
    /// The local RFCs changed (a download landed); the new full list.
    Library(Vec<LocalRfc>),
    Download {
        id: DownloadId,
        event: DownloadEvent,
    },
    /// This peer's upload server answered a GET.
    Uploaded {
        to: SocketAddr,
        rfc: Option<RfcNumber>,
        status: Status,
        bytes: u64,
    },
    /// The engine has stopped (after [`Command::Quit`]); no more events.
    Closed,
}
