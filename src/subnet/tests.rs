use super::*;

fn net(s: &str) -> Net {
    Net::parse(s).unwrap()
}

#[test]
fn parses_and_prints_cidrs() {
    assert_eq!(net("10.199.0.0/16").to_string(), "10.199.0.0/16");
    // Host bits are masked off.
    assert_eq!(net("10.199.3.77/28").to_string(), "10.199.3.64/28");
    assert_eq!(net("192.168.1.1").to_string(), "192.168.1.1/32");
    assert!(Net::parse("10.0.0.0/33").is_none());
    assert!(Net::parse("fd00::/64").is_none());
    assert!(Net::parse("nonsense").is_none());
}

#[test]
fn overlap_and_containment() {
    assert!(net("10.0.0.0/8").overlaps(&net("10.199.0.16/28")));
    assert!(net("10.199.0.16/28").overlaps(&net("10.0.0.0/8")));
    assert!(!net("10.199.0.16/28").overlaps(&net("10.199.0.32/28")));
    assert!(net("10.199.0.0/16").contains(&net("10.199.7.0/24")));
    assert!(!net("10.199.7.0/24").contains(&net("10.199.0.0/16")));
}

#[test]
fn sizes_hold_the_services_twice_and_stay_between_28_and_24() {
    assert_eq!(prefix_for(1), 28);
    assert_eq!(prefix_for(6), 28); // 3 + 12 = 15 ≤ 16
    assert_eq!(prefix_for(7), 27);
    assert_eq!(prefix_for(14), 27);
    assert_eq!(prefix_for(15), 26);
    assert_eq!(prefix_for(62), 25);
    assert_eq!(prefix_for(100), 24);
    assert_eq!(prefix_for(10_000), 24);
}

#[test]
fn allocation_avoids_every_taken_subnet() {
    let pool = net("10.199.0.0/24"); // 16 slots of /28
    let taken = vec![net("10.199.0.0/28"), net("10.199.0.32/27")];
    let got = allocate(pool, 28, &taken, 0).unwrap();
    assert_eq!(got, net("10.199.0.16/28"));
    // A seed starts elsewhere and skips what is taken, wrapping around.
    let got = allocate(pool, 28, &taken, 2).unwrap();
    assert_eq!(got, net("10.199.0.64/28"));
    let got = allocate(pool, 28, &taken, 15).unwrap();
    assert_eq!(got, net("10.199.0.240/28"));
    // A route covering the whole pool leaves nothing.
    assert_eq!(allocate(pool, 28, &[net("10.0.0.0/8")], 3), None);
    // Filling the pool one by one gives 16 distinct subnets, then none.
    let mut taken = vec![];
    for i in 0..16 {
        let n = allocate(pool, 28, &taken, i * 7).unwrap();
        assert!(pool.contains(&n));
        assert!(!taken.iter().any(|t: &Net| t.overlaps(&n)));
        taken.push(n);
    }
    assert_eq!(allocate(pool, 28, &taken, 1), None);
    // A subnet larger than the pool is the pool itself.
    assert_eq!(
        allocate(net("10.1.2.0/26"), 24, &[], 9),
        Some(net("10.1.2.0/26"))
    );
}

#[test]
fn recognises_overlap_errors() {
    assert!(is_overlap_error(
        "Error response from daemon: Pool overlaps with other one on this address space"
    ));
    assert!(is_overlap_error(
        "failed to create network p_default: Error response from daemon: invalid pool request: Pool overlaps with other one on this address space"
    ));
    // Podman 4.3, an interface gone while it checked the host's routes (40 parallel creates).
    assert!(is_overlap_error(
        "failed to create network s23_default: Error response from daemon: route ip+net: no such network interface"
    ));
    assert!(!is_overlap_error("port is already allocated"));
}
