//! A peer's RFC folder, and the titles it advertises.
//!
//! Files are `rfc<N>.txt` (PROTOCOL.md, Files and titles). The title is read
//! from the text itself: the first paragraph after the header block that
//! holds `Request for Comments: N`. That part is a pure function over text,
//! [`title_from_text`]; the rest is thin file-system glue.

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
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LibraryError + '_ {
    move |source| LibraryError::Io { path: path.to_owned(), source }
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

/// The RFC number of a file named `rfc<N>.txt`, with N plain decimal digits.
pub fn number_of_file(name: &str) -> Option<RfcNumber> {
    RfcNumber::parse(name.strip_prefix("rfc")?.strip_suffix(".txt")?)
}

/// Reads one RFC file's size and title (from its first 64 KiB only).
pub fn load(rfc: RfcNumber, path: &Path) -> Result<LocalRfc, LibraryError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let size = file.metadata().map_err(io_err(path))?.len();
    let mut head = Vec::new();
    file.take(TITLE_WINDOW).read_to_end(&mut head).map_err(io_err(path))?;
    let title = title_or_default(rfc, &String::from_utf8_lossy(&head));
    Ok(LocalRfc { rfc, title, path: path.to_owned(), size })
}

/// Every `rfc<N>.txt` in `dir`, by number. Unreadable files are skipped.
pub fn scan(dir: &Path) -> Result<Vec<LocalRfc>, LibraryError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let Some(rfc) = entry.file_name().to_str().and_then(number_of_file) else {
            continue;
        };
        if entry.file_type().is_ok_and(|t| t.is_file())
            && let Ok(local) = load(rfc, &entry.path())
        {
            out.push(local);
        }
    }
    out.sort_by_key(|l| l.rfc);
    Ok(out)
}

/// Makes `dir` ready to share: creates it, copies each starting RFC from
/// `source` (unless the folder has that file already), and returns every RFC
/// the folder then holds. A starting RFC with no file names the path looked at.
pub fn prepare(dir: &Path, source: &Path, starting: &[RfcNumber]) -> Result<Vec<LocalRfc>, LibraryError> {
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
    tmp.persist(to).map_err(|e| LibraryError::Io { path: to.to_owned(), source: e.error })?;
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
        assert_eq!(scan(tmp.path()).unwrap().len(), 1);
        let to = unshare(tmp.path(), RfcNumber(7)).unwrap();
        assert!(to.ends_with("unshared/rfc7.txt") && to.is_file());
        assert!(scan(tmp.path()).unwrap().is_empty());
        assert!(matches!(unshare(tmp.path(), RfcNumber(7)), Err(LibraryError::Missing { .. })));
    }

    #[test]
    fn file_names() {
        assert_eq!(number_of_file("rfc8600.txt"), Some(RfcNumber(8600)));
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
        let all = scan(Path::new(SHIPPED)).unwrap();
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
        let got = prepare(&mine, Path::new(SHIPPED), &[RfcNumber(8600), RfcNumber(8601)]).unwrap();
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
}
