//! The Discord bot: a `/login` slash command, acknowledged at once as a private (ephemeral)
//! answer and followed by the code in a direct message, or in that private answer when the
//! user's direct messages are closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use twilight_gateway::{ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt as _};
use twilight_http::api_error::ApiError;
use twilight_http::error::ErrorType;
use twilight_http::Client;
use twilight_model::application::command::Command;
use twilight_model::application::interaction::{Interaction, InteractionData};
use twilight_model::channel::message::MessageFlags;
use twilight_model::http::interaction::{InteractionResponse, InteractionResponseData, InteractionResponseType};
use twilight_model::id::marker::{ApplicationMarker, UserMarker};
use twilight_model::id::Id;
use twilight_model::user::User;

use crate::backoff::Backoff;
use crate::config::DiscordConfig;
use crate::login::Outcome;
use crate::portal::Identity;
use crate::{texts, Core, Platform};

const LOGIN: &str = "login";

/// Discord's error code for a direct message to a user who does not accept them.
const CANNOT_MESSAGE_USER: u64 = 50007;

pub async fn run(config: &DiscordConfig, token: &str, core: Arc<Core>) -> Result<(), String> {
    let mut http = Client::builder().token(token.to_owned());
    if let Some(proxy) = &config.rest_proxy {
        http = http.proxy(proxy.clone(), true);
    }
    let http = Arc::new(http.build());
    // Interactions reach every bot whatever its intents: no privileged intent is needed.
    let mut gateway = ConfigBuilder::new(token.to_owned(), Intents::empty());
    if let Some(url) = &config.gateway_url {
        gateway = gateway.proxy_url(url.trim_end_matches('/').to_owned());
    }
    // The shard reconnects (and resumes) by itself when the connection drops; its errors are
    // reported and the loop goes on.
    let mut shard = Shard::with_config(ShardId::ONE, gateway.build());
    let wanted = EventTypeFlags::READY | EventTypeFlags::INTERACTION_CREATE;
    while let Some(item) = shard.next_event(wanted).await {
        match item {
            Ok(Event::Ready(ready)) => {
                tracing::info!(bot = %ready.user.name, "serving Discord");
                for guild in &ready.guilds {
                    core.usage.group(&guild.id.to_string());
                }
                tokio::spawn(register_commands(http.clone(), ready.application.id));
            }
            Ok(Event::InteractionCreate(interaction)) => {
                tokio::spawn(handle(http.clone(), core.clone(), interaction.0));
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "Discord gateway"),
        }
    }
    Err("the Discord gateway closed the connection for good: is the token right?".into())
}

/// Declares `/login` (a PUT of the whole list: running it again changes nothing), retrying while
/// Discord cannot be reached.
async fn register_commands(http: Arc<Client>, application: Id<ApplicationMarker>) {
    let commands = match login_command() {
        Ok(command) => [command],
        Err(error) => {
            tracing::error!(%error, "cannot build the /login command");
            return;
        }
    };
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
    loop {
        match http.interaction(application).set_global_commands(&commands).await {
            Ok(_) => return,
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, ?delay, "cannot register /login; trying again");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn login_command() -> Result<Command, serde_json::Error> {
    // Usable in servers (0), in direct messages with the bot (1) and in other private channels (2).
    serde_json::from_value(serde_json::json!({
        "type": 1,
        "name": LOGIN,
        "description": texts::login_command_description(),
        "default_member_permissions": null,
        "contexts": [0, 1, 2],
        "version": "1",
    }))
}

async fn handle(http: Arc<Client>, core: Arc<Core>, interaction: Interaction) {
    let is_login = matches!(&interaction.data, Some(InteractionData::ApplicationCommand(data)) if data.name == LOGIN);
    let Some(user) = interaction.author().filter(|_| is_login) else {
        return;
    };
    let client = http.interaction(interaction.application_id);
    // Discord drops an interaction not answered within 3 seconds, and the portal may take longer:
    // the answer is deferred at once, private to the user, and filled in below.
    let deferred = InteractionResponse {
        kind: InteractionResponseType::DeferredChannelMessageWithSource,
        data: Some(InteractionResponseData {
            flags: Some(MessageFlags::EPHEMERAL),
            ..Default::default()
        }),
    };
    if let Err(error) = client
        .create_response(interaction.id, &interaction.token, &deferred)
        .await
    {
        tracing::warn!(%error, "cannot acknowledge a /login");
        return;
    }
    let group = interaction.guild_id.map(|id| id.to_string());
    core.usage.command(LOGIN, &user.id.to_string(), group.as_deref());
    let outcome = core.logins.login(&identity(user)).await;
    let text = texts::outcome(&outcome, Platform::Discord);
    let answer = match outcome {
        Outcome::Code(_) => match direct_message(&http, &core, user.id, &text).await {
            Ok(()) => texts::code_sent_privately(),
            // The deferred answer is ephemeral, seen by this user only: the code may go there.
            Err(()) => texts::direct_messages_closed(&text),
        },
        _ => text,
    };
    if let Err(error) = client.update_response(&interaction.token).content(Some(&answer)).await {
        tracing::warn!(%error, "cannot answer a /login");
    }
}

/// Sends `text` to the user's direct messages. A failure other than closed direct messages is
/// logged; the caller shows the text privately either way.
async fn direct_message(http: &Client, core: &Core, user: Id<UserMarker>, text: &str) -> Result<(), ()> {
    let started = Instant::now();
    let sent = async {
        let channel = http.create_private_channel(user).await?.model().await?;
        http.create_message(channel.id).content(text).await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    };
    match sent.await {
        Ok(_) => {
            core.usage.latency(started.elapsed());
            Ok(())
        }
        Err(error) => {
            let closed = error.downcast_ref::<twilight_http::Error>().is_some_and(|error| {
                matches!(
                    error.kind(),
                    ErrorType::Response { error: ApiError::General(general), .. } if general.code == CANNOT_MESSAGE_USER
                )
            });
            if !closed {
                tracing::warn!(%error, "a code could not be sent by direct message");
            }
            Err(())
        }
    }
}

/// The portal's view of a Discord user; the avatar is on Discord's public CDN.
fn identity(user: &User) -> Identity {
    Identity {
        platform_user_id: user.id.to_string(),
        username: user.name.clone(),
        avatar_url: user
            .avatar
            .map(|hash| format!("https://cdn.discordapp.com/avatars/{}/{hash}.png", user.id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_command_is_a_slash_command_for_servers_and_direct_messages() {
        let command = login_command().unwrap();
        assert_eq!(command.name, LOGIN);
        assert_eq!(command.contexts.map(|c| c.len()), Some(3));
    }
}
