//! Table tests of the lab manifest parser, the archive reader and every check kind.

use super::check::{evaluate, progress, AlertFact, AppFact, EventFact};
use super::*;

const KINDS: &[&str] = &[
    "instance.died",
    "instance.replaced",
    "policy.denied",
    "rollout.failed",
    "rollout.rolled_back",
    "rollout.undo",
    "load.started",
    "autoscale.scaled",
];

fn context() -> Context<'static> {
    Context { event_kinds: KINDS }
}

const WEB: &str = "name: web\nimage: crane-demo:0.1.0\nreplicas: 3\n";
const STEP_MD: &str = "# Step\n\nDo it.\n";

/// A lab whose manifest is `manifest` with the usual files beside it.
fn files(manifest: &str) -> LabFiles {
    let mut files = LabFiles::new();
    files.insert("lab.yaml", manifest.as_bytes().to_vec()).unwrap();
    files.insert("apps/web.yaml", WEB.as_bytes().to_vec()).unwrap();
    files.insert("steps/01.md", STEP_MD.as_bytes().to_vec()).unwrap();
    files
}

const GOOD: &str = "id: demo\ntitle: Demo\nsummary: A demo.\nlevel: beginner\nresources:\n  apps: [apps/web.yaml]\nsteps:\n  - title: One\n    text: steps/01.md\n    checks:\n      - app_ready: {app: web, min: 3}\n";

#[test]
fn a_good_lab_parses_into_typed_values() {
    let lab = parse(&files(GOOD), &context()).unwrap();
    assert_eq!((lab.id.as_str(), lab.title.as_str(), lab.level), ("demo", "Demo", Level::Beginner));
    assert_eq!(lab.app_names(), ["web"]);
    assert_eq!(lab.steps.len(), 1);
    assert_eq!(lab.steps[0].markdown, STEP_MD);
    assert_eq!(lab.steps[0].checks, vec![Check::AppReady { app: "web".into(), min: 3 }]);
}

#[test]
fn every_check_kind_parses() {
    let cases: &[(&str, Check)] = &[
        ("app_ready: {app: web, min: 3}", Check::AppReady { app: "web".into(), min: 3 }),
        ("replicas_at_least: {app: web, min: 4}", Check::ReplicasAtLeast { app: "web".into(), min: 4 }),
        ("replicas_at_most: {app: web, max: 1}", Check::ReplicasAtMost { app: "web".into(), max: 1 }),
        ("revision_at_least: {app: web, min: 2}", Check::RevisionAtLeast { app: "web".into(), min: 2 }),
        ("app_present: {app: web}", Check::AppPresent { app: "web".into() }),
        ("app_absent: {app: bad}", Check::AppAbsent { app: "bad".into() }),
        ("event: {kind: instance.died}", Check::Event { kind: "instance.died".into(), app: None, count: 1 }),
        (
            "event: {kind: instance.died, app: web, count: 2}",
            Check::Event { kind: "instance.died".into(), app: Some("web".into()), count: 2 },
        ),
        ("alert_fired: {rule: HighRPS}", Check::AlertFired { rule: "HighRPS".into(), app: None }),
        (
            "alert_firing: {rule: HighRPS, app: web}",
            Check::AlertFiring { rule: "HighRPS".into(), app: Some("web".into()) },
        ),
        ("rollback: {app: web}", Check::Rollback { app: "web".into() }),
        ("policy_denied: {app: bad}", Check::PolicyDenied { app: Some("bad".into()) }),
        ("policy_denied: {}", Check::PolicyDenied { app: None }),
    ];
    for (check, want) in cases {
        let manifest = GOOD.replace("app_ready: {app: web, min: 3}", check);
        let lab = parse(&files(&manifest), &context()).unwrap_or_else(|e| panic!("{check}: {e:?}"));
        assert_eq!(&lab.steps[0].checks[0], want, "{check}");
        assert_eq!(lab.steps[0].checks[0].kind(), check.split(':').next().unwrap(), "{check}");
    }
}

