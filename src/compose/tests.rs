use super::*;
use serde_json::json;

fn model(files: &[&str]) -> ComposeModel {
    let files: Vec<(String, String)> = files
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("f{i}.yml"), t.to_string()))
        .collect();
    parse(&files).unwrap()
}

fn ctx(flavor: Flavor) -> SessionFileContext<'static> {
    SessionFileContext {
        dir: "/w/my \"dir\"",
        created_at: "2026-02-06T12:30:45.123Z",
        bind_address: "127.0.0.1",
        flavor,
        repo_root: None,
        subnet: None,
        share_volumes: &[],
        data_from: None,
        volume_suffix: "0123456789abcdef",
        resources: Default::default(),
        proxy: None,
    }
}

#[test]
fn port_syntaxes() {
    let cases = [
        (json!(5432), PortSpec::tcp(5432)),
        (json!("5432"), PortSpec::tcp(5432)),
        (json!("8080:80"), PortSpec::tcp(80)),
        (json!("0:80"), PortSpec::tcp(80)),
        (json!("127.0.0.1:8080:80"), PortSpec::tcp(80)),
        (json!("127.0.0.1::80"), PortSpec::tcp(80)),
        (json!("[::1]:8080:80"), PortSpec::tcp(80)),
        (
            json!("53:53/udp"),
            PortSpec {
                container_port: 53,
                protocol: "udp".into(),
            },
        ),
        (
            json!({"target": 80, "published": "8080"}),
            PortSpec::tcp(80),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(parse_port(&input).unwrap(), want, "{input}");
    }
    for bad in [
        json!("8000-8010:8000-8010"),
        json!("x"),
        json!("${P}:${Q}"),
        json!("80/sctp"),
        json!(0),
        json!({"published": 1}),
    ] {
        assert!(parse_port(&bad).is_err(), "{bad}");
    }
}

#[test]
fn override_file_appends_ports_and_merges_by_key() {
    let m = model(&[
        "services:\n  web:\n    image: x\n    ports: ['8080:8080']\n    environment: [A=1, B=2]\n",
        "services:\n  web:\n    ports: ['9090']\n    environment:\n      B: '3'\n",
    ]);
    let web = &m.services["web"];
    assert_eq!(web.ports, vec![PortSpec::tcp(8080), PortSpec::tcp(9090)]);
    assert_eq!(web.raw["environment"], json!({"A": "1", "B": "3"}));
}

#[test]
fn merge_keys_profiles_healthchecks() {
    let m = model(&[
        "x-base: &base\n  image: x\n  healthcheck:\n    test: [CMD, true]\nservices:\n  db:\n    <<: *base\n    ports: [5432]\n  app:\n    image: y\n    profiles: [app]\n    healthcheck:\n      disable: true\n",
    ]);
    assert!(m.services["db"].has_healthcheck);
    assert_eq!(m.services["db"].raw["image"], "x");
    assert!(!m.services["app"].has_healthcheck);
    assert_eq!(m.services["app"].profiles, vec!["app"]);
    assert!(m.top.contains_key("x-base"));
}

#[test]
fn rejects_bad_documents() {
    let bad = |t: &str| parse(&[("c.yml".into(), t.into())]).unwrap_err();
    assert!(bad("services: {}\n")
        .message()
        .contains("defines no services"));
    assert!(bad("services:\n  'bad name':\n    image: x\n")
        .message()
        .contains("service name `bad name` is not valid"));
    let e = bad("services:\n  web:\n    image: [\n");
    assert!(e.message().starts_with("c.yml:"), "{}", e.message());
    let e = bad("services:\n  web:\n    ports: ['3000-3005:3000-3005']\n");
    assert!(e.message().contains("port range"), "{}", e.message());
}

#[test]
fn v2_session_file_overrides_ports_and_quotes_paths() {
    let m = model(&[
        "services:\n  web:\n    image: x\n    ports: ['8080:8080']\n  worker:\n    image: x\n",
    ]);
    let text = session_file(&m, &ctx(Flavor::V2)).unwrap();
    assert!(
        text.contains("ports: !override\n      - 127.0.0.1::8080\n"),
        "{text}"
    );
    assert!(!text.contains("8080:8080"));
    // The path with a quote round-trips through a YAML reader as the same string.
    let back: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(
        back["services"]["web"]["labels"]["dev-prism.working_dir"],
        "/w/my \"dir\""
    );
    assert_eq!(
        back["services"]["web"]["labels"]["dev-prism.ports"],
        "8080/tcp"
    );
    assert_eq!(back["services"]["worker"]["labels"]["dev-prism.ports"], "");
    assert_eq!(
        label_in(&text, labels::CREATED_AT).as_deref(),
        Some("2026-02-06T12:30:45.123Z")
    );
}

#[test]
fn newline_in_path_cannot_inject_keys() {
    let m = model(&["services:\n  web:\n    image: x\n"]);
    let mut c = ctx(Flavor::V2);
    c.dir = "/w/x\n    privileged: true";
    let text = session_file(&m, &c).unwrap();
    let back: Value = serde_saphyr::from_str(&text).unwrap();
    assert!(back["services"]["web"].get("privileged").is_none());
    assert_eq!(
        back["services"]["web"]["labels"]["dev-prism.working_dir"],
        c.dir
    );
}

#[test]
fn v1_session_file_is_self_contained() {
    let m = model(&[
        "volumes:\n  data: {}\nservices:\n  db:\n    image: x\n    ports: ['5432:5432']\n    labels: [keep=me]\n    environment:\n      FLAG: 'on'\n",
    ]);
    let text = session_file(&m, &ctx(Flavor::V1)).unwrap();
    let back: Value = serde_saphyr::from_str(&text).unwrap();
    let db = &back["services"]["db"];
    assert_eq!(db["ports"], json!(["127.0.0.1::5432"]));
    assert_eq!(db["labels"]["keep"], "me");
    assert_eq!(db["labels"]["dev-prism.compose"], "v1");
    assert_eq!(db["environment"]["FLAG"], "on");
    assert!(
        text.contains("FLAG: \"on\""),
        "YAML 1.1 readers must see a string: {text}"
    );
    assert!(back["volumes"].get("data").is_some());
}

#[test]
fn extends_and_include_are_resolved_into_the_model() {
    let files: std::collections::HashMap<&str, &str> = [
        ("more/other.yml", "services:\n  cache:\n    image: redis\n    ports: ['6379:6379']\n"),
        ("base.yml", "services:\n  common:\n    image: base\n    ports: ['9000:9000']\n    environment: {A: '1'}\n"),
    ]
    .into_iter()
    .collect();
    let load = |p: &str| {
        files
            .get(p)
            .map(|t| t.to_string())
            .ok_or_else(|| crate::error::Error::usage(format!("no {p}")))
    };
    let main = "include:\n  - more/other.yml\nservices:\n  a:\n    image: x\n    ports: ['80']\n  b:\n    extends: a\n    ports: ['81']\n  c:\n    extends: {file: base.yml, service: common}\n    environment: {B: '2'}\n";
    let m = parse_with(&[("docker-compose.yml".into(), main.into())], &load).unwrap();
    assert_eq!(
        m.services.keys().collect::<Vec<_>>(),
        vec!["a", "b", "c", "cache"]
    );
    assert_eq!(
        m.services["b"].ports,
        vec![PortSpec::tcp(80), PortSpec::tcp(81)]
    );
    assert_eq!(m.services["b"].raw["image"], "x");
    assert!(m.services["b"].raw.get("extends").is_none());
    assert_eq!(m.services["c"].ports, vec![PortSpec::tcp(9000)]);
    assert_eq!(
        m.services["c"].raw["environment"],
        json!({"A": "1", "B": "2"})
    );
    assert_eq!(m.services["cache"].ports, vec![PortSpec::tcp(6379)]);
    // The fixed host ports of included and extended services do not survive either.
    let text = session_file(&m, &ctx(Flavor::V2)).unwrap();
    assert!(
        text.contains("127.0.0.1::6379") && text.contains("127.0.0.1::9000"),
        "{text}"
    );
    // And Compose v1 gets them fully expanded.
    let v1 = session_file(&m, &ctx(Flavor::V1)).unwrap();
    assert!(!v1.contains("extends") && !v1.contains("include"), "{v1}");
    let cyclic = parse_with(
        &[(
            "docker-compose.yml".into(),
            "services:\n  a:\n    extends: b\n  b:\n    extends: a\n".into(),
        )],
        &load,
    );
    assert!(cyclic.unwrap_err().message().contains("nests too deep"));
}

#[test]
fn config_hash_follows_definition() {
    let a = model(&["services:\n  web:\n    image: x\n"]);
    let b = model(&["services:\n  web:\n    image: y\n"]);
    let h =
        |m: &ComposeModel| config_hash(&m.services["web"], "127.0.0.1", &Default::default(), None);
    assert_ne!(h(&a), h(&b));
    assert_eq!(h(&a), h(&a.clone()));
    // The proxy name counts (a session gaining or changing its name is recreated to carry
    // it); without one the hash is the one sessions made before names carry.
    let named = |host: &str| {
        let p = ProxyLabels {
            host,
            domain: "localhost",
            https: false,
        };
        config_hash(
            &a.services["web"],
            "127.0.0.1",
            &Default::default(),
            Some(p),
        )
    };
    assert_ne!(named("s.p"), h(&a));
    assert_ne!(named("s.p"), named("s-2.p"));
    assert_eq!(
        h(&a),
        "8a46b05c425f",
        "the hash of a session without a name is unchanged"
    );
}

#[test]
fn override_names() {
    assert_eq!(
        override_candidates("docker-compose.yml"),
        vec![
            "docker-compose.override.yaml",
            "docker-compose.override.yml"
        ]
    );
}

#[test]
fn dollar_in_what_dev_prism_writes_is_escaped_but_not_in_the_users_values() {
    let m = model(&[
        "services:\n  db:\n    image: x\n    ports: [5432]\n    labels: [\"mine=${LABEL}\"]\n    environment:\n      HOME_DIR: $HOME\n",
    ]);
    for flavor in [Flavor::V2, Flavor::V1] {
        let mut c = ctx(flavor);
        c.dir = "/w/dir $HOME 'q' ü";
        c.repo_root = Some("/w/$$x");
        let text = session_file(&m, &c).unwrap();
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        let l = &back["services"]["db"]["labels"];
        assert_eq!(l["dev-prism.working_dir"], "/w/dir $$HOME 'q' ü", "{text}");
        assert_eq!(l["dev-prism.session_id"], "/w/dir $$HOME 'q' ü");
        assert_eq!(l["dev-prism.repo_root"], "/w/$$$$x");
        assert_eq!(
            label_in(&text, labels::WORKING_DIR).as_deref(),
            Some("/w/dir $HOME 'q' ü")
        );
        if flavor == Flavor::V1 {
            // The user's own strings keep their interpolation.
            assert_eq!(l["mine"], "${LABEL}");
            assert_eq!(back["services"]["db"]["environment"]["HOME_DIR"], "$HOME");
        }
    }
}

#[test]
fn jobs_and_schemes_from_the_compose_file() {
    let mut m = model(&["services:
  migrate: {image: x}
  seed: {image: x}
  db: {image: x, ports: ['5432']}
  web:
    image: x
    x-dev-prism: {scheme: http}
    depends_on:
      migrate: {condition: service_completed_successfully}
      db: {condition: service_healthy}
  api:
    image: x
    labels: {dev-prism.scheme: https}
    depends_on: [db]
"]);
    assert_eq!(
        m.services["web"].depends_on["migrate"],
        "service_completed_successfully"
    );
    assert_eq!(m.services["api"].depends_on["db"], "service_started");
    let jobs = |m: &ComposeModel| -> Vec<String> {
        m.services
            .iter()
            .filter(|(_, s)| s.job)
            .map(|(n, _)| n.clone())
            .collect()
    };
    assert_eq!(jobs(&m), vec!["migrate"]);
    m.mark_jobs(&["seed".into()]).unwrap();
    assert_eq!(jobs(&m), vec!["migrate", "seed"]);
    assert!(m.mark_jobs(&["nope".into()]).is_err());
    assert_eq!(m.services["web"].scheme.as_deref(), Some("http"));
    assert_eq!(m.services["api"].scheme.as_deref(), Some("https"));
    assert_eq!(m.services["db"].scheme, None);
    for flavor in [Flavor::V2, Flavor::V1] {
        let text = session_file(&m, &ctx(flavor)).unwrap();
        assert!(text.contains("dev-prism.job: \"true\""), "{text}");
        assert!(text.contains("dev-prism.scheme: http"), "{text}");
        assert!(!text.contains("x-dev-prism"), "{text}");
    }
}

#[test]
fn the_session_file_gives_the_default_network_its_subnet() {
    let subnet = crate::subnet::Net::parse("10.199.3.16/28");
    let m = model(&["services:\n  db: {image: x}\nnetworks:\n  default:\n    labels: {team: a}\n"]);
    for flavor in [Flavor::V2, Flavor::V1] {
        let text = session_file(
            &m,
            &SessionFileContext {
                subnet,
                ..ctx(flavor)
            },
        )
        .unwrap();
        assert_eq!(crate::desired::subnet::recorded(&text), subnet, "{text}");
        let doc: Value = serde_saphyr::from_str(&text).unwrap();
        if flavor == Flavor::V1 {
            // The expanded file keeps the user's own settings of the network.
            assert_eq!(
                doc.pointer("/networks/default/labels/team"),
                Some(&json!("a"))
            );
        }
    }
    let text = session_file(&m, &ctx(Flavor::V2)).unwrap();
    assert!(!text.contains("networks"), "{text}");
}

#[test]
fn bind_mounts_of_host_paths_are_named() {
    let m = model(&["services:\n  web:\n    image: x\n    volumes:\n      - ./src:/app\n      - data:/data\n      - type: bind\n        source: /etc/x\n        target: /x\n"]);
    assert_eq!(bind_mounts(&m), vec!["web: ./src", "web: /etc/x"]);
}

#[test]
fn fixed_volume_names_become_per_session_unless_shared_or_external() {
    let m = model(&[
        "services:\n  db:\n    image: x\n    volumes: [data:/d, shared:/s, ext:/e, plain:/p]\nvolumes:\n  data: {name: fixed}\n  shared: {name: common}\n  ext: {external: true, name: theirs}\n  plain: {}\n",
    ]);
    let share = vec!["shared".to_string()];
    for flavor in [Flavor::V2, Flavor::V1] {
        let c = SessionFileContext {
            share_volumes: &share,
            ..ctx(flavor)
        };
        let text = session_file(&m, &c).unwrap();
        let doc: Value = serde_saphyr::from_str(&text).unwrap();
        let v = &doc["volumes"];
        assert_eq!(v["data"]["name"], "fixed-0123456789abcdef", "{text}");
        assert_eq!(v["shared"]["labels"][labels::SHARED], "true", "{text}");
        assert!(
            v["shared"].get("name").is_none_or(|n| n == "common"),
            "{text}"
        );
        assert!(v["ext"].get("name").is_none_or(|n| n == "theirs"), "{text}");
        assert!(v["plain"].get("name").is_none(), "{text}");
    }
}

#[test]
fn where_the_data_came_from_is_a_label_only_when_it_was_copied() {
    let m = model(&["services:\n  db: {image: x}\n  web: {image: x}\n"]);
    for flavor in [Flavor::V2, Flavor::V1] {
        let seeded = session_file(
            &m,
            &SessionFileContext {
                data_from: Some("/w/main $HOME"),
                ..ctx(flavor)
            },
        )
        .unwrap();
        let doc: Value = serde_saphyr::from_str(&seeded).unwrap();
        for svc in ["db", "web"] {
            assert_eq!(
                doc["services"][svc]["labels"][labels::DATA_FROM],
                "/w/main $$HOME",
                "{seeded}"
            );
        }
        assert_eq!(
            label_in(&seeded, labels::DATA_FROM).as_deref(),
            Some("/w/main $HOME")
        );
        // A session not made `--data-from` (or by a version before the label) gets none: its
        // session file, and so its containers, stay as they were.
        let plain = session_file(&m, &ctx(flavor)).unwrap();
        assert!(!plain.contains(labels::DATA_FROM), "{plain}");
    }
}

#[test]
fn default_limits_go_to_services_without_their_own() {
    let m = model(&[
        "services:\n  plain: {image: x}\n  own_mem: {image: x, mem_limit: 64m}\n  own_cpus:\n    image: x\n    deploy: {resources: {limits: {cpus: '0.25'}}}\n",
    ]);
    let resources = crate::config::Resources {
        memory: Some(2 << 30),
        nano_cpus: Some(1_500_000_000),
    };
    for flavor in [Flavor::V2, Flavor::V1] {
        let text = session_file(
            &m,
            &SessionFileContext {
                resources,
                ..ctx(flavor)
            },
        )
        .unwrap();
        let doc: Value = serde_saphyr::from_str(&text).unwrap();
        let svc = |n: &str| doc["services"][n].clone();
        assert_eq!(svc("plain")["mem_limit"], json!(2u64 << 30), "{text}");
        assert_eq!(svc("plain")["cpus"], json!(1.5), "{text}");
        // Each limit the service sets itself stays its own (v1 copies the user's value).
        assert_eq!(svc("own_mem")["cpus"], json!(1.5), "{text}");
        assert!(
            svc("own_mem")["mem_limit"].is_null() || svc("own_mem")["mem_limit"] == "64m",
            "{text}"
        );
        assert_eq!(svc("own_cpus")["mem_limit"], json!(2u64 << 30), "{text}");
        assert!(svc("own_cpus").get("cpus").is_none(), "{text}");
        // Without `resources` nothing is added.
        let none = session_file(&m, &ctx(flavor)).unwrap();
        assert!(
            !none.contains("mem_limit: 2") && !none.contains("cpus: 1"),
            "{none}"
        );
    }
    // A limit is part of the service's hash (a changed limit is drift); no limit, no change.
    let plain = &m.services["plain"];
    let before = config_hash(plain, "127.0.0.1", &Default::default(), None);
    assert_ne!(config_hash(plain, "127.0.0.1", &resources, None), before);
    let own = crate::config::Resources {
        memory: Some(2 << 30),
        nano_cpus: None,
    };
    let mem_only = &m.services["own_mem"];
    assert_eq!(
        config_hash(mem_only, "127.0.0.1", &own, None),
        config_hash(mem_only, "127.0.0.1", &Default::default(), None)
    );
}

#[test]
fn the_proxy_names_are_labels_on_every_service_only_when_the_proxy_is_on() {
    let m = model(&["services:\n  db: {image: x}\n  web: {image: x, ports: [80]}\n"]);
    for flavor in [Flavor::V2, Flavor::V1] {
        let on = session_file(
            &m,
            &SessionFileContext {
                proxy: Some(ProxyLabels {
                    host: "feat-x.shop",
                    domain: "localhost",
                    https: true,
                }),
                ..ctx(flavor)
            },
        )
        .unwrap();
        let doc: Value = serde_saphyr::from_str(&on).unwrap();
        for svc in ["db", "web"] {
            let l = &doc["services"][svc]["labels"];
            assert_eq!(l[labels::HOST], "feat-x.shop", "{on}");
            assert_eq!(l[labels::DOMAIN], "localhost", "{on}");
            assert_eq!(l[labels::HTTPS], "true", "{on}");
        }
        assert_eq!(label_in(&on, labels::HOST).as_deref(), Some("feat-x.shop"));
        let off = session_file(&m, &ctx(flavor)).unwrap();
        assert!(!off.contains(labels::HOST), "{off}");
        assert!(!off.contains(labels::DOMAIN), "{off}");
    }
}

#[test]
fn original_tool_keys_are_accepted() {
    let text = r#"{"projectName":"hello","sessionsDir":"../sessions","portBase":47000,"services":[{"name":"app","internalPort":3000},{"name":"worker","internalPort":9000}],"setup":[]}"#;
    let raw = crate::config::parse(
        text,
        std::path::Path::new("session.config.mjs"),
        crate::config::Format::Module,
    )
    .unwrap();
    let c = crate::config::resolve(
        raw,
        std::path::Path::new("/r"),
        Some("/r/session.config.mjs".into()),
    )
    .unwrap();
    assert!(c.warnings[0].contains("`portBase` and `ports` no longer do anything"));
    let mut m = parse(&[(
        "c.yml".into(),
        "services:
  app: {image: x, ports: ['3000:3000']}
  worker: {image: x}
"
        .into(),
    )])
    .unwrap();
    let warnings = adopt(&c, &mut m).unwrap();
    // `worker` did not publish 9000: the entry publishes it, as the original did.
    assert_eq!(m.services["worker"].ports, vec![PortSpec::tcp(9000)]);
    assert_eq!(m.services["app"].ports.len(), 1);
    assert!(
        warnings[1].contains("`services` no longer does anything for app"),
        "{warnings:?}"
    );
}
