//! The getting-started guide cannot rot: this test reads `docs/getting-started.md`, and replays
//! every `curl` command in it, in order, against a real server with the demo network and
//! simulated chargers on the sandbox stations (as `openpile demo` runs). Each command is parsed
//! the way a shell and curl would (quotes, `$VARIABLES`, `-X`, `-H`, `-d`, `-u`, `-N`) and sent
//! with a plain HTTP client; every one must succeed (2xx). The variables the guide tells the
//! reader to `export` are taken from the answers, as a reader would; an unset one fails the
//! test. Between commands the test plays the operator where the guide says the operator acts
//! (reject, approve, close a statement), and the webhook receiver the guide configures; the
//! guide's Python snippet verifies the webhook's signature (skipped loudly without python3 and
//! `standardwebhooks`, except under `CI=true`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use chrono::{Datelike as _, Months};
use openpile_core::ids::ConnectorId;
use openpile_sim::{Behaviour, SimCharger, SimHandle, chargers_from_network_json};
use openpile_testkit::TestApp;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const GUIDE: &str = include_str!("../../../../docs/getting-started.md");
const DEMO_NETWORK: &str = include_str!("../../../../demo/network.json");
/// The sandbox chargers the guide charges and reserves on.
const CHARGERS: [&str; 2] = ["SH0901-01", "SH0901-02"];
const WAIT: Duration = Duration::from_secs(20);
/// The webhook URL of the guide, replaced by the test's receiver.
const GUIDE_WEBHOOK: &str = "https://partner.example.com/openpile/webhook";

/// One word of a shell command, after quoting and expansion.
type Words = Vec<String>;

/// The fenced blocks of `lang` in the Markdown, in order.
fn blocks<'a>(markdown: &'a str, lang: &str) -> Vec<&'a str> {
    let fence = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = markdown;
    while let Some(at) = rest.find(&fence) {
        rest = &rest[at + fence.len()..];
        let end = rest.find("\n```").unwrap();
        out.push(&rest[..=end]);
        rest = &rest[end..];
    }
    out
}

/// Splits a shell block into commands of raw words, as sh would: `'…'` literal, `"…"` with
/// `\"` and `$VAR`, `\` + newline continues, `#` at a word's start comments to the line's end.
/// Words keep `$` markers (`\u{0}NAME\u{0}`) for expansion later, when the variables are known.
fn commands(block: &str) -> Vec<Words> {
    let mut out = Vec::new();
    let (mut words, mut word, mut in_word) = (Vec::new(), String::new(), false);
    let mut chars = block.chars().peekable();
    let var = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, word: &mut String| {
        let mut name = String::new();
        while let Some(c) = chars
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || **c == '_')
        {
            name.push(*c);
            chars.next();
        }
        word.push('\u{0}');
        word.push_str(&name);
        word.push('\u{0}');
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
            }
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.push(chars.next().unwrap()),
                        '$' => var(&mut chars, &mut word),
                        c => word.push(c),
                    }
                }
            }
            '$' => {
                in_word = true;
                var(&mut chars, &mut word);
            }
            '#' if !in_word => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                if !words.is_empty() {
                    out.push(std::mem::take(&mut words));
                }
            }
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                if c == '\n' && !words.is_empty() {
                    out.push(std::mem::take(&mut words));
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if !words.is_empty() {
        out.push(words);
    }
    out
}

/// Replaces the `$` markers with the variables' values; an unset variable fails the test.
fn expand(word: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (i, part) in word.split('\u{0}').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        } else {
            let value = vars
                .get(part)
                .unwrap_or_else(|| panic!("the guide uses ${part} before any answer set it"));
            out.push_str(value);
        }
    }
    out
}

/// A curl command, as curl reads it.
#[derive(Debug)]
struct Curl {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    data: Option<String>,
    user: Option<(String, String)>,
    stream: bool,
}

