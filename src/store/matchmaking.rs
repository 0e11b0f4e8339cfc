//! The matchmaking queue, direct chats' participants, pair blocks and reports (91-matchmaking).

use super::Conn;

/// Removes the user's queue entry; its interests when there was one.
pub async fn delete_entry(conn: &mut Conn, user_id: i64) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("DELETE FROM match_entries WHERE user_id = $1 RETURNING interests")
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(interests,)| interests))
}
