//! The built `openpile` binary: import (success, and failure writing nothing), configuration
//! errors, create-user, migrate, and `demo` end to end.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use openpile_core::ids::StationId;
use openpile_core::operator::Email;
use openpile_core::page::PageRequest;
use openpile_server::startup::Stores;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_openpile");

/// Runs the binary in `dir` (so no ./openpile.toml of the developer is read) with `env`.
fn openpile(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run openpile")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn db_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("cli.db").display())
}

async fn station_count(url: &str) -> usize {
    let stores = Stores::open(url).await.unwrap();
    let page = stores
        .network
        .list_stations(&PageRequest::first(500), true)
        .await
        .unwrap();
    stores.backend.close().await;
    page.items.len()
}

fn small_network() -> serde_json::Value {
    json!({
        "tariffs": [{
            "id": "T-1", "name": "全天统一价", "version": 1,
            "effective_from": "2026-01-01T00:00:00+08:00",
            "segments": [{"start": "00:00", "end": "24:00", "electricity_price": "0.8", "service_price": "0.6"}]
        }],
        "stations": [{
            "id": "ST-1", "name": "测试站", "address": "上海市浦东新区祖冲之路2288号",
            "area_code": "310115", "province": "上海市", "city": "上海市", "district": "浦东新区",
            "lat": 31.2, "lng": 121.5, "opening_hours": "24/7", "service_phone": "400-820-1234",
            "tariff_id": "T-1",
            "chargers": [{
                "id": "CP-1", "vendor": "星星充电", "model": "AC7", "current_type": "AC",
                "max_power_kw": "7", "ocpp_password": "imported-pw-123",
                "connectors": [{"number": 1, "standard": "gbt_ac", "max_power_kw": "7", "voltage_v": 220, "current_a": 32}]
            }]
        }]
    })
}

