//! The database: one SQLite connection behind a `Mutex`, used only from the executor's
//! threads (SQLite runs one writer at a time anyway, and the lock makes "is this the
//! first account?" and its insert one step). Every function here blocks.

use std::sync::{Arc, Mutex, MutexGuard};

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use serde_json::Value;

pub type Conn = Arc<Mutex<Connection>>;
pub type DbResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";

/// Opens (creating if needed) the database at `path` with its tables.
pub fn open(path: &str) -> rusqlite::Result<Conn> {
    let c = Connection::open(path)?;
    c.execute_batch(include_str!("schema.sql"))?;
    Ok(Arc::new(Mutex::new(c)))
}

fn lock(db: &Conn) -> MutexGuard<'_, Connection> {
    db.lock().unwrap_or_else(|p| p.into_inner())
}

/// The entries selected by `tail` (a `WHERE` / `ORDER BY` / `LIMIT` clause), each a
/// JSON object for the templates: `id`, `slug`, `title`, `markdown`, `html`,
/// `published`, `updated` and `author` (the author's name).
pub fn entries(db: &Conn, tail: &str, args: impl rusqlite::Params) -> DbResult<Vec<Value>> {
    let c = lock(db);
    let mut st = c.prepare_cached(&format!(
        "SELECT json_object('id', e.id, 'slug', slug, 'title', title, 'markdown', markdown, \
         'html', html, 'published', published, 'updated', updated, 'author', a.name) \
         FROM entries e JOIN authors a ON a.id = e.author_id {tail}"
    ))?;
    let rows = st.query_map(args, |r| r.get::<_, String>(0))?;
    rows.map(|r| Ok(serde_json::from_str(&r?)?)).collect()
}

pub fn latest(db: &Conn, n: u32) -> DbResult<Vec<Value>> {
    entries(db, "ORDER BY published DESC, e.id DESC LIMIT ?1", [n])
}

/// When any entry last changed (now if there are none).
pub fn last_updated(db: &Conn) -> DbResult<String> {
    let sql = format!("SELECT COALESCE(MAX(updated), {NOW}) FROM entries");
    Ok(lock(db).query_row(&sql, [], |r| r.get(0))?)
}

/// Updates entry `id`; its slug, or `None` if there is no such entry.
pub fn update(db: &Conn, id: i64, title: &str, md: &str, html: &str) -> DbResult<Option<String>> {
    let c = lock(db);
    let sql = format!("UPDATE entries SET title = ?1, markdown = ?2, html = ?3, updated = {NOW} WHERE id = ?4 RETURNING slug");
    Ok(
        c.query_row(&sql, params![title, md, html, id], |r| r.get(0))
            .optional()?,
    )
}

/// Adds an entry with a slug made from its title, unique by a `-2`, `-3`… suffix.
pub fn insert(db: &Conn, author: i64, title: &str, md: &str, html: &str) -> DbResult<String> {
    let c = lock(db);
    let base = crate::text::slugify(title);
    let mut slug = base.clone();
    let mut n = 1;
    while c
        .query_row("SELECT 1 FROM entries WHERE slug = ?1", [&slug], |_| Ok(()))
        .optional()?
        .is_some()
    {
        n += 1;
        slug = format!("{base}-{n}");
    }
    c.execute(
        &format!("INSERT INTO entries (author_id, title, slug, markdown, html, published, updated) VALUES (?1, ?2, ?3, ?4, ?5, {NOW}, {NOW})"),
        params![author, title, slug, md, html],
    )?;
    Ok(slug)
}

/// A signed-in user as kept in the session cookie: `"<id> author"` or `"<id> reader"`.
fn session(id: i64, author: bool) -> String {
    format!("{id} {}", if author { "author" } else { "reader" })
}

/// Creates an account (an author if it is the first); its session, or `None` if the
/// email is taken. The password is hashed before the lock is taken.
pub fn create_account(
    db: &Conn,
    email: &str,
    name: &str,
    password: &str,
) -> DbResult<Option<String>> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| e.to_string())?
        .to_string();
    let c = lock(db);
    let first = c.query_row("SELECT COUNT(*) = 0 FROM authors", [], |r| {
        r.get::<_, bool>(0)
    })?;
    let sql = "INSERT INTO authors (email, name, hashed_password, author) VALUES (?1, ?2, ?3, ?4)";
    match c.execute(sql, params![email, name, hash, first]) {
        Ok(_) => Ok(Some(session(c.last_insert_rowid(), first))),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The session of the account with this email and password, `None` if there is none.
pub fn login(db: &Conn, email: &str, password: &str) -> DbResult<Option<String>> {
    let sql = "SELECT id, hashed_password, author FROM authors WHERE email = ?1";
    let row = lock(db)
        .query_row(sql, [email], |r| {
            Ok((r.get(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })
        .optional()?;
    Ok(row.and_then(|(id, hash, author)| {
        let hash = PasswordHash::new(&hash).ok()?;
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .ok()?;
        Some(session(id, author))
    }))
}
