//! What `scripts/fuzz-api.sh` found, kept as regression tests: answers that the server's own
//! OpenAPI document did not describe.

use std::collections::BTreeSet;

use crate::common::TestApp;
use serde_json::Value;

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The field names of an object schema, through `$ref` and `allOf`.
#[derive(PartialEq)]
struct Shape {
    required: BTreeSet<String>,
    properties: BTreeSet<String>,
    closed: bool,
}

fn shape(doc: &Value, schema: &Value) -> Shape {
    let schema = resolve(doc, schema);
    let mut shape = Shape {
        required: BTreeSet::new(),
        properties: BTreeSet::new(),
        closed: schema["additionalProperties"] == false,
    };
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let inner = self::shape(doc, part);
        shape.required.extend(inner.required);
        shape.properties.extend(inner.properties);
    }
    let strings = |list: &Value| -> Vec<String> {
        list.as_array()
            .map(|items| items.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    shape.required.extend(strings(&schema["required"]));
    if let Some(properties) = schema["properties"].as_object() {
        shape.properties.extend(properties.keys().cloned());
    }
    shape
}

/// Whether an object matches a shape as far as field names go: every required field is there, and
/// a closed shape has no other.
fn fits(shape: &Shape, value: &Value) -> bool {
    let object = value.as_object().unwrap();
    shape.required.iter().all(|f| object.contains_key(f))
        && (!shape.closed || object.keys().all(|k| shape.properties.contains(k)))
}

/// Asserts that `value` matches exactly one alternative of the `oneOf` schema `name`.
#[track_caller]
fn one_alternative(doc: &Value, name: &str, value: &Value) {
    let alternatives = doc["components"]["schemas"][name]["oneOf"].as_array().unwrap();
    let fitting = alternatives.iter().filter(|alt| fits(&shape(doc, alt), value)).count();
    assert_eq!(fitting, 1, "{name}: {value}");
}

/// Found by the fuzzer: an Owner's view of a user (and an Admin's view of a bot) is a superset of
/// the public view, so under an open public schema it matched both alternatives of `oneOf`.
#[tokio::test]
async fn one_of_alternatives_never_overlap() {
    let t = TestApp::new(crate::common::Kind::Sqlite, |_| {}).await.unwrap();
    let doc = t.get("/openapi.json").send().await.body;
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let Some(alternatives) = schema["oneOf"].as_array() else {
            continue;
        };
        let shapes: Vec<Shape> = alternatives.iter().map(|alt| shape(&doc, alt)).collect();
        for a in &shapes {
            for b in &shapes {
                // A value of shape b may also fit a when it carries all of a's required fields.
                if a != b && a.required.is_subset(&b.properties) {
                    assert!(a.closed, "{name}: an open alternative is ambiguous");
                }
            }
        }
    }
}

#[tokio::test]
async fn every_view_of_a_user_or_bot_matches_one_alternative() {
    let t = TestApp::new(crate::common::Kind::Sqlite, |_| {}).await.unwrap();
    let doc = t.get("/openapi.json").send().await.body;
    let bot = t.login_bot().await;
    t.user("1", 3).await;
    t.user("2", 0).await;
    let owner = t.login(&bot, "1").await;
    let user = t.login(&bot, "2").await;
    for token in [&owner, &user] {
        let found = t.get("/v1/users/search?q=u").cookie(token).send().await;
        for item in found.assert_ok()["users"].as_array().unwrap() {
            one_alternative(&doc, "ProfileSearchItem", item);
        }
        for path in ["/v1/users/1", "/v1/users/2", "/v1/users/profile/u2"] {
            let view = t.get(path).cookie(token).send().await;
            one_alternative(&doc, "ProfileView", view.assert_ok());
        }
        let bots = t.get("/v1/bots/search?q=").cookie(token).send().await;
        for item in bots.assert_ok()["bots"].as_array().unwrap() {
            one_alternative(&doc, "BotView", item);
        }
    }
}

// The fuzzer, once the schemas let it past the first field, sent a NUL character in fields that a
// chat update reads as nullable text and in a bot's group ids: PostgreSQL cannot store one, and the
// answer was a 500. Every string field now refuses it as invalid characters.
crate::both_backends!(
    a_nul_character_is_refused_in_every_stored_text,
    |t: TestApp| async move {
        let people = crate::common::People::new(&t).await;
        let (_, owner) = people.at("nul-owner", 3).await;
        let created = t
            .post("/v1/admin/chats")
            .cookie(&owner)
            .json(serde_json::json!({"name": "Lobby", "slug": "lobby"}))
            .send()
            .await;
        let chat_id = created.assert_ok()["chat_id"].as_i64().unwrap();
        for field in ["label", "description", "slug", "avatar_source", "name"] {
            let refused = t
                .post(&format!("/v1/admin/chats/{chat_id}/update"))
                .cookie(&owner)
                .json(serde_json::json!({ field: "a\u{0}b" }))
                .send()
                .await;
            refused.assert_error(400, "ERR_VALIDATION");
            assert_eq!(refused.body["field"], field);
        }
        let bot = t
            .post("/v1/bot/me/update")
            .key(&people.bot)
            .json(serde_json::json!({"group_ids": ["ok", "a\u{0}b"]}))
            .send()
            .await;
        bot.assert_error(400, "ERR_VALIDATION");
    }
);