#[tokio::test]
async fn import_writes_a_valid_file_and_reports_counts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("network.json");
    std::fs::write(&file, small_network().to_string()).unwrap();
    let url = db_url(dir.path());
    let out = openpile(dir.path(), &["import", "--db", &url, "network.json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("1 tariff versions, 1 stations, 1 chargers, 1 connectors"),
        "{stdout}"
    );
    assert_eq!(station_count(&url).await, 1);

    // The charger password was hashed on the way in.
    let stores = Stores::open(&url).await.unwrap();
    let creds = stores
        .chargers
        .charger_credentials(&openpile_core::ids::ChargerId::parse("CP-1").unwrap())
        .await
        .unwrap();
    assert!(openpile_secrets::verify_password(
        "imported-pw-123",
        &creds.password_hash.unwrap()
    ));
    stores.backend.close().await;

    // A second file may refer to what the store already has.
    let more = json!({"stations": [{
        "id": "ST-2", "name": "第二站", "address": "上海市浦东新区科苑路1号",
        "area_code": "310115", "province": "上海市", "city": "上海市", "district": "浦东新区",
        "lat": 31.21, "lng": 121.51, "opening_hours": "08:00-22:00", "service_phone": "021-1234 5678",
        "tariff_id": "T-1", "chargers": []
    }]});
    std::fs::write(dir.path().join("more.json"), more.to_string()).unwrap();
    let out = openpile(dir.path(), &["import", "--db", &url, "more.json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(station_count(&url).await, 2);
}

#[tokio::test]
async fn an_invalid_import_reports_every_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = small_network();
    network["stations"][0]["chargers"][0]["max_power_kw"] = json!("7.25");
    network["stations"][0]["chargers"][0]["connectors"][0]["standard"] = json!("tesla");
    network["stations"][0]["area_code"] = json!("990000");
    std::fs::write(dir.path().join("bad.json"), network.to_string()).unwrap();
    let url = db_url(dir.path());
    let out = openpile(dir.path(), &["import", "--db", &url, "bad.json"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("nothing was written"), "{stderr}");
    for needle in ["area_code", "max_power_kw", "standard", "stations[0]"] {
        assert!(stderr.contains(needle), "{needle} not in {stderr}");
    }
    assert_eq!(station_count(&url).await, 0);
}

#[tokio::test]
async fn csv_errors_name_the_file_and_row_and_references_are_checked_against_the_store() {
    let dir = tempfile::tempdir().unwrap();
    // Chargers for a station that is neither in the files nor in the store, and a bad row.
    std::fs::write(
        dir.path().join("chargers.csv"),
        "charger_id,station_id,vendor,model,serial,current_type,max_power_kw,firmware,ocpp_password\n\
         CP-1,ST-404,星星充电,AC7,,AC,7,,password-123\n\
         CP-2,ST-404,星星充电,AC7,,AC,seven,,password-123\n",
    )
    .unwrap();
    let url = db_url(dir.path());
    let out = openpile(dir.path(), &["import", "--db", &url, "chargers.csv"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("chargers.csv row 3"), "{stderr}");
    assert!(stderr.contains("max_power_kw"), "{stderr}");

    std::fs::write(
        dir.path().join("chargers.csv"),
        "charger_id,station_id,vendor,model,serial,current_type,max_power_kw,firmware,ocpp_password\n\
         CP-1,ST-404,星星充电,AC7,,AC,7,,password-123\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("connectors.csv"),
        "charger_id,number,connector_id,standard,max_power_kw,voltage_v,current_a\n\
         CP-1,1,,gbt_ac,7,220,32\n",
    )
    .unwrap();
    let out = openpile(
        dir.path(),
        &["import", "--db", &url, "chargers.csv", "connectors.csv"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("chargers.csv row 2"), "{stderr}");
    assert!(stderr.contains("ST-404"), "{stderr}");

    // Mixed formats are a usage error.
    std::fs::write(dir.path().join("n.json"), "{}").unwrap();
    let out = openpile(
        dir.path(),
        &["import", "--db", &url, "n.json", "chargers.csv"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn the_shipped_csv_demo_set_imports() {
    let dir = tempfile::tempdir().unwrap();
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/csv");
    let mut args = vec!["import".to_owned(), "--db".to_owned(), db_url(dir.path())];
    for f in [
        "tariffs.csv",
        "stations.csv",
        "chargers.csv",
        "connectors.csv",
    ] {
        args.push(csv.join(f).display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = openpile(dir.path(), &args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(station_count(&db_url(dir.path())).await > 0);
}

#[test]
fn invalid_configuration_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = db_url(dir.path());
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("OPENPILE__HTTP__ADDR", "not-an-address")], "http.addr"),
        (
            &[("OPENPILE__LOCAL__TIMEZONE", "Moon/Base")],
            "local.timezone",
        ),
        (&[("OPENPILE__LOG__FORMAT", "yaml")], "log.format"),
    ];
    for (env, key) in cases {
        let out = openpile(dir.path(), &["migrate", "--db", &url], env);
        assert_eq!(out.status.code(), Some(2), "{env:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(key), "{key} not in {stderr}");
        assert!(stderr.contains(env[0].0), "{stderr}");
    }
    // A file with an unknown key.
    std::fs::write(dir.path().join("openpile.toml"), "[http]\nbody_limt = 10\n").unwrap();
    let out = openpile(dir.path(), &["migrate", "--db", &url], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("http.body_limt"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_file(dir.path().join("openpile.toml")).unwrap();
    // A named file that does not exist.
    let out = openpile(dir.path(), &["migrate", "--config", "nope.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    // PostgreSQL is not there yet, and says so.
    let out = openpile(
        dir.path(),
        &["migrate", "--db", "postgres://u:secret@localhost/x"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not supported yet"), "{stderr}");
    assert!(!stderr.contains("secret"), "the password leaked: {stderr}");
    // Unknown variables only warn.
    let out = openpile(
        dir.path(),
        &["migrate", "--db", &url],
        &[("OPENPILE__HTTP__ADRESS", "x")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("OPENPILE__HTTP__ADRESS"));
}

#[tokio::test]
async fn create_user_generates_a_password_once_and_refuses_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let url = db_url(dir.path());
    let args = [
        "admin",
        "create-user",
        "--email",
        "Chief@Example.com",
        "--role",
        "admin",
        "--db",
        &url,
    ];
    let out = openpile(dir.path(), &args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("the generated password is printed")
        .to_owned();
    assert!(password.len() >= 20);

    let stores = Stores::open(&url).await.unwrap();
    let account = stores
        .operators
        .find_operator_by_email(&Email::parse("chief@example.com").unwrap())
        .await
        .unwrap();
    assert!(openpile_secrets::verify_password(
        &password,
        &account.password_hash
    ));
    stores.backend.close().await;

    let out = openpile(dir.path(), &args, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("already exists"));

    let out = openpile(
        dir.path(),
        &[
            "admin",
            "create-user",
            "--email",
            "x@example.com",
            "--role",
            "root",
            "--db",
            &url,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--role"));

    // A password from stdin.
    let mut child = Command::new(BIN)
        .args([
            "admin",
            "create-user",
            "--email",
            "ops2@example.com",
            "--role",
            "operations",
            "--password-stdin",
            "--db",
            &url,
        ])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough passphrase\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("passphrase"));
}

/// Kills the demo child if a test fails half-way.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn demo_starts_loads_the_network_and_serves_the_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let mut child = Child(
        Command::new(BIN)
            .args(["demo", "--http-addr", "127.0.0.1:0", "--db", &url])
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The banner is printed once the port is bound; read it on a thread so a hang fails the
    // test instead of blocking it.
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut base = None;
    let mut password = None;
    let mut email = None;
    while base.is_none() || password.is_none() || email.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the demo prints its banner");
        if let Some(url) = line.strip_prefix("OpenPile demo is running at ") {
            base = Some(url.trim().to_owned());
        }
        if let Some(p) = line.trim().strip_prefix("password:") {
            password = Some(p.trim().to_owned());
        }
        if let Some(e) = line.trim().strip_prefix("email:") {
            email = Some(e.trim().to_owned());
        }
    }
    let (base, password, email) = (base.unwrap(), password.unwrap(), email.unwrap());
    let client = reqwest::Client::new();
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let login: serde_json::Value = client
        .post(format!("{base}/admin/v1/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("the printed login works");
    let stations: serde_json::Value = client
        .get(format!("{base}/admin/v1/stations?limit=500"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = stations["items"].as_array().unwrap();
    assert!(items.len() >= 20, "{} demo stations", items.len());
    assert!(items.iter().any(|s| s["id"] == "SH-0101"));

    // SIGTERM stops it gracefully.
    let pid = child.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");

    // Started again on the same database it keeps the data and prints a new password.
    let stores = Stores::open(&url).await.unwrap();
    assert!(
        stores
            .network
            .get_station(&StationId::parse("SH-0101").unwrap())
            .await
            .is_ok()
    );
    stores.backend.close().await;
}
