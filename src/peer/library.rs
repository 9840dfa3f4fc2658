//! A peer's RFC folder, and the titles it advertises.
//!
//! Files are `rfc<N>.txt` (PROTOCOL.md, Files and titles). The title is read
//! from the text itself: the first paragraph after the header block that
//! holds `Request for Comments: N`. That part is a pure function over text,
//! [`title_from_text`]; the rest is thin file-system glue.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::protocol::RfcNumber;

/// One RFC this peer holds and shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRfc {
    pub rfc: RfcNumber,
    pub title: String,
    pub path: PathBuf,
    pub size: u64,
}

#[derive(Debug, Error)]
pub enum LibraryError {
    #[error("RFC {rfc}: no file at {}", path.display())]
    Missing { rfc: RfcNumber, path: PathBuf },
    /// The I/O error is in the message, not a `source`: the screen shows
    /// the message alone, and a report of the chain would say it twice.
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error("{} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("{}: not shared: {reason}", path.display())]
    NotShared { path: PathBuf, reason: SkipReason },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LibraryError + '_ {
    move |error| LibraryError::Io { path: path.to_owned(), error }
}

/// Longest title we advertise, in bytes; it keeps an ADD's Title line far
/// below the 8 KiB line limit whatever a file holds.
pub const MAX_TITLE: usize = 1024;

/// How much of a file is read to find its title: the title sits at the top.
const TITLE_WINDOW: u64 = 64 * 1024;

/// The title of an RFC text, or `None` when it has none we can find.
///
/// After the header block (the lines around `Request for Comments: N`, up to
/// the first blank line), the first paragraph of non-blank lines is the
/// title; its lines are trimmed and joined with single spaces. A leading
/// byte-order mark is ignored, as are CR line ends and form feeds.
pub fn title_from_text(text: &str) -> Option<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().map(str::trim);
    lines.by_ref().find(|l| l.contains("Request for Comments:"))?;
    // The rest of the header block, then the blank lines after it.
    let mut lines = lines.skip_while(|l| !l.is_empty()).skip_while(|l| l.is_empty());
    let mut title = String::new();
    for line in lines.by_ref().take_while(|l| !l.is_empty()) {
        if !title.is_empty() {
            title.push(' ');
        }
        title.extend(line.split_whitespace().flat_map(|w| [w, " "]));
        title.pop();
        if title.len() > MAX_TITLE {
            let mut cut = MAX_TITLE;
            while !title.is_char_boundary(cut) {
                cut -= 1;
            }
            title.truncate(cut);
            break;
        }
    }
    (!title.is_empty()).then_some(title)
}

/// The title to advertise for `rfc`: from its text, else `RFC <n>`.
pub fn title_or_default(rfc: RfcNumber, text: &str) -> String {
    title_from_text(text).unwrap_or_else(|| format!("RFC {rfc}"))
}

/// What a file's name makes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileName {
    /// `rfc<N>.txt` with N in plain decimal, no leading zero: shared.
    Canonical(RfcNumber),
    /// `rfc<N>.txt` with leading zeros (`rfc0001.txt`): a GET for N opens
    /// `rfc1.txt`, so this file is neither advertised nor served.
    NotCanonical(RfcNumber),
    /// `RFC<N>.TXT`, `Rfc<N>.txt` and the like: names are matched
    /// exactly (PROTOCOL.md, Files and titles), so this one is not
    /// shared either, but it is surely meant as one and is said.
    WrongCase(RfcNumber),
    /// Any other name: not an RFC file.
    Other,
}

/// What a file's name makes of it (PROTOCOL.md, Limits: only canonical
/// names are shared).
pub fn classify(name: &str) -> FileName {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return match classify(&name.to_ascii_lowercase()) {
            FileName::Canonical(rfc) | FileName::NotCanonical(rfc) | FileName::WrongCase(rfc) => {
                FileName::WrongCase(rfc)
            }
            FileName::Other => FileName::Other,
        };
    }
    let Some(rfc) = name.strip_prefix("rfc").and_then(|n| n.strip_suffix(".txt")).and_then(RfcNumber::parse)
    else {
        return FileName::Other;
    };
    if name.len() == rfc.file_name().len() { FileName::Canonical(rfc) } else { FileName::NotCanonical(rfc) }
}

