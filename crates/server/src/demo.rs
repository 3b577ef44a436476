//! `openpile demo`: a server with something to look at. On an empty database it imports the
//! demo network shipped in the repository (`demo/network.json`, compiled in so a clean clone
//! needs nothing else), makes sure the demo operator exists with a fresh password, and prints
//! a banner with every URL and a ready-to-paste login.
//!
//! Later issues extend the demo here: simulated chargers for the demo stations (issue 3) and a
//! sandbox partner (issue 4). Each adds its start-up step to [`run`] and its lines to
//! [`Banner::extra`].

use std::fmt;
use std::net::SocketAddr;

use openpile_core::error::CoreError;
use openpile_core::error::StoreError;
use openpile_core::operator::{AuditEntry, Email, OperatorRole};
use openpile_core::page::PageRequest;
use openpile_core::partner::application::ApplicationInput;
use openpile_core::partner::credential::Environment;
use openpile_core::ports::ImportSummary;
use openpile_secrets::{self as secrets, HashCost};

use crate::import::{self, ImportFailure};
use crate::startup::{Application, Shared, StartupError, Stores};

/// The demo network, the same format `openpile import` reads.
pub const DEMO_NETWORK: &str = include_str!("../../../demo/network.json");

/// Where the demo keeps its data unless `--db` says otherwise: separate from `serve`'s default
/// so trying the demo never touches a real database.
pub const DEMO_DB_URL: &str = "sqlite://openpile-demo.db";

/// The demo operator's login (role admin). Its password is generated at every start.
pub const DEMO_OPERATOR_EMAIL: &str = "ops@openpile.local";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("cannot import the demo network")]
    Import(#[from] ImportFailure),
    #[error("cannot set up the demo operator")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] secrets::HashError),
    #[error("cannot set up the sandbox partner")]
    Partner(#[from] CoreError),
}

/// The demo's sandbox partner: a platform that has applied and holds sandbox credentials,
/// which see only the sandbox stations.
pub const DEMO_PARTNER_EMAIL: &str = "dev@sandbox-partner.example";

/// Sandbox credentials as the banner shows them.
#[derive(Debug, Clone)]
pub struct SandboxPartner {
    pub email: String,
    /// The portal password, when this start created the account (an existing account keeps
    /// the password printed at its first start).
    pub password: Option<String>,
    pub client_id: String,
    pub client_secret: String,
}

/// What seeding did.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// `None` when the database already had stations.
    pub imported: Option<ImportSummary>,
    pub operator_email: String,
    pub operator_password: String,
}

/// Imports the demo network into an empty database. Its charger passwords are public (they
/// are in the repository), so they are hashed at light cost.
pub async fn seed_network(stores: &Stores) -> Result<Option<ImportSummary>, DemoError> {
    let any = stores
        .network
        .list_stations(&PageRequest::first(1), true)
        .await?;
    if !any.items.is_empty() {
        return Ok(None);
    }
    Ok(Some(import_network(stores).await?))
}

/// Imports the demo network whatever the store holds (the test kit's `import_demo`).
pub async fn import_network(stores: &Stores) -> Result<ImportSummary, ImportFailure> {
    let doc = openpile_import::parse_json(DEMO_NETWORK).map_err(ImportFailure::Invalid)?;
    import::import(stores, doc, HashCost::Light).await
}

/// Creates the demo operator, or gives the existing one a new password, so the banner always
/// shows a login that works.
pub async fn seed_operator(shared: &Shared) -> Result<(String, String), DemoError> {
    let ops = &shared.stores.operators;
    let email = Email::parse(DEMO_OPERATOR_EMAIL).map_err(|e| StoreError::Other(Box::new(e)))?;
    let password = secrets::generate_password(20);
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || secrets::hash_password(&pw))
        .await
        .map_err(|e| StoreError::Other(Box::new(e)))??;
    let now = shared.clock.now();
    let id = match ops.find_operator_by_email(&email).await {
        Ok(account) => {
            ops.set_operator_password(&account.id, &hash).await?;
            account.id
        }
        Err(StoreError::NotFound) => {
            let id = shared.ids.next();
            ops.create_operator(&id, &email, OperatorRole::Admin, &hash, now)
                .await?;
            id
        }
        Err(e) => return Err(e.into()),
    };
    ops.append_audit(&AuditEntry {
        id: shared.ids.next(),
        at: now,
        actor: "system".into(),
        action: "demo.operator_password_set".into(),
        object: format!("operator:{id}"),
        details: "{}".into(),
    })
    .await?;
    Ok((email.as_str().to_owned(), password))
}

