//! Two desks (two readers of one site) and the dataset service on loopback, end to end with
//! egui_kittest: reader A labels offline with the keyboard, reconnects, and the sync state goes
//! from waiting to sent; reader B labels the same cases and sees A's labels for adjudication;
//! the Surveillance tab plots counts that match what was labelled. Run on SQLite and on
//! PostgreSQL. The cases are SYNTHETIC phantoms; their grades are made up by the test.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{Key, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use lungdesk::desk::{Action, Desk, Phase};
use lungdesk::sync::{SyncSettings, SyncTiming};
use lungdesk_cloud::server::backends::TestDatabase;
use lungdesk_cloud::server::{Config, DriftConfig, Principal, RunningService, issue_token};
use lungdesk_cloud::{Role, Source};
use lungdesk_store::{Identity, SyncState};
use lungdesk_volume::phantom::{PhantomSpec, write_phantom_series};
use support::faults::{Fault, FaultProxy};

fn desk(store: &Path, reader: &str) -> Harness<'static, Desk> {
    let mut h = open_desk(store);
    h.state_mut().edit_identity(|form| {
        form.identity = Identity {
            reader_id: reader.into(),
            display_name: format!("Reader {reader}"),
            site_code: "NAGOYA-U".into(),
            postal_code: "466-8560".into(),
            site_key: Some(lungdesk_store::SiteKey::from_bytes([7; 32])),
        };
    });
    h.state_mut().apply(Action::SaveIdentity);
    settle(&mut h);
    h
}

/// The desk on `store`, settled, its sync timing shortened, nothing entered.
fn open_desk(store: &Path) -> Harness<'static, Desk> {
    let mut desk = Desk::new(None, store.to_owned());
    desk.viewer.analysis_settings.cache_dir = None;
    desk.viewer.analyse_on_load = false;
    desk.sync_timing = SyncTiming {
        timeout: Duration::from_secs(2),
        backoff_start: Duration::from_millis(50),
        backoff_max: Duration::from_millis(300),
        idle_poll: Duration::from_millis(200),
        batch: 50,
    };
    let mut h = Harness::builder()
        .with_size(Vec2::new(1500.0, 900.0))
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, desk: &mut Desk| desk.ui(ui), desk);
    settle(&mut h);
    h
}

fn settle(h: &mut Harness<'static, Desk>) {
    wait(h, "the desk to settle", |d| d.is_idle() && !matches!(d.model().phase(), Phase::Opening));
}

/// Runs frames until `done` holds for the desk.
fn wait(h: &mut Harness<'static, Desk>, what: &str, done: impl Fn(&Desk) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            h.step();
            return;
        }
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "timed out waiting for {what}: {:?}",
            h.state().model().cloud().status
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn press(h: &mut Harness<'static, Desk>, key: Key) {
    h.key_press(key);
    h.step();
}

/// Grades every case in the worklist with the keyboard: J, then (grade, P, Enter) per case.
fn label_all(h: &mut Harness<'static, Desk>, grades: &[Key]) {
    press(h, Key::J);
    settle(h);
    for &g in grades {
        press(h, g);
        press(h, Key::P);
        settle(h);
        press(h, Key::Enter);
        settle(h);
    }
}

fn connect(h: &mut Harness<'static, Desk>, url: &str, token: &str) {
    press(h, Key::F7);
    h.state_mut().apply(Action::Connect(SyncSettings { url: url.into(), token: token.into() }));
    h.step();
}