/// The RFC number of a file named canonically `rfc<N>.txt`: N in plain
/// decimal digits, without leading zeros.
pub fn number_of_file(name: &str) -> Option<RfcNumber> {
    match classify(name) {
        FileName::Canonical(rfc) => Some(rfc),
        _ => None,
    }
}

/// Why a file named like an RFC is not shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Named with leading zeros; `rfc` is the number it would be.
    NotCanonical { rfc: RfcNumber },
    /// Named in capitals (`RFC8804.TXT`); `rfc` is the number it would be.
    WrongCase { rfc: RfcNumber },
    /// An empty file: nothing a downloader could use (often a copy that
    /// has not begun; it is shared once it has content).
    Empty,
    /// A symbolic link leading out of the folder.
    LeadsOut,
    /// A symbolic link that is not followed: it loops, or goes through
    /// `/proc`, or the system cannot follow links safely (no `openat2`:
    /// none is followed there).
    LinkNotFollowed,
    /// A FIFO, a directory, a device or a socket: the kind.
    NotRegular(&'static str),
    /// Gone (or a link to nothing).
    Missing,
    /// It could not be opened or read: why.
    Unreadable(String),
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::NotCanonical { rfc } => {
                write!(f, "not a canonical name (RFC {rfc} is shared only as {})", rfc.file_name())
            }
            SkipReason::WrongCase { rfc } => {
                write!(f, "named in the wrong case (RFC {rfc} is shared only as {})", rfc.file_name())
            }
            SkipReason::Empty => f.write_str("an empty file"),
            SkipReason::LeadsOut => f.write_str("a symbolic link leading out of the folder"),
            SkipReason::LinkNotFollowed => f.write_str(
                "a symbolic link that is not followed (it loops, or this system cannot follow links safely)",
            ),
            SkipReason::NotRegular(kind) => write!(f, "not a regular file ({kind})"),
            SkipReason::Missing => f.write_str("no such file"),
            SkipReason::Unreadable(why) => write!(f, "cannot be read ({why})"),
        }
    }
}

/// A file of the folder named like an RFC that is not shared, and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Skipped {
    /// The file's name, as it is (escape it to print it: `Display` does).
    pub name: String,
    pub reason: SkipReason,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = crate::protocol::escape_line(self.name.as_bytes());
        write!(f, "not sharing {name}: {}", self.reason)
    }
}

/// What a reading of the folder found: the RFCs shared, by number, and the
/// files named like RFCs that are not, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    pub rfcs: Vec<LocalRfc>,
    pub skipped: Vec<Skipped>,
}

/// Most skipped files named one per line; the rest are counted.
pub const SKIPPED_SHOWN: usize = 20;

/// One printable line per skipped file (at most [`SKIPPED_SHOWN`], then
/// one that counts the rest), names escaped.
pub fn skipped_lines(skipped: &[Skipped]) -> Vec<String> {
    let mut lines: Vec<String> = skipped.iter().take(SKIPPED_SHOWN).map(Skipped::to_string).collect();
    if skipped.len() > SKIPPED_SHOWN {
        lines.push(format!("not sharing {} more file(s) named like RFCs", skipped.len() - SKIPPED_SHOWN));
    }
    lines
}

/// A folder held open: its files are opened relative to it, never by a
/// path that could be swapped between a check and the open.
#[derive(Debug)]
pub struct Folder {
    dir: File,
}

