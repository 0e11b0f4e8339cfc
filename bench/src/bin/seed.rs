//! Seeds a fresh portal database with a community shaped like a real one: users with one or two
//! linked platforms, staff of every level, subscriptions and their history, moderation with
//! audit rows, bots, chats with members, and sessions with geo, ended and live. A few dozen "heavy" users
//! carry long histories for the staff view. Rows go in with multi-row INSERTs in one transaction.
//!
//! `seed <database-url> <users> <out-dir>` writes `<out-dir>/manifest.env` (ids and identities the
//! benchmark uses), `<out-dir>/identities.txt` (Discord ids that may log in: not banned) and
//! `<out-dir>/tokens.txt` (a user id and the token of their live session per line, for the realtime
//! scenarios: every user who is not banned and holds a live session).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;

use portal::config::DatabaseConfig;
use portal::crypto;
use portal::store::{Store, Tx};
use portal::time::MICROS_PER_SECOND;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const DAY: i64 = 86_400 * MICROS_PER_SECOND;
const OWNERS: usize = 3;
const ADMINS: usize = 20;
const MODERATORS: usize = 60;
const HEAVY: usize = 50;
const CITIES: [(&str, &str, &str, f64, f64); 6] = [
    ("Berlin", "Berlin", "DE", 52.52, 13.40),
    ("Paris", "Ile-de-France", "FR", 48.85, 2.35),
    ("Austin", "Texas", "US", 30.27, -97.74),
    ("Osaka", "Osaka", "JP", 34.69, 135.50),
    ("Sao Paulo", "Sao Paulo", "BR", -23.55, -46.63),
    ("Warsaw", "Mazovia", "PL", 52.23, 21.01),
];