/// `(change to GOOD, file, line, column, path, words in the message)` for every way a lab is refused.
#[test]
fn malformed_labs_are_refused_with_file_line_and_reason() {
    let cases: &[(&str, &str, &str, u32, u32, &str, &str)] = &[
        // (find, replace, file, line, column, path, message contains)
        ("level: beginner", "level: expert", "lab.yaml", 4, 8, "level", "unknown level `expert`"),
        ("level: beginner", "levle: beginner", "lab.yaml", 4, 1, "levle", "unknown field `levle`"),
        ("id: demo\n", "", "lab.yaml", 1, 1, "id", "required field `id` is missing"),
        ("id: demo", "id: Demo_1", "lab.yaml", 1, 5, "id", "is not valid"),
        ("text: steps/01.md", "text: steps/02.md", "lab.yaml", 9, 11, "steps[0].text", "no file `steps/02.md`"),
        ("text: steps/01.md", "text: ../secret.md", "lab.yaml", 9, 11, "steps[0].text", "leave the lab"),
        ("apps: [apps/web.yaml]", "apps: [apps/db.yaml]", "lab.yaml", 6, 10, "resources.apps[0]", "no file"),
        (
            "app_ready: {app: web, min: 3}",
            "app_ready: {app: web, min: -1}",
            "lab.yaml",
            11,
            36,
            "steps[0].checks[0].app_ready.min",
            "",
        ),
        (
            "app_ready: {app: web, min: 3}",
            "app_redy: {app: web, min: 3}",
            "lab.yaml",
            11,
            9,
            "steps[0].checks[0].app_redy",
            "unknown field `app_redy`",
        ),
        (
            "app_ready: {app: web, min: 3}",
            "app_ready: {app: web}",
            "lab.yaml",
            11,
            20,
            "steps[0].checks[0].app_ready.min",
            "missing",
        ),
        (
            "app_ready: {app: web, min: 3}",
            "event: {kind: instance.dead}",
            "lab.yaml",
            11,
            23,
            "steps[0].checks[0].event.kind",
            "unknown event kind",
        ),
        (
            "app_ready: {app: web, min: 3}",
            "rollback: {app: Web}",
            "lab.yaml",
            11,
            25,
            "steps[0].checks[0].rollback.app",
            "not an app name",
        ),
        (
            "      - app_ready: {app: web, min: 3}\n",
            "      - app_ready: {app: web, min: 3}\n        app_absent: {app: x}\n",
            "lab.yaml",
            12,
            9,
            "steps[0].checks[0].app_absent",
            "a check has one kind",
        ),
        (
            "    checks:\n      - app_ready: {app: web, min: 3}\n",
            "    checks: []\n",
            "lab.yaml",
            10,
            13,
            "steps[0].checks",
            "no check",
        ),
        ("steps:\n", "steps: []\nx:\n", "lab.yaml", 8, 1, "x", "unknown field"),
        ("title: Demo", "title: Demo\ntitle: Again", "lab.yaml", 3, 1, "title", "twice"),
        ("title: Demo", "title: [Demo", "lab.yaml", 0, 0, "", "invalid YAML"),
    ];
    for (find, replace, file, line, column, path, words) in cases {
        assert!(GOOD.contains(find), "{find}");
        let manifest = GOOD.replacen(find, replace, 1);
        let problems = parse(&files(&manifest), &context()).expect_err(replace);
        let found = problems.iter().find(|d| d.path == *path || (path.is_empty() && d.message.contains(words)));
        let d = found.unwrap_or_else(|| panic!("{replace}: no problem at {path}: {problems:#?}"));
        assert_eq!(d.file.as_deref(), Some(*file), "{replace}");
        if *line > 0 {
            assert_eq!((d.line, d.column), (*line, *column), "{replace}: {d}");
        } else {
            assert!(d.line > 0, "{replace}: a syntax error has a position: {d}");
        }
        assert!(d.message.contains(words), "{replace}: {d}");
        assert!(!d.fix.is_empty(), "{replace}: every problem names a fix: {d}");
    }
}

#[test]
fn problems_of_named_files_carry_their_file_and_line() {
    let mut lab = files(GOOD);
    let mut broken = LabFiles::new();
    for (path, text) in lab.iter() {
        let text = if path == "apps/web.yaml" { "name: web\nimage: crane-demo:0.1.0\nreplicas: many\n" } else { text };
        broken.insert(path, text.as_bytes().to_vec()).unwrap();
    }
    lab = broken;
    let problems = parse(&lab, &context()).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        (problems[0].file.as_deref(), problems[0].line, problems[0].path.as_str()),
        (Some("apps/web.yaml"), 3, "replicas")
    );
}

