//! The command line: `keysmith` serves; `keysmith user create` adds a user
//! for set-ups where public sign-up is off.

use super::{config::Config, Application, BoxError};
use crate::{
    auth::{hashing::PasswordHasher, recovery, service, two_factor},
    storage::Db,
};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::{
    io::{BufRead, IsTerminal},
    process::ExitCode,
};

const ABOUT: &str = "Keysmith: a self-hosted API-key manager.";

const AFTER_HELP: &str = "\
Every setting can also be given as the environment variable shown beside it
(a .env file in the working folder is read too); the flag wins.

Create a user while public sign-up is off (the password is read from a
prompt, or from standard input when piped, never from the arguments):
  keysmith user create --email <EMAIL>

Help a user who forgot their password, on a server without mail: print a
one-time link (one hour) to hand them, or set a password yourself (read as
above); either way every session and token of theirs ends:
  keysmith user reset-password <EMAIL>
  keysmith user reset-password <EMAIL> --set-password

Turn two-factor sign-in off for a user who lost their app and recovery codes:
  keysmith user disable-two-factor <EMAIL>";

#[derive(Parser)]
#[command(name = "keysmith", version, about = ABOUT)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a user and its account.
    Create {
        #[arg(long)]
        email: String,
    },
    /// Print a one-time password reset link for a user, or set their
    /// password (read from a prompt or standard input).
    ResetPassword {
        email: String,
        /// Set the password now instead of printing a link.
        #[arg(long)]
        set_password: bool,
    },
    /// Turn two-factor sign-in off for a user who lost their app, their
    /// passkeys and their recovery codes: every second factor is removed.
    DisableTwoFactor { email: String },
}

/// The command line, with this process's environment: a variable set but
/// blank counts as unset, so its default applies.
fn command() -> clap::Command {
    let blank: Vec<clap::Id> = Cli::command()
        .get_arguments()
        .filter(|arg| {
            arg.get_env()
                .and_then(std::env::var_os)
                .is_some_and(|value| value.to_string_lossy().trim().is_empty())
        })
        .map(|arg| arg.get_id().clone())
        .collect();
    let mut command = Cli::command()
        .after_help(AFTER_HELP)
        .after_long_help(format!(
            "{AFTER_HELP}\n\n{}",
            Config::other_variables_help()
        ));
    for id in blank {
        command = command.mut_arg(id, |arg| arg.env(None));
    }
    command
}

fn parse(args: Vec<String>) -> Result<Cli, ExitCode> {
    let command = command();
    let argv = std::iter::once("keysmith".to_owned()).chain(args);
    let refused = |error: clap::Error| match Config::setting_error(&error, &command) {
        Some(setting) => {
            eprintln!("error: {setting}");
            ExitCode::FAILURE
        }
        None => {
            let _ = error.print();
            ExitCode::from(error.exit_code() as u8)
        }
    };
    let matches = command
        .clone()
        .try_get_matches_from(argv)
        .map_err(refused)?;
    Cli::from_arg_matches(&matches).map_err(refused)
}

pub async fn run(args: Vec<String>) -> ExitCode {
    let cli = match parse(args) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let config = cli.config.finish();
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::User {
            action: UserAction::Create { email },
        } => create_user(config, &email).await,
        Command::User {
            action:
                UserAction::ResetPassword {
                    email,
                    set_password,
                },
        } => reset_password(config, &email, set_password).await,
        Command::User {
            action: UserAction::DisableTwoFactor { email },
        } => disable_two_factor(config, &email).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), BoxError> {
    Application::build(config).await?.run_until_stopped().await
}

async fn create_user(config: Config, email: &str) -> Result<(), BoxError> {
    let password = read_password()?;
    let db = Db::connect(&config.database_url).await?;
    let passwords = PasswordHasher::new(1);
    let user = service::create_owner(&db, &passwords, email, password, &Default::default())
        .await?
        .user;
    db.close().await;
    println!(
        "created user {} in account {}",
        user.user_id, user.account_id
    );
    Ok(())
}

async fn reset_password(config: Config, email: &str, set: bool) -> Result<(), BoxError> {
    let password = set.then(read_password).transpose()?;
    let db = Db::connect(&config.database_url).await?;
    let done = match password {
        Some(password) => {
            let passwords = PasswordHasher::new(1);
            recovery::operator_set_password(&db, &passwords, email, password)
                .await
                .map(|()| format!("password set for {email}; their sessions and tokens have ended"))
        }
        None => {
            let origin = config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", config.site_addr));
            recovery::operator_reset_link(&db, email, &origin).await
        }
    };
    db.close().await;
    println!("{}", done?);
    Ok(())
}

async fn disable_two_factor(config: Config, email: &str) -> Result<(), BoxError> {
    let db = Db::connect(&config.database_url).await?;
    let done = two_factor::operator_disable_two_factor(&db, email).await;
    db.close().await;
    done?;
    println!("two-factor sign-in is off for {email}; they sign in with their password");
    Ok(())
}

/// From a hidden prompt (asked twice) at a terminal, else the first line of
/// standard input. Never from the arguments, which other users can see.
fn read_password() -> Result<String, BoxError> {
    if std::io::stdin().is_terminal() {
        let password = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password again: ")?;
        if password != again {
            return Err("the two passwords differ".into());
        }
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(list: &[&str]) -> Option<Command> {
        let argv = std::iter::once("keysmith").chain(list.iter().copied());
        let matches = Cli::command()
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(argv)
            .ok()?;
        Cli::from_arg_matches(&matches).ok()?.command
    }

    #[test]
    fn no_arguments_serves() {
        assert!(parsed(&[]).is_none());
        assert!(matches!(parsed(&["serve"]), Some(Command::Serve)));
    }

    #[test]
    fn user_create_takes_the_email_in_either_form() {
        for list in [
            &["user", "create", "--email", "a@b.io"][..],
            &["user", "create", "--email=a@b.io"],
        ] {
            match parsed(list) {
                Some(Command::User {
                    action: UserAction::Create { email },
                }) => assert_eq!(email, "a@b.io"),
                _ => panic!("{list:?} should parse"),
            }
        }
    }

    #[test]
    fn reset_password_prints_a_link_or_sets_one() {
        match parsed(&["user", "reset-password", "a@b.io"]) {
            Some(Command::User {
                action:
                    UserAction::ResetPassword {
                        email,
                        set_password,
                    },
            }) => assert_eq!((email.as_str(), set_password), ("a@b.io", false)),
            _ => panic!("reset-password should parse"),
        }
        assert!(matches!(
            parsed(&["user", "reset-password", "a@b.io", "--set-password"]),
            Some(Command::User {
                action: UserAction::ResetPassword {
                    set_password: true,
                    ..
                },
            })
        ));
    }

    #[test]
    fn a_password_argument_is_not_accepted() {
        let with_password = ["user", "create", "--email", "a@b.io", "--password", "x"];
        assert!(parsed(&with_password).is_none());
        assert!(parsed(&["frobnicate"]).is_none());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