/// One bound value of a seeded row.
#[derive(Clone)]
enum Val {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

fn t(s: impl Into<String>) -> Val {
    Val::Text(s.into())
}

fn ot(s: Option<impl Into<String>>) -> Val {
    Val::OptText(s.map(Into::into))
}

/// Inserts rows `chunk` at a time so no statement passes the backends' placeholder limits.
async fn insert_rows(tx: &mut Tx, table: &str, columns: &[&str], rows: &[Vec<Val>]) -> Result<(), sqlx::Error> {
    let per_chunk = (8_000 / columns.len()).max(1);
    for chunk in rows.chunks(per_chunk) {
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0;
        for (r, row) in chunk.iter().enumerate() {
            assert_eq!(row.len(), columns.len(), "row width of {table}");
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..row.len() {
                n += 1;
                let _ = write!(sql, "{}${n}", if c == 0 { "" } else { ", " });
            }
            sql.push(')');
        }
        let mut query = sqlx::query(&sql);
        for row in chunk {
            for value in row {
                query = match value.clone() {
                    Val::Int(v) => query.bind(v),
                    Val::OptInt(v) => query.bind(v),
                    Val::Text(v) => query.bind(v),
                    Val::OptText(v) => query.bind(v),
                };
            }
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

struct Person {
    level: i64,
    tier: i64,
    tier_expires: Option<i64>,
    heavy: bool,
    banned: bool,
    created_at: i64,
}

fn discord_id(i: usize) -> String {
    format!("{}", 310_000_000_000_000_000u64 + i as u64)
}

fn geo(rng: &mut StdRng) -> String {
    let (city, region, country, lat, lon) = CITIES[rng.gen_range(0..CITIES.len())];
    json!({
        "city": city, "region_name": region, "country_code": country, "lat": lat, "lon": lon,
        "isp": "Example Telecom", "org": "Example Telecom", "is_mobile": rng.gen_bool(0.3),
        "is_proxy": false, "is_hosting": false,
    })
    .to_string()
}

fn hex(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        return Err("usage: seed <database-url> <users> <out-dir>".into());
    }
    let (url, users, out_dir) = (&args[1], args[2].parse::<usize>()?, std::path::Path::new(&args[3]));
    if users < 1_000 {
        return Err("seed at least 1000 users".into());
    }
    let started = std::time::Instant::now();
    let store = Store::connect(url, &DatabaseConfig::default()).await?;
    store.migrate().await?;
    let now = chrono_now();
    let mut rng = StdRng::seed_from_u64(42);

    let people: Vec<Person> = (0..users)
        .map(|i| {
            let heavy = (OWNERS + ADMINS + MODERATORS..OWNERS + ADMINS + MODERATORS + HEAVY).contains(&i);
            let level = if i < OWNERS {
                3
            } else if i < OWNERS + ADMINS {
                2
            } else if i < OWNERS + ADMINS + MODERATORS || (heavy && i % 2 == 1) {
                1
            } else {
                0
            };
            let (tier, tier_expires) = match i % 50 {
                0 | 10 | 20 | 30 | 40 => (2, Some(now + rng.gen_range(1..60) * DAY)),
                5 | 25 => (1, Some(now + rng.gen_range(1..7) * DAY)),
                7 => (3, None),
                13 | 33 => (2, Some(now - rng.gen_range(1..90) * DAY)),
                _ => (0, None),
            };
            let banned = level == 0 && !heavy && i % 97 == 0 && i != users - 1;
            Person {
                level,
                tier: if heavy { 2 } else { tier },
                tier_expires: if heavy { Some(now + 30 * DAY) } else { tier_expires },
                heavy,
                banned,
                created_at: now - rng.gen_range(30..730) * DAY,
            }
        })
        .collect();

    let mut tx = store.begin().await?;
    let user_rows: Vec<Vec<Val>> = people
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = format!("member{i:05}");
            vec![
                t(name.clone()),
                t(name.to_lowercase()),
                ot((i % 4 == 0).then_some("discord")),
                Val::Int(p.level),
                Val::OptInt((p.level > 0).then_some(p.created_at + DAY)),
                Val::Int(p.tier),
                Val::OptInt(p.tier_expires),
                Val::OptInt((p.tier > 0).then_some(4)),
                Val::Int((p.tier == 1 || i % 3 == 0) as i64),
                Val::Int(0),
                Val::Int(now - (i as i64 % 30) * DAY - 3_600 * MICROS_PER_SECOND),
                Val::Int(p.created_at),
                Val::Int(p.created_at + DAY),
            ]
        })
        .collect();
    insert_rows(
        &mut tx,
        "users",
        &[
            "username",
            "username_lower",
            "avatar_source",
            "permission_level",
            "permission_since",
            "subscription_tier",
            "subscription_expires_at",
            "subscription_granted_by",
            "is_trial_used",
            "bot_login_count",
            "last_activity_at",
            "created_at",
            "updated_at",
        ],
        &user_rows,
    )
    .await?;
    let id_of: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>("SELECT username, id FROM users")
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let ids: Vec<i64> = (0..users).map(|i| id_of[&format!("member{i:05}")]).collect();
    let staff_id = |rng: &mut StdRng, min_level: i64| -> i64 {
        let top = match min_level {
            3 => OWNERS,
            2 => OWNERS + ADMINS,
            _ => OWNERS + ADMINS + MODERATORS,
        };
        ids[rng.gen_range(0..top)]
    };

    // Linked platforms: everyone on Discord, a third on Telegram too.
    let mut links = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let avatar = format!(
            "https://cdn.discordapp.com/avatars/{}/{}.png",
            discord_id(i),
            hex(&mut rng, 32)
        );
        links.push(vec![
            Val::Int(ids[i]),
            t("discord"),
            t(discord_id(i)),
            t(format!("member{i:05}")),
            ot((i % 5 != 0).then_some(avatar)),
            Val::Int(p.created_at),
            Val::OptInt(Some(now - (i as i64 % 60) * DAY)),
        ]);
        if i % 3 == 0 {
            links.push(vec![
                Val::Int(ids[i]),
                t("telegram"),
                t(format!("{}", 5_000_000_000u64 + i as u64)),
                t(format!("tg_member{i}")),
                Val::OptText(None),
                Val::Int(p.created_at + 2 * DAY),
                Val::OptInt(None),
            ]);
        }
    }
    insert_rows(
        &mut tx,
        "linked_platforms",
        &[
            "user_id",
            "platform",
            "platform_user_id",
            "platform_username",
            "platform_avatar_url",
            "linked_at",
            "last_authenticated_at",
        ],
        &links,
    )
    .await?;