#[test]
fn two_readers_label_offline_reconnect_and_see_the_national_counts_plotted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    for seed in 1..=3 {
        let spec = PhantomSpec { dims: [40, 40, 16], seed, ..PhantomSpec::default() };
        write_phantom_series(&spec, &data.join(format!("case-{seed}"))).expect("phantom");
    }
    for db in TestDatabase::both() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let svc = RunningService::start(
            &Config { database_url: db.url.clone(), min_count: 1, drift: DriftConfig::default() },
            listener,
            None,
        )
        .expect("service");
        let token = |reader: &str| {
            let holder = Principal { reader_id: reader.into(), site_code: "NAGOYA-U".into(), role: Role::Reader };
            svc.block_on(issue_token(&svc.db, &holder, 30, "test")).expect("token").token
        };
        let proxy = FaultProxy::start(svc.addr, Fault::Cut);

        // Reader A: the site is offline. Import, label three cases with the keyboard, connect.
        let mut a = desk(&dir.path().join(format!("a-{}.sqlite", db.name)), "R-A");
        a.state_mut().apply(Action::Import(PathBuf::from(&data)));
        settle(&mut a);
        assert_eq!(a.state().model().rows().len(), 3);
        label_all(&mut a, &[Key::Num1, Key::Num1, Key::Num2]);
        connect(&mut a, &format!("http://{}", proxy.addr), &token("R-A"));
        wait(&mut a, "a failed try while offline", |d| d.model().cloud().status.error.is_some());
        wait(&mut a, "per-case sync states", |d| d.model().sync_states().len() == 3);
        assert_eq!(a.state().model().cloud().status.summary.pending, 3, "{:?}", a.state().model().cloud().status);
        assert!(a.state().model().sync_states().values().all(|s| matches!(s, SyncState::Pending { .. })));
        let (line, _) = lungdesk::cloud_ui::status_line(lungdesk::i18n::Lang::En, a.state().model().cloud());
        assert!(line.starts_with("Sync: offline, 3 waiting"), "{line}");

        // The network comes back: everything is sent.
        proxy.set(Fault::None);
        wait(&mut a, "A's labels sent", |d| {
            d.model().cloud().status.summary.sent == 3
                && d.model().sync_states().values().all(|s| *s == SyncState::Sent)
        });
        assert!(a.state().model().cloud().status.error.is_none());

        // Reader B, same site, same studies: disagrees on the first case, agrees on the second.
        let mut b = desk(&dir.path().join(format!("b-{}.sqlite", db.name)), "R-B");
        b.state_mut().apply(Action::Import(PathBuf::from(&data)));
        settle(&mut b);
        connect(&mut b, &format!("http://{}", svc.addr), &token("R-B"));
        wait(&mut b, "A's labels pulled", |d| d.model().cloud().status.pulled >= 3);
        label_all(&mut b, &[Key::Num3, Key::Num1]);
        wait(&mut b, "B's labels sent", |d| d.model().cloud().status.summary.sent == 2);
        // B opens the first case: A's label is there, for adjudication.
        let first = b.state().model().rows()[0].case_id;
        b.state_mut().apply(Action::Open(first));
        settle(&mut b);
        let shared = &b.state().model().current().expect("open").shared;
        assert!(shared.iter().any(|l| l.reader_id == "R-A" && l.grade == 1), "{shared:?}");

        // A's Surveillance tab: three cases on 2026-04-01, each counted once by its latest
        // confirmed label — case 1 grade 3 (B), case 2 grade 1 (B), case 3 grade 2 (A).
        wait(&mut a, "B's labels pulled by A", |d| d.model().cloud().status.pulled >= 2);
        press(&mut a, Key::F7);
        wait(&mut a, "the counts", |d| matches!(d.model().cloud().counts, Some(Ok(_))));
        let series = a.state().model().cloud().plotted();
        let on = |grade: u8| {
            series.iter().find(|s| s.grade == grade).expect("series").points.iter().map(|p| p.1).sum::<i64>()
        };
        assert_eq!((on(1), on(2), on(3), on(4)), (1, 1, 1, 0), "{} {series:?}", db.name);
        assert!(series.iter().all(|s| s.points.iter().all(|p| p.0 == "2026-04-01")), "the phantoms' exam date");
        assert_eq!(a.state().model().cloud().query.source, Some(Source::Radiologist));
        // Beside them the AI-only counts of the bundled set and its drift monitor, fetched
        // with them (a reader reads their own site's monitor).
        let panel = a.state().model().cloud();
        let Some(Ok(view)) = &panel.counts else { unreachable!("waited for above") };
        let ai = view.ai.as_ref().expect("AI-only counts");
        assert_eq!(ai.model_set, "bundled");
        let drift = view.drift.as_ref().expect("the drift monitor");
        assert!(drift.monitors.iter().all(|m| m.site_code == "NAGOYA-U"), "{drift:?}");
        assert_eq!(panel.compared().confirmed.iter().map(|p| p.1).sum::<i64>(), 3);
        a.get_by_label("Surveillance: daily CT-based pneumonia counts");
        drop(a);
        drop(b);
        svc.kill();
    }
}

/// A store made before site keys, with a confirmed label queued and the service's address and
/// token saved: the desk sends nothing while it asks for the site key, and once the key is
/// entered the label goes out under the case key made with it.
#[test]
fn a_desk_without_its_site_key_sends_nothing_until_the_key_is_entered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    write_phantom_series(&PhantomSpec { dims: [40, 40, 16], seed: 1, ..PhantomSpec::default() }, &data)
        .expect("phantom");
    let db = TestDatabase::sqlite();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let svc = RunningService::start(
        &Config { database_url: db.url.clone(), min_count: 1, drift: DriftConfig::default() },
        listener,
        None,
    )
    .expect("service");
    let holder = Principal { reader_id: "R-A".into(), site_code: "NAGOYA-U".into(), role: Role::Reader };
    let token = svc.block_on(issue_token(&svc.db, &holder, 30, "test")).expect("token").token;
    let store = dir.path().join("a.sqlite");
    {
        let mut a = desk(&store, "R-A");
        a.state_mut().apply(Action::Import(PathBuf::from(&data)));
        settle(&mut a);
        label_all(&mut a, &[Key::Num1]);
    }
    // As a store from before site keys holds it: the identity without a key; the service saved.
    let study_uid: String = {
        let s = lungdesk_store::Store::open(&store).expect("store");
        let old = r#"{"reader_id":"R-A","display_name":"Reader R-A","site_code":"NAGOYA-U","postal_code":"466-8560"}"#;
        s.set_setting("identity", old).expect("identity");
        let cloud = lungdesk::sync::SyncSettings { url: format!("http://{}", svc.addr), token };
        s.set_setting(lungdesk::sync::SyncSettings::KEY, &serde_json::to_string(&cloud).expect("json")).expect("cloud");
        s.connection().query_row("SELECT study_uid FROM cases", [], |r| r.get(0)).expect("study")
    };
    let mut a = open_desk(&store);
    assert!(matches!(a.state().model().phase(), Phase::Identity(_)), "the key is asked for");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        a.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(svc.block_on(svc.db.count_rows("labels")).expect("count"), 0, "nothing sent without the key");
    let key = lungdesk_store::SiteKey::from_bytes([9; 32]);
    a.state_mut().edit_identity(|form| form.site_key_text = key.reveal());
    a.state_mut().apply(Action::SaveIdentity);
    settle(&mut a);
    assert!(matches!(a.state().model().phase(), Phase::Ready));
    wait(&mut a, "the label sent", |d| d.model().cloud().status.summary.sent == 1);
    let stored: Vec<String> =
        svc.block_on(svc.db.labels(None, 0, 10)).expect("labels").into_iter().map(|l| l.case_key).collect();
    assert_eq!(stored, vec![key.case_key("NAGOYA-U", &study_uid)]);
    svc.kill();
}
