//! `HOST[:PORT]` as people write it for a server: a hostname, an IPv4
//! address, an IPv6 address bare or in brackets, each with or without a
//! port. One reading of it for the command line and for the peer's
//! connections.

use std::net::{IpAddr, SocketAddr};

/// The host (brackets of an IPv6 address taken off) and the port, if one
/// is given. A bare IPv6 address has no port: its last group is not one.
pub fn split_host_port(s: &str) -> (&str, Option<u16>) {
    let unbracketed = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')).unwrap_or(s);
    if unbracketed.parse::<IpAddr>().is_ok() {
        return (unbracketed, None);
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        let host = s.rsplit_once(':').map_or(s, |(h, _)| h);
        return (host.trim_start_matches('[').trim_end_matches(']'), Some(addr.port()));
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse::<u16>() {
            Ok(port) => (host, Some(port)),
            Err(_) => (s, None),
        },
        _ => (s, None),
    }
}

/// `host:port`, with an IPv6 address in brackets.
pub fn join_host_port(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{host}]:{port}"),
        _ => format!("{host}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_people_write() {
        let cases: &[(&str, (&str, Option<u16>))] = &[
            ("hostX", ("hostX", None)),
            ("hostX:7734", ("hostX", Some(7734))),
            ("a.b.example:1", ("a.b.example", Some(1))),
            ("127.0.0.1", ("127.0.0.1", None)),
            ("127.0.0.1:9000", ("127.0.0.1", Some(9000))),
            ("::1", ("::1", None)),
            ("fe80::1:2", ("fe80::1:2", None)),
            ("[::1]", ("::1", None)),
            ("[::1]:7734", ("::1", Some(7734))),
            // Not a port: the whole is the host, and the connection says why not.
            ("hostX:70000", ("hostX:70000", None)),
            ("hostX:", ("hostX:", None)),
            ("", ("", None)),
        ];
        for &(s, want) in cases {
            assert_eq!(split_host_port(s), want, "{s:?}");
        }
    }

    #[test]
    fn joined_back() {
        assert_eq!(join_host_port("::1", 7734), "[::1]:7734");
        assert_eq!(join_host_port("127.0.0.1", 1), "127.0.0.1:1");
        assert_eq!(join_host_port("hostX", 7734), "hostX:7734");
    }
}