impl Curl {
    fn parse(words: &[String], files: &BTreeMap<&str, String>) -> Curl {
        let mut c = Curl {
            method: String::new(),
            url: String::new(),
            headers: Vec::new(),
            data: None,
            user: None,
            stream: false,
        };
        let mut data: Vec<String> = Vec::new();
        let mut args = words[1..].iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "-sS" | "-s" | "-S" => {}
                "-N" => c.stream = true,
                "-X" => c.method = args.next().unwrap().clone(),
                "-H" => {
                    let (k, v) = args.next().unwrap().split_once(':').unwrap();
                    c.headers.push((k.trim().to_string(), v.trim().to_string()));
                }
                "-d" => {
                    let d = args.next().unwrap();
                    data.push(match d.strip_prefix('@') {
                        Some(file) => files
                            .get(file)
                            .unwrap_or_else(|| panic!("no file {file} for the guide"))
                            .clone(),
                        None => d.clone(),
                    });
                }
                "-u" => {
                    let (u, p) = args.next().unwrap().split_once(':').unwrap();
                    c.user = Some((u.to_string(), p.to_string()));
                }
                url if url.starts_with("http") => c.url = url.to_string(),
                other => panic!("curl option {other:?} is not replayed by this test"),
            }
        }
        if !data.is_empty() {
            // curl joins several -d with `&`, and sends them as a form unless told otherwise.
            c.data = Some(data.join("&"));
            if !c
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                c.headers.push((
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
            }
        }
        if c.method.is_empty() {
            c.method = if c.data.is_some() { "POST" } else { "GET" }.into();
        }
        c
    }

    /// The path without the query, for matching.
    fn path(&self) -> &str {
        let rest = self.url.split_once("://").unwrap().1;
        let path = &rest[rest.find('/').unwrap()..];
        path.split('?').next().unwrap()
    }

    /// `METHOD /path` with ids replaced by `*`, for matching steps.
    fn route(&self) -> String {
        let segments: Vec<&str> = self
            .path()
            .split('/')
            .map(|s| {
                if s.starts_with("SH")
                    || s.contains('-') && s.len() > 20
                    || s.parse::<i64>().is_ok()
                {
                    "*"
                } else {
                    s
                }
            })
            .collect();
        format!("{} {}", self.method, segments.join("/"))
    }

    async fn send(&self, http: &reqwest::Client) -> (u16, String, Value) {
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).unwrap();
        let mut req = http.request(method, &self.url);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some((u, p)) = &self.user {
            req = req.basic_auth(u, Some(p));
        }
        if let Some(d) = &self.data {
            req = req.body(d.clone());
        }
        let mut resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if self.stream {
            // An event stream never ends: read until the first event has arrived.
            let mut text = String::new();
            let deadline = tokio::time::Instant::now() + WAIT;
            while !text.contains("\n\n") && tokio::time::Instant::now() < deadline {
                match tokio::time::timeout(Duration::from_secs(2), resp.chunk()).await {
                    Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
                    _ => break,
                }
            }
            return (status, ct, Value::String(text));
        }
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, ct, body)
    }
}

/// What the webhook receiver got: headers and the raw body.
type Delivery = (HeaderMap, Bytes);

async fn receiver() -> (String, mpsc::UnboundedReceiver<Delivery>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/webhook",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, rx)
}

/// The guide's Python snippet, run on a delivery: true when python3 with standardwebhooks is
/// there to run it (and then it must have verified), false when skipped.
fn python_verifies(snippet: &str, secret: &str, delivery: &Delivery) -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        let msg = "python3 with the `standardwebhooks` package is missing \
                   (pip install -r tests/python/requirements.txt)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and {msg}"
        );
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! SKIPPING the guide's webhook verification snippet: {msg} !!!\n"
        );
        return false;
    }
    let headers: BTreeMap<String, String> = delivery
        .0
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("webhook-"))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let driver = format!(
        "{snippet}\nimport json, sys\nevent = verify({secret:?}, json.loads(sys.argv[1]), \
         sys.stdin.buffer.read())\nprint(event['type'])\ntry:\n    verify({secret:?}, \
         json.loads(sys.argv[1]), sys.stdin.buffer.read() + b' ')\nexcept PermissionError:\n    \
         print('tampered body refused')\n"
    );
    let mut child = Command::new("python3")
        .args(["-c", &driver, &serde_json::to_string(&headers).unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&delivery.1).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the snippet failed: {stdout}");
    assert_eq!(stdout, "webhook.test\ntampered body refused\n");
    true
}

