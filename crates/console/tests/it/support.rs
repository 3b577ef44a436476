//! Test fixtures: a SQLite store in a temporary file seeded with a small network and one
//! operator per role, a settable clock, a scripted charger gateway, and a cookie-keeping client
//! that drives the console router in process; and the browser helpers (chromedriver, a
//! headless Chromium session, screenshots, waiting for elements) every browser test shares.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::{DateTime, SubsecRound, TimeDelta, TimeZone, Utc};
use fantoccini::{ClientBuilder, Locator};
use openpile_console::{ConsoleConfig, ConsoleState};
use openpile_core::clock::Clock;
use openpile_core::geo::{Coordinates, Datum};
use openpile_core::ids::UuidV7Ids;
use openpile_core::ids::{ChargerId, ConnectorId, ConnectorNumber, StationId, TariffId};
use openpile_core::money::UnitPrice;
use openpile_core::network::{
    AreaCode, Charger, Connector, ConnectorStandard, CurrentType, OpeningHours, Registration,
    Station, StationStatus,
};
use openpile_core::operator::{Email, OperatorRole};
use openpile_core::partner::ports::{CredentialCrypto, CryptoError};
use openpile_core::partner::service::{PartnerConfig, PartnerService};
use openpile_core::ports::{
    ChargerCommand, ChargerGateway, ChargerStore, CommandReply, GatewayError, NetworkBatch,
    NetworkStore, OperatorStore, ReportedStatus,
};
use openpile_core::status::ChargePointStatus;
use openpile_core::tariff::{DayMinute, Tariff, TariffSegment};
use openpile_store_sqlite::SqliteStore;
use rust_decimal::Decimal;
use tower::ServiceExt as _;

pub const PASSWORD: &str = "correct horse battery";
pub const STATION: &str = "SH-0001";
pub const CHARGER: &str = "SH0001-01";
pub const CHARGER_2: &str = "SH0001-02";
pub const CONNECTOR: &str = "SH0001-01-1";
pub const TARIFF: &str = "T-SH";
pub const SANDBOX_STATION: &str = "SBX-0001";
pub const SANDBOX_CHARGER: &str = "SBX0001-01";

/// A clock tests can move.
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn new() -> Self {
        Self(Mutex::new(Utc::now().trunc_subsecs(3)))
    }

    pub fn advance(&self, by: TimeDelta) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A gateway that answers every command with a scripted reply and records what it was sent.
#[derive(Default)]
pub struct FakeGateway {
    pub connected: Mutex<HashSet<String>>,
    pub reply: Mutex<Option<Result<CommandReply, GatewayError>>>,
    pub sent: Mutex<Vec<(String, ChargerCommand)>>,
}

impl FakeGateway {
    pub fn answer(&self, r: Result<CommandReply, GatewayError>) {
        *self.reply.lock().unwrap() = Some(r);
    }

    pub fn sent(&self) -> Vec<(String, ChargerCommand)> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl ChargerGateway for FakeGateway {
    async fn send(
        &self,
        charger: &ChargerId,
        command: ChargerCommand,
    ) -> Result<CommandReply, GatewayError> {
        self.sent
            .lock()
            .unwrap()
            .push((charger.to_string(), command));
        self.reply
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(Ok(CommandReply::Status("Accepted".into())))
    }

    fn is_connected(&self, charger: &ChargerId) -> bool {
        self.connected.lock().unwrap().contains(charger.as_str())
    }
}

/// The partner crypto port, with cheap argon2 parameters (tests make many accounts).
pub struct TestCrypto;

#[async_trait]
impl CredentialCrypto for TestCrypto {
    fn random_secret(&self) -> String {
        use base64::Engine as _;
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn digest(&self, value: &str) -> String {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(value.as_bytes()))
    }

    async fn hash_password(&self, password: &str) -> Result<String, CryptoError> {
        use argon2::password_hash::PasswordHasher;
        let params = argon2::Params::new(1024, 1, 1, None).unwrap();
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        Ok(argon
            .hash_password(password.as_bytes())
            .unwrap()
            .to_string())
    }

