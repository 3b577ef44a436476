//! Test fixtures: a SQLite store in a temporary file seeded with a small network and one
//! operator per role, a settable clock, a scripted charger gateway, and a cookie-keeping client
//! that drives the console router in process.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::{DateTime, SubsecRound, TimeDelta, TimeZone, Utc};
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
        self.post(
            "/console/login",
            &[
                ("csrf", &csrf),
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