impl Folder {
    /// Opens the folder itself (`O_PATH`: no access to its contents is
    /// needed to open files relative to it).
    pub fn open(path: &Path) -> io::Result<Folder> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)?;
        Ok(Folder { dir })
    }

    /// Opens the file `name` (one name, no `/`) of this folder for reading
    /// if it is a regular file that lies in the folder, with its metadata
    /// from the open descriptor (`fstat`).
    ///
    /// The file is opened first and judged after, on what was opened, so
    /// nothing can be swapped in between. With `openat2`
    /// (`RESOLVE_BENEATH`), a symbolic link that stays inside the folder is
    /// followed and one that leads out is refused; without it (Linux before
    /// 5.6, or a sandbox that forbids it), `openat` with `O_NOFOLLOW`
    /// follows none. `O_NONBLOCK` makes opening a FIFO return at once
    /// (a FIFO opened for reading otherwise waits for a writer); it is then
    /// refused as not a regular file, and regular files ignore the flag.
    pub fn open_shared(&self, name: &str) -> Result<(File, std::fs::Metadata), SkipReason> {
        use std::os::unix::fs::FileTypeExt;
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(SkipReason::Missing);
        }
        let file = beneath::open(&self.dir, name).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => SkipReason::Missing,
            Some(libc::EXDEV) => SkipReason::LeadsOut,
            Some(libc::ELOOP) => SkipReason::LinkNotFollowed,
            // A socket, or a device with no driver behind it.
            Some(libc::ENXIO | libc::ENODEV) => SkipReason::NotRegular("a socket or device"),
            _ => SkipReason::Unreadable(e.to_string()),
        })?;
        let meta = file.metadata().map_err(|e| SkipReason::Unreadable(e.to_string()))?;
        let kind = meta.file_type();
        if kind.is_file() {
            return Ok((file, meta));
        }
        Err(SkipReason::NotRegular(if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a file"
        }))
    }
}

/// Opening a name relative to a folder without leaving it.
mod beneath {
    use std::fs::File;
    use std::io;
    use std::sync::atomic::{AtomicBool, Ordering};

    use rustix::fs::{Mode, OFlags, ResolveFlags};
    use rustix::io::{Errno, retry_on_intr};

    /// Set once `openat2` is found missing; then `openat` is used.
    static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

    const FLAGS: OFlags = OFlags::RDONLY.union(OFlags::NONBLOCK).union(OFlags::CLOEXEC).union(OFlags::NOCTTY);

    /// Opens `name` in `dir` for reading: `openat2` with `RESOLVE_BENEATH`
    /// where the kernel has it, else `openat` with `O_NOFOLLOW`.
    pub fn open(dir: &File, name: &str) -> io::Result<File> {
        // A name with a NUL names no file (rustix would answer EINVAL).
        if name.contains('\0') {
            return Err(Errno::NOENT.into());
        }
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            match openat2(dir, name) {
                // Not in this kernel, or forbidden by a seccomp filter
                // (older container runtimes answer EPERM).
                Err(Errno::NOSYS | Errno::PERM) => NO_OPENAT2.store(true, Ordering::Relaxed),
                r => return r.map_err(io::Error::from),
            }
        }
        nofollow(dir, name).map_err(io::Error::from)
    }

    fn openat2(dir: &File, name: &str) -> rustix::io::Result<File> {
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        retry_on_intr(|| rustix::fs::openat2(dir, name, FLAGS, Mode::empty(), resolve)).map(File::from)
    }

    /// The fallback: the name's one component must not be a link.
    pub(super) fn nofollow(dir: &File, name: &str) -> rustix::io::Result<File> {
        retry_on_intr(|| rustix::fs::openat(dir, name, FLAGS | OFlags::NOFOLLOW, Mode::empty()))
            .map(File::from)
    }
}

/// Reads one RFC file's size and title (from its first 64 KiB only). The
/// file must be one the folder shares: a regular file in it (a link that
/// leads out, a FIFO or a device is refused, and never read).
pub fn load(rfc: RfcNumber, path: &Path) -> Result<LocalRfc, LibraryError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let folder = Folder::open(dir).map_err(io_err(dir))?;
    let (file, meta) = folder
        .open_shared(name)
        .map_err(|reason| LibraryError::NotShared { path: path.to_owned(), reason })?;
    read_local(rfc, file, meta.len(), path)
}

fn read_local(rfc: RfcNumber, file: File, size: u64, path: &Path) -> Result<LocalRfc, LibraryError> {
    let mut head = Vec::new();
    file.take(TITLE_WINDOW).read_to_end(&mut head).map_err(io_err(path))?;
    let title = title_or_default(rfc, &String::from_utf8_lossy(&head));
    Ok(LocalRfc { rfc, title, path: path.to_owned(), size })
}