/// Makes sure the sandbox partner exists and gives it a fresh sandbox secret (secrets are
/// stored hashed, so an earlier one cannot be shown again).
pub async fn seed_sandbox_partner(shared: &Shared) -> Result<SandboxPartner, DemoError> {
    let partners = &shared.partners;
    let password = secrets::generate_password(20);
    let input = ApplicationInput {
        company_name: "示例出行科技有限公司 (Demo Mobility Ltd.)".into(),
        // A code with a valid GB 32100-2015 check character.
        unified_social_credit_code: "91310115MA0000001Y".into(),
        legal_representative: "张三".into(),
        contact_name: "李四".into(),
        mobile: "13800138000".into(),
        email: DEMO_PARTNER_EMAIL.into(),
        website: Some("https://sandbox-partner.example".into()),
        intended_use: "Demo: a charging app integrating OpenPile in the sandbox".into(),
        expected_monthly_volume: 1000,
        callback_base_url: "https://sandbox-partner.example/openpile".into(),
    };
    let email = Email::parse(DEMO_PARTNER_EMAIL).map_err(CoreError::from)?;
    let (partner_id, client_id, client_secret, new_account) =
        match partners.apply(&input, &password).await {
            Ok(submitted) => (
                submitted.application.partner_id,
                submitted.sandbox.client_id.to_string(),
                submitted.sandbox.client_secret,
                true,
            ),
            Err(CoreError::Conflict(_) | CoreError::Store(StoreError::Conflict { .. })) => {
                let account = shared.stores.partners.find_account(&email).await?;
                let sandbox = partners
                    .credentials(&account.partner_id)
                    .await?
                    .into_iter()
                    .find(|c| c.environment == Environment::Sandbox)
                    .ok_or_else(|| CoreError::NotFound {
                        entity: "sandbox credential",
                        id: account.partner_id.to_string(),
                    })?;
                let issued = partners
                    .rotate_secret(
                        &account.partner_id,
                        sandbox.client_id.as_str(),
                        Some(std::time::Duration::ZERO),
                    )
                    .await?;
                (
                    account.partner_id,
                    issued.client_id.to_string(),
                    issued.client_secret,
                    false,
                )
            }
            Err(e) => return Err(e.into()),
        };
    tracing::debug!(partner = %partner_id, "sandbox partner ready");
    Ok(SandboxPartner {
        email: DEMO_PARTNER_EMAIL.into(),
        password: new_account.then_some(password),
        client_id,
        client_secret,
    })
}

/// Builds the demo application: opens and seeds the store, then binds.
pub async fn build(config: crate::config::Config) -> Result<(Application, Banner), DemoError> {
    use secrecy::ExposeSecret as _;
    let stores = Stores::open(config.db.url.expose_secret()).await?;
    let imported = seed_network(&stores).await?;
    let db = config.db.redacted_url();
    let app = Application::build_with(config, stores).await?;
    let (operator_email, operator_password) = seed_operator(app.shared()).await?;
    let seeded = Seeded {
        imported,
        operator_email,
        operator_password,
    };
    let sandbox = seed_sandbox_partner(app.shared()).await?;
    let mut banner = Banner::new(app.local_addr(), db, &seeded);
    let base = banner.base_url.clone();
    banner.extra.extend([
        String::new(),
        "Sandbox partner (sees the sandbox stations only; new secret at every start):".into(),
        format!("  client_id:     {}", sandbox.client_id),
        format!("  client_secret: {}", sandbox.client_secret),
        "  Get a token and list the stations:".into(),
        format!(
            "  PTOKEN=$(curl -s -u '{}:{}' -d grant_type=client_credentials {base}/oauth/token | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')",
            sandbox.client_id, sandbox.client_secret
        ),
        format!("  curl -s '{base}/v1/stations?limit=5' -H \"authorization: Bearer $PTOKEN\""),
        String::new(),
        format!("Operator console: {base}/console   Partner portal: {base}/portal/login"),
        match &sandbox.password {
            Some(password) => format!("  portal login: {}  password: {password}", sandbox.email),
            None => format!(
                "  portal login: {} (password printed when this database was first seeded)",
                sandbox.email
            ),
        },
    ]);
    let sim = start_simulated_chargers(&app, &banner);
    banner.extra.extend(sim);
    Ok((app, banner))
}

