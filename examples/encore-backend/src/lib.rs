//! The Encore demo's ticketing backend: a small service with its own SQLite
//! data (orders, events with status and door times, subscriptions,
//! transfers), standing in for the systems a real deployment's actions
//! call. It checks Usher's body signature when it has the secret and
//! honours `Idempotency-Key`: a repeated key gets the first answer again
//! and changes nothing.
//!
//! # Layout
//! - `run` / [`router`]: the HTTP API.
//! - `seed`: the demo's orders, events and subscriptions.
//!
//! # API
//! - `GET /orders/{id}[?email=]`: the order and its event (404 when
//!   unknown, or when `email` is given and is not the order's).
//! - `POST /orders/{id}/refund` `{"email"}`: cancelled or postponed events
//!   are refunded (200); events still on get 422 with a resale link; an
//!   order already refunded gets 409; a wrong email is 404.
//! - `POST /orders/{id}/transfer` `{"email", "recipient"}`: 200, or 409
//!   when refunded.
//! - `POST /subscriptions/{email}/pause` `{"weeks"}`: 200, 404, or 409
//!   when already paused.
//! - `GET /_calls/{key}`: how often a key was seen and how many side
//!   effects it caused (for tests and the curious).

use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

/// What can stop the backend.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The address could not be bound.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

#[derive(Clone)]
struct App {
    db: SqlitePool,
    secret: Option<Arc<Vec<u8>>>,
}

/// Opens (and seeds, when new) the database at `data`.
pub async fn open(data: &Path) -> Result<SqlitePool, Error> {
    if let Some(dir) = data.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let options = SqliteConnectOptions::new().filename(data).create_if_missing(true);
    let db = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
    for statement in SCHEMA.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        sqlx::query(statement).execute(&db).await?;
    }
    let seeded: i64 = sqlx::query("SELECT COUNT(*) FROM events").fetch_one(&db).await?.get(0);
    let watched: i64 = sqlx::query("SELECT COUNT(*) FROM watches").fetch_one(&db).await?.get(0);
    if watched == 0 {
        for statement in WATCHES.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            sqlx::query(statement).execute(&db).await?;
        }
    }
    if seeded == 0 {
        for statement in SEED.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            sqlx::query(statement).execute(&db).await?;
        }
    }
    Ok(db)
}

/// The API over `db`; with `secret`, every body must carry its signature.
pub fn router(db: SqlitePool, secret: Option<Vec<u8>>) -> Router {
    let app = App { db, secret: secret.map(Arc::new) };
    Router::new()
        .route("/orders/{id}", get(order))
        .route("/orders/{id}/refund", post(refund))
        .route("/orders/{id}/transfer", post(transfer))
        .route("/subscriptions/{email}/pause", post(pause))
        .route("/fans/{email}/history", get(history))
        .route("/_calls/{key}", get(calls))
        .with_state(app)
}

/// Serves on `listen` until the process ends.
pub async fn run(listen: &str, data: &Path, secret: Option<String>) -> Result<(), Error> {
    let db = open(data).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| Error::Listen { addr: listen.to_string(), source })?;
    eprintln!("encore-backend listening on http://{listen} (data {})", data.display());
    axum::serve(listener, router(db, secret.map(String::into_bytes)))
        .await
        .map_err(|source| Error::Listen { addr: listen.to_string(), source })
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, name TEXT NOT NULL, venue TEXT NOT NULL,
  status TEXT NOT NULL, starts_at TEXT NOT NULL, doors_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, email TEXT NOT NULL, event_id TEXT NOT NULL,
  seats TEXT NOT NULL, total_pence INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'paid');
