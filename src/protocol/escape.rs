//! Received bytes made safe to print (PROTOCOL.md, Framing).
//!
//! Whatever p2pci prints of bytes another party sent — the server's
//! transcript, log lines, the peer's protocol log pane, headless output —
//! goes through here first, so no escape sequence a client or server sends
//! can reach the operator's terminal. A byte or character that a terminal
//! would act on instead of show is written as `\xNN` (one per byte): C0
//! controls, DEL, the C1 controls (U+0080–U+009F, which some terminals take
//! as CSI and OSC), and bytes that are not UTF-8. A backslash itself is
//! written `\\`, so an escaped form is never ambiguous. Everything else,
//! other scripts included, is printed as it is.
//!
//! Two forms: [`escape_message`] keeps a message's line structure (CR LF,
//! bare LF and tab pass; a CR that does not end a line is escaped, since it
//! would move the cursor back over what was printed), and [`escape_line`]
//! escapes line ends too, for a one-line rendering.

use std::borrow::Cow;

/// Appends `bytes` to `out`, escaped, keeping tabs and line ends.
pub fn escape_message(bytes: &[u8], out: &mut Vec<u8>) {
    escape_into(bytes, out, true);
}

/// `bytes` as one printable line: every control character is escaped, line
/// ends included. Borrows when there is nothing to escape.
pub fn escape_line(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes)
        && !s.chars().any(|c| needs_escape(c) || c == '\\' || c == '\t')
    {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(bytes.len() + 16);
    escape_into(bytes, &mut out, false);
    // Only ASCII escapes and whole UTF-8 characters were written.
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

/// True for a character a terminal acts on rather than shows.
fn needs_escape(c: char) -> bool {
    c.is_control()
}

fn escape_into(bytes: &[u8], out: &mut Vec<u8>, keep_lines: bool) {
    out.reserve(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        // Plain printable ASCII (and, when keeping lines, tab and LF) is the
        // common case: copy a whole run at once.
        let plain = rest
            .iter()
            .position(|&b| {
                (!(b' '..=b'~').contains(&b) && !(keep_lines && (b == b'\t' || b == b'\n'))) || b == b'\\'
            })
            .unwrap_or(rest.len());
        out.extend_from_slice(&rest[..plain]);
        rest = &rest[plain..];
        let Some(&b) = rest.first() else { break };
        if b == b'\\' {
            out.extend_from_slice(b"\\\\");
            rest = &rest[1..];
            continue;
        }
        if b == b'\r' && keep_lines && rest.get(1) == Some(&b'\n') {
            out.extend_from_slice(b"\r\n");
            rest = &rest[2..];
            continue;
        }
        if b < 0x80 {
            hex(b, out);
            rest = &rest[1..];
            continue;
        }
        // A non-ASCII byte: a whole character if it starts valid UTF-8.
        let take = utf8_len(rest);
        match std::str::from_utf8(&rest[..take]).ok().and_then(|s| s.chars().next()) {
            Some(c) if !needs_escape(c) => out.extend_from_slice(&rest[..take]),
            Some(_) => rest[..take].iter().for_each(|&b| hex(b, out)),
            None => {
                hex(b, out);
                rest = &rest[1..];
                continue;
            }
        }
        rest = &rest[take..];
    }
}

/// The length of the UTF-8 character `bytes` starts with, as its first byte
/// announces it (checked by the caller), capped at what is there.
fn utf8_len(bytes: &[u8]) -> usize {
    let n = match bytes[0] {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    };
    n.min(bytes.len())
}

fn hex(b: u8, out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(&[b'\\', b'x', DIGITS[(b >> 4) as usize], DIGITS[(b & 15) as usize]]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        escape_message(bytes, &mut out);
        String::from_utf8(out).expect("escaped output is UTF-8")
    }

    #[test]
    fn terminal_sequences_are_shown_not_run() {
        let evil = b"Host: ev\x1b]0;pwned\x07\x1b[2J\r\n";
        assert_eq!(message(evil), "Host: ev\\x1b]0;pwned\\x07\\x1b[2J\r\n");
        assert_eq!(escape_line(evil), "Host: ev\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x0a");
        // C1 controls (8-bit CSI, OSC) as UTF-8, DEL, a lone CR, a NUL.
        assert_eq!(message("a\u{9b}2Jb\u{9d}".as_bytes()), "a\\xc2\\x9b2Jb\\xc2\\x9d");
        assert_eq!(message(b"x\x7fy\rz\0"), "x\\x7fy\\x0dz\\x00");
    }

    #[test]
    fn text_passes_as_it_is() {
        let ok = "ADD RFC 1 P2P-CI/1.0\r\nTitle: Über façade — 日本語\ttab\nbare LF\r\n";
        assert_eq!(message(ok.as_bytes()), ok);
        assert!(matches!(escape_line(b"plain line"), Cow::Borrowed("plain line")));
        assert_eq!(escape_line("Grüße".as_bytes()), "Grüße");
    }

    #[test]
    fn bad_utf8_and_backslashes_are_unambiguous() {
        assert_eq!(message(b"a\xff\xc3b\\x41"), "a\\xff\\xc3b\\\\x41");
        assert_eq!(message(b"\xe6\x97"), "\\xe6\\x97");
        assert_eq!(escape_line(b"\\"), "\\\\");
    }

    proptest! {
        #[test]
        fn output_holds_no_control_but_line_ends(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let printed = message(&bytes);
            let mut chars = printed.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '\r' {
                    prop_assert_eq!(chars.next(), Some('\n'));
                } else {
                    prop_assert!(!c.is_control() || c == '\n' || c == '\t', "{:?} in {:?}", c, printed);
                }
            }
            let line = escape_line(&bytes);
            prop_assert!(!line.chars().any(|c| c.is_control()), "{:?}", line);
        }

        #[test]
        fn printable_text_is_unchanged(s in "[^\\p{Cc}\\\\]{0,64}") {
            prop_assert_eq!(message(s.as_bytes()), s.clone());
            prop_assert_eq!(escape_line(s.as_bytes()), s.as_str());
        }
    }
}
