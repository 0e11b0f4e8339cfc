//! In-portal notifications (80-notifications-portal §1): what a user sees and has read, and the
//! Admin's targeted and broadcast sends, announced to the recipients' realtime connections.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::app::App;
use crate::domain::audit::{self, AuditEvent, Target};
use crate::domain::presence;
use crate::domain::staff::Actor;
use crate::domain::users;
use crate::error::ApiError;
use crate::store::notifications::NotificationRow;
use crate::store::users::UserRow;
use crate::store::{self, Conn};
use crate::time::Timestamp;

/// The notification `type` values (00-conventions §11.2).
pub const TYPES: [&str; 4] = ["info", "success", "warning", "error"];

/// A notification as its reader sees it (§1.1): `read_at` is the reader's own read mark.
#[derive(Debug, Serialize, ToSchema)]
pub struct Notification {
    pub id: i64,
    pub title: String,
    pub body: String,
    /// `info`, `success`, `warning` or `error`.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub read_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The Admin who sent it; `null` for notifications made by the system.
    pub created_by: Option<i64>,
    pub is_broadcast: bool,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Notification {
            id: r.id,
            title: r.title,
            body: r.body,
            kind: r.kind,
            read_at: r.read_at.map(Timestamp),
            created_at: Timestamp(r.created_at),
            created_by: r.created_by,
            is_broadcast: r.is_broadcast != 0,
        }
    }
}

/// One page of the reader's notifications with the counts of all they see.
pub struct NotificationPage {
    pub notifications: Vec<Notification>,
    pub total: i64,
    pub unread: i64,
}

pub async fn page(app: &App, reader: &UserRow, offset: i64, limit: i64) -> Result<NotificationPage, ApiError> {
    let mut conn = app.store.acquire().await?;
    let conn: &mut Conn = &mut conn;
    let (total, unread) = store::notifications::counts_for(conn, reader.id, reader.created_at).await?;
    let rows = store::notifications::page_for(conn, reader.id, reader.created_at, offset, limit).await?;
    Ok(NotificationPage {
        notifications: rows.into_iter().map(Into::into).collect(),
        total,
        unread,
    })
}

pub async fn unread_count(app: &App, reader: &UserRow) -> Result<i64, ApiError> {
    let mut conn = app.store.acquire().await?;
    let conn: &mut Conn = &mut conn;
    let (_, unread) = store::notifications::counts_for(conn, reader.id, reader.created_at).await?;
    Ok(unread)
}

/// Marks one notification the reader sees as read; another user's notification does not exist
/// for them.
pub async fn mark_read(app: &App, reader: &UserRow, notification_id: i64) -> Result<Notification, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let found = store::notifications::visible_by_id(&mut tx, reader.id, reader.created_at, notification_id)
        .await?
        .ok_or(ApiError::NotificationNotFound)?;
    if found.read_at.is_some() || !store::notifications::mark_read(&mut tx, reader.id, found.id, now).await? {
        return Err(ApiError::NotificationAlreadyRead);
    }
    tx.commit().await?;
    Ok(Notification {
        read_at: Some(Timestamp(now)),
        ..found.into()
    })
}

/// Marks every unread notification the reader sees as read, all at one time; returns how many.
pub async fn mark_all_read(app: &App, reader: &UserRow) -> Result<u64, ApiError> {
    let mut conn = app.store.acquire().await?;
    Ok(store::notifications::mark_all_read(&mut conn, reader.id, reader.created_at, app.now()).await?)
}

/// A notification to send (`POST /v1/admin/notifications`, §1.7), validated.
pub struct NewNotification {
    /// `None` = broadcast.
    pub user_id: Option<i64>,
    pub title: String,
    pub body: String,
    pub kind: String,
}

/// What a send produced: the notification as created and how many users it reaches.
pub struct Sent {
    pub notification: Notification,
    pub recipients: i64,
}

/// Sends to one user or to everyone, with its `NOTIFICATION_SEND` audit row in one transaction.
/// No hierarchy check: informing a user is not an action on their account.
pub async fn send(app: &App, actor: Actor, input: NewNotification) -> Result<Sent, ApiError> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let recipient = match input.user_id {
        // A stranger never receives a notification (91-matchmaking §2.3).
        Some(user_id) => Some(users::registered(&mut tx, user_id).await?.id),
        None => None,
    };
    let id = store::notifications::insert(
        &mut tx,
        recipient,
        &input.title,
        &input.body,
        &input.kind,
        Some(actor.id),
        now,
    )
    .await?;
    let (recipients, target) = match input.user_id {
        Some(user_id) => (1, Target::User(user_id)),
        None => (
            store::notifications::broadcast_audience(&mut tx, now).await?,
            Target::System,
        ),
    };
    let metadata = json!({
        "notification_id": id,
        "recipient_count": recipients,
        "title": input.title,
        "type": input.kind,
    });
    audit::record(
        app,
        &mut tx,
        AuditEvent::NotificationSend,
        Some(actor.id),
        target,
        metadata,
        now,
    )
    .await?;
    tx.commit().await?;
    let notification = Notification {
        id,
        title: input.title,
        body: input.body,
        kind: input.kind,
        read_at: None,
        created_at: Timestamp(now),
        created_by: Some(actor.id),
        is_broadcast: input.user_id.is_none(),
    };
    presence::announce(app, input.user_id, "notification:new", &notification).await;
    Ok(Sent {
        notification,
        recipients,
    })
}
