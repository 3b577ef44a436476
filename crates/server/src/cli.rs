//! The `openpile` command line: parses arguments, loads the configuration, starts logging and
//! runs one command. Exit codes: 0 success, 1 the command failed (import rejected, database
//! error, cannot bind), 2 invalid configuration or arguments.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use openpile_core::clock::{Clock as _, SystemClock};
use openpile_core::error::StoreError;
use openpile_core::ids::{IdGenerator as _, UuidV7Ids};
use openpile_core::operator::{AuditEntry, Email, OperatorRole, validate_password};
use openpile_import::ImportErrors;
use openpile_secrets as secrets;
use secrecy::ExposeSecret as _;

use crate::config::{Config, ConfigError, ConfigSources, LogFormat};
use crate::import::{self, ImportFailure};
use crate::startup::{Application, Stores, shutdown_signal};
use crate::{demo, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "openpile",
    version,
    about = "OpenPile: a charge point operator's open platform"
)]
pub struct Cli {
    /// A TOML file with settings (default: ./openpile.toml when present). See
    /// config/default.toml for every setting; OPENPILE__SECTION__KEY variables override it.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log format (overrides [log] format).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Pretty,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Listen address, e.g. 0.0.0.0:8080 (overrides [http] addr; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub http_addr: Option<String>,
    /// Database URL (overrides [db] url).
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the APIs, the OCPP endpoint, docs and metrics until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// Like serve, on a demo database (default sqlite://openpile-demo.db) seeded with the demo
    /// network and a demo operator whose login is printed.
    Demo(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate {
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
    /// Import stations, chargers, connectors and tariffs: one JSON file, or CSV files. Every
    /// problem is reported with its row; nothing is written unless all is valid.
    Import {
        #[arg(long, value_name = "URL")]
        db: Option<String>,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Operator accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Simulated chargers: real OCPP 1.6J clients that connect to a central system (this one
    /// or any other), boot, report status and answer remote commands.
    Sim(openpile_sim::SimArgs),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an operator account. Without --password or --password-stdin a strong password is
    /// generated and printed once.
    CreateUser {
        #[arg(long)]
        email: String,
        /// admin, reviewer, operations or finance.
        #[arg(long)]
        role: String,
        /// The password (visible in the process list: prefer --password-stdin).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, value_name = "URL")]
        db: Option<String>,
    },
}

/// How a command failed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error("import rejected, nothing was written.\n{0}")]
    ImportRejected(ImportErrors),
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
}

impl Failure {
    fn exit_code(&self) -> ExitCode {
        match self {
            Self::Config(_) | Self::Usage(_) => ExitCode::from(2),
            Self::ImportRejected(_) | Self::Failed(_) => ExitCode::from(1),
        }
    }
}

/// Entry point of the binary.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match run_cli(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {f}");
            f.exit_code()
        }
    }
}

fn run_cli(cli: Cli) -> Result<(), Failure> {
    let mut sources = ConfigSources::from_process(cli.config.clone());
    match &cli.command {
        Command::Serve(a) => sources = with_serve_flags(sources, a, None),
        Command::Demo(a) => sources = with_serve_flags(sources, a, Some(demo::DEMO_DB_URL)),
        Command::Migrate { db } | Command::Import { db, .. } => {
            if let Some(db) = db {
                sources = sources.flag("db.url", db);
            }
        }
        Command::Admin(AdminCommand::CreateUser { db, .. }) => {
            if let Some(db) = db {
                sources = sources.flag("db.url", db);
            }
        }
        Command::Sim(_) => {}
    }
    let loaded = Config::load(&sources)?;
    let mut config = loaded.config;
    if let Some(f) = cli.log_format {
        config.log.format = match f {
            LogFormatArg::Pretty => LogFormat::Pretty,
            LogFormatArg::Json => LogFormat::Json,
        };
    }
    telemetry::init(&config.log);
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!(e).context("cannot start the async runtime"))?;
    runtime.block_on(dispatch(cli.command, config))
}

fn with_serve_flags(
    mut sources: ConfigSources,
    args: &ServeArgs,
    default_db: Option<&str>,
) -> ConfigSources {
    if let Some(addr) = &args.http_addr {
        sources = sources.flag("http.addr", addr);
    }
    match (&args.db, default_db) {
        (Some(db), _) => sources = sources.flag("db.url", db),
        (None, Some(db)) => sources = sources.flag("db.url", db),
        (None, None) => {}
    }
    sources
}

async fn dispatch(command: Command, config: Config) -> Result<(), Failure> {
    match command {
        Command::Serve(_) => serve(config).await,
        Command::Demo(_) => run_demo(config).await,
        Command::Migrate { .. } => migrate(&config).await,
        Command::Import { files, .. } => import_files(&config, &files).await,
        Command::Admin(AdminCommand::CreateUser {
            email,
            role,
            password,
            password_stdin,
            ..
        }) => create_user(&config, &email, &role, password, password_stdin).await,
        Command::Sim(args) => openpile_sim::run_cli(args)
            .await
            .map_err(|e| Failure::Failed(anyhow::Error::from(e))),
    }
}