/// Every `rfc<N>.txt` in `dir` that it shares, by number, and the files
/// named like RFCs that it does not, with why (a name with leading zeros,
/// a link leading out, a FIFO, …). Each file is judged on what opening it
/// gives ([`Folder::open_shared`]); none is read that is not a regular file.
pub fn scan(dir: &Path) -> Result<Scan, LibraryError> {
    let folder = Folder::open(dir).map_err(io_err(dir))?;
    let mut out = Scan::default();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let rfc = match classify(name) {
            FileName::Other => continue,
            FileName::NotCanonical(rfc) => {
                out.skipped.push(Skipped { name: name.to_owned(), reason: SkipReason::NotCanonical { rfc } });
                continue;
            }
            FileName::WrongCase(rfc) => {
                out.skipped.push(Skipped { name: name.to_owned(), reason: SkipReason::WrongCase { rfc } });
                continue;
            }
            FileName::Canonical(rfc) => rfc,
        };
        let reason = match folder.open_shared(name) {
            Ok((_, meta)) if meta.len() == 0 => SkipReason::Empty,
            Ok((file, meta)) => match read_local(rfc, file, meta.len(), &entry.path()) {
                Ok(local) => {
                    out.rfcs.push(local);
                    continue;
                }
                Err(e) => SkipReason::Unreadable(e.to_string()),
            },
            // Gone since the listing, or a link to nothing: not there.
            Err(SkipReason::Missing) => continue,
            Err(reason) => reason,
        };
        out.skipped.push(Skipped { name: name.to_owned(), reason });
    }
    out.rfcs.sort_by_key(|l| l.rfc);
    out.skipped.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Makes `dir` ready to share: creates it, copies each starting RFC from