    // Moderation, with one audit row per action.
    let mut moderation = Vec::new();
    let mut audits = Vec::new();
    let kinds = ["PLATFORM_WARNING", "PLATFORM_TIMEOUT", "PLATFORM_MUTE", "PLATFORM_BAN"];
    for (i, p) in people.iter().enumerate() {
        let count = if p.heavy {
            40
        } else if p.level == 0 && i % 7 == 0 {
            rng.gen_range(1..4)
        } else {
            0
        };
        // A day apart, closer for a recent account with many actions: the last one ends (a day
        // after it was issued) before now.
        let step = DAY.min((now - DAY - p.created_at) / (count as i64 + 1));
        for k in 0..count {
            let kind = kinds[k % kinds.len()];
            let at = p.created_at + (k as i64 + 1) * step;
            // Past actions ran out or were lifted; only the banned users keep one in force.
            let (expires, lifted) = match kind {
                "PLATFORM_WARNING" => (None, false),
                "PLATFORM_BAN" => (None, true),
                _ => (Some(at + DAY), k % 3 == 0),
            };
            let issuer = staff_id(&mut rng, 1);
            moderation.push(vec![
                Val::Int(ids[i]),
                t(kind),
                ot(Some(format!("seeded reason {k}: spam in general chat"))),
                Val::OptInt(None),
                Val::OptInt(Some(issuer)),
                Val::Int(lifted as i64),
                Val::OptInt(expires),
                Val::OptInt(lifted.then_some(at + 3_600 * MICROS_PER_SECOND)),
                Val::OptInt(lifted.then(|| staff_id(&mut rng, 2))),
                ot(lifted.then_some("appeal accepted")),
                Val::Int(at),
            ]);
            audits.push(audit_row(kind, issuer, ids[i], at));
        }
        if p.banned {
            let issuer = staff_id(&mut rng, 2);
            moderation.push(vec![
                Val::Int(ids[i]),
                t("PLATFORM_BAN"),
                ot(Some("seeded ban: raids")),
                Val::OptInt(None),
                Val::OptInt(Some(issuer)),
                Val::Int(0),
                Val::OptInt(None),
                Val::OptInt(None),
                Val::OptInt(None),
                Val::OptText(None::<String>),
                Val::Int(now - DAY),
            ]);
            audits.push(audit_row("PLATFORM_BAN", issuer, ids[i], now - DAY));
        }
    }
    insert_rows(
        &mut tx,
        "moderation_actions",
        &[
            "user_id",
            "action_type",
            "reason",
            "chat_id",
            "issued_by_id",
            "is_lifted",
            "expires_at",
            "lifted_at",
            "lifted_by_id",
            "lift_reason",
            "created_at",
        ],
        &moderation,
    )
    .await?;