#[test]
fn resources_are_checked_against_their_files() {
    let mut lab = files(&GOOD.replace(
        "  apps: [apps/web.yaml]\n",
        "  apps: [apps/web.yaml]\n  policies:\n    - name: admission\n      data: p.json\n  alerts: rules.yml\n  load: {app: db, rate: 0, duration: 10m}\n",
    ));
    lab.insert("p.json", b"[1, 2]".to_vec()).unwrap();
    lab.insert("rules.yml", b"groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up >\n".to_vec())
        .unwrap();
    let problems = parse(&lab, &context()).unwrap_err();
    let got: Vec<(Option<&str>, &str)> = problems.iter().map(|d| (d.file.as_deref(), d.path.as_str())).collect();
    assert!(got.contains(&(Some("lab.yaml"), "resources.load.app")), "{problems:#?}");
    assert!(got.contains(&(Some("lab.yaml"), "resources.load.rate")), "{problems:#?}");
    assert!(got.iter().any(|(f, _)| *f == Some("p.json")), "{problems:#?}");
    assert!(got.iter().any(|(f, _)| *f == Some("rules.yml")), "{problems:#?}");
}

#[test]
fn a_full_lab_reads_every_resource() {
    let mut lab = files(&GOOD.replace(
        "  apps: [apps/web.yaml]\n",
        "  apps: [apps/web.yaml]\n  policies:\n    - name: admission\n      data: p.json\n  load: {app: web, rate: 20, rampTo: 40, duration: 2m, path: /work}\n",
    ));
    lab.insert("p.json", br#"{"allowed_images": ["crane-demo"]}"#.to_vec()).unwrap();
    let lab = parse(&lab, &context()).unwrap();
    assert_eq!(lab.resources.policies[0].name, PolicyName::Admission);
    assert_eq!(lab.resources.policies[0].data, Some(serde_json::json!({"allowed_images": ["crane-demo"]})));
    let load = lab.resources.load.unwrap();
    assert_eq!(
        (load.app.as_str(), load.rate, load.ramp_to, load.duration.as_millis()),
        ("web", 20.0, Some(40.0), 120_000)
    );
}

#[test]
fn files_outside_the_lab_or_over_the_bounds_are_refused() {
    let cases: &[(&str, usize, &str)] = &[
        ("../x.md", 1, "leave the lab"),
        ("/etc/passwd", 1, "absolute"),
        ("a//b", 1, "empty"),
        ("a\\b", 1, "backslash"),
        ("big.md", MAX_FILE_BYTES + 1, "256 KiB"),
    ];
    for (path, size, words) in cases {
        let err = LabFiles::new().insert(path, vec![b'a'; *size]).unwrap_err();
        assert!(err.message.contains(words), "{path}: {err}");
    }
    let err = LabFiles::new().insert("x.md", vec![0xff, 0xfe]).unwrap_err();
    assert!(err.message.contains("UTF-8"), "{err}");
    let mut many = LabFiles::new();
    for i in 0..MAX_FILES {
        many.insert(&format!("f{i}"), Vec::new()).unwrap();
    }
    assert!(many.insert("one-more", Vec::new()).unwrap_err().message.contains("more than"));
}

#[test]
fn a_lab_without_manifest_says_where_it_is() {
    let mut lab = LabFiles::new();
    lab.insert("inner/lab.yaml", GOOD.as_bytes().to_vec()).unwrap();
    let problems = parse(&lab, &context()).unwrap_err();
    assert!(problems[0].fix.contains("inner/lab.yaml"), "{problems:?}");
}

fn tar(entries: &[(&str, &[u8])], gzip: bool) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *content).unwrap();
    }
    let bytes = builder.into_inner().unwrap();
    if !gzip {
        return bytes;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, &bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn archives_plain_and_gzip_with_or_without_a_top_folder() {
    let entries: &[(&str, &[u8])] =
        &[("lab.yaml", GOOD.as_bytes()), ("apps/web.yaml", WEB.as_bytes()), ("steps/01.md", STEP_MD.as_bytes())];
    let nested: Vec<(String, &[u8])> = entries.iter().map(|(p, c)| (format!("demo/{p}"), *c)).collect();
    let nested: Vec<(&str, &[u8])> = nested.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    for (entries, gzip) in [(entries, false), (entries, true), (nested.as_slice(), true)] {
        let files = archive::read(&tar(entries, gzip)).unwrap();
        assert_eq!(parse(&files, &context()).unwrap().id, "demo");
    }
}

#[test]
fn archives_with_links_traversal_or_garbage_are_refused() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    builder.append_link(&mut header, "steps/01.md", "/etc/passwd").unwrap();
    let link = builder.into_inner().unwrap();
    let problems = archive::read(&link).unwrap_err();
    assert!(problems[0].message.contains("link"), "{problems:?}");
    assert_eq!(problems[0].file.as_deref(), Some("steps/01.md"));

    // The tar crate refuses to write `..`; a raw header can still carry it.
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..9].copy_from_slice(b"../x.yaml");
    header.set_size(1);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut raw = header.as_bytes().to_vec();
    raw.extend_from_slice(&[b'a'; 512]);
    raw.extend_from_slice(&[0; 1024]);
    // An old-style header has no `ustar` magic; the gzip form is recognised by its own magic.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let problems = archive::read(&gz.finish().unwrap()).unwrap_err();
    assert!(problems[0].message.contains("leave the lab"), "{problems:?}");

    assert!(archive::read(b"id: demo\n").unwrap_err()[0].message.contains("not a tar"));
    let big = vec![0u8; archive::MAX_ARCHIVE_BYTES + 1];
    assert!(archive::read(&big).unwrap_err()[0].message.contains("8 MiB"));
    let content = vec![b'#'; MAX_FILE_BYTES + 1];
    let huge = tar(&[("lab.yaml", content.as_slice())], true);
    assert!(archive::read(&huge).unwrap_err()[0].message.contains("at most"));
}