/// Connects a simulated charger (`openpile-sim`) for every charger of the demo network, so
/// that partners can start, watch and stop sessions on them. They keep trying until the server
/// serves, and run until the process ends. Returns the banner lines about them.
fn start_simulated_chargers(app: &Application, banner: &Banner) -> Vec<String> {
    if app.shared().config.ocpp.tls_cert.is_some() {
        return vec![
            String::new(),
            "Simulated chargers: not started (the server speaks TLS; run `openpile sim` with wss://)".into(),
        ];
    }
    let chargers = match openpile_sim::chargers_from_network_json(DEMO_NETWORK) {
        Ok(c) => c,
        Err(e) => return vec![format!("Simulated chargers: not started ({e})")],
    };
    let count = chargers.len();
    let endpoint = banner.ocpp_url.replace("/{charger_id}", "");
    match openpile_sim::spawn_demo_fleet(&endpoint, chargers) {
        Ok(fleet) => {
            // The fleet lives as long as the process: its chargers stop when their handles go.
            tokio::spawn(async move {
                let _fleet = fleet;
                std::future::pending::<()>().await;
            });
            let base = &banner.base_url;
            vec![
                String::new(),
                format!("Simulated chargers: {count} connecting to {endpoint}/{{charger_id}} (a car plugs in at every remote start)"),
                "  Start charging on a sandbox connector, watch it, stop it:".into(),
                format!("  curl -s -X POST {base}/v1/sessions -H \"authorization: Bearer $PTOKEN\" -H 'content-type: application/json' \\"),
                "    -d '{\"connector_id\":\"SH0901-01-1\",\"partner_order_id\":\"demo-1\",\"wait_s\":10}'".into(),
                format!("  curl -s {base}/v1/sessions/<id> -H \"authorization: Bearer $PTOKEN\""),
                format!("  curl -s -X POST {base}/v1/sessions/<id>/stop -H \"authorization: Bearer $PTOKEN\""),
            ]
        }
        Err(e) => vec![format!("Simulated chargers: not started ({e})")],
    }
}

/// What `demo` prints once it is listening.
#[derive(Debug, Clone)]
pub struct Banner {
    /// `http://host:port`, with an unspecified bind address shown as 127.0.0.1.
    pub base_url: String,
    pub ocpp_url: String,
    pub db: String,
    pub seeded: Seeded,
    /// Lines added by later demo steps (simulated chargers, sandbox partner).
    pub extra: Vec<String>,
}

impl Banner {
    pub fn new(addr: SocketAddr, db: String, seeded: &Seeded) -> Self {
        let host = if addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", addr.port())
        } else {
            addr.to_string()
        };
        Self {
            base_url: format!("http://{host}"),
            ocpp_url: format!("ws://{host}/ocpp/{{charger_id}}"),
            db,
            seeded: seeded.clone(),
            extra: Vec::new(),
        }
    }
}

impl fmt::Display for Banner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = &self.base_url;
        let s = &self.seeded;
        writeln!(f)?;
        writeln!(f, "OpenPile demo is running at {base}")?;
        writeln!(f)?;
        match &s.imported {
            Some(n) => writeln!(
                f,
                "  Loaded the demo network: {} stations, {} chargers, {} connectors, {} tariffs",
                n.stations, n.chargers, n.connectors, n.tariffs
            )?,
            None => writeln!(f, "  Using the network already in the database")?,
        }
        writeln!(f, "  Database:      {}", self.db)?;
        writeln!(f)?;
        writeln!(f, "  Admin API:     {base}/admin/v1")?;
        writeln!(f, "  API docs:      {base}/docs")?;
        writeln!(f, "  OpenAPI:       {base}/openapi.json")?;
        writeln!(f, "  Metrics:       {base}/metrics")?;
        writeln!(f, "  Health:        {base}/healthz")?;
        writeln!(f, "  OCPP 1.6J:     {}", self.ocpp_url)?;
        writeln!(f)?;
        writeln!(
            f,
            "  Demo operator (role admin, new password at every start):"
        )?;
        writeln!(f, "    email:       {}", s.operator_email)?;
        writeln!(f, "    password:    {}", s.operator_password)?;
        writeln!(f)?;
        writeln!(f, "  Log in and list the stations:")?;
        writeln!(
            f,
            "    TOKEN=$(curl -s -X POST {base}/admin/v1/login -H 'content-type: application/json' \\"
        )?;
        writeln!(
            f,
            "      -d '{{\"email\":\"{}\",\"password\":\"{}\"}}' | sed -E 's/.*\"token\":\"([^\"]+)\".*/\\1/')",
            s.operator_email, s.operator_password
        )?;
        writeln!(
            f,
            "    curl -s '{base}/admin/v1/stations?limit=5' -H \"authorization: Bearer $TOKEN\""
        )?;
        for line in &self.extra {
            writeln!(f, "  {line}")?;
        }
        writeln!(f)?;
        writeln!(f, "Press Ctrl-C to stop.")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_network_parses() {
        let doc = openpile_import::parse_json(super::DEMO_NETWORK).unwrap();
        assert!(doc.stations().len() >= 15, "{}", doc.stations().len());
        assert!(doc.missing_references().is_empty());
    }
}
