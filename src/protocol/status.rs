//! The four status codes of P2P-CI/1.0 and their exact phrases.

use std::fmt;

/// A response status. Only these four exist on the wire (PROTOCOL.md, Framing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    BadRequest,
    NotFound,
    VersionNotSupported,
}

impl Status {
    pub const ALL: [Status; 4] =
        [Status::Ok, Status::BadRequest, Status::NotFound, Status::VersionNotSupported];

    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::VersionNotSupported => 505,
        }
    }

    pub fn phrase(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::VersionNotSupported => "P2P-CI Version Not Supported",
        }
    }

    pub fn from_code(code: u16) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The whole status line without its line end: `P2P-CI/1.0 200 OK`.
    pub fn line(self) -> String {
        self.line_str().to_owned()
    }

    /// The same, without building it: servers write it once per answer.
    pub fn line_str(self) -> &'static str {
        match self {
            Status::Ok => "P2P-CI/1.0 200 OK",
            Status::BadRequest => "P2P-CI/1.0 400 Bad Request",
            Status::NotFound => "P2P-CI/1.0 404 Not Found",
            Status::VersionNotSupported => "P2P-CI/1.0 505 P2P-CI Version Not Supported",
        }
    }

    /// Parses a status line (already stripped of its line end). The phrase
    /// must be the one that belongs to the code.
    pub fn parse_line(line: &str) -> Option<Status> {
        let rest = line.strip_prefix(super::VERSION)?.strip_prefix(' ')?;
        let (code, phrase) = rest.split_once(' ')?;
        if code.len() != 3 || !super::types::is_digits(code) {
            return None;
        }
        let status = Status::from_code(code.parse().ok()?)?;
        (status.phrase() == phrase).then_some(status)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.phrase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_str_is_version_code_phrase() {
        for s in Status::ALL {
            assert_eq!(s.line_str(), format!("{} {} {}", crate::protocol::VERSION, s.code(), s.phrase()));
        }
    }

    #[test]
    fn exact_pairs() {
        let lines: Vec<String> = Status::ALL.iter().map(|s| s.line()).collect();
        assert_eq!(
            lines,
            [
                "P2P-CI/1.0 200 OK",
                "P2P-CI/1.0 400 Bad Request",
                "P2P-CI/1.0 404 Not Found",
                "P2P-CI/1.0 505 P2P-CI Version Not Supported",
            ]
        );
        for s in Status::ALL {
            assert_eq!(Status::parse_line(&s.line()), Some(s));
        }
    }

    #[test]
    fn rejects_wrong_lines() {
        for l in [
            "P2P-CI/1.0 200 Ok",
            "P2P-CI/1.0 201 OK",
            "P2P-CI/1.0 404 OK",
            "P2P-CI/1.1 200 OK",
            "P2P-CI/1.0  200 OK",
            "P2P-CI/1.0 0200 OK",
            "P2P-CI/1.0 200",
            "",
        ] {
            assert_eq!(Status::parse_line(l), None, "{l:?}");
        }
    }
}
