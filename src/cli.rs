//! The operator's command-line tool. Every command prints JSON on stdout; errors go to stderr with
//! a non-zero exit.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};

use crate::config::Config;
use crate::domain::app::{self, App};
use crate::domain::staff::{self, NewBotSpec};
use crate::domain::strangers;
use crate::domain::views;
use crate::error::ApiError;
use crate::level::Level;
use crate::store::users::UserRow;
use crate::store::{self, Conn};
use crate::time::SystemClock;

#[derive(Parser, Debug)]
#[command(name = "portal", version, about = "The Portal API server and its operator tool")]
pub struct Cli {
    /// Database URL (postgres://… or sqlite://…); default: SQLite under the data dir.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Folder for the embedded SQLite database.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// A TOML configuration file.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply the database migrations.
    Migrate,
    #[command(subcommand)]
    User(UserCommand),
    #[command(subcommand)]
    Bot(BotCommand),
    #[command(subcommand, name = "public-key")]
    PublicKey(PublicKeyCommand),
    #[command(subcommand)]
    Session(SessionCommand),
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user with one linked platform identity.
    Create {
        #[arg(long)]
        platform: String,
        #[arg(long)]
        platform_user_id: String,
        #[arg(long)]
        username: Option<String>,
        #[arg(long, default_value_t = 0)]
        level: i64,
    },
    /// Set a user's permission level (0–3).
    SetLevel {
        user: String,
        level: i64,
        #[arg(long)]
        reason: Option<String>,
    },
    /// List users.
    List {
        #[arg(long)]
        level: Option<i64>,
    },
    /// Print a one-time login code for the web front (the user's first linked platform; valid for
    /// `login_code.ttl_s`, usable once).
    LoginCode { user: String },
    /// Hard-delete a user and what belongs to them (refused for the last unbanned Owner).
    Delete {
        user: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum BotCommand {
    /// Register a bot and print its key once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner: String,
        #[arg(long)]
        platform: String,
        #[arg(long = "type", default_value = "community")]
        bot_type: String,
        #[arg(long, default_value_t = 1000)]
        rate_limit_per_hour: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum PublicKeyCommand {
    /// Create a public API key and print it once.
    Create {
        #[arg(long)]
        label: Option<String>,
    },
    /// List the public keys made here (their first characters, never the keys).
    List,
    /// Revoke a public key by its id: refused from the next request on.
    Revoke { id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum SessionCommand {
    /// List a user's active sessions and history.
    List { user: String },
    /// End one session (by suffix) or all of a user's sessions.
    Revoke {
        user: String,
        #[arg(long)]
        suffix: Option<String>,
    },
}

impl Cli {
    pub fn load_config(&self) -> Result<Config, String> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(url) = &self.database_url {
            config.database_url = Some(url.clone());
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        Ok(config)
    }
}

/// Runs an operator command and returns what it prints.
pub async fn run(config: Config, command: Command) -> Result<Value, String> {
    let store = app::open_store(&config).await?;
    if matches!(command, Command::Migrate) {
        return Ok(json!({"migrated": true, "backend": store.backend().name()}));
    }
    let app = App::new(config, store.clone(), Arc::new(SystemClock))?;
    let result = execute(&app, command).await.map_err(|e| match e {
        ApiError::Validation { message, .. } => message,
        other => other.to_string(),
    });
    if result.is_ok() && app.ephemeral.wait_connected(std::time::Duration::from_secs(1)).await {
        // Nodes that cached a session this command ended or changed drop it now.
        app.ephemeral.invalidate_caches().await;
    }
    store.close().await;
    result
}

async fn find_user(conn: &mut Conn, name_or_id: &str) -> Result<UserRow, ApiError> {
    let by_id = match name_or_id.parse::<i64>() {
        Ok(id) => store::users::by_id(conn, id).await?,
        Err(_) => None,
    };
    match by_id {
        Some(user) => Ok(user),
        None => store::users::by_username(conn, name_or_id)
            .await?
            .ok_or(ApiError::UserNotFound),
    }
}

/// A deleted user's direct chats end as their leave before the row goes (91-matchmaking §2.5), as
/// the admin endpoint does, once the deletion is known not to be refused.
async fn leave_matchmaking_before_deletion(app: &App, name_or_id: &str) -> Result<(), ApiError> {
    let mut conn = app.store.acquire().await?;
    let target = find_user(&mut conn, name_or_id).await?;
    staff::guard_last_owner(&mut conn, &target, app.now()).await?;
    drop(conn);
    crate::domain::matchmaking::user_gone(app, target.id).await
}

fn level_arg(level: i64) -> Result<Level, ApiError> {
    Level::from_i64(level).ok_or_else(|| ApiError::validation("level", "level must be between 0 and 3"))
}

async fn execute(app: &App, command: Command) -> Result<Value, ApiError> {
    let now = app.now();
    if let Command::User(UserCommand::Delete { user, .. }) = &command {
        leave_matchmaking_before_deletion(app, user).await?;
    }
    let mut tx = app.store.begin().await?;
    // A user whose sessions this command ended, to be told to matchmaking after the commit.
    let mut sessions_ended_of = None;
    let output = match command {
        Command::Serve | Command::Migrate => unreachable!("handled by the caller"),
        Command::User(UserCommand::Create {
            platform,
            platform_user_id,
            username,
            level,
        }) => {
            let level = level_arg(level)?;
            if !app.config.platforms.contains(&platform) {
                return Err(ApiError::validation(
                    "platform",
                    format!("platform must be one of: {}", app.config.platforms.join(", ")),
                ));
            }
            crate::domain::users::check_platform_user_id(&platform_user_id)?;
            if store::users::by_identity(&mut tx, &platform, &platform_user_id)
                .await?
                .is_some()
            {
                return Err(ApiError::validation(
                    "platform_user_id",
                    "platform_user_id is already linked to a user",
                ));
            }
            if let Some(name) = &username {
                crate::domain::users::check_username(name)?;
                if store::users::username_taken(&mut tx, name, None).await? {
                    return Err(ApiError::validation("username", "username is already taken"));
                }
            }
            let user = crate::domain::users::create_account(
                &mut tx,
                crate::domain::users::NewAccount {
                    username: username.as_deref(),
                    platform: &platform,
                    platform_user_id: &platform_user_id,
                    platform_username: &platform_user_id,
                    platform_avatar_url: None,
                },
                now,
            )
            .await?;
            if level != Level::User {
                staff::set_level(app, &mut tx, None, &user, level, Some("set by the command-line tool")).await?;
            }
            let user = store::users::by_id(&mut tx, user.id)
                .await?
                .ok_or(ApiError::UserNotFound)?;
            serde_json::to_value(views::load_private(&mut tx, &user, now).await?).map_err(ApiError::internal)?
        }
        Command::User(UserCommand::SetLevel { user, level, reason }) => {
            let level = level_arg(level)?;
            let target = find_user(&mut tx, &user).await?;
            let change = staff::set_level(app, &mut tx, None, &target, level, reason.as_deref()).await?;
            let user = store::users::by_id(&mut tx, target.id)
                .await?
                .ok_or(ApiError::UserNotFound)?;
            let mut value =
                serde_json::to_value(views::load_private(&mut tx, &user, now).await?).map_err(ApiError::internal)?;
            value["history_id"] = json!(change.history_id);
            value["sessions_ended"] = json!(change.sessions_ended);
            value
        }
        Command::User(UserCommand::List { level }) => {
            let users = store::users::list(&mut tx, level).await?;
            let mut out = Vec::with_capacity(users.len());
            for user in &users {
                out.push(views::load_private(&mut tx, user, now).await?);
            }
            serde_json::to_value(out).map_err(ApiError::internal)?
        }
        Command::User(UserCommand::LoginCode { user }) => {
            let user = find_user(&mut tx, &user).await?;
            let code = crate::domain::auth::operator_code(app, &mut tx, &user).await?;
            serde_json::to_value(code).map_err(ApiError::internal)?
        }
        Command::User(UserCommand::Delete { user, reason }) => {
            let target = find_user(&mut tx, &user).await?;
            // The tool holds no realtime connections, so it sends no room events: the deletion's
            // rotations are in the database, the user's connections close with their sessions,
            // and clients read the deleted messages' absence from the history.
            let _rooms_not_told = staff::delete_user(app, &mut tx, None, &target, reason.as_deref()).await?;
            json!({"deleted": target.id, "username": target.username})
        }
        Command::Bot(BotCommand::Create {
            name,
            owner,
            platform,
            bot_type,
            rate_limit_per_hour,
        }) => {
            let bot_type = crate::bot_type::BotType::from_name(&bot_type)
                .ok_or_else(|| ApiError::validation("type", "type must be one of: official, verified, community"))?;
            if !app.config.platforms.contains(&platform) {
                return Err(ApiError::validation(
                    "platform",
                    format!("platform must be one of: {}", app.config.platforms.join(", ")),
                ));
            }
            crate::domain::input::trimmed_text("name", &name, 2, 32)?;
            crate::domain::input::check_range("rate_limit_per_hour", rate_limit_per_hour, 1, 1_000_000)?;
            let owner = find_user(&mut tx, &owner).await?;
            if bot_type == crate::bot_type::BotType::Official {
                crate::domain::bots::require_official_owner(&mut tx, &owner, app.now()).await?;
            }
            let (bot, key) = staff::register_bot(
                app,
                &mut tx,
                None,
                NewBotSpec {
                    name: name.trim(),
                    platform: &platform,
                    owner: &owner,
                    bot_type,
                    rate_limit_per_hour,
                },
            )
            .await?;
            json!({"bot": views::BotPrivate::from(bot), "api_key": key})
        }
        Command::PublicKey(PublicKeyCommand::Create { label }) => {
            let (id, key) = staff::create_public_key(app, &mut tx, label.as_deref()).await?;
            json!({"id": id, "api_key": key, "label": label})
        }
        Command::PublicKey(PublicKeyCommand::List) => staff::public_keys(&mut tx).await?,
        Command::PublicKey(PublicKeyCommand::Revoke { id }) => {
            staff::revoke_public_key(app, &mut tx, id).await?;
            json!({"revoked": id})
        }
        Command::Session(SessionCommand::List { user }) => {
            let user = find_user(&mut tx, &user).await?;
            let live = store::sessions::live_of(&mut tx, user.id, now).await?;
            let history = store::sessions::history_of(&mut tx, user.id, now, 50).await?;
            json!({
                "sessions": live.into_iter().map(|s| views::ActiveSession::from_row(s, 0)).collect::<Vec<_>>(),
                "history": history.into_iter().map(views::EndedSession::from).collect::<Vec<_>>(),
            })
        }
        Command::Session(SessionCommand::Revoke { user, suffix }) => {
            let user = find_user(&mut tx, &user).await?;
            let revoked = staff::revoke_sessions(app, &mut tx, &user, suffix.as_deref()).await?;
            if !revoked.is_empty() {
                sessions_ended_of = Some(user);
            }
            json!({"revoked": revoked.len(), "token_suffixes": revoked})
        }
    };
    tx.commit().await?;
    if let Some(user) = sessions_ended_of {
        strangers::session_ended(app, &user).await;
    }
    Ok(output)
}