fn app(name: &str, desired: u32, ready: u32, revision: u64) -> AppFact {
    AppFact { name: name.into(), desired, ready, revision }
}

fn event(kind: &str, app: Option<&str>) -> EventFact {
    EventFact { kind: kind.into(), app: app.map(Into::into) }
}

fn alert(rule: &str, app: Option<&str>) -> AlertFact {
    AlertFact { rule: rule.into(), app: app.map(Into::into) }
}

#[test]
fn every_check_kind_is_decided_from_the_snapshot() {
    let snapshot = Snapshot {
        apps: vec![app("web", 3, 2, 2)],
        events: vec![
            event("instance.died", Some("web")),
            event("instance.died", Some("web")),
            event("policy.denied", Some("bad")),
            event("rollout.rolled_back", Some("web")),
        ],
        firing: vec![alert("HighRPS", Some("web"))],
        fired: vec![alert("HighRPS", Some("web")), alert("Down", None)],
    };
    let s = |t: &str| t.to_string();
    let cases: Vec<(Check, bool, &str)> = vec![
        (Check::AppReady { app: s("web"), min: 2 }, true, "2 of 3 ready"),
        (Check::AppReady { app: s("web"), min: 3 }, false, "2 of 3 ready"),
        (Check::AppReady { app: s("db"), min: 1 }, false, "app db does not exist"),
        (Check::ReplicasAtLeast { app: s("web"), min: 3 }, true, "3 replicas asked for"),
        (Check::ReplicasAtLeast { app: s("web"), min: 4 }, false, "3 replicas asked for"),
        (Check::ReplicasAtMost { app: s("web"), max: 3 }, true, "3 replicas asked for"),
        (Check::ReplicasAtMost { app: s("web"), max: 1 }, false, "3 replicas asked for"),
        (Check::RevisionAtLeast { app: s("web"), min: 2 }, true, "revision 2"),
        (Check::RevisionAtLeast { app: s("web"), min: 3 }, false, "revision 2"),
        (Check::AppPresent { app: s("web") }, true, "2 of 3 ready"),
        (Check::AppPresent { app: s("db") }, false, "app db does not exist"),
        (Check::AppAbsent { app: s("bad") }, true, "app bad does not exist"),
        (Check::AppAbsent { app: s("web") }, false, "app web exists"),
        (Check::Event { kind: s("instance.died"), app: None, count: 2 }, true, "2 recorded"),
        (Check::Event { kind: s("instance.died"), app: Some(s("web")), count: 3 }, false, "2 recorded"),
        (Check::Event { kind: s("instance.died"), app: Some(s("db")), count: 1 }, false, "0 recorded"),
        (Check::AlertFired { rule: s("Down"), app: None }, true, "fired"),
        (Check::AlertFired { rule: s("HighRPS"), app: Some(s("db")) }, false, "not fired yet"),
        (Check::AlertFiring { rule: s("HighRPS"), app: Some(s("web")) }, true, "firing"),
        (Check::AlertFiring { rule: s("Down"), app: None }, false, "not firing"),
        (Check::Rollback { app: s("web") }, true, "1 rollback"),
        (Check::Rollback { app: s("db") }, false, "0 rollbacks"),
        (Check::PolicyDenied { app: Some(s("bad")) }, true, "1 denial"),
        (Check::PolicyDenied { app: None }, true, "1 denial"),
        (Check::PolicyDenied { app: Some(s("web")) }, false, "0 denials"),
    ];
    for (check, passed, observed) in cases {
        let got = evaluate(&check, &snapshot);
        assert_eq!((got.passed, got.observed.as_str()), (passed, observed), "{check:?}");
        assert!(!check.describe().is_empty());
    }
    let undo = Snapshot { events: vec![event("rollout.undo", Some("web"))], ..Snapshot::default() };
    assert!(evaluate(&Check::Rollback { app: s("web") }, &undo).passed);
}