CREATE TABLE IF NOT EXISTS refunds (id INTEGER PRIMARY KEY, order_id TEXT NOT NULL, amount_pence INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS transfers (id INTEGER PRIMARY KEY, order_id TEXT NOT NULL, recipient TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subscriptions (email TEXT PRIMARY KEY, plan TEXT NOT NULL, paused_until TEXT);
CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, status INTEGER NOT NULL, body TEXT NOT NULL,
  seen INTEGER NOT NULL DEFAULT 1, effects INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS watches (email TEXT NOT NULL, item_id TEXT NOT NULL, watched_at TEXT NOT NULL)";

const SEED: &str = "
INSERT INTO events VALUES ('ev-lumineers', 'The Lumineers', 'Encore Arena', 'cancelled', '2026-12-12T20:00', '2026-12-12T18:30');
INSERT INTO events VALUES ('ev-arctic', 'Arctic Monkeys', 'Encore Arena', 'on_sale', '2026-12-18T20:30', '2026-12-18T19:00');
INSERT INTO events VALUES ('ev-hamlet', 'Hamlet', 'Encore Theatre', 'postponed', '2027-01-09T19:30', '2027-01-09T18:45');
INSERT INTO events VALUES ('ev-nutcracker', 'The Nutcracker', 'Encore Theatre', 'on_sale', '2026-12-20T14:00', '2026-12-20T13:15');
INSERT INTO orders VALUES ('A12345', 'fan@example.com', 'ev-lumineers', 'Block A, row 3, seats 11-12', 9800, 'paid');
INSERT INTO orders VALUES ('B23456', 'fan@example.com', 'ev-arctic', 'Standing', 6500, 'paid');
INSERT INTO orders VALUES ('C34567', 'sam@example.com', 'ev-hamlet', 'Stalls, row F, seat 8', 4200, 'paid');
INSERT INTO orders VALUES ('D45678', 'sam@example.com', 'ev-nutcracker', 'Circle, row B, seats 1-4', 12800, 'paid');
INSERT INTO subscriptions VALUES ('fan@example.com', 'premium', NULL);
INSERT INTO subscriptions VALUES ('sam@example.com', 'basic', NULL)";

/// What the demo's fans watched on Encore+ (catalogue ids of
/// `catalogue/encore.yaml`); their orders' events count as history too.
const WATCHES: &str = "
INSERT INTO watches VALUES ('fan@example.com', 'signal-from-vega', '2026-10-02T21:00');
INSERT INTO watches VALUES ('fan@example.com', 'the-long-orbit', '2026-10-09T20:30');
INSERT INTO watches VALUES ('fan@example.com', 'quiet-planet', '2026-11-14T22:10');
INSERT INTO watches VALUES ('sam@example.com', 'paper-hearts', '2026-09-20T19:00');
INSERT INTO watches VALUES ('sam@example.com', 'summer-in-lisbon', '2026-10-30T20:00')";

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// A refusal before any work: a bad signature or body.
fn refuse(status: StatusCode, why: &str) -> Response {
    reply(status, json!({ "error": why }))
}

/// Why a request was refused before any work.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        refuse(self.0, &self.1)
    }
}

impl App {
    /// Checks the signature (when the backend has a secret) and parses the body.
    fn verified(&self, headers: &HeaderMap, body: &Bytes) -> Result<Value, Refusal> {
        if let Some(secret) = &self.secret {
            let given = headers.get("x-usher-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
            let Some(hex) = given.strip_prefix("sha256=") else {
                return Err(Refusal(StatusCode::UNAUTHORIZED, "missing signature".into()));
            };
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
                .collect();
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
            mac.update(body);
            if bytes.is_none_or(|b| mac.verify_slice(&b).is_err()) {
                return Err(Refusal(StatusCode::UNAUTHORIZED, "bad signature".into()));
            }
        }
        if body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(body).map_err(|e| Refusal(StatusCode::BAD_REQUEST, format!("bad JSON: {e}")))
    }

    /// Runs `effect` once per idempotency key: a repeated key gets the
    /// stored answer and causes nothing.
    async fn once<F, Fut>(&self, headers: &HeaderMap, effect: F) -> Response
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(StatusCode, Value, bool), sqlx::Error>>,
    {
        let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
        if let Some(key) = &key {
            let seen = sqlx::query("UPDATE idempotency SET seen = seen + 1 WHERE key = ? RETURNING status, body")
                .bind(key)
                .fetch_optional(&self.db)
                .await;
            match seen {
                Ok(Some(row)) => {
                    let status = StatusCode::from_u16(row.get::<i64, _>(0) as u16).unwrap_or(StatusCode::OK);
                    let body: String = row.get(1);
                    return reply(status, serde_json::from_str(&body).unwrap_or(Value::Null));
                }
                Ok(None) => {}
                Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        let (status, body, changed) = match effect().await {
            Ok(done) => done,
            Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        };
        if let Some(key) = &key {
            let stored = sqlx::query("INSERT INTO idempotency (key, status, body, effects) VALUES (?, ?, ?, ?)")
                .bind(key)
                .bind(i64::from(status.as_u16()))
                .bind(body.to_string())
                .bind(i64::from(changed))
                .execute(&self.db)
                .await;
            if let Err(e) = stored {
                tracing::warn!(error = %e, "could not record an idempotency key");
            }
        }
        reply(status, body)
    }
}

async fn load_order(db: &SqlitePool, id: &str) -> Result<Option<Value>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT o.id, o.email, o.seats, o.total_pence, o.state, e.id, e.name, e.venue, e.status, e.starts_at, e.doors_at
         FROM orders o JOIN events e ON e.id = o.event_id WHERE o.id = ?",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| {
        json!({
            "order_id": r.get::<String, _>(0),
            "email": r.get::<String, _>(1),
            "seats": r.get::<String, _>(2),
            "total": format!("£{:.2}", r.get::<i64, _>(3) as f64 / 100.0),
            "state": r.get::<String, _>(4),
            "event": {
                "id": r.get::<String, _>(5),
                "name": r.get::<String, _>(6),
                "venue": r.get::<String, _>(7),
                "status": r.get::<String, _>(8),
                "starts_at": r.get::<String, _>(9).replace('T', " "),
                "doors_at": r.get::<String, _>(10).replace('T', " "),
            }
        })
    }))
}

