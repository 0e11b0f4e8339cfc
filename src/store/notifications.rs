//! Notifications to users.

use super::Conn;

pub async fn insert_for_user(
    conn: &mut Conn,
    user_id: i64,
    title: &str,
    body: &str,
    kind: &str,
    created_by: Option<i64>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO notifications (user_id, title, body, type, is_broadcast, created_by, created_at) \
         VALUES ($1, $2, $3, $4, 0, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(title)
    .bind(body)
    .bind(kind)
    .bind(created_by)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}