    // Subscription and permission history.
    let mut subscriptions = Vec::new();
    let mut permissions = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let changes = if p.heavy {
            12
        } else {
            (p.tier > 0) as usize + (i % 13 == 0) as usize
        };
        for k in 0..changes {
            let (old, new) = if k % 2 == 0 {
                (0, p.tier.max(1))
            } else {
                (p.tier.max(1), 0)
            };
            subscriptions.push(vec![
                Val::Int(ids[i]),
                Val::Int(old),
                Val::Int(new),
                ot(Some("seeded subscription change")),
                Val::OptInt(Some(staff_id(&mut rng, 2))),
                Val::Int(p.created_at + (k as i64 + 2) * DAY),
            ]);
        }
        let steps: Vec<(i64, i64)> = if p.heavy {
            vec![(0, 1), (1, 2), (2, 1), (1, 0), (0, 1), (1, p.level)]
                .into_iter()
                .filter(|(a, b)| a != b)
                .collect()
        } else {
            (0..p.level).map(|l| (l, l + 1)).collect()
        };
        for (k, (old, new)) in steps.into_iter().enumerate() {
            let at = p.created_at + (k as i64 + 1) * DAY;
            let actor = if i < OWNERS { None } else { Some(ids[0]) };
            permissions.push(vec![
                Val::Int(ids[i]),
                Val::Int(old),
                Val::Int(new),
                ot(Some("seeded promotion")),
                Val::OptInt(actor),
                Val::Int(at),
            ]);
            audits.push(vec![
                t("USER_PERMISSION"),
                Val::OptInt(actor),
                t("user"),
                Val::OptInt(Some(ids[i])),
                t(json!({"old_level": old, "new_level": new, "reason": "seeded promotion"}).to_string()),
                Val::Int(at),
            ]);
        }
    }
    let history_columns = [
        "user_id",
        "old_tier",
        "new_tier",
        "reason",
        "granted_by_id",
        "created_at",
    ];
    insert_rows(&mut tx, "subscription_history", &history_columns, &subscriptions).await?;
    let permission_columns = [
        "user_id",
        "old_level",
        "new_level",
        "reason",
        "changed_by_id",
        "created_at",
    ];
    insert_rows(&mut tx, "permission_history", &permission_columns, &permissions).await?;
    insert_rows(
        &mut tx,
        "audit_log",
        &[
            "event_type",
            "actor_id",
            "target_type",
            "target_id",
            "metadata",
            "created_at",
        ],
        &audits,
    )
    .await?;

    // Bots: a few dozen community bots, three for each heavy user.
    let mut bots = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let count = if p.heavy { 3 } else { (i % 250 == 17) as usize };
        for k in 0..count {
            let name = format!("bot{i}x{k}");
            bots.push(vec![
                t(name.clone()),
                t(name.to_lowercase()),
                t(if k % 2 == 0 { "discord" } else { "telegram" }),
                Val::Int(ids[i]),
                Val::Int(if k == 0 && p.heavy { 2 } else { 3 }),
                Val::Int(1000),
                Val::Int(rng.gen_range(0..40)),
                Val::Int(rng.gen_range(0..5000)),
                t(crypto::sha256_hex(&hex(&mut rng, 40))),
                t(format!("hbot_{}", hex(&mut rng, 4))),
                Val::Int(p.created_at + 5 * DAY),
                Val::Int(p.created_at + 5 * DAY),
                Val::Int(p.created_at + 6 * DAY),
            ]);
        }
    }
    insert_rows(
        &mut tx,
        "bots",
        &[
            "name",
            "name_lower",
            "platform",
            "owner_id",
            "bot_type",
            "rate_limit_per_hour",
            "groups",
            "users",
            "api_key_hash",
            "api_key_prefix",
            "api_key_created_at",
            "created_at",
            "updated_at",
        ],
        &bots,
    )
    .await?;

    // Chats: owned by premium users, admins and the heavy users, with members.
    let mut chats = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let count = if p.heavy {
            5
        } else if p.level == 2 || (p.tier == 2 && i % 3 == 0) {
            1
        } else {
            0
        };
        for k in 0..count {
            let visibility = ["public", "private", "official"][(i + k) % 3];
            chats.push(vec![
                t(format!("chat {i}-{k}")),
                Val::Int(ids[i]),
                t(visibility),
                ot((visibility != "private").then(|| format!("chat-{i}-{k}"))),
                ot(Some("a seeded chat")),
                Val::Int(now - rng.gen_range(0..10) * DAY),
                Val::Int(p.created_at + 10 * DAY),
                Val::Int(p.created_at + 11 * DAY),
            ]);
        }
    }
    insert_rows(
        &mut tx,
        "chats",
        &[
            "name",
            "owner_id",
            "visibility",
            "slug",
            "description",
            "last_activity_at",
            "created_at",
            "updated_at",
        ],
        &chats,
    )
    .await?;
    let chat_ids: Vec<(i64, i64)> = sqlx::query_as("SELECT id, owner_id FROM chats")
        .fetch_all(&mut *tx)
        .await?;
    let mut members = Vec::new();
    for (chat_id, owner_id) in &chat_ids {
        let mut seen = vec![*owner_id];
        for _ in 0..rng.gen_range(3..15) {
            let member = ids[rng.gen_range(0..users)];
            if !seen.contains(&member) {
                seen.push(member);
                members.push(vec![Val::Int(*chat_id), Val::Int(member), Val::Int(now - DAY)]);
            }
        }
    }
    insert_rows(&mut tx, "chat_members", &["chat_id", "user_id", "joined_at"], &members).await?;

    // Ended sessions with geo: one or two for everyone, 150 for each heavy user.
    let mut sessions = Vec::new();
    let reasons = ["logout", "revoked", "expired", "logout", "permission_change"];
    for (i, p) in people.iter().enumerate() {
        let count = if p.heavy { 150 } else { 1 + i % 2 };
        for k in 0..count {
            let created = now - (k as i64 + 2) * DAY;
            let reason = reasons[k % reasons.len()];
            let ended = if reason == "expired" {
                None
            } else {
                Some(created + DAY / 2)
            };
            sessions.push(session_row(
                &mut rng,
                ids[i],
                created,
                created + DAY,
                ended.map(|at| (at, reason)),
            ));
        }
    }
    // Live sessions, as people stay logged in: every other user and every heavy user, signed in
    // during the last week and not expiring yet. The session checks of a login run among them.
    let mut live_sessions = 0;
    let mut live_tokens = Vec::new();
    for (i, p) in people.iter().enumerate() {
        if i % 2 == 1 && !p.heavy {
            continue;
        }
        let created = now - rng.gen_range(0..7 * DAY);
        let expires = now + rng.gen_range(DAY..7 * DAY);
        let token = session_token(&mut rng);
        let mut row = session_row(&mut rng, ids[i], created, expires, None);
        row[1] = t(portal::crypto::sha256_hex(&token));
        row[2] = t(portal::crypto::token_suffix(&token));
        sessions.push(row);
        if !p.banned {
            live_tokens.push(format!("{} {token}", ids[i]));
        }
        live_sessions += 1;
    }
    insert_rows(
        &mut tx,
        "sessions",
        &[
            "user_id",
            "token_hash",
            "token_suffix",
            "created_at",
            "expires_at",
            "ended_at",
            "end_reason",
            "client_ip",
            "user_agent",
            "geo",
        ],
        &sessions,
    )
    .await?;

    let welcome: Vec<Vec<Val>> = people
        .iter()
        .enumerate()
        .map(|(i, p)| {
            vec![
                Val::OptInt(Some(ids[i])),
                t("Welcome to Portal"),
                t("Your account has been created."),
                t("success"),
                Val::Int(p.created_at),
            ]
        })
        .collect();
    insert_rows(
        &mut tx,
        "notifications",
        &["user_id", "title", "body", "type", "created_at"],
        &welcome,
    )
    .await?;
    tx.commit().await?;
    if store.backend() == portal::store::Backend::Postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await?;
    }

    std::fs::create_dir_all(out_dir)?;
    let heavy_ids: Vec<String> = people
        .iter()
        .enumerate()
        .filter(|(_, p)| p.heavy)
        .map(|(i, _)| ids[i].to_string())
        .collect();
    let mut manifest = std::fs::File::create(out_dir.join("manifest.env"))?;
    writeln!(manifest, "MIN_ID={}", ids.iter().min().unwrap_or(&1))?;
    writeln!(manifest, "MAX_ID={}", ids.iter().max().unwrap_or(&1))?;
    writeln!(manifest, "HEAVY_IDS={}", heavy_ids.join(","))?;
    writeln!(manifest, "OWNER_ID={}", ids[0])?;
    writeln!(manifest, "OWNER_PUID={}", discord_id(0))?;
    writeln!(manifest, "USER_PUID={}", discord_id(users - 1))?;
    // The realtime scenarios connect with these: "<user id> <session token>", owners first.
    std::fs::write(out_dir.join("tokens.txt"), live_tokens.join("\n") + "\n")?;
    let mut identities = std::fs::File::create(out_dir.join("identities.txt"))?;
    for (i, p) in people.iter().enumerate() {
        if !p.banned && i >= OWNERS {
            writeln!(identities, "{}", discord_id(i))?;
        }
    }
    eprintln!(
        "seeded {users} users, {} links, {} moderation actions, {} subscription and {} permission changes, \
         {} audit rows, {} bots, {} chats with {} members, {} ended and {} live sessions in {:.1} s",
        links.len(),
        moderation.len(),
        subscriptions.len(),
        permissions.len(),
        audits.len(),
        bots.len(),
        chats.len(),
        members.len(),
        sessions.len() - live_sessions,
        live_sessions,
        started.elapsed().as_secs_f64()
    );
    store.close().await;
    Ok(())
}

