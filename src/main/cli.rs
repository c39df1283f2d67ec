//! The command line: `keyhold`'s subcommands and their options.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "keyhold",
    version,
    about = "Bring Your Own Key backoffice for AI providers"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// How `serve` writes its log on stdout: `text` (the default) or `json` (one JSON object a
    /// line, for a log collector).
    #[arg(long, env = "KEYHOLD_LOG_FORMAT", value_name = "text|json")]
    pub(crate) log_format: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the web server (the default). With no configuration: SQLite and keys in ./data.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a platform admin; prints a one-time link to choose the password unless
    /// --password-stdin is given.
    CreateAdmin {
        /// The admin's email address.
        #[arg(long)]
        email: String,
        /// The admin's name.
        #[arg(long, default_value = "Admin")]
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Print a fresh master key for KEYHOLD_MASTER_KEYS.
    GenMasterKey {
        /// The id to give the key (v1, v2, ...).
        #[arg(long, default_value = "v1")]
        id: String,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Re-seal every stored key under the active (first) master key of KEYHOLD_MASTER_KEYS.
    /// Safe while serving; run it again to resume after an interruption.
    RotateMasterKey {
        /// Keys re-sealed per transaction.
        #[arg(long, default_value_t = 100)]
        batch: i64,
    },
    /// Check the configuration, the database, the audit chain and that every stored key opens.
    Check,
    /// Fill the database with demo data (for benchmarks and trying Keyhold out): an admin,
    /// OpenAI and Anthropic enabled with BYOK on, workspaces with owners, workspace keys,
    /// audit events, and an API token of the first workspace.
    SeedDemo {
        /// Workspaces to create (each with an owner).
        #[arg(long, default_value_t = 3)]
        workspaces: usize,
        /// Workspace OpenAI keys to create, spread over the workspaces.
        #[arg(long, default_value_t = 3)]
        keys: usize,
        /// Audit events to append.
        #[arg(long, default_value_t = 100)]
        audit: usize,
        /// Print only the API token (for scripts).
        #[arg(long)]
        token_only: bool,
        /// Also turn AWS Bedrock on with a global key that only a mock accepts (point
        /// KEYHOLD_PROVIDER_BEDROCK_BASE_URL at one): the benchmark's Bedrock round.
        #[arg(long)]
        bedrock: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Walk the hash chain and report the first edited, missing or reordered event.
    Verify,
}
