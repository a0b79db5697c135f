//! The command line: `keysmith` serves; `keysmith user create` adds a user
//! for set-ups where public sign-up is off.

use super::{config::Config, Application, BoxError};
use crate::{
    auth::{hashing::PasswordHasher, service},
    storage::Db,
};
use std::{
    io::{BufRead, IsTerminal},
    process::ExitCode,
};

const USAGE: &str = "\
Keysmith: a self-hosted API-key manager.

Usage:
  keysmith [serve]                          Run the server (the default)
  keysmith user create --email <EMAIL>      Create a user and its account; the
                                            password is read from a prompt, or
                                            from standard input when piped
  keysmith --help | --version

Environment (a .env file in the working folder is read too):
";

enum Command {
    Serve,
    CreateUser { email: String },
    Help,
    Version,
}

fn parse(args: &[String]) -> Result<Command, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["serve"] => Ok(Command::Serve),
        ["-h" | "--help" | "help", ..] => Ok(Command::Help),
        ["-V" | "--version"] => Ok(Command::Version),
        ["user", "create", "--email", email] => Ok(Command::CreateUser {
            email: email.to_string(),
        }),
        ["user", "create", email_flag] if email_flag.starts_with("--email=") => {
            Ok(Command::CreateUser {
                email: email_flag["--email=".len()..].to_string(),
            })
        }
        ["user", ..] => Err("usage: keysmith user create --email <EMAIL>".into()),
        [other, ..] => Err(format!("unknown command {other:?}; see keysmith --help")),
    }
}

pub async fn run(args: Vec<String>) -> ExitCode {
    let command = match parse(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let outcome = match command {
        Command::Help => {
            print!("{USAGE}{}", Config::help());
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("keysmith {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Serve => serve().await,
        Command::CreateUser { email } => create_user(&email).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), BoxError> {
    let config = Config::from_env()?;
    Application::build(config).await?.run_until_stopped().await
}

async fn create_user(email: &str) -> Result<(), BoxError> {
    let config = Config::from_env()?;
    let password = read_password()?;
    let db = Db::connect(&config.database_url).await?;
    let passwords = PasswordHasher::new(1);
    let user = service::create_owner(&db, &passwords, email, password, &Default::default()).await?;
    db.close().await;
    println!(
        "created user {} in account {}",
        user.user_id, user.account_id
    );
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

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_arguments_serves() {
        assert!(matches!(parse(&args(&[])), Ok(Command::Serve)));
    }

    #[test]
    fn user_create_takes_the_email_in_either_form() {
        for list in [
            &["user", "create", "--email", "a@b.io"][..],
            &["user", "create", "--email=a@b.io"],
        ] {
            match parse(&args(list)) {
                Ok(Command::CreateUser { email }) => assert_eq!(email, "a@b.io"),
                _ => panic!("{list:?} should parse"),
            }
        }
    }

    #[test]
    fn a_password_argument_is_not_accepted() {
        assert!(parse(&args(&[
            "user",
            "create",
            "--email",
            "a@b.io",
            "--password",
            "x"
        ]))
        .is_err());
        assert!(parse(&args(&["frobnicate"])).is_err());
    }
}
