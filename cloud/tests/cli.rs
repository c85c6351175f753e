//! The `lungdesk-cloud` binary refuses a scope-less token, a suppression threshold that would
//! publish single cases, and plain HTTP on a network address, and writes nothing for them.

use std::process::Command;

fn cloud(args: &[&str], db: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lungdesk-cloud"))
        .args(args)
        .env("LUNGDESK_CLOUD_DB", db)
        .output()
        .expect("run lungdesk-cloud")
}

#[test]
fn an_empty_site_a_min_count_under_3_and_plain_http_on_the_network_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("cloud.sqlite").display());
    let empty_site = cloud(&["token", "--reader", "R-1", "--site", ""], &db);
    assert!(!empty_site.status.success(), "token --site '' must fail");
    assert!(String::from_utf8_lossy(&empty_site.stderr).contains("site"), "{empty_site:?}");
    assert!(empty_site.stdout.is_empty(), "no token printed");
    let good = cloud(&["token", "--reader", "R-1", "--site", "NAGOYA-U"], &db);
    assert!(good.status.success(), "{good:?}");
    assert_eq!(String::from_utf8_lossy(&good.stdout).trim().len(), 64, "one token printed");
    let plain = cloud(&["serve", "--listen", "0.0.0.0:0"], &db);
    assert!(!plain.status.success(), "plain HTTP on 0.0.0.0 without --insecure-http is refused");
    assert!(String::from_utf8_lossy(&plain.stderr).contains("--insecure-http"), "{plain:?}");
    for low in ["0", "2"] {
        let serve = cloud(&["serve", "--listen", "127.0.0.1:0", "--min-count", low], &db);
        assert!(!serve.status.success(), "--min-count {low} must be refused");
        assert!(String::from_utf8_lossy(&serve.stderr).contains("min-count"), "{serve:?}");
    }
}

/// `tokens` lists ids, never tokens; `revoke --id` revokes one (and refuses an unknown id).
#[test]
fn tokens_are_listed_and_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("cloud.sqlite").display());
    let issued = cloud(&["token", "--reader", "R-1", "--site", "NAGOYA-U"], &db);
    let token = String::from_utf8_lossy(&issued.stdout).trim().to_owned();
    let listed = String::from_utf8_lossy(&cloud(&["tokens"], &db).stdout).into_owned();
    let id = listed.split('\t').next().expect("id").to_owned();
    assert_eq!(id.len(), 12, "{listed}");
    assert!(!listed.contains(&token) && !listed.contains("revoked"), "{listed}");
    assert!(cloud(&["revoke", "--id", &id], &db).status.success());
    assert!(String::from_utf8_lossy(&cloud(&["tokens"], &db).stdout).contains("revoked"));
    let unknown = cloud(&["revoke", "--id", "000000000000"], &db);
    assert!(!unknown.status.success() && String::from_utf8_lossy(&unknown.stderr).contains("no token"), "{unknown:?}");
}
