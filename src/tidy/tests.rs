use std::time::Duration;

use super::*;

const H: i64 = 3_600_000;
const NOW: i64 = 1_770_381_045_000;

fn facts() -> Facts {
    Facts {
        up: false,
        created_at: Some(NOW - 48 * H),
        last_activity: Some(NOW - 3 * H),
        merged: None,
        exists: true,
    }
}

#[test]
fn durations() {
    assert_eq!(parse_duration("45m"), Ok(Duration::from_secs(45 * 60)));
    assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
    assert_eq!(parse_duration("1w"), Ok(Duration::from_secs(7 * 86_400)));
    for bad in [
        "",
        "7",
        "d",
        "7x",
        "-1d",
        "1.5h",
        "0m",
        "3651d",
        "99999999999999999999d",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
    assert_eq!(
        parse_duration("0m").unwrap_err(),
        "`0m` is out of range: from 1m to 3650d"
    );
}

#[test]
fn ages() {
    assert_eq!(short_age(30_000), "now");
    assert_eq!(short_age(5 * 60_000), "5m");
    assert_eq!(short_age(3 * H), "3h");
    assert_eq!(short_age(47 * H), "47h");
    assert_eq!(short_age(72 * H), "3d");
    assert_eq!(short_age(21 * 24 * H), "3w");
    assert_eq!(short_age(-5), "now");
}

#[test]
fn no_filter_means_stopped() {
    let f = Filters::default().or_default();
    assert!(f.stopped);
    assert_eq!(
        verdict(&f, &facts(), NOW),
        Verdict::Remove(vec!["stopped".into()])
    );
    let up = Facts {
        up: true,
        ..facts()
    };
    assert_eq!(verdict(&f, &up, NOW), Verdict::Keep("it runs".into()));
    // A filter given replaces the default: a running session idle long enough matches.
    let idle = Filters {
        idle: Some(Duration::from_secs(3600)),
        ..Filters::default()
    }
    .or_default();
    assert!(!idle.stopped);
    assert_eq!(
        verdict(&idle, &up, NOW),
        Verdict::Remove(vec!["idle for 3h".into()])
    );
}

#[test]
fn filters_combine() {
    let f = Filters {
        stopped: true,
        older_than: Some(Duration::from_secs(86_400)),
        idle: Some(Duration::from_secs(4 * 3600)),
        ..Filters::default()
    };
    // Old and stopped, but active 3h ago: kept, saying why.
    assert_eq!(
        verdict(&f, &facts(), NOW),
        Verdict::Keep("active 3h ago".into())
    );
    let idle = Facts {
        last_activity: Some(NOW - 5 * H),
        ..facts()
    };
    assert_eq!(
        verdict(&f, &idle, NOW),
        Verdict::Remove(vec![
            "stopped".into(),
            "created 2d ago".into(),
            "idle for 5h".into()
        ])
    );
    let young = Facts {
        created_at: Some(NOW - H),
        ..idle.clone()
    };
    assert_eq!(
        verdict(&f, &young, NOW),
        Verdict::Keep("created 1h ago".into())
    );
    let unknown = Facts {
        created_at: None,
        ..idle
    };
    assert!(matches!(verdict(&f, &unknown, NOW), Verdict::Keep(_)));
}

#[test]
fn merged_and_gone() {
    let f = Filters {
        merged: true,
        ..Filters::default()
    };
    let with = |m: Merged| Facts {
        merged: Some(m),
        ..facts()
    };
    assert_eq!(
        verdict(&f, &with(Merged::Yes), NOW),
        Verdict::Remove(vec!["its branch is merged".into()])
    );
    assert_eq!(
        verdict(&f, &with(Merged::NoCommits), NOW),
        Verdict::Keep("its branch has no commits of its own".into())
    );
    assert!(matches!(
        verdict(&f, &with(Merged::No(2)), NOW),
        Verdict::Keep(_)
    ));
    let g = Filters {
        gone: true,
        ..Filters::default()
    };
    assert_eq!(
        verdict(&g, &facts(), NOW),
        Verdict::Keep("its directory exists".into())
    );
    let gone = Facts {
        exists: false,
        ..facts()
    };
    assert_eq!(
        verdict(&g, &gone, NOW),
        Verdict::Remove(vec!["its directory is gone".into()])
    );
}