#[test]
fn every_check_kind_reads_as_a_sentence() {
    let s = |t: &str| t.to_string();
    let cases: Vec<(Check, &str)> = vec![
        (Check::AppReady { app: s("web"), min: 1 }, "app web has at least 1 ready instance"),
        (Check::ReplicasAtLeast { app: s("web"), min: 5 }, "app web asks for at least 5 replicas"),
        (Check::ReplicasAtMost { app: s("web"), max: 1 }, "app web asks for at most 1 replica"),
        (Check::RevisionAtLeast { app: s("web"), min: 2 }, "app web runs revision 2 or later"),
        (Check::AppPresent { app: s("web") }, "app web exists"),
        (Check::AppAbsent { app: s("bad") }, "app bad does not exist"),
        (
            Check::Event { kind: s("instance.replaced"), app: Some(s("web")), count: 1 },
            "`instance.replaced` was recorded for app web",
        ),
        (Check::Event { kind: s("instance.died"), app: None, count: 3 }, "`instance.died` was recorded 3 times"),
        (Check::AlertFired { rule: s("HighRPS"), app: None }, "alert HighRPS fired"),
        (Check::AlertFiring { rule: s("HighRPS"), app: Some(s("web")) }, "alert HighRPS is firing for app web"),
        (Check::Rollback { app: s("web") }, "app web was rolled back"),
        (Check::PolicyDenied { app: Some(s("bad")) }, "a policy refused a change of app bad"),
    ];
    for (check, text) in cases {
        assert_eq!(check.describe(), text);
    }
}

#[test]
fn a_step_is_done_when_all_its_checks_hold_at_once_and_stays_done() {
    let lab = parse(
        &files(&GOOD.replace(
            "      - app_ready: {app: web, min: 3}\n",
            "      - app_ready: {app: web, min: 3}\n      - event: {kind: instance.died, app: web}\n",
        )),
        &context(),
    )
    .unwrap();
    let ready = Snapshot { apps: vec![app("web", 3, 3, 1)], ..Snapshot::default() };
    let step = &progress(&lab.steps, &ready, &[])[0];
    assert_eq!((step.passed_now, step.done, step.newly_done), (false, false, false));
    assert_eq!(step.checks.iter().map(|c| c.passed).collect::<Vec<_>>(), [true, false]);

    let healed = Snapshot { events: vec![event("instance.died", Some("web"))], ..ready.clone() };
    let step = &progress(&lab.steps, &healed, &[false])[0];
    assert_eq!((step.passed_now, step.done, step.newly_done), (true, true, true));

    let degraded = Snapshot { apps: vec![app("web", 3, 1, 1)], ..healed };
    let step = &progress(&lab.steps, &degraded, &[true])[0];
    assert_eq!((step.passed_now, step.done, step.newly_done), (false, true, false));
}

#[test]
fn every_shipped_lab_parses_and_every_asset_is_embedded() {
    let kinds: Vec<&str> = KINDS.iter().copied().chain(["alert.firing", "app.created"]).collect();
    let shipped = shipped();
    assert!(shipped.len() >= 4);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/labs");
    let mut on_disk: Vec<String> = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                on_disk.push(path.strip_prefix(&root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    on_disk.sort();
    let mut embedded: Vec<String> =
        shipped.iter().flat_map(|(dir, files)| files.iter().map(move |(p, _)| format!("{dir}/{p}"))).collect();
    embedded.sort();
    assert_eq!(embedded, on_disk, "every file of assets/labs is embedded by lab/shipped.rs");
    for (dir, files) in &shipped {
        let lab = parse(files, &Context { event_kinds: &kinds }).unwrap_or_else(|e| panic!("{dir}: {e:#?}"));
        assert_eq!(&lab.id, dir, "a shipped lab's id is its folder's name");
        let images: Vec<String> = lab
            .resources
            .apps
            .iter()
            .flat_map(|a| crate::validate::parse_specs(&a.yaml).unwrap())
            .map(|s| s.image)
            .collect();
        let demo = format!("crane-demo:{}", env!("CARGO_PKG_VERSION"));
        assert!(images.iter().all(|i| *i == demo), "{dir} runs offline on the demo image: {images:?}");
    }
}
