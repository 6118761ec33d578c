//! The host's IPv4 routes (`/proc/net/route`), so a session network never shadows a network
//! this machine reaches (a VPN, the LAN, another bridge). Linux only; elsewhere: none.

use crate::subnet::Net;

/// Every IPv4 route's destination except the default route.
pub fn host_routes() -> Vec<Net> {
    std::fs::read_to_string("/proc/net/route")
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// Parses `/proc/net/route`: destination and mask are the kernel's network-order words
/// printed as hex.
fn parse(text: &str) -> Vec<Net> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let word = |i: usize| u32::from_str_radix(f.get(i)?, 16).ok().map(u32::from_be);
            let (dest, mask) = (word(1)?, word(7)?);
            let prefix = mask.leading_ones() as u8;
            (prefix > 0).then(|| Net::new(dest, prefix))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_kernels_route_table() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
            docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
            br-1\t0010A8C0\t00000000\t0001\t0\t0\t0\t00F0FFFF\t0\t0\t0\n";
        let nets: Vec<String> = super::parse(text).iter().map(|n| n.to_string()).collect();
        if cfg!(target_endian = "little") {
            assert_eq!(nets, vec!["172.17.0.0/16", "192.168.16.0/20"]);
        }
    }
}