    async fn verify_password(&self, password: &str, hash: &str) -> bool {
        use argon2::password_hash::PasswordVerifier;
        argon2::password_hash::phc::PasswordHash::new(hash).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    }
}

/// Everything a console test needs.
pub struct Env {
    pub store: SqliteStore,
    pub clock: Arc<TestClock>,
    pub gateway: Arc<FakeGateway>,
    pub state: ConsoleState,
    _dir: tempfile::TempDir,
}

fn seg(start: &str, end: &str, e: &str, s: &str) -> TariffSegment {
    TariffSegment {
        start: DayMinute::parse("start", start).unwrap(),
        end: DayMinute::parse("end", end).unwrap(),
        label: None,
        electricity_price: UnitPrice::parse("e", e).unwrap(),
        service_price: UnitPrice::parse("s", s).unwrap(),
    }
}

pub fn network() -> NetworkBatch {
    let tariff = Tariff::new(
        TariffId::parse(TARIFF).unwrap(),
        "上海工商业分时".into(),
        1,
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        vec![
            seg("22:00", "08:00", "0.3", "0.4"),
            seg("08:00", "22:00", "0.9", "0.6"),
        ],
        None,
    )
    .unwrap();
    let station = Station {
        id: StationId::parse(STATION).unwrap(),
        name: "上海浦东张江充电站".into(),
        address: "上海市浦东新区祖冲之路2288号".into(),
        area_code: AreaCode::parse("310115").unwrap(),
        province: "上海市".into(),
        city: "上海市".into(),
        district: "浦东新区".into(),
        location: Coordinates::new(31.2035, 121.5906, Datum::Wgs84).unwrap(),
        opening_hours: OpeningHours::AlwaysOpen,
        parking: None,
        service_phone: "400-820-1234".into(),
        photos: vec![],
        status: StationStatus::Operational,
        tariff_id: TariffId::parse(TARIFF).unwrap(),
        sandbox: false,
        retired_at: None,
    };
    let sandbox = Station {
        id: StationId::parse(SANDBOX_STATION).unwrap(),
        name: "沙箱测试站".into(),
        sandbox: true,
        ..station.clone()
    };
    let charger_at = |id: &str, station: &str| Charger {
        id: ChargerId::parse(id).unwrap(),
        station_id: StationId::parse(station).unwrap(),
        vendor: "星星充电".into(),
        model: "DC120".into(),
        serial: None,
        current_type: CurrentType::Dc,
        max_power_kw: Decimal::from(120),
        firmware: Some("1.4.2".into()),
        registration: Registration::Registered,
        retired_at: None,
    };
    let charger = |id: &str| charger_at(id, STATION);
    let connector = |charger: &str, n: u32| Connector {
        id: ConnectorId::parse(format!("{charger}-{n}")).unwrap(),
        charger_id: ChargerId::parse(charger).unwrap(),
        number: ConnectorNumber::new(n).unwrap(),
        standard: ConnectorStandard::GbtDc,
        max_power_kw: Decimal::from_str("60").unwrap(),
        voltage_v: 750,
        current_a: 200,
        retired_at: None,
    };
    NetworkBatch {
        tariffs: vec![tariff],
        stations: vec![station, sandbox],
        chargers: vec![
            (charger(CHARGER), None),
            (charger(CHARGER_2), None),
            (charger_at(SANDBOX_CHARGER, SANDBOX_STATION), None),
        ],
        connectors: vec![
            connector(CHARGER, 1),
            connector(CHARGER, 2),
            connector(CHARGER_2, 1),
            connector(SANDBOX_CHARGER, 1),
        ],
    }
}

pub fn email(role: OperatorRole) -> String {
    format!("{}@openpile.test", role.as_str())
}

impl Env {
    pub async fn new() -> Self {
        Self::with_config(ConsoleConfig {
            poll_interval: Duration::from_millis(100),
            ..ConsoleConfig::default()
        })
        .await
    }

