//! Every request leaves one access-log line (route, status, latency, token id), refused ones
//! too, and no line carries the token, a password, the query string or the body. Alone in its
//! test binary: the log is captured by a process-wide subscriber, which sees the service's own
//! threads.

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lungdesk_cloud::server::backends::TestDatabase;
use lungdesk_cloud::server::{Config, DriftConfig, Principal, RunningService, issue_token};
use lungdesk_cloud::{Client, Role};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn every_request_is_logged_without_its_token_or_body() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();
    for db in TestDatabase::both() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let svc = RunningService::start(
            &Config { database_url: db.url.clone(), min_count: 3, drift: DriftConfig::default() },
            listener,
            None,
        )
        .expect("service");
        let holder = Principal { reader_id: "R-LOG".into(), site_code: "NAGOYA-U".into(), role: Role::Reader };
        let token = svc.block_on(issue_token(&svc.db, &holder, 30, "test")).expect("token").token;
        let http = reqwest::blocking::Client::new();
        let base = format!("http://{}", svc.addr);
        let secret_body = r#"{"schema":"lungdesk-label/1","note":"YAMADA^TARO"}"#;
        let refused =
            http.post(format!("{base}/v1/labels")).header("Content-Type", "application/json").body(secret_body).send();
        assert_eq!(refused.expect("send").status(), 401);
        let pulled =
            Client::new(&base, &token, Duration::from_secs(10), None).expect("client").pull(0, 10).expect("pull");
        assert!(pulled.is_empty());
        let bad_query = http.get(format!("{base}/v1/surveillance?password=hunter2")).bearer_auth(&token).send();
        assert_eq!(bad_query.expect("send").status(), 400);
        svc.kill();
        let log = String::from_utf8(captured.0.lock().expect("log").clone()).expect("utf-8");
        let access: Vec<&str> = log.lines().filter(|l| l.contains("lungdesk_cloud::access")).collect();
        let token_id = &lungdesk_cloud::server::db::token_hash(&token)[..12];
        assert!(access.iter().any(|l| l.contains("route=/v1/labels") && l.contains("status=401")), "{log}");
        assert!(access.iter().any(|l| l.contains("status=200") && l.contains(token_id)), "{log}");
        assert!(access.iter().any(|l| l.contains("route=/v1/surveillance") && l.contains("status=400")), "{log}");
        for secret in [token.as_str(), "hunter2", "YAMADA", "password="] {
            assert!(!log.contains(secret), "{secret:?} leaked into the log ({})", db.name);
        }
        captured.0.lock().expect("log").clear();
    }
}