/// `source` (unless the folder has that file already), and returns every RFC
/// the folder then holds (and the files it does not share). A starting RFC
/// with no file names the path looked at.
pub fn prepare(dir: &Path, source: &Path, starting: &[RfcNumber]) -> Result<Scan, LibraryError> {
    // create_dir_all on a file fails with a bare "File exists".
    if dir.exists() && !dir.is_dir() {
        return Err(LibraryError::NotADirectory { path: dir.to_owned() });
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    for &rfc in starting {
        let target = dir.join(rfc.file_name());
        if target.is_file() {
            continue;
        }
        let from = source.join(rfc.file_name());
        if !from.is_file() {
            return Err(LibraryError::Missing { rfc, path: from });
        }
        copy_atomically(&from, &target)?;
    }
    scan(dir)
}

/// Where [`unshare`] puts files: inside the folder, but not shared (only
/// `rfc<N>.txt` directly in the folder is).
pub const UNSHARED: &str = "unshared";

/// Stops sharing one RFC without deleting it: moves its file into the
/// folder's `unshared/` subfolder (moving it back shares it again). Returns
/// where it went.
pub fn unshare(dir: &Path, rfc: RfcNumber) -> Result<PathBuf, LibraryError> {
    let from = dir.join(rfc.file_name());
    if !from.is_file() {
        return Err(LibraryError::Missing { rfc, path: from });
    }
    let aside = dir.join(UNSHARED);
    std::fs::create_dir_all(&aside).map_err(io_err(&aside))?;
    let to = aside.join(rfc.file_name());
    std::fs::rename(&from, &to).map_err(io_err(&from))?;
    Ok(to)
}

/// Copies through a temporary file in the target folder and renames it into
/// place, so a failed copy never leaves a half file that would be shared.
fn copy_atomically(from: &Path, to: &Path) -> Result<(), LibraryError> {
    let parent = to.parent().unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".p2pci-").suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(parent).map_err(io_err(parent))?;
    let mut src = std::fs::File::open(from).map_err(io_err(from))?;
    io::copy(&mut src, tmp.as_file_mut()).map_err(io_err(to))?;
    tmp.persist(to).map_err(|e| LibraryError::Io { path: to.to_owned(), error: e.error })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/RFCs");

    #[test]
    fn one_line_title() {
        let text = "\n\nIETF  A. B\nRequest for Comments: 1   Org\nCategory: Info\n\n\n   A Title  Here \n\nAbstract\n";
        assert_eq!(title_from_text(text).as_deref(), Some("A Title Here"));
    }

    #[test]
    fn multi_line_title_crlf_bom_and_form_feed() {
        let text =
            "\u{feff}X\r\nRequest for Comments: 2\r\n\r\n  First part\r\n\x0c second\tpart \r\n\r\nAbstract";
        assert_eq!(title_from_text(text).as_deref(), Some("First part second part"));
    }

    #[test]
    fn no_title_falls_back() {
        assert_eq!(title_from_text("just some text\n\nmore"), None);
        assert_eq!(title_from_text("Request for Comments: 3\nx\n\n\n"), None);
        assert_eq!(title_or_default(RfcNumber(3), ""), "RFC 3");
    }

    #[test]
    fn long_title_is_capped() {
        let text = format!("Request for Comments: 4\n\n{}\n", "é".repeat(4000));
        let t = title_from_text(&text).unwrap();
        assert!(t.len() <= MAX_TITLE && t.len() > MAX_TITLE - 4, "{}", t.len());
    }

    #[test]
    fn a_file_named_as_the_folder_is_not_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("hostA");
        std::fs::write(&file, "x").unwrap();
        let err = prepare(&file, tmp.path(), &[]).unwrap_err();
        assert_eq!(err.to_string(), format!("{} is not a directory", file.display()));
    }

    #[test]
    fn unshare_moves_the_file_aside() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("rfc7.txt"), "Request for Comments: 7\n\nSeven\n").unwrap();
        assert_eq!(scan(tmp.path()).unwrap().rfcs.len(), 1);
        let to = unshare(tmp.path(), RfcNumber(7)).unwrap();
        assert!(to.ends_with("unshared/rfc7.txt") && to.is_file());
        assert_eq!(scan(tmp.path()).unwrap(), Scan::default());
        assert!(matches!(unshare(tmp.path(), RfcNumber(7)), Err(LibraryError::Missing { .. })));
    }

    #[test]
    fn file_names() {
        assert_eq!(number_of_file("rfc8600.txt"), Some(RfcNumber(8600)));
        assert_eq!(number_of_file("rfc1.txt"), Some(RfcNumber(1)));
        assert_eq!(number_of_file("rfc0.txt"), Some(RfcNumber(0)));
        // Leading zeros: named like an RFC, but not canonically.
        for (name, n) in [("rfc0001.txt", 1), ("rfc00.txt", 0), ("rfc08600.txt", 8600)] {
            assert_eq!(number_of_file(name), None, "{name}");
            assert_eq!(classify(name), FileName::NotCanonical(RfcNumber(n)), "{name}");
        }
        assert_eq!(classify("rfc8600.txt"), FileName::Canonical(RfcNumber(8600)));
        for name in ["RFC8804.TXT", "Rfc8804.txt", "rfc8804.TXT", "RFC08804.txt"] {
            assert_eq!(classify(name), FileName::WrongCase(RfcNumber(8804)), "{name}");
        }
        assert_eq!(classify("RFC.TXT"), FileName::Other);
        assert_eq!(classify("notes.txt"), FileName::Other);
        for bad in [
            "rfc.txt",
            "rfc86a0.txt",
            "RFC8600.txt",
            "rfc8600.txt.part",
            "xrfc1.txt",
            "rfc-1.txt",
            "rfc 1.txt",
        ] {
            assert_eq!(number_of_file(bad), None, "{bad}");
        }
    }

    /// The titles of all 33 shipped RFCs, as the RFC Editor lists them.
    #[test]
    fn shipped_titles() {
        let want = [
            (8595, "An MPLS-Based Forwarding Plane for Service Function Chaining"),
            (
                8596,
                "MPLS Transport Encapsulation for the Service Function Chaining (SFC) Network Service Header (NSH)",
            ),
            (8597, "Cooperating Layered Architecture for Software-Defined Networking (CLAS)"),
            (8598, "Split DNS Configuration for the Internet Key Exchange Protocol Version 2 (IKEv2)"),
            (8599, "Push Notification with the Session Initiation Protocol (SIP)"),
            (
                8600,
                "Using Extensible Messaging and Presence Protocol (XMPP) for Security Information Exchange",
            ),
            (8601, "Message Header Field for Indicating Message Authentication Status"),
            (
                8602,
                "Update to the Telephony Routing over IP (TRIP) IANA Registry Rules regarding Postal Addresses",
            ),
            (
                8603,
                "Commercial National Security Algorithm (CNSA) Suite Certificate and Certificate Revocation List (CRL) Profile",
            ),
            (8604, "Interconnecting Millions of Endpoints with Segment Routing"),
            (
                8605,
                "vCard Format Extensions: ICANN Extensions for the Registration Data Access Protocol (RDAP)",
            ),
            (8695, "A YANG Data Model for the Routing Information Protocol (RIP)"),
            (8696, "Using Pre-Shared Key (PSK) in the Cryptographic Message Syntax (CMS)"),
            (
                8697,
                "Path Computation Element Communication Protocol (PCEP) Extensions for Establishing Relationships between Sets of Label Switched Paths (LSPs)",
            ),
            (
                8698,
                "Network-Assisted Dynamic Adaptation (NADA): A Unified Congestion Control Scheme for Real-Time Media",
            ),
            (8699, "Coupled Congestion Control for RTP Media"),
            (8700, "Fifty Years of RFCs"),
            (
                8701,
                "Applying Generate Random Extensions And Sustain Extensibility (GREASE) to TLS Extensibility",
            ),
            (8702, "Use of the SHAKE One-Way Hash Functions in the Cryptographic Message Syntax (CMS)"),
            (8703, "Dynamic Link Exchange Protocol (DLEP) Link Identifier Extension"),
            (8704, "Enhanced Feasible-Path Unicast Reverse Path Forwarding"),
            (8705, "OAuth 2.0 Mutual-TLS Client Authentication and Certificate-Bound Access Tokens"),
            (8795, "YANG Data Model for Traffic Engineering (TE) Topologies"),
            (8796, "RSVP-TE Summary Fast Reroute Extensions for Label Switched Path (LSP) Tunnels"),
            (
                8797,
                "Remote Direct Memory Access - Connection Manager (RDMA-CM) Private Data for RPC-over-RDMA Version 1",
            ),
            (8798, "Additional Units for Sensor Measurement Lists (SenML)"),
            (8799, "Limited Domains and Internet Protocols"),
            (
                8800,
                "Path Computation Element Communication Protocol (PCEP) Extension for Label Switched Path (LSP) Diversity Constraint Signaling",
            ),
            (8801, "Discovering Provisioning Domain Names and Data"),
            (8802, "The Quality for Service (Q4S) Protocol"),
            (8803, "0-RTT TCP Convert Protocol"),
            (8804, "Content Delivery Network Interconnection (CDNI) Request Routing Extensions"),
            (8805, "A Format for Self-Published IP Geolocation Feeds"),
        ];
        let Scan { rfcs: all, skipped } = scan(Path::new(SHIPPED)).unwrap();
        assert_eq!(skipped, []);
        let got: Vec<(u32, &str)> = all.iter().map(|l| (l.rfc.0, l.title.as_str())).collect();
        assert_eq!(got, want);
        for l in &all {
            assert_eq!(l.size, std::fs::metadata(&l.path).unwrap().len());
        }
    }

    #[test]
    fn prepare_copies_and_reports_missing() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("hostA");
        std::fs::create_dir(&mine).unwrap();
        std::fs::write(mine.join("rfc1.txt"), "Request for Comments: 1\n\nHost Software\n").unwrap();
        std::fs::write(mine.join("notes.txt"), "not an rfc").unwrap();
        let got = prepare(&mine, Path::new(SHIPPED), &[RfcNumber(8600), RfcNumber(8601)]).unwrap().rfcs;
        let numbers: Vec<u32> = got.iter().map(|l| l.rfc.0).collect();
        assert_eq!(numbers, [1, 8600, 8601]);
        assert_eq!(
            std::fs::read(mine.join("rfc8600.txt")).unwrap(),
            std::fs::read(format!("{SHIPPED}/rfc8600.txt")).unwrap()
        );
        let leftovers = std::fs::read_dir(&mine)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".part"))
            .count();
        assert_eq!(leftovers, 0);

        let err = prepare(&mine, Path::new(SHIPPED), &[RfcNumber(1234)]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("RFC 1234") && msg.contains("rfc1234.txt"), "{msg}");
    }

    fn mkfifo(path: &Path) {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path, for the length of the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "{}", io::Error::last_os_error());
    }

    /// A folder with one file of each kind under an RFC's name, and a file
    /// outside it.
    fn hostile_folder() -> (tempfile::TempDir, PathBuf) {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("share");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(tmp.path().join("secret.txt"), "Request for Comments: 9\n\nSecret\n").unwrap();
        std::fs::write(dir.join("rfc1.txt"), "Request for Comments: 1\n\nOne\n").unwrap();
        std::fs::write(dir.join("rfc0002.txt"), "Request for Comments: 2\n\nTwo\n").unwrap();
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/three.txt"), "Request for Comments: 3\n\nThree\n").unwrap();
        symlink("sub/three.txt", dir.join("rfc3.txt")).unwrap();
        symlink("../secret.txt", dir.join("rfc4.txt")).unwrap();
        symlink(tmp.path().join("secret.txt"), dir.join("rfc5.txt")).unwrap();
        symlink("/dev/null", dir.join("rfc6.txt")).unwrap();
        mkfifo(&dir.join("rfc7.txt"));
        std::fs::create_dir(dir.join("rfc8.txt")).unwrap();
        symlink("nowhere.txt", dir.join("rfc10.txt")).unwrap();
        symlink("rfc11.txt", dir.join("rfc11.txt")).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(dir.join("rfc12.txt")).unwrap();
        std::fs::write(dir.join("notes.txt"), "not an RFC").unwrap();
        (tmp, dir)
    }

    /// Only regular files inside the folder are shared; every other file
    /// named like an RFC is listed with why, once, and none is read (the
    /// FIFO would block a read; this returns at once).
    #[test]
    fn scan_shares_only_regular_files_inside_the_folder() {
        let (_tmp, dir) = hostile_folder();
        let got = scan(&dir).unwrap();
        let shared: Vec<(u32, &str)> = got.rfcs.iter().map(|l| (l.rfc.0, l.title.as_str())).collect();
        assert_eq!(shared, [(1, "One"), (3, "Three")]);
        let skipped: Vec<(&str, &SkipReason)> =
            got.skipped.iter().map(|s| (s.name.as_str(), &s.reason)).collect();
        assert_eq!(
            skipped,
            [
                ("rfc0002.txt", &SkipReason::NotCanonical { rfc: RfcNumber(2) }),
                ("rfc11.txt", &SkipReason::LinkNotFollowed),
                ("rfc12.txt", &SkipReason::NotRegular("a socket or device")),
                ("rfc4.txt", &SkipReason::LeadsOut),
                ("rfc5.txt", &SkipReason::LeadsOut),
                ("rfc6.txt", &SkipReason::LeadsOut),
                ("rfc7.txt", &SkipReason::NotRegular("a FIFO")),
                ("rfc8.txt", &SkipReason::NotRegular("a directory")),
            ]
        );
        assert_eq!(
            skipped_lines(&got.skipped[..1]),
            ["not sharing rfc0002.txt: not a canonical name (RFC 2 is shared only as rfc2.txt)"]
        );
        assert_eq!(
            got.skipped[3].to_string(),
            "not sharing rfc4.txt: a symbolic link leading out of the folder"
        );
        // `load` (a download landing) judges the same way.
        assert!(load(RfcNumber(4), &dir.join("rfc4.txt")).is_err());
        assert!(load(RfcNumber(7), &dir.join("rfc7.txt")).is_err());
        assert_eq!(load(RfcNumber(3), &dir.join("rfc3.txt")).unwrap().title, "Three");
    }

    /// Without `openat2`, no link is followed at all: the fallback refuses
    /// every symbolic link, inside or out, and still opens a FIFO without
    /// blocking.
    #[test]
    fn the_fallback_follows_no_link() {
        let (_tmp, dir) = hostile_folder();
        let folder = Folder::open(&dir).unwrap();
        let open = |name: &str| beneath::nofollow(&folder.dir, name);
        assert!(open("rfc1.txt").is_ok());
        for link in ["rfc3.txt", "rfc4.txt", "rfc5.txt", "rfc6.txt"] {
            assert_eq!(open(link).unwrap_err(), rustix::io::Errno::LOOP, "{link}");
        }
        let fifo = open("rfc7.txt").expect("a FIFO opens at once, non-blocking");
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fifo.metadata().unwrap().file_type()));
    }

    #[test]
    fn many_skipped_files_are_counted_past_a_few() {
        let skipped: Vec<Skipped> = (0..50)
            .map(|i| Skipped {
                name: format!("rfc0{i}.txt"),
                reason: SkipReason::NotCanonical { rfc: RfcNumber(i) },
            })
            .collect();
        let lines = skipped_lines(&skipped);
        assert_eq!(lines.len(), SKIPPED_SHOWN + 1);
        assert_eq!(lines[SKIPPED_SHOWN], "not sharing 30 more file(s) named like RFCs");
    }
}
