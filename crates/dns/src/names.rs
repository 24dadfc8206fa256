//! Name helpers: endpoint host labels, reverse (arpa) names, and parsing the
//! dashed IP labels of pod names. Pure.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_server::proto::rr::Name;

/// The label CoreDNS gives an endpoint without a hostname: its IP with dots
/// (or colons) turned into dashes, "0" appended when that ends in a dash.
pub fn dashed_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => {
            let mut s = v6.to_string().replace(':', "-");
            if s.ends_with('-') {
                s.push('0');
            }
            s
        }
    }
}

/// Reads a pod label such as "10-244-0-5" or "fd00--5" back into an IP
/// (the same rule as CoreDNS: three dashes and no "--" means IPv4).
pub fn parse_dashed_ip(label: &[u8]) -> Option<IpAddr> {
    if label.len() > 45 || label.is_empty() {
        return None;
    }
    let s = std::str::from_utf8(label).ok()?;
    let dashes = s.bytes().filter(|&b| b == b'-').count();
    if dashes == 3 && !s.contains("--") {
        s.replace('-', ".").parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    } else {
        s.replace('-', ":").parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    }
}

/// "d.c.b.a.in-addr.arpa." or the 32-nibble "ip6.arpa." name of an IP.
pub fn reverse_name(ip: IpAddr) -> String {
    let mut s = String::with_capacity(74);
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            let _ = write!(s, "{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0]);
        }
        IpAddr::V6(v6) => {
            for b in v6.octets().iter().rev() {
                let _ = write!(s, "{:x}.{:x}.", b & 0x0f, b >> 4);
            }
            s.push_str("ip6.arpa.");
        }
    }
    s
}

fn eq_label(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// The IP a full reverse name stands for; None for partial names, other
/// names, or labels that are not canonical numbers.
pub fn parse_reverse(name: &Name) -> Option<IpAddr> {
    let n = name.iter().len();
    let mut labels = name.iter();
    if n == 6 {
        let mut o = [0u8; 4];
        for i in (0..4).rev() {
            let l = labels.next()?;
            if l.is_empty() || l.len() > 3 || (l.len() > 1 && l[0] == b'0') {
                return None;
            }
            o[i] = std::str::from_utf8(l).ok()?.parse().ok()?;
        }
        let (a, b) = (labels.next()?, labels.next()?);
        if eq_label(a, "in-addr") && eq_label(b, "arpa") {
            return Some(IpAddr::V4(Ipv4Addr::from(o)));
        }
        return None;
    }
    if n == 34 {
        let mut bytes = [0u8; 16];
        for i in (0..32).rev() {
            let l = labels.next()?;
            if l.len() != 1 {
                return None;
            }
            let nib = (l[0] as char).to_digit(16)? as u8;
            let byte = &mut bytes[i / 2];
            if i % 2 == 0 {
                *byte |= nib << 4;
            } else {
                *byte |= nib;
            }
        }
        let (a, b) = (labels.next()?, labels.next()?);
        if eq_label(a, "ip6") && eq_label(b, "arpa") {
            return Some(IpAddr::V6(Ipv6Addr::from(bytes)));
        }
    }
    None
}

/// Whether the name is at or under in-addr.arpa or ip6.arpa (4 or 6).
pub fn reverse_family(name: &Name) -> Option<u8> {
    let mut rev = name.iter().rev();
    let arpa = rev.next()?;
    let second = rev.next()?;
    if !eq_label(arpa, "arpa") {
        return None;
    }
    if eq_label(second, "in-addr") {
        Some(4)
    } else if eq_label(second, "ip6") {
        Some(6)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn dashed() {
        let cases = [
            ("10.244.0.5", "10-244-0-5"),
            ("fd00::5", "fd00--5"),
            ("fd00::", "fd00--0"),
            ("2001:db8:1:2:3:4:5:6", "2001-db8-1-2-3-4-5-6"),
        ];
        for (i, want) in cases {
            assert_eq!(dashed_ip(ip(i)), want);
            assert_eq!(parse_dashed_ip(want.as_bytes()), Some(ip(i)), "{want}");
        }
        for bad in ["10-244-0", "a-b-c-d", "10-244-0-500", "", "1---2", "x"] {
            assert_eq!(parse_dashed_ip(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(parse_dashed_ip(b"FD00--5"), Some(ip("fd00::5")));
    }

    #[test]
    fn reverse() {
        let cases = [
            ("10.96.0.10", "10.0.96.10.in-addr.arpa."),
            (
                "2001:db8::1",
                "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            ),
        ];
        for (i, want) in cases {
            assert_eq!(reverse_name(ip(i)), want);
            let n = Name::from_ascii(want).unwrap();
            assert_eq!(parse_reverse(&n), Some(ip(i)));
            assert_eq!(parse_reverse(&n.to_lowercase()), Some(ip(i)));
        }
        let upper = Name::from_ascii("10.0.96.10.IN-ADDR.ARPA.").unwrap();
        assert_eq!(parse_reverse(&upper), Some(ip("10.96.0.10")));
        for bad in [
            "0.96.10.in-addr.arpa.",
            "010.0.96.10.in-addr.arpa.",
            "300.0.96.10.in-addr.arpa.",
            "10.0.96.10.in-addr.example.",
            "x.0.96.10.in-addr.arpa.",
        ] {
            assert_eq!(
                parse_reverse(&Name::from_ascii(bad).unwrap()),
                None,
                "{bad}"
            );
        }
        assert_eq!(
            reverse_family(&Name::from_ascii("in-addr.arpa.").unwrap()),
            Some(4)
        );
        assert_eq!(
            reverse_family(&Name::from_ascii("1.ip6.ARPA.").unwrap()),
            Some(6)
        );
        assert_eq!(
            reverse_family(&Name::from_ascii("example.com.").unwrap()),
            None
        );
        assert_eq!(reverse_family(&Name::root()), None);
    }
}