async fn serve(config: Config) -> Result<(), Failure> {
    let app = Application::build(config)
        .await
        .map_err(anyhow::Error::from)?;
    app.run_until(shutdown_signal())
        .await
        .map_err(|e| anyhow::anyhow!(e).context("the HTTP server failed"))?;
    Ok(())
}

async fn run_demo(config: Config) -> Result<(), Failure> {
    let (app, banner) = demo::build(config).await.map_err(anyhow::Error::from)?;
    // Printed once the port is bound, so that a script may read the address and connect at
    // once.
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{banner}");
    let _ = out.flush();
    drop(out);
    app.run_until(shutdown_signal())
        .await
        .map_err(|e| anyhow::anyhow!(e).context("the HTTP server failed"))?;
    Ok(())
}

async fn migrate(config: &Config) -> Result<(), Failure> {
    // Opening the store applies the pending migrations.
    let stores = Stores::open(config.db.url.expose_secret())
        .await
        .map_err(anyhow::Error::from)?;
    stores.backend.close().await;
    println!("database is up to date: {}", config.db.redacted_url());
    Ok(())
}

async fn import_files(config: &Config, files: &[PathBuf]) -> Result<(), Failure> {
    let doc = match import::read_files(files) {
        Ok(doc) => doc,
        Err(ImportFailure::Invalid(errors)) => return Err(Failure::ImportRejected(errors)),
        Err(ImportFailure::Files(msg)) => return Err(Failure::Usage(msg)),
        Err(e) => return Err(anyhow::Error::from(e).into()),
    };
    let stores = Stores::open(config.db.url.expose_secret())
        .await
        .map_err(anyhow::Error::from)?;
    let result = import::import(&stores, doc, secrets::HashCost::Standard).await;
    stores.backend.close().await;
    match result {
        Ok(n) => {
            println!(
                "imported {} tariff versions, {} stations, {} chargers, {} connectors into {}",
                n.tariffs,
                n.stations,
                n.chargers,
                n.connectors,
                config.db.redacted_url()
            );
            Ok(())
        }
        Err(ImportFailure::Invalid(errors)) => Err(Failure::ImportRejected(errors)),
        Err(ImportFailure::Store(StoreError::Conflict { constraint })) => {
            Err(Failure::Failed(anyhow::anyhow!(
                "import rejected, nothing was written: it conflicts with stored data ({constraint}); a tariff version can only be imported again unchanged"
            )))
        }
        Err(e) => Err(anyhow::Error::from(e)
            .context("import failed, nothing was written")
            .into()),
    }
}

async fn create_user(
    config: &Config,
    email: &str,
    role: &str,
    password: Option<String>,
    password_stdin: bool,
) -> Result<(), Failure> {
    let email =
        Email::parse(email).map_err(|e| Failure::Usage(format!("--email: {}", e.reason)))?;
    let role =
        OperatorRole::parse(role).map_err(|e| Failure::Usage(format!("--role: {}", e.reason)))?;
    let (password, generated) = match (password, password_stdin) {
        (Some(p), _) => (p, false),
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Failure::Usage(format!("cannot read the password from stdin: {e}")))?;
            (line.trim_end_matches(['\r', '\n']).to_owned(), false)
        }
        (None, false) => (secrets::generate_password(20), true),
    };
    validate_password("password", &password)
        .map_err(|e| Failure::Usage(format!("password: {}", e.reason)))?;
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || secrets::hash_password(&pw))
        .await
        .map_err(anyhow::Error::from)?
        .map_err(anyhow::Error::from)?;

    let stores = Stores::open(config.db.url.expose_secret())
        .await
        .map_err(anyhow::Error::from)?;
    let id = UuidV7Ids.next();
    let now = SystemClock.now();
    let created = stores
        .operators
        .create_operator(&id, &email, role, &hash, now)
        .await;
    let result = match created {
        Ok(account) => stores
            .operators
            .append_audit(&AuditEntry {
                id: UuidV7Ids.next(),
                at: now,
                actor: "system".into(),
                action: "operator.create".into(),
                object: format!("operator:{}", account.id),
                details: serde_json::json!({ "email": email.as_str(), "role": role.as_str(), "via": "cli" })
                    .to_string(),
            })
            .await
            .map(|()| account)
            .map_err(|e| anyhow::Error::from(e).context("cannot write the audit entry").into()),
        Err(StoreError::Conflict { .. }) => Err(Failure::Failed(anyhow::anyhow!(
            "an operator with e-mail {} already exists",
            email.as_str()
        ))),
        Err(e) => Err(anyhow::Error::from(e)
            .context("cannot create the operator")
            .into()),
    };
    stores.backend.close().await;
    let account = result?;
    println!(
        "created operator {} (role {}, id {})",
        account.email.as_str(),
        account.role.as_str(),
        account.id
    );
    if generated {
        println!("password: {password}");
        println!("(shown once; it is stored only as an argon2 hash)");
    }
    Ok(())
}
