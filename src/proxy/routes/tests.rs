use std::collections::BTreeMap;

use super::*;
use crate::compose::PortSpec;
use crate::observed::{Health, Published};

pub(crate) fn container(
    service: &str,
    host: &str,
    dir: &str,
    state: State,
    ports: &[(u16, u16)],
) -> Container {
    let mut labels = BTreeMap::new();
    labels.insert(HOST.to_string(), host.to_string());
    labels.insert(DOMAIN.to_string(), "localhost".to_string());
    labels.insert(labels::WORKING_DIR.to_string(), dir.to_string());
    labels.insert(labels::SERVICE.to_string(), service.to_string());
    labels.insert(
        labels::PORTS.to_string(),
        ports
            .iter()
            .map(|(c, _)| format!("{c}/tcp"))
            .collect::<Vec<_>>()
            .join(","),
    );
    Container {
        id: format!("id-{service}-{host}"),
        name: service.into(),
        service: service.into(),
        state,
        health: Health::None,
        exit_code: None,
        status: String::new(),
        ports: ports
            .iter()
            .filter(|_| state == State::Running)
            .map(|(c, h)| Published {
                spec: PortSpec::tcp(*c),
                host_ip: "127.0.0.1".into(),
                host_port: *h,
            })
            .collect(),
        labels,
        engine_host: EngineHost::Local,
    }
}

fn up(port: u16) -> Target {
    Target::Up {
        host: "127.0.0.1".into(),
        port,
        needs_forward: None,
    }
}

#[test]
fn names_route_to_published_ports_and_stopped_sessions_say_so() {
    let cs = [
        container(
            "web",
            "a.shop",
            "/s/a",
            State::Running,
            &[(80, 4001), (5432, 4002), (3000, 4003)],
        ),
        container("web", "b.shop", "/s/b", State::Stopped, &[(80, 0)]),
    ];
    let t = table(&cs, &BTreeMap::new());
    let names: Vec<&str> = t.routes.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "web-3000.a.shop.localhost",
            "web.a.shop.localhost",
            "web.b.shop.localhost"
        ]
    );
    assert_eq!(
        decide(&t, Some("WEB.a.shop.localhost:7355"), 0, 7355),
        Decision::Forward(Arc::new(Route {
            dir: "/s/a".into(),
            project: None,
            target: up(4001)
        }))
    );
    assert_eq!(
        decide(&t, Some("web.b.shop.localhost"), 0, 7355),
        Decision::Stopped {
            name: "web.b.shop.localhost".into(),
            dir: "/s/b".into()
        }
    );
    assert_eq!(
        decide(&t, Some("web.c.shop.localhost"), 0, 7355),
        Decision::Unknown("web.c.shop.localhost".into())
    );
    assert!(t.any_running);
}

#[test]
fn foreign_names_are_misdirected_and_loops_end() {
    let cs = [container(
        "web",
        "a.shop",
        "/s/a",
        State::Running,
        &[(80, 4001)],
    )];
    let t = table(&cs, &BTreeMap::new());
    assert_eq!(
        decide(&t, Some("evil.example:7355"), 0, 7355),
        Decision::Misdirected("evil.example".into())
    );
    assert_eq!(
        decide(&t, Some("127.0.0.1:7355"), 0, 7355),
        Decision::Misdirected("127.0.0.1".into())
    );
    assert_eq!(
        decide(&t, None, 0, 7355),
        Decision::Misdirected(String::new())
    );
    assert_eq!(
        decide(&t, Some("web.a.shop.localhost"), MAX_HOPS, 7355),
        Decision::Loop
    );
    assert_eq!(decide(&t, Some("_dev-prism:1"), 0, 7355), Decision::Status);
    assert_eq!(host_name("[::1]:7355"), "::1");
    // A session port that is the proxy's own: the request would come straight back.
    let own = [container(
        "web",
        "a.shop",
        "/s/a",
        State::Running,
        &[(80, 7355)],
    )];
    assert_eq!(
        decide(
            &table(&own, &BTreeMap::new()),
            Some("web.a.shop.localhost"),
            0,
            7355
        ),
        Decision::Loop
    );
    assert_eq!(host_name("a.localhost."), "a.localhost");
}

#[test]
fn focus_names_reach_the_focused_session_only() {
    let cs = [
        container("web", "a.shop", "/s/a", State::Running, &[(80, 4001)]),
        container("web", "b.shop", "/s/b", State::Running, &[(80, 4002)]),
    ];
    assert_eq!(
        decide(
            &table(&cs, &BTreeMap::new()),
            Some("web.shop.localhost"),
            0,
            7355
        ),
        Decision::NotFocused {
            project: "shop".into()
        }
    );
    let focus = BTreeMap::from([("shop".to_string(), "/s/b".to_string())]);
    assert_eq!(
        decide(&table(&cs, &focus), Some("web.shop.localhost"), 0, 7355),
        Decision::Forward(Arc::new(Route {
            dir: "/s/b".into(),
            project: None,
            target: up(4002)
        }))
    );
}

#[test]
fn wildcard_bindings_try_both_loopbacks_and_remote_loopback_needs_forward() {
    let mut c = container("web", "a.shop", "/s/a", State::Running, &[(80, 4001)]);
    c.ports[0].host_ip = "0.0.0.0".into();
    let t = table(std::slice::from_ref(&c), &BTreeMap::new());
    assert_eq!(
        t.routes["web.a.shop.localhost"].target,
        Target::Up {
            host: "localhost".into(),
            port: 4001,
            needs_forward: None
        }
    );
    c.ports[0].host_ip = "127.0.0.1".into();
    c.engine_host = EngineHost::Remote("box".into());
    let t = table(std::slice::from_ref(&c), &BTreeMap::new());
    assert_eq!(
        t.routes["web.a.shop.localhost"].target,
        Target::Up {
            host: "127.0.0.1".into(),
            port: 4001,
            needs_forward: Some("box".into())
        }
    );
}

#[test]
fn containers_without_a_host_label_get_no_route() {
    let mut c = container("web", "a.shop", "/s/a", State::Running, &[(80, 4001)]);
    c.labels.remove(HOST);
    let t = table(&[c], &BTreeMap::new());
    assert!(t.routes.is_empty());
    assert!(t.any_running);
}
