//! Test helpers: [`TestApp`] runs the real [`Application`] on `127.0.0.1:0` against a SQLite
//! file in a temporary directory, and hands out its base URL, an HTTP client, the store ports
//! and shortcuts (an operator's token, the demo network). The server stops when the `TestApp`
//! is dropped. Helpers panic with a message on failure: they are for tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use openpile_core::clock::{Clock as _, SystemClock};
use openpile_core::ids::{IdGenerator as _, UuidV7Ids};
use openpile_core::operator::{Email, OperatorAccount, OperatorRole};
use openpile_core::ports::ImportSummary;
use openpile_secrets::{self as secrets, HashCost};
use openpile_server::config::Config;
use openpile_server::demo;
use openpile_server::startup::{Application, Stores};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The password every operator made by the test kit has.
pub const TEST_PASSWORD: &str = "test-password-1234";

/// A change to the test configuration.
type ConfigTweak = Box<dyn FnOnce(&mut Config) + Send>;

/// Builds a [`TestApp`] with changes to the default configuration.
#[derive(Default)]
pub struct TestAppBuilder {
    tweaks: Vec<ConfigTweak>,
}

impl TestAppBuilder {
    /// Changes the configuration after the test kit has set the address and database.
    #[must_use]
    pub fn with_config(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.tweaks.push(Box::new(f));
        self
    }

    /// Starts the server. The listener is bound before this returns, so requests may be sent
    /// at once.
    pub async fn spawn(self) -> TestApp {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let db_path = dir.path().join("openpile.db");
        let mut config = Config::defaults();
        config.http.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.db.url = format!("sqlite://{}", db_path.display()).into();
        for tweak in self.tweaks {
            tweak(&mut config);
        }
        config.validate().expect("the test configuration is valid");
        let app = Application::build(config)
            .await
            .expect("the application starts");
        let addr = app.local_addr();
        let stores = app.shared().stores.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = app
                .run_until(async {
                    let _ = rx.await;
                })
                .await;
        });
        TestApp {
            base_url: format!("http://{addr}"),
            addr,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::limited(3))
                .build()
                .expect("build an HTTP client"),
            stores,
            db_path,
            shutdown: Some(tx),
            server: Some(server),
            _dir: dir,
        }
    }
}

/// A running server for one test.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// The store ports of the running server.
    pub stores: Stores,
    /// The SQLite file (its `-wal` sibling holds recent writes).
    pub db_path: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// A server with the default configuration.
    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Creates an operator directly in the store, with [`TEST_PASSWORD`] (hashed at light cost
    /// so that tests stay fast; login verifies it like any other hash).
    pub async fn create_operator(&self, role: OperatorRole) -> OperatorAccount {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let email = Email::parse(&format!("{}-{n}@test.openpile.local", role.as_str()))
            .expect("a valid e-mail");
        let hash =
            secrets::hash_password_with(TEST_PASSWORD, HashCost::Light).expect("hash a password");
        self.stores
            .operators
            .create_operator(&UuidV7Ids.next(), &email, role, &hash, SystemClock.now())
            .await
            .expect("create an operator")
    }

    /// Logs in through `POST /admin/v1/login` and returns the bearer token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let response = self
            .client
            .post(self.url("/admin/v1/login"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("send the login request");
        assert_eq!(response.status(), 200, "login of {email} failed");
        let body: serde_json::Value = response.json().await.expect("a JSON login answer");
        body["token"]
            .as_str()
            .expect("a token in the login answer")
            .to_owned()
    }

    /// A token of a new operator with `role`.
    pub async fn login_as(&self, role: OperatorRole) -> String {
        let account = self.create_operator(role).await;
        self.login(account.email.as_str(), TEST_PASSWORD).await
    }

    /// A token of a new admin.
    pub async fn login_admin(&self) -> String {
        self.login_as(OperatorRole::Admin).await
    }

    /// Imports the demo network (`demo/network.json`) as `openpile demo` does.
    pub async fn import_demo(&self) -> ImportSummary {
        demo::import_network(&self.stores)
            .await
            .expect("import the demo network")
    }

    /// Stops the server gracefully and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