/// A row of `sessions` with a made-up token, client address and geo; `ended` is when and why.
fn session_row(rng: &mut StdRng, user_id: i64, created: i64, expires: i64, ended: Option<(i64, &str)>) -> Vec<Val> {
    vec![
        Val::Int(user_id),
        t(hex(rng, 64)),
        t(hex(rng, 6)),
        Val::Int(created),
        Val::Int(expires),
        Val::OptInt(ended.map(|(at, _)| at)),
        ot(ended.map(|(_, reason)| reason)),
        t(format!("198.51.100.{}", rng.gen_range(1..255))),
        ot(Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")),
        ot(Some(geo(rng))),
    ]
}

/// A session token of the server's form (43 base64url characters), so that a load client can
/// present it as a `psession` cookie.
fn session_token(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..43)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

fn audit_row(kind: &str, actor: i64, target: i64, at: i64) -> Vec<Val> {
    let event = match kind {
        "PLATFORM_WARNING" => "USER_WARN",
        "PLATFORM_TIMEOUT" => "USER_TIMEOUT",
        "PLATFORM_MUTE" => "USER_MUTE",
        _ => "USER_BAN",
    };
    vec![
        t(event),
        Val::OptInt(Some(actor)),
        t("user"),
        Val::OptInt(Some(target)),
        t(json!({"reason": "seeded"}).to_string()),
        Val::Int(at),
    ]
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
