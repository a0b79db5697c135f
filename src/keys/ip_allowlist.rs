//! The addresses a key may be used from.

use crate::error::AppError;
use ipnet::IpNet;
use std::net::IpAddr;

/// Enough for any real deployment; bounds the work of every check.
pub const MAX_ENTRIES: usize = 100;

/// IPv4/IPv6 addresses and CIDR ranges; empty means any address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    /// Parses entries (blank ones are skipped); the error names the first
    /// entry that is not an address or range.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AppError> {
        let mut nets = Vec::new();
        for entry in entries
            .iter()
            .map(|e| e.as_ref().trim())
            .filter(|e| !e.is_empty())
        {
            let net = parse_entry(entry).ok_or_else(|| {
                AppError::field(
                    "ips",
                    format!(
                        "{:?} is not an IP address or CIDR range.",
                        entry.chars().take(60).collect::<String>()
                    ),
                )
            })?;
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        if nets.len() > MAX_ENTRIES {
            return Err(AppError::field(
                "ips",
                format!("At most {MAX_ENTRIES} addresses or ranges."),
            ));
        }
        Ok(IpAllowlist(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a request from `ip` may use the key.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.is_empty() || self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(display).collect()
    }

    /// The stored form: entries separated by spaces.
    pub fn to_text(&self) -> String {
        self.entries().join(" ")
    }

    pub fn from_text(text: &str) -> Result<Self, AppError> {
        IpAllowlist::parse(&text.split_whitespace().collect::<Vec<_>>())
    }
}

fn parse_entry(entry: &str) -> Option<IpNet> {
    let net = match entry.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => IpNet::from(entry.parse::<IpAddr>().ok()?),
    };
    Some(canonical_net(net).trunc())
}

/// An IPv4-mapped IPv6 range (`::ffff:10.0.0.0/104`) is its IPv4 self.
fn canonical_net(net: IpNet) -> IpNet {
    match (net, canonical(net.addr())) {
        (IpNet::V6(v6), IpAddr::V4(v4)) if v6.prefix_len() >= 96 => {
            IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(net)
        }
        _ => net,
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are their IPv4 selves.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A single host is shown as an address, a range in CIDR form.
fn display(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_empty_list_allows_any_address() {
        let list = IpAllowlist::parse::<&str>(&[]).unwrap();
        assert!(list.allows(ip("203.0.113.7")));
        assert!(list.allows(ip("2001:db8::1")));
    }

    #[test]
    fn addresses_and_ranges_of_both_families_are_honoured() {
        let list = IpAllowlist::parse(&["192.0.2.10", "10.0.0.0/8", "2001:db8::/32"]).unwrap();
        assert!(list.allows(ip("192.0.2.10")));
        assert!(!list.allows(ip("192.0.2.11")));
        assert!(list.allows(ip("10.200.3.4")));
        assert!(list.allows(ip("2001:db8:1::5")));
        assert!(!list.allows(ip("2001:db9::1")));
        assert!(
            list.allows(ip("::ffff:10.1.2.3")),
            "IPv4-mapped IPv6 matches IPv4 ranges"
        );
        let mapped = IpAllowlist::parse(&["::ffff:192.0.2.0/120"]).unwrap();
        assert_eq!(mapped.entries(), vec!["192.0.2.0/24"]);
        assert!(mapped.allows(ip("192.0.2.9")));
    }

    #[test]
    fn the_offending_entry_is_named() {
        let error = IpAllowlist::parse(&["10.0.0.1", "300.1.1.1"]).unwrap_err();
        assert_eq!(
            error.field_message("ips").unwrap(),
            "\"300.1.1.1\" is not an IP address or CIDR range."
        );
        assert!(IpAllowlist::parse(&["10.0.0.0/33"]).is_err());
        assert!(IpAllowlist::parse(&["example.com"]).is_err());
    }

    #[test]
    fn entries_are_normalised_and_round_trip_through_text() {
        let list = IpAllowlist::parse(&[" 10.1.2.3/8 ", "", "192.0.2.1", "192.0.2.1/32"]).unwrap();
        assert_eq!(list.entries(), vec!["10.0.0.0/8", "192.0.2.1"]);
        assert_eq!(IpAllowlist::from_text(&list.to_text()).unwrap(), list);
    }

    proptest::proptest! {
        #[test]
        fn any_entries_parse_or_fail_without_panicking(entries in proptest::collection::vec("\\PC{0,40}", 0..5)) {
            let _ = IpAllowlist::parse(&entries);
        }

        #[test]
        fn a_parsed_list_round_trips_through_text(
            v4 in proptest::collection::vec((proptest::prelude::any::<[u8; 4]>(), 0u8..=32), 0..6),
            v6 in proptest::collection::vec((proptest::prelude::any::<[u16; 8]>(), 0u8..=128), 0..6),
        ) {
            let entries: Vec<String> = v4
                .iter()
                .map(|(o, p)| format!("{}/{p}", std::net::Ipv4Addr::from(*o)))
                .chain(v6.iter().map(|(s, p)| format!("{}/{p}", std::net::Ipv6Addr::from(*s))))
                .collect();
            let list = IpAllowlist::parse(&entries).unwrap();
            proptest::prop_assert_eq!(IpAllowlist::from_text(&list.to_text()).unwrap(), list);
        }
    }

    #[test]
    fn the_list_is_bounded() {
        let many: Vec<String> = (0..=MAX_ENTRIES)
            .map(|i| format!("10.0.{}.{}", i / 250, i % 250))
            .collect();
        assert!(IpAllowlist::parse(&many).is_err());
    }
}
