//! `keyhold create-admin` and `keyhold seed-demo`: people and demo data made from the
//! command line.

use std::io::BufRead;
use std::process::ExitCode;

use keyhold::services::accounts;
use secrecy::SecretString;

use super::{load_config, open_db};

/// `keyhold create-admin`: a platform admin, with a one-time link to choose the password
/// unless it was read from standard input.
pub(crate) fn create_admin(
    email: String,
    name: String,
    password_stdin: bool,
) -> Result<(), ExitCode> {
    let config = load_config()?;
    let mut conn = open_db(&config)?;
    let (password, link_needed) = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|_| ExitCode::FAILURE)?;
        let pw = line.trim_end_matches(['\r', '\n']).to_owned();
        if let Err(m) = keyhold::domain::password::check_policy(&pw) {
            eprintln!("keyhold: password: {m}");
            return Err(ExitCode::from(2));
        }
        (pw, false)
    } else {
        (keyhold::domain::tokens::generate(""), true)
    };
    let hash = keyhold::domain::password::hash(&SecretString::from(password)).map_err(|e| {
        eprintln!("keyhold: {e}");
        ExitCode::FAILURE
    })?;
    let user = accounts::create_admin_cli(&mut conn, &config.keyring, &email, &name, &hash)
        .map_err(|e| {
            eprintln!("keyhold: cannot create the admin: {e}");
            ExitCode::from(2)
        })?;
    println!("Created platform admin {}.", user.email);
    if link_needed {
        let token = accounts::cli_password_link(&mut conn, &user).map_err(|e| {
            eprintln!("keyhold: {e}");
            ExitCode::FAILURE
        })?;
        println!(
            "Choose the password here (valid 72 hours, once):\n  {}",
            config.link(&format!("/password/reset?token={token}"))
        );
    }
    Ok(())
}

/// `keyhold seed-demo`.
pub(crate) fn seed_demo(
    workspaces: usize,
    keys: usize,
    events: usize,
    token_only: bool,
    bedrock: bool,
) -> Result<(), ExitCode> {
    let config = load_config()?;
    let mut conn = open_db(&config)?;
    let opts = keyhold::services::seed::SeedOptions {
        workspaces,
        keys,
        audit: events,
        secret: "sk-demo-not-a-real-key-0000".into(),
    };
    let report =
        keyhold::services::seed::seed_demo(&mut conn, &config.keyring, &opts).map_err(|e| {
            eprintln!("keyhold: seeding failed: {e}");
            ExitCode::FAILURE
        })?;
    if bedrock {
        keyhold::services::seed::seed_bedrock(&mut conn, &config.keyring).map_err(|e| {
            eprintln!("keyhold: seeding the Bedrock key failed: {e}");
            ExitCode::FAILURE
        })?;
    }
    if token_only {
        println!("{}", report.token);
    } else {
        println!("Seeded {workspaces} workspaces, {keys} keys, {events} audit events.");
        println!("Admin: {} / {}", report.admin_email, report.admin_password);
        println!(
            "API token of /w/{}: {}",
            report.first_workspace, report.token
        );
        if bedrock {
            println!("AWS Bedrock: on, with a global demo key that only a mock accepts.");
        }
    }
    Ok(())
}