async fn wait_connector(app: &TestApp, id: &str, pred: impl Fn(&str) -> bool) {
    let cid = ConnectorId::parse(id).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let view = app.stores.network.get_connector(&cid).await.unwrap();
        if pred(view.state.status.as_str()) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{id} never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn charger(app: &TestApp, id: &str) -> SimHandle {
    let c = chargers_from_network_json(DEMO_NETWORK)
        .unwrap()
        .into_iter()
        .find(|c| c.id == id)
        .unwrap();
    let n = c.connectors.len();
    let behaviour = Behaviour {
        meter_interval: Duration::from_millis(200),
        ..Behaviour::default()
    };
    let h = SimCharger::spawn(
        &format!("ws://{}/ocpp", app.addr),
        &c.id,
        c.password.as_deref(),
        c.connectors,
        behaviour,
    )
    .unwrap();
    for k in 1..=n {
        wait_connector(app, &format!("{id}-{k}"), |s| s == "available").await;
    }
    h
}

/// The operator's side: admin API calls with an admin's token.
struct Operator<'a> {
    app: &'a TestApp,
    token: String,
}

impl Operator<'_> {
    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .app
            .client
            .post(self.app.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body:#}");
        body
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_getting_started_guide_works_as_written() {
    let app = TestApp::builder()
        .with_config(|c| {
            c.ocpp.call_timeout_s = 5;
            c.charging.update_event_interval_s = 0;
            c.charging.meter_write_interval_s = 0;
            c.charging.sweep_interval_ms = 50;
            c.partners.sandbox_requests_per_second = 1000;
            c.partners.sandbox_burst = 1000;
            c.events.allow_private_sandbox_webhook_targets = true;
            c.events.poll_interval_ms = 50;
        })
        .spawn()
        .await;
    app.import_demo().await;
    let _chargers = [
        charger(&app, CHARGERS[0]).await,
        charger(&app, CHARGERS[1]).await,
    ];
    let operator = Operator {
        app: &app,
        token: app.login_admin().await,
    };
    let (webhook_url, mut deliveries) = receiver().await;

    // The files the guide sends with `-d @file`.
    let apply = blocks(GUIDE, "sh")
        .into_iter()
        .flat_map(commands)
        .find(|w| w.iter().any(|a| a.ends_with("/v1/partner-applications")))
        .unwrap();
    let form: Value = serde_json::from_str(&apply[apply.len() - 1]).unwrap();
    let mut corrected = form.clone();
    corrected.as_object_mut().unwrap().remove("password");
    corrected["company_name"] = json!("上海示例出行科技股份有限公司");
    let files = BTreeMap::from([("corrected-application.json", corrected.to_string())]);

    let mut vars = BTreeMap::from([("BASE".to_string(), app.base_url.clone())]);
    let (mut approved, mut statement_built, mut replayed) = (false, false, 0);
    let mut snippet_ran = false;
    for words in blocks(GUIDE, "sh").into_iter().flat_map(commands) {
        match words[0].as_str() {
            // The reader copies the value from the answer; so does the test, below.
            "export" => continue,
            "curl" => {}
            other => panic!("the guide runs {other:?}, which this test does not replay"),
        }
        let expanded: Vec<String> = words.iter().map(|w| expand(w, &vars)).collect();
        let mut curl = Curl::parse(&expanded, &files);
        if let Some(d) = &mut curl.data {
            *d = d.replace(GUIDE_WEBHOOK, &webhook_url);
        }
        let route = curl.route();
        let account = curl.user.is_some();

        // The operator acts where the guide says it does.
        if route == "PUT /v1/partner-applications/*" {
            let id = &vars["APP_ID"];
            operator
                .post(
                    &format!("/admin/v1/partner-applications/{id}/reject"),
                    json!({"revision": 1, "reason": "营业执照照片不清晰 / licence photo blurred"}),
                )
                .await;
        }
        if route == "GET /v1/credentials" && account && !approved {
            let id = &vars["APP_ID"];
            operator
                .post(
                    &format!("/admin/v1/partner-applications/{id}/approve"),
                    json!({"contract": {
                        "station_scope": {"kind": "all"},
                        "revenue_share": {"electricity": "0", "service": "0.10", "idle": "0"},
                        "rate_limit": {"requests_per_second": 1000, "burst": 1000},
                        "settlement_cycle": "monthly"
                    }}),
                )
                .await;
            approved = true;
        }
        if route == "POST /v1/sessions/*/stop" || route == "GET /v1/cdrs/*" {
            // The reader watches the session: it stops once energy flowed, and reads the CDR
            // once `completed` (or its event) came.
            let done = |s: &Value| {
                if route.ends_with("/stop") {
                    s["energy_wh"].as_i64().unwrap_or(0) > 0
                } else {
                    s["status"] == "completed"
                }
            };
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let s: Value = app
                    .client
                    .get(app.url(&format!("/v1/sessions/{}", vars["SESSION_ID"])))
                    .bearer_auth(&vars["TOKEN"])
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if done(&s) {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "{s:#}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if route == "GET /v1/statements" && !statement_built {
            // The operator closes last month's statement (local time), which has ended.
            let local = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai);
            let last = local.date_naive().with_day(1).unwrap() - Months::new(1);
            let partner = app
                .stores
                .partners
                .get_application(&vars["APP_ID"])
                .await
                .unwrap()
                .partner_id;
            operator
                .post(
                    "/admin/v1/statements",
                    json!({"partner_id": partner.as_str(),
                           "period": format!("{}-{:02}", last.year(), last.month()),
                           "close": true}),
                )
                .await;
            statement_built = true;
        }

        let (status, content_type, body) = curl.send(&app.client).await;
        assert!(
            (200..300).contains(&status),
            "{} {} answered {status}: {body:#}",
            curl.method,
            curl.url
        );
        replayed += 1;
        if curl.stream {
            assert!(
                content_type.starts_with("text/event-stream"),
                "{content_type}"
            );
            let text = body.as_str().unwrap();
            assert!(
                text.contains("\nid: ") || text.starts_with("id: "),
                "{text}"
            );
            continue;
        }

        // The values the guide tells the reader to export.
        let mut set = |name: &str, v: &Value| {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => panic!("{name} from {route}: {other}"),
            };
            vars.insert(name.to_string(), v);
        };
        match route.as_str() {
            "POST /v1/partner-applications" => {
                set("APP_ID", &body["application"]["id"]);
                set("CLIENT_ID", &body["sandbox_credentials"]["client_id"]);
                set(
                    "CLIENT_SECRET",
                    &body["sandbox_credentials"]["client_secret"],
                );
            }
            "POST /oauth/token" => set("TOKEN", &body["access_token"]),
            "GET /v1/stations" if !curl.url.contains("cursor=") && curl.url.contains("limit=2") => {
                set("NEXT", &body["next_cursor"]);
            }
            "GET /v1/credentials" if account => {
                let prd = body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["environment"] == "production")
                    .unwrap();
                set("PRD_CLIENT_ID", &prd["client_id"]);
            }
            "POST /v1/credentials/rotate"
                if body["client_id"].as_str().unwrap().starts_with("prd_") =>
            {
                set("SECRET_ID", &body["secret_id"]);
            }
            "POST /v1/sessions" => {
                assert_eq!(status, 201, "wait_s: charging has started");
                assert_eq!(body["status"], "charging", "{body:#}");
                set("SESSION_ID", &body["id"]);
            }
            "POST /v1/sessions/*/stop" => {
                // A quick charger may have confirmed the stop before we answered.
                let state = body["status"].as_str().unwrap();
                assert!(
                    matches!(state, "stopping" | "finishing" | "completed"),
                    "{body:#}"
                );
            }
            "POST /v1/reservations" => {
                assert_eq!(body["status"], "active", "{body:#}");
                set("RESERVATION_ID", &body["id"]);
            }
            "POST /v1/reservations/*/cancel" => assert_eq!(body["status"], "cancelled"),
            "GET /v1/events" if curl.url.contains("after=0") => {
                assert!(!body["events"].as_array().unwrap().is_empty(), "{body:#}");
                set("CURSOR", &body["next_cursor"]);
            }
            "PUT /v1/webhook" => {
                assert_eq!(status, 201);
                set("WEBHOOK_SECRET", &body["secret"]);
            }
            "POST /v1/webhook/test" => {
                let snippet = blocks(GUIDE, "python")[0];
                let delivery = loop {
                    let d = tokio::time::timeout(WAIT, deliveries.recv())
                        .await
                        .expect("the test delivery arrives")
                        .unwrap();
                    let event: Value = serde_json::from_slice(&d.1).unwrap();
                    if event["type"] == "webhook.test" {
                        break d;
                    }
                };
                snippet_ran = python_verifies(snippet, &vars["WEBHOOK_SECRET"], &delivery);
            }
            "GET /v1/webhook/deliveries" => set("DELIVERY_ID", &body["items"][0]["id"]),
            "GET /v1/cdrs/*" => {
                assert_eq!(body["id"].as_str(), Some(vars["SESSION_ID"].as_str()));
                assert!(body["energy_wh"].as_i64().unwrap() > 0, "{body:#}");
            }
            "GET /v1/statements" => set("STATEMENT_ID", &body["items"][0]["id"]),
            "POST /v1/statements/*/report" => {
                let state = body["statement"]["state"].as_str().unwrap();
                assert!(matches!(state, "reconciled" | "disputed"), "{body:#}");
            }
            _ => {}
        }
    }
    // Every section was reached: the operator's steps ran and the variables were all set.
    assert!(
        approved && statement_built,
        "a section of the guide was skipped"
    );
    let written = blocks(GUIDE, "sh")
        .into_iter()
        .flat_map(commands)
        .filter(|w| w[0] == "curl")
        .count();
    assert_eq!(replayed, written);
    assert!(written >= 45, "the guide lost commands: {written}");
    // The server serves this very guide.
    let served = app
        .client
        .get(app.url("/getting-started"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(
        served.headers()["content-type"],
        "text/markdown; charset=utf-8"
    );
    assert_eq!(served.text().await.unwrap(), GUIDE);
    let _ = writeln!(
        std::io::stderr(),
        "guide: {replayed} curl commands replayed; webhook snippet {}",
        if snippet_ran { "verified" } else { "skipped" }
    );
}

/// With `[mail]` set, the server e-mails the applicant the guide talks about; an SMTP server
/// that is down when the application comes in gets it later, from the server's own retry task.
#[tokio::test]
async fn the_server_mails_the_applicant_and_retries_when_smtp_was_down() {
    use openpile_mailer::testing::{SmtpSink, python_ready, unused_port};
    if !python_ready() {
        return;
    }
    let port = unused_port();
    let app = TestApp::builder()
        .with_config(move |c| {
            c.mail.url = Some(format!("smtp://127.0.0.1:{port}").into());
            c.mail.from = "OpenPile <noreply@openpile.example>".into();
            c.mail.retry_initial_s = 1;
            c.mail.retry_max_interval_s = 1;
            c.mail.timeout_s = 2;
            c.mail.public_url = "https://open.example.com".into();
        })
        .spawn()
        .await;
    let apply = blocks(GUIDE, "sh")
        .into_iter()
        .flat_map(commands)
        .find(|w| w.iter().any(|a| a.ends_with("/v1/partner-applications")))
        .unwrap();
    let form: Value = serde_json::from_str(&apply[apply.len() - 1]).unwrap();
    let r = app
        .client
        .post(app.url("/v1/partner-applications"))
        .json(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "the application stands without mail");
    let statuses = || async {
        let page: Value = app
            .client
            .get(app.url("/v1/notifications"))
            .basic_auth(form["email"].as_str().unwrap(), form["password"].as_str())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["items"][0]["email_status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(statuses().await, "failed");

    let mut sink = SmtpSink::start(port).await;
    let line = sink
        .next_message(Duration::from_secs(15))
        .await
        .expect("the retry task sends it once the server is up");
    let m: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(m["rcpt_tos"], json!([form["email"]]));
    assert_eq!(m["headers"]["subject"], "申请已收到 / Application received");
    let body = m["body"].as_str().unwrap();
    assert!(body.contains("上海示例出行科技有限公司"), "{body}");
    assert!(
        body.contains("Partner portal: https://open.example.com/portal"),
        "{body}"
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while statuses().await != "sent" {
        assert!(tokio::time::Instant::now() < deadline, "never marked sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