/// `?email=`: the order only for its owner's email.
#[derive(serde::Deserialize)]
struct Owner {
    email: Option<String>,
}

async fn order(
    State(app): State<App>,
    UrlPath(id): UrlPath<String>,
    Query(owner): Query<Owner>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = app.verified(&headers, &Bytes::new()) {
        return refused.into_response();
    }
    match load_order(&app.db, &id).await {
        Ok(Some(order))
            if owner
                .email
                .as_deref()
                .is_some_and(|e| !order["email"].as_str().unwrap_or_default().eq_ignore_ascii_case(e)) =>
        {
            refuse(StatusCode::NOT_FOUND, "no such order for that email")
        }
        Ok(Some(order)) => reply(StatusCode::OK, order),
        Ok(None) => refuse(StatusCode::NOT_FOUND, "no such order"),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// A fan's history for recommendations: the catalogue ids of what they
/// watched and the events they ordered, oldest first, comma-separated
/// (`{"history": "a,b"}`); an unknown fan has an empty history.
async fn history(State(app): State<App>, UrlPath(email): UrlPath<String>, headers: HeaderMap) -> Response {
    if let Err(refused) = app.verified(&headers, &Bytes::new()) {
        return refused.into_response();
    }
    let rows = sqlx::query(
        "SELECT item_id FROM (SELECT item_id, watched_at AS at FROM watches WHERE lower(email) = lower(?1)
           UNION ALL SELECT o.event_id, e.starts_at FROM orders o JOIN events e ON e.id = o.event_id
           WHERE lower(o.email) = lower(?1)) ORDER BY at",
    )
    .bind(&email)
    .fetch_all(&app.db)
    .await;
    match rows {
        Ok(rows) => {
            let ids: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
            reply(StatusCode::OK, serde_json::json!({ "email": email, "history": ids.join(",") }))
        }
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// Checks a changing request's signature and body, then runs `effect` on
/// the database and the body once per idempotency key.
async fn changing<F, Fut>(app: App, headers: HeaderMap, body: Bytes, effect: F) -> Response
where
    F: FnOnce(SqlitePool, Value) -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, Value, bool), sqlx::Error>>,
{
    let body = match app.verified(&headers, &body) {
        Ok(b) => b,
        Err(refused) => return refused.into_response(),
    };
    let db = app.db.clone();
    app.once(&headers, || effect(db, body)).await
}

fn field<'a>(body: &'a Value, name: &str) -> &'a str {
    body.get(name).and_then(Value::as_str).unwrap_or_default()
}