    pub async fn with_config(config: ConsoleConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("console.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.import_network(&network()).await.unwrap();
        // One hash for all accounts: argon2 is slow in debug builds.
        let hash = hash(PASSWORD);
        let clock = Arc::new(TestClock::new());
        for role in OperatorRole::ALL {
            store
                .create_operator(
                    &format!("op-{}", role.as_str()),
                    &Email::parse(&email(role)).unwrap(),
                    role,
                    &hash,
                    clock.now(),
                )
                .await
                .unwrap();
        }
        let gateway = Arc::new(FakeGateway::default());
        gateway.connected.lock().unwrap().insert(CHARGER.to_owned());
        let partners = Arc::new(PartnerService::new(
            Arc::new(store.clone()),
            Arc::new(TestCrypto),
            clock.clone(),
            Arc::new(UuidV7Ids),
            None,
            PartnerConfig::default(),
        ));
        let state = ConsoleState::new(
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            gateway.clone(),
            clock.clone(),
            config,
        )
        .with_partners(partners);
        Self {
            store,
            clock,
            gateway,
            state,
            _dir: dir,
        }
    }

    /// The same console without the partner services.
    pub fn without_partners(&self) -> Router {
        openpile_console::router(ConsoleState::new(
            Arc::new(self.store.clone()),
            Arc::new(self.store.clone()),
            self.gateway.clone(),
            self.clock.clone(),
            ConsoleConfig::default(),
        ))
    }

    pub fn router(&self) -> Router {
        openpile_console::router(self.state.clone())
    }

    pub fn client(&self) -> Client {
        Client {
            app: self.router(),
            cookies: HashMap::new(),
        }
    }

    /// A client logged in as the operator of `role`.
    pub async fn login(&self, role: OperatorRole) -> Client {
        let mut c = self.client();
        let r = c.login(&email(role), PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        c
    }

    /// Records a status as the charger-facing face would.
    pub async fn charger_reports(&self, charger: &str, connector: u32, status: ChargePointStatus) {
        self.store
            .record_status(
                &ChargerId::parse(charger).unwrap(),
                &ReportedStatus {
                    connector: Some(ConnectorNumber::new(connector).unwrap()),
                    status,
                    error: None,
                    at: Utc::now().trunc_subsecs(3),
                },
            )
            .await
            .unwrap();
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        self.store
            .list_audit(&openpile_core::page::PageRequest::first(500))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

pub fn hash(password: &str) -> String {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string()
}

/// A response, with the body as text.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the hidden input `name` (the first one on the page).
    pub fn hidden(&self, name: &str) -> String {
        hidden_value(&self.body, name)
    }
}

pub fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in page:\n{html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// Drives the router like a browser: keeps cookies, does not follow redirects.
pub struct Client {
    pub app: Router,
    pub cookies: HashMap<String, String>,
}

impl Client {
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.header(COOKIE, cookie);
        }
        let body = match form {
            Some(pairs) => {
                req = req.header("content-type", "application/x-www-form-urlencoded");
                Body::from(encode_form(pairs))
            }
            None => Body::empty(),
        };
        let res = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        for v in res.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 10 << 20)
            .await
            .unwrap();
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.request(Method::POST, path, Some(form)).await
    }

    /// Fetches the login page (for its CSRF key) and posts the form.
    pub async fn login_with_next(&mut self, email: &str, password: &str, next: &str) -> Resp {
        let page = self
            .get(&format!("/console/login?next={}", urlencode(next)))
            .await;
        let csrf = page.hidden("csrf");
        self.sign_in("/console/login", &csrf, next, email, password)
            .await
    }

    /// Posts a sign-in form (the console's or the portal's, `action`) with its CSRF key.
    pub async fn sign_in(
        &mut self,
        action: &str,
        csrf: &str,
        next: &str,
        email: &str,
        password: &str,
    ) -> Resp {
        self.post(
            action,
            &[
                ("csrf", csrf),
                ("next", next),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    pub async fn login(&mut self, email: &str, password: &str) -> Resp {
        self.login_with_next(email, password, "/console").await
    }

    /// A page's CSRF field and a fresh nonce from one of its forms.
    pub async fn form_keys(&mut self, page: &str) -> (String, String) {
        let r = self.get(page).await;
        assert_eq!(r.status, StatusCode::OK, "{page}: {}", r.body);
        (r.hidden("csrf"), r.hidden("nonce"))
    }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

// ---------------------------------------------------------------------------------------
// Browser helpers (headless Chromium over WebDriver)

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "chromedriver";
/// How long any one wait in the browser may take.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// Kills chromedriver (and with it the browser) when the test ends, however it ends.
pub(crate) struct Driver {
    child: Child,
    pub(crate) port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn found(program: &str) -> bool {
    if Path::new(program).is_absolute() {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Starts chromedriver on a free port and waits for its "started successfully" line.
pub(crate) fn start_driver() -> Driver {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let stdout = child.stdout.take().expect("chromedriver stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("started successfully") => break,
            Some(Ok(_)) => {}
            other => panic!("chromedriver did not start: {other:?}"),
        }
    }
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Driver {
        child,
        port,
        _profile: tempfile::tempdir().unwrap(),
    }
}

pub(crate) async fn browser(driver: &Driver) -> fantoccini::Client {
    let profile = driver._profile.path().display().to_string();
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1366,900", "--lang=zh-CN",
                format!("--user-data-dir={profile}"),
            ],
        },
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!("a JSON object")
    };
    ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

pub(crate) fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves the page as `console-<name>.png`.
pub(crate) async fn shot(b: &fantoccini::Client, name: &str) {
    screenshot(b, &format!("console-{name}")).await;
}

/// Saves the page as `<stem>.png` under the screenshot folder.
pub(crate) async fn screenshot(b: &fantoccini::Client, stem: &str) {
    let png = b.screenshot().await.unwrap();
    let path = screenshot_dir().join(format!("{stem}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

pub(crate) async fn find(b: &fantoccini::Client, css: &str) -> fantoccini::elements::Element {
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}

pub(crate) async fn fill(b: &fantoccini::Client, css: &str, value: &str) {
    let input = find(b, css).await;
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

/// Sets an input's value directly: `datetime-local` inputs take keys in a locale-dependent
/// order, so typing into them is not reliable.
pub(crate) async fn set_value(b: &fantoccini::Client, id: &str, value: &str) {
    b.execute(
        "document.getElementById(arguments[0]).value = arguments[1];",
        vec![id.into(), value.into()],
    )
    .await
    .unwrap();
}

/// Clicks the submit button `css` and waits for the next page to have `expect`.
pub(crate) async fn submit(
    b: &fantoccini::Client,
    css: &str,
    expect: &str,
) -> fantoccini::elements::Element {
    find(b, css).await.click().await.unwrap();
    find(b, expect).await
}

/// True when the browser tools are missing and the calling test should return early (with a
/// loud message); under `CI=true` a missing browser fails the test instead.
pub(crate) fn browser_missing() -> bool {
    if found(CHROMIUM) && found(CHROMEDRIVER) {
        return false;
    }
    let msg = "\n\n!!!!!!!! SKIPPED the browser test: install Debian packages `chromium` and \
               `chromium-driver` to run it !!!!!!!!\n";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}(CI=true: the browser test must run)");
    }
    eprintln!("{msg}");
    true
}

/// Serves `app` on a real port-0 listener; returns the base URL and the server task.
/// Runs `steps` in a real browser against `app` served on a port-0 server (`steps` gets the
/// browser and the server's base URL). The steps run in a task so that a failing step still
/// closes the browser session; their panic is raised again afterwards.
pub(crate) async fn in_browser<F, Fut>(app: Router, steps: F)
where
    F: FnOnce(fantoccini::Client, String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (base, server) = serve(app).await;
    let driver = start_driver();
    let b = browser(&driver).await;
    let outcome = tokio::spawn(steps(b.clone(), base)).await;
    let _ = b.close().await;
    server.abort();
    drop(driver);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

pub(crate) async fn serve(app: Router) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    (base, server)
}

// ---------------------------------------------------------------------------------------
// The live environment: the real server (Open API, admin API, OCPP) over a SQLite file with
// the demo network, partners made through the Open API, simulated chargers over OCPP, and a
// console over the server's own state. Finance's settlement service runs on a clock 45 days
// ahead, so that the month of the test's sessions has ended and its statement can be closed
// and reported (as the server's settlement tests do).

/// The application password of every live partner.
pub(crate) const PARTNER_PASSWORD: &str = "correct horse battery staple";

/// How long a live wait may take.
const LIVE_WAIT: Duration = Duration::from_secs(20);

/// Finance's clock: 45 days after the chargers'.
struct Later(Arc<dyn Clock>);

impl Clock for Later {
    fn now(&self) -> DateTime<Utc> {
        self.0.now() + TimeDelta::days(45)
    }
}

/// A partner with a production token.
pub(crate) struct LivePartner {
    pub(crate) id: String,
    pub(crate) token: String,
}

pub(crate) struct Live {
    pub(crate) shared: openpile_server::startup::Shared,
    /// `http://127.0.0.1:<port>` of the real server.
    pub(crate) base: String,
    ocpp: String,
    pub(crate) http: reqwest::Client,
    admin_token: String,
    /// The console over the server's state (settlement on the later clock).
    pub(crate) console: ConsoleState,
    pub(crate) settlement: Arc<openpile_core::settlement::service::SettlementService>,
    pub(crate) hits: Arc<openpile_core::ops::RateLimitHits>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A valid unified social credit code (GB 32100-2015) for applicant `n`.
fn uscc(n: u32) -> String {
    const CHARSET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let body = format!("91310115MA{n:07}");
    let sum: usize = body
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let v = CHARSET.iter().position(|&c| c == b).unwrap();
            v * 3usize.pow(u32::try_from(i).unwrap()) % 31
        })
        .sum();
    let check = (31 - sum % 31) % 31;
    format!("{body}{}", char::from(CHARSET[check]))
}

fn partner_email(n: u32) -> String {
    format!("partner{n}@example.com")
}

/// A charger that meters every 200 ms and reconnects at once.
pub(crate) fn fast_charger() -> openpile_sim::Behaviour {
    openpile_sim::Behaviour {
        meter_interval: Duration::from_millis(200),
        reconnect_delay: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        reboot_delay: Duration::from_millis(50),
        transaction_message_retry: Duration::from_millis(200),
        ..openpile_sim::Behaviour::default()
    }
}

impl Live {
    pub(crate) async fn start() -> Live {
        use openpile_server::config::Config;
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::defaults();
        config.http.addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        config.db.url = format!("sqlite://{}", dir.path().join("openpile.db").display()).into();
        config.ocpp.call_timeout_s = 1;
        config.charging.start_timeout_s = 5;
        config.charging.stop_retry_s = 1;
        config.charging.update_event_interval_s = 0;
        config.charging.meter_write_interval_s = 0;
        config.charging.sweep_interval_ms = 50;
        config.events.delivery_worker = false;
        // Webhooks of the tests point at the loopback address (never attempted: no worker).
        config.events.allow_private_webhook_targets = true;
        config.validate().unwrap();
        let app = openpile_server::startup::Application::build(config)
            .await
            .unwrap();
        let shared = app.shared().clone();
        openpile_server::demo::import_network(&shared.stores)
            .await
            .unwrap();
        let addr = app.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = app
                .run_until(async {
                    let _ = stopped.await;
                })
                .await;
        });
        // One operator per role for the console, and an admin token for the admin API.
        let hash = hash(PASSWORD);
        let now = Utc::now();
        for role in OperatorRole::ALL {
            shared
                .stores
                .operators
                .create_operator(
                    &format!("op-{}", role.as_str()),
                    &Email::parse(&email(role)).unwrap(),
                    role,
                    &hash,
                    now,
                )
                .await
                .unwrap();
        }
        let (admin_token, sha) = openpile_secrets::new_token();
        shared
            .stores
            .operators
            .create_operator_token(&sha, "op-admin", now, now + TimeDelta::days(1))
            .await
            .unwrap();
        let settlement = Arc::new(openpile_core::settlement::service::SettlementService::new(
            shared.stores.settlement.clone(),
            shared.stores.partners.clone(),
            Arc::new(Later(shared.clock.clone())),
            shared.ids.clone(),
            openpile_core::settlement::service::SettlementConfig {
                time_zone: shared.config.local.tz(),
                ..openpile_core::settlement::service::SettlementConfig::default()
            },
        ));
        let hits = Arc::new(openpile_core::ops::RateLimitHits::default());
        let console = ConsoleState::new(
            shared.stores.network.clone(),
            shared.stores.operators.clone(),
            shared.gateway.clone(),
            shared.clock.clone(),
            ConsoleConfig {
                poll_interval: Duration::from_millis(100),
                timezone: shared.config.local.tz(),
                ..ConsoleConfig::default()
            },
        )
        .with_partners(shared.partners.clone())
        .with_services(openpile_console::Services {
            sessions: shared.sessions.clone(),
            settlement: settlement.clone(),
            events: shared.stores.events.clone(),
            transactions: shared.stores.transactions.clone(),
        })
        .with_operator_views(shared.stores.ops.clone(), hits.clone());
        Live {
            shared,
            base: format!("http://{addr}"),
            ocpp: format!("ws://{addr}/ocpp"),
            http: reqwest::Client::new(),
            admin_token,
            console,
            settlement,
            hits,
            stop: Some(stop),
            _dir: dir,
        }
    }

    pub(crate) fn router(&self) -> Router {
        openpile_console::router(self.console.clone())
    }

    /// A console client logged in as the operator of `role`.
    pub(crate) async fn login(&self, role: OperatorRole) -> Client {
        let mut c = Client {
            app: self.router(),
            cookies: HashMap::new(),
        };
        let r = c.login(&email(role), PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        c
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `(status, JSON body)` of a bearer-authenticated call.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// Applies as partner `n` through the Open API, is approved for every station through the
    /// admin API, and gets a production token.
    pub(crate) async fn partner(&self, n: u32) -> LivePartner {
        use serde_json::json;
        let r = self
            .http
            .post(self.url("/v1/partner-applications"))
            .json(&json!({
                "company_name": format!("出行平台{n}有限公司"),
                "unified_social_credit_code": uscc(n),
                "legal_representative": "王五",
                "contact_name": "李四",
                "mobile": "+86 138 0013 8000",
                "email": partner_email(n),
                "password": PARTNER_PASSWORD,
                "website": "https://example.com",
                "intended_use": "展示充电站并启动充电",
                "expected_monthly_volume": 1000,
                "callback_base_url": "https://partner.example.com/hooks"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let body: serde_json::Value = r.json().await.unwrap();
        let app_id = body["application"]["id"].as_str().unwrap().to_owned();
        let partner_id = body["application"]["partner_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, approved) = self
            .call(
                reqwest::Method::POST,
                &format!("/admin/v1/partner-applications/{app_id}/approve"),
                &self.admin_token,
                Some(json!({"contract": {
                    "station_scope": {"kind": "all"},
                    "revenue_share": {"electricity": "0.05", "service": "0.05", "idle": "0.05"},
                    "rate_limit": {"requests_per_second": 1000, "burst": 1000},
                    "settlement_cycle": "monthly"
                }})),
            )
            .await;
        assert_eq!(status, 200, "{approved:#}");
        let client_id = approved["production_client_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = self
            .http
            .post(self.url("/v1/credentials/rotate"))
            .basic_auth(partner_email(n), Some(PARTNER_PASSWORD))
            .json(&json!({"client_id": client_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let secret = r.json::<serde_json::Value>().await.unwrap()["client_secret"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = self
            .http
            .post(self.url("/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let token = r.json::<serde_json::Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        LivePartner {
            id: partner_id,
            token,
        }
    }

    /// Connects a simulated demo charger and waits until its connectors are reported.
    pub(crate) async fn charger(&self, id: &str) -> openpile_sim::SimHandle {
        let c = openpile_sim::chargers_from_network_json(openpile_server::demo::DEMO_NETWORK)
            .unwrap()
            .into_iter()
            .find(|c| c.id == id)
            .unwrap();
        let n = c.connectors.len();
        let h = openpile_sim::SimCharger::spawn(
            &self.ocpp,
            &c.id,
            c.password.as_deref(),
            c.connectors,
            fast_charger(),
        )
        .unwrap();
        h.wait_until("booted", LIVE_WAIT, |s| {
            s.connected && s.boot == openpile_sim::BootStatus::Accepted
        })
        .await
        .unwrap();
        for k in 1..=n {
            let cid = ConnectorId::parse(format!("{id}-{k}")).unwrap();
            self.wait(&format!("{cid} reported"), || async {
                let v = self
                    .shared
                    .stores
                    .network
                    .get_connector(&cid)
                    .await
                    .unwrap();
                v.state.status.as_str() != "offline"
            })
            .await;
        }
        h
    }

    /// Polls `check` until it holds.
    pub(crate) async fn wait<F, Fut>(&self, what: &str, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + LIVE_WAIT;
        while !check().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} never happened"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn session_json(&self, p: &LivePartner, sid: &str) -> serde_json::Value {
        let (status, s) = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/sessions/{sid}"),
                &p.token,
                None,
            )
            .await;
        assert_eq!(status, 200, "{s:#}");
        s
    }

    /// Starts a session through the Open API and waits until it has metered 100 Wh; returns
    /// its id.
    pub(crate) async fn start_charging(
        &self,
        p: &LivePartner,
        connector: &str,
        order: &str,
    ) -> String {
        let (status, s) = self
            .call(
                reqwest::Method::POST,
                "/v1/sessions",
                &p.token,
                Some(serde_json::json!({"connector_id": connector, "partner_order_id": order})),
            )
            .await;
        assert!(matches!(status, 201 | 202), "start failed: {s:#}");
        let sid = s["id"].as_str().unwrap().to_owned();
        let deadline = tokio::time::Instant::now() + LIVE_WAIT;
        loop {
            let s = self.session_json(p, &sid).await;
            if s["status"] == "charging" && s["energy_wh"].as_i64().unwrap_or(0) >= 100 {
                return sid;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{sid} never metered 100 Wh: {s:#}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops a session through the Open API and waits until it completed.
    pub(crate) async fn stop_charging(&self, p: &LivePartner, sid: &str) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/sessions/{sid}/stop"),
                &p.token,
                Some(serde_json::json!({})),
            )
            .await;
        assert_eq!(status, 202, "{body:#}");
        self.wait(&format!("{sid} completed"), || async {
            self.session_json(p, sid).await["status"] == "completed"
        })
        .await;
    }

    /// A whole session: start, meter, stop, completed (its CDR is written on completion).
    pub(crate) async fn charge(&self, p: &LivePartner, connector: &str, order: &str) -> String {
        let sid = self.start_charging(p, connector, order).await;
        self.stop_charging(p, &sid).await;
        sid
    }

    /// The partner's closed statement of the month of `sids`, with a report through the Open
    /// API that matches every CDR but the first, which it says is `short_fen` cheaper: the
    /// statement is disputed (or reconciled when `short_fen` is 0). Returns its id.
    pub(crate) async fn reported_statement(
        &self,
        p: &LivePartner,
        sids: &[String],
        short_fen: i64,
    ) -> String {
        use openpile_core::settlement::cdr::CdrId;
        let mut cdrs = Vec::new();
        for sid in sids {
            let id = CdrId::parse(sid.as_str()).unwrap();
            cdrs.push(self.shared.stores.settlement.get_cdr(&id).await.unwrap());
        }
        let period = cdrs[0]
            .stopped_at
            .with_timezone(&self.shared.config.local.tz())
            .format("%Y-%m")
            .to_string();
        let partner = openpile_core::ids::PartnerId::parse(p.id.as_str()).unwrap();
        let st = self
            .settlement
            .build("op-finance", &partner, &period, true)
            .await
            .unwrap();
        let fen = |m: openpile_core::money::Money| {
            (m.amount() * Decimal::from(100))
                .round()
                .to_string()
                .parse::<i64>()
                .unwrap()
        };
        let money = |c: i64| format!("{}.{:02}", c / 100, c % 100);
        let lines: Vec<(String, i64, i64)> = cdrs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let short = if i == 0 { short_fen } else { 0 };
                (
                    c.partner_order_id.clone().unwrap(),
                    c.energy.0,
                    fen(c.total) - short,
                )
            })
            .collect();
        let wh: i64 = lines.iter().map(|l| l.1).sum();
        let cents: i64 = lines.iter().map(|l| l.2).sum();
        let kwh = |wh: i64| format!("{}.{:03}", wh / 1000, wh % 1000);
        let report = serde_json::json!({
            "lines": lines.iter().map(|(o, wh, c)| serde_json::json!({
                "order_id": o, "energy_kwh": kwh(*wh), "amount": money(*c)
            })).collect::<Vec<_>>(),
            "totals": {"energy_kwh": kwh(wh), "amount": money(cents)},
        });
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/statements/{}/report", st.id),
                &p.token,
                Some(report),
            )
            .await;
        assert_eq!(status, 200, "{body:#}");
        st.id.to_string()
    }
}