async fn refund(State(app): State<App>, UrlPath(id): UrlPath<String>, headers: HeaderMap, body: Bytes) -> Response {
    changing(app, headers, body, |db, body| async move {
        let Some(order) = load_order(&db, &id).await? else {
            return Ok((StatusCode::NOT_FOUND, json!({"error": "no such order"}), false));
        };
        if !order["email"].as_str().unwrap_or_default().eq_ignore_ascii_case(field(&body, "email")) {
            return Ok((StatusCode::NOT_FOUND, json!({"error": "no such order for that email"}), false));
        }
        if order["state"] == "refunded" {
            return Ok((StatusCode::CONFLICT, json!({"error": "already refunded", "order": order}), false));
        }
        let status = order["event"]["status"].as_str().unwrap_or_default();
        if !matches!(status, "cancelled" | "postponed") {
            let resale = format!("https://encore.example/resale/{id}");
            let why =
                format!("{} is going ahead: tickets can be resold", order["event"]["name"].as_str().unwrap_or(""));
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": why, "resale_url": resale, "order": order}),
                false,
            ));
        }
        let mut tx = db.begin().await?;
        sqlx::query("UPDATE orders SET state = 'refunded' WHERE id = ?").bind(&id).execute(&mut *tx).await?;
        let pence: i64 =
            sqlx::query("SELECT total_pence FROM orders WHERE id = ?").bind(&id).fetch_one(&mut *tx).await?.get(0);
        let refund_id: i64 = sqlx::query("INSERT INTO refunds (order_id, amount_pence) VALUES (?, ?) RETURNING id")
            .bind(&id)
            .bind(pence)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        tx.commit().await?;
        let answer = json!({
            "refund_id": format!("R{refund_id:05}"),
            "amount": format!("£{:.2}", pence as f64 / 100.0),
            "order": order,
        });
        Ok((StatusCode::OK, answer, true))
    })
    .await
}

async fn transfer(State(app): State<App>, UrlPath(id): UrlPath<String>, headers: HeaderMap, body: Bytes) -> Response {
    changing(app, headers, body, |db, body| async move {
        let Some(order) = load_order(&db, &id).await? else {
            return Ok((StatusCode::NOT_FOUND, json!({"error": "no such order"}), false));
        };
        if order["state"] == "refunded" {
            return Ok((StatusCode::CONFLICT, json!({"error": "a refunded order cannot be transferred"}), false));
        }
        let recipient = field(&body, "recipient");
        if !recipient.contains('@') {
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, json!({"error": "recipient needs an email"}), false));
        }
        let transfer: i64 = sqlx::query("INSERT INTO transfers (order_id, recipient) VALUES (?, ?) RETURNING id")
            .bind(&id)
            .bind(recipient)
            .fetch_one(&db)
            .await?
            .get(0);
        Ok((StatusCode::OK, json!({"transfer_id": format!("T{transfer:05}"), "order": order}), true))
    })
    .await
}

async fn pause(State(app): State<App>, UrlPath(email): UrlPath<String>, headers: HeaderMap, body: Bytes) -> Response {
    changing(app, headers, body, |db, body| async move {
        let row = sqlx::query("SELECT plan, paused_until FROM subscriptions WHERE email = ? COLLATE NOCASE")
            .bind(&email)
            .fetch_optional(&db)
            .await?;
        let Some(row) = row else {
            return Ok((StatusCode::NOT_FOUND, json!({"error": "no subscription for that email"}), false));
        };
        if let Some(until) = row.get::<Option<String>, _>(1) {
            return Ok((StatusCode::CONFLICT, json!({"error": "already paused", "paused_until": until}), false));
        }
        let weeks =
            body.get("weeks").and_then(Value::as_str).and_then(|w| w.parse::<i64>().ok()).unwrap_or(4).clamp(1, 12);
        let until: String =
            sqlx::query("SELECT date('now', ?)").bind(format!("+{} days", weeks * 7)).fetch_one(&db).await?.get(0);
        sqlx::query("UPDATE subscriptions SET paused_until = ? WHERE email = ? COLLATE NOCASE")
            .bind(&until)
            .bind(&email)
            .execute(&db)
            .await?;
        Ok((StatusCode::OK, json!({"plan": row.get::<String, _>(0), "paused_until": until}), true))
    })
    .await
}

async fn calls(State(app): State<App>, UrlPath(key): UrlPath<String>) -> Response {
    let row =
        sqlx::query("SELECT seen, effects FROM idempotency WHERE key = ?").bind(&key).fetch_optional(&app.db).await;
    match row {
        Ok(Some(r)) => reply(StatusCode::OK, json!({"seen": r.get::<i64, _>(0), "effects": r.get::<i64, _>(1)})),
        Ok(None) => reply(StatusCode::OK, json!({"seen": 0, "effects": 0})),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
